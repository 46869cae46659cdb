/* Database handle: open, load, close, and the collection catalogue. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine.h"

#define COLLECTION_KEY_PREFIX "collection/"
#define MAX_COLLECTION_NAME 255

static const char *const distance_names[] = {NULL, "Cosine", "Euclid", "Dot",
                                             "Manhattan"};

const char *strata_distance_name(strata_distance distance) {
  if (distance >= STRATA_DISTANCE_COSINE &&
      distance <= STRATA_DISTANCE_MANHATTAN)
    return distance_names[distance];
  return "unknown";
}

strata_status strata_distance_parse(const char *name, strata_distance *out) {
  for (int d = STRATA_DISTANCE_COSINE; d <= STRATA_DISTANCE_MANHATTAN; d++) {
    if (name && strcasecmp(name, distance_names[d]) == 0) {
      *out = (strata_distance)d;
      return STRATA_OK;
    }
  }
  return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                     "unknown distance \"%s\"; use Cosine, Euclid, Dot or "
                     "Manhattan",
                     name ? name : "(null)");
}

/* ------------------------------------------------------------------ */
/* Catalogue                                                            */

strata_collection *strata_db_find(strata_db *db, const char *name) {
  size_t lo = 0, hi = db->n_collections;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int cmp = strcmp(db->collections[mid]->name, name);
    if (cmp == 0)
      return db->collections[mid];
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Grows the catalogue so that one more collection fits. */
static int catalogue_reserve(strata_db *db) {
  strata_collection **grown = realloc(
      db->collections, (db->n_collections + 1) * sizeof *db->collections);
  if (!grown)
    return -1;
  db->collections = grown;
  return 0;
}

/* Inserts in name order; the caller has called catalogue_reserve(). */
static void catalogue_insert(strata_db *db, strata_collection *c) {
  size_t at = 0;
  while (at < db->n_collections &&
         strcmp(db->collections[at]->name, c->name) < 0)
    at++;
  memmove(db->collections + at + 1, db->collections + at,
          (db->n_collections - at) * sizeof *db->collections);
  db->collections[at] = c;
  db->n_collections++;
}

static void catalogue_remove(strata_db *db, strata_collection *c) {
  for (size_t i = 0; i < db->n_collections; i++) {
    if (db->collections[i] == c) {
      memmove(db->collections + i, db->collections + i + 1,
              (db->n_collections - i - 1) * sizeof *db->collections);
      db->n_collections--;
      return;
    }
  }
}

void strata_db_publish_view(strata_db *db) {
  strata_store_view *view = strata_store_view_new(db->store);
  if (!view)
    return; /* Out of memory: readers keep the old, still valid view. */
  strata_store_view_free(db->store, db->view);
  db->view = view;
}

/* ------------------------------------------------------------------ */
/* Collection configs in the meta family                                */

static char *config_to_json(uint32_t id, const strata_vector_config *vectors,
                            size_t n_vectors) {
  json_t *root = json_object();
  json_t *list = json_array();
  json_object_set_new(root, "id", json_integer(id));
  for (size_t i = 0; i < n_vectors; i++) {
    json_t *v = json_object();
    json_object_set_new(v, "name",
                        json_string(vectors[i].name ? vectors[i].name : ""));
    json_object_set_new(v, "dim", json_integer(vectors[i].dim));
    json_object_set_new(v, "distance",
                        json_string(strata_distance_name(vectors[i].distance)));
    json_t *hnsw = json_object();
    json_object_set_new(hnsw, "m", json_integer(vectors[i].hnsw.m));
    json_object_set_new(hnsw, "ef_construct",
                        json_integer(vectors[i].hnsw.ef_construct));
    json_object_set_new(hnsw, "full_scan_threshold_kb",
                        json_integer(vectors[i].hnsw.full_scan_threshold_kb));
    json_object_set_new(v, "hnsw", hnsw);
    /* Only quantized vectors get the key, so a collection without
     * quantization is stored as before it existed. */
    const strata_quantization_config *q = &vectors[i].quantization;
    if (q->type == STRATA_QUANTIZATION_INT8)
      json_object_set_new(
          v, "quantization",
          json_pack("{s:s,s:f,s:b}", "type", "int8", "quantile",
                    (double)q->quantile, "always_ram", q->always_ram != 0));
    /* Likewise only on_disk vectors get the key. */
    if (vectors[i].on_disk)
      json_object_set_new(v, "on_disk", json_true());
    json_array_append_new(list, v);
  }
  json_object_set_new(root, "vectors", list);
  char *text = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  return text;
}

/* Reads the "quantization" object of a stored vector config into `out`;
 * a missing key (configs written before quantization existed) means
 * none.  Returns 0, or -1 when the object is malformed or invalid. */
static int quantization_from_json(const char *vector_name, uint32_t dim,
                                  strata_distance distance, const json_t *q,
                                  strata_quantization_config *out) {
  memset(out, 0, sizeof *out);
  if (!q)
    return 0;
  const json_t *type = json_object_get(q, "type");
  const json_t *quantile = json_object_get(q, "quantile");
  const json_t *always_ram = json_object_get(q, "always_ram");
  if (!json_is_string(type) || strcmp(json_string_value(type), "int8") != 0 ||
      !json_is_number(quantile) || !json_is_boolean(always_ram))
    return -1;
  out->type = STRATA_QUANTIZATION_INT8;
  out->quantile = (float)json_number_value(quantile);
  out->always_ram = json_is_true(always_ram);
  return strata_quantization_config_check(vector_name, dim, distance, out) ==
                 STRATA_OK
             ? 0
             : -1;
}

/* Reads the "on_disk" key of a stored vector config; a missing key
 * (configs written before on_disk existed) means 0.  Returns 0, or -1
 * when it is not a boolean. */
static int on_disk_from_json(const json_t *value, int *out) {
  *out = 0;
  if (!value)
    return 0;
  if (!json_is_boolean(value))
    return -1;
  *out = json_is_true(value);
  return 0;
}

/* Parses a stored config and creates the collection in *out.  Fails with
 * STRATA_ERR_CORRUPTION when the config is damaged, or with the error of
 * strata_collection_new(). */
static strata_status config_from_json(const char *data_dir, const char *name,
                                      const char *text, size_t len,
                                      strata_collection **out) {
  json_error_t jerr;
  json_t *root = json_loadb(text, len, 0, &jerr);
  json_t *list = root ? json_object_get(root, "vectors") : NULL;
  json_t *id = root ? json_object_get(root, "id") : NULL;
  size_t n = json_array_size(list);
  strata_vector_config *vectors = calloc(n ? n : 1, sizeof *vectors);
  strata_status st = STRATA_OK;
  *out = NULL;
  int ok = json_is_integer(id) && n > 0 && vectors;
  for (size_t i = 0; ok && i < n; i++) {
    json_t *v = json_array_get(list, i);
    json_t *vname = json_object_get(v, "name");
    json_t *dim = json_object_get(v, "dim");
    json_t *dist = json_object_get(v, "distance");
    strata_distance distance = STRATA_DISTANCE_COSINE;
    ok = json_is_string(vname) && json_is_integer(dim) &&
         json_integer_value(dim) > 0 &&
         json_integer_value(dim) <= STRATA_MAX_DIM &&
         json_is_string(dist) &&
         strata_distance_parse(json_string_value(dist), &distance) ==
             STRATA_OK;
    if (ok) {
      /* Configs written before the HNSW fields existed get defaults. */
      json_t *hnsw = json_object_get(v, "hnsw");
      vectors[i].name = json_string_value(vname);
      vectors[i].dim = (uint32_t)json_integer_value(dim);
      vectors[i].distance = distance;
      vectors[i].hnsw.m =
          (uint32_t)json_integer_value(json_object_get(hnsw, "m"));
      vectors[i].hnsw.ef_construct =
          (uint32_t)json_integer_value(json_object_get(hnsw, "ef_construct"));
      vectors[i].hnsw.full_scan_threshold_kb = (uint32_t)json_integer_value(
          json_object_get(hnsw, "full_scan_threshold_kb"));
      ok = strata_hnsw_config_resolve(vectors[i].name, &vectors[i].hnsw) ==
               STRATA_OK &&
           quantization_from_json(vectors[i].name, vectors[i].dim, distance,
                                  json_object_get(v, "quantization"),
                                  &vectors[i].quantization) == 0 &&
           on_disk_from_json(json_object_get(v, "on_disk"),
                             &vectors[i].on_disk) == 0;
    }
  }
  if (ok && json_integer_value(id) >= 0 &&
      json_integer_value(id) <= UINT32_MAX) {
    st = strata_collection_new(data_dir, name,
                               (uint32_t)json_integer_value(id), vectors, n,
                               out);
  } else {
    st = strata_fail(STRATA_ERR_CORRUPTION,
                     "stored configuration of collection \"%s\" is damaged "
                     "(meta key collection/%s); restore the data directory "
                     "from a backup",
                     name, name);
  }
  free(vectors);
  json_decref(root);
  return st;
}

/* ------------------------------------------------------------------ */
/* Loading                                                              */

typedef struct load_state {
  strata_db *db;
  strata_status status;
} load_state;

static int load_collection_config(const uint8_t *key, size_t klen,
                                  const uint8_t *value, size_t vlen,
                                  void *ctx) {
  load_state *st = ctx;
  size_t prefix = strlen(COLLECTION_KEY_PREFIX);
  char *name = strndup((const char *)key + prefix, klen - prefix);
  if (!name) {
    st->status = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    return 1;
  }
  strata_collection *c = NULL;
  strata_status status = config_from_json(st->db->path, name,
                                          (const char *)value, vlen, &c);
  free(name);
  if (status != STRATA_OK) {
    st->status = status;
    return 1;
  }
  if (catalogue_reserve(st->db) != 0) {
    strata_collection_free(c);
    st->status = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    return 1;
  }
  catalogue_insert(st->db, c);
  return 0;
}

static strata_collection *find_by_id(strata_db *db, uint32_t id) {
  for (size_t i = 0; i < db->n_collections; i++)
    if (db->collections[i]->id == id)
      return db->collections[i];
  return NULL;
}

typedef struct load_points_state {
  strata_db *db;
  strata_status status;
  strata_collection *last; /* rows come grouped by collection */
  const float **vectors;
  size_t vectors_cap;
} load_points_state;

static int load_point(const uint8_t *key, size_t klen, const uint8_t *value,
                      size_t vlen, void *ctx) {
  load_points_state *st = ctx;
  uint32_t cid;
  strata_point_id id;
  char idtext[STRATA_ID_STRLEN];
  if (strata_row_key_decode(key, klen, &cid, &id) != 0) {
    st->status = strata_fail(STRATA_ERR_CORRUPTION,
                             "malformed point key of %zu bytes in column "
                             "family \"points\"; restore the data directory "
                             "from a backup",
                             klen);
    return 1;
  }
  if (!st->last || st->last->id != cid)
    st->last = find_by_id(st->db, cid);
  strata_collection *c = st->last;
  if (!c) {
    st->status = strata_fail(STRATA_ERR_CORRUPTION,
                             "point %s belongs to collection id %u, which "
                             "has no configuration; restore the data "
                             "directory from a backup",
                             strata_id_format(&id, idtext), cid);
    return 1;
  }
  if (c->n_spaces > st->vectors_cap) {
    const float **grown = realloc(st->vectors, c->n_spaces * sizeof *grown);
    if (!grown) {
      st->status = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
      return 1;
    }
    st->vectors = grown;
    st->vectors_cap = c->n_spaces;
  }
  if (strata_vector_record_decode(c, value, vlen, st->vectors) != 0) {
    st->status = strata_fail(STRATA_ERR_CORRUPTION,
                             "vector record of point %s in collection \"%s\" "
                             "is damaged (%zu bytes); restore the data "
                             "directory from a backup",
                             strata_id_format(&id, idtext), c->name, vlen);
    return 1;
  }
  strata_status reserved = strata_collection_reserve(c, 1);
  if (reserved != STRATA_OK) {
    st->status = reserved;
    return 1;
  }
  strata_collection_put(c, &id, st->vectors);
  return 0;
}

static strata_status load_all(strata_db *db) {
  uint64_t sequence = strata_store_sequence(db->store);
  load_state st = {db, STRATA_OK};
  int rc = strata_store_scan(db->store, NULL, STRATA_CF_META,
                             COLLECTION_KEY_PREFIX,
                             strlen(COLLECTION_KEY_PREFIX), NULL, 0,
                             load_collection_config, &st);
  if (rc < 0)
    return STRATA_ERR_IO;
  if (st.status != STRATA_OK)
    return st.status;

  char *value = NULL;
  size_t len = 0;
  strata_status status = strata_store_get(db->store, NULL, STRATA_CF_META,
                                          "next_collection_id", 18, &value,
                                          &len);
  if (status != STRATA_OK)
    return status;
  db->next_collection_id = value ? (uint32_t)strtoul(value, NULL, 10) : 1;
  free(value);
  for (size_t i = 0; i < db->n_collections; i++)
    if (db->collections[i]->id >= db->next_collection_id)
      db->next_collection_id = db->collections[i]->id + 1;

  for (size_t i = 0; i < db->n_collections; i++) {
    db->collections[i]->loading = 1;
    strata_index_files_load_hints(db, db->collections[i], sequence);
  }
  load_points_state pst = {db, STRATA_OK, NULL, NULL, 0};
  rc = strata_store_scan(db->store, NULL, STRATA_CF_POINTS, "", 0, NULL, 0,
                         load_point, &pst);
  free(pst.vectors);
  if (rc < 0)
    return STRATA_ERR_IO;
  if (pst.status != STRATA_OK)
    return pst.status;
  for (size_t i = 0; i < db->n_collections; i++) {
    strata_index_files_finish_load(db, db->collections[i]);
    db->collections[i]->loading = 0;
  }
  return strata_field_indexes_load(db);
}

/* ------------------------------------------------------------------ */
/* Logging                                                              */

void strata_db_log(strata_db *db, const char *fmt, ...) {
  char message[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  if (db->log)
    db->log(db->log_ctx, message);
  else
    fprintf(stderr, "strata: %s\n", message);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                       */

strata_status strata_open(const char *path, const strata_open_options *options,
                          strata_db **out) {
  strata_clear_error();
  if (!out)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "strata_open: out is NULL; pass the address of a "
                       "strata_db pointer");
  *out = NULL;
  if (!path || !*path)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "data directory path is empty; pass a directory");
  strata_open_options defaults = {1, 0, NULL, NULL, 0};
  if (!options)
    options = &defaults;

  strata_db *db = calloc(1, sizeof *db);
  if (!db)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  pthread_mutex_init(&db->write_mutex, NULL);
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  /* Searches are frequent; without writer preference a steady stream of
   * them would starve writes. */
  pthread_rwlockattr_setkind_np(&attr,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&db->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  db->read_only = options->read_only;
  db->log = options->log;
  db->log_ctx = options->log_ctx;
  db->threads = options->threads;
  if (db->threads == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    db->threads = cores > 0 ? (unsigned)cores : 1;
  }
  db->path = strdup(path);
  if (!db->path) {
    free(db);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }

  strata_status st = strata_store_open(path, options->create_if_missing,
                                       options->read_only, &db->store);
  if (st == STRATA_OK)
    st = load_all(db);
  if (st == STRATA_OK) {
    db->view = strata_store_view_new(db->store);
    if (!db->view)
      st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  if (st != STRATA_OK) {
    strata_close(db);
    return st;
  }
  *out = db;
  return STRATA_OK;
}

void strata_close(strata_db *db) {
  if (!db)
    return;
  if (!db->read_only && db->store && db->view) {
    uint64_t sequence = strata_store_sequence(db->store);
    for (size_t i = 0; i < db->n_collections; i++)
      strata_index_files_save(db, db->collections[i], sequence);
  }
  for (size_t i = 0; i < db->n_collections; i++)
    strata_collection_free(db->collections[i]);
  free(db->collections);
  if (db->view)
    strata_store_view_free(db->store, db->view);
  strata_store_close(db->store);
  pthread_rwlock_destroy(&db->lock);
  pthread_mutex_destroy(&db->write_mutex);
  free(db->path);
  free(db);
}

/* ------------------------------------------------------------------ */
/* Collections                                                          */

/* Returns the byte offset of the first invalid UTF-8 sequence in s, or
 * -1 when it is all valid (no overlong forms, surrogates or code points
 * above U+10FFFF). */
static long first_invalid_utf8(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return (long)i;
    }
    if (len - i <= n)
      return (long)i;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return (long)i;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return (long)i;
    i += n + 1;
  }
  return -1;
}

/* Names are stored in JSON and printed in messages, so they must be
 * valid UTF-8 without control characters.  Messages quote the name only
 * once it is known to be printable. */
static strata_status check_name(const char *what, const char *name,
                                size_t max) {
  if (!name)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT, "%s is NULL", what);
  size_t len = strlen(name);
  if (len > max)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "%s is %zu bytes long; the maximum is %zu", what, len,
                       max);
  long bad = first_invalid_utf8((const unsigned char *)name, len);
  if (bad >= 0)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "%s is not valid UTF-8 (at byte %ld); use a UTF-8 "
                       "name",
                       what, bad);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (ch < 0x20 || ch == 0x7f)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "%s contains a control character (byte %zu is "
                         "0x%02x); choose another name",
                         what, i, ch);
    if (ch == '/')
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "%s \"%s\" contains '/' at byte %zu; choose "
                         "another name",
                         what, name, i);
  }
  return STRATA_OK;
}

