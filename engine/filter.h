/* Internal filter functions: payload evaluation and the shared helpers of
 * the parser, the evaluator and the payload indexes. */
#ifndef STRATA_ENGINE_FILTER_H
#define STRATA_ENGINE_FILTER_H

#include <jansson.h>
#include <stddef.h>

#include "strata_filter.h"

struct strata_payload_indexes;

/* Values a path resolves to in one payload, in document order.  Up to
 * STRATA_VALUES_INLINE fit without allocating. */
#define STRATA_VALUES_INLINE 8
typedef struct strata_values {
  const json_t **items;
  size_t n, cap;
  const json_t *inline_items[STRATA_VALUES_INLINE];
} strata_values;

/* Resolves `path` in `root`.  `.key` descends into objects only, `[n]`
 * and `[]` into arrays only.  Returns 0, or -1 when out of memory.  The
 * caller releases the list with strata_values_release(). */
int strata_values_resolve(const json_t *root, const strata_path *path,
                          strata_values *out);
void strata_values_release(strata_values *values);

/* Returns 1 when `payload` (a JSON object, or NULL for none) and point
 * `id` (NULL when unknown: has_id then fails) satisfy the filter.
 * `match text` is a substring test here. */
int strata_filter_matches(const strata_filter *filter, const json_t *payload,
                          const strata_point_id *id);

/* Same, but `match text` on a field with a text index in `indexes` is a
 * token test, as a text index evaluates it.  The engine uses this one to
 * check the candidates of strata_filter_candidates(). */
int strata_filter_matches_indexed(const strata_filter *filter,
                                  const json_t *payload,
                                  const strata_point_id *id,
                                  const struct strata_payload_indexes *indexes);

/* Loads payload JSON as the evaluator expects it.  An integer literal
 * beyond the int64 range is read as a real (double), so it never matches
 * match.value / any integers, always passes match except integers, and
 * compares by its double value in ranges; the other integers of the
 * payload stay exact.  Errors: STRATA_ERR_INVALID_ARGUMENT (invalid
 * JSON), STRATA_ERR_NO_MEMORY. */
strata_status strata_payload_load(const char *text, size_t len, json_t **out);

/* Splits UTF-8 text into lowercase tokens of ASCII letters and digits
 * and bytes >= 0x80 (non-ASCII characters are kept as they are).  Calls
 * `fn` for each token; stops and returns its first non-zero result. */
int strata_text_tokens(const char *text, size_t len,
                       int (*fn)(void *arg, const char *token, size_t len),
                       void *arg);

/* Orders point ids: numbers before UUIDs, numbers by value, UUIDs by
 * bytes. */
int strata_point_id_compare(const strata_point_id *a, const strata_point_id *b);

/* Returns 1 when the numeric value `x` satisfies the bounds. */
int strata_bounds_match_double(const strata_bounds *b, double x);
int strata_bounds_match_int(const strata_bounds *b, int64_t x);

/* Writes a datetime (microseconds) as YYYY-MM-DDTHH:MM:SS[.ffffff]Z
 * into buf (at least 40 bytes). */
void strata_datetime_format(int64_t micros, char *buf);

/* Returns 1 when the sorted keyword list of a match any / except
 * condition contains the string. */
int strata_condition_has_keyword(const strata_condition *c, const char *s,
                                 size_t len);
int strata_condition_has_integer(const strata_condition *c, int64_t v);

/* filter_cache.c: parsed payloads kept for filter checks (see there). */
typedef struct strata_filter_cache strata_filter_cache;
struct strata_collection;
/* Returns an empty cache for point numbers below n_points, or NULL when
 * out of memory. */
strata_filter_cache *strata_filter_cache_new(size_t n_points);
void strata_filter_cache_free(strata_filter_cache *cache);
/* Stores the payload of `point`, taking over the reference. */
void strata_filter_cache_put(strata_filter_cache *cache, uint32_t point,
                             json_t *payload);
/* Returns the payload of `point`, NULL when it has none; borrowed. */
const json_t *strata_filter_cache_payload(const strata_filter_cache *cache,
                                          uint32_t point);
/* Returns the collection's cache, or NULL when none is built.  Caller
 * holds db->lock shared. */
strata_filter_cache *strata_filter_cache_get(const struct strata_collection *c);
/* Installs `cache` unless another reader installed one first; returns
 * the installed cache and frees `cache` when it lost. */
strata_filter_cache *
strata_filter_cache_install(const struct strata_collection *c,
                            strata_filter_cache *cache);

#endif
