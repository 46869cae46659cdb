#include "store.h"

#include <errno.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/status.h"

static const char *const cf_names[STRATA_CF_COUNT] = {"meta", "points",
                                                      "payloads"};

struct strata_store {
  char *path;
  rocksdb_t *db;
  rocksdb_options_t *options;
  rocksdb_column_family_handle_t *cf[STRATA_CF_COUNT];
  /* Handles of families this build does not know, kept open because
   * RocksDB requires every family to be opened. */
  rocksdb_column_family_handle_t **other_cf;
  size_t n_other_cf;
  rocksdb_column_family_handle_t *default_cf;
  int read_only;
};

struct strata_store_batch {
  rocksdb_writebatch_t *wb;
};

struct strata_store_view {
  const rocksdb_snapshot_t *snapshot;
};

/* ------------------------------------------------------------------ */
/* Keys                                                                 */

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

size_t strata_point_key(const strata_point_id *id,
                        uint8_t out[STRATA_POINT_KEY_MAX]) {
  if (id->kind == STRATA_ID_NUM) {
    out[0] = 0;
    for (int i = 0; i < 8; i++)
      out[1 + i] = (uint8_t)(id->num >> (56 - 8 * i));
    return 9;
  }
  out[0] = 1;
  memcpy(out + 1, id->uuid, 16);
  return 17;
}

size_t strata_row_key(uint32_t collection_id, const strata_point_id *id,
                      uint8_t out[STRATA_ROW_KEY_MAX]) {
  put_be32(out, collection_id);
  return 4 + strata_point_key(id, out + 4);
}

