/*
 * The HNSW graph of each named vector: keeping it in step with writes,
 * choosing between the graph and an exact scan, and saving it across a
 * close and an open.
 *
 * Keeping in step.  Under db->lock (step 4 in engine.h) a write only
 * records which slots it added or overwrote and marks removed slots
 * REMOVED in the graph, which is cheap.  After the lock is released,
 * strata_space_index_link() links the recorded slots while searches run
 * (the graph supports concurrent searches and inserts), and repairs the
 * graph once removals add up to a tenth of it.
 *
 * Saving.  strata_close() writes two files per vector into
 * DATA_DIR/hnsw/: the graph (format in index/hnsw_persist.c) and a slot
 * file that maps each live slot to its point id, because slots are
 * assigned in write order and loading the points from RocksDB would
 * otherwise assign them differently.  The slot file, little-endian:
 *
 *   offset  size  field
 *        0     8  magic "STRASLOT"
 *        8     4  format version (1)
 *       12     4  slot high-water mark: the store's slot count at the
 *                 save, which can exceed the highest live slot + 1
 *       16     8  RocksDB sequence number when the files were written
 *       24     8  entry count N
 *       32        N entries of 21 bytes: u32 slot, u8 id kind (0 number,
 *                 1 UUID), 16 bytes: the u64 number then 8 zero bytes,
 *                 or the UUID
 *   end - 4     4  CRC-32 (zlib's) of every byte before it
 *
 * At open, a slot file whose sequence number equals the database's puts
 * every vector back in its saved slot, and the graph file is loaded over
 * them.  Anything else (no files, a write after the save because the
 * process crashed, a damaged or truncated file) means a rebuild from the
 * stored vectors, reported through the log callback when a file existed.
 *
 * Quantization.  A vector configured for int8 gets codes
 * (strata_hnsw_quantize) once it has more live points than its full-scan
 * threshold and at least STRATA_QUANTIZATION_MIN_TRAIN: below that,
 * unfiltered searches scan exactly and the codes would go unused.  The
 * graph keeps them current on later inserts and updates.  They are not
 * saved, so every open trains them again over all stored vectors.  So
 * does a write that takes the vector back past the threshold after
 * deletes had taken it below, and one that takes it to twice the points
 * the codes were trained on, so that the bounds follow data that drifts.
 * Retraining encodes every node again, an amortised constant cost per
 * insert, and keeps both sets of codes in memory until the swap.
 * NOTE: until then, vectors outside the bounds are clamped, which costs
 * recall when the data drifts.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../index/quant.h"
#include "engine.h"

#define SLOT_MAGIC "STRASLOT"
#define SLOT_VERSION 1
#define SLOT_HEADER 32
#define SLOT_ENTRY 21
#define MAX_M 128
#define MAX_EF_CONSTRUCT 4096

strata_status strata_hnsw_config_resolve(const char *vector_name,
                                         strata_hnsw_config *config) {
  if (config->m == 0)
    config->m = STRATA_DEFAULT_M;
  if (config->ef_construct == 0)
    config->ef_construct = STRATA_DEFAULT_EF_CONSTRUCT;
  if (config->full_scan_threshold_kb == 0)
    config->full_scan_threshold_kb = STRATA_DEFAULT_FULL_SCAN_KB;
  if (config->m < 2 || config->m > MAX_M)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "vector \"%s\": HNSW m is %u; it must be between 2 "
                       "and %d (or 0 for the default %d)",
                       vector_name, config->m, MAX_M, STRATA_DEFAULT_M);
  if (config->ef_construct < 4 || config->ef_construct > MAX_EF_CONSTRUCT)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "vector \"%s\": HNSW ef_construct is %u; it must be "
                       "between 4 and %d (or 0 for the default %d)",
                       vector_name, config->ef_construct, MAX_EF_CONSTRUCT,
                       STRATA_DEFAULT_EF_CONSTRUCT);
  return STRATA_OK;
}

strata_status strata_quantization_config_check(
    const char *vector_name, uint32_t dim, strata_distance distance,
    const strata_quantization_config *config) {
  switch (config->type) {
  case STRATA_QUANTIZATION_NONE:
    if (config->quantile != 0.0f || config->always_ram)
      return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                         "vector \"%s\": quantile %g and always_ram %d are "
                         "set but the quantization type is none; set the "
                         "type to int8 or leave both 0",
                         vector_name, (double)config->quantile,
                         config->always_ram);
    return STRATA_OK;
  case STRATA_QUANTIZATION_INT8:
    break;
  default:
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "vector \"%s\": quantization type %d is unknown; use "
                       "STRATA_QUANTIZATION_NONE (0) or "
                       "STRATA_QUANTIZATION_INT8 (1)",
                       vector_name, (int)config->type);
  }
  /* Written so that NaN fails too. */
  if (!(config->quantile > 0.5f && config->quantile <= 1.0f))
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "vector \"%s\": quantile %g is invalid; it must be "
                       "above 0.5 and at most 1 (Qdrant's default is %g)",
                       vector_name, (double)config->quantile,
                       (double)STRATA_DEFAULT_QUANTILE);
  if (distance == STRATA_DISTANCE_MANHATTAN)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "vector \"%s\": int8 quantization does not support "
                       "the Manhattan distance; use Cosine, Euclid or Dot, "
                       "or no quantization",
                       vector_name);
  if (dim > STRATA_QUANT_MAX_DIM)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "vector \"%s\": int8 quantization supports at most "
                       "%d dimensions, not %u; use no quantization",
                       vector_name, STRATA_QUANT_MAX_DIM, dim);
  return STRATA_OK;
}

