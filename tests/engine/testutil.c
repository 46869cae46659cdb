#define _GNU_SOURCE
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *test_make_dir(const char *tag) {
  const char *base = getenv("STRATA_TEST_TMP");
  if (!base || !*base)
    base = "/tmp";
  char *path = NULL;
  if (asprintf(&path, "%s/strata-%s-XXXXXX", base, tag) < 0)
    abort();
  if (!mkdtemp(path)) {
    perror(path);
    abort();
  }
  return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  return remove(path);
}

void test_remove_dir(const char *path) {
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t test_random_u64(uint64_t *state) {
  uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}

float test_random_float(uint64_t *state) {
  return (float)(test_random_u64(state) >> 40) / (float)(1 << 24);
}