int strata_row_key_decode(const uint8_t *key, size_t len,
                          uint32_t *collection_id, strata_point_id *id) {
  if (len < 5)
    return -1;
  *collection_id = get_be32(key);
  memset(id, 0, sizeof *id);
  if (key[4] == 0 && len == 13) {
    id->kind = STRATA_ID_NUM;
    for (int i = 0; i < 8; i++)
      id->num = id->num << 8 | key[5 + i];
    return 0;
  }
  if (key[4] == 1 && len == 21) {
    id->kind = STRATA_ID_UUID;
    memcpy(id->uuid, key + 5, 16);
    return 0;
  }
  return -1;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                       */

/* Maps a RocksDB error string to a status with a message, and frees it. */
static strata_status fail_rocksdb(char *err, const char *what,
                                  const char *path) {
  strata_status status = STRATA_ERR_IO;
  const char *hint = "check the path, permissions and free disk space";
  if (strstr(err, "LOCK") || strstr(err, "lock")) {
    status = STRATA_ERR_LOCKED;
    hint = "another process (or another handle in this process) has it "
           "open; close it or use a different data directory";
  } else if (strstr(err, "Corruption")) {
    status = STRATA_ERR_CORRUPTION;
    hint = "restore the directory from a backup";
  } else if (strstr(err, "does not exist")) {
    status = STRATA_ERR_NOT_FOUND;
    hint = "create it first (strata_open with create_if_missing)";
  }
  strata_fail(status, "%s %s failed: %s; %s", what, path, err, hint);
  free(err);
  return status;
}

static strata_status check_format_version(strata_store *store) {
  char *value = NULL;
  size_t len = 0;
  strata_status st = strata_store_get(store, NULL, STRATA_CF_META,
                                      "format_version", 14, &value, &len);
  if (st != STRATA_OK)
    return st;
  if (!value) {
    if (store->read_only)
      return STRATA_OK;
    char text[16];
    int n = snprintf(text, sizeof text, "%d", STRATA_FORMAT_VERSION);
    strata_store_batch *batch = strata_store_batch_new();
    strata_store_batch_put(batch, store, STRATA_CF_META, "format_version", 14,
                           text, (size_t)n);
    st = strata_store_write(store, batch, 1);
    strata_store_batch_free(batch);
    return st;
  }
  char *end = NULL;
  long version = strtol(value, &end, 10);
  if (end == value || *end != '\0' || version < 1) {
    st = strata_fail(STRATA_ERR_CORRUPTION,
                     "data directory %s has an unreadable format version "
                     "\"%s\"; restore it from a backup",
                     store->path, value);
  } else if (version > STRATA_FORMAT_VERSION) {
    st = strata_fail(STRATA_ERR_VERSION,
                     "data directory %s has format version %ld, but this "
                     "Strata (" STRATA_VERSION_STRING ") reads versions up "
                     "to %d; open it with a newer Strata",
                     store->path, version, STRATA_FORMAT_VERSION);
  }
  free(value);
  return st;
}

static int cf_index(const char *name) {
  for (int i = 0; i < STRATA_CF_COUNT; i++)
    if (strcmp(name, cf_names[i]) == 0)
      return i;
  return -1;
}

static strata_status open_existing(strata_store *store, char **families,
                                   size_t n_families) {
  /* Open every family present plus any of ours that is missing. */
  size_t n_total = n_families;
  for (int i = 0; i < STRATA_CF_COUNT; i++) {
    int present = 0;
    for (size_t j = 0; j < n_families; j++)
      present |= strcmp(families[j], cf_names[i]) == 0;
    if (!present)
      n_total++;
  }
  const char **names = calloc(n_total, sizeof *names);
  const rocksdb_options_t **opts = calloc(n_total, sizeof *opts);
  rocksdb_column_family_handle_t **handles =
      calloc(n_total, sizeof *handles);
  store->other_cf = calloc(n_total, sizeof *store->other_cf);
  if (!names || !opts || !handles || !store->other_cf) {
    free(names);
    free(opts);
    free(handles);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory opening %s",
                       store->path);
  }
  size_t n = 0;
  for (size_t j = 0; j < n_families; j++)
    names[n++] = families[j];
  for (int i = 0; i < STRATA_CF_COUNT; i++) {
    int present = 0;
    for (size_t j = 0; j < n_families; j++)
      present |= strcmp(families[j], cf_names[i]) == 0;
    if (!present)
      names[n++] = cf_names[i];
  }
  for (size_t i = 0; i < n_total; i++)
    opts[i] = store->options;

  char *err = NULL;
  if (store->read_only)
    store->db = rocksdb_open_for_read_only_column_families(
        store->options, store->path, (int)n_total, names, opts, handles, 0,
        &err);
  else
    store->db = rocksdb_open_column_families(store->options, store->path,
                                             (int)n_total, names, opts,
                                             handles, &err);
  strata_status st = STRATA_OK;
  if (err) {
    st = fail_rocksdb(err, "opening data directory", store->path);
  } else {
    for (size_t i = 0; i < n_total; i++) {
      int idx = cf_index(names[i]);
      if (idx >= 0)
        store->cf[idx] = handles[i];
      else if (strcmp(names[i], "default") == 0)
        store->default_cf = handles[i];
      else
        store->other_cf[store->n_other_cf++] = handles[i];
    }
    for (int i = 0; i < STRATA_CF_COUNT && st == STRATA_OK; i++)
      if (!store->cf[i])
        st = strata_fail(STRATA_ERR_CORRUPTION,
                         "data directory %s lacks column family \"%s\" and "
                         "was opened read-only, so it cannot be added; open "
                         "it for writing once",
                         store->path, cf_names[i]);
  }
  free(names);
  free(opts);
  free(handles);
  return st;
}

