/*
 * Exact (brute-force) search.
 *
 * One query: a single pass over the live slots with the metric's kernel.
 * At a few hundred dimensions this streams the whole store from memory
 * once per query, so memory bandwidth, not arithmetic, sets the speed.
 *
 * A batch: the distance work becomes a matrix product.  For L2,
 *   ||q - x||^2 = ||q||^2 + ||x||^2 - 2 q.x
 * and ||q||^2 does not change the order of one query's candidates, so the
 * ranking key is ||x||^2 - 2 q.x; for DOT it is q.x itself.  Queries go
 * in groups that stay in L2 cache, base slots in blocks of a few hundred
 * KiB.  For each (group, block) pair the kernel set's dot_block computes
 * all dot products with a register tile of queries x base vectors, so
 * every base vector is read from memory once per group instead of once
 * per query.
 *
 * The base norms are computed per block, right after the block's dot
 * products while its vectors are still in cache.  Nothing is kept between
 * calls, so slots added, overwritten or removed between searches need no
 * upkeep.
 *
 * The ranking key of the batch path has cancellation error because two
 * large terms are subtracted.  So each query collects a pool of more than
 * k candidates, rescores the pool with the kernel the single-query path
 * uses and keeps the best k.  Scores are then bit-identical to
 * strata_flat_search, and the slots agree unless a candidate outside the
 * pool was within rounding error of the k-th.
 *
 * L1 has no matrix-product form, so its batch path runs the l1 kernel per
 * pair.  It still goes block by block and reads each base block from
 * memory once per query group.
 */
#include "flat.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"
#include "topk.h"

typedef float (*pair_kernel)(const float *a, const float *b, size_t dim);

/* Cache budgets for the batch path's blocking.  A block of base vectors
 * and a group of queries each stay within about this many bytes, so both
 * fit together in a 1-2 MiB per-core L2 cache.
 * NOTE: measured only on a CPU with 2 MiB of L2 per core; cores with
 * 512 KiB of L2 may want smaller budgets. */
#define BASE_BLOCK_BYTES ((size_t)256 * 1024)
#define QUERY_GROUP_BYTES ((size_t)512 * 1024)
#define BASE_BLOCK_MAX 256
#define QUERY_GROUP_MAX 256

static pair_kernel kernel_for(const strata_kernels *kern,
                              strata_metric metric) {
  switch (metric) {
  case STRATA_METRIC_DOT:
    return kern->dot;
  case STRATA_METRIC_L2:
    return kern->l2sq;
  case STRATA_METRIC_L1:
    return kern->l1;
  }
  return NULL;
}

long strata_flat_search(const strata_vector_store *vs, strata_metric metric,
                        const float *query, size_t k,
                        const strata_slot_filter *filter, strata_hit *out) {
  pair_kernel score = kernel_for(strata_kernels_get(), metric);
  if (!score)
    return -1;
  if (k == 0)
    return 0;

  strata_topk top;
  strata_topk_init(&top, out, k, metric);
  /* Walk the live bitmap a word at a time so runs of free slots cost one
   * test per 64 slots. */
  for (size_t word_start = 0; word_start < vs->n_slots; word_start += 64) {
    uint64_t word = vs->live[word_start >> 6];
    while (word) {
      size_t slot = word_start + (size_t)__builtin_ctzll(word);
      word &= word - 1;
      if (filter && !filter->allow((uint32_t)slot, filter->ctx))
        continue;
      float s = score(query, strata_vs_vector(vs, slot), vs->dim);
      if (strata_topk_admits(&top, s))
        strata_topk_push(&top, (strata_hit){(uint32_t)slot, s});
    }
  }

  size_t n = strata_topk_finish(&top);
  if (metric == STRATA_METRIC_L2) {
    for (size_t i = 0; i < n; i++)
      out[i].score = sqrtf(out[i].score);
  }
  return (long)n;
}

/* Largest power of two <= limit that is at least 4 and at most `cap`. */
static size_t pow2_block(size_t limit, size_t cap) {
  size_t n = 4;
  while (n * 2 <= limit && n * 2 <= cap)
    n *= 2;
  return n;
}

