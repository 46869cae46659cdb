/*
 * Internal interface between the server plumbing (server.c), the RPC
 * handlers (collections.c, points.c, search.c) and the conversions
 * between protobuf-c messages and strata.h types (convert.c).
 *
 * A handler receives the decoded request and the call's state.  It
 * builds its response in the call's arena, which is freed with the call,
 * and returns a gRPC status code.  On an error it also records the
 * message with api_fail().
 */
#ifndef STRATA_API_INTERNAL_H
#define STRATA_API_INTERNAL_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "collections.pb-c.h"
#include "common.pb-c.h"
#include "points.pb-c.h"
#include "qdrant.pb-c.h"
#include "strata.h"
#include "strata_filter.h"

/* Deepest nesting of protobuf messages accepted in a request.  A JSON
 * payload level costs three (Struct, map entry, Value), so this admits
 * payloads about 40 levels deep.  It bounds protobuf-c's recursion. */
#define API_MAX_MESSAGE_DEPTH 128

/* ------------------------------------------------------------------ */
/* Arena: bump allocation for one call's response, freed at once.      */

typedef struct api_arena_block api_arena_block;

typedef struct api_arena {
  api_arena_block *head;
} api_arena;

/* Returns `size` zeroed bytes, or NULL when memory runs out. */
void *api_alloc(api_arena *arena, size_t size);
char *api_strdup(api_arena *arena, const char *text);
void api_arena_free(api_arena *arena);

/* Allocates and initialises a protobuf-c message of type T with its
 * INIT macro; evaluates to NULL when memory runs out. */
#define API_NEW(arena, T, INIT)                                                \
  ({                                                                           \
    T *api_new_msg_ = api_alloc((arena), sizeof(T));                           \
    if (api_new_msg_ != NULL) {                                                \
      T api_new_init_ = INIT;                                                  \
      *api_new_msg_ = api_new_init_;                                           \
    }                                                                          \
    api_new_msg_;                                                              \
  })

/* ------------------------------------------------------------------ */
/* Calls and handlers                                                   */

typedef struct api_call {
  strata_db *db;
  api_arena arena;
  const char *method_name; /* e.g. "/qdrant.Points/Search", for logs */
  gpr_timespec deadline;
  char error[512]; /* message of a failed call */
} api_call;

typedef grpc_status_code (*api_handler)(api_call *call,
                                        const ProtobufCMessage *request,
                                        ProtobufCMessage **response);

/* An RPC served: its path, message types, handler and whether it
 * changes data (which a read-only API key may not do). */
typedef struct api_method {
  const char *path;
  const ProtobufCMessageDescriptor *input;
  api_handler handler;
  int writes;
} api_method;

extern const api_method api_methods[];
extern const size_t api_n_methods;

/* Records a failure message (printf format) and returns `code`.  User
 * text in the arguments should pass through api_printable() first. */
