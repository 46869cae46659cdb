/*
 * Payload indexes of collections, and filter evaluation against the
 * engine's state.
 *
 * Each collection keeps an array of strata_payload_index, one per indexed
 * field, sorted by field.  Only their definitions are stored, in the meta
 * column family:
 *
 *   "field_index/" + collection id (8 hex digits) + "/" + field
 *       -> type name ("keyword", "integer", ...)
 *
 * and strata_open() rebuilds their contents from the payloads.  Writers
 * keep them in step under db->lock held exclusively (engine.h, step 4):
 * for each changed point the old payload's values are removed and the new
 * one's added, then strata_field_indexes_prepare() runs once per batch.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "filter.h"

#define FIELD_INDEX_KEY_PREFIX "field_index/"

strata_status strata_payload_read(strata_db *db, const strata_collection *c,
                                  const strata_point_id *id, json_t **out) {
  *out = NULL;
  uint8_t key[STRATA_ROW_KEY_MAX];
  size_t klen = strata_row_key(c->id, id, key);
  char *text = NULL;
  size_t len = 0;
  strata_status st = strata_store_get(db->store, db->view, STRATA_CF_PAYLOADS,
                                      key, klen, &text, &len);
  if (st != STRATA_OK || !text)
    return st;
  st = strata_payload_load(text, len, out);
  free(text);
  if (st == STRATA_ERR_INVALID_ARGUMENT)
    return strata_payload_corrupt(c, id);
  return st;
}

strata_status strata_payload_corrupt(const strata_collection *c,
                                     const strata_point_id *id) {
  char idtext[STRATA_ID_STRLEN];
  return strata_fail(STRATA_ERR_CORRUPTION,
                     "stored payload of point %s in collection \"%s\" is "
                     "not valid JSON; restore the data directory from a "
                     "backup",
                     strata_id_format(id, idtext), c->name);
}

static int resolve_id(void *arg, const strata_point_id *id, uint32_t *point) {
  const strata_collection *c = arg;
  uint32_t p = strata_id_map_get(&c->ids, id);
  if (p == STRATA_NO_POINT)
    return 0;
  *point = p;
  return 1;
}

void strata_collection_indexes(const strata_collection *c,
                               strata_payload_indexes *out) {
  out->items = c->field_indexes;
  out->count = c->n_field_indexes;
  out->resolve_id = resolve_id;
  out->resolve_arg = (void *)c;
}

/* Checking a candidate alone costs one RocksDB lookup, so beyond
 * 1/SCAN_SHARE of the points one ordered scan of all payloads is used
 * instead (an estimate, not tuned). */
#define SCAN_SHARE 8

typedef struct check_state {
  const strata_collection *c;
  const strata_filter *filter;
  const strata_payload_indexes *indexes;
  const roaring_bitmap_t *candidates;
  roaring_bitmap_t *failed;  /* candidates that do not match */
  roaring_bitmap_t *checked; /* candidates whose payload row was seen */
  strata_filter_cache *cache; /* being filled by the scan, or NULL */
  strata_status status;
} check_state;

/* Evaluates the filter on one candidate; `payload` may be NULL. */
static void check_one(check_state *cs, uint32_t point, const json_t *payload) {
  if (!strata_filter_matches_indexed(cs->filter, payload,
                                     &cs->c->points[point], cs->indexes))
    roaring_bitmap_add(cs->failed, point);
}

