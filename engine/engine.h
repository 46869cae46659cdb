/*
 * Engine internals: the in-memory state behind a strata_db handle.
 *
 * Every collection is held in memory in full (vectors in slot stores,
 * an id map, a point table); RocksDB holds the durable copy and the
 * payloads.  The slot store of an on_disk vector is a memory-mapped
 * file that the kernel may page out, refilled from RocksDB at open.
 * A write goes through four steps, all under db->write_mutex so that
 * writers are serialised:
 *
 *   1. validate the whole request and encode one RocksDB WriteBatch;
 *   2. reserve memory for everything step 4 adds (under db->lock held
 *      exclusively for a moment, because growing moves arrays that
 *      readers use);
 *   3. write the batch (fsync'd when the caller asked to wait);
 *   4. take db->lock exclusively, apply the batch to memory, publish a
 *      new RocksDB snapshot as db->view, release the lock;
 *   5. link the new and changed vectors into the HNSW graphs.
 *
 * Readers hold db->lock shared for the whole call and read payloads
 * through db->view, so what a reader sees in memory and in RocksDB is the
 * same state: a write is visible all at once or not at all.  Steps 3 and
 * 5 run outside db->lock, so neither an fsync nor graph linking blocks
 * searches.  Between steps 4 and 5 a new vector is stored but not yet in
 * the graph: an exact search finds it, a graph search may not.  Removed
 * vectors leave the graph's results in step 4.
 *
 * A failure in steps 1 to 3 leaves both copies unchanged.  Step 4 cannot
 * fail once step 2 succeeded.  A failure in step 5 (out of memory) leaves
 * the vector out of the graph, so graph searches miss it; the graph is
 * rebuilt at the next open.
 */
#ifndef STRATA_ENGINE_ENGINE_H
#define STRATA_ENGINE_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "../index/flat.h"
#include "../index/hnsw.h"
#include "../index/vector_store.h"
#include "../storage/store.h"
#include "id_map.h"
#include "payload_index.h"
#include "status.h"
#include "strata.h"

#define STRATA_NO_SLOT UINT32_MAX

/* One named vector of a collection and the vectors stored for it. */
typedef struct strata_space {
  char *name;
  uint32_t dim;
  strata_distance distance;
  strata_metric metric;
  int on_disk; /* `store` keeps its rows in a file (strata_vector_config) */
  strata_vector_store store;
  uint32_t *owner;  /* slot -> point number */
  size_t owner_cap; /* entries allocated in owner */

  /* The HNSW graph over `store` (vector_index.c). */
  strata_hnsw *graph;
  strata_hnsw_params hnsw_params;
  uint32_t full_scan_threshold_kb;
  strata_quantization_config quantization;
  /* The graph has int8 codes.  Changed under db->write_mutex. */
  int quantized;
  uint32_t *relink;     /* slots the current write added or changed */
  size_t n_relink, relink_cap;
  size_t removed_since_repair;
  strata_id_map *slot_hints; /* while loading: point id -> saved slot */
  size_t hint_misses;        /* vectors loaded without a usable hint */
  uint32_t hinted_slots;     /* the slot file's high-water mark */
  int slot_file_seen;        /* a slot file existed at open */
} strata_space;

typedef struct strata_collection {
  char *name;
  uint32_t id; /* key prefix in RocksDB; never reused */
  /* <data dir>/collections/c<id>, where on_disk vectors keep their
   * files; NULL when no vector is on_disk. */
  char *dir;
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
  int loading;       /* set while strata_open() loads the points */
  roaring_bitmap_t *live; /* point numbers in use */
  /* Payload indexes (field_index.c), sorted by field.  Changed under
   * db->lock held exclusively; readers use them under the shared lock. */
  strata_payload_index **field_indexes;
  size_t n_field_indexes;
  struct strata_filter_cache *filter_cache; /* filter_cache.c; may be NULL */
} strata_collection;

struct strata_db {
  char *path;
  strata_store *store;
  strata_store_view *view;
  pthread_mutex_t write_mutex;
  pthread_rwlock_t lock;
  strata_collection **collections; /* sorted by name */
  size_t n_collections;
  uint32_t next_collection_id;
  int read_only;
  unsigned threads; /* for index builds */
  void (*log)(void *ctx, const char *message);
  void *log_ctx;
};

