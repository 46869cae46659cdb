/*
 * Slot-addressed storage of fixed-dimension float32 vectors in memory.
 *
 * Vectors live in chunks of STRATA_VS_CHUNK slots that are never moved or
 * freed until the store is destroyed, so a pointer returned by
 * strata_vs_vector() stays valid while other slots are added.  The table
 * of chunk pointers starts small and doubles when the slots outgrow it.
 * Growing moves the table, never a chunk.
 *
 * A slot is either live (holds a point's vector) or free.  Freed slots are
 * reused, the most recently freed first, before the store grows.
 *
 * Concurrency: the store does no locking.  The engine calls the mutating
 * functions under its writer lock, with readers excluded.
 */
#ifndef STRATA_INDEX_VECTOR_STORE_H
#define STRATA_INDEX_VECTOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STRATA_VS_CHUNK_SHIFT 12
#define STRATA_VS_CHUNK ((size_t)1 << STRATA_VS_CHUNK_SHIFT)
#define STRATA_VS_MAX_SLOTS ((size_t)1 << 31)

typedef struct strata_vector_store {
  size_t dim;
  size_t stride;       /* floats between consecutive vectors: dim rounded
                          up to a multiple of 4, the padding zero */
  size_t n_slots;      /* high-water mark: slots [0, n_slots) exist */
  size_t n_live;       /* live slots */
  float **chunks;      /* n_chunk_ptrs entries, NULL where not allocated */
  size_t n_chunk_ptrs; /* length of `chunks` */
  uint64_t *live;      /* bit per slot, grown with n_slots */
  size_t live_words;   /* allocated words of `live` */
  uint32_t *free_slots; /* stack of freed slots */
  size_t n_free, free_cap;
} strata_vector_store;

/* Initialises an empty store.  Returns 0, or -1 when out of memory. */
int strata_vs_init(strata_vector_store *vs, size_t dim);
void strata_vs_destroy(strata_vector_store *vs);

/* Takes a free slot (a freed one first), copies `vec` into it and marks it
 * live.  Returns the slot, or -1 when out of memory or full. */
int64_t strata_vs_add(strata_vector_store *vs, const float *vec);

/* Allocates ahead so that `extra` more strata_vs_add() calls, and
 * removes of those slots, cannot fail.  Returns 0, or -1 when out of
 * memory or when the store would exceed STRATA_VS_MAX_SLOTS. */
int strata_vs_reserve(strata_vector_store *vs, size_t extra);

/* Stores `vec` in a given slot, which must be free and not on the free
 * list: loading uses it to put vectors back where an index file expects
 * them.  Slots skipped below it stay free but are not reusable until
 * strata_vs_collect_free() runs.  Returns 0, or -1 when the slot is live,
 * too large, or memory runs out. */
int strata_vs_add_at(strata_vector_store *vs, uint32_t slot, const float *vec);

/* Raises the high-water mark to `n_slots` (no-op when it is already that
 * high); the new slots are free.  Loading uses it to give the store the
 * same slot range as when an index file was saved.  Returns 0, or -1
 * when out of memory or above STRATA_VS_MAX_SLOTS. */
int strata_vs_grow_to(strata_vector_store *vs, size_t n_slots);

/* Puts every free slot below the high-water mark on the free list, after
 * a series of strata_vs_add_at() calls.  Returns 0, or -1 when out of
 * memory. */
int strata_vs_collect_free(strata_vector_store *vs);

/* Overwrites the vector of a live slot. */
void strata_vs_set(strata_vector_store *vs, uint32_t slot, const float *vec);

/* Marks a live slot free; its vector bytes stay until reused. */
void strata_vs_remove(strata_vector_store *vs, uint32_t slot);

static inline bool strata_vs_is_live(const strata_vector_store *vs,
                                     size_t slot) {
  return slot < vs->n_slots && ((vs->live[slot >> 6] >> (slot & 63)) & 1);
}

static inline float *strata_vs_vector(const strata_vector_store *vs,
                                      size_t slot) {
  return vs->chunks[slot >> STRATA_VS_CHUNK_SHIFT] +
         (slot & (STRATA_VS_CHUNK - 1)) * vs->stride;
}

#endif