static int check_row(const uint8_t *key, size_t klen, const uint8_t *value,
                     size_t vlen, void *ctx) {
  check_state *cs = ctx;
  uint32_t cid;
  strata_point_id id;
  if (strata_row_key_decode(key, klen, &cid, &id) != 0)
    return 0; /* load_all() already rejected malformed keys at open */
  uint32_t point = strata_id_map_get(&cs->c->ids, &id);
  if (point == STRATA_NO_POINT ||
      (!cs->cache && !roaring_bitmap_contains(cs->candidates, point)))
    return 0;
  json_t *payload = NULL;
  cs->status = strata_payload_load((const char *)value, vlen, &payload);
  if (cs->status == STRATA_ERR_INVALID_ARGUMENT)
    cs->status = strata_payload_corrupt(cs->c, &id);
  if (cs->status != STRATA_OK)
    return 1;
  if (roaring_bitmap_contains(cs->candidates, point)) {
    check_one(cs, point, payload);
    roaring_bitmap_add(cs->checked, point);
  }
  if (cs->cache)
    strata_filter_cache_put(cs->cache, point, payload);
  else
    json_decref(payload);
  return 0;
}

/* Checks every candidate against the parsed payloads of `cache`. */
static void check_cached(check_state *cs, const strata_filter_cache *cache) {
  roaring_uint32_iterator_t it;
  roaring_init_iterator(cs->candidates, &it);
  uint32_t batch[256];
  uint32_t n;
  while ((n = roaring_read_uint32_iterator(&it, batch, 256)) > 0)
    for (uint32_t i = 0; i < n; i++)
      check_one(cs, batch[i], strata_filter_cache_payload(cache, batch[i]));
}

/* Checks every candidate, against the filter cache, by one scan of the
 * collection's payloads (which fills the cache) or by a lookup per
 * candidate, adding those that fail to cs->failed. */
static strata_status check_candidates(strata_db *db, check_state *cs) {
  const strata_collection *c = cs->c;
  const strata_filter_cache *cache = strata_filter_cache_get(c);
  if (cache) {
    check_cached(cs, cache);
    return STRATA_OK;
  }
  uint64_t n = roaring_bitmap_get_cardinality(cs->candidates);
  roaring_uint32_iterator_t *it = NULL;
  if (n * SCAN_SHARE >= c->n_points) {
    uint8_t prefix[4] = {(uint8_t)(c->id >> 24), (uint8_t)(c->id >> 16),
                         (uint8_t)(c->id >> 8), (uint8_t)c->id};
    /* Without memory for the cache the scan still checks candidates. */
    cs->cache = strata_filter_cache_new(c->points_used);
    int rc = strata_store_scan(db->store, db->view, STRATA_CF_PAYLOADS,
                               prefix, 4, NULL, 0, check_row, cs);
    if (rc < 0 || cs->status != STRATA_OK) {
      strata_filter_cache_free(cs->cache);
      cs->cache = NULL;
      return rc < 0 ? STRATA_ERR_IO : cs->status;
    }
    if (cs->cache)
      strata_filter_cache_install(c, cs->cache);
    cs->cache = NULL;
    /* The candidates without a payload row have no payload. */
    roaring_bitmap_t *rest = roaring_bitmap_andnot(cs->candidates, cs->checked);
    it = rest ? roaring_create_iterator(rest) : NULL;
    for (; it && it->has_value; roaring_advance_uint32_iterator(it))
      check_one(cs, it->current_value, NULL);
    if (it)
      roaring_free_uint32_iterator(it);
    if (rest)
      roaring_bitmap_free(rest);
    return rest ? STRATA_OK : STRATA_ERR_NO_MEMORY;
  }
  it = roaring_create_iterator(cs->candidates);
  if (!it)
    return STRATA_ERR_NO_MEMORY;
  strata_status st = STRATA_OK;
  for (; it->has_value; roaring_advance_uint32_iterator(it)) {
    json_t *payload = NULL;
    st = strata_payload_read(db, c, &c->points[it->current_value], &payload);
    if (st != STRATA_OK)
      break;
    check_one(cs, it->current_value, payload);
    json_decref(payload);
  }
  roaring_free_uint32_iterator(it);
  return st;
}

