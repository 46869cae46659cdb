/* Assertions for the filter tests: a failure prints where and what, and
 * the test exits non-zero at the end (return test_result()). */
#ifndef STRATA_TESTS_FILTER_TEST_H
#define STRATA_TESTS_FILTER_TEST_H

#include <stdarg.h>
#include <stdint.h>
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

/* State of the xorshift generator behind next_random().  A test that
 * needs other data sets it before the first draw. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

/* Returns the next number of a fixed sequence, so every run builds the
 * same data. */
static inline uint64_t next_random(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Returns a number from 0 to n - 1. */
static inline int below(int n) { return (int)(next_random() % (uint64_t)n); }

/* Formats at *p and moves *p past what it wrote.  The caller sizes the
 * buffer. */
static inline void append(char **p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void append(char **p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  *p += vsprintf(*p, fmt, ap);
  va_end(ap);
}

static inline int test_result(void) {
  if (test_failures)
    fprintf(stderr, "%d check(s) failed\n", test_failures);
  return test_failures ? 1 : 0;
}

#endif
