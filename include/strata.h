/*
 * strata.h: the embedded C API of Strata, a vector database.
 *
 * A program opens a database on a data directory, creates collections of
 * points in it, and searches them.  A point has an id, one vector for each
 * of the collection's named dense vectors, and a JSON object as payload.
 *
 * Errors.  Every function that can fail returns a strata_status; STRATA_OK
 * (0) is success.  On failure the calling thread's last error message
 * (strata_last_error()) names the bad value and what to do about it.
 *
 * Ownership.  Pointers passed in are borrowed for the duration of the call
 * only.  Every object returned through an out-parameter belongs to the
 * caller and is released with the function its documentation names.
 *
 * Threads.  A strata_db handle may be shared by any number of threads.
 * Reads (get, scroll, count, search, describe, list) run concurrently with
 * each other; writes (create, drop, upsert, delete) are serialised, one at
 * a time, and a search never sees half of a write batch.
 *
 * Processes.  One process at a time may open a data directory; a second
 * open fails with STRATA_ERR_LOCKED instead of sharing the files.
 */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defined in strata_filter.h, which is included at the end. */
typedef struct strata_filter strata_filter;

#define STRATA_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ */
/* Errors                                                               */

typedef enum strata_status {
  STRATA_OK = 0,
  STRATA_ERR_INVALID_ARGUMENT = 1, /* a caller's value is wrong */
  STRATA_ERR_NOT_FOUND = 2,        /* collection or data directory missing */
  STRATA_ERR_ALREADY_EXISTS = 3,   /* collection name taken */
  STRATA_ERR_IO = 4,               /* the file system failed */
  STRATA_ERR_CORRUPTION = 5,       /* stored data is damaged */
  STRATA_ERR_VERSION = 6,          /* data written by a newer Strata */
  STRATA_ERR_LOCKED = 7,           /* another process has the directory */
  STRATA_ERR_NO_MEMORY = 8,
  STRATA_ERR_INTERNAL = 9          /* a bug in Strata: please report it */
} strata_status;

/* Returns a static, constant description of a status code. */
const char *strata_strerror(strata_status status);

/* Returns the message of the last failed call on this thread, or "" when
 * none failed yet.  The string is owned by the library and stays valid
 * until the next Strata call on this thread. */
const char *strata_last_error(void);

/* ------------------------------------------------------------------ */
/* Point ids                                                            */

typedef enum strata_id_kind {
  STRATA_ID_NUM = 0, /* unsigned 64-bit integer */
  STRATA_ID_UUID = 1
} strata_id_kind;

/* A point id.  Numeric ids sort before UUIDs; numbers sort by value and
 * UUIDs by their 16 bytes, which is the order scroll returns. */
typedef struct strata_point_id {
  strata_id_kind kind;
  uint64_t num;     /* when kind == STRATA_ID_NUM */
  uint8_t uuid[16]; /* when kind == STRATA_ID_UUID, big-endian bytes */
} strata_point_id;

/* Length of a formatted id, terminator included: a UUID in canonical
 * form is 36 characters, a u64 at most 20. */
#define STRATA_ID_STRLEN 37

strata_point_id strata_id_num(uint64_t num);

/* Parses "123" (decimal, 0 to 2^64-1) or a UUID in any of the common
 * spellings (hyphenated, simple 32 hex digits, braced, urn:uuid:), any
 * case.  Fails with STRATA_ERR_INVALID_ARGUMENT on a negative number, a
 * number above 2^64-1, or a malformed UUID. */
strata_status strata_id_parse(const char *text, strata_point_id *out);

/* Writes the id as decimal or as a lowercase hyphenated UUID into buf
 * (at least STRATA_ID_STRLEN bytes).  Returns buf. */
char *strata_id_format(const strata_point_id *id, char *buf);

/* ------------------------------------------------------------------ */
/* Database                                                             */

typedef struct strata_db strata_db;

typedef struct strata_open_options {
  int create_if_missing; /* create the directory and database if absent */
  int read_only;         /* open for reading; writes fail */
  /* Receives warnings about problems the library recovered from, such as
   * an index file that was damaged and has been rebuilt.  NULL writes
   * them to stderr. */
  void (*log)(void *ctx, const char *message);
  void *log_ctx;
  unsigned threads; /* threads for building indexes; 0: all cores */
} strata_open_options;