static strata_status check_config(const strata_collection_config *config) {
  if (!config || !config->vectors || config->n_vectors == 0)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "a collection needs at least one vector; give its "
                       "dimension and distance");
  if (config->n_vectors > UINT16_MAX)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "%zu named vectors is too many; the maximum is %d",
                       config->n_vectors, UINT16_MAX);
  for (size_t i = 0; i < config->n_vectors; i++) {
    const strata_vector_config *v = &config->vectors[i];
    const char *vname = v->name ? v->name : "";
    strata_status st = check_name("vector name", vname, STRATA_MAX_VECTOR_NAME);
    if (st != STRATA_OK)
      return st;
    if (v->dim < 1 || v->dim > STRATA_MAX_DIM)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "vector \"%s\" has dimension %u; it must be between "
                         "1 and %d",
                         vname, v->dim, STRATA_MAX_DIM);
    if (v->distance < STRATA_DISTANCE_COSINE ||
        v->distance > STRATA_DISTANCE_MANHATTAN)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "vector \"%s\" has unknown distance code %d; use "
                         "Cosine, Euclid, Dot or Manhattan",
                         vname, (int)v->distance);
    st = strata_quantization_config_check(vname, v->dim, v->distance,
                                          &v->quantization);
    if (st != STRATA_OK)
      return st;
    for (size_t j = 0; j < i; j++) {
      const char *other = config->vectors[j].name ? config->vectors[j].name
                                                  : "";
      if (strcmp(vname, other) == 0)
        return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                           "vector name \"%s\" is given twice; each named "
                           "vector needs its own name",
                           vname);
    }
  }
  return STRATA_OK;
}

