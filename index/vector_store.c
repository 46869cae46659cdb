#include "vector_store.h"

#include <stdlib.h>
#include <string.h>

/* Chunk pointers a new store's table has room for. */
#define INITIAL_CHUNK_PTRS 4

int strata_vs_init(strata_vector_store *vs, size_t dim) {
  memset(vs, 0, sizeof *vs);
  vs->dim = dim;
  /* Rows of a multiple of 4 floats start on 16-byte boundaries.  Padding
   * to 16 floats (a cache line) was tried: it costs 48 bytes per vector
   * at 100 dimensions, and a 100-float row spans 7 cache lines either
   * way, so searches read as many lines. */
  vs->stride = (dim + 3) & ~(size_t)3;
  vs->chunks = calloc(INITIAL_CHUNK_PTRS, sizeof *vs->chunks);
  if (!vs->chunks)
    return -1;
  vs->n_chunk_ptrs = INITIAL_CHUNK_PTRS;
  return 0;
}

void strata_vs_destroy(strata_vector_store *vs) {
  /* Chunks can be sparse (strata_vs_add_at), so visit every entry. */
  for (size_t i = 0; vs->chunks && i < vs->n_chunk_ptrs; i++)
    free(vs->chunks[i]);
  free(vs->chunks);
  free(vs->live);
  free(vs->free_slots);
  memset(vs, 0, sizeof *vs);
}

/* Doubles the chunk table until it has an entry for `chunk`. */
static int ensure_chunk_ptr(strata_vector_store *vs, size_t chunk) {
  if (chunk < vs->n_chunk_ptrs)
    return 0;
  size_t n = vs->n_chunk_ptrs ? vs->n_chunk_ptrs : INITIAL_CHUNK_PTRS;
  while (n <= chunk)
    n *= 2;
  float **table = realloc(vs->chunks, n * sizeof *table);
  if (!table)
    return -1;
  memset(table + vs->n_chunk_ptrs, 0,
         (n - vs->n_chunk_ptrs) * sizeof *table);
  vs->chunks = table;
  vs->n_chunk_ptrs = n;
  return 0;
}

static int ensure_chunk(strata_vector_store *vs, size_t chunk) {
  if (ensure_chunk_ptr(vs, chunk) != 0)
    return -1;
  if (vs->chunks[chunk])
    return 0;
  size_t bytes = STRATA_VS_CHUNK * vs->stride * sizeof(float);
  void *mem = NULL;
  if (posix_memalign(&mem, 64, bytes) != 0)
    return -1;
  memset(mem, 0, bytes);
  vs->chunks[chunk] = mem;
  return 0;
}

/* Makes the live bitmap cover slots [0, n_slots). */
static int ensure_live_bits(strata_vector_store *vs, size_t n_slots) {
  size_t words_needed = (n_slots + 63) >> 6;
  if (words_needed <= vs->live_words)
    return 0;
  size_t words = vs->live_words ? vs->live_words : 64;
  while (words < words_needed)
    words *= 2;
  uint64_t *live = realloc(vs->live, words * sizeof *live);
  if (!live)
    return -1;
  memset(live + vs->live_words, 0, (words - vs->live_words) * sizeof *live);
  vs->live = live;
  vs->live_words = words;
  return 0;
}

int strata_vs_reserve(strata_vector_store *vs, size_t extra) {
  size_t from_free = extra < vs->n_free ? extra : vs->n_free;
  size_t target = vs->n_slots + (extra - from_free);
  if (target > STRATA_VS_MAX_SLOTS)
    return -1;
  /* A freed slot can lie in a chunk that was never allocated, when
   * strata_vs_collect_free listed the gaps strata_vs_add_at left. */
  for (size_t i = vs->n_free - from_free; i < vs->n_free; i++)
    if (ensure_chunk(vs, vs->free_slots[i] >> STRATA_VS_CHUNK_SHIFT) != 0)
      return -1;
  if (target == vs->n_slots)
    return 0;
  size_t first = vs->n_slots >> STRATA_VS_CHUNK_SHIFT;
  size_t last = (target - 1) >> STRATA_VS_CHUNK_SHIFT;
  for (size_t chunk = first; chunk <= last; chunk++)
    if (ensure_chunk(vs, chunk) != 0)
      return -1;
  if (ensure_live_bits(vs, target) != 0)
    return -1;
  /* Make sure a later remove can push every new slot without failing. */
  if (vs->free_cap < target) {
    uint32_t *stack = realloc(vs->free_slots, target * sizeof *stack);
    if (!stack)
      return -1;
    vs->free_slots = stack;
    vs->free_cap = target;
  }
  return 0;
}

int64_t strata_vs_add(strata_vector_store *vs, const float *vec) {
  size_t slot;
  if (vs->n_free > 0) {
    slot = vs->free_slots[vs->n_free - 1];
    if (ensure_chunk(vs, slot >> STRATA_VS_CHUNK_SHIFT) != 0)
      return -1;
    vs->n_free--;
  } else {
    slot = vs->n_slots;
    if (slot >= STRATA_VS_MAX_SLOTS ||
        ensure_chunk(vs, slot >> STRATA_VS_CHUNK_SHIFT) != 0 ||
        ensure_live_bits(vs, slot + 1) != 0)
      return -1;
    vs->n_slots++;
  }
  memcpy(strata_vs_vector(vs, slot), vec, vs->dim * sizeof(float));
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

int strata_vs_add_at(strata_vector_store *vs, uint32_t slot, const float *vec) {
  if (slot >= STRATA_VS_MAX_SLOTS || strata_vs_is_live(vs, slot))
    return -1;
  if (ensure_chunk(vs, slot >> STRATA_VS_CHUNK_SHIFT) != 0 ||
      ensure_live_bits(vs, (size_t)slot + 1) != 0)
    return -1;
  if (slot >= vs->n_slots)
    vs->n_slots = (size_t)slot + 1;
  memcpy(strata_vs_vector(vs, slot), vec, vs->dim * sizeof(float));
  vs->live[slot >> 6] |= (uint64_t)1 << (slot & 63);
  vs->n_live++;
  return 0;
}

int strata_vs_collect_free(strata_vector_store *vs) {
  size_t n_dead = vs->n_slots - vs->n_live;
  if (n_dead > vs->free_cap) {
    uint32_t *stack = realloc(vs->free_slots, n_dead * sizeof *stack);
    if (!stack)
      return -1;
    vs->free_slots = stack;
    vs->free_cap = n_dead;
  }
  /* Highest first onto the stack, so the lowest free slot is reused
   * first. */
  vs->n_free = 0;
  for (size_t slot = vs->n_slots; slot-- > 0;)
    if (!strata_vs_is_live(vs, slot))
      vs->free_slots[vs->n_free++] = (uint32_t)slot;
  return 0;
}

int strata_vs_grow_to(strata_vector_store *vs, size_t n_slots) {
  if (n_slots <= vs->n_slots)
    return 0;
  if (n_slots > STRATA_VS_MAX_SLOTS)
    return -1;
  size_t first = vs->n_slots >> STRATA_VS_CHUNK_SHIFT;
  size_t last = (n_slots - 1) >> STRATA_VS_CHUNK_SHIFT;
  for (size_t chunk = first; chunk <= last; chunk++)
    if (ensure_chunk(vs, chunk) != 0)
      return -1;
  if (ensure_live_bits(vs, n_slots) != 0)
    return -1;
  vs->n_slots = n_slots;
  return 0;
}