/* Opens (and with create_if_missing, creates) the database in `path` and
 * loads every collection into memory, with its HNSW graphs: those saved
 * by the last strata_close() are read back, and any that is missing,
 * damaged or older than the data is rebuilt.  `options` may be NULL for
 * {create_if_missing = 1, read_only = 0}.  On success *out is a handle
 * that the caller releases with strata_close().
 *
 * Errors: STRATA_ERR_LOCKED when another process has it open for writing;
 * STRATA_ERR_VERSION when a newer Strata wrote it; STRATA_ERR_NOT_FOUND
 * when it does not exist and create_if_missing is 0; STRATA_ERR_IO,
 * STRATA_ERR_CORRUPTION. */
strata_status strata_open(const char *path, const strata_open_options *options,
                          strata_db **out);

/* Saves the HNSW graphs (so the next open need not rebuild them), closes
 * the database and frees the handle.  No other thread may be using the
 * handle.  NULL is ignored. */
void strata_close(strata_db *db);

/* ------------------------------------------------------------------ */
/* Collections                                                          */

typedef enum strata_distance {
  STRATA_DISTANCE_COSINE = 1,   /* vectors normalised on insert; score is
                                   their dot product, larger is closer */
  STRATA_DISTANCE_EUCLID = 2,   /* L2 distance, smaller is closer */
  STRATA_DISTANCE_DOT = 3,      /* raw dot product, larger is closer */
  STRATA_DISTANCE_MANHATTAN = 4 /* L1 distance, smaller is closer */
} strata_distance;

/* Returns "Cosine", "Euclid", "Dot" or "Manhattan" (Qdrant's names). */
const char *strata_distance_name(strata_distance distance);

/* Parses a distance name, case-insensitively. */
strata_status strata_distance_parse(const char *name, strata_distance *out);

#define STRATA_MAX_DIM 65536
#define STRATA_MAX_VECTOR_NAME 255

/* HNSW graph parameters of one named vector, as Qdrant names them.  A
 * zero field takes the default. */
typedef struct strata_hnsw_config {
  uint32_t m;            /* links per node, 2 to 128; default 16 (level 0
                            keeps 2m) */
  uint32_t ef_construct; /* beam width while building, 4 to 4096;
                            default 100 */
  /* Below this many kilobytes of vectors (dim * 4 bytes each), search
   * scans every vector exactly instead of walking the graph; default
   * 10000, as in Qdrant. */
  uint32_t full_scan_threshold_kb;
} strata_hnsw_config;

/* Quantization of one named vector, as Qdrant's quantization_config. */
typedef enum strata_quantization_type {
  STRATA_QUANTIZATION_NONE = 0,
  /* Qdrant's scalar int8: one byte per dimension, bounds trained on the
   * stored vectors.  Cosine, Euclid and Dot only; dim at most 32768. */
  STRATA_QUANTIZATION_INT8 = 1
} strata_quantization_type;

/* Qdrant's default quantile. */
#define STRATA_DEFAULT_QUANTILE 0.99f

/* With STRATA_QUANTIZATION_INT8, graph searches walk the HNSW graph on
 * int8 codes, about a quarter of the bytes of the float vectors, and by
 * default rescore the best candidates from the float vectors (see
 * strata_quantization_search_params).  Exact searches always score the
 * float vectors.
 *
 * The codes are trained once the vector has more live points than its
 * full-scan threshold (and at least STRATA_QUANTIZATION_MIN_TRAIN), that
 * is once searches start to walk the graph.  Writes after that encode
 * new vectors with the trained bounds.  The bounds are trained again
 * when the vector reaches twice the points they were trained on, when it
 * passes the threshold again after deletes took it below, and at every
 * strata_open().  In between, components outside the bounds are clamped,
 * which costs recall if new data drifts far from the old. */
typedef struct strata_quantization_config {
  strata_quantization_type type;
  /* With INT8: the share of all vector components that the bounds must
   * contain, above 0.5 and at most 1; STRATA_DEFAULT_QUANTILE is Qdrant's
   * default.  Components outside the bounds are clamped to them.  Must be
   * 0 with NONE. */
  float quantile;
  /* Qdrant's always_ram.  Stored and reported; Strata keeps the codes
   * in RAM whatever its value (the float vectors follow on_disk).  Must
   * be 0 with NONE. */
  int always_ram;
} strata_quantization_config;

/* Live points a vector needs before its int8 codes are trained, so that
 * the quantile bounds come from a sample of at least this many vectors. */
#define STRATA_QUANTIZATION_MIN_TRAIN 256