strata_status strata_collection_select(strata_db *db,
                                       const strata_collection *c,
                                       const strata_filter *filter,
                                       roaring_bitmap_t **out) {
  *out = NULL;
  if (!filter) {
    *out = roaring_bitmap_copy(c->live);
    return *out ? STRATA_OK : strata_fail(STRATA_ERR_NO_MEMORY,
                                          "out of memory");
  }

  /* Payload indexes narrow the candidates, or decide them outright. */
  strata_payload_indexes indexes;
  strata_collection_indexes(c, &indexes);
  roaring_bitmap_t *candidates = NULL;
  int exact = 0;
  strata_status st =
      strata_filter_candidates(filter, &indexes, c->live, &candidates, &exact);
  if (st != STRATA_OK)
    return strata_fail(st, "out of memory evaluating a filter");
  if (exact) {
    *out = candidates;
    return STRATA_OK;
  }

  /* Payloads decide the rest. */
  check_state cs = {c,
                    filter,
                    &indexes,
                    candidates,
                    roaring_bitmap_create(),
                    roaring_bitmap_create(),
                    NULL,
                    STRATA_OK};
  st = cs.failed && cs.checked ? check_candidates(db, &cs)
                               : STRATA_ERR_NO_MEMORY;
  if (st == STRATA_OK) {
    roaring_bitmap_andnot_inplace(candidates, cs.failed);
    *out = candidates;
  } else {
    roaring_bitmap_free(candidates);
    if (st == STRATA_ERR_NO_MEMORY)
      st = strata_fail(st, "out of memory evaluating a filter");
  }
  if (cs.failed)
    roaring_bitmap_free(cs.failed);
  if (cs.checked)
    roaring_bitmap_free(cs.checked);
  return st;
}

void strata_field_indexes_update(strata_collection *c, uint32_t point,
                                 const json_t *old_payload,
                                 const json_t *new_payload) {
  for (size_t i = 0; i < c->n_field_indexes; i++) {
    strata_payload_index *index = c->field_indexes[i];
    /* A failure marks the index broken; prepare rebuilds it. */
    if (old_payload)
      (void)strata_payload_index_remove(index, point, old_payload);
    if (new_payload)
      (void)strata_payload_index_add(index, point, new_payload);
  }
}

/* ------------------------------------------------------------------ */
/* Building                                                             */

typedef struct build_state {
  const strata_collection *c;
  strata_payload_index **indexes;
  size_t n_indexes;
  strata_status status;
} build_state;

static int build_visit(const uint8_t *key, size_t klen, const uint8_t *value,
                       size_t vlen, void *ctx) {
  build_state *bs = ctx;
  uint32_t cid;
  strata_point_id id;
  if (strata_row_key_decode(key, klen, &cid, &id) != 0)
    return 0; /* load_all() already rejected malformed keys at open */
  uint32_t point = strata_id_map_get(&bs->c->ids, &id);
  if (point == STRATA_NO_POINT)
    return 0; /* a payload row always has a point row; skip if not */
  json_t *payload = NULL;
  strata_status st = strata_payload_load((const char *)value, vlen, &payload);
  if (st != STRATA_OK) {
    char idtext[STRATA_ID_STRLEN];
    bs->status = strata_fail(st == STRATA_ERR_NO_MEMORY
                                 ? st
                                 : STRATA_ERR_CORRUPTION,
                             "cannot index the payload of point %s in "
                             "collection \"%s\": %s",
                             strata_id_format(&id, idtext), bs->c->name,
                             strata_last_error());
    return 1;
  }
  for (size_t i = 0; i < bs->n_indexes && st == STRATA_OK; i++)
    st = strata_payload_index_add(bs->indexes[i], point, payload);
  json_decref(payload);
  if (st != STRATA_OK) {
    bs->status = strata_fail(STRATA_ERR_NO_MEMORY,
                             "out of memory building payload indexes of "
                             "collection \"%s\"",
                             bs->c->name);
    return 1;
  }
  return 0;
}

/* Adds every stored payload of `c` to the given empty indexes, reading
 * db->view (or the latest state when it is NULL), then prepares them. */
