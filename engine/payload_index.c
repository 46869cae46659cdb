/* Payload indexes: storage, additions and removals (see payload_index.h). */
#include "payload_index_internal.h"

#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "status.h"

static const char *const type_names[] = {"keyword", "integer",  "float", "bool",
                                         "uuid",    "datetime", "text"};

const char *strata_index_type_name(strata_index_type type) {
  if ((unsigned)type < sizeof type_names / sizeof type_names[0])
    return type_names[type];
  return "unknown";
}

strata_status strata_index_type_parse(const char *name,
                                      strata_index_type *out) {
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (name && strcmp(name, type_names[i]) == 0) {
      *out = (strata_index_type)i;
      return STRATA_OK;
    }
  return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                     "unknown payload index type \"%s\": expected keyword, "
                     "integer, float, bool, uuid, datetime or text",
                     name ? name : "(null)");
}

/* ------------------------------------------------------------------ */
/* Hash table of keys to bitmaps                                        */

/* FNV-1a, 64-bit. */
static uint64_t hash_bytes(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static size_t table_slot(const strata_key_table *t, const char *key, size_t len,
                         uint64_t h) {
  size_t mask = t->cap - 1, i = (size_t)h & mask;
  while (t->slots[i].points) {
    const strata_key_entry *e = &t->slots[i];
    if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
      break;
    i = (i + 1) & mask;
  }
  return i;
}

const strata_key_entry *strata_key_table_get(const strata_key_table *t,
                                             const char *key, size_t len) {
  if (t->cap == 0)
    return NULL;
  const strata_key_entry *e =
      &t->slots[table_slot(t, key, len, hash_bytes(key, len))];
  return e->points ? e : NULL;
}

static int table_grow(strata_key_table *t) {
  size_t cap = t->cap ? t->cap * 2 : 64;
  strata_key_entry *slots = calloc(cap, sizeof *slots);
  if (!slots)
    return -1;
  strata_key_table old = *t;
  t->slots = slots;
  t->cap = cap;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i].points)
      t->slots[table_slot(t, old.slots[i].key, old.slots[i].len,
                          old.slots[i].hash)] = old.slots[i];
  free(old.slots);
  return 0;
}

/* Returns the entry of `key`, created with an empty bitmap if absent. */
static strata_key_entry *table_put(strata_key_table *t, const char *key,
                                   size_t len) {
  if ((t->used + 1) * 10 > t->cap * 7 && table_grow(t) != 0)
    return NULL;
  uint64_t h = hash_bytes(key, len);
  strata_key_entry *e = &t->slots[table_slot(t, key, len, h)];
  if (e->points)
    return e;
  char *copy = malloc(len + 1);
  roaring_bitmap_t *points = roaring_bitmap_create();
  if (!copy || !points) {
    free(copy);
    if (points)
      roaring_bitmap_free(points);
    return NULL;
  }
  memcpy(copy, key, len);
  copy[len] = '\0';
  e->key = copy;
  e->len = len;
  e->hash = h;
  e->points = points;
  t->used++;
  return e;
}