/* Scratch memory of one batch call, one allocation freed in one place. */
typedef struct batch_scratch {
  size_t group;      /* queries per group */
  size_t block;      /* base slots per block; divides STRATA_VS_CHUNK */
  size_t pool;       /* candidates kept per query before rescoring */
  float *queries;    /* group x vs->stride: the group's queries, aligned */
  float *dots;       /* group x block ranking keys */
  float *norms;      /* block squared norms of base vectors */
  strata_hit *hits;  /* group x pool candidate heaps */
  strata_topk *tops; /* group heaps over `hits` */
  void *mem;
} batch_scratch;

static int scratch_init(batch_scratch *s, const strata_vector_store *vs,
                        size_t nq, size_t k) {
  /* A zero-dimension store has stride 0; size its blocks as if rows
   * were one float so the divisions below stay defined. */
  size_t row_bytes = (vs->stride ? vs->stride : 1) * sizeof(float);
  s->block = pow2_block(BASE_BLOCK_BYTES / row_bytes, BASE_BLOCK_MAX);
  s->group = QUERY_GROUP_BYTES / row_bytes;
  if (s->group > QUERY_GROUP_MAX)
    s->group = QUERY_GROUP_MAX;
  if (s->group < 4)
    s->group = 4;
  if (s->group > nq)
    s->group = nq;

  /* A pool of 2k (at least k + 16) candidates absorbs the rounding of the
   * ranking key.  It never needs to exceed the number of live slots. */
  size_t extra = k < 16 ? 16 : k;
  s->pool = k >= vs->n_live || extra >= vs->n_live - k ? vs->n_live
                                                       : k + extra;

  /* The query copies come first so they start on a cache line. */
  size_t query_bytes = s->group * row_bytes;
  size_t dots_bytes = s->group * s->block * sizeof(float);
  size_t norms_bytes = s->block * sizeof(float);
  size_t hits_bytes = s->group * s->pool * sizeof(strata_hit);
  size_t tops_bytes = s->group * sizeof(strata_topk);
  size_t total =
      query_bytes + dots_bytes + norms_bytes + hits_bytes + tops_bytes;
  s->mem = NULL;
  if (posix_memalign(&s->mem, 64, total) != 0)
    return -1;
  char *p = s->mem;
  s->queries = (float *)p;
  p += query_bytes;
  s->dots = (float *)p;
  p += dots_bytes;
  s->norms = (float *)p;
  p += norms_bytes;
  s->hits = (strata_hit *)p;
  p += hits_bytes;
  s->tops = (strata_topk *)p;
  return 0;
}

/* Queries per dot_block call: a multiple of every kernel set's tile
 * height (6 for AVX-512, 3 for AVX2 and SSE4.1, 4 for NEON). */
#define QUERY_SLICE 12

/*
 * Fills s->dots[i * s->block + j] with the ranking key of query i (rows
 * of vs->stride floats) against base slot first + j, for nx slots of one
 * block (never crossing a chunk).
 * `next` and `next_bytes` give the following block's vectors, which are
 * prefetched into L2 in shares between the query slices.  Without that,
 * the first query tile to touch each block stalls on memory.
 */
static void block_keys(const strata_kernels *kern, strata_metric metric,
                       const strata_vector_store *vs, const float *queries,
                       size_t nq, size_t first, size_t nx, const char *next,
                       size_t next_bytes, batch_scratch *s) {
  const float *x = strata_vs_vector(vs, first);
  size_t dim = vs->dim;

  if (metric == STRATA_METRIC_L1) {
    for (size_t i = 0; i < nq; i++)
      for (size_t j = 0; j < nx; j++)
        s->dots[i * s->block + j] =
            kern->l1(queries + i * vs->stride, x + j * vs->stride, dim);
    return;
  }

  size_t slices = (nq + QUERY_SLICE - 1) / QUERY_SLICE;
  size_t share = (next_bytes / slices + 63) & ~(size_t)63;
  size_t prefetched = 0;
  for (size_t q0 = 0; q0 < nq; q0 += QUERY_SLICE) {
    size_t end = prefetched + share < next_bytes ? prefetched + share
                                                 : next_bytes;
    for (; prefetched < end; prefetched += 64)
      __builtin_prefetch(next + prefetched, 0, 2);
    size_t n = nq - q0 < QUERY_SLICE ? nq - q0 : QUERY_SLICE;
    kern->dot_block(queries + q0 * vs->stride, vs->stride, n, x, vs->stride,
                    nx, dim, s->dots + q0 * s->block, s->block);
  }
  if (metric != STRATA_METRIC_L2)
    return;

  for (size_t j = 0; j < nx; j++) {
    const float *xj = x + j * vs->stride;
    s->norms[j] = kern->dot(xj, xj, dim);
  }
  for (size_t i = 0; i < nq; i++) {
    float *row = s->dots + i * s->block;
    for (size_t j = 0; j < nx; j++)
      row[j] = s->norms[j] - 2.0f * row[j];
  }
}