/* One named dense vector of a collection.  The unnamed vector is "". */
typedef struct strata_vector_config {
  const char *name;
  uint32_t dim; /* 1 to STRATA_MAX_DIM */
  strata_distance distance;
  strata_hnsw_config hnsw; /* zero for the defaults */
  strata_quantization_config quantization; /* zero for none */
  /* Qdrant's on_disk, default 0.  When 1, the float vectors live in a
   * memory-mapped file under the collection's directory in the data
   * directory instead of on the heap.  The kernel may then evict them
   * from the page cache.  The HNSW graph and int8 codes stay on the
   * heap.  The file is a cache rebuilt from the stored vectors at every
   * strata_open() and deleted at close.  Creating the collection, opening
   * the data directory and upserting fail with STRATA_ERR_IO when the
   * file cannot be created or grown (a full disk, say).  Graph searches
   * on int8 codes read only the rows they rescore; exact searches and
   * graph searches on floats read every row they score. */
  int on_disk;
} strata_vector_config;

typedef struct strata_collection_config {
  const strata_vector_config *vectors;
  size_t n_vectors; /* at least 1 */
} strata_collection_config;

/* Creates a collection.  Names are 1 to 255 bytes of UTF-8 without '/'
 * or control characters.  Errors: STRATA_ERR_ALREADY_EXISTS,
 * STRATA_ERR_INVALID_ARGUMENT (bad name, dim, distance, two vectors with
 * one name, HNSW setting out of range, unknown quantization type,
 * quantile out of range or NaN, int8 with Manhattan or with dim above
 * 32768). */
strata_status strata_collection_create(strata_db *db, const char *name,
                                       const strata_collection_config *config);

/* Drops a collection and all its points.  STRATA_ERR_NOT_FOUND when it
 * does not exist. */
strata_status strata_collection_drop(strata_db *db, const char *name);

/* Sets *out to a NULL-terminated array of collection names, sorted.  The
 * caller frees it with strata_names_free(). */
strata_status strata_collection_list(strata_db *db, char ***out);
void strata_names_free(char **names);

/* One payload index of a collection (see strata_field_index_create). */
typedef struct strata_field_index_info {
  char *field; /* canonical key path */
  char *type;  /* "keyword", "integer", "float", "bool", "uuid",
                  "datetime" or "text" */
} strata_field_index_info;

/* Describes a collection.  The caller frees *out with
 * strata_collection_info_free(). */
typedef struct strata_collection_info {
  char *name;
  strata_vector_config *vectors; /* names owned by this struct */
  size_t n_vectors;
  uint64_t points_count;
  /* Vectors reachable through the HNSW graphs, summed over the named
   * vectors; lower than the vectors stored while a write is linking, or
   * when a graph could not be built (searches then scan exactly). */
  uint64_t indexed_vectors_count;
  /* Payload indexes, sorted by field; owned by this struct. */
  struct strata_field_index_info *field_indexes;
  size_t n_field_indexes;
  /* Per vector, in the order of `vectors`: heap bytes of its int8 codes,
   * 0 when it has none (no quantization, or codes not trained yet).
   * They include a fixed table of chunk pointers (4 MiB at the current
   * slot limit), which dominates for small collections.  For 60,000
   * Fashion-MNIST images (dim 784), strata info showed 926 bytes per
   * vector. */
  uint64_t *quantization_bytes;
} strata_collection_info;

strata_status strata_collection_describe(strata_db *db, const char *name,
                                         strata_collection_info **out);
void strata_collection_info_free(strata_collection_info *info);

/* ------------------------------------------------------------------ */
/* Points                                                               */

/* A vector of a point, by the collection's vector name. */
typedef struct strata_named_vector {
  const char *name; /* "" or NULL for the unnamed vector */
  const float *data;
  uint32_t dim;
} strata_named_vector;

typedef struct strata_point {
  strata_point_id id;
  const strata_named_vector *vectors;
  size_t n_vectors;
  /* A JSON object as text, stored as given and returned byte for byte;
   * NULL or "" for no payload. */
  const char *payload;
  size_t payload_len; /* 0: strlen(payload) */
} strata_point;

typedef struct strata_write_options {
  /* Nonzero: the call returns only after the write-ahead log is synced
   * to disk, so the batch survives a crash of the machine.  Zero: it
   * survives a crash of the process only. */
  int wait;
} strata_write_options;

