/*
 * The persistent store: one RocksDB instance per data directory, reached
 * through the RocksDB C API only.
 *
 * Column families and their keys (all integers big-endian in keys, so
 * byte order is numeric order):
 *
 *   meta      "format_version"          -> ASCII decimal, currently "1"
 *             "next_collection_id"      -> ASCII decimal
 *             "collection/" + name      -> JSON collection config
 *             "field_index/" + collection id (8 lowercase hex digits)
 *                 + "/" + field path      -> payload index type name
 *   points    collection id (u32) + point key -> vector record
 *   payloads  collection id (u32) + point key -> payload JSON text
 *
 * A point key is 0x00 + u64 for a numeric id and 0x01 + 16 UUID bytes, so
 * numeric ids sort before UUIDs, each in its natural order.  Every point
 * has a `points` entry, even one with no vectors; a `payloads` entry
 * exists only when the payload is not empty.
 *
 * The vector record (little-endian, as on every platform Strata builds
 * for):
 *
 *   u8  record version (1)
 *   u8  reserved, 0
 *   u16 number of vectors n
 *   n times: u16 index of the vector in the collection config,
 *            u16 reserved 0, u32 dim, dim x float32
 *
 * Collection ids are never reused, so dropping a collection is one range
 * delete over its prefix and a later collection of the same name starts
 * empty.
 */
#ifndef STRATA_STORAGE_STORE_H
#define STRATA_STORAGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "strata.h"

#define STRATA_FORMAT_VERSION 1
#define STRATA_POINT_KEY_MAX 17
#define STRATA_ROW_KEY_MAX (4 + STRATA_POINT_KEY_MAX)

typedef struct strata_store strata_store;
typedef struct strata_store_batch strata_store_batch;
typedef struct strata_store_view strata_store_view;

typedef enum strata_store_cf {
  STRATA_CF_META = 0,
  STRATA_CF_POINTS = 1,
  STRATA_CF_PAYLOADS = 2,
  STRATA_CF_COUNT = 3
} strata_store_cf;

/* Opens the RocksDB instance in `path`, creating it when allowed, and
 * checks the format version.  Errors as strata_open() documents. */
strata_status strata_store_open(const char *path, int create_if_missing,
                                int read_only, strata_store **out);
void strata_store_close(strata_store *store);

/* Returns RocksDB's latest sequence number: it changes with every write,
 * so files derived from the data can record which state they match. */
uint64_t strata_store_sequence(strata_store *store);

/* Encodes a point key; returns its length. */
size_t strata_point_key(const strata_point_id *id,
                        uint8_t out[STRATA_POINT_KEY_MAX]);
/* Encodes collection id + point key; returns its length. */
size_t strata_row_key(uint32_t collection_id, const strata_point_id *id,
                      uint8_t out[STRATA_ROW_KEY_MAX]);
/* Decodes a row key; returns 0, or -1 when it is malformed. */
int strata_row_key_decode(const uint8_t *key, size_t len,
                          uint32_t *collection_id, strata_point_id *id);

/* Write batches: applied atomically by strata_store_write(). */
strata_store_batch *strata_store_batch_new(void);
void strata_store_batch_free(strata_store_batch *batch);
void strata_store_batch_put(strata_store_batch *batch, strata_store *store,
                            strata_store_cf cf, const void *key, size_t klen,
                            const void *value, size_t vlen);
void strata_store_batch_delete(strata_store_batch *batch, strata_store *store,
                               strata_store_cf cf, const void *key,
                               size_t klen);
/* Deletes every row of a collection in the points and payloads families. */
void strata_store_batch_delete_collection(strata_store_batch *batch,
                                          strata_store *store,
                                          uint32_t collection_id);
/* Writes the batch; with `sync`, waits for the WAL to reach the disk. */
strata_status strata_store_write(strata_store *store,
                                 strata_store_batch *batch, int sync);

/* Views: consistent reads at one point in time (a RocksDB snapshot).
 * The engine publishes a new view after each write it applies. */
strata_store_view *strata_store_view_new(strata_store *store);
void strata_store_view_free(strata_store *store, strata_store_view *view);

/* Reads one value.  Sets *value to a malloc'd copy with a NUL appended
 * (caller frees) and *len, or *value to NULL when the key is missing. */
strata_status strata_store_get(strata_store *store,
                               const strata_store_view *view,
                               strata_store_cf cf, const void *key,
                               size_t klen, char **value, size_t *len);

/* Iterates keys with the given prefix, starting at `start` (or at the
 * prefix when NULL), calling fn until it returns nonzero.  Returns the
 * callback's nonzero value, 0 at the end, or -1 on a read error (with
 * the thread's error message set). */
typedef int (*strata_store_visit)(const uint8_t *key, size_t klen,
                                  const uint8_t *value, size_t vlen,
                                  void *ctx);
int strata_store_scan(strata_store *store, const strata_store_view *view,
                      strata_store_cf cf, const void *prefix, size_t plen,
                      const void *start, size_t slen, strata_store_visit fn,
                      void *ctx);

#endif
