/*
 * HNSW construction: level generation, neighbour selection, linking one
 * node into every level (INSERT, Algorithm 1 of Malkov and Yashunin),
 * multi-threaded bulk build, and relinking after a vector changed.
 *
 * Linking a node x.  First, level by level from its top down:
 *   1. beam search for x's vector with width ef_construct, from the nodes
 *      found on the level above (or the greedy descent's endpoint);
 *   2. pick up to m neighbours by the heuristic (Algorithm 4).
 * Then, from level 0 up:
 *   3. under x's stripe lock, replace x's list by them, keeping any link
 *      another writer added since step 1 (it found x on a higher level);
 *   4. for each neighbour y, under y's lock, add x to y's list, and if the
 *      list is full, reselect it by the heuristic with x as a candidate;
 *   5. when relinking, reselect the list of each former neighbour of x that
 *      still points at x's old position.
 * Then, if none of x's level-0 neighbours links back to x, x is linked
 * from the nearest node found.  Every reselection of a level-0 list also keeps a link that is
 * the only one into its target.  The heuristic tends to prune an outlier
 * from every list, because its neighbours are closer to each other than
 * to it, and without this rule such a node becomes unreachable.
 * Only one stripe lock is held at a time.  A new node whose level is above
 * the entry point's holds entry_lock for its whole insert, so two such
 * nodes cannot both build new top levels without seeing each other.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hnsw_internal.h"

static uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/* Draws floor(-ln(U) * mL) with U uniform in (0, 1]: P(level >= l) is
 * m^-l.  Thread-safe: each draw hashes the next value of a counter. */
static unsigned draw_level(strata_hnsw *h) {
  uint64_t n = __atomic_fetch_add(&h->level_draws, 1, __ATOMIC_RELAXED);
  uint64_t x = splitmix64(h->seed ^ splitmix64(n));
  double u = (double)((x >> 11) + 1) * 0x1.0p-53;
  double level = -log(u) * h->level_mult;
  return level >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (unsigned)level;
}

static int cmp_cand(const void *a, const void *b) {
  hnsw_cand x = *(const hnsw_cand *)a, y = *(const hnsw_cand *)b;
  return hnsw_cand_less(x, y) ? -1 : hnsw_cand_less(y, x) ? 1 : 0;
}

/* Pools of up to SORT_INSERTION_MAX candidates are sorted by insertion.
 * Such a pool is a list of 2m + 1 or a beam of ef_construct, often nearly
 * sorted already, and there qsort's calls through cmp_cand cost more. */
#define SORT_INSERTION_MAX 256

void hnsw_sort_pool(hnsw_scratch *s, size_t n) {
  if (n > SORT_INSERTION_MAX) {
    qsort(s->pool, n, sizeof *s->pool, cmp_cand);
    return;
  }
  for (size_t i = 1; i < n; i++) {
    hnsw_cand c = s->pool[i];
    size_t j = i;
    for (; j > 0 && hnsw_cand_less(c, s->pool[j - 1]); j--)
      s->pool[j] = s->pool[j - 1];
    s->pool[j] = c;
  }
}

/* Shuffles each run of equally distant candidates in the sorted pool,
 * in an order fixed by `base`.  Sorted by slot, such ties (copies of one
 * vector) sent every new node to the same few copies, so the lists of a
 * large set of copies held almost no links out of it. */
static void spread_ties(hnsw_scratch *s, size_t n, uint32_t base) {
  uint64_t state = 0x9e3779b97f4a7c15ULL * ((uint64_t)base + 1);
  for (size_t i = 0; i < n;) {
    size_t end = i + 1;
    while (end < n && s->pool[end].dist == s->pool[i].dist)
      end++;
    for (size_t j = end - 1; j > i; j--) {
      state ^= state >> 12;
      state ^= state << 25;
      state ^= state >> 27;
      size_t r = i + (size_t)((state * 0x2545f4914f6cdd1dULL) >> 33) %
                         (j - i + 1);
      hnsw_cand t = s->pool[j];
      s->pool[j] = s->pool[r];
      s->pool[r] = t;
    }
    i = end;
  }
}