strata_status strata_quantization_params_check(
    const strata_quantization_search_params *params, size_t index) {
  if (params->rescore != STRATA_RESCORE_DEFAULT &&
      params->rescore != STRATA_RESCORE_ON &&
      params->rescore != STRATA_RESCORE_OFF)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "request %zu: rescore value %d is unknown; use "
                       "STRATA_RESCORE_DEFAULT, STRATA_RESCORE_ON or "
                       "STRATA_RESCORE_OFF",
                       index, (int)params->rescore);
  float oversampling = params->oversampling;
  if (!isfinite(oversampling) || (oversampling != 0.0f && oversampling < 1.0f))
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "request %zu: oversampling %g is invalid; it must be "
                       "a finite number of at least 1 (or 0 for the "
                       "default 1)",
                       index, (double)oversampling);
  return STRATA_OK;
}

/* Trains the int8 codes of a space configured for them once its graph
 * is searched (see the file comment).  Caller holds db->write_mutex, but
 * not db->lock, or is opening the database. */
static void quantize_if_due(strata_db *db, const strata_collection *c,
                            strata_space *space) {
  if (space->quantization.type != STRATA_QUANTIZATION_INT8 || !space->graph)
    return;
  size_t live = space->store.n_live;
  if (live <= strata_space_threshold_points(space) ||
      live < STRATA_QUANTIZATION_MIN_TRAIN) {
    /* Searches scan exactly again and leave the codes unused.  Their
     * bounds fit the vectors stored when they were trained, which may
     * all be gone (a collection emptied and filled with other data), so
     * train them again once the vector grows past the threshold. */
    space->quantized = 0;
    return;
  }
  /* Vectors added since the training may lie outside the bounds and be
   * clamped, so the codes are trained again whenever the vector has
   * twice the points they were trained on. */
  if (space->quantized &&
      live / 2 < strata_hnsw_quantized_points(space->graph))
    return;
  int rc = strata_hnsw_quantize(space->graph, space->quantization.quantile);
  if (rc == STRATA_HNSW_EEXIST)
    rc = strata_hnsw_quantize_again(space->graph,
                                    space->quantization.quantile, &db->lock);
  if (rc == STRATA_HNSW_OK) {
    space->quantized = 1;
    return;
  }
  strata_db_log(db,
                "collection \"%s\", vector \"%s\": training int8 codes "
                "failed (%s); graph searches use %s until a later write "
                "retries",
                c->name, space->name, strata_hnsw_strerror(rc),
                strata_hnsw_quantized_points(space->graph) > 0
                    ? "the previous codes"
                    : "the float vectors");
}

int strata_space_index_create(strata_space *space) {
  strata_hnsw_params params;
  strata_hnsw_params_default(&params);
  params.m = space->hnsw_params.m;
  params.ef_construct = space->hnsw_params.ef_construct;
  space->hnsw_params = params;
  return strata_hnsw_create(&params, space->metric, &space->store,
                            &space->graph) == STRATA_HNSW_OK
             ? 0
             : -1;
}

