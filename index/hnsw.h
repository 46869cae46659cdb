/*
 * HNSW: an approximate nearest-neighbour graph over the slots of a
 * strata_vector_store.
 *
 * The algorithm is Malkov and Yashunin, "Efficient and robust approximate
 * nearest neighbor search using Hierarchical Navigable Small World
 * graphs" (arXiv:1603.09320).  Each node gets a level drawn from a
 * geometric distribution with mL = 1/ln(m).  A node has up to m links on
 * each of its levels above 0 and up to 2m on level 0.  Neighbours are
 * chosen by the paper's heuristic (Algorithm 4); a new node's own list
 * is then filled up to m with the nearest candidates the heuristic
 * pruned (its keepPrunedConnections option).  A search descends
 * greedily from the entry point to level 1, then runs a beam of width ef
 * on level 0.
 *
 * The index stores only the graph.  Vectors stay in the store, which the
 * caller owns and which must outlive the index.  Node ids are store slots.
 *
 * Node states
 * -----------
 *   FREE       no node for this slot
 *   INSERTING  being linked by strata_hnsw_insert; traversed, never a result
 *   PRESENT    a node that searches may return
 *   REMOVED    deleted by strata_hnsw_remove; still traversed, never a
 *              result, until strata_hnsw_repair unlinks it (back to FREE)
 *
 * Invariants (strata_hnsw_check verifies them when no writer is active)
 * ------------------------------------------------------------------------
 *   1. Every link points to another node (PRESENT or REMOVED) of the same
 *      or a higher level, at most once per list, never to itself.
 *   2. A list on level 0 has at most 2m links, and one above it at most m.
 *   3. The entry point is a PRESENT node whose level is the highest level
 *      of any PRESENT node.  It is absent exactly when no node is PRESENT.
 *   4. Every PRESENT node is live in the store.
 *   5. A slot keeps the level drawn the first time it was inserted, for
 *      the life of the index, so link arrays are never reallocated and a
 *      reader can never follow a pointer into freed memory.
 *   6. Each node's level-0 in-degree count equals the number of level-0
 *      lists that contain it.
 *
 * Concurrency
 * -----------
 * Searches run concurrently with each other and with strata_hnsw_insert,
 * strata_hnsw_update and strata_hnsw_remove, which run concurrently with
 * each other when they name different slots.  Writers lock one link list
 * at a time (a striped mutex array), so no two list locks are ever held
 * together and there is no lock order to get wrong.  A writer publishes a
 * list by storing its entries and then its count with release semantics.
 * A reader copies a list with acquire loads and no lock.  The copy may mix
 * old and new entries, but every entry it sees is a valid node id, which is
 * all a beam search needs.  A new node becomes reachable only after its
 * own level and link arrays are set, because it is published by being
 * stored into a neighbour's list.  Its lists are written from level 0 up,
 * so a search that reaches it on some level finds its lists below
 * already written.  Of two writers on the same slot, the one that comes
 * second gets an error (EBUSY, EEXIST or ENOTFOUND), not a corrupt node.
 *
 * strata_hnsw_repair, strata_hnsw_save and strata_hnsw_check exclude
 * writers (an internal writer lock) but still allow searches.
 * strata_hnsw_destroy needs exclusive access.  The vector store does no
 * locking of its own, so the caller must not change the store
 * (strata_vs_add, strata_vs_set, strata_vs_remove) while any call on an
 * index over it is running.
 *
 * Alternatives rejected
 * ---------------------
 * - One realloc'd level-0 array.  Growing it would move the links under
 *   concurrent readers.  The level-0 records are instead kept in chunks of
 *   1,024 nodes (HNSW_CHUNK) that never move: contiguous within a chunk,
 *   found through one load from a chunk table that doubles as the index
 *   grows, like the vector store's.
 * - A lock per node.  A mutex is 40 bytes, about as large as the level-0
 *   links of m = 4.  A fixed array of striped locks is enough because a writer
 *   never holds two of them.
 * - Unlinking a deleted node at once.  Finding the nodes that link to it
 *   needs reverse links (memory on every node) or a scan of the whole graph.
 *   Removal only marks the node.  strata_hnsw_repair later scans once for
 *   all deleted nodes and refills each affected list with the heuristic.
 *   Only a level-0 in-degree count is kept per node (4 bytes), so that no
 *   reselection drops the last link into a node.
 * - Freeing the link arrays of deleted nodes.  Concurrent readers may still
 *   hold them.  Invariant 5 keeps them for reuse by the same slot instead.
 */
