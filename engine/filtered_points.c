/* Filtered scroll, count and delete: the matching set is computed
 * exactly (strata_collection_select) and then read or deleted. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "filter.h"

/* Takes db->lock shared and finds the collection; on failure releases
 * the lock and returns NULL with *st set. */
static strata_collection *read_begin(strata_db *db, const char *collection,
                                     strata_status *st) {
  if (!db || !collection) {
    *st = strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                      "db and collection must not be NULL");
    return NULL;
  }
  pthread_rwlock_rdlock(&db->lock);
  strata_collection *c = strata_db_find(db, collection);
  if (!c) {
    pthread_rwlock_unlock(&db->lock);
    *st = strata_fail(STRATA_ERR_NOT_FOUND, "collection \"%s\" not found",
                      collection);
  }
  return c;
}

strata_status strata_count_filtered(strata_db *db, const char *collection,
                                    const strata_filter *filter,
                                    uint64_t *out) {
  strata_clear_error();
  strata_status st = STRATA_OK;
  strata_collection *c = read_begin(db, collection, &st);
  if (!c)
    return st;
  roaring_bitmap_t *matching = NULL;
  if (!filter)
    *out = c->n_points;
  else if ((st = strata_collection_select(db, c, filter, &matching)) ==
           STRATA_OK)
    *out = roaring_bitmap_get_cardinality(matching);
  pthread_rwlock_unlock(&db->lock);
  if (matching)
    roaring_bitmap_free(matching);
  return st;
}

static int compare_ids(const void *a, const void *b) {
  return strata_point_id_compare(a, b);
}

/* The ids of the points in `points`, sorted in scroll order.  Sets *out
 * to a malloc'd array and *n to its length. */
static strata_status sorted_ids(const strata_collection *c,
                                const roaring_bitmap_t *points,
                                strata_point_id **out, size_t *n) {
  *n = roaring_bitmap_get_cardinality(points);
  uint32_t *numbers = malloc((*n ? *n : 1) * sizeof *numbers);
  *out = malloc((*n ? *n : 1) * sizeof **out);
  if (!numbers || !*out) {
    free(numbers);
    free(*out);
    *out = NULL;
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  roaring_bitmap_to_uint32_array(points, numbers);
  for (size_t i = 0; i < *n; i++)
    (*out)[i] = c->points[numbers[i]];
  free(numbers);
  qsort(*out, *n, sizeof **out, compare_ids);
  return STRATA_OK;
}

strata_status strata_scroll_filtered(strata_db *db, const char *collection,
                                     const strata_filter *filter,
                                     const strata_point_id *offset,
                                     size_t limit, int with,
                                     strata_records **out,
                                     strata_point_id *next, int *has_next) {
  if (!filter)
    return strata_scroll(db, collection, offset, limit, with, out, next,
                         has_next);
  strata_clear_error();
  *out = NULL;
  *has_next = 0;
  if (limit == 0)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "scroll limit is 0; pass a limit of at least 1");
  strata_status st = STRATA_OK;
  strata_collection *c = read_begin(db, collection, &st);
  if (!c)
    return st;
  roaring_bitmap_t *matching = NULL;
  strata_point_id *ids = NULL;
  strata_records *records = NULL;
  size_t n = 0;
  st = strata_collection_select(db, c, filter, &matching);
  if (st == STRATA_OK)
    st = sorted_ids(c, matching, &ids, &n);
  if (st != STRATA_OK)
    goto done;

  /* Skip to the first id at or after the offset. */
  size_t first = 0, hi = n;
  while (offset && first < hi) {
    size_t mid = first + (hi - first) / 2;
    if (strata_point_id_compare(&ids[mid], offset) < 0)
      first = mid + 1;
    else
      hi = mid;
  }
  size_t emit = n - first < limit ? n - first : limit;
  records = strata_records_new(emit);
  if (!records) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  for (size_t i = first; i < first + emit && st == STRATA_OK; i++)
    st = strata_record_fill(db, c, strata_id_map_get(&c->ids, &ids[i]), with,
                            &records->items[records->count++]);
  if (st == STRATA_OK && first + emit < n) {
    *next = ids[first + emit];
    *has_next = 1;
  }

done:
  pthread_rwlock_unlock(&db->lock);
  if (matching)
    roaring_bitmap_free(matching);
  free(ids);
  if (st != STRATA_OK) {
    strata_records_free(records);
    return st;
  }
  *out = records;
  return STRATA_OK;
}

strata_status strata_delete_by_filter(strata_db *db, const char *collection,
                                      const strata_filter *filter,
                                      const strata_write_options *options,
                                      uint64_t *n_deleted) {
  strata_clear_error();
  if (n_deleted)
    *n_deleted = 0;
  if (!db || !collection || !filter)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "db, collection and filter must not be NULL; pass "
                       "an empty filter to delete every point");
  if (db->read_only)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "the database is open read-only; reopen it without "
                       "read_only to write");
  pthread_mutex_lock(&db->write_mutex);
  strata_status st = STRATA_OK;
  roaring_bitmap_t *matching = NULL;
  strata_point_id *ids = NULL;
  size_t n = 0;
  strata_collection *c = strata_db_find(db, collection);
  if (!c) {
    st = strata_fail(STRATA_ERR_NOT_FOUND, "collection \"%s\" not found",
                     collection);
    goto done;
  }
  /* Only this writer changes the collection, so the set stays exact
   * until the delete applies. */
  st = strata_collection_select(db, c, filter, &matching);
  if (st == STRATA_OK)
    st = sorted_ids(c, matching, &ids, &n);
  if (st == STRATA_OK)
    st = strata_delete_locked(db, c, ids, n, options ? options->wait : 0,
                              n_deleted);
done:
  pthread_mutex_unlock(&db->write_mutex);
  if (matching)
    roaring_bitmap_free(matching);
  free(ids);
  return st;
}
