/*
 * Internals shared by the hnsw_*.c files: the index struct, the node
 * layout, list access for lock-free readers, and the per-query scratch.
 *
 * Node layout.  Nodes live in chunks of HNSW_CHUNK slots, allocated on
 * first use and never moved.  Per chunk:
 *   links0  (2m + 1) u32 per node: the level-0 count, then up to 2m links
 *   upper   u32 per node: 0, or the reference of the node's upper lists
 *           in the upper arena: level * (m + 1) u32, for each level
 *           1..level a count then up to m links
 *   indeg   u32 per node: how many level-0 lists link to it
 *   level   u8 per node, HNSW_LEVEL_UNSET until the slot's first insert
 *   state   u8 per node: enum hnsw_node_state, plus HNSW_BUSY during an
 *           update
 * Searches touch links0 and state of each visited node, so those two are
 * dense arrays of their own.
 */
#ifndef STRATA_INDEX_HNSW_INTERNAL_H
#define STRATA_INDEX_HNSW_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "distance.h"
#include "hnsw.h"
#include "quant.h"

#define HNSW_NONE UINT32_MAX
#define HNSW_MAX_LEVEL 30
#define HNSW_LEVEL_UNSET 0xFF
#define HNSW_LOCK_STRIPES 1024
/* 1,024 nodes per chunk: the last chunk's unused records cost at most
 * 0.15 MB at m 16. */
#define HNSW_CHUNK_SHIFT 10
#define HNSW_CHUNK ((size_t)1 << HNSW_CHUNK_SHIFT)
/* The upper arena: blocks of 4,096 u32, each holding the upper lists of
 * whole nodes.  A node's lists take at most HNSW_MAX_LEVEL * (HNSW_MAX_M
 * + 1) = 3,870 u32, so they always fit one block.  A reference is the
 * u32 index of the node's first word in the arena.  Word 0 is never
 * handed out, so 0 means no upper lists.  About one node in m has any,
 * so a u32 reference instead of a pointer per node saves 4 bytes on
 * every node, and the blocks save a malloc header on every upper node. */
#define HNSW_UPPER_BLOCK_SHIFT 12
#define HNSW_UPPER_BLOCK ((size_t)1 << HNSW_UPPER_BLOCK_SHIFT)
#define HNSW_MAX_M 128
#define HNSW_PREFETCH_MAX_LINES 8

enum hnsw_node_state {
  HNSW_FREE = 0,
  HNSW_INSERTING = 1,
  HNSW_PRESENT = 2,
  HNSW_REMOVED = 3,
};
#define HNSW_STATE_MASK 0x7F
#define HNSW_BUSY 0x80

typedef struct hnsw_chunk {
  uint32_t *links0;
  uint32_t *indeg;
  uint32_t *upper;
  uint8_t *level;
  uint8_t *state;
} hnsw_chunk;

/* Table of pointers to node chunks or upper arena blocks.  Growing it
 * publishes a larger copy under grow_lock.  The old one stays allocated,
 * linked from `prev`, because readers holding no lock may still be
 * reading it.  Doubling bounds the retired tables to the size of the
 * current one. */
typedef struct hnsw_table {
  size_t len;
  struct hnsw_table *prev;
  void *items[];
} hnsw_table;

/* A node and its distance to the current query; smaller is closer. */
typedef struct hnsw_cand {
  float dist;
  uint32_t slot;
} hnsw_cand;

/* Binary heap of candidates: a min-heap or a max-heap by dist, slot
 * breaking ties, depending on the functions used. */
typedef struct hnsw_heap {
  hnsw_cand *items;
  size_t n, cap;
} hnsw_heap;

/* Scratch memory for one query or one insert, reused across calls and
 * owned by the index's pool.  Nothing in it survives between calls except
 * the capacity and the visited tags. */