/* ------------------------------------------------------------------ */
/* Keeping the graph in step with writes                                */

int strata_space_index_reserve(strata_space *space, size_t n) {
  size_t need = space->n_relink + n;
  if (need <= space->relink_cap)
    return 0;
  size_t cap = space->relink_cap ? space->relink_cap : 256;
  while (cap < need)
    cap *= 2;
  uint32_t *grown = realloc(space->relink, cap * sizeof *grown);
  if (!grown)
    return -1;
  space->relink = grown;
  space->relink_cap = cap;
  return 0;
}

void strata_space_index_note_set(strata_space *space, uint32_t slot) {
  /* Room was reserved for every point of the batch. */
  if (space->n_relink < space->relink_cap)
    space->relink[space->n_relink++] = slot;
}

void strata_space_index_note_remove(strata_space *space, uint32_t slot) {
  if (!space->graph)
    return;
  /* A slot added earlier in this batch is not a node yet: ENOTFOUND. */
  if (strata_hnsw_remove(space->graph, slot) == STRATA_HNSW_OK)
    space->removed_since_repair++;
}

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

void strata_space_index_link(strata_db *db, strata_collection *c,
                             strata_space *space) {
  if (!space->graph || space->n_relink == 0) {
    space->n_relink = 0;
    /* A delete links nothing but may take the vector below the
     * threshold, which marks its codes for training again. */
    if (space->graph)
      quantize_if_due(db, c, space);
    return;
  }
  /* A slot may be noted twice (an id repeated in a batch); link once.
   * Slots whose vector was removed again later in the batch are skipped. */
  qsort(space->relink, space->n_relink, sizeof *space->relink, compare_u32);
  uint32_t *fresh = malloc(space->n_relink * sizeof *fresh);
  size_t n_new = 0, n_failed = 0;
  int error = STRATA_HNSW_OK;
  uint32_t previous = UINT32_MAX;
  for (size_t i = 0; i < space->n_relink; i++) {
    uint32_t slot = space->relink[i];
    if (slot == previous || !strata_vs_is_live(&space->store, slot))
      continue;
    previous = slot;
    /* A PRESENT node whose vector was overwritten moves; any other slot
     * is new to the graph (or a REMOVED one the store reused, which
     * insert relinks in place). */
    int rc = strata_hnsw_update(space->graph, slot);
    if (rc == STRATA_HNSW_OK)
      continue;
    if (rc == STRATA_HNSW_ENOTFOUND && fresh) {
      fresh[n_new++] = slot;
    } else {
      n_failed++;
      error = rc == STRATA_HNSW_ENOTFOUND ? STRATA_HNSW_ENOMEM : rc;
    }
  }
  if (n_new > 0) {
    int rc = strata_hnsw_build(space->graph, fresh, n_new,
                               n_new >= 64 ? db->threads : 1);
    if (rc != STRATA_HNSW_OK) {
      n_failed += n_new;
      error = rc;
    }
  }
  if (n_failed > 0)
    strata_db_log(db,
                  "collection \"%s\", vector \"%s\": linking up to %zu "
                  "vectors into the HNSW graph failed (%s); graph searches "
                  "may miss them until the next open rebuilds the graph",
                  c->name, space->name, n_failed, strata_hnsw_strerror(error));
  free(fresh);
  space->n_relink = 0;

  quantize_if_due(db, c, space);

  strata_hnsw_info info;
  strata_hnsw_get_info(space->graph, &info);
  if (space->removed_since_repair > 0 &&
      space->removed_since_repair * 10 >= info.present + 10) {
    if (strata_hnsw_repair(space->graph) == STRATA_HNSW_OK)
      space->removed_since_repair = 0;
  }
}

void strata_space_search_options(
    const strata_space *space,
    const strata_quantization_search_params *params,
    strata_hnsw_search_options *out) {
  memset(out, 0, sizeof *out);
  if (space->quantization.type != STRATA_QUANTIZATION_INT8 || params->ignore)
    return;
  /* The graph falls back to the float vectors until it has codes. */
  out->quantized = 1;
  out->rescore = params->rescore != STRATA_RESCORE_OFF;
  out->oversampling = params->oversampling > 0.0f ? params->oversampling : 1.0f;
}