static strata_status build_indexes(strata_db *db, const strata_collection *c,
                                   strata_payload_index **indexes,
                                   size_t n_indexes) {
  if (n_indexes == 0)
    return STRATA_OK;
  uint8_t prefix[4] = {(uint8_t)(c->id >> 24), (uint8_t)(c->id >> 16),
                       (uint8_t)(c->id >> 8), (uint8_t)c->id};
  build_state bs = {c, indexes, n_indexes, STRATA_OK};
  if (strata_store_scan(db->store, db->view, STRATA_CF_PAYLOADS, prefix, 4,
                        NULL, 0, build_visit, &bs) < 0)
    return STRATA_ERR_IO;
  for (size_t i = 0; i < n_indexes && bs.status == STRATA_OK; i++)
    if (strata_payload_index_prepare(indexes[i]) != STRATA_OK)
      bs.status = strata_fail(STRATA_ERR_NO_MEMORY,
                              "out of memory building payload indexes of "
                              "collection \"%s\"",
                              c->name);
  return bs.status;
}

void strata_field_indexes_prepare(strata_db *db, strata_collection *c) {
  strata_filter_cache_drop(c);
  for (size_t i = 0; i < c->n_field_indexes; i++) {
    strata_payload_index *index = c->field_indexes[i];
    if (!strata_payload_index_broken(index)) {
      /* Failure leaves the index valid, only slower until next time. */
      (void)strata_payload_index_prepare(index);
      continue;
    }
    strata_payload_index *fresh = NULL;
    strata_status st = strata_payload_index_create(
        strata_payload_index_field(index), strata_payload_index_type(index),
        &fresh);
    if (st == STRATA_OK)
      st = build_indexes(db, c, &fresh, 1);
    if (st != STRATA_OK) {
      strata_db_log(db,
                    "payload index on \"%s\" of collection \"%s\" missed an "
                    "update and could not be rebuilt (%s); filters on it "
                    "stay correct but read payloads until the next write "
                    "or open",
                    strata_payload_index_field(index), c->name,
                    strata_last_error());
      strata_payload_index_free(fresh);
      continue;
    }
    strata_payload_index_free(index);
    c->field_indexes[i] = fresh;
  }
}

/* ------------------------------------------------------------------ */
/* Definitions in the meta column family                                */

static char *definition_key(uint32_t collection_id, const char *field,
                            size_t *len) {
  char *key = NULL;
  int n = asprintf(&key, FIELD_INDEX_KEY_PREFIX "%08x/%s", collection_id,
                   field);
  if (n < 0)
    return NULL;
  *len = (size_t)n;
  return key;
}

void strata_field_indexes_forget(strata_db *db, strata_collection *c,
                                 strata_store_batch *batch) {
  for (size_t i = 0; i < c->n_field_indexes; i++) {
    size_t klen = 0;
    char *key = definition_key(
        c->id, strata_payload_index_field(c->field_indexes[i]), &klen);
    /* NOTE: when out of memory the definition stays and names a
     * collection id that is never reused, so open skips it. */
    if (key)
      strata_store_batch_delete(batch, db->store, STRATA_CF_META, key, klen);
    free(key);
  }
}