/* Inserts or replaces a batch of points atomically: either all are
 * stored or, on any error, none.  A point that already exists is
 * replaced whole (vectors and payload).  Within one batch the last
 * occurrence of an id wins.  A point may omit some of the collection's
 * named vectors; search on a vector skips points that lack it.  With
 * Cosine, vectors are normalised before they are stored; an all-zero
 * vector is stored as is and scores 0 against everything.
 *
 * `options` may be NULL ({wait = 0}).  Errors: STRATA_ERR_NOT_FOUND
 * (collection), STRATA_ERR_INVALID_ARGUMENT (unknown vector name,
 * dimension, NaN or infinity, payload that is not a JSON object),
 * STRATA_ERR_IO. */
strata_status strata_upsert(strata_db *db, const char *collection,
                            const strata_point *points, size_t n_points,
                            const strata_write_options *options);

/* Deletes points by id atomically.  Ids that do not exist are ignored.
 * Sets *n_deleted (when not NULL) to how many existed. */
strata_status strata_delete(strata_db *db, const char *collection,
                            const strata_point_id *ids, size_t n_ids,
                            const strata_write_options *options,
                            uint64_t *n_deleted);

/* Counts the points of a collection. */
strata_status strata_count(strata_db *db, const char *collection,
                           uint64_t *out);

/* What a read returns besides ids. */
enum {
  STRATA_WITH_PAYLOAD = 1,
  STRATA_WITH_VECTORS = 2
};

/* A point as returned by get, scroll and search.  Arrays are owned by the
 * strata_records that contains it. */
typedef struct strata_record {
  strata_point_id id;
  float score;    /* search only; 0 elsewhere */
  char *payload;  /* NUL-terminated JSON, "{}" when none; NULL unless
                     STRATA_WITH_PAYLOAD */
  size_t payload_len;
  strata_named_vector *vectors; /* NULL unless STRATA_WITH_VECTORS */
  size_t n_vectors;
} strata_record;

typedef struct strata_records {
  strata_record *items;
  size_t count;
} strata_records;

/* Frees a result set and everything it owns.  NULL is ignored. */
void strata_records_free(strata_records *records);

/* Gets points by id, in the order requested; ids that do not exist are
 * skipped, and a repeated id is returned once.  `with` is a mask of
 * STRATA_WITH_*.  The caller frees *out with strata_records_free(). */
strata_status strata_get(strata_db *db, const char *collection,
                         const strata_point_id *ids, size_t n_ids, int with,
                         strata_records **out);

/* Returns up to `limit` points in id order, starting at `offset` (that
 * id included; NULL for the first point).  When more points follow,
 * *next is set to the id to pass as the next offset and *has_next to 1;
 * otherwise *has_next is 0.  The caller frees *out. */
strata_status strata_scroll(strata_db *db, const char *collection,
                            const strata_point_id *offset, size_t limit,
                            int with, strata_records **out,
                            strata_point_id *next, int *has_next);

/* ------------------------------------------------------------------ */
/* Search                                                               */

/* Whether a quantized search rescores its candidates. */
typedef enum strata_rescore {
  STRATA_RESCORE_DEFAULT = 0, /* on, as in Qdrant */
  STRATA_RESCORE_ON = 1,
  STRATA_RESCORE_OFF = 2
} strata_rescore;

/* Search-time quantization parameters (Qdrant's QuantizationSearchParams).
 * All zero is Qdrant's default: use the codes, rescore, oversampling 1.
 * They apply to graph searches of a vector that has int8 codes and are
 * ignored otherwise, but are checked in every request. */
typedef struct strata_quantization_search_params {
  int ignore; /* nonzero: walk the graph on the float vectors */
  /* Rescoring recomputes the scores of the best candidates from the
   * float vectors and re-ranks them, so that the returned scores are
   * exact.  Without it, scores are estimates from the codes. */
  strata_rescore rescore;
  /* With rescoring, the best ceil(oversampling * k) candidates by code
   * are rescored; at least 1, or 0 for the default 1.  Values above 1
   * find more true neighbours at the cost of more float distances. */
  float oversampling;
} strata_quantization_search_params;

typedef struct strata_search_request {
  const char *vector_name; /* NULL or "" for the unnamed vector */
  const float *query;
  uint32_t dim;
  uint32_t k; /* at least 1 */
  int with;   /* STRATA_WITH_* mask */
  /* Beam width of the HNSW search; 0 uses the vector's ef_construct.
   * Values below k are raised to k.  Larger is slower and more exact. */
  uint32_t ef;
  int exact; /* nonzero: score every vector instead of using the graph */
  /* Only points that match this filter are returned; NULL for all.
   * Borrowed for the call. */
  const strata_filter *filter;
  strata_quantization_search_params quantization; /* zero: the defaults */
} strata_search_request;

