/*
 * strata_filter.h: payload filters in Qdrant's model.
 *
 * A filter combines conditions as
 *
 *   should AND min_should AND must AND must_not
 *
 * where `must` needs all of its conditions, `must_not` none, `should` at
 * least one (an empty `should` imposes nothing) and `min_should` at least
 * min_count.  A condition is a test on one payload field, `has_id`,
 * `nested` or a whole filter.
 *
 * Field keys are paths: `a.b` descends into objects only, `a[]` visits
 * every element of an array, `a[2]` one element, and `"x.y"` is one key
 * that contains a dot.  When a path resolves to an array, a condition
 * holds when it holds for any element; arrays inside arrays are not
 * flattened.  A missing key fails every condition except values_count
 * (counted as 0) and is_empty.
 *
 * A filter is built either from Qdrant's REST JSON with
 * strata_filter_parse_json() or with the builder functions below.  The
 * structs are public so that the engine and explain code can walk them;
 * callers treat them as read-only.
 */
#ifndef STRATA_FILTER_H
#define STRATA_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "strata.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Filters nest (a filter as a condition, or `nested`) at most this many
 * levels deep, the outermost filter counting as 1. */
#define STRATA_FILTER_MAX_DEPTH 32

typedef enum strata_path_segment_kind {
  STRATA_PATH_KEY = 0,   /* .key or "quoted.key" */
  STRATA_PATH_INDEX = 1, /* [n] */
  STRATA_PATH_ALL = 2    /* [] */
} strata_path_segment_kind;

typedef struct strata_path_segment {
  strata_path_segment_kind kind;
  const char *key; /* STRATA_PATH_KEY: NUL-terminated, owned by the path */
  uint32_t index;  /* STRATA_PATH_INDEX */
} strata_path_segment;

/* A parsed key path.  `text` is its canonical spelling: segments joined
 * by '.', a key quoted when it contains '.', '[' or ']'. */
typedef struct strata_path {
  char *text;
  strata_path_segment *segments;
  size_t n_segments;
} strata_path;

typedef enum strata_condition_kind {
  STRATA_COND_MATCH_VALUE = 0,
  STRATA_COND_MATCH_ANY = 1,
  STRATA_COND_MATCH_EXCEPT = 2,
  STRATA_COND_MATCH_TEXT = 3,
  STRATA_COND_RANGE = 4,
  STRATA_COND_DATETIME_RANGE = 5,
  STRATA_COND_VALUES_COUNT = 6,
  STRATA_COND_IS_EMPTY = 7,
  STRATA_COND_IS_NULL = 8,
  STRATA_COND_HAS_ID = 9,
  STRATA_COND_NESTED = 10,
  STRATA_COND_FILTER = 11
} strata_condition_kind;

/* Type of a match value or of the list of match any / except. */
typedef enum strata_value_kind {
  STRATA_VALUE_KEYWORD = 0,
  STRATA_VALUE_INTEGER = 1,
  STRATA_VALUE_BOOL = 2
} strata_value_kind;

/* Bits of strata_bounds.set. */
enum {
  STRATA_BOUND_LT = 1,
  STRATA_BOUND_GT = 2,
  STRATA_BOUND_LTE = 4,
  STRATA_BOUND_GTE = 8
};

/* Bounds of a range (as double), datetime range (microseconds since
 * 1970-01-01T00:00:00Z) or values_count (non-negative integers).  Only
 * the bounds whose bit is in `set` apply. */
typedef struct strata_bounds {
  unsigned set;
  double lt, gt, lte, gte;          /* STRATA_COND_RANGE */
  int64_t lt_i, gt_i, lte_i, gte_i; /* datetime range and values_count */
} strata_bounds;

typedef struct strata_filter strata_filter;

typedef struct strata_condition {
  strata_condition_kind kind;
  strata_path key; /* every kind except HAS_ID and FILTER */

  /* MATCH_VALUE: exactly one of these, per value_kind. */
  strata_value_kind value_kind;
  char *keyword; /* also the query of MATCH_TEXT */
  size_t keyword_len;
  int64_t integer;
  int boolean;

  /* MATCH_ANY and MATCH_EXCEPT: a sorted list without duplicates of
   * keywords (value_kind KEYWORD) or integers (INTEGER). */
  char **keywords;
  size_t *keyword_lens;
  int64_t *integers;
  size_t n_values;

  strata_bounds bounds; /* RANGE, DATETIME_RANGE, VALUES_COUNT */

  strata_point_id *ids; /* HAS_ID, sorted, without duplicates */
  size_t n_ids;

  strata_filter *filter; /* NESTED and FILTER */
} strata_condition;

struct strata_filter {
  strata_condition **must;
  size_t n_must;
  strata_condition **should;
  size_t n_should;
  strata_condition **must_not;
  size_t n_must_not;
  int has_min_should; /* min_should present, even with no conditions */
  strata_condition **min_should;
  size_t n_min_should;
  size_t min_count;
  int depth;       /* 1 for a filter without filter or nested conditions */
  int uses_has_id; /* has_id somewhere in the tree */
};

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