/* Finds the position of `field` in c's sorted array; sets *found. */
static size_t find_field(const strata_collection *c, const char *field,
                         int *found) {
  size_t lo = 0, hi = c->n_field_indexes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(strata_payload_index_field(c->field_indexes[mid]), field);
    if (cmp == 0) {
      *found = 1;
      return mid;
    }
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

/* Inserts `index` in c's array at its sorted place; returns 0 or -1. */
static int insert_index(strata_collection *c, strata_payload_index *index) {
  int found;
  size_t at = find_field(c, strata_payload_index_field(index), &found);
  strata_payload_index **grown = realloc(
      c->field_indexes, (c->n_field_indexes + 1) * sizeof *grown);
  if (!grown)
    return -1;
  c->field_indexes = grown;
  memmove(grown + at + 1, grown + at,
          (c->n_field_indexes - at) * sizeof *grown);
  grown[at] = index;
  c->n_field_indexes++;
  return 0;
}

typedef struct load_defs_state {
  strata_db *db;
  strata_status status;
} load_defs_state;

static strata_collection *collection_by_id(strata_db *db, uint32_t id) {
  for (size_t i = 0; i < db->n_collections; i++)
    if (db->collections[i]->id == id)
      return db->collections[i];
  return NULL;
}

static int load_definition(const uint8_t *key, size_t klen,
                           const uint8_t *value, size_t vlen, void *ctx) {
  load_defs_state *ls = ctx;
  size_t prefix = strlen(FIELD_INDEX_KEY_PREFIX);
  char *text = strndup((const char *)key, klen);
  char *type_name = strndup((const char *)value, vlen);
  strata_status st = STRATA_OK;
  if (!text || !type_name) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  char *end = NULL;
  unsigned long cid = strtoul(text + prefix, &end, 16);
  strata_index_type type;
  if (klen < prefix + 10 || end != text + prefix + 8 || *end != '/' ||
      strata_index_type_parse(type_name, &type) != STRATA_OK) {
    st = strata_fail(STRATA_ERR_CORRUPTION,
                     "payload index definition \"%s\" = \"%s\" in column "
                     "family \"meta\" is malformed; restore the data "
                     "directory from a backup",
                     text, type_name);
    goto done;
  }
  strata_collection *c = collection_by_id(ls->db, (uint32_t)cid);
  if (!c)
    goto done; /* left over from a dropped collection */
  strata_payload_index *index = NULL;
  st = strata_payload_index_create(end + 1, type, &index);
  if (st == STRATA_OK && insert_index(c, index) != 0) {
    strata_payload_index_free(index);
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  } else if (st == STRATA_ERR_INVALID_ARGUMENT) {
    st = strata_fail(STRATA_ERR_CORRUPTION,
                     "payload index definition \"%s\" has an invalid field "
                     "path; restore the data directory from a backup",
                     text);
  }
done:
  free(text);
  free(type_name);
  ls->status = st;
  return st != STRATA_OK;
}

strata_status strata_field_indexes_load(strata_db *db) {
  load_defs_state ls = {db, STRATA_OK};
  if (strata_store_scan(db->store, NULL, STRATA_CF_META,
                        FIELD_INDEX_KEY_PREFIX,
                        strlen(FIELD_INDEX_KEY_PREFIX), NULL, 0,
                        load_definition, &ls) < 0)
    return STRATA_ERR_IO;
  for (size_t i = 0; i < db->n_collections && ls.status == STRATA_OK; i++) {
    strata_collection *c = db->collections[i];
    ls.status = build_indexes(db, c, c->field_indexes, c->n_field_indexes);
  }
  return ls.status;
}

/* ------------------------------------------------------------------ */
/* Create and drop                                                      */

static strata_status begin_index_call(strata_db *db, const char *collection,
                                      const char *field,
                                      strata_collection **c, char **canonical) {
  *c = NULL;
  *canonical = NULL;
  if (!db || !collection || !field)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "db, collection and field must not be NULL");
  if (db->read_only)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "the database is open read-only; reopen it without "
                       "read_only to change indexes");
  strata_path path;
  strata_status st = strata_path_parse(field, &path);
  if (st != STRATA_OK)
    return st;
  *canonical = strdup(path.text);
  strata_path_free(&path);
  if (!*canonical)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  *c = strata_db_find(db, collection);
  if (!*c)
    return strata_fail(STRATA_ERR_NOT_FOUND,
                       "collection \"%s\" not found; create it first",
                       collection);
  return STRATA_OK;
}