typedef struct hnsw_scratch {
  /* Visited set: tags[slot] == epoch means visited in this query, and
   * epoch + 1 means the filter rejected it and it was not yet expanded.
   * Bumping epoch by 2 clears the set; the array is zeroed on wrap. */
  uint16_t *tags;
  size_t n_tags;
  uint16_t epoch;
  uint16_t spare_tag; /* returned by hnsw_tag_grow when out of memory */
  bool oom;

  hnsw_heap cand; /* min-heap: nodes still to expand */
  hnsw_heap best; /* max-heap: the ef best eligible nodes so far */

  uint32_t *list;     /* copy of the list being expanded */
  uint32_t *list2;    /* copy of a second-hop list */
  uint32_t *fresh;    /* unvisited ids of the list being expanded */
  size_t list_cap;    /* capacity of list, list2 and fresh */

  hnsw_cand *found;   /* beam result, nearest first */
  hnsw_cand *seeds;   /* entry points for the next level's beam */
  size_t found_cap, n_found, n_seeds;

  hnsw_cand *pool;    /* candidates for neighbour selection */
  size_t pool_cap;
  uint32_t *picked;   /* neighbour selection output */
  const float **picked_vec;
  /* Per level, while linking one node: the neighbours picked and the
   * node's links before; HNSW_MAX_LEVEL + 1 rows of list_cap entries. */
  uint32_t *picked_at, *old_at;
  uint32_t n_picked_at[HNSW_MAX_LEVEL + 1], n_old_at[HNSW_MAX_LEVEL + 1];
  uint32_t *queue;    /* removed nodes to walk through in a repair */
  size_t queue_cap;

  /* Quantized search: the codes walked, the encoded query and the sum
   * of its codes.  qcode is NULL when distances use the float vectors. */
  const strata_quant *quant;
  const uint8_t *qcode;
  uint32_t qcode_sum;
  unsigned qcode_lines; /* cache lines of a code row to prefetch */
  uint8_t *qbuf; /* room for one encoded query, quant->stride bytes */
  size_t qbuf_cap;
  float *qpad;   /* the query, zero-padded to kernel_dim floats */
  size_t qpad_cap;

  /* Counters of the current search. */
  size_t n_dist, n_filter, n_tested, n_passed;
  bool two_hop;
  bool gave_up; /* the filter allows too few nodes for a graph search */
} hnsw_scratch;

struct strata_hnsw {
  const strata_vector_store *store;
  strata_metric metric;
  float (*dist_fn)(const float *, const float *, size_t);
  bool negate; /* DOT: distance is -dot so that smaller is closer */
  size_t dim;
  /* Length passed to the distance kernels: the store's row stride, dim
   * rounded up to a multiple of 4.  The store zeroes its chunks and
   * writes only dim floats per row, so the padding adds nothing to a dot
   * product or an L1 or squared L2 sum, and the 4-lane kernels need no
   * tail code.  A search copies the query into a zero-padded buffer of
   * this length. */
  size_t kernel_dim;
  /* Cache lines of a row that a search prefetches before evaluating its
   * distance: the whole row up to HNSW_PREFETCH_MAX_LINES. */
  unsigned prefetch_lines;
  uint32_t m, m0, ef_construct;
  size_t rec0;  /* u32 per level-0 record: 1 + m0 */
  size_t recu;  /* u32 per upper-level record: 1 + m */
  double level_mult;
  uint64_t seed;
  uint64_t level_draws; /* atomic counter feeding the level generator */

  hnsw_table *chunks;       /* hnsw_chunk pointers; atomic */
  hnsw_table *upper_blocks; /* upper arena blocks of u32; atomic */
  uint32_t upper_next;      /* next free arena word; under grow_lock */
  uint32_t slot_limit;  /* atomic: every node slot is below it */

  /* Entry point: slot in the low 32 bits, level above; slot HNSW_NONE
   * when empty.  Read atomically, changed only under entry_lock. */
  uint64_t entry;
  pthread_mutex_t entry_lock;
  pthread_mutex_t grow_lock;
  pthread_rwlock_t writers; /* shared by writers, exclusive for repair,
                               save and check */
  pthread_mutex_t link_locks[HNSW_LOCK_STRIPES];

  pthread_mutex_t pool_lock;
  hnsw_scratch **pool;
  size_t n_pool, pool_cap;

  /* int8 codes of every node, set once by strata_hnsw_quantize under
   * the exclusive writers lock, then kept up to date by inserts and
   * updates; NULL when the index is not quantized.  Read atomically. */
  strata_quant *quant;
  /* Temporary codes that inserts walk during a large bulk build
   * (hnsw_build.c), else NULL.  Set and cleared under the exclusive
   * writers lock. */
  strata_quant *build_quant;

  size_t n_present, n_removed; /* atomic */
  size_t upper_bytes;          /* arena blocks; under grow_lock */
};

/* ---- Node access ------------------------------------------------------ */

/* Returns the chunk of `slot`, or NULL when it has none. */
static inline hnsw_chunk *hnsw_chunk_of(const strata_hnsw *h,
                                        uint32_t slot) {
  const hnsw_table *t = __atomic_load_n(&h->chunks, __ATOMIC_ACQUIRE);
  size_t ci = slot >> HNSW_CHUNK_SHIFT;
  if (ci >= t->len)
    return NULL;
  return __atomic_load_n(&t->items[ci], __ATOMIC_ACQUIRE);
}

