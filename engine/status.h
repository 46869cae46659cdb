/* Internal error reporting: every layer sets the calling thread's message
 * where it detects a failure, and returns the status up unchanged. */
#ifndef STRATA_ENGINE_STATUS_H
#define STRATA_ENGINE_STATUS_H

#include "strata.h"

/* Formats the thread's last error message and returns `status`, so a
 * failing path reads `return strata_fail(STRATA_ERR_..., "...", ...);`. */
strata_status strata_fail(strata_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears the thread's message at the start of a public call. */
void strata_clear_error(void);

#endif