/* Finds the k points whose vector `vector_name` is closest to the query,
 * best first, scored as strata_distance documents.  Returns
 * min(k, points that have this vector) results, each point once.
 *
 * The search walks the vector's HNSW graph, which is approximate: a
 * result may miss a true neighbour, less often with a larger `ef`.  It
 * scores every vector exactly instead when `exact` is set or when the
 * vector holds less than full_scan_threshold_kb of data.  The caller
 * frees *out with strata_records_free().
 *
 * With request->filter, only points that match it are returned, and
 * the count is min(k, matching points that have this vector).  The
 * matching points are scored exactly when there are few of them: fewer
 * than the full-scan threshold, or fewer than about
 * sqrt(30 * ef * points), the estimated count at which a filtered graph
 * walk costs as much.  Otherwise the graph walk skips the others (see
 * strata_search_explain()).  A filter adds the errors
 * STRATA_ERR_IO and STRATA_ERR_CORRUPTION when a payload cannot be read.
 *
 * A vector with int8 codes walks the graph on them, filtered or not,
 * unless request->quantization.ignore is set.
 *
 * Errors: STRATA_ERR_NOT_FOUND (collection), STRATA_ERR_INVALID_ARGUMENT
 * (unknown vector name, k is 0, wrong dimension, NaN or infinity in the
 * query, unknown rescore value, oversampling below 1 or not finite). */
strata_status strata_search(strata_db *db, const char *collection,
                            const strata_search_request *request,
                            strata_records **out);

/* Runs several search requests on one collection.  Sets *out to an array of
 * n_requests result sets; the caller frees it with
 * strata_records_free_array().  Fails whole when any request is invalid. */
strata_status strata_search_batch(strata_db *db, const char *collection,
                                  const strata_search_request *requests,
                                  size_t n_requests, strata_records ***out);
void strata_records_free_array(strata_records **array, size_t n);

/* ------------------------------------------------------------------ */
/* Filters                                                              */

/* Filters (strata_filter.h) select points by payload and id.  Every call
 * below that takes a filter borrows it for the call only; NULL selects
 * every point.  Filtered reads evaluate the filter against the same
 * state as the rest of the read. */

/* Like strata_scroll(), but returns only points that match `filter`:
 * up to `limit` of them in id order, from `offset` on.  *next is the
 * next matching id.  Errors as strata_scroll(), and STRATA_ERR_IO or
 * STRATA_ERR_CORRUPTION when a payload cannot be read. */
strata_status strata_scroll_filtered(strata_db *db, const char *collection,
                                     const strata_filter *filter,
                                     const strata_point_id *offset,
                                     size_t limit, int with,
                                     strata_records **out,
                                     strata_point_id *next, int *has_next);

/* Counts the points that match `filter` exactly. */
strata_status strata_count_filtered(strata_db *db, const char *collection,
                                    const strata_filter *filter,
                                    uint64_t *out);

/* Deletes every point that matches `filter` in one atomic batch and sets
 * *n_deleted (when not NULL) to their number.  A NULL filter is rejected
 * (STRATA_ERR_INVALID_ARGUMENT) so that a mistake cannot empty a
 * collection; pass an empty filter to mean every point. */
strata_status strata_delete_by_filter(strata_db *db, const char *collection,
                                      const strata_filter *filter,
                                      const strata_write_options *options,
                                      uint64_t *n_deleted);

/* Describes how strata_search() would answer `request` and sets *out to
 * a malloc'd JSON object the caller frees with free():
 *
 *   {"strategy": "exact" | "hnsw" | "exact_filtered" | "hnsw_filtered"
 *                 | "hnsw_checked",
 *    "vector": name, "points": live points, "vectors": points with this
 *    vector, "full_scan_threshold_points": n,
 *    "filtered_exact_below_points": matching points below which a
 *    filtered search scores them exactly,
 *    "filter": the filter as JSON or null,
 *    "estimate": {"min", "expected", "max"} from the payload indexes,
 *    "matching": points that match the filter,
 *    "matching_with_vector": those of them that have this vector,
 *    "indexes_used": [fields with a usable payload index],
 *    "projected_matching": (hnsw_checked only) the count projected
 *    from a sample, which chose the plan}
 *
 * exact_filtered scores the matching points one by one; it is chosen
 * when fewer of them than filtered_exact_below_points have the vector.
 * hnsw_filtered walks the graph and skips points that do not match.
 * hnsw_checked is hnsw_filtered for a filter the payload indexes cannot
 * resolve: a sample of the points projects enough matches, and the walk
 * checks the payload of each point it meets, once.
 * Errors as strata_search(). */
