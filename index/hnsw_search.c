/*
 * HNSW search: greedy descent through the upper levels, the beam search
 * of one level (SEARCH-LAYER, Algorithm 2 of Malkov and Yashunin), and
 * the public k-NN search with filters and the exact-scan fallback.
 *
 * Filtered search.  Nodes the filter rejects, and REMOVED nodes, are
 * walked through but never enter the result heap.  That keeps the beam
 * connected, but when most nodes are rejected each result costs many
 * distance evaluations of nodes that cannot be returned.  The beam counts
 * how many of the nodes it tested were allowed.  Once the allowed share
 * drops below 1/TWO_HOP_RATIO, it stops evaluating rejected neighbours
 * and instead scans their own lists for allowed nodes (the two-hop
 * expansion of ACORN-1, Patel et al., "ACORN: Performant and
 * Predicate-Agnostic Search Over Vector Embeddings and Structured Data",
 * SIGMOD 2024).  Whatever the beam cannot find is covered by the exact
 * scan that runs when it returns fewer than k.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw_internal.h"

/* Two-hop expansion starts when fewer than 1 in TWO_HOP_RATIO tested
 * nodes was allowed, after at least TWO_HOP_MIN_TESTS tests. */
#define TWO_HOP_RATIO 8
#define TWO_HOP_MIN_TESTS 64

/* The beam gives up for an exact scan when the allowed share of the
 * tested nodes, times the PRESENT count, estimates fewer than
 * EXACT_SCAN_EF_FACTOR * ef allowed nodes.  The sample is biased towards
 * the query's neighbourhood, so a filter correlated with position is
 * misjudged either way; both ways still return correct results.  Filling a beam of ef from so
 * few would walk most of the graph, and the scan is exact. */
#define EXACT_SCAN_EF_FACTOR 2

/* Prefetches what eval will read for `slot`: its codes in a quantized
 * search, else its vector.  Issuing every line of the row before the
 * first distance lets the misses overlap.  At 100 dimensions, prefetching
 * the 7 lines of a row instead of its first 4 raised QPS by about 1.3x
 * (GloVe-100 of bench/hnsw, first 100,000 vectors, m 16, on the machine
 * of bench/hnsw/RESULTS.md). */
static inline void prefetch_vector(const strata_hnsw *h,
                                   const hnsw_scratch *s, uint32_t slot) {
  const char *p;
  unsigned lines;
  if (s->qcode) {
    p = (const char *)strata_quant_codes(s->quant, slot);
    lines = s->qcode_lines;
  } else {
    p = (const char *)hnsw_vector(h, slot);
    lines = h->prefetch_lines;
  }
  for (unsigned i = 0; i < lines; i++)
    __builtin_prefetch(p + 64 * i, 0, 3);
  /* The state byte is read when the node may enter the results. */
  hnsw_chunk *c = hnsw_chunk_of(h, slot);
  if (c)
    __builtin_prefetch(&c->state[hnsw_index_in_chunk(slot)], 0, 3);
}

/* Prefetches every cache line of a list: a level-0 list of m 16 spans
 * three. */
static inline void prefetch_list(const strata_hnsw *h, const uint32_t *list,
                                 unsigned level) {
  size_t bytes = (level == 0 ? h->rec0 : h->recu) * sizeof *list;
  const char *p = (const char *)list;
  for (size_t at = 0; at < bytes; at += 64)
    __builtin_prefetch(p + at, 0, 3);
  __builtin_prefetch(p + bytes - 1, 0, 3);
}

/* Returns the distance of `slot` to the query: estimated from the codes
 * in a quantized search (s->qcode set), else exact from the vectors. */
static inline float eval(strata_hnsw *h, hnsw_scratch *s, const float *q,
                         uint32_t slot) {
  s->n_dist++;
  if (s->qcode) {
    float d = strata_quant_distance(s->quant, s->qcode, s->qcode_sum, slot);
    return h->negate ? -d : d;
  }
  return hnsw_distance(h, q, hnsw_vector(h, slot));
}

/* Returns whether the beam may return `slot`.  Counts filter calls for
 * the two-hop decision. */
static inline bool eligible(const strata_hnsw *h, hnsw_scratch *s,
                            const hnsw_target *t, uint32_t slot) {
  uint8_t state = hnsw_state(h, slot) & HNSW_STATE_MASK;
  bool ok = state == HNSW_PRESENT ||
            (t->accept_inserting && state == HNSW_INSERTING);
  if (ok && slot == t->exclude)
    ok = false;
  if (ok && t->filter) {
    s->n_filter++;
    ok = t->filter->allow(slot, t->filter->ctx) != 0;
  }
  s->n_tested++;
  s->n_passed += ok;
  return ok;
}