/* Copies of one vector that a list keeps before the heuristic prunes
 * further copies.  The heuristic alone keeps every copy of the base's own
 * vector, because none is closer to another copy than to the base.  Then
 * the lists of a large set of copies hold only copies, and vectors added
 * later cannot be reached from them.  A few copies per list keep the
 * copies connected among themselves. */
#define HNSW_COPIES_KEPT 4

uint32_t hnsw_select_neighbors(strata_hnsw *h, hnsw_scratch *s, size_t n,
                               uint32_t kept, uint32_t max, bool fill) {
  /* Algorithm 4 without extendCandidates: a candidate e is kept if it is
   * closer to the base than to every neighbour kept before it, so that
   * links spread out in direction instead of clustering.  With `fill`
   * (keepPrunedConnections), free places then take the nearest pruned
   * candidates.  Without that fill, an outlier keeps a single link,
   * because its neighbours are all closer to one another than to it. */
  uint32_t picked = kept;
  size_t row_bytes = h->dim * sizeof(float);
  for (size_t i = 0; i < n && picked < max; i++) {
    hnsw_cand e = s->pool[i];
    const float *ev = hnsw_vector(h, e.slot);
    float verdict = 0.0f; /* 0 keeps e */
    unsigned copies = 0;
    for (uint32_t j = 0; j < picked; j++) {
      s->n_dist++;
      float d = hnsw_distance(h, ev, s->picked_vec[j]);
      if (d < e.dist) {
        verdict = -INFINITY;
        break;
      }
      /* A copy of the base's own vector is as far from the base as from
       * any other copy, so only then are the rows compared. */
      if (d == e.dist && memcmp(ev, s->picked_vec[j], row_bytes) == 0 &&
          ++copies == HNSW_COPIES_KEPT) {
        verdict = INFINITY;
        break;
      }
    }
    if (verdict == 0.0f) {
      s->picked[picked] = e.slot;
      s->picked_vec[picked] = ev;
      picked++;
    } else {
      s->pool[i].dist = verdict;
    }
  }
  /* Copies beyond HNSW_COPIES_KEPT lead where the kept ones do, so they
   * fill the list only after the other pruned candidates. */
  for (int pass = 0; fill && pass < 2; pass++) {
    float marker = pass == 0 ? -INFINITY : INFINITY;
    for (size_t i = 0; i < n && picked < max; i++) {
      if (s->pool[i].dist == marker) {
        s->picked[picked] = s->pool[i].slot;
        s->picked_vec[picked] = hnsw_vector(h, s->pool[i].slot);
        picked++;
      }
    }
  }
  return picked;
}

static bool list_contains(const uint32_t *ids, uint32_t n, uint32_t slot) {
  for (uint32_t i = 0; i < n; i++) {
    if (ids[i] == slot)
      return true;
  }
  return false;
}

/* Writes s->picked[0, n_picked) as x's list at `level`.  Links that
 * another writer added since `old` was copied are kept, reselecting when
 * the union is over capacity.  Leaves the final list in s->picked. */
static bool write_own_list(strata_hnsw *h, hnsw_scratch *s, uint32_t x,
                           unsigned level, uint32_t n_picked,
                           const uint32_t *old, uint32_t n_old,
                           uint32_t *n_final) {
  uint32_t cap = hnsw_list_cap(h, level);
  uint32_t *list = hnsw_list(h, x, level);
  const float *xv = hnsw_vector(h, x);
  pthread_mutex_t *lock = hnsw_lock_of(h, x);
  bool ok = true;

  pthread_mutex_lock(lock);
  uint32_t n_now = hnsw_read_list(list, cap, s->list2);
  size_t n_pool = 0;
  for (uint32_t i = 0; i < n_now; i++) {
    uint32_t y = s->list2[i];
    if (list_contains(old, n_old, y) || list_contains(s->picked, n_picked, y))
      continue;
    if ((hnsw_state(h, y) & HNSW_STATE_MASK) == HNSW_REMOVED)
      continue;
    if (n_pool == 0 && !hnsw_scratch_reserve_pool(s, (size_t)cap * 2)) {
      ok = false;
      break;
    }
    s->pool[n_pool++] = (hnsw_cand){0.0f, y};
  }
  if (ok && n_pool > 0) {
    /* Links arrived concurrently: merge and reselect if needed. */
    for (uint32_t i = 0; i < n_picked; i++)
      s->pool[n_pool++] = (hnsw_cand){0.0f, s->picked[i]};
    for (size_t i = 0; i < n_pool; i++)
      s->pool[i].dist = hnsw_distance(h, xv, hnsw_vector(h, s->pool[i].slot));
    hnsw_sort_pool(s, n_pool);
    spread_ties(s, n_pool, x);
    n_picked = hnsw_select_neighbors(h, s, n_pool, 0, cap, false);
  }
  if (ok) {
    if (level == 0)
      hnsw_keep_sole_links(h, s, s->list2, n_now, HNSW_NONE, cap, &n_picked);
    hnsw_set_list(h, x, level, s->picked, n_picked);
  }
  pthread_mutex_unlock(lock);
  *n_final = n_picked;
  return ok;
}

