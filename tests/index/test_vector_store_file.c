/*
 * Checks the vector store in file mode (strata_vs_init_file) against the
 * heap store: the same operations leave the same rows, chunk by chunk,
 * across several chunks, with removes, reuse, strata_vs_set,
 * strata_vs_add_at far beyond the high-water mark and strata_vs_grow_to.
 * The file is unnamed, so the directory stays empty.  A missing directory
 * or a path that is not a directory fails at init with a message naming
 * it.  A file that cannot grow fails add and reserve with a message
 * instead of a SIGBUS; RLIMIT_FSIZE stands in for a full disk.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index_check.h"
#include "vector_rows.h"
#include "vector_store.h"

static char tmp_dir[4096];

/* Entries of `dir` other than "." and "..", or -1 when it cannot be
 * read. */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

/* Compares every slot of two stores: liveness, and for live slots the
 * whole row including its zero padding. */
static void check_same_rows(const strata_vector_store *heap,
                            const strata_vector_store *file,
                            const char *step) {
  CHECK(heap->n_slots == file->n_slots, "%s: n_slots %zu on the heap, %zu "
        "in the file", step, heap->n_slots, file->n_slots);
  CHECK(heap->n_live == file->n_live, "%s: n_live %zu on the heap, %zu in "
        "the file", step, heap->n_live, file->n_live);
  size_t n = heap->n_slots < file->n_slots ? heap->n_slots : file->n_slots;
  for (size_t slot = 0; slot < n; slot++) {
    int live = strata_vs_is_live(heap, slot);
    if (live != strata_vs_is_live(file, slot)) {
      CHECK(0, "%s: slot %zu live on one store only", step, slot);
      return;
    }
    if (live && memcmp(strata_vs_vector(heap, slot),
                       strata_vs_vector(file, slot),
                       heap->stride * sizeof(float)) != 0) {
      CHECK(0, "%s: slot %zu differs", step, slot);
      return;
    }
  }
}

/* Runs one operation on both stores and checks they return the same. */
static void add_both(strata_vector_store *heap, strata_vector_store *file,
                     size_t id) {
  float vec[DIM];
  make_row(vec, id);
  int64_t a = strata_vs_add(heap, vec);
  int64_t b = strata_vs_add(file, vec);
  CHECK(a == b, "add of row %zu: slot %lld on the heap, %lld in the file", id,
        (long long)a, (long long)b);
  CHECK(b >= 0, "add of row %zu failed: %s", id, strata_vs_error(file));
}

static void test_same_as_heap(void) {
  strata_vector_store heap, file;
  CHECK(strata_vs_init(&heap, DIM) == 0, "heap init");
  CHECK(strata_vs_init_file(&file, DIM, tmp_dir) == 0, "file init: %s",
        strata_vs_error(&file));
  CHECK(file.fd >= 0, "file mode has no descriptor");
  CHECK(count_entries(tmp_dir) == 0, "%d entries in %s after init",
        count_entries(tmp_dir), tmp_dir);

  /* Three full chunks and part of a fourth. */
  size_t n = 3 * STRATA_VS_CHUNK + 100;
  CHECK(strata_vs_reserve(&file, 10) == 0, "reserve: %s",
        strata_vs_error(&file));
  for (size_t i = 0; i < n; i++)
    add_both(&heap, &file, i);
  check_same_rows(&heap, &file, "after adds");
  CHECK(row_matches(&file, n - 1, n - 1), "last row wrong in the file");
  for (size_t i = 0; i < n; i++) {
    if (!row_matches(&file, i, i)) {
      CHECK(0, "row %zu wrong in the file", i);
      break;
    }
  }

  /* Remove across chunks, overwrite, then reuse the freed slots. */
  size_t removed[] = {0, 5, STRATA_VS_CHUNK, 2 * STRATA_VS_CHUNK + 7, n - 1};
  for (size_t i = 0; i < sizeof removed / sizeof *removed; i++) {
    strata_vs_remove(&heap, (uint32_t)removed[i]);
    strata_vs_remove(&file, (uint32_t)removed[i]);
    CHECK(!strata_vs_is_live(&file, removed[i]), "slot %zu still live",
          removed[i]);
  }
  float vec[DIM];
  make_row(vec, 777777);
  strata_vs_set(&heap, 9, vec);
  strata_vs_set(&file, 9, vec);
  CHECK(row_matches(&file, 9, 777777), "set did not change slot 9");
  check_same_rows(&heap, &file, "after removes and set");
  CHECK(file.n_live == n - 5, "n_live %zu, expected %zu", file.n_live, n - 5);

  for (size_t i = 0; i < 5; i++)
    add_both(&heap, &file, 1000000 + i);
  CHECK(file.n_slots == n, "freed slots not reused: n_slots %zu, expected %zu",
        file.n_slots, n);
  check_same_rows(&heap, &file, "after reuse");

  /* Grow into a fifth chunk. */
  for (size_t i = 0; i < STRATA_VS_CHUNK; i++)
    add_both(&heap, &file, 2000000 + i);
  check_same_rows(&heap, &file, "after growing");

  strata_vs_file_usage usage;
  CHECK(strata_vs_file_usage_get(&file, &usage) == 0, "usage: %s",
        strata_vs_error(&file));
  size_t chunk_bytes = STRATA_VS_CHUNK * file.stride * sizeof(float);
  size_t chunks = (file.n_slots + STRATA_VS_CHUNK - 1) / STRATA_VS_CHUNK;
  CHECK(usage.file_size == chunks * chunk_bytes, "file size %llu, expected "
        "%zu", (unsigned long long)usage.file_size, chunks * chunk_bytes);
  CHECK(usage.allocated >= chunks * chunk_bytes, "%llu bytes allocated for "
        "%zu chunks of %zu", (unsigned long long)usage.allocated, chunks,
        chunk_bytes);
  CHECK(usage.mapped == chunks * chunk_bytes, "%llu bytes mapped, expected "
        "%zu", (unsigned long long)usage.mapped, chunks * chunk_bytes);
  /* Every page was just written, so some of them are in the page cache.
   * The kernel may have evicted others. */
  CHECK(usage.resident > 0, "no byte of %llu mapped is resident",
        (unsigned long long)usage.mapped);
  CHECK(usage.resident <= usage.mapped, "%llu bytes resident of %llu mapped",
        (unsigned long long)usage.resident, (unsigned long long)usage.mapped);
  CHECK(count_entries(tmp_dir) == 0, "%d entries in %s with a full store",
        count_entries(tmp_dir), tmp_dir);

  /* Evicting the page cache keeps every row: they come back from disk. */
  CHECK(strata_vs_file_evict(&file) == 0, "evict: %s", strata_vs_error(&file));
  check_same_rows(&heap, &file, "after evicting the page cache");
  CHECK(strata_vs_file_evict(&heap) != 0, "evict on the heap succeeded");

  strata_vs_file_usage heap_usage;
  CHECK(strata_vs_file_usage_get(&heap, &heap_usage) != 0,
        "file usage of a heap store succeeded");
  CHECK(strata_vs_error(&heap)[0] != '\0', "no message for the heap store");

  strata_vs_destroy(&heap);
  strata_vs_destroy(&file);
  CHECK(file.fd == -1, "fd %d after destroy", file.fd);
}

