/* Point writes (upsert, delete) and reads by id (get, scroll, count). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "filter.h"

/* ------------------------------------------------------------------ */
/* Validation                                                           */

/* Returns the index of the first NaN or infinity in v, or -1. */
static long first_non_finite(const float *v, size_t dim) {
  for (size_t i = 0; i < dim; i++)
    if (!isfinite(v[i]))
      return (long)i;
  return -1;
}

static strata_status check_payload(const strata_point *p, size_t index) {
  char idtext[STRATA_ID_STRLEN];
  size_t len = p->payload_len ? p->payload_len : strlen(p->payload);
  json_error_t jerr;
  json_t *root = json_loadb(p->payload, len, 0, &jerr);
  if (!root && json_error_code(&jerr) == json_error_numeric_overflow) {
    /* An integer beyond int64 is valid JSON; jansson only cannot hold it.
     * The stored text keeps every digit, so validate the shape as reals. */
    root = json_loadb(p->payload, len, JSON_DECODE_INT_AS_REAL, &jerr);
  }
  if (!root)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "point %s (batch index %zu): payload is not valid "
                       "JSON: %s at line %d, column %d; fix the payload text",
                       strata_id_format(&p->id, idtext), index, jerr.text,
                       jerr.line, jerr.column);
  int is_object = json_is_object(root);
  json_decref(root);
  if (!is_object)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "point %s (batch index %zu): payload must be a JSON "
                       "object such as {\"key\": \"value\"}",
                       strata_id_format(&p->id, idtext), index);
  return STRATA_OK;
}

static strata_status check_id(const strata_point_id *id, size_t index) {
  if (id->kind != STRATA_ID_NUM && id->kind != STRATA_ID_UUID)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "point at batch index %zu has id kind %d; use "
                       "STRATA_ID_NUM or STRATA_ID_UUID",
                       index, (int)id->kind);
  return STRATA_OK;
}

static void normalize(float *v, size_t dim) {
  double norm = 0;
  for (size_t i = 0; i < dim; i++)
    norm += (double)v[i] * v[i];
  if (norm == 0)
    return; /* All-zero vectors stay zero and score 0 against anything. */
  float scale = (float)(1.0 / sqrt(norm));
  for (size_t i = 0; i < dim; i++)
    v[i] *= scale;
}

/* Checks one point's vectors and copies them (normalised for Cosine) into
 * `buffer`, setting vectors[s] for each space the point has. */
static strata_status prepare_vectors(const strata_collection *c,
                                     const strata_point *p, size_t index,
                                     float *buffer, const float **vectors) {
  char idtext[STRATA_ID_STRLEN];
  for (size_t s = 0; s < c->n_spaces; s++)
    vectors[s] = NULL;
  if (p->n_vectors > 0 && !p->vectors)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "point %s: n_vectors is %zu but vectors is NULL",
                       strata_id_format(&p->id, idtext), p->n_vectors);
  for (size_t v = 0; v < p->n_vectors; v++) {
    const strata_named_vector *nv = &p->vectors[v];
    const char *vname = nv->name ? nv->name : "";
    int s = strata_collection_space(c, vname);
    if (s < 0)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "point %s (batch index %zu): collection \"%s\" has "
                         "no vector named \"%s\"",
                         strata_id_format(&p->id, idtext), index, c->name,
                         vname);
    const strata_space *space = &c->spaces[s];
    if (vectors[s])
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "point %s (batch index %zu) gives vector \"%s\" "
                         "twice; give each named vector once",
                         strata_id_format(&p->id, idtext), index, vname);
    if (nv->dim != space->dim || !nv->data)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "point %s (batch index %zu): vector \"%s\" has "
                         "dimension %u, but collection \"%s\" expects %u",
                         strata_id_format(&p->id, idtext), index, vname,
                         nv->data ? nv->dim : 0, c->name, space->dim);
    long bad = first_non_finite(nv->data, nv->dim);
    if (bad >= 0)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "point %s (batch index %zu): vector \"%s\" has a "
                         "non-finite value (%f) at position %ld; vectors "
                         "must not contain NaN or infinity",
                         strata_id_format(&p->id, idtext), index, vname,
                         (double)nv->data[bad], bad);
    float *copy = buffer;
    buffer += space->dim;
    memcpy(copy, nv->data, (size_t)space->dim * sizeof *copy);
    if (space->distance == STRATA_DISTANCE_COSINE)
      normalize(copy, space->dim);
    vectors[s] = copy;
  }
  return STRATA_OK;
}