static inline size_t hnsw_index_in_chunk(uint32_t slot) {
  return slot & (HNSW_CHUNK - 1);
}

static inline uint8_t hnsw_state(const strata_hnsw *h, uint32_t slot) {
  hnsw_chunk *c = hnsw_chunk_of(h, slot);
  if (!c)
    return HNSW_FREE;
  return __atomic_load_n(&c->state[hnsw_index_in_chunk(slot)],
                         __ATOMIC_ACQUIRE);
}

static inline void hnsw_set_state(strata_hnsw *h, uint32_t slot,
                                  uint8_t state) {
  hnsw_chunk *c = hnsw_chunk_of(h, slot);
  __atomic_store_n(&c->state[hnsw_index_in_chunk(slot)], state,
                   __ATOMIC_RELEASE);
}

static inline unsigned hnsw_level(const strata_hnsw *h, uint32_t slot) {
  hnsw_chunk *c = hnsw_chunk_of(h, slot);
  return __atomic_load_n(&c->level[hnsw_index_in_chunk(slot)],
                         __ATOMIC_ACQUIRE);
}

static inline bool hnsw_is_result(uint8_t state) {
  return (state & HNSW_STATE_MASK) == HNSW_PRESENT;
}

static inline uint32_t hnsw_list_cap(const strata_hnsw *h, unsigned level) {
  return level == 0 ? h->m0 : h->m;
}

/* Returns the list of `slot` at `level` (count first), or NULL when the
 * node has no such level. */
static inline uint32_t *hnsw_list(const strata_hnsw *h, uint32_t slot,
                                  unsigned level) {
  hnsw_chunk *c = hnsw_chunk_of(h, slot);
  if (!c)
    return NULL;
  size_t i = hnsw_index_in_chunk(slot);
  if (level == 0)
    return c->links0 + i * h->rec0;
  unsigned node_level = __atomic_load_n(&c->level[i], __ATOMIC_ACQUIRE);
  if (node_level == HNSW_LEVEL_UNSET || level > node_level)
    return NULL;
  uint32_t ref = __atomic_load_n(&c->upper[i], __ATOMIC_ACQUIRE);
  if (ref == 0)
    return NULL;
  /* The block was published before the reference. */
  const hnsw_table *t = __atomic_load_n(&h->upper_blocks, __ATOMIC_ACQUIRE);
  uint32_t *block = __atomic_load_n(&t->items[ref >> HNSW_UPPER_BLOCK_SHIFT],
                                    __ATOMIC_ACQUIRE);
  return block + (ref & (HNSW_UPPER_BLOCK - 1)) +
         (size_t)(level - 1) * h->recu;
}

/* Copies a list for a reader holding no lock.  Returns the count, clamped
 * to `cap` so that a torn read can never overrun `out`. */
static inline uint32_t hnsw_read_list(const uint32_t *list, uint32_t cap,
                                      uint32_t *out) {
  if (!list)
    return 0;
  uint32_t n = __atomic_load_n(&list[0], __ATOMIC_ACQUIRE);
  if (n > cap)
    n = cap;
  for (uint32_t i = 0; i < n; i++)
    out[i] = __atomic_load_n(&list[1 + i], __ATOMIC_ACQUIRE);
  return n;
}

/* Returns the level-0 in-degree counter of `slot`. */
static inline uint32_t *hnsw_indeg(const strata_hnsw *h, uint32_t slot) {
  return &hnsw_chunk_of(h, slot)->indeg[hnsw_index_in_chunk(slot)];
}

/* Replaces the list of `slot` at `level` by ids[0, n), keeping the
 * level-0 in-degree counters exact.  The caller holds the stripe lock. */
void hnsw_set_list(strata_hnsw *h, uint32_t slot, unsigned level,
                   const uint32_t *ids, uint32_t n);

/* Before a reselected level-0 list replaces `old`, puts back into
 * s->picked (count *n_picked, room for `cap`) each live node that would
 * lose its only in-link.  It takes the place of a picked link whose
 * target keeps another in-link.  Links to `drop` and to REMOVED nodes may
 * go. */
void hnsw_keep_sole_links(strata_hnsw *h, hnsw_scratch *s,
                          const uint32_t *old, uint32_t n_old, uint32_t drop,
                          uint32_t cap, uint32_t *n_picked);

static inline pthread_mutex_t *hnsw_lock_of(strata_hnsw *h, uint32_t slot) {
  return &h->link_locks[slot & (HNSW_LOCK_STRIPES - 1)];
}

