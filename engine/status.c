#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MESSAGE_MAX 1024

static _Thread_local char last_message[MESSAGE_MAX];

strata_status strata_fail(strata_status status, const char *fmt, ...) {
  /* Format into a copy first: callers may pass strata_last_error() as an
   * argument, to wrap a lower layer's message. */
  char message[MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  memcpy(last_message, message, sizeof last_message);
  return status;
}

void strata_clear_error(void) { last_message[0] = '\0'; }

const char *strata_last_error(void) { return last_message; }

const char *strata_strerror(strata_status status) {
  switch (status) {
  case STRATA_OK:
    return "success";
  case STRATA_ERR_INVALID_ARGUMENT:
    return "invalid argument";
  case STRATA_ERR_NOT_FOUND:
    return "not found";
  case STRATA_ERR_ALREADY_EXISTS:
    return "already exists";
  case STRATA_ERR_IO:
    return "I/O error";
  case STRATA_ERR_CORRUPTION:
    return "stored data is corrupted";
  case STRATA_ERR_VERSION:
    return "data format version not supported";
  case STRATA_ERR_LOCKED:
    return "data directory locked by another process";
  case STRATA_ERR_NO_MEMORY:
    return "out of memory";
  case STRATA_ERR_INTERNAL:
    return "internal error (a bug in Strata)";
  }
  return "unknown status code";
}
