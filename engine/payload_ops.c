/*
 * Payload updates without touching vectors: set (merge), overwrite,
 * delete keys and clear, on listed ids or on the points a filter selects.
 *
 * Each call follows the write steps of engine.h: under db->write_mutex
 * it selects the points, reads their payloads from db->view, computes
 * the new ones and encodes one WriteBatch; writes it; then under db->lock
 * held exclusively it updates the payload indexes and publishes the view.
 * No memory needs reserving, because the point table does not change.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "filter.h"
#include "payload_text.h"

typedef enum op_kind {
  OP_SET = 0,
  OP_OVERWRITE = 1,
  OP_DELETE_KEYS = 2,
  OP_CLEAR = 3
} op_kind;

typedef struct payload_op {
  op_kind kind;
  json_t *value;      /* SET and OVERWRITE: the parsed payload */
  const char *text;   /* OVERWRITE: stored as given */
  size_t text_len;
  strata_path key;    /* SET: where to merge; no segments for the root */
  strata_path *paths; /* DELETE_KEYS */
  size_t n_paths;
} payload_op;

/* ------------------------------------------------------------------ */
/* Applying one operation to one payload                                */

/* Returns the object at `path` under root, creating objects on the way
 * and replacing values that are not objects; NULL when out of memory. */
static json_t *object_at(json_t *root, const strata_path *path) {
  json_t *node = root;
  for (size_t i = 0; i < path->n_segments; i++) {
    const char *key = path->segments[i].key;
    json_t *child = json_object_get(node, key);
    if (!json_is_object(child)) {
      child = json_object();
      if (!child || json_object_set_new(node, key, child) != 0)
        return NULL;
    }
    node = child;
  }
  return node;
}

static void delete_path(json_t *node, const strata_path_segment *seg,
                        size_t n) {
  int last = n == 1;
  switch (seg->kind) {
  case STRATA_PATH_KEY:
    if (!json_is_object(node))
      return;
    if (last)
      json_object_del(node, seg->key);
    else
      delete_path(json_object_get(node, seg->key), seg + 1, n - 1);
    return;
  case STRATA_PATH_INDEX:
    if (!json_is_array(node) || seg->index >= json_array_size(node))
      return;
    if (last)
      json_array_remove(node, seg->index);
    else
      delete_path(json_array_get(node, seg->index), seg + 1, n - 1);
    return;
  case STRATA_PATH_ALL:
    if (!json_is_array(node))
      return;
    if (last)
      json_array_clear(node);
    else
      for (size_t i = 0; i < json_array_size(node); i++)
        delete_path(json_array_get(node, i), seg + 1, n - 1);
    return;
  }
}

/* Sets *out to the new payload of a point whose payload is `old` (NULL
 * for none), as a new reference; NULL for clear. */
static strata_status apply_op(const payload_op *op, const json_t *old,
                              json_t **out) {
  *out = NULL;
  if (op->kind == OP_CLEAR)
    return STRATA_OK;
  if (op->kind == OP_OVERWRITE) {
    *out = json_incref(op->value);
    return STRATA_OK;
  }
  json_t *root = old ? json_deep_copy(old) : json_object();
  if (!root)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  if (op->kind == OP_DELETE_KEYS) {
    for (size_t i = 0; i < op->n_paths; i++)
      delete_path(root, op->paths[i].segments, op->paths[i].n_segments);
    *out = root;
    return STRATA_OK;
  }
  json_t *target = object_at(root, &op->key);
  const char *k;
  json_t *v;
  int failed = !target;
  if (target) {
    json_object_foreach(op->value, k, v) {
      if (json_is_null(v))
        json_object_del(target, k);
      else if (json_object_set(target, k, v) != 0)
        failed = 1;
    }
  }
  if (failed) {
    json_decref(root);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  *out = root;
  return STRATA_OK;
}

/* ------------------------------------------------------------------ */
/* The write                                                            */

/* Sets *out to the live points the selector names. */
static strata_status select_points(strata_db *db, const strata_collection *c,
                                   const strata_point_selector *sel,
                                   roaring_bitmap_t **out) {
  if (!sel->ids)
    return strata_collection_select(db, c, sel->filter, out);
  *out = roaring_bitmap_create();
  if (!*out)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < sel->n_ids; i++) {
    uint32_t point = strata_id_map_get(&c->ids, &sel->ids[i]);
    if (point != STRATA_NO_POINT)
      roaring_bitmap_add(*out, point);
  }
  return STRATA_OK;
}