void hnsw_greedy_descend(strata_hnsw *h, hnsw_scratch *s,
                         const float *vec, uint32_t *cur, float *cur_dist,
                         unsigned from_level, unsigned to_level) {
  for (unsigned level = from_level; level > to_level; level--) {
    bool moved = true;
    while (moved) {
      moved = false;
      const uint32_t *list = hnsw_list(h, *cur, level);
      uint32_t n = hnsw_read_list(list, h->m, s->list);
      for (uint32_t i = 0; i < n; i++)
        prefetch_vector(h, s, s->list[i]);
      for (uint32_t i = 0; i < n; i++) {
        float d = eval(h, s, vec, s->list[i]);
        if (d < *cur_dist) {
          *cur_dist = d;
          *cur = s->list[i];
          moved = true;
        }
      }
    }
  }
}

/* Offers a node with its distance to the beam: it becomes a candidate if
 * it could still improve the result, and a result if it is eligible. */
static inline void offer(hnsw_scratch *s, size_t ef, hnsw_cand c,
                         bool is_eligible) {
  hnsw_heap *best = &s->best;
  if (best->n >= ef && !hnsw_cand_less(c, best->items[0]))
    return;
  hnsw_minheap_push(&s->cand, c);
  if (is_eligible) {
    hnsw_maxheap_push(best, c);
    if (best->n > ef)
      hnsw_maxheap_pop(best);
  }
}

/* Two-hop step: scans the list of a rejected neighbour for allowed nodes
 * and offers those.  Rejected nodes seen here are tagged epoch + 1 so that
 * the filter is not asked again, and so that they can still be expanded
 * when reached directly. */
static void expand_rejected(strata_hnsw *h, hnsw_scratch *s,
                            const hnsw_target *t, uint32_t rejected,
                            unsigned level, size_t ef) {
  uint16_t visited = s->epoch, tested = (uint16_t)(s->epoch + 1);
  uint32_t n = hnsw_read_list(hnsw_list(h, rejected, level),
                              hnsw_list_cap(h, level), s->list2);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t w = s->list2[i];
    uint16_t *tag = hnsw_tag(s, w);
    if (*tag == visited || *tag == tested)
      continue;
    if (!eligible(h, s, t, w)) {
      *tag = tested;
      continue;
    }
    *tag = visited;
    offer(s, ef, (hnsw_cand){eval(h, s, t->vec, w), w}, true);
  }
}

bool hnsw_beam_search(strata_hnsw *h, hnsw_scratch *s, const hnsw_target *t,
                      unsigned level, size_t ef) {
  if (!hnsw_visit_begin(h, s))
    return false;
  uint16_t visited = s->epoch, tested = (uint16_t)(s->epoch + 1);
  uint32_t cap = hnsw_list_cap(h, level);
  s->cand.n = 0;
  s->best.n = 0;
  if (!hnsw_heap_reserve(&s->best, ef + 1) ||
      !hnsw_heap_reserve(&s->cand, s->n_seeds) ||
      !hnsw_scratch_reserve_found(s, ef)) {
    s->oom = true;
    return false;
  }

  /* 1. Seed the beam.  Seeds are walked through even when ineligible. */
  for (size_t i = 0; i < s->n_seeds; i++) {
    hnsw_cand c = s->seeds[i];
    uint16_t *tag = hnsw_tag(s, c.slot);
    if (*tag == visited)
      continue;
    *tag = visited;
    hnsw_minheap_push(&s->cand, c);
    if (eligible(h, s, t, c.slot)) {
      hnsw_maxheap_push(&s->best, c);
      if (s->best.n > ef)
        hnsw_maxheap_pop(&s->best);
    }
  }

  /* 2. Expand the nearest candidate until it is farther than the worst of
   * a full result heap. */
  while (s->cand.n > 0) {
    hnsw_cand c = hnsw_minheap_pop(&s->cand);
    if (s->best.n >= ef && hnsw_cand_less(s->best.items[0], c))
      break;
    if (s->cand.n > 0) {
      const uint32_t *next = hnsw_list(h, s->cand.items[0].slot, level);
      if (next)
        prefetch_list(h, next, level);
    }
    if (!hnsw_heap_reserve(&s->cand, (size_t)cap * (cap + 1))) {
      s->oom = true;
      return false;
    }

    /* Decide, from the allowed share so far, whether rejected neighbours
     * are still worth a distance evaluation, and whether the graph is
     * worth walking at all. */
    if (t->filter && s->n_tested >= TWO_HOP_MIN_TESTS) {
      /* One more pass than seen, so that a small sample with no pass
       * does not give up at once. */
      size_t present = __atomic_load_n(&h->n_present, __ATOMIC_RELAXED);
      if ((double)(s->n_passed + 1) * (double)present <
          (double)(EXACT_SCAN_EF_FACTOR * ef) * (double)s->n_tested) {
        s->gave_up = true;
        break;
      }
      if (s->n_passed * TWO_HOP_RATIO < s->n_tested)
        s->two_hop = true;
    }

    /* Collect the unvisited neighbours and prefetch their vectors, so the
     * memory loads overlap instead of stalling one distance at a time. */
    uint32_t n = hnsw_read_list(hnsw_list(h, c.slot, level), cap, s->list);
    uint32_t n_fresh = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t nb = s->list[i];
      uint16_t *tag = hnsw_tag(s, nb);
      if (*tag == visited)
        continue;
      if (*tag != tested)
        prefetch_vector(h, s, nb);
      s->fresh[n_fresh++] = nb;
      if (!s->two_hop)
        *tag = visited;
    }

    for (uint32_t i = 0; i < n_fresh; i++) {
      uint32_t nb = s->fresh[i];
      if (!s->two_hop) {
        float d = eval(h, s, t->vec, nb);
        hnsw_cand nc = {d, nb};
        /* Test eligibility only for a node that would enter the heap. */
        if (s->best.n < ef || hnsw_cand_less(nc, s->best.items[0]))
          offer(s, ef, nc, eligible(h, s, t, nb));
        continue;
      }
      uint16_t *tag = hnsw_tag(s, nb);
      if (*tag == visited)
        continue;
      bool ok = *tag != tested && eligible(h, s, t, nb);
      *tag = visited;
      if (ok)
        offer(s, ef, (hnsw_cand){eval(h, s, t->vec, nb), nb}, true);
      else
        expand_rejected(h, s, t, nb, level, ef);
    }
  }

  /* 3. Drain the result heap into s->found, nearest first. */
  s->n_found = s->best.n;
  for (size_t i = s->n_found; i > 0; i--)
    s->found[i - 1] = hnsw_maxheap_pop(&s->best);
  return !s->oom;
}