/*
 * Offers one block's keys of live slots to each query's candidate heap.
 * Most keys lose to the heap's worst entry, so the loop tests each key
 * against a cached threshold first and only then takes the heap path.
 */
static void block_push(const strata_vector_store *vs, strata_metric metric,
                       size_t nq, size_t first, size_t nx,
                       batch_scratch *s) {
  int larger_better = metric == STRATA_METRIC_DOT;
  for (size_t i = 0; i < nq; i++) {
    strata_topk *top = &s->tops[i];
    const float *row = s->dots + i * s->block;
    /* While the heap is not full every key is admitted; NAN makes both
     * comparisons below false, so such keys reach the heap's own test. */
    float worst = top->n < top->k ? NAN : top->hits[0].score;
    for (size_t j = 0; j < nx; j++) {
      float key = row[j];
      if (larger_better ? key < worst : key > worst)
        continue;
      if (!strata_vs_is_live(vs, first + j) ||
          !strata_topk_admits(top, key))
        continue;
      strata_topk_push(top, (strata_hit){(uint32_t)(first + j), key});
      worst = top->n < top->k ? NAN : top->hits[0].score;
    }
  }
}

/* Returns nonzero only when slots [first, first + n) are all free.  It
 * tests whole 64-slot bitmap words, so a free block that shares a word
 * with live slots reads as not free and is merely scanned. */
static int block_all_free(const strata_vector_store *vs, size_t first,
                          size_t n) {
  for (size_t slot = first; slot < first + n; slot += 64) {
    uint64_t word = vs->live[slot >> 6];
    if (word)
      return 0;
  }
  return 1;
}

/*
 * Rescores query `query`'s pool with the exact kernel and writes its best
 * k hits, best first, to out.  Returns the count.
 */
static size_t finish_query(const strata_vector_store *vs,
                           strata_metric metric, pair_kernel exact,
                           const float *query, strata_topk *pool, size_t k,
                           strata_hit *out) {
  strata_topk best;
  strata_topk_init(&best, out, k, metric);
  for (size_t h = 0; h < pool->n; h++) {
    strata_hit hit = pool->hits[h];
    hit.score = exact(query, strata_vs_vector(vs, hit.slot), vs->dim);
    if (strata_topk_admits(&best, hit.score))
      strata_topk_push(&best, hit);
  }
  size_t n = strata_topk_finish(&best);
  if (metric == STRATA_METRIC_L2) {
    for (size_t i = 0; i < n; i++)
      out[i].score = sqrtf(out[i].score);
  }
  return n;
}