/* Adds the link y -> x at `level`, reselecting y's list by the heuristic
 * when it is full.  The reselected list is not filled with pruned
 * candidates: the room left takes later links without another
 * reselection.  Filling it doubled the build time of 20,000
 * Fashion-MNIST vectors, for recall@10 at ef 10 of 0.983 instead of
 * 0.967 (bench/hnsw, m 16, ef_construct 100). */
static bool add_link(strata_hnsw *h, hnsw_scratch *s, uint32_t y,
                     unsigned level, uint32_t x) {
  uint32_t cap = hnsw_list_cap(h, level);
  uint32_t *list = hnsw_list(h, y, level);
  if (!list)
    return true; /* y was found on this level, so it has a list there */
  pthread_mutex_t *lock = hnsw_lock_of(h, y);
  bool ok = true;

  pthread_mutex_lock(lock);
  uint32_t n = hnsw_read_list(list, cap, s->list2);
  if (list_contains(s->list2, n, x)) {
    /* Already linked. */
  } else if (n < cap) {
    if (level == 0)
      __atomic_add_fetch(hnsw_indeg(h, x), 1, __ATOMIC_RELAXED);
    __atomic_store_n(&list[1 + n], x, __ATOMIC_RELEASE);
    __atomic_store_n(&list[0], n + 1, __ATOMIC_RELEASE);
  } else if (!hnsw_scratch_reserve_pool(s, (size_t)cap + 1)) {
    ok = false;
  } else {
    const float *yv = hnsw_vector(h, y);
    size_t n_pool = 0;
    s->list2[n++] = x; /* scratch lists have room for 2m + 1 */
    for (uint32_t i = 0; i < n; i++) {
      uint32_t z = s->list2[i];
      if ((hnsw_state(h, z) & HNSW_STATE_MASK) == HNSW_REMOVED)
        continue;
      s->n_dist++;
      s->pool[n_pool++] =
          (hnsw_cand){hnsw_distance(h, yv, hnsw_vector(h, z)), z};
    }
    hnsw_sort_pool(s, n_pool);
    spread_ties(s, n_pool, y);
    uint32_t picked = hnsw_select_neighbors(h, s, n_pool, 0, cap, false);
    if (level == 0)
      hnsw_keep_sole_links(h, s, s->list2, n - 1, HNSW_NONE, cap, &picked);
    hnsw_set_list(h, y, level, s->picked, picked);
  }
  pthread_mutex_unlock(lock);
  return ok;
}

bool hnsw_force_link(strata_hnsw *h, uint32_t y, uint32_t x) {
  uint32_t cap = h->m0;
  uint32_t *list = hnsw_list(h, y, 0);
  pthread_mutex_t *lock = hnsw_lock_of(h, y);
  bool linked = false;

  pthread_mutex_lock(lock);
  uint32_t n = list[0];
  uint32_t ids[2 * HNSW_MAX_M + 1];
  memcpy(ids, list + 1, n * sizeof *ids);
  if (list_contains(ids, n, x)) {
    linked = true;
  } else if (n < cap) {
    ids[n++] = x;
    linked = true;
  } else {
    /* Replace the farthest link whose target keeps another in-link. */
    const float *yv = hnsw_vector(h, y);
    float worst = -INFINITY;
    uint32_t at = n;
    for (uint32_t i = 0; i < n; i++) {
      if (__atomic_load_n(hnsw_indeg(h, ids[i]), __ATOMIC_RELAXED) < 2)
        continue;
      float d = hnsw_distance(h, yv, hnsw_vector(h, ids[i]));
      if (d > worst) {
        worst = d;
        at = i;
      }
    }
    if (at < n) {
      ids[at] = x;
      linked = true;
    }
  }
  if (linked)
    hnsw_set_list(h, y, 0, ids, n);
  pthread_mutex_unlock(lock);
  return linked;
}

