/*
 * Hash map from point id to a dense point number (an index into the
 * collection's point table).  Open addressing with linear probing and
 * backward-shift deletion, so there are no tombstones and lookups stay
 * short under churn.
 */
#ifndef STRATA_ENGINE_ID_MAP_H
#define STRATA_ENGINE_ID_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "strata.h"

#define STRATA_NO_POINT UINT32_MAX

typedef struct strata_id_map_entry {
  strata_point_id id;
  uint32_t point; /* STRATA_NO_POINT marks an empty bucket */
} strata_id_map_entry;

typedef struct strata_id_map {
  strata_id_map_entry *buckets;
  size_t capacity; /* power of two */
  size_t count;
} strata_id_map;

void strata_id_map_init(strata_id_map *map);
void strata_id_map_destroy(strata_id_map *map);

/* Grows the table so that `extra` more inserts need no allocation.
 * Returns 0, or -1 when out of memory. */
int strata_id_map_reserve(strata_id_map *map, size_t extra);

/* Returns the point number of `id`, or STRATA_NO_POINT. */
uint32_t strata_id_map_get(const strata_id_map *map,
                           const strata_point_id *id);

/* Inserts or overwrites.  The caller has reserved room. */
void strata_id_map_put(strata_id_map *map, const strata_point_id *id,
                       uint32_t point);

/* Removes `id`; returns its point number or STRATA_NO_POINT. */
uint32_t strata_id_map_remove(strata_id_map *map, const strata_point_id *id);

int strata_id_equal(const strata_point_id *a, const strata_point_id *b);

#endif
