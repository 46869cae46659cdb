/* Assertions for tests: each failure prints the file, line, the failed
 * condition and a message, and the test exits non-zero at the end. */
#ifndef STRATA_TESTS_CHECK_H
#define STRATA_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "strata.h"

static int check_failures;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
              #cond);                                                     \
      check_failures++;                                                   \
    }                                                                     \
  } while (0)

/* Checks that a Strata call returned `expected`, printing the message of
 * the error when it did not. */
#define CHECK_STATUS(call, expected)                                      \
  do {                                                                    \
    strata_status check_st_ = (call);                                     \
    if (check_st_ != (expected)) {                                        \
      fprintf(stderr, "%s:%d: %s returned %s (%s), expected %s\n",        \
              __FILE__, __LINE__, #call, strata_strerror(check_st_),      \
              strata_last_error(), strata_strerror(expected));            \
      check_failures++;                                                   \
    }                                                                     \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, STRATA_OK)

/* Stops the test at once when a precondition for the rest fails. */
#define REQUIRE(cond)                                                     \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s (%s)\n", __FILE__,       \
              __LINE__, #cond, strata_last_error());                      \
      exit(1);                                                            \
    }                                                                     \
  } while (0)

static inline int check_finish(const char *name) {
  if (check_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

#endif
