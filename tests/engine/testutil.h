/* Small helpers shared by the engine tests. */
#ifndef STRATA_TESTS_TESTUTIL_H
#define STRATA_TESTS_TESTUTIL_H

#include <stdint.h>

/* Creates a fresh directory under $STRATA_TEST_TMP (or /tmp) and returns
 * its malloc'd path. */
char *test_make_dir(const char *tag);

/* Removes a directory tree. */
void test_remove_dir(const char *path);

/* A deterministic xorshift generator: uniform in [0, 1). */
float test_random_float(uint64_t *state);
uint64_t test_random_u64(uint64_t *state);

#endif