typedef struct change_set {
  uint32_t *points;
  json_t **old_payloads;
  json_t **new_payloads;
  size_t n;
} change_set;

static void change_set_release(change_set *cs) {
  for (size_t i = 0; i < cs->n; i++) {
    json_decref(cs->old_payloads[i]);
    json_decref(cs->new_payloads[i]);
  }
  free(cs->points);
  free(cs->old_payloads);
  free(cs->new_payloads);
}

/* Reads a point's stored payload twice over: as filters and indexes
 * see it (*old, NULL for none) and as an exact copy for rewriting
 * (*exact, an empty object for none). */
static strata_status read_exact(strata_db *db, const strata_collection *c,
                                const strata_point_id *id, json_t **old,
                                json_t **exact) {
  uint8_t key[STRATA_ROW_KEY_MAX];
  size_t klen = strata_row_key(c->id, id, key);
  char *text = NULL;
  size_t len = 0;
  *old = NULL;
  *exact = NULL;
  strata_status st = strata_store_get(db->store, db->view, STRATA_CF_PAYLOADS,
                                      key, klen, &text, &len);
  if (st != STRATA_OK)
    return st;
  if (!text) {
    *exact = json_object();
    return *exact ? STRATA_OK
                  : strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  st = strata_payload_load(text, len, old);
  if (st == STRATA_OK)
    st = strata_payload_load_exact(text, len, exact);
  free(text);
  if (st == STRATA_ERR_INVALID_ARGUMENT)
    return strata_payload_corrupt(c, id);
  return st;
}

/* Computes every selected point's new payload and encodes the batch. */
static strata_status encode_changes(strata_db *db, const strata_collection *c,
                                    const payload_op *op,
                                    const roaring_bitmap_t *targets,
                                    strata_store_batch *batch,
                                    change_set *cs) {
  size_t n = roaring_bitmap_get_cardinality(targets);
  cs->points = malloc((n ? n : 1) * sizeof *cs->points);
  cs->old_payloads = calloc(n ? n : 1, sizeof *cs->old_payloads);
  cs->new_payloads = calloc(n ? n : 1, sizeof *cs->new_payloads);
  if (!cs->points || !cs->old_payloads || !cs->new_payloads)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  roaring_bitmap_to_uint32_array(targets, cs->points);
  cs->n = n;
  strata_status st = STRATA_OK;
  int rewrites = op->kind == OP_SET || op->kind == OP_DELETE_KEYS;
  for (size_t i = 0; i < n && st == STRATA_OK; i++) {
    const strata_point_id *id = &c->points[cs->points[i]];
    json_t *exact_old = NULL, *exact_new = NULL;
    if (rewrites) {
      /* The rewrite works on an exact copy (integers beyond int64 keep
       * their digits); the indexes get the usual parse of both texts. */
      st = read_exact(db, c, id, &cs->old_payloads[i], &exact_old);
      if (st == STRATA_OK)
        st = apply_op(op, exact_old, &exact_new);
      json_decref(exact_old);
    } else {
      if (c->n_field_indexes > 0)
        st = strata_payload_read(db, c, id, &cs->old_payloads[i]);
      if (st == STRATA_OK)
        st = apply_op(op, cs->old_payloads[i], &cs->new_payloads[i]);
    }
    if (st != STRATA_OK) {
      json_decref(exact_new);
      break;
    }

    uint8_t key[STRATA_ROW_KEY_MAX];
    size_t klen = strata_row_key(c->id, id, key);
    if (op->kind == OP_CLEAR) {
      strata_store_batch_delete(batch, db->store, STRATA_CF_PAYLOADS, key,
                                klen);
    } else if (op->kind == OP_OVERWRITE) {
      strata_store_batch_put(batch, db->store, STRATA_CF_PAYLOADS, key, klen,
                             op->text, op->text_len);
    } else {
      size_t text_len = 0;
      char *text = strata_payload_dump_exact(exact_new, &text_len);
      json_decref(exact_new);
      if (!text)
        return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
      strata_store_batch_put(batch, db->store, STRATA_CF_PAYLOADS, key, klen,
                             text, text_len);
      st = strata_payload_load(text, text_len, &cs->new_payloads[i]);
      free(text);
    }
  }
  return st;
}

static strata_status run_op(strata_db *db, const char *collection,
                            const strata_point_selector *sel,
                            const payload_op *op,
                            const strata_write_options *options,
                            uint64_t *n_updated) {
  pthread_mutex_lock(&db->write_mutex);
  strata_status st = STRATA_OK;
  roaring_bitmap_t *targets = NULL;
  strata_store_batch *batch = NULL;
  change_set cs = {NULL, NULL, NULL, 0};
  strata_collection *c = strata_db_find(db, collection);
  if (!c) {
    st = strata_fail(STRATA_ERR_NOT_FOUND,
                     "collection \"%s\" not found; create it first",
                     collection);
    goto done;
  }

  /* Step 1: select, compute the new payloads, encode. */
  batch = strata_store_batch_new();
  if (!batch) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  st = select_points(db, c, sel, &targets);
  if (st == STRATA_OK)
    st = encode_changes(db, c, op, targets, batch, &cs);
  if (st != STRATA_OK || cs.n == 0)
    goto done;

  /* Step 3 (nothing to reserve): make it durable. */
  st = strata_store_write(db->store, batch, options ? options->wait : 0);
  if (st != STRATA_OK)
    goto done;

  /* Step 4: the indexes follow the payloads, and readers see both. */
  pthread_rwlock_wrlock(&db->lock);
  for (size_t i = 0; i < cs.n && c->n_field_indexes > 0; i++)
    strata_field_indexes_update(c, cs.points[i], cs.old_payloads[i],
                                cs.new_payloads[i]);
  strata_db_publish_view(db);
  strata_field_indexes_prepare(db, c);
  pthread_rwlock_unlock(&db->lock);
  if (n_updated)
    *n_updated = cs.n;

done:
  pthread_mutex_unlock(&db->write_mutex);
  if (targets)
    roaring_bitmap_free(targets);
  strata_store_batch_free(batch);
  change_set_release(&cs);
  return st;
}

/* ------------------------------------------------------------------ */
/* Validation and the public calls                                      */

static strata_status check_call(strata_db *db, const char *collection,
                                const strata_point_selector *sel,
                                uint64_t *n_updated) {
  strata_clear_error();
  if (n_updated)
    *n_updated = 0;
  if (!db || !collection || !sel)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "db, collection and points must not be NULL");
  if (db->read_only)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "the database is open read-only; reopen it without "
                       "read_only to write");
  if (!sel->ids && !sel->filter)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "select points with ids or with a filter; both are "
                       "NULL");
  if (sel->ids && sel->filter)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "select points with ids or with a filter, not both");
  for (size_t i = 0; sel->ids && i < sel->n_ids; i++)
    if (sel->ids[i].kind != STRATA_ID_NUM && sel->ids[i].kind != STRATA_ID_UUID)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "id at index %zu has kind %d; use STRATA_ID_NUM or "
                         "STRATA_ID_UUID",
                         i, (int)sel->ids[i].kind);
  return STRATA_OK;
}