#ifndef STRATA_INDEX_HNSW_H
#define STRATA_INDEX_HNSW_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "flat.h"
#include "vector_store.h"

/* Error codes.  0 is success; every function below that returns int
 * returns one of these. */
typedef enum strata_hnsw_error {
  STRATA_HNSW_OK = 0,
  STRATA_HNSW_EINVAL,    /* invalid argument: bad parameter or slot */
  STRATA_HNSW_ENOMEM,    /* out of memory */
  STRATA_HNSW_EEXIST,    /* insert of a slot that is already a node */
  STRATA_HNSW_ENOTFOUND, /* update or remove of a slot that is no node */
  STRATA_HNSW_EBUSY,     /* another writer is working on the same slot */
  STRATA_HNSW_EIO,       /* open, read, write, fsync or rename failed */
  STRATA_HNSW_ECORRUPT,  /* saved file truncated, damaged or invalid */
  STRATA_HNSW_EMISMATCH, /* saved file intact but built over another store */
} strata_hnsw_error;

/* Returns a static description of an error code. */
const char *strata_hnsw_strerror(int err);

/* Build parameters.  Fill with strata_hnsw_params_default() first. */
typedef struct strata_hnsw_params {
  uint32_t m;            /* links per node above level 0 (2m on level 0);
                            2..128, default 16 */
  uint32_t ef_construct; /* beam width while inserting; >= 1, default 100 */
  uint64_t seed;         /* seed of the level generator */
} strata_hnsw_params;

void strata_hnsw_params_default(strata_hnsw_params *params);

typedef struct strata_hnsw strata_hnsw;

/* Creates an empty index over `store`.  Stores `params` and the store
 * pointer; the store must outlive the index.  Writes the new index to
 * *out and returns STRATA_HNSW_OK, or returns STRATA_HNSW_EINVAL for a
 * parameter out of range or an unknown metric, or STRATA_HNSW_ENOMEM.
 * Cosine similarity is STRATA_METRIC_DOT over normalised vectors. */
int strata_hnsw_create(const strata_hnsw_params *params, strata_metric metric,
                       const strata_vector_store *store, strata_hnsw **out);

/* Frees the index.  No other call on it may be running.  NULL is a no-op. */
void strata_hnsw_destroy(strata_hnsw *h);

/* Links `slot`, which must be live in the store, into the graph.
 * A REMOVED slot that the store reused for a new vector is relinked in
 * place.  Returns STRATA_HNSW_OK, STRATA_HNSW_EINVAL (slot not live),
 * STRATA_HNSW_EEXIST (already INSERTING or PRESENT; use
 * strata_hnsw_update), STRATA_HNSW_EBUSY or STRATA_HNSW_ENOMEM.  On
 * ENOMEM the slot may stay linked in part and is left REMOVED. */
int strata_hnsw_insert(strata_hnsw *h, uint32_t slot);

/* Inserts `n` slots on `threads` threads (0 or 1: the calling thread).
 * Returns the first error any insert returned; the others still ran. */
int strata_hnsw_build(strata_hnsw *h, const uint32_t *slots, size_t n,
                      unsigned threads);

/* Relinks a PRESENT slot after the caller overwrote its vector with
 * strata_vs_set.  The node stays PRESENT (and so may be returned) while
 * it moves.  Returns STRATA_HNSW_OK, STRATA_HNSW_ENOTFOUND (not PRESENT),
 * STRATA_HNSW_EBUSY or STRATA_HNSW_ENOMEM.
 * NOTE: nodes that linked to the old position and are not among the old
 * neighbours keep their link.  So do the in-links of a node whose
 * neighbours moved away; an outlier may then be reachable only from
 * farther nodes (tests/hnsw/test_hnsw_concurrent.c bounds the effect). */