/* ---- Public search --------------------------------------------------------- */

typedef struct fallback_filter {
  strata_hnsw *h;
  const strata_slot_filter *user;
} fallback_filter;

static int allow_present(uint32_t slot, void *ctx) {
  const fallback_filter *f = ctx;
  if (!hnsw_is_result(hnsw_state(f->h, slot)))
    return 0;
  return !f->user || f->user->allow(slot, f->user->ctx);
}

/* Runs the graph search and leaves the beam result in s->found. */
static bool graph_search(strata_hnsw *h, hnsw_scratch *s, const float *query,
                         size_t ef, const strata_slot_filter *filter) {
  s->n_found = 0;
  uint64_t entry = hnsw_entry_load(h);
  uint32_t cur = hnsw_entry_slot(entry);
  if (cur == HNSW_NONE)
    return true;

  float cur_dist = eval(h, s, query, cur);
  hnsw_greedy_descend(h, s, query, &cur, &cur_dist,
                      hnsw_entry_level(entry), 0);

  if (!hnsw_scratch_reserve_found(s, ef))
    return false;
  s->seeds[0] = (hnsw_cand){cur_dist, cur};
  s->n_seeds = 1;
  hnsw_target t = {query, HNSW_NONE, false, filter};
  return hnsw_beam_search(h, s, &t, 0, ef);
}

/* Sorts found[0, n) nearest first; n is at most a few hundred. */
static void sort_found(hnsw_cand *found, size_t n) {
  for (size_t i = 1; i < n; i++) {
    hnsw_cand c = found[i];
    size_t j = i;
    for (; j > 0 && hnsw_cand_less(c, found[j - 1]); j--)
      found[j] = found[j - 1];
    found[j] = c;
  }
}

/* Replaces the estimated distances of the first n_rescore beam results
 * by exact ones and sorts them again.  Returns how many there were. */
static size_t rescore(strata_hnsw *h, hnsw_scratch *s, const float *query,
                      size_t n_rescore) {
  size_t n = s->n_found < n_rescore ? s->n_found : n_rescore;
  for (size_t i = 0; i < n; i++)
    s->found[i].dist =
        hnsw_distance(h, query, hnsw_vector(h, s->found[i].slot));
  sort_found(s->found, n);
  return n;
}

/* Copies the query into s->qpad, zero-padded to h->kernel_dim floats.
 * Returns the copy, or NULL when out of memory. */
static const float *pad_query(const strata_hnsw *h, hnsw_scratch *s,
                              const float *query) {
  if (s->qpad_cap < h->kernel_dim) {
    float *buf = realloc(s->qpad, h->kernel_dim * sizeof *buf);
    if (!buf)
      return NULL;
    s->qpad = buf;
    s->qpad_cap = h->kernel_dim;
  }
  memcpy(s->qpad, query, h->dim * sizeof *query);
  memset(s->qpad + h->dim, 0, (h->kernel_dim - h->dim) * sizeof *query);
  return s->qpad;
}

