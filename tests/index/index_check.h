/*
 * The check macro of the index tests.  A failed check prints the file,
 * line, condition and a printf-style message, counts the failure in
 * `failures`, and lets the test go on.  Each test returns non-zero when
 * `failures` is not 0.
 */
#ifndef STRATA_TESTS_INDEX_CHECK_H
#define STRATA_TESTS_INDEX_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                      \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__,       \
              #cond);                                                         \
      fprintf(stderr, __VA_ARGS__);                                           \
      fputc('\n', stderr);                                                    \
      failures++;                                                             \
    }                                                                         \
  } while (0)

#endif