static strata_status check_writable(strata_db *db) {
  if (db->read_only)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "the database is open read-only; reopen it without "
                       "read_only to write");
  return STRATA_OK;
}

strata_status strata_collection_create(strata_db *db, const char *name,
                                       const strata_collection_config *config) {
  strata_clear_error();
  strata_status st = check_writable(db);
  if (st == STRATA_OK)
    st = check_name("collection name", name, MAX_COLLECTION_NAME);
  if (st == STRATA_OK && !*name)
    st = strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                     "collection name is empty; give it a name");
  if (st == STRATA_OK)
    st = check_config(config);
  if (st != STRATA_OK)
    return st;
  strata_vector_config *vectors =
      malloc(config->n_vectors * sizeof *vectors);
  if (!vectors)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  memcpy(vectors, config->vectors, config->n_vectors * sizeof *vectors);
  for (size_t i = 0; i < config->n_vectors && st == STRATA_OK; i++)
    st = strata_hnsw_config_resolve(vectors[i].name ? vectors[i].name : "",
                                    &vectors[i].hnsw);
  if (st != STRATA_OK) {
    free(vectors);
    return st;
  }

  pthread_mutex_lock(&db->write_mutex);
  strata_collection *c = NULL;
  char *json = NULL;
  char *key = NULL;
  strata_store_batch *batch = NULL;
  if (strata_db_find(db, name)) {
    st = strata_fail(STRATA_ERR_ALREADY_EXISTS,
                     "collection \"%s\" already exists; drop it first or "
                     "choose another name",
                     name);
    goto done;
  }
  uint32_t id = db->next_collection_id;
  st = strata_collection_new(db->path, name, id, vectors, config->n_vectors,
                             &c);
  if (st != STRATA_OK)
    goto done;
  json = config_to_json(id, vectors, config->n_vectors);
  key = malloc(strlen(COLLECTION_KEY_PREFIX) + strlen(name) + 1);
  batch = strata_store_batch_new();
  if (!json || !key || !batch) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  strcpy(key, COLLECTION_KEY_PREFIX);
  strcat(key, name);
  char next[16];
  int next_len = snprintf(next, sizeof next, "%u", id + 1);
  strata_store_batch_put(batch, db->store, STRATA_CF_META, key, strlen(key),
                         json, strlen(json));
  strata_store_batch_put(batch, db->store, STRATA_CF_META,
                         "next_collection_id", 18, next, (size_t)next_len);
  /* Reserve the catalogue slot before writing, so applying cannot fail.
   * Readers use the array, so growing it takes the exclusive lock. */
  pthread_rwlock_wrlock(&db->lock);
  int reserved = catalogue_reserve(db);
  pthread_rwlock_unlock(&db->lock);
  if (reserved != 0) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  st = strata_store_write(db->store, batch, 1);
  if (st != STRATA_OK)
    goto done;

  pthread_rwlock_wrlock(&db->lock);
  catalogue_insert(db, c);
  db->next_collection_id = id + 1;
  strata_db_publish_view(db);
  pthread_rwlock_unlock(&db->lock);
  c = NULL;

