/*
 * HNSW lifecycle and shared machinery: create and destroy, node chunks,
 * the scratch pool with its visited tags, candidate heaps, and counters.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw_internal.h"

const char *strata_hnsw_strerror(int err) {
  switch (err) {
  case STRATA_HNSW_OK:
    return "success";
  case STRATA_HNSW_EINVAL:
    return "invalid argument";
  case STRATA_HNSW_ENOMEM:
    return "out of memory";
  case STRATA_HNSW_EEXIST:
    return "slot is already in the index";
  case STRATA_HNSW_ENOTFOUND:
    return "slot is not in the index";
  case STRATA_HNSW_EBUSY:
    return "another writer is working on the slot";
  case STRATA_HNSW_EIO:
    return "I/O error (see errno)";
  case STRATA_HNSW_ECORRUPT:
    return "index file truncated or corrupt; rebuild the index";
  case STRATA_HNSW_EMISMATCH:
    return "index file does not match the vector store; rebuild the index";
  }
  return "unknown error";
}

void strata_hnsw_params_default(strata_hnsw_params *params) {
  params->m = 16;
  params->ef_construct = 100;
  params->seed = 0x5eed5eedULL;
}

float hnsw_score(const strata_hnsw *h, float dist) {
  switch (h->metric) {
  case STRATA_METRIC_DOT:
    return -dist;
  case STRATA_METRIC_L2:
    return sqrtf(dist > 0.0f ? dist : 0.0f);
  case STRATA_METRIC_L1:
    return dist;
  }
  return dist;
}

/* ---- Create and destroy -------------------------------------------------- */

/* Entries of a new index's chunk and arena tables. */
#define INITIAL_TABLE_LEN 4

/* Allocates a zeroed table of `len` entries that retires `prev`. */
static hnsw_table *table_new(size_t len, hnsw_table *prev) {
  hnsw_table *t = calloc(1, sizeof *t + len * sizeof *t->items);
  if (!t)
    return NULL;
  t->len = len;
  t->prev = prev;
  return t;
}

/* Frees a table and the tables it retired, not the items. */
static void table_free(hnsw_table *t) {
  while (t) {
    hnsw_table *prev = t->prev;
    free(t);
    t = prev;
  }
}

int hnsw_alloc(const strata_hnsw_params *params, strata_metric metric,
               const strata_vector_store *store, strata_hnsw **out) {
  *out = NULL;
  if (!params || !store || store->dim == 0)
    return STRATA_HNSW_EINVAL;
  if (params->m < 2 || params->m > HNSW_MAX_M || params->ef_construct < 1)
    return STRATA_HNSW_EINVAL;

  const strata_kernels *kern = strata_kernels_get();
  float (*dist_fn)(const float *, const float *, size_t);
  switch (metric) {
  case STRATA_METRIC_DOT:
    dist_fn = kern->dot;
    break;
  case STRATA_METRIC_L2:
    dist_fn = kern->l2sq;
    break;
  case STRATA_METRIC_L1:
    dist_fn = kern->l1;
    break;
  default:
    return STRATA_HNSW_EINVAL;
  }

  strata_hnsw *h = calloc(1, sizeof *h);
  if (!h)
    return STRATA_HNSW_ENOMEM;
  h->chunks = table_new(INITIAL_TABLE_LEN, NULL);
  h->upper_blocks = table_new(INITIAL_TABLE_LEN, NULL);
  if (!h->chunks || !h->upper_blocks) {
    free(h->chunks);
    free(h->upper_blocks);
    free(h);
    return STRATA_HNSW_ENOMEM;
  }
  h->upper_next = 1; /* reference 0 means no upper lists */
  h->store = store;
  h->metric = metric;
  h->dist_fn = dist_fn;
  h->negate = metric == STRATA_METRIC_DOT;
  h->dim = store->dim;
  h->kernel_dim = store->stride;
  size_t lines = (h->kernel_dim * sizeof(float) + 63) / 64;
  h->prefetch_lines = lines < HNSW_PREFETCH_MAX_LINES
                          ? (unsigned)lines
                          : HNSW_PREFETCH_MAX_LINES;
  h->m = params->m;
  h->m0 = 2 * params->m;
  h->ef_construct = params->ef_construct;
  h->rec0 = 1 + (size_t)h->m0;
  h->recu = 1 + (size_t)h->m;
  h->level_mult = 1.0 / log((double)params->m);
  h->seed = params->seed;
  h->entry = hnsw_entry_pack(HNSW_NONE, 0);

  pthread_mutex_init(&h->entry_lock, NULL);
  pthread_mutex_init(&h->grow_lock, NULL);
  pthread_mutex_init(&h->pool_lock, NULL);
  for (size_t i = 0; i < HNSW_LOCK_STRIPES; i++)
    pthread_mutex_init(&h->link_locks[i], NULL);

  /* Prefer the exclusive side, so a repair is not starved by a stream of
   * inserts (glibc's default prefers the shared side). */
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&h->writers, &attr);
  pthread_rwlockattr_destroy(&attr);

  *out = h;
  return STRATA_HNSW_OK;
}

