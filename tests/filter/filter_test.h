/* Assertions for the filter tests: a failure prints where and what, and
 * the test exits non-zero at the end (return test_result()). */
#ifndef STRATA_TESTS_FILTER_TEST_H
#define STRATA_TESTS_FILTER_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

static int test_failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      test_failures++;                                                         \
    }                                                                          \
  } while (0)

#define CHECK_MSG(cond, ...)                                                   \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      test_failures++;                                                         \
    }                                                                          \
  } while (0)

#define REQUIRE(cond)                                                          \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s (%s)\n", __FILE__, __LINE__,  \
              #cond, strata_last_error());                                     \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

static inline int test_result(void) {
  if (test_failures)
    fprintf(stderr, "%d check(s) failed\n", test_failures);
  return test_failures ? 1 : 0;
}

#endif