float hnsw_eval(strata_hnsw *h, hnsw_scratch *s, const float *vec,
                uint32_t slot) {
  return eval(h, s, vec, slot);
}

bool hnsw_begin_quantized(const strata_quant *quant, hnsw_scratch *s,
                          const float *query) {
  if (s->qbuf_cap < quant->stride) {
    uint8_t *buf = realloc(s->qbuf, quant->stride);
    if (!buf)
      return false;
    s->qbuf = buf;
    s->qbuf_cap = quant->stride;
  }
  s->qcode_sum = strata_quant_encode_query(quant, query, s->qbuf);
  s->qcode = s->qbuf;
  s->quant = quant;
  size_t lines = quant->stride / 64;
  s->qcode_lines = lines < HNSW_PREFETCH_MAX_LINES ? (unsigned)lines
                                                   : HNSW_PREFETCH_MAX_LINES;
  return true;
}

long strata_hnsw_search_stats(strata_hnsw *h, const float *query, size_t k,
                              size_t ef, const strata_slot_filter *filter,
                              strata_hit *out,
                              strata_hnsw_query_stats *stats) {
  return strata_hnsw_search_ex(h, query, k, ef, filter, NULL, out, stats);
}

long strata_hnsw_search_ex(strata_hnsw *h, const float *query, size_t k,
                           size_t ef, const strata_slot_filter *filter,
                           const strata_hnsw_search_options *opts,
                           strata_hit *out, strata_hnsw_query_stats *stats) {
  if (stats)
    *stats = (strata_hnsw_query_stats){0};
  if (k == 0)
    return 0;
  if (ef < k)
    ef = k;

  /* A quantized search with rescoring needs a beam as wide as the
   * candidates it rescores. */
  const strata_quant *quant = NULL;
  size_t n_rescore = 0;
  if (opts && opts->quantized)
    quant = __atomic_load_n(&h->quant, __ATOMIC_ACQUIRE);
  if (quant && opts->rescore) {
    double factor = opts->oversampling > 1.0f ? opts->oversampling : 1.0;
    double want = ceil(factor * (double)k);
    n_rescore = want < (double)SIZE_MAX / 2 ? (size_t)want : SIZE_MAX / 2;
    if (ef < n_rescore)
      ef = n_rescore;
  }
  /* A beam wider than the node count finds nothing more; the bound also
   * keeps ef + 1 from overflowing. */
  size_t limit = __atomic_load_n(&h->slot_limit, __ATOMIC_ACQUIRE);
  if (ef > limit + 1)
    ef = limit + 1;

  hnsw_scratch *s = hnsw_scratch_get(h);
  if (!s)
    return -1;
  s->n_dist = s->n_filter = s->n_tested = s->n_passed = 0;
  s->two_hop = false;
  s->gave_up = false;

  long count = -1;
  const float *padded = pad_query(h, s, query);
  if (!padded)
    goto done;
  if (quant && !hnsw_begin_quantized(quant, s, query))
    goto done;
  if (!graph_search(h, s, padded, ef, filter))
    goto done;

  size_t n = s->n_found;
  if (n_rescore > 0)
    n = rescore(h, s, padded, n_rescore);
  if (n > k)
    n = k;
  for (size_t i = 0; i < n; i++)
    out[i] = (strata_hit){s->found[i].slot, hnsw_score(h, s->found[i].dist)};
  count = (long)n;

  /* Fewer than k: the beam may have missed allowed nodes the graph does
   * not connect it to.  Unless every PRESENT node is already in the
   * result, scan exactly.  Also scan when the beam gave up on a filter
   * that allows too few nodes. */
  size_t present = __atomic_load_n(&h->n_present, __ATOMIC_RELAXED);
  if (s->gave_up || (n < k && (filter || n < present))) {
    fallback_filter f = {h, filter};
    strata_slot_filter composed = {allow_present, &f};
    count = strata_flat_search(h->store, h->metric, query, k, &composed, out);
    if (stats)
      stats->exact_fallback = 1;
  }

done:
  if (stats) {
    stats->distances = s->n_dist;
    stats->filter_calls = s->n_filter;
    stats->two_hop = s->two_hop;
  }
  hnsw_scratch_put(h, s);
  return count;
}

long strata_hnsw_search(strata_hnsw *h, const float *query, size_t k,
                        size_t ef, const strata_slot_filter *filter,
                        strata_hit *out) {
  return strata_hnsw_search_stats(h, query, k, ef, filter, out, NULL);
}
