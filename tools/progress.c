#include "progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_BAR_WIDTH 30
#define PROGRESS_REDRAW_SECONDS 0.1

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void strata_progress_start(strata_progress *progress, const char *verb,
                           const char *unit, FILE *out, int force_draw) {
  memset(progress, 0, sizeof *progress);
  progress->verb = verb;
  progress->unit = unit;
  if (out != NULL && (force_draw || isatty(fileno(out))))
    progress->bar = out;
  progress->start = now_seconds();
  progress->last_draw = -1.0;
}

void strata_progress_format_duration(double seconds, char *buf, size_t size) {
  if (seconds < 60.0) {
    snprintf(buf, size, "%.1f s", seconds);
  } else if (seconds < 3600.0) {
    unsigned long s = (unsigned long)(seconds + 0.5);
    snprintf(buf, size, "%lum%02lus", s / 60, s % 60);
  } else {
    unsigned long m = (unsigned long)(seconds / 60.0 + 0.5);
    snprintf(buf, size, "%luh%02lum", m / 60, m % 60);
  }
}

void strata_progress_update(strata_progress *progress, uint64_t done,
                            int64_t total, uint64_t bytes_done,
                            uint64_t bytes_total) {
  if (progress->bar == NULL)
    return;
  double now = now_seconds();
  if (progress->last_draw >= 0.0 &&
      now - progress->last_draw < PROGRESS_REDRAW_SECONDS)
    return;
  progress->last_draw = now;

  double elapsed = now - progress->start;
  double rate = elapsed > 0.0 ? (double)done / elapsed : 0.0;
  double fraction = -1.0;
  if (total > 0)
    fraction = (double)done / (double)total;
  else if (bytes_total > 0)
    fraction = (double)bytes_done / (double)bytes_total;
  if (fraction > 1.0)
    fraction = 1.0;

  char count[48];
  if (total > 0)
    snprintf(count, sizeof count, "%llu/%lld", (unsigned long long)done,
             (long long)total);
  else
    snprintf(count, sizeof count, "%llu", (unsigned long long)done);

  if (fraction < 0.0) {
    fprintf(progress->bar, "\r%s %s  %.0f/s\033[K", count, progress->unit,
            rate);
  } else {
    char bar[PROGRESS_BAR_WIDTH + 1];
    int filled = (int)(fraction * PROGRESS_BAR_WIDTH);
    for (int i = 0; i < PROGRESS_BAR_WIDTH; i++)
      bar[i] = i < filled ? '#' : '.';
    bar[PROGRESS_BAR_WIDTH] = '\0';

    /* Time left assumes the rate so far holds for the remaining part. */
    char eta[32] = "?";
    if (fraction > 0.0)
      strata_progress_format_duration(elapsed * (1.0 - fraction) / fraction,
                                      eta, sizeof eta);
    fprintf(progress->bar, "\r[%s] %5.1f%%  %s %s  %.0f/s  ETA %s\033[K",
            bar, fraction * 100.0, count, progress->unit, rate, eta);
  }
  fflush(progress->bar);
  progress->drawn = 1;
}

void strata_progress_finish(strata_progress *progress, uint64_t done,
                            FILE *summary) {
  double elapsed = now_seconds() - progress->start;
  char duration[32];

  if (progress->bar != NULL && progress->drawn) {
    fputs("\r\033[K", progress->bar);
    fflush(progress->bar);
  }
  strata_progress_format_duration(elapsed, duration, sizeof duration);
  if (summary != NULL)
    fprintf(summary, "%s %llu %s in %s (%.0f/s)\n", progress->verb,
            (unsigned long long)done, progress->unit, duration,
            elapsed > 0.0 ? (double)done / elapsed : 0.0);
}
