/*
 * Parsed payloads of a collection, kept in memory for filter checks.
 *
 * A filter on a field without a payload index is decided by reading each
 * candidate's payload from RocksDB and parsing its JSON, which costs
 * microseconds per point and is repeated by every query.  The first
 * filtered read that scans all payloads keeps the parsed objects in a
 * strata_filter_cache, indexed by point number.  Later reads check
 * candidates against it without touching RocksDB.
 *
 * Lifetime.  The cache describes db->view at the time it was built.
 * Every write that publishes a new view ends with
 * strata_field_indexes_prepare(), under db->lock held exclusively, and
 * that drops the cache, so a reader (holding db->lock shared) never sees
 * a stale one.  Readers may build caches concurrently.  The first to
 * finish installs its cache with a compare-and-swap and the others free
 * theirs.  Readers only borrow the JSON objects: jansson's lookups do
 * not modify them, and nothing changes their reference counts while
 * db->lock is shared.
 *
 * NOTE: the cache costs the parsed form of every payload (a few hundred
 * bytes for a small object) and is rebuilt in full by the first scan
 * after any write, so a workload that alternates writes and unindexed
 * filters gains nothing from it.
 */
#include <stdlib.h>

#include "engine.h"
#include "filter.h"

struct strata_filter_cache {
  json_t **payloads; /* point number -> parsed payload, NULL for none */
  size_t n;          /* entries: the collection's points_used when built */
};

strata_filter_cache *strata_filter_cache_new(size_t n_points) {
  strata_filter_cache *cache = malloc(sizeof *cache);
  if (!cache)
    return NULL;
  cache->payloads = calloc(n_points ? n_points : 1, sizeof *cache->payloads);
  cache->n = n_points;
  if (!cache->payloads) {
    free(cache);
    return NULL;
  }
  return cache;
}

void strata_filter_cache_free(strata_filter_cache *cache) {
  if (!cache)
    return;
  for (size_t i = 0; i < cache->n; i++)
    json_decref(cache->payloads[i]);
  free(cache->payloads);
  free(cache);
}

void strata_filter_cache_put(strata_filter_cache *cache, uint32_t point,
                             json_t *payload) {
  if (point >= cache->n) {
    json_decref(payload);
    return;
  }
  json_decref(cache->payloads[point]);
  cache->payloads[point] = payload;
}

const json_t *strata_filter_cache_payload(const strata_filter_cache *cache,
                                          uint32_t point) {
  return point < cache->n ? cache->payloads[point] : NULL;
}

strata_filter_cache *strata_filter_cache_get(const strata_collection *c) {
  return __atomic_load_n(&c->filter_cache, __ATOMIC_ACQUIRE);
}

strata_filter_cache *strata_filter_cache_install(const strata_collection *c,
                                                 strata_filter_cache *cache) {
  strata_filter_cache *expected = NULL;
  strata_filter_cache **slot = (strata_filter_cache **)&c->filter_cache;
  if (__atomic_compare_exchange_n(slot, &expected, cache, 0, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE))
    return cache;
  strata_filter_cache_free(cache);
  return expected;
}

void strata_filter_cache_drop(strata_collection *c) {
  strata_filter_cache_free(c->filter_cache);
  c->filter_cache = NULL;
}