/* Parses Qdrant's REST filter JSON, e.g.
 *   {"must": [{"key": "city", "match": {"value": "London"}},
 *             {"key": "price", "range": {"gte": 10}},
 *             {"has_id": [1, 2]}]}
 * `must`, `should` and `must_not` take one condition or an array;
 * `min_should` is {"conditions": [...], "min_count": n}.  A range whose
 * bounds are strings is a datetime range.  On success *out is a filter
 * the caller frees with strata_filter_free().
 *
 * Errors: STRATA_ERR_INVALID_ARGUMENT, whose message starts with the
 * JSON path of the bad part (`must[2].range: ...`).  It covers invalid JSON,
 * unknown keys or condition kinds, wrong types, malformed key paths, a
 * range without bounds, has_id inside nested, or nesting deeper than
 * STRATA_FILTER_MAX_DEPTH.  STRATA_ERR_NO_MEMORY.
 *
 * has_id takes unsigned integers and UUID strings, and also decimal
 * strings, which is how ids above 2^63-1 must be written: jansson reads
 * JSON integers as int64 and rejects larger ones. */
strata_status strata_filter_parse_json(const char *json, size_t len,
                                       strata_filter **out);

/* Writes the filter as compact JSON in the form parse_json reads; a
 * datetime bound is written in UTC as YYYY-MM-DDTHH:MM:SS[.ffffff]Z.
 * The caller frees *out with free(). */
strata_status strata_filter_to_json(const strata_filter *filter, char **out);

void strata_filter_free(strata_filter *filter);

/* ------------------------------------------------------------------ */
/* Builders                                                             */

/*
 * The strata_cond_* functions return a new condition, or NULL with the
 * thread's error message set (invalid key path, invalid datetime, no
 * bounds, out of memory).  strata_filter_add() takes ownership of the
 * condition whatever it returns, and fails when given NULL, so calls can
 * be chained without checking each one:
 *
 *   strata_filter *f = strata_filter_new();
 *   st = strata_filter_add(f, STRATA_MUST,
 *                          strata_cond_match_keyword("city", "London"));
 */

typedef enum strata_clause {
  STRATA_MUST = 0,
  STRATA_SHOULD = 1,
  STRATA_MUST_NOT = 2,
  STRATA_MIN_SHOULD = 3
} strata_clause;

/* Returns an empty filter (it matches every point), or NULL when out of
 * memory. */
strata_filter *strata_filter_new(void);

/* Appends `condition` to a clause of `filter`.  Errors:
 * STRATA_ERR_INVALID_ARGUMENT when condition is NULL (the builder's
 * message is kept) or the nesting would exceed STRATA_FILTER_MAX_DEPTH,
 * STRATA_ERR_NO_MEMORY. */
strata_status strata_filter_add(strata_filter *filter, strata_clause clause,
                                strata_condition *condition);

/* Sets min_should's min_count and marks min_should present. */
void strata_filter_set_min_count(strata_filter *filter, size_t min_count);

strata_condition *strata_cond_match_keyword(const char *key, const char *value);
strata_condition *strata_cond_match_integer(const char *key, int64_t value);
strata_condition *strata_cond_match_bool(const char *key, int value);
/* match any / except over keywords or integers.  `except` nonzero builds
 * match except. */
strata_condition *strata_cond_match_keywords(const char *key,
                                             const char *const *values,
                                             size_t n, int except);
strata_condition *strata_cond_match_integers(const char *key,
                                             const int64_t *values, size_t n,
                                             int except);
strata_condition *strata_cond_match_text(const char *key, const char *text);
/* A numeric range; bounds->set needs at least one bit. */
strata_condition *strata_cond_range(const char *key,
                                    const strata_bounds *bounds);
/* A datetime range; each bound is a datetime string or NULL. */
strata_condition *strata_cond_datetime_range(const char *key, const char *lt,
                                             const char *gt, const char *lte,
                                             const char *gte);
/* values_count with the *_i fields of bounds, each at least 0. */
strata_condition *strata_cond_values_count(const char *key,
                                           const strata_bounds *bounds);
strata_condition *strata_cond_is_empty(const char *key);
strata_condition *strata_cond_is_null(const char *key);
strata_condition *strata_cond_has_id(const strata_point_id *ids, size_t n);
/* Both take ownership of `inner` (also on failure).  nested fails when
 * `inner` uses has_id. */
strata_condition *strata_cond_nested(const char *key, strata_filter *inner);
strata_condition *strata_cond_filter(strata_filter *inner);

/* Frees a condition that was not added to a filter.  NULL is ignored. */
void strata_condition_free(strata_condition *condition);

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

/* Parses a key path.  The caller frees it with strata_path_free(). */
strata_status strata_path_parse(const char *text, strata_path *out);
void strata_path_free(strata_path *path);

/* Parses a datetime into microseconds since 1970-01-01T00:00:00Z.
 * Accepted: RFC 3339 (`2024-05-01T10:00:00.5+02:00`, `Z` or an offset),
 * the same without a zone, a space in place of `T`, seconds left out
 * (`2024-05-01 10:00`) and a date alone (`2024-05-01`).  Without a zone
 * the time is UTC.  Years 0000 to 9999; digits of a fraction beyond the
 * sixth are dropped.  Returns 0, or -1 when the text is not such a
 * datetime. */
int strata_datetime_parse(const char *text, size_t len, int64_t *micros);

#ifdef __cplusplus
}
#endif

#endif