static inline uint64_t hnsw_entry_pack(uint32_t slot, unsigned level) {
  return ((uint64_t)level << 32) | slot;
}

static inline uint64_t hnsw_entry_load(const strata_hnsw *h) {
  return __atomic_load_n(&h->entry, __ATOMIC_ACQUIRE);
}

static inline uint32_t hnsw_entry_slot(uint64_t entry) {
  return (uint32_t)entry;
}

static inline unsigned hnsw_entry_level(uint64_t entry) {
  return (unsigned)(entry >> 32);
}

/* ---- Distances -------------------------------------------------------- */

static inline const float *hnsw_vector(const strata_hnsw *h, uint32_t slot) {
  return strata_vs_vector(h->store, slot);
}

static inline float hnsw_distance(const strata_hnsw *h, const float *a,
                                  const float *b) {
  float d = h->dist_fn(a, b, h->kernel_dim);
  return h->negate ? -d : d;
}

/* Converts an internal distance to a score in the flat.h convention. */
float hnsw_score(const strata_hnsw *h, float dist);

/* ---- Heaps ------------------------------------------------------------ */

static inline bool hnsw_cand_less(hnsw_cand a, hnsw_cand b) {
  return a.dist < b.dist || (a.dist == b.dist && a.slot < b.slot);
}

/* Makes room for `extra` more items; false when out of memory. */
bool hnsw_heap_reserve(hnsw_heap *heap, size_t extra);

/* The heap operations run for every distance a search evaluates, so they
 * are inline.  The min-heap keeps the nearest at the root and the
 * max-heap the farthest.  `flip` selects which by swapping the
 * comparison, and is a constant at every call site. */
static inline bool hnsw_heap_above(hnsw_cand a, hnsw_cand b, bool flip) {
  return flip ? hnsw_cand_less(b, a) : hnsw_cand_less(a, b);
}

static inline void hnsw_heap_push(hnsw_heap *heap, hnsw_cand c, bool flip) {
  size_t i = heap->n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!hnsw_heap_above(c, heap->items[parent], flip))
      break;
    heap->items[i] = heap->items[parent];
    i = parent;
  }
  heap->items[i] = c;
}

static inline hnsw_cand hnsw_heap_pop(hnsw_heap *heap, bool flip) {
  hnsw_cand top = heap->items[0];
  hnsw_cand last = heap->items[--heap->n];
  size_t n = heap->n, i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n)
      break;
    if (child + 1 < n &&
        hnsw_heap_above(heap->items[child + 1], heap->items[child], flip))
      child++;
    if (!hnsw_heap_above(heap->items[child], last, flip))
      break;
    heap->items[i] = heap->items[child];
    i = child;
  }
  if (n > 0)
    heap->items[i] = last;
  return top;
}

static inline void hnsw_minheap_push(hnsw_heap *heap, hnsw_cand c) {
  hnsw_heap_push(heap, c, false);
}

static inline hnsw_cand hnsw_minheap_pop(hnsw_heap *heap) {
  return hnsw_heap_pop(heap, false);
}

static inline void hnsw_maxheap_push(hnsw_heap *heap, hnsw_cand c) {
  hnsw_heap_push(heap, c, true);
}

static inline hnsw_cand hnsw_maxheap_pop(hnsw_heap *heap) {
  return hnsw_heap_pop(heap, true);
}

/* ---- Scratch ---------------------------------------------------------- */

hnsw_scratch *hnsw_scratch_get(strata_hnsw *h);
void hnsw_scratch_put(strata_hnsw *h, hnsw_scratch *s);

/* Frees pooled scratches beyond the first `keep`.  Each contains a
 * visited tag array of 2 bytes per slot. */
void hnsw_scratch_trim(strata_hnsw *h, size_t keep);

/* Starts a new visited set sized for the current slot limit. */
bool hnsw_visit_begin(strata_hnsw *h, hnsw_scratch *s);

/* Grows the tag array to cover `slot`.  Returns the tag, or a dummy tag
 * with s->oom set when out of memory. */
uint16_t *hnsw_tag_grow(hnsw_scratch *s, uint32_t slot);

/* Returns the tag of `slot`, growing the tag array when a node newer than
 * the start of the query shows up. */
static inline uint16_t *hnsw_tag(hnsw_scratch *s, uint32_t slot) {
  if (slot < s->n_tags)
    return &s->tags[slot];
  return hnsw_tag_grow(s, slot);
}

/* Makes room for `n` entries in found/seeds and pool. */
bool hnsw_scratch_reserve_found(hnsw_scratch *s, size_t n);
bool hnsw_scratch_reserve_pool(hnsw_scratch *s, size_t n);

