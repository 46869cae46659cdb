#define _GNU_SOURCE /* O_TMPFILE */
#include "vector_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Chunk pointers a new store's table has room for. */
#define INITIAL_CHUNK_PTRS 4

static void format_error(strata_vector_store *vs, bool file_failed,
                         const char *fmt, va_list ap) {
  vsnprintf(vs->error, sizeof vs->error, fmt, ap);
  vs->file_failed = file_failed;
}

static void set_error(strata_vector_store *vs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_file_error(strata_vector_store *vs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(strata_vector_store *vs, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_error(vs, false, fmt, ap);
  va_end(ap);
}

static void set_file_error(strata_vector_store *vs, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format_error(vs, true, fmt, ap);
  va_end(ap);
}

const char *strata_vs_error(const strata_vector_store *vs) { return vs->error; }

static size_t chunk_bytes(const strata_vector_store *vs) {
  return STRATA_VS_CHUNK * vs->stride * sizeof(float);
}

int strata_vs_init(strata_vector_store *vs, size_t dim) {
  memset(vs, 0, sizeof *vs);
  vs->fd = -1;
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

/* Creates an unnamed file in `dir`: O_TMPFILE where the file system has
 * it, else a named file that is unlinked at once.  Returns the
 * descriptor, or -1 with errno set. */
static int create_unnamed_file(const char *dir) {
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  /* Kernels before 3.11 report EISDIR, file systems without support
   * EOPNOTSUPP. */
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
    return fd;
  char *name = NULL;
  if (asprintf(&name, "%s/vectors.XXXXXX", dir) < 0) {
    errno = ENOMEM;
    return -1;
  }
  fd = mkostemp(name, O_CLOEXEC);
  if (fd >= 0 && unlink(name) != 0) {
    int saved = errno;
    close(fd);
    fd = -1;
    errno = saved;
  }
  free(name);
  return fd;
}

int strata_vs_init_file(strata_vector_store *vs, size_t dim, const char *dir) {
  if (strata_vs_init(vs, dim) != 0) {
    set_error(vs, "out of memory creating a vector store");
    return -1;
  }
  vs->dir = strdup(dir);
  if (!vs->dir) {
    strata_vs_destroy(vs);
    set_error(vs, "out of memory creating a vector store");
    return -1;
  }
  vs->fd = create_unnamed_file(dir);
  if (vs->fd < 0) {
    int err = errno;
    strata_vs_destroy(vs);
    set_file_error(vs, "cannot create the vector file in directory %s: %s", dir,
                   strerror(err));
    return -1;
  }
  return 0;
}

void strata_vs_destroy(strata_vector_store *vs) {
  /* Chunks can be sparse (strata_vs_add_at), so visit every entry. */
  for (size_t i = 0; vs->chunks && i < vs->n_chunk_ptrs; i++) {
    if (vs->fd < 0)
      free(vs->chunks[i]);
    else if (vs->chunks[i])
      munmap(vs->chunks[i], chunk_bytes(vs));
  }
  /* The file has no name, so closing it frees its blocks. */
  if (vs->fd >= 0)
    close(vs->fd);
  free(vs->dir);
  free(vs->chunks);
  free(vs->live);
  free(vs->free_slots);
  memset(vs, 0, sizeof *vs);
  vs->fd = -1;
}

/* Doubles the chunk table until it has an entry for `chunk`. */
static int ensure_chunk_ptr(strata_vector_store *vs, size_t chunk) {
  if (chunk < vs->n_chunk_ptrs)
    return 0;
  size_t n = vs->n_chunk_ptrs ? vs->n_chunk_ptrs : INITIAL_CHUNK_PTRS;
  while (n <= chunk)
    n *= 2;
  float **table = realloc(vs->chunks, n * sizeof *table);
  if (!table) {
    set_error(vs, "out of memory growing the chunk table to %zu entries", n);
    return -1;
  }
  memset(table + vs->n_chunk_ptrs, 0,
         (n - vs->n_chunk_ptrs) * sizeof *table);
  vs->chunks = table;
  vs->n_chunk_ptrs = n;
  return 0;
}

/* Allocates disk blocks for `chunk` in the file and maps them.  The new
 * bytes read as zero, like a heap chunk. */
static void *map_chunk(strata_vector_store *vs, size_t chunk) {
  size_t bytes = chunk_bytes(vs);
  off_t offset = (off_t)(chunk * bytes);
  /* posix_fallocate returns the error number instead of setting errno.
   * NOTE: on copy-on-write file systems (btrfs without nodatacow) an
   * overwrite can need new blocks, so a full disk may still raise SIGBUS
   * there.  Only ext4 was tested.  xfs and tmpfs are expected to write
   * into the allocated blocks as it does. */
  int err = posix_fallocate(vs->fd, offset, (off_t)bytes);
  if (err != 0) {
    set_file_error(vs,
                   "cannot extend the vector file in directory %s to %llu "
                   "bytes: %s",
                   vs->dir, (unsigned long long)offset + bytes, strerror(err));
    return NULL;
  }
  void *mem =
      mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vs->fd, offset);
  if (mem == MAP_FAILED) {
    set_file_error(vs,
                   "cannot map %zu bytes of the vector file in directory "
                   "%s: %s",
                   bytes, vs->dir, strerror(errno));
    return NULL;
  }
  /* Once evicted, rows come back one by one (rescoring, graph walks),
   * so readahead would mostly read rows that no search requested. */
  madvise(mem, bytes, MADV_RANDOM);
  return mem;
}

static int ensure_chunk(strata_vector_store *vs, size_t chunk) {
  if (ensure_chunk_ptr(vs, chunk) != 0)
    return -1;
  if (vs->chunks[chunk])
    return 0;
  if (vs->fd >= 0) {
    vs->chunks[chunk] = map_chunk(vs, chunk);
    return vs->chunks[chunk] ? 0 : -1;
  }
  size_t bytes = chunk_bytes(vs);
  void *mem = NULL;
  if (posix_memalign(&mem, 64, bytes) != 0) {
    set_error(vs, "out of memory allocating a chunk of %zu bytes", bytes);
    return -1;
  }
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
  if (!live) {
    set_error(vs, "out of memory growing the live bitmap to %zu slots",
              words * 64);
    return -1;
  }
  memset(live + vs->live_words, 0, (words - vs->live_words) * sizeof *live);
  vs->live = live;
  vs->live_words = words;
  return 0;
}

int strata_vs_reserve(strata_vector_store *vs, size_t extra) {
  size_t from_free = extra < vs->n_free ? extra : vs->n_free;
  size_t target = vs->n_slots + (extra - from_free);
  if (target > STRATA_VS_MAX_SLOTS) {
    set_error(vs, "the store would need %zu slots; the maximum is %zu", target,
              STRATA_VS_MAX_SLOTS);
    return -1;
  }
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
    if (!stack) {
      set_error(vs, "out of memory growing the free list to %zu slots", target);
      return -1;
    }
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
    if (slot >= STRATA_VS_MAX_SLOTS) {
      set_error(vs, "the store is full: it holds the maximum of %zu slots",
                STRATA_VS_MAX_SLOTS);
      return -1;
    }
    if (ensure_chunk(vs, slot >> STRATA_VS_CHUNK_SHIFT) != 0 ||
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
  if (slot >= STRATA_VS_MAX_SLOTS || strata_vs_is_live(vs, slot)) {
    set_error(vs, "slot %u is live or beyond the maximum of %zu slots", slot,
              STRATA_VS_MAX_SLOTS);
    return -1;
  }
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
    if (!stack) {
      set_error(vs, "out of memory growing the free list to %zu slots", n_dead);
      return -1;
    }
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
  if (n_slots > STRATA_VS_MAX_SLOTS) {
    set_error(vs, "the store would need %zu slots; the maximum is %zu", n_slots,
              STRATA_VS_MAX_SLOTS);
    return -1;
  }
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

int strata_vs_file_usage_get(strata_vector_store *vs,
                             strata_vs_file_usage *out) {
  memset(out, 0, sizeof *out);
  if (vs->fd < 0) {
    set_error(vs, "the store keeps its vectors on the heap, not in a file");
    return -1;
  }
  struct stat st;
  if (fstat(vs->fd, &st) != 0) {
    set_file_error(vs, "cannot stat the vector file in directory %s: %s",
                   vs->dir, strerror(errno));
    return -1;
  }
  out->file_size = (uint64_t)st.st_size;
  out->allocated = (uint64_t)st.st_blocks * 512; /* POSIX unit of st_blocks */

  long page_size = sysconf(_SC_PAGESIZE);
  size_t bytes = chunk_bytes(vs);
  size_t pages = (bytes + (size_t)page_size - 1) / (size_t)page_size;
  unsigned char *in_core = malloc(pages);
  if (!in_core) {
    set_error(vs, "out of memory counting resident pages");
    return -1;
  }
  for (size_t i = 0; i < vs->n_chunk_ptrs; i++) {
    if (!vs->chunks[i])
      continue;
    if (mincore(vs->chunks[i], bytes, in_core) != 0) {
      set_file_error(vs,
                     "mincore on the vector file in directory %s failed: %s",
                     vs->dir, strerror(errno));
      free(in_core);
      return -1;
    }
    out->mapped += bytes;
    for (size_t p = 0; p < pages; p++)
      out->resident += (uint64_t)(in_core[p] & 1) * (uint64_t)page_size;
  }
  free(in_core);
  return 0;
}

int strata_vs_file_evict(strata_vector_store *vs) {
  if (vs->fd < 0) {
    set_error(vs, "the store keeps its vectors on the heap, not in a file");
    return -1;
  }
  size_t bytes = chunk_bytes(vs);
  for (size_t i = 0; i < vs->n_chunk_ptrs; i++) {
    if (!vs->chunks[i])
      continue;
    /* Clean pages first, because the page cache keeps dirty ones.  On a
     * MAP_SHARED file mapping, MADV_DONTNEED only unmaps: the next access
     * reads the file's current contents. */
    if (msync(vs->chunks[i], bytes, MS_SYNC) != 0 ||
        madvise(vs->chunks[i], bytes, MADV_DONTNEED) != 0) {
      set_file_error(vs,
                     "cannot write back the vector file in directory "
                     "%s: %s",
                     vs->dir, strerror(errno));
      return -1;
    }
  }
  int err = posix_fadvise(vs->fd, 0, 0, POSIX_FADV_DONTNEED);
  if (err != 0) {
    set_file_error(vs,
                   "posix_fadvise on the vector file in directory %s "
                   "failed: %s",
                   vs->dir, strerror(err));
    return -1;
  }
  return 0;
}