strata_status strata_field_index_create(strata_db *db, const char *collection,
                                        const char *field, const char *type,
                                        const strata_write_options *options) {
  strata_clear_error();
  strata_index_type itype;
  if (!type || strata_index_type_parse(type, &itype) != STRATA_OK)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "unknown payload index type \"%s\"; use keyword, "
                       "integer, float, bool, uuid, datetime or text",
                       type ? type : "(null)");
  if (db)
    pthread_mutex_lock(&db->write_mutex);
  strata_collection *c;
  char *canonical = NULL, *key = NULL;
  strata_payload_index *index = NULL;
  strata_store_batch *batch = NULL;
  strata_status st = begin_index_call(db, collection, field, &c, &canonical);
  if (st != STRATA_OK)
    goto done;
  int found;
  find_field(c, canonical, &found);
  if (found) {
    st = strata_fail(STRATA_ERR_ALREADY_EXISTS,
                     "collection \"%s\" already has a payload index on "
                     "\"%s\"; drop it first to change its type",
                     collection, canonical);
    goto done;
  }

  /* Build over the current state: only this writer changes it. */
  st = strata_payload_index_create(canonical, itype, &index);
  if (st == STRATA_OK)
    st = build_indexes(db, c, &index, 1);
  if (st != STRATA_OK)
    goto done;

  size_t klen = 0;
  key = definition_key(c->id, canonical, &klen);
  batch = strata_store_batch_new();
  if (!key || !batch) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  const char *type_name = strata_index_type_name(itype);
  strata_store_batch_put(batch, db->store, STRATA_CF_META, key, klen,
                         type_name, strlen(type_name));
  st = strata_store_write(db->store, batch, options ? options->wait : 0);
  if (st != STRATA_OK)
    goto done;

  pthread_rwlock_wrlock(&db->lock);
  int inserted = insert_index(c, index);
  pthread_rwlock_unlock(&db->lock);
  if (inserted != 0) {
    /* NOTE: the definition is stored, so the next open builds it. */
    st = strata_fail(STRATA_ERR_NO_MEMORY,
                     "out of memory adding the payload index on \"%s\"; it "
                     "is stored and will be built at the next open",
                     canonical);
    goto done;
  }
  index = NULL;

done:
  if (db)
    pthread_mutex_unlock(&db->write_mutex);
  strata_payload_index_free(index);
  strata_store_batch_free(batch);
  free(canonical);
  free(key);
  return st;
}

strata_status strata_field_index_drop(strata_db *db, const char *collection,
                                      const char *field,
                                      const strata_write_options *options) {
  strata_clear_error();
  if (db)
    pthread_mutex_lock(&db->write_mutex);
  strata_collection *c;
  char *canonical = NULL, *key = NULL;
  strata_store_batch *batch = NULL;
  strata_status st = begin_index_call(db, collection, field, &c, &canonical);
  if (st != STRATA_OK)
    goto done;
  int found;
  size_t at = find_field(c, canonical, &found);
  if (!found) {
    st = strata_fail(STRATA_ERR_NOT_FOUND,
                     "collection \"%s\" has no payload index on \"%s\"",
                     collection, canonical);
    goto done;
  }
  size_t klen = 0;
  key = definition_key(c->id, canonical, &klen);
  batch = strata_store_batch_new();
  if (!key || !batch) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  strata_store_batch_delete(batch, db->store, STRATA_CF_META, key, klen);
  st = strata_store_write(db->store, batch, options ? options->wait : 0);
  if (st != STRATA_OK)
    goto done;

  pthread_rwlock_wrlock(&db->lock);
  strata_payload_index *index = c->field_indexes[at];
  memmove(c->field_indexes + at, c->field_indexes + at + 1,
          (c->n_field_indexes - at - 1) * sizeof *c->field_indexes);
  c->n_field_indexes--;
  pthread_rwlock_unlock(&db->lock);
  strata_payload_index_free(index);

done:
  if (db)
    pthread_mutex_unlock(&db->write_mutex);
  strata_store_batch_free(batch);
  free(canonical);
  free(key);
  return st;
}