long strata_space_search(const strata_space *space, const float *query,
                         size_t k, size_t ef, int exact,
                         const strata_hnsw_search_options *options,
                         strata_hit *out) {
  if (exact || !space->graph ||
      space->store.n_live <= strata_space_threshold_points(space))
    return strata_flat_search(&space->store, space->metric, query, k, NULL,
                              out);
  if (ef == 0)
    ef = space->hnsw_params.ef_construct;
  if (ef < k)
    ef = k;
  return strata_hnsw_search_ex(space->graph, query, k, ef, NULL, options, out,
                               NULL);
}

/* ------------------------------------------------------------------ */
/* Files                                                                */

static char *index_path(strata_db *db, uint32_t collection_id, size_t space,
                        const char *suffix) {
  char *path = NULL;
  if (asprintf(&path, "%s/hnsw/c%u-v%zu.%s", db->path, collection_id, space,
               suffix) < 0)
    return NULL;
  return path;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p) {
  return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Reads a whole file; returns NULL (errno set) on failure. */
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  uint8_t *data = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) {
      data = malloc((size_t)size + 1);
      if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
      }
      *len = (size_t)size;
    }
  }
  fclose(f);
  return data;
}

/* Parses a slot file into a map from point id to slot; NULL with a
 * reason in `why` when the file is damaged or stale. */
static strata_id_map *parse_slot_file(const uint8_t *data, size_t len,
                                      uint64_t sequence, uint32_t *n_slots,
                                      char *why, size_t why_len) {
  if (len < SLOT_HEADER + 4 || memcmp(data, SLOT_MAGIC, 8) != 0) {
    snprintf(why, why_len, "not a slot file, or truncated (%zu bytes)", len);
    return NULL;
  }
  uint32_t crc = (uint32_t)crc32(0L, data, (uInt)(len - 4));
  if (crc != get_le32(data + len - 4)) {
    snprintf(why, why_len, "checksum mismatch");
    return NULL;
  }
  if (get_le32(data + 8) != SLOT_VERSION) {
    snprintf(why, why_len, "unknown version %u", get_le32(data + 8));
    return NULL;
  }
  if (get_le64(data + 16) != sequence) {
    snprintf(why, why_len,
             "written at sequence %llu but the data is at %llu: the data "
             "changed after the graph was saved, for example because the "
             "process stopped without closing the database",
             (unsigned long long)get_le64(data + 16),
             (unsigned long long)sequence);
    return NULL;
  }
  *n_slots = get_le32(data + 12);
  if (*n_slots > STRATA_VS_MAX_SLOTS) {
    snprintf(why, why_len, "slot count %u is beyond the maximum", *n_slots);
    return NULL;
  }
  uint64_t n = get_le64(data + 24);
  if (n > (len - SLOT_HEADER - 4) / SLOT_ENTRY ||
      SLOT_HEADER + n * SLOT_ENTRY + 4 != len) {
    snprintf(why, why_len, "entry count %llu does not match its size",
             (unsigned long long)n);
    return NULL;
  }
  strata_id_map *map = malloc(sizeof *map);
  if (!map) {
    snprintf(why, why_len, "out of memory");
    return NULL;
  }
  strata_id_map_init(map);
  if (strata_id_map_reserve(map, n) != 0) {
    free(map);
    snprintf(why, why_len, "out of memory");
    return NULL;
  }
  const uint8_t *p = data + SLOT_HEADER;
  for (uint64_t i = 0; i < n; i++, p += SLOT_ENTRY) {
    strata_point_id id;
    memset(&id, 0, sizeof id);
    uint32_t slot = get_le32(p);
    if (slot >= *n_slots) {
      snprintf(why, why_len, "entry %llu has slot %u, beyond the recorded "
               "slot count %u", (unsigned long long)i, slot, *n_slots);
      strata_id_map_destroy(map);
      free(map);
      return NULL;
    }
    if (p[4] == 0) {
      id.kind = STRATA_ID_NUM;
      id.num = get_le64(p + 5);
    } else if (p[4] == 1) {
      id.kind = STRATA_ID_UUID;
      memcpy(id.uuid, p + 5, 16);
    } else {
      snprintf(why, why_len, "entry %llu has id kind %u",
               (unsigned long long)i, p[4]);
      strata_id_map_destroy(map);
      free(map);
      return NULL;
    }
    strata_id_map_put(map, &id, slot);
  }
  return map;
}