static strata_status check_write_call(strata_db *db, const char *collection,
                                      const void *items, size_t n,
                                      const char *what) {
  if (!db || !collection)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "db and collection must not be NULL");
  if (db->read_only)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "the database is open read-only; reopen it without "
                       "read_only to write");
  if (n > 0 && !items)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "%s is NULL but its count is %zu", what, n);
  return STRATA_OK;
}

/* ------------------------------------------------------------------ */
/* Payload index upkeep                                                 */

/* What step 4 needs to keep payload indexes in step with an upsert: for
 * the last occurrence of each id (is_last), its new payload parsed and
 * the payload it replaces, read from db->view. */
typedef struct index_inputs {
  json_t **new_payloads;
  json_t **old_payloads;
  uint8_t *is_last;
  size_t n;
} index_inputs;

static void index_inputs_release(index_inputs *in) {
  for (size_t i = 0; i < in->n; i++) {
    json_decref(in->new_payloads[i]);
    json_decref(in->old_payloads[i]);
  }
  free(in->new_payloads);
  free(in->old_payloads);
  free(in->is_last);
}

static strata_status index_inputs_read(strata_db *db,
                                       const strata_collection *c,
                                       const strata_point *points, size_t n,
                                       index_inputs *in) {
  in->new_payloads = calloc(n ? n : 1, sizeof *in->new_payloads);
  in->old_payloads = calloc(n ? n : 1, sizeof *in->old_payloads);
  in->is_last = calloc(n ? n : 1, 1);
  strata_id_map seen;
  strata_id_map_init(&seen);
  if (!in->new_payloads || !in->old_payloads || !in->is_last ||
      strata_id_map_reserve(&seen, n) != 0) {
    strata_id_map_destroy(&seen);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  in->n = n;
  strata_status st = STRATA_OK;
  for (size_t i = n; i-- > 0 && st == STRATA_OK;) {
    const strata_point *p = &points[i];
    if (strata_id_map_get(&seen, &p->id) != STRATA_NO_POINT)
      continue;
    strata_id_map_put(&seen, &p->id, (uint32_t)i);
    in->is_last[i] = 1;
    if (p->payload && (p->payload_len || *p->payload)) {
      size_t len = p->payload_len ? p->payload_len : strlen(p->payload);
      st = strata_payload_load(p->payload, len, &in->new_payloads[i]);
    }
    if (st == STRATA_OK &&
        strata_id_map_get(&c->ids, &p->id) != STRATA_NO_POINT)
      st = strata_payload_read(db, c, &p->id, &in->old_payloads[i]);
  }
  strata_id_map_destroy(&seen);
  return st;
}

/* ------------------------------------------------------------------ */
/* Upsert                                                               */

strata_status strata_upsert(strata_db *db, const char *collection,
                            const strata_point *points, size_t n_points,
                            const strata_write_options *options) {
  strata_clear_error();
  strata_status st =
      check_write_call(db, collection, points, n_points, "points");
  if (st != STRATA_OK)
    return st;
  int sync = options ? options->wait : 0;

  pthread_mutex_lock(&db->write_mutex);
  strata_store_batch *batch = NULL;
  float *buffer = NULL;
  const float **vectors = NULL;
  uint8_t *record = NULL;
  size_t record_cap = 0;
  index_inputs inputs = {NULL, NULL, NULL, 0};
  strata_collection *c = strata_db_find(db, collection);
  if (!c) {
    st = strata_fail(STRATA_ERR_NOT_FOUND,
                     "collection \"%s\" not found; create it first",
                     collection);
    goto done;
  }

  /* Step 1: validate everything and encode the batch. */
  size_t floats = 0;
  for (size_t i = 0; i < n_points; i++) {
    for (size_t v = 0; v < points[i].n_vectors && points[i].vectors; v++)
      floats += points[i].vectors[v].dim;
  }
  buffer = malloc((floats ? floats : 1) * sizeof *buffer);
  vectors = calloc(n_points * c->n_spaces + 1, sizeof *vectors);
  batch = strata_store_batch_new();
  if (!buffer || !vectors || !batch) {
    st = strata_fail(STRATA_ERR_NO_MEMORY,
                     "out of memory preparing a batch of %zu points",
                     n_points);
    goto done;
  }
  float *cursor = buffer;
  for (size_t i = 0; i < n_points; i++) {
    const strata_point *p = &points[i];
    const float **pv = vectors + i * c->n_spaces;
    st = check_id(&p->id, i);
    if (st == STRATA_OK)
      st = prepare_vectors(c, p, i, cursor, pv);
    if (st == STRATA_OK && p->payload && (p->payload_len || *p->payload))
      st = check_payload(p, i);
    if (st != STRATA_OK)
      goto done;
    for (size_t s = 0; s < c->n_spaces; s++)
      if (pv[s])
        cursor += c->spaces[s].dim;

    uint8_t key[STRATA_ROW_KEY_MAX];
    size_t klen = strata_row_key(c->id, &p->id, key);
    size_t rlen = strata_vector_record_size(c, pv);
    if (rlen > record_cap) {
      uint8_t *grown = realloc(record, rlen);
      if (!grown) {
        st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
        goto done;
      }
      record = grown;
      record_cap = rlen;
    }
    strata_vector_record_encode(c, pv, record);
    strata_store_batch_put(batch, db->store, STRATA_CF_POINTS, key, klen,
                           record, rlen);
    if (p->payload && (p->payload_len || *p->payload)) {
      size_t plen = p->payload_len ? p->payload_len : strlen(p->payload);
      strata_store_batch_put(batch, db->store, STRATA_CF_PAYLOADS, key, klen,
                             p->payload, plen);
    } else {
      strata_store_batch_delete(batch, db->store, STRATA_CF_PAYLOADS, key,
                                klen);
    }
  }

  /* Payloads are valid now; parse what the payload indexes need. */
  if (c->n_field_indexes > 0) {
    st = index_inputs_read(db, c, points, n_points, &inputs);
    if (st != STRATA_OK)
      goto done;
  }

  /* Step 2: reserve memory so that applying cannot fail.  Growing moves
   * arrays that readers use, so it needs the exclusive lock too. */
  pthread_rwlock_wrlock(&db->lock);
  st = strata_collection_reserve(c, n_points);
  pthread_rwlock_unlock(&db->lock);
  if (st != STRATA_OK)
    goto done;

  /* Step 3: make it durable. */
  st = strata_store_write(db->store, batch, sync);
  if (st != STRATA_OK)
    goto done;

  /* Step 4: apply in order, so the last occurrence of an id wins. */
  pthread_rwlock_wrlock(&db->lock);
  for (size_t i = 0; i < n_points; i++) {
    strata_collection_put(c, &points[i].id, vectors + i * c->n_spaces);
    if (inputs.n > 0 && inputs.is_last[i])
      strata_field_indexes_update(c, strata_id_map_get(&c->ids, &points[i].id),
                                  inputs.old_payloads[i],
                                  inputs.new_payloads[i]);
  }
  strata_db_publish_view(db);
  strata_field_indexes_prepare(db, c);
  pthread_rwlock_unlock(&db->lock);

  /* Step 5: graph linking, while searches run. */
  for (size_t s = 0; s < c->n_spaces; s++)
    strata_space_index_link(db, c, &c->spaces[s]);

done:
  pthread_mutex_unlock(&db->write_mutex);
  strata_store_batch_free(batch);
  free(buffer);
  free(vectors);
  free(record);
  index_inputs_release(&inputs);
  return st;
}

/* ------------------------------------------------------------------ */
/* Delete                                                               */

strata_status strata_delete(strata_db *db, const char *collection,
                            const strata_point_id *ids, size_t n_ids,
                            const strata_write_options *options,
                            uint64_t *n_deleted) {
  strata_clear_error();
  if (n_deleted)
    *n_deleted = 0;
  strata_status st = check_write_call(db, collection, ids, n_ids, "ids");
  if (st != STRATA_OK)
    return st;
  for (size_t i = 0; i < n_ids; i++) {
    st = check_id(&ids[i], i);
    if (st != STRATA_OK)
      return st;
  }

  pthread_mutex_lock(&db->write_mutex);
  strata_collection *c = strata_db_find(db, collection);
  if (!c)
    st = strata_fail(STRATA_ERR_NOT_FOUND, "collection \"%s\" not found",
                     collection);
  else
    st = strata_delete_locked(db, c, ids, n_ids,
                              options ? options->wait : 0, n_deleted);
  pthread_mutex_unlock(&db->write_mutex);
  return st;
}

strata_status strata_delete_locked(strata_db *db, strata_collection *c,
                                   const strata_point_id *ids, size_t n_ids,
                                   int sync, uint64_t *n_deleted) {
  strata_status st = STRATA_OK;
  json_t **old_payloads = NULL;
  strata_store_batch *batch = strata_store_batch_new();
  if (!batch) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n_ids; i++) {
    uint8_t key[STRATA_ROW_KEY_MAX];
    size_t klen = strata_row_key(c->id, &ids[i], key);
    strata_store_batch_delete(batch, db->store, STRATA_CF_POINTS, key, klen);
    strata_store_batch_delete(batch, db->store, STRATA_CF_PAYLOADS, key,
                              klen);
  }

  /* The payload indexes forget what the old payloads put in them. */
  if (c->n_field_indexes > 0) {
    old_payloads = calloc(n_ids ? n_ids : 1, sizeof *old_payloads);
    if (!old_payloads) {
      st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
      goto done;
    }
    for (size_t i = 0; i < n_ids && st == STRATA_OK; i++)
      if (strata_id_map_get(&c->ids, &ids[i]) != STRATA_NO_POINT)
        st = strata_payload_read(db, c, &ids[i], &old_payloads[i]);
    if (st != STRATA_OK)
      goto done;
  }

  st = strata_store_write(db->store, batch, sync);
  if (st != STRATA_OK)
    goto done;

  pthread_rwlock_wrlock(&db->lock);
  uint64_t removed = 0;
  for (size_t i = 0; i < n_ids; i++) {
    uint32_t point = strata_id_map_get(&c->ids, &ids[i]);
    if (point == STRATA_NO_POINT)
      continue; /* missing, or a repeat of an id removed above */
    if (old_payloads)
      strata_field_indexes_update(c, point, old_payloads[i], NULL);
    removed += (uint64_t)strata_collection_remove(c, &ids[i]);
  }
  strata_db_publish_view(db);
  strata_field_indexes_prepare(db, c);
  pthread_rwlock_unlock(&db->lock);
  for (size_t s = 0; s < c->n_spaces; s++)
    strata_space_index_link(db, c, &c->spaces[s]);
  if (n_deleted)
    *n_deleted = removed;

done:
  strata_store_batch_free(batch);
  for (size_t i = 0; old_payloads && i < n_ids; i++)
    json_decref(old_payloads[i]);
  free(old_payloads);
  return st;
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */

/* Takes db->lock shared and finds the collection; on failure releases
 * the lock and returns NULL with the error set. */
static strata_collection *read_begin(strata_db *db, const char *collection) {
  if (!db || !collection) {
    strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                "db and collection must not be NULL");
    return NULL;
  }
  pthread_rwlock_rdlock(&db->lock);
  strata_collection *c = strata_db_find(db, collection);
  if (!c) {
    pthread_rwlock_unlock(&db->lock);
    strata_fail(STRATA_ERR_NOT_FOUND, "collection \"%s\" not found",
                collection);
  }
  return c;
}