int strata_hnsw_create(const strata_hnsw_params *params, strata_metric metric,
                       const strata_vector_store *store, strata_hnsw **out) {
  if (!out)
    return STRATA_HNSW_EINVAL;
  return hnsw_alloc(params, metric, store, out);
}

static void scratch_free(hnsw_scratch *s) {
  if (!s)
    return;
  free(s->tags);
  free(s->cand.items);
  free(s->best.items);
  free(s->list);
  free(s->list2);
  free(s->fresh);
  free(s->found);
  free(s->seeds);
  free(s->pool);
  free(s->picked);
  free(s->picked_vec);
  free(s->picked_at);
  free(s->old_at);
  free(s->queue);
  free(s->qbuf);
  free(s->qpad);
  free(s);
}

static void chunk_free(hnsw_chunk *c) {
  free(c->links0);
  free(c->indeg);
  free(c->upper);
  free(c->level);
  free(c->state);
  free(c);
}

void strata_hnsw_destroy(strata_hnsw *h) {
  if (!h)
    return;
  for (size_t i = 0; i < h->chunks->len; i++) {
    if (h->chunks->items[i])
      chunk_free(h->chunks->items[i]);
  }
  table_free(h->chunks);
  for (size_t i = 0; i < h->upper_blocks->len; i++)
    free(h->upper_blocks->items[i]);
  table_free(h->upper_blocks);
  strata_quant_destroy(h->quant);
  strata_quant_destroy(h->build_quant);
  for (size_t i = 0; i < h->n_pool; i++)
    scratch_free(h->pool[i]);
  free(h->pool);
  pthread_mutex_destroy(&h->entry_lock);
  pthread_mutex_destroy(&h->grow_lock);
  pthread_mutex_destroy(&h->pool_lock);
  for (size_t i = 0; i < HNSW_LOCK_STRIPES; i++)
    pthread_mutex_destroy(&h->link_locks[i]);
  pthread_rwlock_destroy(&h->writers);
  free(h);
}

/* ---- Node chunks --------------------------------------------------------- */

