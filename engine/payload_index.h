/*
 * Payload indexes: one per (collection, field path), over point numbers.
 *
 * An index stores the values found at its path, arrays contributing
 * every element.  Values of the index's type are indexed; every other
 * non-null value puts its point in the index's "other" set, so that an
 * lookup can report whether it is exact.  A condition the index cannot
 * decide for such values gets their points as extra candidates.
 *
 * Keyword, uuid and text values sit in hash tables of roaring bitmaps;
 * integer, float and datetime values in an array of (value, point)
 * sorted by value.  Additions go to an unsorted tail that queries scan
 * linearly until strata_payload_index_prepare() merges it in, and
 * removals mark entries dead until then.  Each merge also cuts the
 * sorted array into buckets, in levels of growing bucket size, and
 * builds a bitmap of the points of each bucket.  A range lookup then
 * unites the few bitmaps of the buckets it covers and checks only the
 * entries of the two partial buckets at its ends.
 * Integer, float and datetime indexes also keep a point-to-value table,
 * current after every add and remove, for strata_payload_index_restrict().
 *
 * Threads: add, remove and prepare need exclusive access; queries only
 * read and may run concurrently with each other.
 *
 * Persistence: none.  The engine stores (field, type) and rebuilds the
 * contents from the payloads at open: add every point, then prepare once.
 */
#ifndef STRATA_ENGINE_PAYLOAD_INDEX_H
#define STRATA_ENGINE_PAYLOAD_INDEX_H

#include <jansson.h>
#include <roaring/roaring.h>
#include <stdint.h>

#include "strata_filter.h"

typedef enum strata_index_type {
  STRATA_INDEX_KEYWORD = 0, /* strings, byte-exact */
  STRATA_INDEX_INTEGER = 1, /* JSON integers */
  STRATA_INDEX_FLOAT = 2,   /* JSON integers and reals, as double */
  STRATA_INDEX_BOOL = 3,
  STRATA_INDEX_UUID = 4,     /* strings in lowercase hyphenated UUID form */
  STRATA_INDEX_DATETIME = 5, /* strings strata_datetime_parse() accepts */
  STRATA_INDEX_TEXT = 6      /* strings, as lowercase alphanumeric tokens */
} strata_index_type;

typedef struct strata_payload_index strata_payload_index;

/* The indexes of one collection, as passed to the planner. */
typedef struct strata_payload_indexes {
  strata_payload_index *const *items;
  size_t count;
  /* Optional: sets *point to the point number of `id` and returns 1, or
   * returns 0 when the id does not exist.  Without it has_id is not
   * resolved from indexes. */
  int (*resolve_id)(void *arg, const strata_point_id *id, uint32_t *point);
  void *resolve_arg;
} strata_payload_indexes;

/* Returns "keyword", "integer", "float", "bool", "uuid", "datetime" or
 * "text" (Qdrant's schema names). */
const char *strata_index_type_name(strata_index_type type);
strata_status strata_index_type_parse(const char *name, strata_index_type *out);

/* Creates an empty index on `field` (a key path).  Errors:
 * STRATA_ERR_INVALID_ARGUMENT (bad path or type), STRATA_ERR_NO_MEMORY. */
strata_status strata_payload_index_create(const char *field,
                                          strata_index_type type,
                                          strata_payload_index **out);
void strata_payload_index_free(strata_payload_index *index);

/* Canonical text of the field path (strata_path.text). */
const char *strata_payload_index_field(const strata_payload_index *index);
strata_index_type strata_payload_index_type(const strata_payload_index *index);

/* Adds the values of `payload` (NULL for none) for `point`, which must
 * have no values in the index (remove the old payload first).  Errors:
 * STRATA_ERR_NO_MEMORY, after which the index is broken (see below). */
strata_status strata_payload_index_add(strata_payload_index *index,
                                       uint32_t point, const json_t *payload);

/* Removes the values `old_payload` gave `point`.  Errors:
 * STRATA_ERR_NO_MEMORY, after which the index is broken. */
strata_status strata_payload_index_remove(strata_payload_index *index,
                                          uint32_t point,
                                          const json_t *old_payload);

/* Merges the values added since the last merge into the sorted array
 * and drops removed ones, so that range queries are binary searches.
 * Call after every write batch: it does nothing while the tail is small
 * (at most 4,096 entries and 1/16 of the sorted ones) and few entries
 * are dead (at most 1/8), so its cost is O(n) per that many changes.
 * Errors: STRATA_ERR_NO_MEMORY, which leaves the index valid. */
strata_status strata_payload_index_prepare(strata_payload_index *index);