strata_status strata_count(strata_db *db, const char *collection,
                           uint64_t *out) {
  strata_clear_error();
  strata_collection *c = read_begin(db, collection);
  if (!c)
    return db && collection ? STRATA_ERR_NOT_FOUND
                            : STRATA_ERR_INVALID_ARGUMENT;
  *out = c->n_points;
  pthread_rwlock_unlock(&db->lock);
  return STRATA_OK;
}

strata_status strata_get(strata_db *db, const char *collection,
                         const strata_point_id *ids, size_t n_ids, int with,
                         strata_records **out) {
  strata_clear_error();
  *out = NULL;
  if (n_ids > 0 && !ids)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "ids is NULL but n_ids is %zu", n_ids);
  strata_collection *c = read_begin(db, collection);
  if (!c)
    return db && collection ? STRATA_ERR_NOT_FOUND
                            : STRATA_ERR_INVALID_ARGUMENT;
  strata_status st = STRATA_OK;
  strata_records *records = strata_records_new(n_ids);
  strata_id_map seen;
  strata_id_map_init(&seen);
  if (!records || strata_id_map_reserve(&seen, n_ids) != 0) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n_ids && st == STRATA_OK; i++) {
    uint32_t point = strata_id_map_get(&c->ids, &ids[i]);
    if (point == STRATA_NO_POINT ||
        strata_id_map_get(&seen, &ids[i]) != STRATA_NO_POINT)
      continue;
    strata_id_map_put(&seen, &ids[i], point);
    st = strata_record_fill(db, c, point, with,
                            &records->items[records->count++]);
  }