void strata_index_files_load_hints(strata_db *db, strata_collection *c,
                                   uint64_t sequence) {
  for (size_t s = 0; s < c->n_spaces; s++) {
    char *path = index_path(db, c->id, s, "slots");
    size_t len = 0;
    uint8_t *data = path ? read_file(path, &len) : NULL;
    if (data) {
      char why[256];
      c->spaces[s].slot_hints = parse_slot_file(
          data, len, sequence, &c->spaces[s].hinted_slots, why, sizeof why);
      c->spaces[s].slot_file_seen = 1;
      if (!c->spaces[s].slot_hints)
        strata_db_log(db, "ignoring %s: %s", path, why);
    }
    free(data);
    free(path);
  }
}

/* Rebuilds a space's graph from every live slot. */
static void rebuild(strata_db *db, strata_collection *c, strata_space *space) {
  strata_hnsw_destroy(space->graph);
  space->graph = NULL;
  space->quantized = 0;
  if (strata_space_index_create(space) != 0) {
    strata_db_log(db, "collection \"%s\": out of memory creating the HNSW "
                      "graph of vector \"%s\"; searches scan exactly",
                  c->name, space->name);
    return;
  }
  size_t n = space->store.n_live;
  uint32_t *slots = malloc((n ? n : 1) * sizeof *slots);
  if (!slots) {
    strata_db_log(db, "collection \"%s\": out of memory building the HNSW "
                      "graph of vector \"%s\"; searches scan exactly",
                  c->name, space->name);
    strata_hnsw_destroy(space->graph);
    space->graph = NULL;
    return;
  }
  size_t j = 0;
  for (size_t slot = 0; slot < space->store.n_slots; slot++)
    if (strata_vs_is_live(&space->store, slot))
      slots[j++] = (uint32_t)slot;
  int rc = strata_hnsw_build(space->graph, slots, j, db->threads);
  if (rc != STRATA_HNSW_OK) {
    strata_db_log(db, "collection \"%s\": building the HNSW graph of "
                      "vector \"%s\" failed (%s); searches scan exactly",
                  c->name, space->name, strata_hnsw_strerror(rc));
    strata_hnsw_destroy(space->graph);
    space->graph = NULL;
  }
  free(slots);
}

void strata_index_files_finish_load(strata_db *db, strata_collection *c) {
  for (size_t s = 0; s < c->n_spaces; s++) {
    strata_space *space = &c->spaces[s];
    int hinted = space->slot_hints != NULL;
    size_t n_hints = hinted ? space->slot_hints->count : 0;
    size_t misses = space->hint_misses;
    space->hint_misses = 0;
    if (hinted) {
      strata_id_map_destroy(space->slot_hints);
      free(space->slot_hints);
      space->slot_hints = NULL;
    }
    /* Freed slots at the top of the saved range come back as free
     * slots, so the store spans the range the graph file was saved
     * with. */
    if (hinted && strata_vs_grow_to(&space->store, space->hinted_slots) != 0)
      misses++;
    strata_vs_collect_free(&space->store);

    char *path = index_path(db, c->id, s, "graph");
    if (hinted && misses == 0 && n_hints == space->store.n_live && path) {
      char why[256] = "";
      strata_hnsw *loaded = NULL;
      int rc = strata_hnsw_load(path, &space->store, &loaded, why, sizeof why);
      strata_hnsw_info info;
      if (rc == STRATA_HNSW_OK) {
        strata_hnsw_get_info(loaded, &info);
        if (info.present != space->store.n_live) {
          rc = STRATA_HNSW_EMISMATCH;
          snprintf(why, sizeof why, "it has %zu vectors, the data %zu",
                   info.present, space->store.n_live);
        }
      }
      if (rc == STRATA_HNSW_OK) {
        strata_hnsw_destroy(space->graph);
        space->graph = loaded;
        space->quantized = 0;
        quantize_if_due(db, c, space);
        free(path);
        continue;
      }
      strata_hnsw_destroy(loaded);
      strata_db_log(db, "HNSW graph file %s cannot be used (%s: %s); "
                        "rebuilding it from the stored vectors",
                    path, strata_hnsw_strerror(rc), why);
    } else if (hinted) {
      strata_db_log(db, "slot file of %s lists %zu vectors but the data "
                        "has %zu, %zu of them not listed; rebuilding the "
                        "HNSW graph",
                    path ? path : "(graph)", n_hints, space->store.n_live,
                    misses);
    }
    free(path);
    int seen = space->slot_file_seen;
    space->slot_file_seen = 0;
    if (db->read_only) {
      /* A read-only handle must not take a minute to open because a
       * writer (such as a running server) changed the data: its searches
       * score exactly instead. */
      strata_hnsw_destroy(space->graph);
      space->graph = NULL;
      if (space->store.n_live > 0)
        strata_db_log(db, "collection \"%s\", vector \"%s\": no usable "
                          "saved HNSW graph; this read-only handle scores "
                          "searches exactly",
                      c->name, space->name);
      continue;
    }
    if (seen && !hinted)
      strata_db_log(db, "rebuilding the HNSW graph of collection \"%s\", "
                        "vector \"%s\", from the stored vectors",
                    c->name, space->name);
    rebuild(db, c, space);
    quantize_if_due(db, c, space);
  }
}