done:
  pthread_mutex_unlock(&db->write_mutex);
  strata_collection_free(c);
  strata_store_batch_free(batch);
  free(json);
  free(key);
  free(vectors);
  return st;
}

strata_status strata_collection_drop(strata_db *db, const char *name) {
  strata_clear_error();
  strata_status st = check_writable(db);
  if (st == STRATA_OK && !name)
    st = strata_fail(STRATA_ERR_INVALID_ARGUMENT, "collection name is NULL");
  if (st != STRATA_OK)
    return st;

  pthread_mutex_lock(&db->write_mutex);
  strata_collection *c = strata_db_find(db, name);
  strata_store_batch *batch = NULL;
  char *key = NULL;
  if (!c) {
    st = strata_fail(STRATA_ERR_NOT_FOUND, "collection \"%s\" not found",
                     name);
    goto done;
  }
  batch = strata_store_batch_new();
  key = malloc(strlen(COLLECTION_KEY_PREFIX) + strlen(name) + 1);
  if (!batch || !key) {
    st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    goto done;
  }
  strcpy(key, COLLECTION_KEY_PREFIX);
  strcat(key, name);
  strata_store_batch_delete(batch, db->store, STRATA_CF_META, key,
                            strlen(key));
  strata_store_batch_delete_collection(batch, db->store, c->id);
  strata_field_indexes_forget(db, c, batch);
  st = strata_store_write(db->store, batch, 1);
  if (st != STRATA_OK)
    goto done;

  pthread_rwlock_wrlock(&db->lock);
  catalogue_remove(db, c);
  strata_db_publish_view(db);
  pthread_rwlock_unlock(&db->lock);
  strata_index_files_remove(db, c->id, c->n_spaces);
  strata_collection_remove_dir(c);
  strata_collection_free(c);

done:
  pthread_mutex_unlock(&db->write_mutex);
  strata_store_batch_free(batch);
  free(key);
  return st;
}