grpc_status_code api_fail(api_call *call, grpc_status_code code,
                          const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Maps the engine's last error to a status: NOT_FOUND, INVALID_ARGUMENT,
 * ALREADY_EXISTS, or INTERNAL for storage failures. */
grpc_status_code api_fail_engine(api_call *call, strata_status status);

/* Returns 1 when the call's deadline has passed. */
int api_deadline_passed(const api_call *call);

/* Seconds since `start` (CLOCK_MONOTONIC), for the responses' `time`. */
double api_elapsed(const struct timespec *start);
void api_clock_start(struct timespec *start);

/* ------------------------------------------------------------------ */
/* Conversions (convert.c)                                              */

/* Copies `text` into `buf` for a message: invalid UTF-8 and control
 * characters become '?', and long text is cut with "...".  Returns buf. */
const char *api_printable(const char *text, char *buf, size_t size);

/* Validates collection and vector names taken from a request. */
grpc_status_code api_check_collection_name(api_call *call, const char *name);

/* Returns 1 when `text` is valid UTF-8. */
int api_is_utf8(const char *text);

/* Fails with INVALID_ARGUMENT when `text` (named `what` in the message)
 * is not valid UTF-8. */
grpc_status_code api_check_utf8(api_call *call, const char *what,
                                const char *text);

grpc_status_code api_id_from_proto(api_call *call, const Qdrant__PointId *in,
                                   strata_point_id *out);
Qdrant__PointId *api_id_to_proto(api_call *call, const strata_point_id *id);

/* Converts a payload map to JSON object text in *json (malloc'd; the
 * caller frees it).  Integers stay int64; non-finite doubles and invalid
 * UTF-8 are rejected. */
grpc_status_code api_payload_to_json(api_call *call,
                                     Qdrant__Struct__FieldsEntry **entries,
                                     size_t n_entries, char **json);

/* What a read returns of each point's payload and vectors. */
typedef struct api_selection {
  int with; /* STRATA_WITH_* mask to request from the engine */
  const Qdrant__WithPayloadSelector *payload; /* include/exclude, or NULL */
  const Qdrant__WithVectorsSelector *vectors; /* names, or NULL */
} api_selection;

/* Builds a selection from the request's selectors; absent selectors use
 * the defaults given. */
api_selection api_selection_make(const Qdrant__WithPayloadSelector *payload,
                                 int payload_default,
                                 const Qdrant__WithVectorsSelector *vectors);

/* Converts a record's payload JSON, filtered by the selection, to map
 * entries in the arena.  An integer beyond int64 turns the numbers of
 * that payload into doubles (see convert.c). */
grpc_status_code api_payload_from_json(api_call *call,
                                       const strata_record *record,
                                       const api_selection *selection,
                                       Qdrant__Struct__FieldsEntry ***entries,
                                       size_t *n_entries);

/* Converts a record's vectors to the output form: one unnamed vector, or
 * a map of the names that the selection includes. */
grpc_status_code api_vectors_to_proto(api_call *call,
                                      const strata_record *record,
                                      const api_selection *selection,
                                      Qdrant__VectorsOutput **out);

/* Returns 1 when the filter has at least one condition. */
int api_filter_is_set(const Qdrant__Filter *filter);

/* Converts a Filter message to the engine's filter (filter.c).  *out is
 * NULL when the filter is absent or has no condition; otherwise the
 * caller frees it with strata_filter_free().  Fails with INVALID_ARGUMENT
 * naming the bad part, e.g. "filter.must[1].match: ...". */
grpc_status_code api_filter_from_proto(api_call *call, const Qdrant__Filter *in,
                                       strata_filter **out);

/* Checks that the nesting of messages in a serialized request stays
 * within API_MAX_MESSAGE_DEPTH, before protobuf-c recurses into it.
 * Returns 0 when it does, -1 when it is too deep or malformed. */
int api_check_depth(const ProtobufCMessageDescriptor *descriptor,
                    const uint8_t *data, size_t len, int depth);

/* Builds ScoredPoints from search results, skipping `skip` hits and any
 * hit with id `exclude` (when not NULL), and applying the score
 * threshold (when `threshold` is not NULL) in the order of `distance`. */
grpc_status_code api_scored_points(api_call *call, const strata_records *hits,
                                   const api_selection *selection, size_t skip,
                                   size_t limit, const strata_point_id *exclude,
                                   const float *threshold,
                                   strata_distance distance,
                                   Qdrant__ScoredPoint ***out, size_t *n_out);

/* Builds the reply to a write: Completed when `wait` is set (the write
 * was synced), else Acknowledged; either way the write is visible. */
Qdrant__PointsOperationResponse *
api_write_response(api_call *call, int wait, const struct timespec *start);

/* Handlers, one per RPC. */
grpc_status_code api_health_check(api_call *, const ProtobufCMessage *,
                                  ProtobufCMessage **);
grpc_status_code api_collections_get(api_call *, const ProtobufCMessage *,
                                     ProtobufCMessage **);
grpc_status_code api_collections_list(api_call *, const ProtobufCMessage *,
                                      ProtobufCMessage **);
grpc_status_code api_collections_create(api_call *, const ProtobufCMessage *,
                                        ProtobufCMessage **);
grpc_status_code api_collections_delete(api_call *, const ProtobufCMessage *,
                                        ProtobufCMessage **);
grpc_status_code api_collections_exists(api_call *, const ProtobufCMessage *,
                                        ProtobufCMessage **);
grpc_status_code api_points_upsert(api_call *, const ProtobufCMessage *,
                                   ProtobufCMessage **);
grpc_status_code api_points_delete(api_call *, const ProtobufCMessage *,
                                   ProtobufCMessage **);
grpc_status_code api_points_get(api_call *, const ProtobufCMessage *,
                                ProtobufCMessage **);
grpc_status_code api_points_scroll(api_call *, const ProtobufCMessage *,
                                   ProtobufCMessage **);
grpc_status_code api_points_count(api_call *, const ProtobufCMessage *,
                                  ProtobufCMessage **);
grpc_status_code api_points_search(api_call *, const ProtobufCMessage *,
                                   ProtobufCMessage **);
grpc_status_code api_points_search_batch(api_call *, const ProtobufCMessage *,
                                         ProtobufCMessage **);
grpc_status_code api_points_query(api_call *, const ProtobufCMessage *,
                                  ProtobufCMessage **);
grpc_status_code api_points_query_batch(api_call *, const ProtobufCMessage *,
                                        ProtobufCMessage **);
grpc_status_code api_points_set_payload(api_call *, const ProtobufCMessage *,
                                        ProtobufCMessage **);
grpc_status_code api_points_overwrite_payload(api_call *,
                                              const ProtobufCMessage *,
                                              ProtobufCMessage **);
grpc_status_code api_points_delete_payload(api_call *, const ProtobufCMessage *,
                                           ProtobufCMessage **);
grpc_status_code api_points_clear_payload(api_call *, const ProtobufCMessage *,
                                          ProtobufCMessage **);
grpc_status_code api_points_create_field_index(api_call *,
                                               const ProtobufCMessage *,
                                               ProtobufCMessage **);
grpc_status_code api_points_delete_field_index(api_call *,
                                               const ProtobufCMessage *,
                                               ProtobufCMessage **);

#endif