static void clear_list(strata_hnsw *h, uint32_t x, unsigned level) {
  pthread_mutex_t *lock = hnsw_lock_of(h, x);
  pthread_mutex_lock(lock);
  hnsw_set_list(h, x, level, NULL, 0);
  pthread_mutex_unlock(lock);
}

/* Returns whether some level-0 neighbour of x links back to x. */
static bool linked_back(strata_hnsw *h, hnsw_scratch *s, uint32_t x) {
  uint32_t n = hnsw_read_list(hnsw_list(h, x, 0), h->m0, s->fresh);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t m = hnsw_read_list(hnsw_list(h, s->fresh[i], 0), h->m0,
                                s->list2);
    if (list_contains(s->list2, m, x))
      return true;
  }
  return false;
}

/* Links (or relinks) x into levels 0..level(x).  *hold is true when the
 * caller has entry_lock.  This function takes the lock when x's level is
 * above the entry point's or the graph is empty, and sets *hold to tell
 * whether the lock is held on return. */
static bool link_node(strata_hnsw *h, hnsw_scratch *s, uint32_t x,
                      bool *hold) {
  unsigned level = hnsw_level(h, x);
  const float *q = hnsw_vector(h, x);
  hnsw_target t = {q, x, true, NULL};

  /* 1. Find the entry point; serialise with other inserts that raise the
   * top level.  An empty graph leaves x unlinked, to become the entry. */
  uint64_t entry = hnsw_entry_load(h);
  if (hnsw_entry_slot(entry) == HNSW_NONE ||
      level > hnsw_entry_level(entry)) {
    pthread_mutex_lock(&h->entry_lock);
    *hold = true;
    entry = hnsw_entry_load(h);
    if (hnsw_entry_slot(entry) == HNSW_NONE) {
      for (unsigned l = 0; l <= level; l++)
        clear_list(h, x, l);
      return true;
    }
    if (level <= hnsw_entry_level(entry)) {
      pthread_mutex_unlock(&h->entry_lock);
      *hold = false;
    }
  }
  unsigned top = hnsw_entry_level(entry);
  uint32_t cur = hnsw_entry_slot(entry);

  /* A reused slot may have old links on levels above the graph's top;
   * nothing is left there to link to, so drop them. */
  for (unsigned l = top + 1; l <= level; l++)
    clear_list(h, x, l);

  /* During a bulk build the beam walks the build's codes, and the float
   * distances of what it found decide the links.  Inserts never walk
   * h->quant, because its bounds were trained on earlier vectors, and new
   * ones far outside them would all get the same clamped codes. */
  const strata_quant *codes = h->build_quant;
  if (codes && !hnsw_begin_quantized(codes, s, q))
    return false;
  float cur_dist = hnsw_eval(h, s, q, cur);

  /* 2. Greedy descent through the levels above x's top level. */
  if (top > level)
    hnsw_greedy_descend(h, s, q, &cur, &cur_dist, top, level);
  if (!hnsw_scratch_reserve_found(s, h->ef_construct))
    return false;
  s->seeds[0] = (hnsw_cand){cur_dist, cur};
  s->n_seeds = 1;

  /* 3. Top down, on each level x shares with the graph: beam search and
   * select.  Nothing is written yet. */
  int shared_top = (int)(level < top ? level : top);
  for (int l = shared_top; l >= 0; l--) {
    unsigned lv = (unsigned)l;
    uint32_t *old = s->old_at + (size_t)lv * s->list_cap;
    s->n_old_at[lv] = hnsw_read_list(hnsw_list(h, x, lv),
                                     hnsw_list_cap(h, lv), old);
    if (!hnsw_beam_search(h, s, &t, lv, h->ef_construct))
      return false;
    if (!hnsw_scratch_reserve_pool(s, s->n_found))
      return false;
    memcpy(s->pool, s->found, s->n_found * sizeof *s->pool);
    if (codes) {
      for (size_t i = 0; i < s->n_found; i++)
        s->pool[i].dist = hnsw_distance(h, q, hnsw_vector(h, s->pool[i].slot));
      s->n_dist += s->n_found;
      hnsw_sort_pool(s, s->n_found);
    }
    spread_ties(s, s->n_found, x);
    uint32_t n_picked =
        hnsw_select_neighbors(h, s, s->n_found, 0, h->m, true);
    memcpy(s->picked_at + (size_t)lv * s->list_cap, s->picked,
           n_picked * sizeof *s->picked);
    s->n_picked_at[lv] = n_picked;

    /* The nodes found here seed the next level down (ep <- W). */
    if (s->n_found > 0) {
      memcpy(s->seeds, s->found, s->n_found * sizeof *s->seeds);
      s->n_seeds = s->n_found;
    }
  }
  s->qcode = NULL;
  s->quant = NULL;

  /* 4. Bottom up: write x's list, then the back-links.  Linking level 0
   * first means that a search reaching x on some level finds its lists on
   * every level below already written.  Top down, a search could descend
   * into x before x had level-0 links, stop there, and link the node it
   * was inserting to x alone: an island. */
  for (int l = 0; l <= shared_top; l++) {
    unsigned lv = (unsigned)l;
    const uint32_t *old = s->old_at + (size_t)lv * s->list_cap;
    uint32_t n_old = s->n_old_at[lv], n_final;
    memcpy(s->picked, s->picked_at + (size_t)lv * s->list_cap,
           s->n_picked_at[lv] * sizeof *s->picked);
    if (!write_own_list(h, s, x, lv, s->n_picked_at[lv], old, n_old,
                        &n_final))
      return false;
    /* add_link and hnsw_repair_list reuse s->picked, so keep a copy of
     * the final list in s->fresh. */
    memcpy(s->fresh, s->picked, n_final * sizeof *s->fresh);
    for (uint32_t i = 0; i < n_final; i++) {
      if (!add_link(h, s, s->fresh[i], lv, x))
        return false;
    }

    /* Former neighbours not linked again point at x's old position. */
    for (uint32_t i = 0; i < n_old; i++) {
      uint32_t y = old[i];
      if (list_contains(s->fresh, n_final, y))
        continue;
      if ((hnsw_state(h, y) & HNSW_STATE_MASK) == HNSW_REMOVED)
        continue;
      if (!hnsw_repair_list(h, s, y, lv, x, old, n_old))
        return false;
    }
  }

  /* 5. If every new neighbour pruned x from its list, only nodes far
   * away lead to x on level 0 (such as those that linked to an updated x
   * at its old position), or none do.  Link x from the nearest node found
   * that takes it.  s->found still contains the level-0 beam result. */
  if (!linked_back(h, s, x)) {
    for (size_t i = 0; i < s->n_found; i++) {
      if (hnsw_force_link(h, s->found[i].slot, x))
        break;
    }
  }
  return true;
}