/* ---- Search (hnsw_search.c) -------------------------------------------- */

/* What a beam may return.  Nodes outside it are still walked through. */
typedef struct hnsw_target {
  const float *vec;
  uint32_t exclude;       /* never returned (the node being linked) */
  bool accept_inserting;  /* INSERTING nodes are eligible (construction) */
  const strata_slot_filter *filter;
} hnsw_target;

/* Moves *cur greedily towards t->vec on levels from_level down to
 * to_level + 1, through any node. */
void hnsw_greedy_descend(strata_hnsw *h, hnsw_scratch *s,
                         const float *vec, uint32_t *cur, float *cur_dist,
                         unsigned from_level, unsigned to_level);

/* Trains int8 codes on the live vectors and encodes every node with them
 * (hnsw_quant.c).  The caller has h->writers exclusively, so every node
 * linked before the codes are published is encoded here, and every later
 * one by its insert.  Returns STRATA_HNSW_OK, STRATA_HNSW_EINVAL or
 * STRATA_HNSW_ENOMEM. */
int hnsw_train_codes(strata_hnsw *h, float quantile, strata_quant **out);

/* Encodes `vec` as the query of a search over the codes of `quant`, so
 * that distances of that search come from the codes.  Returns false when
 * out of memory. */
bool hnsw_begin_quantized(const strata_quant *quant, hnsw_scratch *s,
                          const float *vec);

/* Returns the distance of `slot` to `vec` as the search in `s` measures
 * it: from the codes after hnsw_begin_quantized, else from the vectors. */
float hnsw_eval(strata_hnsw *h, hnsw_scratch *s, const float *vec,
                uint32_t slot);

/* Beam search of width ef on one level from s->seeds (SEARCH-LAYER,
 * Algorithm 2).  Leaves up to ef eligible nodes in s->found, nearest
 * first.  Returns false when out of memory. */
bool hnsw_beam_search(strata_hnsw *h, hnsw_scratch *s, const hnsw_target *t,
                      unsigned level, size_t ef);

/* ---- Linking (hnsw_build.c) -------------------------------------------- */

/* Picks neighbours from s->pool[0, n), sorted nearest first, by the
 * heuristic of Algorithm 4, after the `kept` ones the caller placed in
 * s->picked and s->picked_vec, up to `max` in all.  With `fill`, places
 * the heuristic leaves free take the nearest pruned candidates.  Returns
 * the count in s->picked.  Overwrites the distances in s->pool. */
uint32_t hnsw_select_neighbors(strata_hnsw *h, hnsw_scratch *s, size_t n,
                               uint32_t kept, uint32_t max, bool fill);

/* Links y -> x on level 0, replacing y's farthest link whose target has
 * another in-link when y's list is full.  Returns whether x is linked. */
bool hnsw_force_link(strata_hnsw *h, uint32_t y, uint32_t x);

/* Sorts s->pool[0, n) nearest first. */
void hnsw_sort_pool(hnsw_scratch *s, size_t n);

/* ---- Deletes (hnsw_delete.c) -------------------------------------------- */

/* Reselects the list of `slot` at `level` under its lock, dropping
 * REMOVED links and `drop`, with candidates from the surviving links, the
 * links of REMOVED neighbours and `extra`.  Returns false when out of
 * memory (the list is then unchanged). */
bool hnsw_repair_list(strata_hnsw *h, hnsw_scratch *s, uint32_t slot,
                      unsigned level, uint32_t drop, const uint32_t *extra,
                      uint32_t n_extra);

/* Returns the packed entry of the PRESENT node of highest level, or
 * HNSW_NONE when there is none.  The caller holds entry_lock. */
uint64_t hnsw_find_entry(strata_hnsw *h);

/* ---- Shared helpers ------------------------------------------------------ */

/* Allocates the chunk holding `slot` if needed. */
bool hnsw_ensure_chunk(strata_hnsw *h, uint32_t slot);

/* Allocates, zeroed, the upper lists of a node whose level is `level`.
 * They are never freed before the index (invariant 5). */
bool hnsw_alloc_upper(strata_hnsw *h, uint32_t slot, unsigned level);

/* Verifies the invariants; the caller excludes writers. */
int hnsw_check_locked(strata_hnsw *h, char *msg, size_t msg_len);

/* Allocates an index struct from validated parameters. */
int hnsw_alloc(const strata_hnsw_params *params, strata_metric metric,
               const strata_vector_store *store, strata_hnsw **out);

#endif
