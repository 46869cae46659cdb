/*
 * Slot-addressed storage of fixed-dimension float32 vectors, on the heap
 * or in a memory-mapped file.
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
 * File mode (strata_vs_init_file) keeps the rows in a file instead of on
 * the heap, so the kernel can evict them from the page cache and read them
 * back on access.  The file has the same chunk layout: chunk i occupies
 * bytes [i * chunk_bytes, (i + 1) * chunk_bytes) and is mapped MAP_SHARED
 * when first needed, so strata_vs_vector() reads both modes alike.  Each
 * chunk's disk blocks are allocated (posix_fallocate) before it is
 * mapped: a full disk makes add or reserve fail, rather than raise
 * SIGBUS on a later write through the mapping (except on copy-on-write
 * file systems such as btrfs, where an overwrite needs new blocks).
 *
 * The file is a cache that one store owns: the caller keeps the durable
 * copy of every vector and refills a new store from it.  It is created
 * unnamed (O_TMPFILE, or mkstemp and an immediate unlink where the file
 * system lacks O_TMPFILE), so two stores, or two processes opening one
 * data directory, never share or truncate each other's file, and a crash
 * leaves nothing behind.  Its disk space is freed when the store is
 * destroyed.  The rows are not written back with msync: nothing reads
 * the file after the store is gone.
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
  int fd;              /* backing file in file mode, -1 on the heap */
  char *dir;           /* directory of the backing file, NULL on the heap */
  char error[320];     /* message of the last failure, "" when none */
  bool file_failed;    /* the last failure was a file operation */
} strata_vector_store;

/* Initialises an empty store on the heap.  Returns 0, or -1 when out of
 * memory. */
int strata_vs_init(strata_vector_store *vs, size_t dim);

/* Initialises an empty store whose rows live in a new unnamed file in
 * directory `dir`, which must exist and be writable.  Returns 0, or -1
 * when the file cannot be created or memory runs out; vs->error then
 * names the directory and the system error, and the store contains nothing
 * (strata_vs_destroy() is allowed but not needed). */
int strata_vs_init_file(strata_vector_store *vs, size_t dim, const char *dir);

/* Frees the chunks, or unmaps them and closes the file, which frees its
 * disk space. */
void strata_vs_destroy(strata_vector_store *vs);

/* Message of the last failed call on `vs`: out of memory, the slot
 * limit, or, in file mode, the file operation, directory and errno text
 * (vs->file_failed is then true).  "" when no call failed. */
const char *strata_vs_error(const strata_vector_store *vs);

/* Disk and page-cache use of a file-mode store. */
typedef struct strata_vs_file_usage {
  uint64_t file_size; /* the file's length, holes included */
  uint64_t allocated; /* bytes of disk blocks allocated (st_blocks) */
  uint64_t mapped;    /* bytes of the chunks mapped */
  uint64_t resident;  /* of them, bytes in the page cache (mincore);
                         the kernel may evict these at any time */
} strata_vs_file_usage;

/* Fills `out` for a file-mode store.  Returns 0, or -1 on the heap or
 * when fstat or mincore fails (vs->error names the call). */
int strata_vs_file_usage_get(strata_vector_store *vs,
                             strata_vs_file_usage *out);

/* Writes the dirty rows of a file-mode store back to the file, then
 * advises the kernel to drop the file's pages from the page cache, so
 * that the next reads fault them in from disk.  Benchmarks use it to measure what
 * a search reads from a cold cache.  The rows are unchanged.  Returns 0,
 * or -1 on the heap or when msync, madvise or posix_fadvise fails.  The
 * kernel may keep some pages (posix_fadvise is advice). */
int strata_vs_file_evict(strata_vector_store *vs);

/* Takes a free slot (a freed one first), copies `vec` into it and marks it
 * live.  Returns the slot, or -1 when out of memory, full, or (file mode)
 * the file cannot grow. */
int64_t strata_vs_add(strata_vector_store *vs, const float *vec);

/* Allocates ahead so that `extra` more strata_vs_add() calls, and
 * removes of those slots, cannot fail.  Returns 0, or -1 when out of
 * memory, when the store would exceed STRATA_VS_MAX_SLOTS, or (file mode)
 * when the file cannot grow, for example on a full disk. */
int strata_vs_reserve(strata_vector_store *vs, size_t extra);

/* Stores `vec` in a given slot, which must be free and not on the free
 * list: loading uses it to put vectors back where an index file expects
 * them.  Slots skipped below it stay free but are not reusable until
 * strata_vs_collect_free() runs.  Returns 0, or -1 when the slot is live,
 * too large, or memory (file mode: the file) cannot grow. */
int strata_vs_add_at(strata_vector_store *vs, uint32_t slot, const float *vec);

/* Raises the high-water mark to `n_slots` (no-op when it is already that
 * high); the new slots are free.  Loading uses it to give the store the
 * same slot range as when an index file was saved.  Returns 0, or -1
 * when memory (file mode: the file) cannot grow or above
 * STRATA_VS_MAX_SLOTS. */
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