/* Parses an update's payload; `exact` keeps integers beyond int64 for a
 * rewrite (strata_payload_load_exact). */
static strata_status parse_object(const char *payload, int exact,
                                  json_t **out) {
  *out = NULL;
  if (!payload)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "payload is NULL; pass a JSON object");
  strata_status st = strata_payload_load(payload, strlen(payload), out);
  if (st == STRATA_OK && exact) {
    json_decref(*out);
    st = strata_payload_load_exact(payload, strlen(payload), out);
  }
  if (st != STRATA_OK)
    return strata_fail(st, "payload is not valid JSON: %s",
                       strata_last_error());
  if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "payload must be a JSON object such as "
                       "{\"key\": \"value\"}");
  }
  return STRATA_OK;
}

strata_status strata_payload_set(strata_db *db, const char *collection,
                                 const strata_point_selector *points,
                                 const char *payload, const char *key,
                                 const strata_write_options *options,
                                 uint64_t *n_updated) {
  strata_status st = check_call(db, collection, points, n_updated);
  if (st != STRATA_OK)
    return st;
  payload_op op = {.kind = OP_SET};
  st = parse_object(payload, 1, &op.value);
  if (st == STRATA_OK && key && *key) {
    st = strata_path_parse(key, &op.key);
    for (size_t i = 0; st == STRATA_OK && i < op.key.n_segments; i++)
      if (op.key.segments[i].kind != STRATA_PATH_KEY)
        st = strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "key \"%s\" goes through an array; set payload "
                         "takes a path of object keys only",
                         key);
  }
  if (st == STRATA_OK)
    st = run_op(db, collection, points, &op, options, n_updated);
  json_decref(op.value);
  if (op.key.text)
    strata_path_free(&op.key);
  return st;
}