static void test_add_at_sparse_file(void) {
  strata_vector_store vs;
  CHECK(strata_vs_init_file(&vs, DIM, tmp_dir) == 0, "init: %s",
        strata_vs_error(&vs));
  float vec[DIM];
  uint32_t far = (uint32_t)(200 * STRATA_VS_CHUNK + 5);
  make_row(vec, 7);
  CHECK(strata_vs_add_at(&vs, far, vec) == 0, "add_at %u: %s", far,
        strata_vs_error(&vs));
  make_row(vec, 8);
  CHECK(strata_vs_add_at(&vs, 2 * STRATA_VS_CHUNK, vec) == 0, "add_at low");
  CHECK(strata_vs_add_at(&vs, far, vec) != 0, "add_at of a live slot");
  CHECK(row_matches(&vs, far, 7), "far row wrong");
  CHECK(row_matches(&vs, 2 * STRATA_VS_CHUNK, 8), "low row wrong");

  /* Only the two chunks written have disk blocks; the gap is a hole. */
  strata_vs_file_usage usage;
  size_t chunk_bytes = STRATA_VS_CHUNK * vs.stride * sizeof(float);
  CHECK(strata_vs_file_usage_get(&vs, &usage) == 0, "usage: %s",
        strata_vs_error(&vs));
  CHECK(usage.file_size == 201 * (uint64_t)chunk_bytes, "file size %llu",
        (unsigned long long)usage.file_size);
  CHECK(usage.mapped == 2 * (uint64_t)chunk_bytes, "%llu bytes mapped",
        (unsigned long long)usage.mapped);
  CHECK(usage.allocated < 10 * (uint64_t)chunk_bytes,
        "%llu bytes allocated for 2 chunks of %zu: the gap is not a hole",
        (unsigned long long)usage.allocated, chunk_bytes);

  CHECK(strata_vs_grow_to(&vs, (size_t)far + 2 * STRATA_VS_CHUNK) == 0,
        "grow_to: %s", strata_vs_error(&vs));
  CHECK(strata_vs_collect_free(&vs) == 0, "collect_free");
  /* Slot 0 lies in a chunk never mapped; reserve maps it first. */
  CHECK(strata_vs_reserve(&vs, 1) == 0, "reserve: %s", strata_vs_error(&vs));
  make_row(vec, 9);
  CHECK(strata_vs_add(&vs, vec) == 0, "add after collect_free");
  CHECK(row_matches(&vs, 0, 9), "row 0 wrong");
  /* The rest of a new chunk reads as zeros, as on the heap. */
  const float *row = strata_vs_vector(&vs, 1);
  for (size_t i = 0; i < vs.stride; i++)
    CHECK(row[i] == 0.0f, "slot 1 float %zu is %g", i, (double)row[i]);
  strata_vs_destroy(&vs);
}