void strata_names_free(char **names) {
  if (!names)
    return;
  for (char **p = names; *p; p++)
    free(*p);
  free(names);
}

strata_status strata_collection_list(strata_db *db, char ***out) {
  strata_clear_error();
  *out = NULL;
  pthread_rwlock_rdlock(&db->lock);
  char **names = calloc(db->n_collections + 1, sizeof *names);
  strata_status st = names ? STRATA_OK : STRATA_ERR_NO_MEMORY;
  for (size_t i = 0; names && i < db->n_collections; i++) {
    names[i] = strdup(db->collections[i]->name);
    if (!names[i]) {
      strata_names_free(names);
      names = NULL;
      st = STRATA_ERR_NO_MEMORY;
    }
  }
  pthread_rwlock_unlock(&db->lock);
  if (st != STRATA_OK)
    return strata_fail(st, "out of memory listing collections");
  *out = names;
  return STRATA_OK;
}

void strata_collection_info_free(strata_collection_info *info) {
  if (!info)
    return;
  for (size_t i = 0; i < info->n_vectors; i++)
    free((char *)info->vectors[i].name);
  free(info->vectors);
  for (size_t i = 0; i < info->n_field_indexes; i++) {
    free(info->field_indexes[i].field);
    free(info->field_indexes[i].type);
  }
  free(info->field_indexes);
  free(info->quantization_bytes);
  free(info->name);
  free(info);
}