/* Raises the slot limit that scans and visited sets are sized by. */
static void raise_slot_limit(strata_hnsw *h, uint32_t slot) {
  uint32_t limit = __atomic_load_n(&h->slot_limit, __ATOMIC_RELAXED);
  while (limit < slot + 1 &&
         !__atomic_compare_exchange_n(&h->slot_limit, &limit, slot + 1, true,
                                      __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
  }
}

/* Makes *table have an entry `i`, publishing a doubled copy if needed.
 * The caller holds grow_lock. */
static bool table_reserve(hnsw_table **table, size_t i) {
  hnsw_table *old = *table;
  if (i < old->len)
    return true;
  size_t len = old->len;
  while (len <= i)
    len *= 2;
  hnsw_table *t = table_new(len, old);
  if (!t)
    return false;
  memcpy(t->items, old->items, old->len * sizeof *t->items);
  __atomic_store_n(table, t, __ATOMIC_RELEASE);
  return true;
}

static hnsw_chunk *chunk_new(const strata_hnsw *h) {
  hnsw_chunk *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->links0 = calloc(HNSW_CHUNK * h->rec0, sizeof *c->links0);
  c->indeg = calloc(HNSW_CHUNK, sizeof *c->indeg);
  c->upper = calloc(HNSW_CHUNK, sizeof *c->upper);
  c->level = malloc(HNSW_CHUNK);
  c->state = calloc(HNSW_CHUNK, 1);
  if (!c->links0 || !c->indeg || !c->upper || !c->level || !c->state) {
    free(c->links0);
    free(c->indeg);
    free(c->upper);
    free(c->level);
    free(c->state);
    free(c);
    return NULL;
  }
  memset(c->level, HNSW_LEVEL_UNSET, HNSW_CHUNK);
  return c;
}

bool hnsw_ensure_chunk(strata_hnsw *h, uint32_t slot) {
  size_t ci = slot >> HNSW_CHUNK_SHIFT;
  if (hnsw_chunk_of(h, slot)) {
    raise_slot_limit(h, slot);
    return true;
  }

  /* Under grow_lock the table is stable, so plain reads of it are safe. */
  pthread_mutex_lock(&h->grow_lock);
  bool ok = table_reserve(&h->chunks, ci);
  if (ok && !h->chunks->items[ci]) {
    hnsw_chunk *c = chunk_new(h);
    if (c)
      __atomic_store_n(&h->chunks->items[ci], c, __ATOMIC_RELEASE);
    else
      ok = false;
  }
  pthread_mutex_unlock(&h->grow_lock);
  if (ok)
    raise_slot_limit(h, slot);
  return ok;
}

bool hnsw_alloc_upper(strata_hnsw *h, uint32_t slot, unsigned level) {
  if (level == 0)
    return true;
  uint32_t words = level * (uint32_t)h->recu;
  bool ok = true;

  pthread_mutex_lock(&h->grow_lock);
  uint64_t ref = h->upper_next;
  /* Start a new block when the lists would cross into the next one. */
  if ((ref & (HNSW_UPPER_BLOCK - 1)) + words > HNSW_UPPER_BLOCK)
    ref = (ref | (HNSW_UPPER_BLOCK - 1)) + 1;
  size_t bi = (size_t)(ref >> HNSW_UPPER_BLOCK_SHIFT);
  if (ref + words > UINT32_MAX || !table_reserve(&h->upper_blocks, bi)) {
    ok = false;
  } else if (!h->upper_blocks->items[bi]) {
    uint32_t *block = calloc(HNSW_UPPER_BLOCK, sizeof *block);
    if (block) {
      __atomic_store_n(&h->upper_blocks->items[bi], block, __ATOMIC_RELEASE);
      h->upper_bytes += HNSW_UPPER_BLOCK * sizeof *block;
    } else {
      ok = false;
    }
  }
  if (ok)
    h->upper_next = (uint32_t)(ref + words);
  pthread_mutex_unlock(&h->grow_lock);
  if (!ok)
    return false;

  hnsw_chunk *c = hnsw_chunk_of(h, slot);
  __atomic_store_n(&c->upper[hnsw_index_in_chunk(slot)], (uint32_t)ref,
                   __ATOMIC_RELEASE);
  return true;
}

/* ---- Lists and in-degrees ------------------------------------------------- */

static bool contains(const uint32_t *ids, uint32_t n, uint32_t slot) {
  for (uint32_t i = 0; i < n; i++) {
    if (ids[i] == slot)
      return true;
  }
  return false;
}

void hnsw_set_list(strata_hnsw *h, uint32_t slot, unsigned level,
                   const uint32_t *ids, uint32_t n) {
  uint32_t *list = hnsw_list(h, slot, level);
  if (level == 0) {
    /* The caller holds the lock, so the old entries are stable. */
    uint32_t n_old = list[0];
    for (uint32_t i = 0; i < n_old; i++) {
      if (!contains(ids, n, list[1 + i]))
        __atomic_sub_fetch(hnsw_indeg(h, list[1 + i]), 1, __ATOMIC_RELAXED);
    }
    for (uint32_t i = 0; i < n; i++) {
      if (!contains(list + 1, n_old, ids[i]))
        __atomic_add_fetch(hnsw_indeg(h, ids[i]), 1, __ATOMIC_RELAXED);
    }
  }
  for (uint32_t i = 0; i < n; i++)
    __atomic_store_n(&list[1 + i], ids[i], __ATOMIC_RELEASE);
  __atomic_store_n(&list[0], n, __ATOMIC_RELEASE);
}

/* Returns whether replacing the link to `slot` harms no node: it is a new
 * link, or its target has another in-link. */
static bool droppable(strata_hnsw *h, const uint32_t *old, uint32_t n_old,
                      uint32_t slot) {
  return !contains(old, n_old, slot) ||
         __atomic_load_n(hnsw_indeg(h, slot), __ATOMIC_RELAXED) > 1;
}

void hnsw_keep_sole_links(strata_hnsw *h, hnsw_scratch *s,
                          const uint32_t *old, uint32_t n_old, uint32_t drop,
                          uint32_t cap, uint32_t *n_picked) {
  /* NOTE: two writers dropping the two last in-links of one node at the
   * same time both see a count of 2, so the node can still lose both. */
  uint32_t n = *n_picked, victim = n;
  for (uint32_t i = 0; i < n_old; i++) {
    uint32_t z = old[i];
    if (z == drop || contains(s->picked, n, z))
      continue;
    uint8_t state = hnsw_state(h, z) & HNSW_STATE_MASK;
    if (state != HNSW_PRESENT && state != HNSW_INSERTING)
      continue;
    if (__atomic_load_n(hnsw_indeg(h, z), __ATOMIC_RELAXED) > 1)
      continue;
    if (n < cap) {
      s->picked[n++] = z;
      continue;
    }
    /* Full: replace the farthest picked link that may go. */
    while (victim > 0 && !droppable(h, old, n_old, s->picked[victim - 1]))
      victim--;
    if (victim == 0)
      break;
    s->picked[--victim] = z;
  }
  *n_picked = n;
}

/* ---- Heaps --------------------------------------------------------------- */

bool hnsw_heap_reserve(hnsw_heap *heap, size_t extra) {
  if (heap->n + extra <= heap->cap)
    return true;
  size_t cap = heap->cap ? heap->cap : 64;
  while (cap < heap->n + extra)
    cap *= 2;
  hnsw_cand *items = realloc(heap->items, cap * sizeof *items);
  if (!items)
    return false;
  heap->items = items;
  heap->cap = cap;
  return true;
}

/* ---- Scratch pool ---------------------------------------------------------- */

static hnsw_scratch *scratch_new(const strata_hnsw *h) {
  hnsw_scratch *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  /* One spare entry: add_link appends the new link to a full list. */
  s->list_cap = (size_t)h->m0 + 1;
  s->list = malloc(s->list_cap * sizeof *s->list);
  s->list2 = malloc(s->list_cap * sizeof *s->list2);
  s->fresh = malloc(s->list_cap * sizeof *s->fresh);
  s->picked = malloc(s->list_cap * sizeof *s->picked);
  s->picked_vec = malloc(s->list_cap * sizeof *s->picked_vec);
  size_t rows = (size_t)(HNSW_MAX_LEVEL + 1) * s->list_cap;
  s->picked_at = malloc(rows * sizeof *s->picked_at);
  s->old_at = malloc(rows * sizeof *s->old_at);
  if (!s->list || !s->list2 || !s->fresh || !s->picked || !s->picked_vec ||
      !s->picked_at || !s->old_at) {
    scratch_free(s);
    return NULL;
  }
  return s;
}

hnsw_scratch *hnsw_scratch_get(strata_hnsw *h) {
  hnsw_scratch *s = NULL;
  pthread_mutex_lock(&h->pool_lock);
  if (h->n_pool > 0)
    s = h->pool[--h->n_pool];
  pthread_mutex_unlock(&h->pool_lock);
  if (!s)
    s = scratch_new(h);
  if (s) {
    s->oom = false;
    s->qcode = NULL;
    s->quant = NULL;
  }
  return s;
}

void hnsw_scratch_put(strata_hnsw *h, hnsw_scratch *s) {
  pthread_mutex_lock(&h->pool_lock);
  if (h->n_pool == h->pool_cap) {
    size_t cap = h->pool_cap ? 2 * h->pool_cap : 8;
    hnsw_scratch **pool = realloc(h->pool, cap * sizeof *pool);
    if (pool) {
      h->pool = pool;
      h->pool_cap = cap;
    }
  }
  if (h->n_pool < h->pool_cap) {
    h->pool[h->n_pool++] = s;
    s = NULL;
  }
  pthread_mutex_unlock(&h->pool_lock);
  scratch_free(s); /* only when the pool could not grow */
}

void hnsw_scratch_trim(strata_hnsw *h, size_t keep) {
  pthread_mutex_lock(&h->pool_lock);
  while (h->n_pool > keep)
    scratch_free(h->pool[--h->n_pool]);
  pthread_mutex_unlock(&h->pool_lock);
}

static bool tags_resize(hnsw_scratch *s, size_t need) {
  if (need <= s->n_tags)
    return true;
  /* Whole chunks, not powers of two: a tag array per thread of 2 bytes
   * per slot is part of the index's memory, and growing by one chunk at
   * a time costs a realloc per 1,024 inserts. */
  size_t n = (need + HNSW_CHUNK - 1) & ~(HNSW_CHUNK - 1);
  uint16_t *tags = realloc(s->tags, n * sizeof *tags);
  if (!tags)
    return false;
  memset(tags + s->n_tags, 0, (n - s->n_tags) * sizeof *tags);
  s->tags = tags;
  s->n_tags = n;
  return true;
}

bool hnsw_visit_begin(strata_hnsw *h, hnsw_scratch *s) {
  uint32_t limit = __atomic_load_n(&h->slot_limit, __ATOMIC_ACQUIRE);
  if (!tags_resize(s, limit)) {
    s->oom = true;
    return false;
  }
  /* Each query uses two tag values (visited, rejected); clear on wrap. */
  if (s->epoch >= UINT16_MAX - 2) {
    memset(s->tags, 0, s->n_tags * sizeof *s->tags);
    s->epoch = 0;
  }
  s->epoch += 2;
  return true;
}

uint16_t *hnsw_tag_grow(hnsw_scratch *s, uint32_t slot) {
  if (!tags_resize(s, (size_t)slot + 1)) {
    s->oom = true;
    s->spare_tag = s->epoch; /* reads as visited, so the node is skipped */
    return &s->spare_tag;
  }
  return &s->tags[slot];
}

static bool grow_cands(hnsw_cand **arr, size_t *cap, size_t n) {
  if (n == 0)
    n = 1; /* never leave the array NULL: memcpy rejects it even for 0 */
  if (n <= *cap)
    return true;
  size_t c = *cap ? *cap : 64;
  while (c < n)
    c *= 2;
  hnsw_cand *p = realloc(*arr, c * sizeof *p);
  if (!p)
    return false;
  *arr = p;
  *cap = c;
  return true;
}

bool hnsw_scratch_reserve_found(hnsw_scratch *s, size_t n) {
  if (n <= s->found_cap)
    return true;
  size_t cap = s->found_cap;
  if (!grow_cands(&s->found, &cap, n))
    return false;
  size_t cap2 = s->found_cap;
  if (!grow_cands(&s->seeds, &cap2, n))
    return false;
  s->found_cap = cap < cap2 ? cap : cap2;
  return true;
}

bool hnsw_scratch_reserve_pool(hnsw_scratch *s, size_t n) {
  return grow_cands(&s->pool, &s->pool_cap, n);
}

/* ---- Counters ------------------------------------------------------------ */

void strata_hnsw_get_info(strata_hnsw *h, strata_hnsw_info *info) {
  uint64_t entry = hnsw_entry_load(h);
  info->present = __atomic_load_n(&h->n_present, __ATOMIC_RELAXED);
  info->removed = __atomic_load_n(&h->n_removed, __ATOMIC_RELAXED);
  info->entry = hnsw_entry_slot(entry);
  info->max_level = info->entry == HNSW_NONE ? 0 : hnsw_entry_level(entry);

  size_t bytes = sizeof *h;
  /* Per node: links0, indeg and upper (u32 each), level and state. */
  size_t per_chunk = sizeof(hnsw_chunk) +
                     HNSW_CHUNK * ((h->rec0 + 2) * sizeof(uint32_t) + 2);
  pthread_mutex_lock(&h->grow_lock);
  for (const hnsw_table *t = h->chunks; t; t = t->prev)
    bytes += sizeof *t + t->len * sizeof *t->items;
  for (const hnsw_table *t = h->upper_blocks; t; t = t->prev)
    bytes += sizeof *t + t->len * sizeof *t->items;
  for (size_t ci = 0; ci < h->chunks->len; ci++) {
    if (h->chunks->items[ci])
      bytes += per_chunk;
  }
  bytes += h->upper_bytes;
  pthread_mutex_unlock(&h->grow_lock);

  pthread_mutex_lock(&h->pool_lock);
  bytes += h->pool_cap * sizeof *h->pool;
  for (size_t i = 0; i < h->n_pool; i++) {
    const hnsw_scratch *s = h->pool[i];
    bytes += sizeof *s + s->n_tags * sizeof *s->tags +
             (s->cand.cap + s->best.cap + 2 * s->found_cap + s->pool_cap) *
                 sizeof(hnsw_cand) +
             s->list_cap * (4 * sizeof(uint32_t) + sizeof(float *)) +
             2 * (HNSW_MAX_LEVEL + 1) * s->list_cap * sizeof(uint32_t) +
             s->queue_cap * sizeof(uint32_t) + s->qbuf_cap +
             s->qpad_cap * sizeof(float);
  }
  pthread_mutex_unlock(&h->pool_lock);
  const strata_quant *quant = __atomic_load_n(&h->quant, __ATOMIC_ACQUIRE);
  if (quant)
    bytes += strata_quant_memory(quant);
  info->memory_bytes = bytes;
}
