#include "vector_store.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_TABLE_LEN (STRATA_VS_MAX_SLOTS / STRATA_VS_CHUNK)

int strata_vs_init(strata_vector_store *vs, size_t dim) {
  memset(vs, 0, sizeof *vs);
  vs->dim = dim;
  /* Pad rows to 16 floats (64 bytes) so every vector starts on a cache
   * line and SIMD loads never split one. */
  vs->stride = (dim + 15) & ~(size_t)15;
  vs->chunks = calloc(CHUNK_TABLE_LEN, sizeof *vs->chunks);
  return vs->chunks ? 0 : -1;
}

void strata_vs_destroy(strata_vector_store *vs) {
  if (vs->chunks) {
    for (size_t i = 0; i < CHUNK_TABLE_LEN && vs->chunks[i]; i++)
      free(vs->chunks[i]);
  }
  free(vs->chunks);
  free(vs->live);
  free(vs->free_slots);
  memset(vs, 0, sizeof *vs);
}

static int grow_one(strata_vector_store *vs) {
  size_t slot = vs->n_slots;
  if (slot >= STRATA_VS_MAX_SLOTS)
    return -1;
  size_t chunk = slot >> STRATA_VS_CHUNK_SHIFT;
  if (!vs->chunks[chunk]) {
    size_t bytes = STRATA_VS_CHUNK * vs->stride * sizeof(float);
    void *mem = NULL;
    if (posix_memalign(&mem, 64, bytes) != 0)
      return -1;
    memset(mem, 0, bytes);
    vs->chunks[chunk] = mem;
  }
  size_t words_needed = (slot >> 6) + 1;
  if (words_needed > vs->live_words) {
    size_t words = vs->live_words ? vs->live_words * 2 : 64;
    uint64_t *live = realloc(vs->live, words * sizeof *live);
    if (!live)
      return -1;
    memset(live + vs->live_words, 0,
           (words - vs->live_words) * sizeof *live);
    vs->live = live;
    vs->live_words = words;
  }
  vs->n_slots++;
  return 0;
}

int64_t strata_vs_add(strata_vector_store *vs, const float *vec) {
  size_t slot;
  if (vs->n_free > 0) {
    slot = vs->free_slots[--vs->n_free];
  } else {
    if (grow_one(vs) != 0)
      return -1;
    slot = vs->n_slots - 1;
  }
  float *dst = strata_vs_vector(vs, slot);
  memcpy(dst, vec, vs->dim * sizeof(float));
  vs->live[slot >> 6] |= (uint64_t)1 << (slot & 63);
  vs->n_live++;
  return (int64_t)slot;
}

void strata_vs_set(strata_vector_store *vs, uint32_t slot, const float *vec) {
  memcpy(strata_vs_vector(vs, slot), vec, vs->dim * sizeof(float));
}

void strata_vs_remove(strata_vector_store *vs, uint32_t slot) {
  if (!strata_vs_is_live(vs, slot))
    return;
  vs->live[slot >> 6] &= ~((uint64_t)1 << (slot & 63));
  vs->n_live--;
  if (vs->n_free == vs->free_cap) {
    size_t cap = vs->free_cap ? vs->free_cap * 2 : 64;
    uint32_t *stack = realloc(vs->free_slots, cap * sizeof *stack);
    if (!stack)
      return; /* Out of memory: the slot is never reused, still correct. */
    vs->free_slots = stack;
    vs->free_cap = cap;
  }
  vs->free_slots[vs->n_free++] = slot;
}
