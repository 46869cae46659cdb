/*
 * Turning on int8 scalar quantization for an existing index: train the
 * bounds, encode every node, publish the codes.  Inserts and updates keep
 * them current afterwards (hnsw_build.c), and hnsw_search.c walks the
 * graph on them.
 */
#include <errno.h>

#include "hnsw_internal.h"

int hnsw_train_codes(strata_hnsw *h, float quantile, strata_quant **out) {
  strata_quant *q = NULL;
  int err = strata_quant_create(h->store, h->metric, quantile, &q);
  if (err != 0)
    return err == EINVAL ? STRATA_HNSW_EINVAL : STRATA_HNSW_ENOMEM;

  /* REMOVED nodes are still walked through, so they need codes too. */
  uint32_t limit = __atomic_load_n(&h->slot_limit, __ATOMIC_ACQUIRE);
  for (uint32_t slot = 0; slot < limit; slot++) {
    if ((hnsw_state(h, slot) & HNSW_STATE_MASK) == HNSW_FREE)
      continue;
    if (strata_quant_encode(q, slot, hnsw_vector(h, slot)) != 0) {
      strata_quant_destroy(q);
      return STRATA_HNSW_ENOMEM;
    }
  }
  *out = q;
  return STRATA_HNSW_OK;
}

int strata_hnsw_quantize(strata_hnsw *h, float quantile) {
  if (h->metric == STRATA_METRIC_L1)
    return STRATA_HNSW_EINVAL;

  pthread_rwlock_wrlock(&h->writers);
  int rc = STRATA_HNSW_EEXIST;
  strata_quant *q = NULL;
  if (!h->quant) {
    rc = hnsw_train_codes(h, quantile, &q);
    if (rc == STRATA_HNSW_OK)
      __atomic_store_n(&h->quant, q, __ATOMIC_RELEASE);
  }
  pthread_rwlock_unlock(&h->writers);
  return rc;
}

int strata_hnsw_quantize_again(strata_hnsw *h, float quantile,
                               pthread_rwlock_t *readers) {
  if (h->metric == STRATA_METRIC_L1)
    return STRATA_HNSW_EINVAL;

  pthread_rwlock_wrlock(&h->writers);
  strata_quant *q = NULL;
  int rc = hnsw_train_codes(h, quantile, &q);
  if (rc == STRATA_HNSW_OK) {
    /* A search reads h->quant from start to end, so the old codes may
     * only be freed once no search holds `readers`. */
    pthread_rwlock_wrlock(readers);
    strata_quant *old = h->quant;
    __atomic_store_n(&h->quant, q, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(readers);
    strata_quant_destroy(old);
  }
  pthread_rwlock_unlock(&h->writers);
  return rc;
}

size_t strata_hnsw_quantized_points(strata_hnsw *h) {
  const strata_quant *q = __atomic_load_n(&h->quant, __ATOMIC_ACQUIRE);
  return q ? q->trained_points : 0;
}

size_t strata_hnsw_quantized_bytes(strata_hnsw *h) {
  const strata_quant *q = __atomic_load_n(&h->quant, __ATOMIC_ACQUIRE);
  return q ? strata_quant_memory(q) : 0;
}
