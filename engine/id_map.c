#include "id_map.h"

#include <stdlib.h>
#include <string.h>

int strata_id_equal(const strata_point_id *a, const strata_point_id *b) {
  if (a->kind != b->kind)
    return 0;
  if (a->kind == STRATA_ID_NUM)
    return a->num == b->num;
  return memcmp(a->uuid, b->uuid, 16) == 0;
}

static uint64_t mix64(uint64_t x) {
  /* The SplitMix64 finaliser: every input bit affects every output bit. */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

static uint64_t hash_id(const strata_point_id *id) {
  if (id->kind == STRATA_ID_NUM)
    return mix64(id->num);
  uint64_t hi, lo;
  memcpy(&hi, id->uuid, 8);
  memcpy(&lo, id->uuid + 8, 8);
  return mix64(hi ^ mix64(lo) ^ 0x9e3779b97f4a7c15ULL);
}

void strata_id_map_init(strata_id_map *map) {
  memset(map, 0, sizeof *map);
}

void strata_id_map_destroy(strata_id_map *map) {
  free(map->buckets);
  memset(map, 0, sizeof *map);
}

static void insert_bucket(strata_id_map_entry *buckets, size_t capacity,
                          const strata_point_id *id, uint32_t point) {
  size_t mask = capacity - 1;
  size_t i = hash_id(id) & mask;
  while (buckets[i].point != STRATA_NO_POINT) {
    if (strata_id_equal(&buckets[i].id, id)) {
      buckets[i].point = point;
      return;
    }
    i = (i + 1) & mask;
  }
  buckets[i].id = *id;
  buckets[i].point = point;
}

int strata_id_map_reserve(strata_id_map *map, size_t extra) {
  size_t needed = map->count + extra;
  /* Keep the load factor at or below 1/2. */
  if (needed * 2 <= map->capacity)
    return 0;
  size_t capacity = map->capacity ? map->capacity : 64;
  while (needed * 2 > capacity)
    capacity *= 2;
  strata_id_map_entry *buckets = malloc(capacity * sizeof *buckets);
  if (!buckets)
    return -1;
  for (size_t i = 0; i < capacity; i++)
    buckets[i].point = STRATA_NO_POINT;
  for (size_t i = 0; i < map->capacity; i++)
    if (map->buckets[i].point != STRATA_NO_POINT)
      insert_bucket(buckets, capacity, &map->buckets[i].id,
                    map->buckets[i].point);
  free(map->buckets);
  map->buckets = buckets;
  map->capacity = capacity;
  return 0;
}

uint32_t strata_id_map_get(const strata_id_map *map,
                           const strata_point_id *id) {
  if (map->capacity == 0)
    return STRATA_NO_POINT;
  size_t mask = map->capacity - 1;
  for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
    if (map->buckets[i].point == STRATA_NO_POINT)
      return STRATA_NO_POINT;
    if (strata_id_equal(&map->buckets[i].id, id))
      return map->buckets[i].point;
  }
}

void strata_id_map_put(strata_id_map *map, const strata_point_id *id,
                       uint32_t point) {
  size_t before = strata_id_map_get(map, id) == STRATA_NO_POINT;
  insert_bucket(map->buckets, map->capacity, id, point);
  map->count += before;
}

uint32_t strata_id_map_remove(strata_id_map *map, const strata_point_id *id) {
  if (map->capacity == 0)
    return STRATA_NO_POINT;
  size_t mask = map->capacity - 1;
  size_t i = hash_id(id) & mask;
  while (map->buckets[i].point != STRATA_NO_POINT &&
         !strata_id_equal(&map->buckets[i].id, id))
    i = (i + 1) & mask;
  uint32_t point = map->buckets[i].point;
  if (point == STRATA_NO_POINT)
    return STRATA_NO_POINT;

  /* Backward-shift deletion: pull later members of the probe run into
   * the hole when their home bucket is at or before it. */
  size_t hole = i;
  for (size_t j = (hole + 1) & mask; map->buckets[j].point != STRATA_NO_POINT;
       j = (j + 1) & mask) {
    size_t home = hash_id(&map->buckets[j].id) & mask;
    size_t dist_home = (j - home) & mask;
    size_t dist_hole = (j - hole) & mask;
    if (dist_home >= dist_hole) {
      map->buckets[hole] = map->buckets[j];
      hole = j;
    }
  }
  map->buckets[hole].point = STRATA_NO_POINT;
  map->count--;
  return point;
}
