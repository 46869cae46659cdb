/* Layout of a payload index, shared by payload_index.c (storage) and
 * payload_index_query.c (lookups). */
#ifndef STRATA_ENGINE_PAYLOAD_INDEX_INTERNAL_H
#define STRATA_ENGINE_PAYLOAD_INDEX_INTERNAL_H

#include "payload_index.h"

/* A key (a keyword, a token, or the 16 bytes of a UUID) and its points. */
typedef struct strata_key_entry {
  char *key;
  size_t len;
  uint64_t hash;
  roaring_bitmap_t *points; /* NULL for a free slot */
} strata_key_entry;

/* Open addressing with linear probing; cap is a power of two. */
typedef struct strata_key_table {
  strata_key_entry *slots;
  size_t cap, used;
} strata_key_table;

/* One numeric value of a point: `i` for integer and datetime indexes
 * (microseconds), `d` for float indexes. */
typedef struct strata_num_entry {
  int64_t i;
  double d;
  uint32_t point;
  uint32_t dead; /* removed; dropped by the next prepare */
} strata_num_entry;

/* One level of bucket bitmaps over the sorted entries.  Bucket b covers
 * entries [b * size, (b + 1) * size), and maps[b] contains the points
 * of its live entries.  A partial bucket at the end is not stored. */
typedef struct strata_bucket_level {
  size_t size;  /* entries per bucket */
  size_t count; /* whole buckets, n_sorted / size */
  roaring_bitmap_t **maps;
} strata_bucket_level;

/* Entries per bucket of the finest level, and the factor between the
 * sizes of neighbouring levels.  A range covers at most
 * 2 * (STRATA_BUCKET_FANOUT - 1) buckets of each level below the top
 * one, and at most STRATA_BUCKET_FANOUT - 1 of the top one. */
#define STRATA_BUCKET_BASE 512
#define STRATA_BUCKET_FANOUT 2

struct strata_payload_index {
  strata_path path;
  strata_index_type type;
  roaring_bitmap_t *present; /* points with a value of the index's type */
  roaring_bitmap_t *other;   /* points with a non-null value of another */
  strata_key_table keys;     /* keyword, uuid, text */
  roaring_bitmap_t *bool_true, *bool_false;
  strata_num_entry *entries; /* integer, float, datetime */
  size_t n_entries, cap_entries;
  size_t n_sorted; /* entries[0, n_sorted) are sorted by (value, point) */
  size_t n_dead;
  /* Point-to-value table of integer, float and datetime indexes, kept
   * current by every add and remove (unlike `entries`, it needs no
   * prepare).  value_count[p] is the number of indexed values of point
   * p, capped at 2.  When it is 1, value_i[p] (integer, datetime) or
   * value_d[p] (float) is that value.  Points at or past n_values have
   * no value. */
  uint8_t *value_count;
  int64_t *value_i;
  double *value_d;
  size_t n_values;
  /* Bucket bitmaps of integer, float and datetime indexes, level 0 the
   * finest.  They cover entries[0, n_sorted): every prepare that merges
   * rebuilds them, and every removal of a sorted entry takes its point
   * out of the buckets that contain the entry.  A point loses all its
   * values at once (add requires a point without values), so no live
   * entry of the point is left in those buckets.  n_levels is 0 when
   * there are too few sorted entries or the last build ran out of
   * memory, and range lookups then collect the entries one by one. */
  strata_bucket_level *levels;
  size_t n_levels;
  int broken; /* an add or remove failed: the contents are incomplete */
};

const strata_key_entry *strata_key_table_get(const strata_key_table *t,
                                             const char *key, size_t len);

/* Writes the 16 bytes of a lowercase hyphenated UUID; returns -1 for
 * any other string. */
int strata_uuid_key(const char *s, size_t len, char key[16]);

#endif
