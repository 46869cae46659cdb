/* Exact round trips of payload text that may hold integers beyond int64
 * (payload_text.c explains the marker it uses). */
#ifndef STRATA_ENGINE_PAYLOAD_TEXT_H
#define STRATA_ENGINE_PAYLOAD_TEXT_H

#include <jansson.h>
#include <stddef.h>

#include "strata.h"

/* Parses stored payload text, keeping integers beyond int64 as marked
 * strings.  The result is for rewriting only: filters must use
 * strata_payload_load(). */
strata_status strata_payload_load_exact(const char *text, size_t len,
                                        json_t **out);

/* Serialises a payload loaded by strata_payload_load_exact(), writing the
 * marked integers back as bare literals.  Returns malloc'd text and its
 * length, or NULL when out of memory. */
char *strata_payload_dump_exact(const json_t *payload, size_t *len);

#endif