/* Sends a warning to the caller's log function (stderr by default). */
void strata_db_log(strata_db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* collection.c: the in-memory structure. */
/* Creates an empty collection in *out; `vectors` must have resolved HNSW
 * configs (strata_hnsw_config_resolve).  Vectors with on_disk get their
 * file in the collection's directory under `data_dir`, which is created
 * when missing.  Errors: STRATA_ERR_NO_MEMORY, STRATA_ERR_IO (the
 * directory or a file cannot be created). */
strata_status strata_collection_new(const char *data_dir, const char *name,
                                    uint32_t id,
                                    const strata_vector_config *vectors,
                                    size_t n_vectors,
                                    strata_collection **out);
void strata_collection_free(strata_collection *c);
/* Removes the directory of the collection's on_disk files, when the
 * collection is dropped.  Closing keeps it, because another handle on
 * the same data directory may be about to create its file there. */
void strata_collection_remove_dir(const strata_collection *c);
/* Index of the space called `name` ("" when NULL), or -1. */
int strata_collection_space(const strata_collection *c, const char *name);
/* Reserves memory, and file space for on_disk vectors, so that the
 * store and index steps of the next `n` upserts and deletes cannot run out
 * of either.  Errors: STRATA_ERR_NO_MEMORY, STRATA_ERR_IO (an on_disk file
 * cannot grow). */
strata_status strata_collection_reserve(strata_collection *c, size_t n);
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

/* vector_index.c: the HNSW graph of each space. */
#define STRATA_DEFAULT_M 16
#define STRATA_DEFAULT_EF_CONSTRUCT 100
#define STRATA_DEFAULT_FULL_SCAN_KB 10000
/* Fills zero fields with defaults and checks ranges. */
strata_status strata_hnsw_config_resolve(const char *vector_name,
                                         strata_hnsw_config *config);
/* Checks a vector's quantization config; `vector_name` is for messages. */
strata_status strata_quantization_config_check(
    const char *vector_name, uint32_t dim, strata_distance distance,
    const strata_quantization_config *config);
/* Checks the quantization parameters of search request `index`. */
strata_status strata_quantization_params_check(
    const strata_quantization_search_params *params, size_t index);
/* Creates the space's empty graph. */
int strata_space_index_create(strata_space *space);
/* Records changes made under db->lock, for strata_space_index_link(). */
int strata_space_index_reserve(strata_space *space, size_t n);
void strata_space_index_note_set(strata_space *space, uint32_t slot);
void strata_space_index_note_remove(strata_space *space, uint32_t slot);
/* Step 5: links what the notes recorded, repairs after many removals. */
void strata_space_index_link(strata_db *db, strata_collection *c,
                             strata_space *space);
/* Fills the graph search options of a request on `space`: walk the int8
 * codes unless the space has none or `params` ignores them. */
void strata_space_search_options(
    const strata_space *space,
    const strata_quantization_search_params *params,
    strata_hnsw_search_options *out);
/* Searches one query: the graph, or an exact scan when the space is
 * small or `exact` is set.  Same contract as strata_flat_search. */
long strata_space_search(const strata_space *space, const float *query,
                         size_t k, size_t ef, int exact,
                         const strata_hnsw_search_options *options,
                         strata_hit *out);
/* Persistence of graphs across strata_close() and strata_open(). */
void strata_index_files_load_hints(strata_db *db, strata_collection *c,
                                   uint64_t sequence);
void strata_index_files_finish_load(strata_db *db, strata_collection *c);
void strata_index_files_save(strata_db *db, strata_collection *c,
                             uint64_t sequence);
void strata_index_files_remove(strata_db *db, uint32_t collection_id,
                               size_t n_spaces);

/* search.c: validates a request against the collection and copies its
 * query, normalised for Cosine, into `query` (dim floats). */
strata_status strata_search_request_check(const strata_collection *c,
                                          const strata_search_request *req,
                                          size_t index, int *space_out,
                                          float *query);

/* planner.c: how one search request is answered (see the file). */
typedef enum strata_plan_strategy {
  STRATA_PLAN_EXACT = 0,
  STRATA_PLAN_HNSW = 1,
  STRATA_PLAN_EXACT_FILTERED = 2,
  STRATA_PLAN_HNSW_FILTERED = 3,
  /* hnsw_filtered, but the walk checks payloads as it meets points */
  STRATA_PLAN_HNSW_CHECKED = 4
} strata_plan_strategy;

typedef struct strata_plan {
  strata_plan_strategy strategy;
  int space;
  /* Matching points, NULL without filter.  With STRATA_PLAN_HNSW_CHECKED
   * a superset, and `matching` an estimate from a sample. */
  roaring_bitmap_t *allowed;
  uint64_t matching;             /* points that match */
  uint64_t matching_with_vector; /* of them, those with this vector */
  size_t threshold;              /* full-scan threshold in points */
  struct strata_plan_checks *checks; /* STRATA_PLAN_HNSW_CHECKED only */
} strata_plan;

/* full_scan_threshold_kb of the space in vectors. */
size_t strata_space_threshold_points(const strata_space *space);
/* Chooses the plan; with a filter, computes the matching set.  Caller
 * holds db->lock shared and releases the plan with strata_plan_release.
 * The request must have passed strata_search_request_check(). */
strata_status strata_plan_make(strata_db *db, const strata_collection *c,
                               int space_index,
                               const strata_search_request *request,
                               strata_plan *plan);
/* Runs the plan; returns min(k, plan->matching_with_vector) hits, or -1
 * when out of memory.  `out` has room for k hits.  The graph plans walk
 * the int8 codes and rescore as `options` requests; NULL walks the
 * float vectors. */
long strata_plan_search(const strata_collection *c, const strata_plan *plan,
                        const float *query, size_t k, size_t ef,
                        const strata_hnsw_search_options *options,
                        strata_hit *out);
void strata_plan_release(strata_plan *plan);

/* db.c */
strata_collection *strata_db_find(strata_db *db, const char *name);
/* Replaces db->view with a snapshot of the current state; caller holds
 * db->lock exclusively. */
void strata_db_publish_view(strata_db *db);

/* field_index.c: payloads, payload indexes and filter evaluation. */
/* Reads and parses the payload of `id` from db->view; *out is NULL when
 * the point has none.  The caller releases it with json_decref(). */
strata_status strata_payload_read(strata_db *db, const strata_collection *c,
                                  const strata_point_id *id, json_t **out);
/* Fills `out` with the collection's payload indexes and an id resolver. */
void strata_collection_indexes(const strata_collection *c,
                               strata_payload_indexes *out);
/* Fails with STRATA_ERR_CORRUPTION: the stored payload of `id` is not
 * valid JSON. */
strata_status strata_payload_corrupt(const strata_collection *c,
                                     const strata_point_id *id);
/* Sets *out to a new bitmap of the live points that match `filter` (all
 * live points when it is NULL).  Caller holds db->lock shared or
 * db->write_mutex. */
strata_status strata_collection_select(strata_db *db,
                                       const strata_collection *c,
                                       const strata_filter *filter,
                                       roaring_bitmap_t **out);
/* Replaces what the indexes hold for `point`: old_payload's values out,
 * new_payload's in (either may be NULL).  Caller holds db->lock
 * exclusively.  Cannot fail: an index that runs out of memory marks
 * itself broken and strata_field_indexes_prepare() rebuilds it. */
void strata_field_indexes_update(strata_collection *c, uint32_t point,
                                 const json_t *old_payload,
                                 const json_t *new_payload);
/* filter_cache.c: frees the parsed payloads kept for filter checks.
 * Caller holds db->lock exclusively. */
void strata_filter_cache_drop(strata_collection *c);
/* Ends a write batch: merges index tails, rebuilds broken indexes from
 * db->view and drops the filter cache.  Caller holds db->lock
 * exclusively, after publishing. */
void strata_field_indexes_prepare(strata_db *db, strata_collection *c);
/* At open, after the points are loaded: creates the stored indexes and
 * fills them from the payloads. */
strata_status strata_field_indexes_load(strata_db *db);
/* Adds to `batch` the deletion of every index definition of `c`. */
void strata_field_indexes_forget(strata_db *db, strata_collection *c,
                                 strata_store_batch *batch);

/* points.c: deletes the points of `ids` in one batch; the caller holds
 * db->write_mutex and has validated the ids. */
strata_status strata_delete_locked(strata_db *db, strata_collection *c,
                                   const strata_point_id *ids, size_t n_ids,
                                   int sync, uint64_t *n_deleted);

/* records.c */
strata_records *strata_records_new(size_t capacity);
/* Fills rec for point number `point`: id, payload and vectors per `with`.
 * Caller holds db->lock shared. */
strata_status strata_record_fill(strata_db *db, const strata_collection *c,
                                 uint32_t point, int with, strata_record *rec);

#endif