strata_status strata_collection_describe(strata_db *db, const char *name,
                                         strata_collection_info **out) {
  strata_clear_error();
  *out = NULL;
  if (!name)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT, "collection name is NULL");
  pthread_rwlock_rdlock(&db->lock);
  strata_status st = STRATA_OK;
  strata_collection *c = strata_db_find(db, name);
  strata_collection_info *info = NULL;
  if (!c) {
    st = strata_fail(STRATA_ERR_NOT_FOUND, "collection \"%s\" not found",
                     name);
    goto done;
  }
  info = calloc(1, sizeof *info);
  if (!info)
    goto oom;
  info->name = strdup(c->name);
  info->vectors = calloc(c->n_spaces, sizeof *info->vectors);
  info->quantization_bytes =
      calloc(c->n_spaces, sizeof *info->quantization_bytes);
  if (!info->name || !info->vectors || !info->quantization_bytes)
    goto oom;
  for (size_t s = 0; s < c->n_spaces; s++) {
    info->vectors[s].name = strdup(c->spaces[s].name);
    if (!info->vectors[s].name)
      goto oom;
    info->n_vectors = s + 1;
    info->vectors[s].dim = c->spaces[s].dim;
    info->vectors[s].distance = c->spaces[s].distance;
    info->vectors[s].hnsw.m = c->spaces[s].hnsw_params.m;
    info->vectors[s].hnsw.ef_construct = c->spaces[s].hnsw_params.ef_construct;
    info->vectors[s].hnsw.full_scan_threshold_kb =
        c->spaces[s].full_scan_threshold_kb;
    info->vectors[s].quantization = c->spaces[s].quantization;
    info->vectors[s].on_disk = c->spaces[s].on_disk;
    if (c->spaces[s].graph) {
      strata_hnsw_info graph;
      strata_hnsw_get_info(c->spaces[s].graph, &graph);
      info->indexed_vectors_count += graph.present;
      info->quantization_bytes[s] =
          strata_hnsw_quantized_bytes(c->spaces[s].graph);
    }
  }
  info->points_count = c->n_points;
  info->field_indexes =
      calloc(c->n_field_indexes + 1, sizeof *info->field_indexes);
  if (!info->field_indexes)
    goto oom;
  for (size_t i = 0; i < c->n_field_indexes; i++) {
    const strata_payload_index *index = c->field_indexes[i];
    strata_field_index_info *fi = &info->field_indexes[i];
    fi->field = strdup(strata_payload_index_field(index));
    fi->type = strdup(strata_index_type_name(strata_payload_index_type(index)));
    if (!fi->field || !fi->type) {
      free(fi->field);
      free(fi->type);
      goto oom;
    }
    info->n_field_indexes = i + 1;
  }
  *out = info;
  info = NULL;
  goto done;
oom:
  st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
done:
  pthread_rwlock_unlock(&db->lock);
  strata_collection_info_free(info);
  return st;
}