int strata_hnsw_update(strata_hnsw *h, uint32_t slot);

/* Marks a PRESENT slot REMOVED: searches stop returning it at once.  Its
 * links stay until strata_hnsw_repair.  Removing the entry point picks
 * the PRESENT node of highest level as the new one (a scan of one byte
 * per slot).  Returns STRATA_HNSW_OK, STRATA_HNSW_ENOTFOUND or
 * STRATA_HNSW_EBUSY. */
int strata_hnsw_remove(strata_hnsw *h, uint32_t slot);

/* Repairs every list that links to a REMOVED node, then frees those
 * nodes (their slots become FREE).  An affected list keeps its surviving
 * links and refills the other places by the heuristic from the links of
 * the removed nodes it pointed to (followed through chains of removed
 * nodes).  A node left with at most one level-0 in-link is then linked
 * from its nearest neighbour.  Waits for writers; searches may run.  Returns
 * STRATA_HNSW_OK or STRATA_HNSW_ENOMEM (the graph is then valid, only
 * partly repaired). */
int strata_hnsw_repair(strata_hnsw *h);

/* Counters of one search, for tests and tuning. */
typedef struct strata_hnsw_query_stats {
  size_t distances;     /* distance evaluations in the graph */
  size_t filter_calls;  /* calls of the filter's allow() in the graph */
  int two_hop;          /* 1 when the filter was selective enough for the
                           two-hop expansion to switch on */
  int exact_fallback;   /* 1 when the result came from an exact scan */
} strata_hnsw_query_stats;

/* Finds the k best PRESENT slots for `query` (vs->dim floats), with a
 * beam of max(ef, k).  With a filter, only slots it allows are returned,
 * but the beam still walks through disallowed ones.  When the filter
 * rejects most of what the beam meets, a rejected neighbour's own links
 * are scanned instead (two-hop expansion, as in ACORN-1), so the walk
 * stays inside allowed nodes.  An exact scan of the allowed PRESENT slots
 * (strata_flat_search) gives the result instead when the graph search
 * finds fewer than k.  It also does when the allowed share of the nodes
 * the beam tested projects fewer than 2 * ef allowed nodes in the index.
 * So the count is always min(k, allowed PRESENT slots).
 *
 * Writes hits to `out` (room for k), best first, scores in the flat.h
 * convention, and returns their count; returns -1 when out of memory.
 * `stats` may be NULL.  Thread-safe (see the concurrency notes above). */
long strata_hnsw_search(strata_hnsw *h, const float *query, size_t k,
                        size_t ef, const strata_slot_filter *filter,
                        strata_hit *out);
long strata_hnsw_search_stats(strata_hnsw *h, const float *query, size_t k,
                              size_t ef, const strata_slot_filter *filter,
                              strata_hit *out,
                              strata_hnsw_query_stats *stats);

/* int8 scalar quantization (quant.h).  Trains one pair of bounds that
 * contains the central `quantile` share (in (0, 1], for example 0.99) of
 * the components of the store's live vectors, then encodes every node.
 * From then on inserts and updates encode their slot too, and searches
 * through strata_hnsw_search_ex may walk the graph on the codes: about 4
 * times fewer bytes per distance than float vectors.  Inserts do not walk
 * these codes (a large bulk build walks temporary codes of its own).  Waits for writers; searches may run.  Returns
 * STRATA_HNSW_OK, STRATA_HNSW_EINVAL (quantile out of range, an L1 index,
 * or a dimension above STRATA_QUANT_MAX_DIM), STRATA_HNSW_EEXIST (already
 * quantized) or STRATA_HNSW_ENOMEM.
 * NOTE: the bounds are not retrained; vectors added later that fall
 * outside them are clamped.  The codes are not saved by strata_hnsw_save:
 * call this again after strata_hnsw_load. */