/* The single-threaded batch search behind both public batch functions. */
static int search_batch(const strata_vector_store *vs, strata_metric metric,
                        const float *queries, size_t nq, size_t k,
                        strata_hit *out, size_t *counts) {
  const strata_kernels *kern = strata_kernels_get();
  pair_kernel exact = kernel_for(kern, metric);
  if (!exact)
    return -1;
  if (k == 0 || vs->n_live == 0) {
    for (size_t q = 0; q < nq; q++)
      counts[q] = 0;
    return 0;
  }
  if (nq == 0)
    return 0;

  batch_scratch s;
  if (scratch_init(&s, vs, nq, k) != 0)
    return -1;

  for (size_t g0 = 0; g0 < nq; g0 += s.group) {
    size_t gq = nq - g0 < s.group ? nq - g0 : s.group;
    /* Copy the group's queries into rows of the store's stride, in an
     * aligned buffer, the layout the block kernels take for both
     * operands. */
    for (size_t i = 0; i < gq; i++)
      memcpy(s.queries + i * vs->stride, queries + (g0 + i) * vs->dim,
             vs->dim * sizeof(float));
    for (size_t i = 0; i < gq; i++)
      strata_topk_init(&s.tops[i], s.hits + i * s.pool, s.pool, metric);

    /* Blocks start at multiples of s.block, a power of two no larger than
     * STRATA_VS_CHUNK, so a block never crosses a chunk boundary. */
    for (size_t first = 0; first < vs->n_slots; first += s.block) {
      size_t nx = vs->n_slots - first < s.block ? vs->n_slots - first
                                                 : s.block;
      if (block_all_free(vs, first, nx))
        continue;
      size_t next_first = first + s.block;
      size_t next_nx = next_first >= vs->n_slots ? 0
                       : vs->n_slots - next_first < s.block
                           ? vs->n_slots - next_first
                           : s.block;
      const char *next =
          next_nx ? (const char *)strata_vs_vector(vs, next_first) : NULL;
      size_t next_bytes = next_nx * vs->stride * sizeof(float);
      block_keys(kern, metric, vs, s.queries, gq, first, nx, next,
                 next_bytes, &s);
      block_push(vs, metric, gq, first, nx, &s);
    }

    for (size_t i = 0; i < gq; i++) {
      size_t q = g0 + i;
      counts[q] = finish_query(vs, metric, exact, queries + q * vs->dim,
                               &s.tops[i], k, out + q * k);
    }
  }

  free(s.mem);
  return 0;
}

int strata_flat_search_batch(const strata_vector_store *vs,
                             strata_metric metric, const float *queries,
                             size_t nq, size_t k, strata_hit *out,
                             size_t *counts) {
  return search_batch(vs, metric, queries, nq, k, out, counts);
}

/* One thread's share of a threaded batch: a contiguous run of queries. */
typedef struct batch_slice {
  const strata_vector_store *vs;
  strata_metric metric;
  const float *queries;
  size_t nq, k;
  strata_hit *out;
  size_t *counts;
  int rc;
} batch_slice;

static void *run_slice(void *arg) {
  batch_slice *b = arg;
  b->rc = search_batch(b->vs, b->metric, b->queries, b->nq, b->k, b->out,
                       b->counts);
  return NULL;
}

int strata_flat_search_batch_threads(const strata_vector_store *vs,
                                     strata_metric metric,
                                     const float *queries, size_t nq,
                                     size_t k, strata_hit *out,
                                     size_t *counts, unsigned threads) {
  if (threads > STRATA_FLAT_MAX_THREADS)
    threads = STRATA_FLAT_MAX_THREADS;
  if (threads > nq)
    threads = (unsigned)nq;
  if (threads <= 1)
    return search_batch(vs, metric, queries, nq, k, out, counts);

  /* Slice 0 runs on the calling thread; the others on new threads. */
  batch_slice slices[STRATA_FLAT_MAX_THREADS];
  pthread_t ids[STRATA_FLAT_MAX_THREADS];
  int started[STRATA_FLAT_MAX_THREADS] = {0};
  size_t first = 0;
  for (unsigned t = 0; t < threads; t++) {
    size_t n = nq / threads + (t < nq % threads);
    slices[t] = (batch_slice){.vs = vs,
                              .metric = metric,
                              .queries = queries + first * vs->dim,
                              .nq = n,
                              .k = k,
                              .out = out + first * k,
                              .counts = counts + first,
                              .rc = -1};
    first += n;
  }
  for (unsigned t = 1; t < threads; t++)
    started[t] = pthread_create(&ids[t], NULL, run_slice, &slices[t]) == 0;
  run_slice(&slices[0]);

  int rc = slices[0].rc;
  for (unsigned t = 1; t < threads; t++) {
    if (!started[t]) {
      rc = -1;
      continue;
    }
    pthread_join(ids[t], NULL);
    if (slices[t].rc != 0)
      rc = -1;
  }
  return rc;
}
