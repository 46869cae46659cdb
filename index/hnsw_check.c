/*
 * Whole-graph invariant checker.  Tests call it after every phase, and
 * strata_hnsw_load runs it on every file it reads, so its messages name
 * the node, level and link at fault.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "hnsw_internal.h"

static int fail(char *msg, size_t msg_len, const char *fmt, ...) {
  if (msg && msg_len > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_len, fmt, ap);
    va_end(ap);
  }
  return STRATA_HNSW_ECORRUPT;
}

static const char *state_name(uint8_t state) {
  switch (state) {
  case HNSW_FREE:
    return "FREE";
  case HNSW_INSERTING:
    return "INSERTING";
  case HNSW_PRESENT:
    return "PRESENT";
  case HNSW_REMOVED:
    return "REMOVED";
  }
  return "invalid";
}

/* Checks one list of node `slot` (invariants 1 and 2). */
static int check_list(strata_hnsw *h, uint32_t slot, unsigned level,
                      uint32_t limit, char *msg, size_t msg_len) {
  const uint32_t *list = hnsw_list(h, slot, level);
  if (!list)
    return fail(msg, msg_len, "node %u: no link block for level %u", slot,
                level);
  uint32_t n = list[0], cap = hnsw_list_cap(h, level);
  if (n > cap)
    return fail(msg, msg_len, "node %u level %u: %u links, limit %u", slot,
                level, n, cap);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t nb = list[1 + i];
    if (nb >= limit)
      return fail(msg, msg_len,
                  "node %u level %u: link %u to slot %u, beyond %u", slot,
                  level, i, nb, limit);
    if (nb == slot)
      return fail(msg, msg_len, "node %u level %u: links to itself", slot,
                  level);
    uint8_t st = hnsw_state(h, nb);
    if (st != HNSW_PRESENT && st != HNSW_REMOVED)
      return fail(msg, msg_len,
                  "node %u level %u: link to slot %u, which is %s", slot,
                  level, nb, state_name(st & HNSW_STATE_MASK));
    unsigned nb_level = hnsw_level(h, nb);
    if (nb_level < level)
      return fail(msg, msg_len,
                  "node %u level %u: link to node %u of level %u", slot,
                  level, nb, nb_level);
    for (uint32_t j = 0; j < i; j++) {
      if (list[1 + j] == nb)
        return fail(msg, msg_len, "node %u level %u: node %u linked twice",
                    slot, level, nb);
    }
  }
  return STRATA_HNSW_OK;
}

/* Recounts the level-0 in-links of every node and compares. */
static int check_indegrees(strata_hnsw *h, uint32_t limit, char *msg,
                           size_t msg_len) {
  uint32_t *count = calloc(limit ? limit : 1, sizeof *count);
  if (!count) {
    fail(msg, msg_len, "out of memory counting in-degrees");
    return STRATA_HNSW_ENOMEM;
  }
  for (uint32_t slot = 0; slot < limit; slot++) {
    if (hnsw_state(h, slot) == HNSW_FREE)
      continue;
    const uint32_t *list = hnsw_list(h, slot, 0);
    for (uint32_t i = 0; i < list[0]; i++)
      count[list[1 + i]]++;
  }
  int rc = STRATA_HNSW_OK;
  for (uint32_t slot = 0; slot < limit && rc == STRATA_HNSW_OK; slot++) {
    if (!hnsw_chunk_of(h, slot))
      continue;
    uint32_t stored = *hnsw_indeg(h, slot);
    if (stored != count[slot])
      rc = fail(msg, msg_len, "node %u: in-degree %u recorded, %u counted",
                slot, stored, count[slot]);
  }
  free(count);
  return rc;
}

int hnsw_check_locked(strata_hnsw *h, char *msg, size_t msg_len) {
  if (msg && msg_len > 0)
    msg[0] = '\0';
  uint32_t limit = __atomic_load_n(&h->slot_limit, __ATOMIC_ACQUIRE);
  size_t present = 0, removed = 0;
  unsigned top = 0;

  /* 1. Every node: state, level, lists, liveness in the store. */
  for (uint32_t slot = 0; slot < limit; slot++) {
    uint8_t st = hnsw_state(h, slot);
    if (st == HNSW_FREE) {
      hnsw_chunk *c = hnsw_chunk_of(h, slot);
      if (c && c->links0[hnsw_index_in_chunk(slot) * h->rec0] != 0)
        return fail(msg, msg_len, "free slot %u has level-0 links", slot);
      continue;
    }
    if (st != HNSW_PRESENT && st != HNSW_REMOVED)
      return fail(msg, msg_len, "node %u is %s with no writer running",
                  slot, (st & HNSW_BUSY) ? "BUSY" : state_name(st));
    unsigned level = hnsw_level(h, slot);
    if (level > HNSW_MAX_LEVEL)
      return fail(msg, msg_len, "node %u: level %u above the limit %u", slot,
                  level, HNSW_MAX_LEVEL);
    for (unsigned l = 0; l <= level; l++) {
      int rc = check_list(h, slot, l, limit, msg, msg_len);
      if (rc != STRATA_HNSW_OK)
        return rc;
    }
    if (st == HNSW_REMOVED) {
      removed++;
      continue;
    }
    present++;
    if (level > top)
      top = level;
    if (!strata_vs_is_live(h->store, slot))
      return fail(msg, msg_len,
                  "node %u is PRESENT but its store slot is not live", slot);
  }

  /* 2. Counters. */
  if (present != h->n_present || removed != h->n_removed)
    return fail(msg, msg_len,
                "counted %zu present and %zu removed nodes, counters say "
                "%zu and %zu",
                present, removed, h->n_present, h->n_removed);
  int rc = check_indegrees(h, limit, msg, msg_len);
  if (rc != STRATA_HNSW_OK)
    return rc;

  /* 3. Entry point (invariant 3). */
  uint64_t entry = hnsw_entry_load(h);
  uint32_t ep = hnsw_entry_slot(entry);
  if (present == 0) {
    if (ep != HNSW_NONE)
      return fail(msg, msg_len, "entry point %u set in an index with no "
                  "PRESENT node", ep);
    return STRATA_HNSW_OK;
  }
  if (ep == HNSW_NONE)
    return fail(msg, msg_len, "no entry point but %zu PRESENT nodes",
                present);
  if (ep >= limit || hnsw_state(h, ep) != HNSW_PRESENT)
    return fail(msg, msg_len, "entry point %u is not a PRESENT node", ep);
  if (hnsw_level(h, ep) != hnsw_entry_level(entry))
    return fail(msg, msg_len, "entry point %u has level %u, recorded %u",
                ep, hnsw_level(h, ep), hnsw_entry_level(entry));
  if (hnsw_entry_level(entry) != top)
    return fail(msg, msg_len,
                "entry point level %u but a PRESENT node has level %u",
                hnsw_entry_level(entry), top);
  return STRATA_HNSW_OK;
}

int strata_hnsw_check(strata_hnsw *h, char *msg, size_t msg_len) {
  pthread_rwlock_wrlock(&h->writers);
  int rc = hnsw_check_locked(h, msg, msg_len);
  pthread_rwlock_unlock(&h->writers);
  return rc;
}