/* Returns 1 after an add or remove failed.  A broken index misses
 * values, so the planner and the evaluator ignore it (filters still give
 * correct results, by evaluation); replace it with a rebuilt one.  This
 * lets a writer apply a batch to memory without failing. */
int strata_payload_index_broken(const strata_payload_index *index);

/* Finds the usable (not broken) index on a path (canonical text), or
 * NULL.  The _text form finds only a text index. */
const strata_payload_index *
strata_payload_indexes_find(const strata_payload_indexes *indexes,
                            const char *field);
const strata_payload_index *
strata_payload_indexes_find_text(const strata_payload_indexes *indexes,
                                 const char *field);

/* Looks up one field condition (match, range or text) on the index's
 * field.  Sets *out to a new bitmap that contains every point that
 * satisfies it, and *exact to 1 when it contains no other point.
 * Returns 0, or -1 when out of memory. */
int strata_payload_index_lookup(const strata_payload_index *index,
                                const strata_condition *condition,
                                roaring_bitmap_t **out, int *exact);

/* Sets *size to an upper bound of the points that
 * strata_payload_index_lookup() returns for a range condition, from two
 * binary searches, and returns 1.  Returns 0 when the condition is not a
 * range on this index's values (a number range on an integer or float
 * index, a datetime range on a datetime index). */
int strata_payload_index_range_size(const strata_payload_index *index,
                                    const strata_condition *condition,
                                    uint64_t *size);

/* Sets *cost to an estimate of what strata_payload_index_lookup() costs
 * for a range condition, in units of one point checked by
 * strata_payload_index_restrict(), and returns 1.  Returns 0 when the
 * condition is not a range on this index's values.  A range that covers
 * whole buckets costs a union of a few bitmaps, so a wide range is cheap
 * to look up. */
int strata_payload_index_range_cost(const strata_payload_index *index,
                                    const strata_condition *condition,
                                    uint64_t *cost);

/* Replaces *points with its intersection with the lookup result of a
 * range condition, found by checking each point's value in the index's
 * point-to-value table.  That costs a few ns per point of *points
 * instead of collecting every point of the range, so it pays when
 * *points is the smaller set.  Sets *exact as the lookup would and
 * returns 1.  Returns 0, leaving *points as it was, when the condition
 * is not a range on this index's values or a point of *points has more
 * than one value in the index; returns -1 when out of memory. */
int strata_payload_index_restrict(const strata_payload_index *index,
                                  const strata_condition *condition,
                                  roaring_bitmap_t **points, int *exact);

/* ------------------------------------------------------------------ */
/* Planner                                                              */

/* Bounds of the number of matching points, and a guess between them. */
typedef struct strata_estimate {
  uint64_t min, expected, max;
} strata_estimate;

/* Estimates how many of n_points match.  min and max are true bounds; the
 * estimate is exact (min == max) when index lookups decide the whole filter.
 * Errors: STRATA_ERR_NO_MEMORY. */
strata_status strata_filter_estimate(const strata_filter *filter,
                                     const strata_payload_indexes *indexes,
                                     uint64_t n_points, strata_estimate *out);

/* Sets *out to a new bitmap, a subset of all_points, that contains every
 * point of all_points that matches; *exact is 1 when it contains nothing
 * else, so that payloads need no check.  Otherwise the caller checks each
 * candidate with strata_filter_matches_indexed().  The caller frees *out
 * with roaring_bitmap_free().  Errors: STRATA_ERR_NO_MEMORY. */
strata_status strata_filter_candidates(const strata_filter *filter,
                                       const strata_payload_indexes *indexes,
                                       const roaring_bitmap_t *all_points,
                                       roaring_bitmap_t **out, int *exact);

/* Where strata_filter_select() gets what it checks candidates against. */
typedef struct strata_filter_source {
  /* Sets *id to the id of `point` and, when need_payload is set,
   * *payload to a new reference to its payload (NULL for none), which
   * the caller releases with json_decref().  Returns STRATA_OK or the
   * error to stop with. */
  strata_status (*load)(void *arg, uint32_t point, int need_payload,
                        json_t **payload, strata_point_id *id);
  void *arg;
} strata_filter_source;

/* Sets *out to a new bitmap of exactly the points of all_points that
 * match: the candidates of strata_filter_candidates(), each checked with
 * strata_filter_matches_indexed() unless the candidates are exact.  The
 * caller frees *out with roaring_bitmap_free().  Errors:
 * STRATA_ERR_NO_MEMORY, or whatever source->load returns. */
strata_status strata_filter_select(const strata_filter *filter,
                                   const strata_payload_indexes *indexes,
                                   const roaring_bitmap_t *all_points,
                                   const strata_filter_source *source,
                                   roaring_bitmap_t **out);

#endif
