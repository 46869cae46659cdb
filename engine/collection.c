/* The in-memory collection: point table, id map and one slot store per
 * named vector.  Callers serialise all mutation (see engine.h). */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"

static strata_metric metric_of(strata_distance distance) {
  switch (distance) {
  case STRATA_DISTANCE_EUCLID:
    return STRATA_METRIC_L2;
  case STRATA_DISTANCE_MANHATTAN:
    return STRATA_METRIC_L1;
  case STRATA_DISTANCE_COSINE:
  case STRATA_DISTANCE_DOT:
    break;
  }
  return STRATA_METRIC_DOT;
}

/* Creates `path` unless it exists; mkdir's errno otherwise. */
static int make_dir(const char *path) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST)
    return 0;
  return errno;
}

/* Sets c->dir to <data_dir>/collections/c<id> and creates it with its
 * parent.  The id names it because collection names may contain any UTF-8
 * and ids are never reused. */
static strata_status make_collection_dir(strata_collection *c,
                                         const char *data_dir) {
  char *parent = NULL;
  if (asprintf(&parent, "%s/collections", data_dir) < 0 ||
      asprintf(&c->dir, "%s/c%u", parent, c->id) < 0) {
    c->dir = NULL;
    free(parent);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  int err = make_dir(parent);
  const char *failed = parent;
  if (err == 0) {
    err = make_dir(c->dir);
    failed = c->dir;
  }
  strata_status st = STRATA_OK;
  if (err != 0)
    st = strata_fail(STRATA_ERR_IO,
                     "collection \"%s\": cannot create directory %s for its "
                     "on_disk vectors (%s); make the data directory "
                     "writable or set on_disk to false",
                     c->name, failed, strerror(err));
  free(parent);
  if (err != 0) {
    free(c->dir);
    c->dir = NULL;
  }
  return st;
}

/* Initialises the slot store of `space`, in a file under c->dir when
 * the vector is on_disk. */
static strata_status init_store(strata_collection *c, strata_space *space) {
  if (!space->on_disk) {
    if (strata_vs_init(&space->store, space->dim) != 0)
      return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    return STRATA_OK;
  }
  if (strata_vs_init_file(&space->store, space->dim, c->dir) == 0)
    return STRATA_OK;
  return strata_fail(space->store.file_failed ? STRATA_ERR_IO
                                              : STRATA_ERR_NO_MEMORY,
                     "collection \"%s\", vector \"%s\": %s", c->name,
                     space->name, strata_vs_error(&space->store));
}

strata_status strata_collection_new(const char *data_dir, const char *name,
                                    uint32_t id,
                                    const strata_vector_config *vectors,
                                    size_t n_vectors,
                                    strata_collection **out) {
  *out = NULL;
  strata_collection *c = calloc(1, sizeof *c);
  if (!c)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  c->name = strdup(name);
  c->id = id;
  c->spaces = calloc(n_vectors, sizeof *c->spaces);
  strata_id_map_init(&c->ids);
  c->live = roaring_bitmap_create();
  if (!c->name || !c->spaces || !c->live) {
    strata_collection_free(c);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  c->n_spaces = n_vectors;
  strata_status st = STRATA_OK;
  for (size_t s = 0; s < n_vectors && st == STRATA_OK; s++)
    if (vectors[s].on_disk && !c->dir)
      st = make_collection_dir(c, data_dir);
  for (size_t s = 0; s < n_vectors && st == STRATA_OK; s++) {
    strata_space *space = &c->spaces[s];
    space->name = strdup(vectors[s].name ? vectors[s].name : "");
    space->dim = vectors[s].dim;
    space->distance = vectors[s].distance;
    space->metric = metric_of(vectors[s].distance);
    space->hnsw_params.m = vectors[s].hnsw.m;
    space->hnsw_params.ef_construct = vectors[s].hnsw.ef_construct;
    space->full_scan_threshold_kb = vectors[s].hnsw.full_scan_threshold_kb;
    space->quantization = vectors[s].quantization;
    space->on_disk = vectors[s].on_disk != 0;
    if (!space->name)
      st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    if (st == STRATA_OK)
      st = init_store(c, space);
    if (st == STRATA_OK && strata_space_index_create(space) != 0)
      st = strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  if (st != STRATA_OK) {
    strata_collection_free(c);
    return st;
  }
  *out = c;
  return STRATA_OK;
}

void strata_collection_free(strata_collection *c) {
  if (!c)
    return;
  for (size_t s = 0; s < c->n_spaces; s++) {
    strata_hnsw_destroy(c->spaces[s].graph);
    free(c->spaces[s].relink);
    if (c->spaces[s].slot_hints) {
      strata_id_map_destroy(c->spaces[s].slot_hints);
      free(c->spaces[s].slot_hints);
    }
    free(c->spaces[s].name);
    free(c->spaces[s].owner);
    if (c->spaces[s].store.chunks)
      strata_vs_destroy(&c->spaces[s].store);
  }
  free(c->dir);
  free(c->spaces);
  for (size_t i = 0; i < c->n_field_indexes; i++)
    strata_payload_index_free(c->field_indexes[i]);
  free(c->field_indexes);
  strata_filter_cache_drop(c);
  if (c->live)
    roaring_bitmap_free(c->live);
  strata_id_map_destroy(&c->ids);
  free(c->points);
  free(c->slots);
  free(c->free_points);
  free(c->name);
  free(c);
}

void strata_collection_remove_dir(const strata_collection *c) {
  /* The stores' files have no names, so the directory is empty, and
   * removing it leaves the open files of other handles usable. */
  if (c->dir)
    rmdir(c->dir);
}

int strata_collection_space(const strata_collection *c, const char *name) {
  if (!name)
    name = "";
  for (size_t s = 0; s < c->n_spaces; s++)
    if (strcmp(c->spaces[s].name, name) == 0)
      return (int)s;
  return -1;
}

static int grow_array(void **array, size_t elem, size_t *cap, size_t need) {
  if (need <= *cap)
    return 0;
  size_t new_cap = *cap ? *cap : 1024;
  while (new_cap < need)
    new_cap *= 2;
  void *p = realloc(*array, new_cap * elem);
  if (!p)
    return -1;
  *array = p;
  *cap = new_cap;
  return 0;
}

static strata_status reserve_failed(const strata_collection *c, size_t n) {
  return strata_fail(STRATA_ERR_NO_MEMORY,
                     "out of memory: cannot hold %zu more points in "
                     "collection \"%s\"",
                     n, c->name);
}

strata_status strata_collection_reserve(strata_collection *c, size_t n) {
  if (strata_id_map_reserve(&c->ids, n) != 0)
    return reserve_failed(c, n);

  /* Point table: points, slots and free_points share one capacity. */
  size_t need = c->points_used + n;
  if (need > UINT32_MAX - 1)
    return reserve_failed(c, n);
  size_t cap = c->points_cap;
  if (grow_array((void **)&c->points, sizeof *c->points, &cap, need) != 0)
    return reserve_failed(c, n);
  if (cap != c->points_cap) {
    uint32_t *slots = realloc(c->slots, cap * c->n_spaces * sizeof *slots);
    uint32_t *free_points =
        slots ? realloc(c->free_points, cap * sizeof *free_points) : NULL;
    if (slots)
      c->slots = slots;
    if (!free_points)
      return reserve_failed(c, n);
    c->free_points = free_points;
    c->points_cap = cap;
  }

  for (size_t s = 0; s < c->n_spaces; s++) {
    strata_space *space = &c->spaces[s];
    if (strata_vs_reserve(&space->store, n) != 0) {
      if (!space->store.file_failed)
        return reserve_failed(c, n);
      return strata_fail(STRATA_ERR_IO,
                         "cannot hold %zu more points in collection \"%s\", "
                         "vector \"%s\": %s",
                         n, c->name, space->name,
                         strata_vs_error(&space->store));
    }
    size_t slots_needed = space->store.n_slots + n;
    if (grow_array((void **)&space->owner, sizeof *space->owner,
                   &space->owner_cap, slots_needed) != 0 ||
        strata_space_index_reserve(space, n) != 0)
      return reserve_failed(c, n);
  }
  return STRATA_OK;
}

/* While loading, puts the vector of point `id` in the slot the saved
 * graph expects; returns the slot, or -1 when there is none to use. */
static int64_t add_at_hinted_slot(strata_space *space,
                                  const strata_point_id *id,
                                  const float *vec) {
  uint32_t hint = strata_id_map_get(space->slot_hints, id);
  if (hint == STRATA_NO_POINT ||
      grow_array((void **)&space->owner, sizeof *space->owner,
                 &space->owner_cap, (size_t)hint + 1) != 0 ||
      strata_vs_add_at(&space->store, hint, vec) != 0)
    return -1;
  return hint;
}

static void set_space_vector(strata_collection *c, uint32_t point, size_t s,
                             const float *vec) {
  strata_space *space = &c->spaces[s];
  uint32_t *slot = &c->slots[(size_t)point * c->n_spaces + s];
  if (vec && *slot != STRATA_NO_SLOT) {
    strata_vs_set(&space->store, *slot, vec);
    if (!c->loading)
      strata_space_index_note_set(space, *slot);
  } else if (vec) {
    int64_t added = -1;
    if (space->slot_hints) {
      added = add_at_hinted_slot(space, &c->points[point], vec);
      space->hint_misses += added < 0;
    }
    /* Cannot fail: strata_collection_reserve() allocated ahead.  A hinted
     * slot that could not be used leaves the hints incomplete, and
     * strata_index_files_finish_load() then rebuilds the graph. */
    if (added < 0)
      added = strata_vs_add(&space->store, vec);
    *slot = (uint32_t)added;
    space->owner[*slot] = point;
    if (!c->loading)
      strata_space_index_note_set(space, *slot);
  } else if (*slot != STRATA_NO_SLOT) {
    strata_vs_remove(&space->store, *slot);
    strata_space_index_note_remove(space, *slot);
    *slot = STRATA_NO_SLOT;
  }
}

void strata_collection_put(strata_collection *c, const strata_point_id *id,
                           const float *const *vectors) {
  uint32_t point = strata_id_map_get(&c->ids, id);
  if (point == STRATA_NO_POINT) {
    if (c->n_free_points > 0)
      point = c->free_points[--c->n_free_points];
    else
      point = (uint32_t)c->points_used++;
    c->points[point] = *id;
    for (size_t s = 0; s < c->n_spaces; s++)
      c->slots[(size_t)point * c->n_spaces + s] = STRATA_NO_SLOT;
    strata_id_map_put(&c->ids, id, point);
    /* NOTE: this CRoaring version has no checked add; a failed
     * allocation inside it is not reported. */
    roaring_bitmap_add(c->live, point);
    c->n_points++;
  }
  for (size_t s = 0; s < c->n_spaces; s++)
    set_space_vector(c, point, s, vectors[s]);
}

int strata_collection_remove(strata_collection *c, const strata_point_id *id) {
  uint32_t point = strata_id_map_remove(&c->ids, id);
  if (point == STRATA_NO_POINT)
    return 0;
  for (size_t s = 0; s < c->n_spaces; s++)
    set_space_vector(c, point, s, NULL);
  c->free_points[c->n_free_points++] = point;
  roaring_bitmap_remove(c->live, point);
  c->n_points--;
  return 1;
}

/* ------------------------------------------------------------------ */
/* Vector record codec                                                  */

static void put_le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the vector record stores float32 in native little-endian "
               "order");

size_t strata_vector_record_size(const strata_collection *c,
                                 const float *const *vectors) {
  size_t size = 4;
  for (size_t s = 0; s < c->n_spaces; s++)
    if (vectors[s])
      size += 8 + (size_t)c->spaces[s].dim * sizeof(float);
  return size;
}

void strata_vector_record_encode(const strata_collection *c,
                                 const float *const *vectors, uint8_t *out) {
  uint16_t n = 0;
  uint8_t *p = out + 4;
  for (size_t s = 0; s < c->n_spaces; s++) {
    if (!vectors[s])
      continue;
    put_le16(p, (uint16_t)s);
    put_le16(p + 2, 0);
    put_le32(p + 4, c->spaces[s].dim);
    memcpy(p + 8, vectors[s], (size_t)c->spaces[s].dim * sizeof(float));
    p += 8 + (size_t)c->spaces[s].dim * sizeof(float);
    n++;
  }
  out[0] = 1;
  out[1] = 0;
  put_le16(out + 2, n);
}

int strata_vector_record_decode(const strata_collection *c,
                                const uint8_t *data, size_t len,
                                const float **vectors) {
  for (size_t s = 0; s < c->n_spaces; s++)
    vectors[s] = NULL;
  if (len < 4 || data[0] != 1)
    return -1;
  size_t n = get_le16(data + 2);
  size_t pos = 4;
  for (size_t i = 0; i < n; i++) {
    if (len - pos < 8)
      return -1;
    size_t s = get_le16(data + pos);
    uint32_t dim = get_le32(data + pos + 4);
    if (s >= c->n_spaces || dim != c->spaces[s].dim || vectors[s])
      return -1;
    size_t bytes = (size_t)dim * sizeof(float);
    if (len - pos - 8 < bytes)
      return -1;
    /* RocksDB values carry no alignment promise; callers copy out with
     * memcpy semantics (strata_vs_add), so an unaligned pointer is fine. */
    vectors[s] = (const float *)(const void *)(data + pos + 8);
    pos += 8 + bytes;
  }
  return pos == len ? 0 : -1;
}
