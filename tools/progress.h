/*
 * A progress bar for long imports and searches.
 *
 * When stderr is a terminal, the bar is redrawn in place at most ten
 * times a second: percentage, count, rate and estimated time left.  When
 * it is not, nothing is written while working, so logs and pipes stay
 * clean; strata_progress_finish() then prints one summary line on stdout.
 */
#ifndef STRATA_TOOLS_PROGRESS_H
#define STRATA_TOOLS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct strata_progress {
  const char *verb;  /* "imported", "searched": used in the summary */
  const char *unit;  /* "points", "queries" */
  FILE *bar;         /* the terminal, or NULL when not drawing */
  double start;      /* monotonic seconds */
  double last_draw;
  int drawn;         /* whether a bar is on the screen */
} strata_progress;

/* Starts timing.  Draws only when `out` is a terminal (pass stderr; tests
 * pass a file to check the output). */
void strata_progress_start(strata_progress *progress, const char *verb,
                           const char *unit, FILE *out, int force_draw);

/* Reports `done` items.  The fraction finished comes from done / total
 * when total > 0, else from bytes_done / bytes_total when bytes_total > 0;
 * with neither, no percentage or ETA is shown. */
void strata_progress_update(strata_progress *progress, uint64_t done,
                            int64_t total, uint64_t bytes_done,
                            uint64_t bytes_total);

/* Clears the bar and prints "VERB N UNIT in S s (R/s)" to `summary`. */
void strata_progress_finish(strata_progress *progress, uint64_t done,
                            FILE *summary);

/* Formats a seconds count as "12.3 s", "4m05s" or "2h03m" into buf. */
void strata_progress_format_duration(double seconds, char *buf, size_t size);

#endif