done:
  pthread_rwlock_unlock(&db->lock);
  strata_id_map_destroy(&seen);
  if (st != STRATA_OK) {
    strata_records_free(records);
    return st;
  }
  *out = records;
  return STRATA_OK;
}

typedef struct scroll_state {
  strata_collection *c;
  strata_point_id *ids;
  size_t n, want;
} scroll_state;

static int scroll_visit(const uint8_t *key, size_t klen, const uint8_t *value,
                        size_t vlen, void *ctx) {
  scroll_state *st = ctx;
  uint32_t cid;
  if (strata_row_key_decode(key, klen, &cid, &st->ids[st->n]) != 0)
    return 0; /* load_all() already rejected malformed keys at open */
  st->n++;
  return st->n == st->want;
}

strata_status strata_scroll(strata_db *db, const char *collection,
                            const strata_point_id *offset, size_t limit,
                            int with, strata_records **out,
                            strata_point_id *next, int *has_next) {
  strata_clear_error();
  *out = NULL;
  *has_next = 0;
  if (limit == 0)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "scroll limit is 0; pass a limit of at least 1");
  strata_collection *c = read_begin(db, collection);
  if (!c)
    return db && collection ? STRATA_ERR_NOT_FOUND
                            : STRATA_ERR_INVALID_ARGUMENT;
  strata_status st = STRATA_OK;
  size_t want = limit < c->n_points ? limit + 1 : c->n_points + 1;
  scroll_state ss = {c, calloc(want, sizeof(strata_point_id)), 0, want};
  strata_records *records = strata_records_new(want);
  if (!ss.ids || !records) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  uint8_t prefix[4] = {(uint8_t)(c->id >> 24), (uint8_t)(c->id >> 16),
                       (uint8_t)(c->id >> 8), (uint8_t)c->id};
  uint8_t start[STRATA_ROW_KEY_MAX];
  size_t slen = offset ? strata_row_key(c->id, offset, start) : 0;
  if (strata_store_scan(db->store, db->view, STRATA_CF_POINTS, prefix, 4,
                        offset ? start : NULL, slen, scroll_visit, &ss) < 0) {
    st = STRATA_ERR_IO;
    goto done;
  }
  size_t emit = ss.n > limit ? limit : ss.n;
  for (size_t i = 0; i < emit && st == STRATA_OK; i++) {
    uint32_t point = strata_id_map_get(&c->ids, &ss.ids[i]);
    if (point == STRATA_NO_POINT) {
      char idtext[STRATA_ID_STRLEN];
      st = strata_fail(STRATA_ERR_INTERNAL,
                       "point %s is stored but not loaded in collection "
                       "\"%s\"; this is a bug in Strata",
                       strata_id_format(&ss.ids[i], idtext), c->name);
      break;
    }
    st = strata_record_fill(db, c, point, with,
                            &records->items[records->count++]);
  }
  if (st == STRATA_OK && ss.n > limit) {
    *next = ss.ids[limit];
    *has_next = 1;
  }
done:
  pthread_rwlock_unlock(&db->lock);
  free(ss.ids);
  if (st != STRATA_OK) {
    strata_records_free(records);
    return st;
  }
  *out = records;
  return STRATA_OK;
}