static void table_free(strata_key_table *t) {
  for (size_t i = 0; i < t->cap; i++)
    if (t->slots[i].points) {
      free(t->slots[i].key);
      roaring_bitmap_free(t->slots[i].points);
    }
  free(t->slots);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */

strata_status strata_payload_index_create(const char *field,
                                          strata_index_type type,
                                          strata_payload_index **out) {
  *out = NULL;
  if ((unsigned)type > STRATA_INDEX_TEXT)
    return strata_fail(STRATA_ERR_INVALID_ARGUMENT,
                       "unknown payload index type %d", (int)type);
  strata_payload_index *ix = calloc(1, sizeof *ix);
  if (!ix)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  strata_status st = strata_path_parse(field, &ix->path);
  if (st != STRATA_OK) {
    free(ix);
    return st;
  }
  ix->type = type;
  ix->present = roaring_bitmap_create();
  ix->other = roaring_bitmap_create();
  ix->bool_true = roaring_bitmap_create();
  ix->bool_false = roaring_bitmap_create();
  if (!ix->present || !ix->other || !ix->bool_true || !ix->bool_false) {
    strata_payload_index_free(ix);
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  *out = ix;
  return STRATA_OK;
}

static void free_buckets(strata_payload_index *ix) {
  for (size_t l = 0; l < ix->n_levels; l++) {
    strata_bucket_level *level = &ix->levels[l];
    for (size_t b = 0; level->maps && b < level->count; b++)
      if (level->maps[b])
        roaring_bitmap_free(level->maps[b]);
    free(level->maps);
  }
  free(ix->levels);
  ix->levels = NULL;
  ix->n_levels = 0;
}

void strata_payload_index_free(strata_payload_index *ix) {
  if (!ix)
    return;
  free_buckets(ix);
  strata_path_free(&ix->path);
  table_free(&ix->keys);
  free(ix->entries);
  free(ix->value_count);
  free(ix->value_i);
  free(ix->value_d);
  roaring_bitmap_t *maps[] = {ix->present, ix->other, ix->bool_true,
                              ix->bool_false};
  for (size_t i = 0; i < 4; i++)
    if (maps[i])
      roaring_bitmap_free(maps[i]);
  free(ix);
}

const char *strata_payload_index_field(const strata_payload_index *ix) {
  return ix->path.text;
}

strata_index_type strata_payload_index_type(const strata_payload_index *ix) {
  return ix->type;
}

int strata_payload_index_broken(const strata_payload_index *ix) {
  return ix->broken;
}

/* ------------------------------------------------------------------ */
/* Adding and removing values                                           */

/* Returns 1 when `s` is a UUID in lowercase hyphenated form. */
static int is_canonical_uuid(const char *s, size_t len) {
  if (len != 36)
    return 0;
  for (size_t i = 0; i < 36; i++) {
    int hyphen = i == 8 || i == 13 || i == 18 || i == 23;
    if (hyphen
            ? s[i] != '-'
            : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  }
  return 1;
}

int strata_uuid_key(const char *s, size_t len, char key[16]) {
  if (!is_canonical_uuid(s, len))
    return -1;
  int digit = 0;
  for (size_t i = 0; i < 36; i++) {
    if (s[i] == '-')
      continue;
    int v = s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10;
    if (digit % 2 == 0)
      key[digit / 2] = (char)(v << 4);
    else
      key[digit / 2] = (char)(key[digit / 2] | v);
    digit++;
  }
  return 0;
}

static int append_entry(strata_payload_index *ix, int64_t i, double d,
                        uint32_t point) {
  if (ix->n_entries == ix->cap_entries) {
    size_t cap = ix->cap_entries ? ix->cap_entries * 2 : 256;
    strata_num_entry *grown = realloc(ix->entries, cap * sizeof *grown);
    if (!grown)
      return -1;
    ix->entries = grown;
    ix->cap_entries = cap;
  }
  strata_num_entry *e = &ix->entries[ix->n_entries++];
  e->i = i;
  e->d = d;
  e->point = point;
  e->dead = 0;
  return 0;
}

typedef struct token_op {
  strata_payload_index *ix;
  uint32_t point;
  int add;
} token_op;

static int apply_token(void *arg, const char *token, size_t len) {
  token_op *op = arg;
  if (!op->add) {
    const strata_key_entry *e = strata_key_table_get(&op->ix->keys, token, len);
    if (e)
      roaring_bitmap_remove(e->points, op->point);
    return 0;
  }
  strata_key_entry *e = table_put(&op->ix->keys, token, len);
  if (!e)
    return -1;
  roaring_bitmap_add(e->points, op->point);
  return 0;
}

static int entry_before(const strata_payload_index *ix,
                        const strata_num_entry *e, int64_t i, double d,
                        uint32_t point) {
  if (ix->type == STRATA_INDEX_FLOAT ? e->d != d : e->i != i)
    return ix->type == STRATA_INDEX_FLOAT ? e->d < d : e->i < i;
  return e->point < point;
}

/* Takes `point` out of every bucket that contains the sorted entry at
 * `position`, which has just died.  The point's other values die in the
 * same removal, so no bucket keeps it for another live entry. */
static void unbucket(strata_payload_index *ix, size_t position,
                     uint32_t point) {
  for (size_t l = 0; l < ix->n_levels; l++) {
    strata_bucket_level *level = &ix->levels[l];
    size_t b = position / level->size;
    if (b < level->count)
      roaring_bitmap_remove(level->maps[b], point);
  }
}

/* Finds a live entry (value, point) and marks it dead: a binary search
 * in the sorted head, a scan of the unsorted tail. */
static void kill_entry(strata_payload_index *ix, int64_t i, double d,
                       uint32_t point) {
  size_t lo = 0, hi = ix->n_sorted;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (entry_before(ix, &ix->entries[mid], i, d, point))
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t k = lo; k < ix->n_entries; k++) {
    strata_num_entry *e = &ix->entries[k];
    int same = e->point == point &&
               (ix->type == STRATA_INDEX_FLOAT ? e->d == d : e->i == i);
    if (same && !e->dead) {
      e->dead = 1;
      ix->n_dead++;
      if (k < ix->n_sorted)
        unbucket(ix, k, point);
      return;
    }
    /* Past the pair in the sorted head: continue in the tail. */
    if (k < ix->n_sorted && !same)
      k = ix->n_sorted - 1;
  }
}

/* Adds (add != 0) or removes one value of `point`.  Returns 1 when the
 * value is of the index's type, 0 when it is not, -1 when out of memory.
 * A numeric or datetime value of the index's type is also stored in
 * *value. */
static int apply_value(strata_payload_index *ix, uint32_t point,
                       const json_t *v, int add, strata_num_entry *value) {
  const char *s = json_is_string(v) ? json_string_value(v) : NULL;
  size_t len = s ? json_string_length(v) : 0;
  int64_t t = 0;
  char uuid[16];
  switch (ix->type) {
  case STRATA_INDEX_KEYWORD:
  case STRATA_INDEX_UUID: {
    if (!s || (ix->type == STRATA_INDEX_UUID && strata_uuid_key(s, len, uuid)))
      return 0;
    const char *key = ix->type == STRATA_INDEX_UUID ? uuid : s;
    size_t key_len = ix->type == STRATA_INDEX_UUID ? 16 : len;
    if (!add) {
      const strata_key_entry *e = strata_key_table_get(&ix->keys, key, key_len);
      if (e)
        roaring_bitmap_remove(e->points, point);
      return 1;
    }
    strata_key_entry *e = table_put(&ix->keys, key, key_len);
    if (!e)
      return -1;
    roaring_bitmap_add(e->points, point);
    return 1;
  }
  case STRATA_INDEX_TEXT: {
    if (!s)
      return 0;
    token_op op = {ix, point, add};
    return strata_text_tokens(s, len, apply_token, &op) ? -1 : 1;
  }
  case STRATA_INDEX_BOOL:
    if (!json_is_boolean(v))
      return 0;
    if (add)
      roaring_bitmap_add(json_is_true(v) ? ix->bool_true : ix->bool_false,
                         point);
    else
      roaring_bitmap_remove(json_is_true(v) ? ix->bool_true : ix->bool_false,
                            point);
    return 1;
  case STRATA_INDEX_INTEGER:
    if (!json_is_integer(v))
      return 0;
    t = json_integer_value(v);
    break;
  case STRATA_INDEX_FLOAT:
    if (!json_is_number(v))
      return 0;
    break;
  case STRATA_INDEX_DATETIME:
    if (!s || strata_datetime_parse(s, len, &t) != 0)
      return 0;
    break;
  }
  double d = ix->type == STRATA_INDEX_FLOAT ? json_number_value(v) : (double)t;
  value->i = t;
  value->d = d;
  if (!add) {
    kill_entry(ix, t, d, point);
    return 1;
  }
  return append_entry(ix, t, d, point) ? -1 : 1;
}

static int is_numeric(const strata_payload_index *ix) {
  return ix->type == STRATA_INDEX_INTEGER || ix->type == STRATA_INDEX_FLOAT ||
         ix->type == STRATA_INDEX_DATETIME;
}

/* Grows the point-to-value table to cover `point`.  New slots have no
 * value.  Returns -1 when out of memory. */
static int reserve_values(strata_payload_index *ix, uint32_t point) {
  if (point < ix->n_values)
    return 0;
  size_t n = ix->n_values ? ix->n_values * 2 : 1024;
  if (n <= point)
    n = (size_t)point + 1;
  uint8_t *count = realloc(ix->value_count, n);
  if (!count)
    return -1;
  ix->value_count = count;
  memset(count + ix->n_values, 0, n - ix->n_values);
  if (ix->type == STRATA_INDEX_FLOAT) {
    double *d = realloc(ix->value_d, n * sizeof *d);
    if (!d)
      return -1;
    ix->value_d = d;
  } else {
    int64_t *i = realloc(ix->value_i, n * sizeof *i);
    if (!i)
      return -1;
    ix->value_i = i;
  }
  ix->n_values = n;
  return 0;
}

/* Records how many values `point` has in the point-to-value table, and
 * `value` when it is the only one.  Returns -1 when out of memory. */
static int set_point_value(strata_payload_index *ix, uint32_t point,
                           int indexed, const strata_num_entry *value) {
  if (indexed == 0 && point >= ix->n_values)
    return 0;
  if (reserve_values(ix, point) != 0)
    return -1;
  ix->value_count[point] = (uint8_t)(indexed > 2 ? 2 : indexed);
  if (indexed == 1 && ix->type == STRATA_INDEX_FLOAT)
    ix->value_d[point] = value->d;
  else if (indexed == 1)
    ix->value_i[point] = value->i;
  return 0;
}

/* Applies every value at the index's path: arrays give their elements,
 * nulls are skipped, values of another type mark the point in `other`. */
static strata_status apply_payload(strata_payload_index *ix, uint32_t point,
                                   const json_t *payload, int add) {
  strata_values vals;
  if (strata_values_resolve(payload, &ix->path, &vals) != 0) {
    ix->broken = 1;
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  }
  int indexed = 0, other = 0, failed = 0;
  strata_num_entry value = {0, 0, point, 0};
  for (size_t i = 0; i < vals.n && !failed; i++) {
    const json_t *v = vals.items[i];
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t k = 0; k < n && !failed; k++) {
      const json_t *e = json_is_array(v) ? json_array_get(v, k) : v;
      if (json_is_null(e))
        continue;
      int r = apply_value(ix, point, e, add, &value);
      failed = r < 0;
      indexed += r == 1;
      other |= r == 0;
    }
  }
  strata_values_release(&vals);
  if (!failed && is_numeric(ix) &&
      set_point_value(ix, point, add ? indexed : 0, &value) != 0)
    failed = 1;
  if (failed)
    ix->broken = 1;
  if (!add) {
    roaring_bitmap_remove(ix->present, point);
    roaring_bitmap_remove(ix->other, point);
    return STRATA_OK;
  }
  if (indexed)
    roaring_bitmap_add(ix->present, point);
  if (other)
    roaring_bitmap_add(ix->other, point);
  return failed ? strata_fail(STRATA_ERR_NO_MEMORY, "out of memory")
                : STRATA_OK;
}

strata_status strata_payload_index_add(strata_payload_index *ix, uint32_t point,
                                       const json_t *payload) {
  return apply_payload(ix, point, payload, 1);
}

strata_status strata_payload_index_remove(strata_payload_index *ix,
                                          uint32_t point,
                                          const json_t *old_payload) {
  return apply_payload(ix, point, old_payload, 0);
}

static int compare_entries_int(const void *a, const void *b) {
  const strata_num_entry *x = a, *y = b;
  if (x->i != y->i)
    return x->i < y->i ? -1 : 1;
  return x->point < y->point ? -1 : x->point > y->point;
}

static int compare_entries_double(const void *a, const void *b) {
  const strata_num_entry *x = a, *y = b;
  if (x->d != y->d)
    return x->d < y->d ? -1 : 1;
  return x->point < y->point ? -1 : x->point > y->point;
}

/* prepare leaves up to this many unsorted entries for queries to scan,
 * when they are also at most 1/16 of the sorted ones. */
#define MAX_LAZY_TAIL 4096

/* Builds the bucket levels over the sorted entries, which have no dead
 * ones right after a merge.  Level 0 is filled from the entries, and
 * each bucket of a higher level is the union of STRATA_BUCKET_FANOUT
 * buckets of the level below.  Out of memory leaves no levels. */
static void build_buckets(strata_payload_index *ix) {
  free_buckets(ix);
  size_t n = ix->n_sorted, n_levels = 0;
  for (size_t size = STRATA_BUCKET_BASE; size <= n;
       size *= STRATA_BUCKET_FANOUT)
    n_levels++;
  if (n_levels == 0)
    return;
  ix->levels = calloc(n_levels, sizeof *ix->levels);
  if (!ix->levels)
    return;
  ix->n_levels = n_levels;

  uint32_t points[STRATA_BUCKET_BASE];
  size_t size = STRATA_BUCKET_BASE;
  int failed = 0;
  for (size_t l = 0; l < n_levels && !failed; l++) {
    strata_bucket_level *level = &ix->levels[l];
    level->size = size;
    level->count = n / size;
    level->maps = calloc(level->count, sizeof *level->maps);
    failed = level->maps == NULL;
    for (size_t b = 0; b < level->count && !failed; b++) {
      if (l == 0) {
        const strata_num_entry *e = ix->entries + b * size;
        for (size_t k = 0; k < size; k++)
          points[k] = e[k].point;
        level->maps[b] = roaring_bitmap_of_ptr(size, points);
      } else {
        level->maps[b] = roaring_bitmap_or_many(
            STRATA_BUCKET_FANOUT,
            (const roaring_bitmap_t **)ix->levels[l - 1].maps +
                b * STRATA_BUCKET_FANOUT);
      }
      failed = level->maps[b] == NULL;
    }
    size *= STRATA_BUCKET_FANOUT;
  }
  if (failed)
    free_buckets(ix);
}

strata_status strata_payload_index_prepare(strata_payload_index *ix) {
  size_t tail = ix->n_entries - ix->n_sorted;
  if (tail <= MAX_LAZY_TAIL && tail * 16 <= ix->n_sorted &&
      ix->n_dead * 8 <= ix->n_entries)
    return STRATA_OK;

  /* Sort the tail, then merge it with the sorted head, dropping dead
   * entries.  The index stays valid if the merge buffer cannot be had. */
  int (*compare)(const void *, const void *) = ix->type == STRATA_INDEX_FLOAT
                                                   ? compare_entries_double
                                                   : compare_entries_int;
  strata_num_entry *head = ix->entries, *rest = ix->entries + ix->n_sorted;
  qsort(rest, tail, sizeof *rest, compare);
  strata_num_entry *merged =
      malloc((ix->n_entries ? ix->n_entries : 1) * sizeof *merged);
  if (!merged)
    return strata_fail(STRATA_ERR_NO_MEMORY, "out of memory");
  size_t h = 0, t = 0, out = 0;
  while (h < ix->n_sorted || t < tail) {
    const strata_num_entry *next;
    if (t == tail || (h < ix->n_sorted && compare(&head[h], &rest[t]) <= 0))
      next = &head[h++];
    else
      next = &rest[t++];
    if (!next->dead)
      merged[out++] = *next;
  }
  free(ix->entries);
  ix->entries = merged;
  ix->cap_entries = ix->n_entries ? ix->n_entries : 1;
  ix->n_entries = ix->n_sorted = out;
  ix->n_dead = 0;
  build_buckets(ix);
  return STRATA_OK;
}

const strata_payload_index *
strata_payload_indexes_find(const strata_payload_indexes *set,
                            const char *field) {
  for (size_t i = 0; set && i < set->count; i++)
    if (!set->items[i]->broken && strcmp(set->items[i]->path.text, field) == 0)
      return set->items[i];
  return NULL;
}

const strata_payload_index *
strata_payload_indexes_find_text(const strata_payload_indexes *set,
                                 const char *field) {
  for (size_t i = 0; set && i < set->count; i++)
    if (!set->items[i]->broken && set->items[i]->type == STRATA_INDEX_TEXT &&
        strcmp(set->items[i]->path.text, field) == 0)
      return set->items[i];
  return NULL;
}