/* Makes x the entry point if it is above the current one, or if there is
 * none.  Takes entry_lock unless `hold` is true (the caller has it). */
static void publish_entry(strata_hnsw *h, uint32_t x, bool hold) {
  if (!hold)
    pthread_mutex_lock(&h->entry_lock);
  unsigned level = hnsw_level(h, x);
  uint64_t entry = hnsw_entry_load(h);
  if (hnsw_entry_slot(entry) == HNSW_NONE ||
      level > hnsw_entry_level(entry))
    __atomic_store_n(&h->entry, hnsw_entry_pack(x, level), __ATOMIC_RELEASE);
  pthread_mutex_unlock(&h->entry_lock);
}

static int insert_locked(strata_hnsw *h, uint32_t slot) {
  if (slot >= h->store->n_slots || !strata_vs_is_live(h->store, slot))
    return STRATA_HNSW_EINVAL;
  if (!hnsw_ensure_chunk(h, slot))
    return STRATA_HNSW_ENOMEM;
  /* Codes before the claim, so a failure leaves nothing to undo.  A
   * PRESENT slot rejected below gets the codes of its current vector,
   * which it already had unless strata_hnsw_update is due. */
  if (h->quant &&
      strata_quant_encode(h->quant, slot, hnsw_vector(h, slot)) != 0)
    return STRATA_HNSW_ENOMEM;
  if (h->build_quant &&
      strata_quant_encode(h->build_quant, slot, hnsw_vector(h, slot)) != 0)
    return STRATA_HNSW_ENOMEM;

  /* 1. Claim the slot: FREE or REMOVED to INSERTING. */
  hnsw_chunk *c = hnsw_chunk_of(h, slot);
  uint8_t *state = &c->state[hnsw_index_in_chunk(slot)];
  uint8_t prev = __atomic_load_n(state, __ATOMIC_ACQUIRE);
  for (;;) {
    if (prev & HNSW_BUSY || prev == HNSW_INSERTING)
      return STRATA_HNSW_EBUSY;
    if (prev == HNSW_PRESENT)
      return STRATA_HNSW_EEXIST;
    if (__atomic_compare_exchange_n(state, &prev, HNSW_INSERTING, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      break;
  }
  if (prev == HNSW_REMOVED)
    __atomic_sub_fetch(&h->n_removed, 1, __ATOMIC_RELAXED);

  /* 2. A slot gets its level on its first insert only (invariant 5).  A
   * reused slot keeps it: the old draw is as random as a new one. */
  uint8_t *level = &c->level[hnsw_index_in_chunk(slot)];
  if (*level == HNSW_LEVEL_UNSET) {
    unsigned drawn = draw_level(h);
    if (!hnsw_alloc_upper(h, slot, drawn)) {
      hnsw_set_state(h, slot, HNSW_FREE);
      return STRATA_HNSW_ENOMEM;
    }
    __atomic_store_n(level, (uint8_t)drawn, __ATOMIC_RELEASE);
  }

  /* 3. Link, then publish the node and maybe the new entry point. */
  hnsw_scratch *s = hnsw_scratch_get(h);
  bool hold = false;
  bool ok = s && link_node(h, s, slot, &hold);
  if (s)
    hnsw_scratch_put(h, s);
  if (!ok) {
    /* Partly linked: leave it for strata_hnsw_repair to unlink. */
    hnsw_set_state(h, slot, HNSW_REMOVED);
    __atomic_add_fetch(&h->n_removed, 1, __ATOMIC_RELAXED);
    if (hold)
      pthread_mutex_unlock(&h->entry_lock);
    return STRATA_HNSW_ENOMEM;
  }
  hnsw_set_state(h, slot, HNSW_PRESENT);
  __atomic_add_fetch(&h->n_present, 1, __ATOMIC_RELAXED);
  publish_entry(h, slot, hold);
  return STRATA_HNSW_OK;
}

int strata_hnsw_insert(strata_hnsw *h, uint32_t slot) {
  pthread_rwlock_rdlock(&h->writers);
  int rc = insert_locked(h, slot);
  pthread_rwlock_unlock(&h->writers);
  return rc;
}

int strata_hnsw_update(strata_hnsw *h, uint32_t slot) {
  if (slot >= h->store->n_slots || !strata_vs_is_live(h->store, slot))
    return STRATA_HNSW_ENOTFOUND;
  pthread_rwlock_rdlock(&h->writers);
  hnsw_chunk *c = hnsw_chunk_of(h, slot);
  int rc = STRATA_HNSW_OK;
  uint8_t prev = HNSW_PRESENT;
  if (!c) {
    rc = STRATA_HNSW_ENOTFOUND;
  } else if (!__atomic_compare_exchange_n(
                 &c->state[hnsw_index_in_chunk(slot)], &prev,
                 HNSW_PRESENT | HNSW_BUSY, false, __ATOMIC_ACQ_REL,
                 __ATOMIC_ACQUIRE)) {
    rc = (prev & HNSW_BUSY) || prev == HNSW_INSERTING
             ? STRATA_HNSW_EBUSY
             : STRATA_HNSW_ENOTFOUND;
  } else if ((h->quant && strata_quant_encode(h->quant, slot,
                                              hnsw_vector(h, slot)) != 0) ||
             (h->build_quant &&
              strata_quant_encode(h->build_quant, slot,
                                  hnsw_vector(h, slot)) != 0)) {
    hnsw_set_state(h, slot, HNSW_PRESENT);
    rc = STRATA_HNSW_ENOMEM;
  } else {
    hnsw_scratch *s = hnsw_scratch_get(h);
    bool hold = false;
    bool ok = s && link_node(h, s, slot, &hold);
    if (s)
      hnsw_scratch_put(h, s);
    /* On failure the node keeps a valid, partly moved set of links. */
    hnsw_set_state(h, slot, HNSW_PRESENT);
    publish_entry(h, slot, hold);
    if (!ok)
      rc = STRATA_HNSW_ENOMEM;
  }
  pthread_rwlock_unlock(&h->writers);
  return rc;
}

/* ---- Bulk build ------------------------------------------------------------ */

typedef struct build_job {
  strata_hnsw *h;
  const uint32_t *slots;
  size_t n;
  size_t next;   /* atomic: index of the next slot to insert */
  int first_rc;  /* atomic: first error, 0 if none */
} build_job;

static void *build_worker(void *arg) {
  build_job *job = arg;
  for (;;) {
    size_t i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
    if (i >= job->n)
      break;
    int rc = strata_hnsw_insert(job->h, job->slots[i]);
    int none = 0;
    if (rc != STRATA_HNSW_OK)
      __atomic_compare_exchange_n(&job->first_rc, &none, rc, false,
                                  __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  }
  return NULL;
}

/* A bulk build of at least BUILD_CODES_MIN nodes, into an index with no
 * more nodes than it adds, walks temporary int8 codes (quantile
 * BUILD_CODES_QUANTILE, trained on every live vector, the new ones
 * included) instead of the vectors.  The beam of each insert
 * then reads a quarter of the bytes, and the float distances of the
 * nodes it found still pick the links.  The codes cost stride bytes per
 * slot until the build returns.  Smaller builds, or builds into a larger
 * index, would spend more on encoding every node than they save. */
#define BUILD_CODES_MIN 4096
#define BUILD_CODES_QUANTILE 0.99f

/* The codes must rank candidates as the vectors do.  One pair of bounds
 * for every dimension fails on data where a few dimensions or vectors
 * are far larger than the rest, because the other components then share
 * one or two codes and a beam walking them finds poor candidates.  So
 * before a build uses the codes, CHECK_QUERIES sampled vectors of the
 * batch rank CHECK_CANDIDATES others both ways.  On average the codes'
 * best 2 * CHECK_TOP must contain CHECK_MIN_SHARE of the vectors' best
 * CHECK_TOP. */
#define CHECK_QUERIES 32
#define CHECK_CANDIDATES 512
#define CHECK_TOP 10
#define CHECK_MIN_SHARE 0.95

static int cmp_float_asc(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Copies d[0, n) to tmp, sorts it and returns the value at `rank`. */
static float rank_value(const float *d, float *tmp, size_t n, size_t rank) {
  memcpy(tmp, d, n * sizeof *tmp);
  qsort(tmp, n, sizeof *tmp, cmp_float_asc);
  return tmp[rank < n ? rank : n - 1];
}

/* Returns how many of the sorted d[0, n) are at most v. */
static size_t count_at_most(const float *d, size_t n, float v) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (d[mid] <= v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Returns whether the codes of `q` rank sampled vectors of `slots` well
 * enough for a build to walk them.  False when out of memory. */
static bool codes_rank_well(strata_hnsw *h, const strata_quant *q,
                            const uint32_t *slots, size_t n) {
  size_t n_cand = n < CHECK_CANDIDATES ? n : CHECK_CANDIDATES;
  size_t n_query = CHECK_QUERIES;
  size_t total = n_cand + n_query;
  uint8_t *codes = malloc(total * q->stride);
  uint32_t *sums = malloc(total * sizeof *sums);
  const float **rows = malloc(total * sizeof *rows);
  float *exact = malloc(2 * n_cand * sizeof *exact);
  float *tmp = malloc(n_cand * sizeof *tmp);
  bool ok = codes && sums && rows && exact && tmp;
  /* Picks are evenly spaced, and the queries sit between candidates. */
  for (size_t i = 0; ok && i < total; i++) {
    size_t at = i < n_cand ? i * n / n_cand
                           : (i - n_cand) * n / n_query + n / (2 * n_cand);
    uint32_t slot = slots[at < n ? at : n - 1];
    if (slot >= h->store->n_slots || !strata_vs_is_live(h->store, slot)) {
      ok = false; /* its insert will return STRATA_HNSW_EINVAL */
      break;
    }
    rows[i] = hnsw_vector(h, slot);
    sums[i] = strata_quant_encode_query(q, rows[i], codes + i * q->stride);
  }
  double share = 0.0;
  for (size_t qi = n_cand; ok && qi < total; qi++) {
    float *coded = exact + n_cand;
    for (size_t c = 0; c < n_cand; c++) {
      exact[c] = hnsw_distance(h, rows[qi], rows[c]);
      /* Smaller is nearer, as in the beam: dot products are negated. */
      float d = strata_quant_distance_codes(q, codes + qi * q->stride,
                                            sums[qi], codes + c * q->stride,
                                            sums[c]);
      coded[c] = h->negate ? -d : d;
    }
    float exact_cut = rank_value(exact, tmp, n_cand, CHECK_TOP - 1);
    /* A sorted copy of the code distances gives each candidate's rank. */
    memcpy(tmp, coded, n_cand * sizeof *tmp);
    qsort(tmp, n_cand, sizeof *tmp, cmp_float_asc);
    size_t want = 0, kept = 0;
    for (size_t c = 0; c < n_cand; c++) {
      if (exact[c] > exact_cut)
        continue;
      want++;
      /* Ties count against the codes.  A candidate counts as kept only
       * if every candidate coded as near as it fits in the best 2 * top. */
      kept += count_at_most(tmp, n_cand, coded[c]) <= 2 * CHECK_TOP;
    }
    share += want ? (double)kept / (double)want : 1.0;
  }
  free(codes);
  free(sums);
  free(rows);
  free(exact);
  free(tmp);
  return ok && share / (double)n_query >= CHECK_MIN_SHARE;
}

static void run_build(build_job *job, unsigned threads) {
  pthread_t *ids = threads > 1 ? calloc(threads, sizeof *ids) : NULL;
  unsigned started = 0;
  for (; ids && started < threads; started++) {
    if (pthread_create(&ids[started], NULL, build_worker, job) != 0)
      break;
  }
  if (started == 0)
    build_worker(job);
  for (unsigned i = 0; i < started; i++)
    pthread_join(ids[i], NULL);
  free(ids);
}

int strata_hnsw_build(strata_hnsw *h, const uint32_t *slots, size_t n,
                      unsigned threads) {
  build_job job = {h, slots, n, 0, 0};
  bool temporary = false;
  if (n >= BUILD_CODES_MIN && h->metric != STRATA_METRIC_L1) {
    pthread_rwlock_wrlock(&h->writers);
    size_t nodes = __atomic_load_n(&h->n_present, __ATOMIC_RELAXED) +
                   __atomic_load_n(&h->n_removed, __ATOMIC_RELAXED);
    strata_quant *q = NULL;
    /* Codes that rank poorly, or no memory for them: build on the
     * vectors instead. */
    if (!h->build_quant && nodes <= n &&
        hnsw_train_codes(h, BUILD_CODES_QUANTILE, &q) == STRATA_HNSW_OK) {
      if (codes_rank_well(h, q, slots, n)) {
        h->build_quant = q;
        temporary = true;
      } else {
        strata_quant_destroy(q);
      }
    }
    pthread_rwlock_unlock(&h->writers);
  }

  run_build(&job, threads);

  if (temporary) {
    pthread_rwlock_wrlock(&h->writers);
    strata_quant *q = h->build_quant;
    h->build_quant = NULL;
    pthread_rwlock_unlock(&h->writers);
    strata_quant_destroy(q);
  }
  /* Keep the scratch of one thread.  Searches on more threads allocate
   * their own when they start. */
  hnsw_scratch_trim(h, 1);
  return job.first_rc;
}