strata_status strata_store_open(const char *path, int create_if_missing,
                                int read_only, strata_store **out) {
  *out = NULL;
  strata_store *store = calloc(1, sizeof *store);
  if (!store)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  store->path = strdup(path);
  store->read_only = read_only;
  store->options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(store->options,
                                        create_if_missing && !read_only);
  rocksdb_options_set_create_missing_column_families(store->options, 1);
  /* Float vectors barely compress, so compression would cost CPU on
   * every flush and compaction for little space. */
  rocksdb_options_set_compression(store->options,
                                  rocksdb_no_compression);
  rocksdb_options_increase_parallelism(store->options, 2);

  strata_status st = STRATA_OK;
  struct stat sb;
  if (stat(path, &sb) != 0) {
    if (errno != ENOENT || !create_if_missing || read_only) {
      st = strata_fail(STRATA_ERR_NOT_FOUND,
                       "data directory %s does not exist (%s); create it "
                       "by opening it for writing first",
                       path, strerror(errno));
      goto fail;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      st = strata_fail(STRATA_ERR_IO, "cannot create data directory %s: %s",
                       path, strerror(errno));
      goto fail;
    }
  } else if (!S_ISDIR(sb.st_mode)) {
    st = strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                     "data directory %s is not a directory; pass a "
                     "directory path",
                     path);
    goto fail;
  }

  char *err = NULL;
  size_t n_families = 0;
  char **families =
      rocksdb_list_column_families(store->options, path, &n_families, &err);
  if (err) {
    /* A directory without a database yet: open it with our families.
     * RocksDB 7.8 returns an empty array even on error. */
    free(families);
    free(err);
    err = NULL;
    n_families = 0;
    families = NULL;
    if (read_only) {
      st = strata_fail(STRATA_ERR_NOT_FOUND,
                       "data directory %s holds no Strata database; create "
                       "one by opening it for writing",
                       path);
      goto fail;
    }
    if (!create_if_missing) {
      st = strata_fail(STRATA_ERR_NOT_FOUND,
                       "data directory %s holds no Strata database; pass "
                       "create_if_missing to create one",
                       path);
      goto fail;
    }
    char *default_name = "default";
    st = open_existing(store, &default_name, 1);
  } else {
    st = open_existing(store, families, n_families);
    rocksdb_list_column_families_destroy(families, n_families);
  }
  if (st != STRATA_OK)
    goto fail;
  st = check_format_version(store);
  if (st != STRATA_OK)
    goto fail;
  *out = store;
  return STRATA_OK;

fail:
  strata_store_close(store);
  return st;
}

void strata_store_close(strata_store *store) {
  if (!store)
    return;
  for (int i = 0; i < STRATA_CF_COUNT; i++)
    if (store->cf[i])
      rocksdb_column_family_handle_destroy(store->cf[i]);
  for (size_t i = 0; i < store->n_other_cf; i++)
    rocksdb_column_family_handle_destroy(store->other_cf[i]);
  if (store->default_cf)
    rocksdb_column_family_handle_destroy(store->default_cf);
  if (store->db)
    rocksdb_close(store->db);
  if (store->options)
    rocksdb_options_destroy(store->options);
  free(store->other_cf);
  free(store->path);
  free(store);
}

uint64_t strata_store_sequence(strata_store *store) {
  return rocksdb_get_latest_sequence_number(store->db);
}

/* ------------------------------------------------------------------ */
/* Writes                                                               */

strata_store_batch *strata_store_batch_new(void) {
  strata_store_batch *batch = malloc(sizeof *batch);
  if (!batch)
    return NULL;
  batch->wb = rocksdb_writebatch_create();
  return batch;
}

void strata_store_batch_free(strata_store_batch *batch) {
  if (!batch)
    return;
  rocksdb_writebatch_destroy(batch->wb);
  free(batch);
}

void strata_store_batch_put(strata_store_batch *batch, strata_store *store,
                            strata_store_cf cf, const void *key, size_t klen,
                            const void *value, size_t vlen) {
  rocksdb_writebatch_put_cf(batch->wb, store->cf[cf], key, klen, value, vlen);
}

void strata_store_batch_delete(strata_store_batch *batch, strata_store *store,
                               strata_store_cf cf, const void *key,
                               size_t klen) {
  rocksdb_writebatch_delete_cf(batch->wb, store->cf[cf], key, klen);
}