strata_status strata_search_explain(strata_db *db, const char *collection,
                                    const strata_search_request *request,
                                    char **out);

/* ------------------------------------------------------------------ */
/* Payload updates                                                      */

/* The points a payload update applies to: the listed ids (those that do
 * not exist are skipped), or when `ids` is NULL every point that matches
 * `filter`.  One of the two must be set. */
typedef struct strata_point_selector {
  const strata_point_id *ids;
  size_t n_ids;
  const strata_filter *filter;
} strata_point_selector;

/* Merges the JSON object `payload` into the payload of each selected
 * point: its top-level keys replace the point's, and a key whose value
 * is null is removed.  With `key` (a key path such as "a.b", or NULL),
 * the merge happens in the object at that path instead, which is
 * created when missing and replaced when it is not an object.
 *
 * Each payload update writes one atomic batch and honours
 * options->wait (`options` may be NULL).  On any error nothing changes.
 * Errors: STRATA_ERR_NOT_FOUND (collection), STRATA_ERR_INVALID_ARGUMENT
 * (payload not a JSON object, bad key path, key path through an array,
 * no ids and no filter), STRATA_ERR_IO.  Payloads are stored as
 * compact JSON after a set or a delete of keys; overwrite stores the
 * given text byte for byte.  Sets *n_updated (when not NULL) to the
 * number of points changed. */
strata_status strata_payload_set(strata_db *db, const char *collection,
                                 const strata_point_selector *points,
                                 const char *payload, const char *key,
                                 const strata_write_options *options,
                                 uint64_t *n_updated);

/* Replaces the payload of each selected point with `payload` (a JSON
 * object; "{}" empties it).  Errors as strata_payload_set(). */
strata_status strata_payload_overwrite(strata_db *db, const char *collection,
                                       const strata_point_selector *points,
                                       const char *payload,
                                       const strata_write_options *options,
                                       uint64_t *n_updated);

/* Removes the values at the given key paths ("a", "a.b", "a[].b",
 * "a[0]") from each selected point's payload; paths that are missing
 * are ignored.  Errors as strata_payload_set(). */
strata_status strata_payload_delete_keys(strata_db *db,
                                         const char *collection,
                                         const strata_point_selector *points,
                                         const char *const *keys,
                                         size_t n_keys,
                                         const strata_write_options *options,
                                         uint64_t *n_updated);

/* Empties the payload of each selected point.  Errors as
 * strata_payload_set(). */
strata_status strata_payload_clear(strata_db *db, const char *collection,
                                   const strata_point_selector *points,
                                   const strata_write_options *options,
                                   uint64_t *n_updated);

/* ------------------------------------------------------------------ */
/* Payload indexes                                                      */

/* Creates a payload index on `field` (a key path, as filters write it)
 * of type "keyword", "integer", "float", "bool", "uuid", "datetime" or
 * "text".  The index is built over the existing points before the call
 * returns, kept up to date by every write, and its definition is stored
 * so that strata_open() rebuilds it.  Indexes only make filters faster:
 * results are the same without them.
 *
 * Errors: STRATA_ERR_NOT_FOUND (collection), STRATA_ERR_INVALID_ARGUMENT
 * (unknown type, malformed field path), STRATA_ERR_ALREADY_EXISTS (the
 * field already has an index; drop it first), STRATA_ERR_IO. */
strata_status strata_field_index_create(strata_db *db, const char *collection,
                                        const char *field, const char *type,
                                        const strata_write_options *options);

/* Drops the payload index on `field`.  Errors: STRATA_ERR_NOT_FOUND
 * (collection, or no index on that field), STRATA_ERR_INVALID_ARGUMENT
 * (malformed field path), STRATA_ERR_IO. */
strata_status strata_field_index_drop(strata_db *db, const char *collection,
                                      const char *field,
                                      const strata_write_options *options);

#ifdef __cplusplus
}
#endif

#include "strata_filter.h"

#endif