static int write_slot_file(const char *path, const strata_collection *c,
                           const strata_space *space, uint64_t sequence) {
  size_t n = space->store.n_live;
  size_t len = SLOT_HEADER + n * SLOT_ENTRY + 4;
  uint8_t *data = calloc(1, len);
  if (!data)
    return -1;
  memcpy(data, SLOT_MAGIC, 8);
  put_le32(data + 8, SLOT_VERSION);
  put_le32(data + 12, (uint32_t)space->store.n_slots);
  put_le64(data + 16, sequence);
  put_le64(data + 24, n);
  uint8_t *p = data + SLOT_HEADER;
  for (size_t slot = 0; slot < space->store.n_slots; slot++) {
    if (!strata_vs_is_live(&space->store, slot))
      continue;
    const strata_point_id *id = &c->points[space->owner[slot]];
    put_le32(p, (uint32_t)slot);
    p[4] = id->kind == STRATA_ID_UUID;
    if (id->kind == STRATA_ID_UUID)
      memcpy(p + 5, id->uuid, 16);
    else
      put_le64(p + 5, id->num);
    p += SLOT_ENTRY;
  }
  put_le32(data + len - 4, (uint32_t)crc32(0L, data, (uInt)(len - 4)));

  char *tmp = NULL;
  int rc = -1;
  if (asprintf(&tmp, "%s.tmp", path) >= 0) {
    FILE *f = fopen(tmp, "wb");
    if (f) {
      int ok = fwrite(data, 1, len, f) == len;
      ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
      ok &= fclose(f) == 0;
      if (ok && rename(tmp, path) == 0)
        rc = 0;
      else
        unlink(tmp);
    }
    free(tmp);
  }
  free(data);
  return rc;
}

void strata_index_files_save(strata_db *db, strata_collection *c,
                             uint64_t sequence) {
  char *dir = NULL;
  if (asprintf(&dir, "%s/hnsw", db->path) < 0)
    return;
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    strata_db_log(db, "cannot create %s (%s); HNSW graphs will be rebuilt "
                      "at the next open",
                  dir, strerror(errno));
    free(dir);
    return;
  }
  free(dir);
  for (size_t s = 0; s < c->n_spaces; s++) {
    strata_space *space = &c->spaces[s];
    if (!space->graph)
      continue;
    char *graph_path = index_path(db, c->id, s, "graph");
    char *slot_path = index_path(db, c->id, s, "slots");
    /* The graph goes first: a slot file is only trusted next to the
     * graph it was written with. */
    int ok = graph_path && slot_path &&
             strata_hnsw_save(space->graph, graph_path) == STRATA_HNSW_OK &&
             write_slot_file(slot_path, c, space, sequence) == 0;
    if (!ok)
      strata_db_log(db, "saving the HNSW graph of collection \"%s\" to %s "
                        "failed (%s); it will be rebuilt at the next open",
                    c->name, graph_path ? graph_path : "(no memory)",
                    strerror(errno));
    free(graph_path);
    free(slot_path);
  }
}

void strata_index_files_remove(strata_db *db, uint32_t collection_id,
                               size_t n_spaces) {
  for (size_t s = 0; s < n_spaces; s++) {
    const char *suffixes[] = {"graph", "slots"};
    for (int i = 0; i < 2; i++) {
      char *path = index_path(db, collection_id, s, suffixes[i]);
      if (path)
        unlink(path);
      free(path);
    }
  }
}