/* Checks that init in `dir` fails, names it and leaves nothing. */
static void check_init_fails(const char *dir, const char *reason) {
  strata_vector_store vs;
  CHECK(strata_vs_init_file(&vs, DIM, dir) != 0, "init in %s (%s) succeeded",
        dir, reason);
  const char *message = strata_vs_error(&vs);
  CHECK(strstr(message, dir) != NULL, "message \"%s\" does not name %s",
        message, dir);
  CHECK(strstr(message, reason) != NULL, "message \"%s\" lacks \"%s\"",
        message, reason);
  CHECK(vs.file_failed, "%s: not marked as a file failure", dir);
  CHECK(vs.chunks == NULL, "%s: chunks left allocated", dir);
  CHECK(vs.fd == -1, "%s: fd %d left open", dir, vs.fd);
  strata_vs_destroy(&vs);
}

static void test_bad_directory(void) {
  char missing[4200];
  snprintf(missing, sizeof missing, "%s/missing", tmp_dir);
  check_init_fails(missing, strerror(ENOENT));

  char regular[4200];
  snprintf(regular, sizeof regular, "%s/regular", tmp_dir);
  FILE *f = fopen(regular, "w");
  CHECK(f != NULL, "cannot create %s", regular);
  if (f)
    fclose(f);
  check_init_fails(regular, strerror(ENOTDIR));
  unlink(regular);

  /* Permission bits do not stop root, so this case needs another user. */
  if (geteuid() != 0) {
    char locked[4200];
    snprintf(locked, sizeof locked, "%s/locked", tmp_dir);
    CHECK(mkdir(locked, 0500) == 0, "mkdir %s", locked);
    check_init_fails(locked, strerror(EACCES));
    rmdir(locked);
  }
}

/* RLIMIT_FSIZE makes posix_fallocate fail with EFBIG past the limit, as
 * a full disk fails with ENOSPC: the store must report it and stay
 * usable, not map blocks that a later write cannot fill. */
static void test_file_cannot_grow(void) {
  strata_vector_store vs;
  CHECK(strata_vs_init_file(&vs, DIM, tmp_dir) == 0, "init: %s",
        strata_vs_error(&vs));
  float vec[DIM];
  for (size_t i = 0; i < STRATA_VS_CHUNK; i++) {
    make_row(vec, i);
    CHECK(strata_vs_add(&vs, vec) == (int64_t)i, "add %zu", i);
  }
  size_t chunk_bytes = STRATA_VS_CHUNK * vs.stride * sizeof(float);

  struct rlimit old_limit, limit;
  CHECK(getrlimit(RLIMIT_FSIZE, &old_limit) == 0, "getrlimit");
  limit = old_limit;
  limit.rlim_cur = chunk_bytes;
  /* The kernel sends SIGXFSZ with EFBIG; its default action kills. */
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit");

  CHECK(strata_vs_reserve(&vs, 1) != 0, "reserve past the limit succeeded");
  const char *message = strata_vs_error(&vs);
  CHECK(strstr(message, tmp_dir) != NULL, "message \"%s\" does not name %s",
        message, tmp_dir);
  CHECK(strstr(message, strerror(EFBIG)) != NULL, "message \"%s\" lacks the "
        "system error", message);
  CHECK(vs.file_failed, "not marked as a file failure");
  make_row(vec, 99);
  CHECK(strata_vs_add(&vs, vec) == -1, "add past the limit succeeded");
  CHECK(vs.n_slots == STRATA_VS_CHUNK, "n_slots %zu after failed adds",
        vs.n_slots);
  CHECK(vs.n_live == STRATA_VS_CHUNK, "n_live %zu after failed adds",
        vs.n_live);

  CHECK(setrlimit(RLIMIT_FSIZE, &old_limit) == 0, "restore the limit");
  signal(SIGXFSZ, old_handler);

  /* With room again the store grows, and the old rows are intact. */
  CHECK(strata_vs_add(&vs, vec) == (int64_t)STRATA_VS_CHUNK, "add: %s",
        strata_vs_error(&vs));
  CHECK(row_matches(&vs, STRATA_VS_CHUNK, 99), "new row wrong");
  for (size_t i = 0; i < STRATA_VS_CHUNK; i++) {
    if (!row_matches(&vs, i, i)) {
      CHECK(0, "row %zu changed", i);
      break;
    }
  }
  strata_vs_destroy(&vs);
}

int main(void) {
  const char *base = getenv("STRATA_TEST_TMP");
  snprintf(tmp_dir, sizeof tmp_dir, "%s/strata-vsfile-XXXXXX",
           base && *base ? base : "/tmp");
  if (!mkdtemp(tmp_dir)) {
    perror(tmp_dir);
    return 1;
  }
  test_same_as_heap();
  test_add_at_sparse_file();
  test_bad_directory();
  test_file_cannot_grow();
  CHECK(count_entries(tmp_dir) == 0, "%d entries left in %s",
        count_entries(tmp_dir), tmp_dir);
  rmdir(tmp_dir);
  if (failures) {
    fprintf(stderr, "test_vector_store_file: %d check(s) failed\n", failures);
    return 1;
  }
  printf("test_vector_store_file: all checks passed\n");
  return 0;
}
