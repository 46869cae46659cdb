/*
 * Engine internals: the in-memory state behind a strata_db handle.
 *
 * Every collection is held in memory in full (vectors in slot stores,
 * an id map, a point table); RocksDB holds the durable copy and the
 * payloads.  A write goes through four steps, all under db->write_mutex so
 * that writers are serialised:
 *
 *   1. validate the whole request and encode one RocksDB WriteBatch;
 *   2. reserve memory for everything step 4 adds;
 *   3. write the batch (fsync'd when the caller asked to wait);
 *   4. take db->lock exclusively, apply the batch to memory, publish a
 *      new RocksDB snapshot as db->view, release the lock.
 *
 * Readers hold db->lock shared for the whole call and read payloads
 * through db->view, so what a reader sees in memory and in RocksDB is the
 * same state: a write is visible all at once or not at all.  Step 3 runs
 * outside db->lock, so an fsync never blocks searches.
 *
 * A failure in steps 1 to 3 leaves both copies unchanged.  Step 4 cannot
 * fail once step 2 succeeded.
 */
#ifndef STRATA_ENGINE_ENGINE_H
#define STRATA_ENGINE_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "../index/flat.h"
#include "../index/vector_store.h"
#include "../storage/store.h"
#include "id_map.h"
#include "status.h"
#include "strata.h"

#define STRATA_NO_SLOT UINT32_MAX

/* One named vector of a collection and the vectors stored for it. */
typedef struct strata_space {
  char *name;
  uint32_t dim;
  strata_distance distance;
  strata_metric metric;
  strata_vector_store store;
  uint32_t *owner;  /* slot -> point number */
  size_t owner_cap; /* entries allocated in owner */
} strata_space;

typedef struct strata_collection {
  char *name;
  uint32_t id; /* key prefix in RocksDB; never reused */
  strata_space *spaces;
  size_t n_spaces;
  strata_id_map ids;       /* point id -> point number */
  strata_point_id *points; /* point number -> id */
  uint32_t *slots;         /* point * n_spaces + space -> slot */
  size_t points_cap;       /* entries allocated in points */
  size_t points_used;      /* high-water mark of point numbers */
  uint32_t *free_points;   /* released point numbers, reused first */
  size_t n_free_points;
  uint64_t n_points; /* live points */
} strata_collection;

struct strata_db {
  strata_store *store;
  strata_store_view *view;
  pthread_mutex_t write_mutex;
  pthread_rwlock_t lock;
  strata_collection **collections; /* sorted by name */
  size_t n_collections;
  uint32_t next_collection_id;
  int read_only;
};

/* collection.c: the in-memory structure. */
strata_collection *strata_collection_new(const char *name, uint32_t id,
                                         const strata_vector_config *vectors,
                                         size_t n_vectors);
void strata_collection_free(strata_collection *c);
/* Index of the space called `name` ("" when NULL), or -1. */
int strata_collection_space(const strata_collection *c, const char *name);
/* Reserves memory so that `n` upserts and deletes cannot fail. */
int strata_collection_reserve(strata_collection *c, size_t n);
/* Inserts or replaces a point.  vectors[s] is the vector of space s or
 * NULL when the point has none.  Needs a prior reserve. */
void strata_collection_put(strata_collection *c, const strata_point_id *id,
                           const float *const *vectors);
/* Removes a point; returns 1 when it existed. */
int strata_collection_remove(strata_collection *c, const strata_point_id *id);

/* The vector record stored in RocksDB (format in storage/store.h). */
size_t strata_vector_record_size(const strata_collection *c,
                                 const float *const *vectors);
void strata_vector_record_encode(const strata_collection *c,
                                 const float *const *vectors, uint8_t *out);
/* Decodes into vectors[s] pointers into `data` (NULL for absent spaces).
 * Returns 0, or -1 when the record does not match the collection. */
int strata_vector_record_decode(const strata_collection *c,
                                const uint8_t *data, size_t len,
                                const float **vectors);

/* db.c */
strata_collection *strata_db_find(strata_db *db, const char *name);
/* Replaces db->view with a snapshot of the current state; caller holds
 * db->lock exclusively. */
void strata_db_publish_view(strata_db *db);

/* records.c */
strata_records *strata_records_new(size_t capacity);
/* Fills rec for point number `point`: id, payload and vectors per `with`.
 * Caller holds db->lock shared. */
strata_status strata_record_fill(strata_db *db, const strata_collection *c,
                                 uint32_t point, int with, strata_record *rec);

#endif
