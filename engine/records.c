/* Result sets returned by get, scroll and search. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

strata_records *strata_records_new(size_t capacity) {
  strata_records *records = calloc(1, sizeof *records);
  if (!records)
    return NULL;
  records->items = calloc(capacity ? capacity : 1, sizeof *records->items);
  if (!records->items) {
    free(records);
    return NULL;
  }
  return records;
}

static void record_clear(strata_record *rec) {
  free(rec->payload);
  for (size_t v = 0; v < rec->n_vectors; v++) {
    free((char *)rec->vectors[v].name);
    free((float *)rec->vectors[v].data);
  }
  free(rec->vectors);
}

void strata_records_free(strata_records *records) {
  if (!records)
    return;
  for (size_t i = 0; i < records->count; i++)
    record_clear(&records->items[i]);
  free(records->items);
  free(records);
}

void strata_records_free_array(strata_records **array, size_t n) {
  if (!array)
    return;
  for (size_t i = 0; i < n; i++)
    strata_records_free(array[i]);
  free(array);
}

static strata_status fill_payload(strata_db *db, const strata_collection *c,
                                  const strata_point_id *id,
                                  strata_record *rec) {
  uint8_t key[STRATA_ROW_KEY_MAX];
  size_t klen = strata_row_key(c->id, id, key);
  char *value = NULL;
  size_t len = 0;
  strata_status st = strata_store_get(db->store, db->view, STRATA_CF_PAYLOADS,
                                      key, klen, &value, &len);
  if (st != STRATA_OK)
    return st;
  if (!value) {
    value = strdup("{}");
    len = 2;
    if (!value)
      return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  rec->payload = value;
  rec->payload_len = len;
  return STRATA_OK;
}

static strata_status fill_vectors(const strata_collection *c, uint32_t point,
                                  strata_record *rec) {
  size_t n = 0;
  for (size_t s = 0; s < c->n_spaces; s++)
    n += c->slots[(size_t)point * c->n_spaces + s] != STRATA_NO_SLOT;
  rec->vectors = calloc(n ? n : 1, sizeof *rec->vectors);
  if (!rec->vectors)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  for (size_t s = 0; s < c->n_spaces; s++) {
    uint32_t slot = c->slots[(size_t)point * c->n_spaces + s];
    if (slot == STRATA_NO_SLOT)
      continue;
    const strata_space *space = &c->spaces[s];
    strata_named_vector *out = &rec->vectors[rec->n_vectors];
    float *data = malloc((size_t)space->dim * sizeof *data);
    char *name = strdup(space->name);
    if (!data || !name) {
      free(data);
      free(name);
      return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(data, strata_vs_vector(&space->store, slot),
           (size_t)space->dim * sizeof *data);
    out->name = name;
    out->data = data;
    out->dim = space->dim;
    rec->n_vectors++;
  }
  return STRATA_OK;
}

strata_status strata_record_fill(strata_db *db, const strata_collection *c,
                                 uint32_t point, int with, strata_record *rec) {
  rec->id = c->points[point];
  strata_status st = STRATA_OK;
  if (with & STRATA_WITH_PAYLOAD)
    st = fill_payload(db, c, &rec->id, rec);
  if (st == STRATA_OK && (with & STRATA_WITH_VECTORS))
    st = fill_vectors(c, point, rec);
  return st;
}