strata_status strata_payload_overwrite(strata_db *db, const char *collection,
                                       const strata_point_selector *points,
                                       const char *payload,
                                       const strata_write_options *options,
                                       uint64_t *n_updated) {
  strata_status st = check_call(db, collection, points, n_updated);
  if (st != STRATA_OK)
    return st;
  payload_op op = {.kind = OP_OVERWRITE, .text = payload};
  st = parse_object(payload, 0, &op.value);
  if (st == STRATA_OK) {
    op.text_len = strlen(payload);
    st = run_op(db, collection, points, &op, options, n_updated);
  }
  json_decref(op.value);
  return st;
}

strata_status strata_payload_delete_keys(strata_db *db,
                                         const char *collection,
                                         const strata_point_selector *points,
                                         const char *const *keys,
                                         size_t n_keys,
                                         const strata_write_options *options,
                                         uint64_t *n_updated) {
  strata_status st = check_call(db, collection, points, n_updated);
  if (st != STRATA_OK)
    return st;
  if (n_keys > 0 && !keys)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "keys is NULL but n_keys is %zu", n_keys);
  payload_op op = {.kind = OP_DELETE_KEYS};
  op.paths = calloc(n_keys ? n_keys : 1, sizeof *op.paths);
  if (!op.paths)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  for (; op.n_paths < n_keys && st == STRATA_OK; op.n_paths++) {
    if (!keys[op.n_paths]) {
      st = strata_fail(STRATA_ERR_INVALID_ARGUMENT, "key %zu is NULL",
                       op.n_paths);
      break;
    }
    st = strata_path_parse(keys[op.n_paths], &op.paths[op.n_paths]);
    if (st != STRATA_OK)
      break;
  }
  if (st == STRATA_OK)
    st = run_op(db, collection, points, &op, options, n_updated);
  for (size_t i = 0; i < op.n_paths; i++)
    strata_path_free(&op.paths[i]);
  free(op.paths);
  return st;
}

strata_status strata_payload_clear(strata_db *db, const char *collection,
                                   const strata_point_selector *points,
                                   const strata_write_options *options,
                                   uint64_t *n_updated) {
  strata_status st = check_call(db, collection, points, n_updated);
  if (st != STRATA_OK)
    return st;
  payload_op op = {.kind = OP_CLEAR};
  return run_op(db, collection, points, &op, options, n_updated);
}