int strata_hnsw_quantize(strata_hnsw *h, float quantile);

/* Trains new int8 codes for an index as strata_hnsw_quantize does, and
 * replaces its codes, if any, with them.  Every search that uses the
 * index must hold `readers` for reading: the swap takes it for writing,
 * so that no search still reads the old codes when they are freed.  The
 * caller must not hold `readers`.  Returns the codes of
 * strata_hnsw_quantize, never STRATA_HNSW_EEXIST. */
int strata_hnsw_quantize_again(strata_hnsw *h, float quantile,
                               pthread_rwlock_t *readers);

/* Returns the number of live vectors that the codes of `h` were trained
 * on, or 0 when it has no codes. */
size_t strata_hnsw_quantized_points(strata_hnsw *h);

/* Returns the heap bytes of the int8 codes of `h`, 0 when it has none. */
size_t strata_hnsw_quantized_bytes(strata_hnsw *h);

/* Search options.  All zero is the plain float search. */
typedef struct strata_hnsw_search_options {
  int quantized;      /* walk the graph on the int8 codes, when the index
                         has them (strata_hnsw_quantize); else ignored */
  int rescore;        /* quantized: recompute the distances of the best
                         candidates from the float vectors and re-rank */
  float oversampling; /* quantized with rescore: rescore the best
                         ceil(oversampling * k) candidates (at least k);
                         the beam is widened to that count if needed */
} strata_hnsw_search_options;

/* strata_hnsw_search_stats with options; `opts` may be NULL.  Without
 * rescoring, a quantized search returns scores estimated from the codes. */
long strata_hnsw_search_ex(strata_hnsw *h, const float *query, size_t k,
                           size_t ef, const strata_slot_filter *filter,
                           const strata_hnsw_search_options *opts,
                           strata_hit *out, strata_hnsw_query_stats *stats);

/* Whole-index counters.  Exact when no writer is running. */
typedef struct strata_hnsw_info {
  size_t present;       /* PRESENT nodes */
  size_t removed;       /* REMOVED nodes awaiting strata_hnsw_repair */
  uint32_t entry;       /* entry slot, UINT32_MAX when empty */
  unsigned max_level;   /* level of the entry point */
  size_t memory_bytes;  /* heap bytes owned by the index, codes included */
} strata_hnsw_info;

void strata_hnsw_get_info(strata_hnsw *h, strata_hnsw_info *info);

/* Verifies invariants 1 to 6 over the whole graph, waiting for writers.
 * Returns STRATA_HNSW_OK, STRATA_HNSW_ENOMEM (the in-degree recount needs
 * 4 bytes per slot), or STRATA_HNSW_ECORRUPT after writing a description
 * of the first violation to `msg` (NUL-terminated, cut to msg_len; msg
 * may be NULL). */
int strata_hnsw_check(strata_hnsw *h, char *msg, size_t msg_len);

/* Writes the index to `path` atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory.  The format is
 * documented in hnsw_persist.c.  Waits for writers.  Returns
 * STRATA_HNSW_OK, STRATA_HNSW_EIO (errno is kept) or STRATA_HNSW_ENOMEM. */
int strata_hnsw_save(strata_hnsw *h, const char *path);

/* Reads an index saved by strata_hnsw_save over `store`, checking every
 * length, level and link before use and the whole graph after.  Returns
 * STRATA_HNSW_OK and writes the index to *out, or:
 *   STRATA_HNSW_EIO        the file could not be opened or read;
 *   STRATA_HNSW_ECORRUPT   truncated, checksum mismatch or invalid content;
 *   STRATA_HNSW_EMISMATCH  intact, but its dimension differs from the
 *                          store's or a PRESENT node's slot is not live;
 *   STRATA_HNSW_ENOMEM.
 * Both ECORRUPT and EMISMATCH mean: rebuild from the store.  On failure a
 * description (with the byte offset for corruption) goes to `msg`
 * (may be NULL). */
int strata_hnsw_load(const char *path, const strata_vector_store *store,
                     strata_hnsw **out, char *msg, size_t msg_len);

#endif