void strata_store_batch_delete_collection(strata_store_batch *batch,
                                          strata_store *store,
                                          uint32_t collection_id) {
  uint8_t begin[4], end[5];
  put_be32(begin, collection_id);
  /* The end of the range is the next id's prefix; for the last id it is
   * the 5-byte key that sorts after every 4-byte prefix. */
  if (collection_id == UINT32_MAX) {
    memset(end, 0xff, 5);
  } else {
    put_be32(end, collection_id + 1);
  }
  size_t end_len = collection_id == UINT32_MAX ? 5 : 4;
  for (int cf = STRATA_CF_POINTS; cf <= STRATA_CF_PAYLOADS; cf++)
    rocksdb_writebatch_delete_range_cf(batch->wb, store->cf[cf],
                                       (const char *)begin, 4,
                                       (const char *)end, end_len);
}

strata_status strata_store_write(strata_store *store,
                                 strata_store_batch *batch, int sync) {
  if (store->read_only)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "data directory %s is open read-only; reopen it for "
                       "writing to change it",
                       store->path);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(wo, sync ? 1 : 0);
  char *err = NULL;
  rocksdb_write(store->db, wo, batch->wb, &err);
  rocksdb_writeoptions_destroy(wo);
  if (err)
    return fail_rocksdb(err, "writing to", store->path);
  return STRATA_OK;
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */

strata_store_view *strata_store_view_new(strata_store *store) {
  strata_store_view *view = malloc(sizeof *view);
  if (!view)
    return NULL;
  view->snapshot = rocksdb_create_snapshot(store->db);
  return view;
}

void strata_store_view_free(strata_store *store, strata_store_view *view) {
  if (!view)
    return;
  rocksdb_release_snapshot(store->db, view->snapshot);
  free(view);
}

static rocksdb_readoptions_t *read_options(const strata_store_view *view) {
  rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
  if (view)
    rocksdb_readoptions_set_snapshot(ro, view->snapshot);
  return ro;
}

strata_status strata_store_get(strata_store *store,
                               const strata_store_view *view,
                               strata_store_cf cf, const void *key,
                               size_t klen, char **value, size_t *len) {
  *value = NULL;
  *len = 0;
  rocksdb_readoptions_t *ro = read_options(view);
  char *err = NULL;
  rocksdb_pinnableslice_t *slice =
      rocksdb_get_pinned_cf(store->db, ro, store->cf[cf], key, klen, &err);
  rocksdb_readoptions_destroy(ro);
  if (err)
    return fail_rocksdb(err, "reading from", store->path);
  if (!slice)
    return STRATA_OK;
  size_t n = 0;
  const char *data = rocksdb_pinnableslice_value(slice, &n);
  char *copy = malloc(n + 1);
  if (!copy) {
    rocksdb_pinnableslice_destroy(slice);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory reading %zu bytes",
                       n);
  }
  memcpy(copy, data, n);
  copy[n] = '\0';
  rocksdb_pinnableslice_destroy(slice);
  *value = copy;
  *len = n;
  return STRATA_OK;
}

int strata_store_scan(strata_store *store, const strata_store_view *view,
                      strata_store_cf cf, const void *prefix, size_t plen,
                      const void *start, size_t slen, strata_store_visit fn,
                      void *ctx) {
  rocksdb_readoptions_t *ro = read_options(view);
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(store->db, ro, store->cf[cf]);
  if (start)
    rocksdb_iter_seek(it, start, slen);
  else
    rocksdb_iter_seek(it, prefix, plen);
  int rc = 0;
  for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t klen = 0, vlen = 0;
    const char *key = rocksdb_iter_key(it, &klen);
    if (klen < plen || memcmp(key, prefix, plen) != 0)
      break;
    const char *value = rocksdb_iter_value(it, &vlen);
    rc = fn((const uint8_t *)key, klen, (const uint8_t *)value, vlen, ctx);
    if (rc != 0)
      break;
  }
  char *err = NULL;
  rocksdb_iter_get_error(it, &err);
  if (err) {
    fail_rocksdb(err, "scanning", store->path);
    rc = -1;
  }
  rocksdb_iter_destroy(it);
  rocksdb_readoptions_destroy(ro);
  return rc;
}
