/*
 * Bucket bitmaps of integer, float and datetime indexes.
 *
 * A range lookup unites the bitmaps of the whole buckets it covers and
 * checks the entries of the two partial buckets at its ends.  These tests
 * place range bounds on, inside and across bucket edges of every level,
 * and compare each lookup with an evaluation of every payload.  They
 * also check every bucket bitmap against the entries it covers.  Both
 * checks run after a bulk build, after updates and deletes that move
 * points between buckets (before prepare, with dead entries and an
 * unsorted tail), and after the prepare that rebuilds the buckets.
 * Points with several values in one field sit in several buckets.
 */
#include <inttypes.h>
#include <roaring/roaring.h>
#include <stdint.h>

#include "filter.h"
#include "filter_test.h"
#include "filter_truth.h"
#include "payload_index.h"
#include "payload_index_internal.h"

/* Enough entries for buckets of 512 to 8,192 entries. */
#define N_POINTS 12000

/* An integer of the field n.  One value in eight comes from a set of 40,
 * so that runs of equal values cross bucket edges. */
static int n_value(void) { return below(8) ? below(100000) : 2500 * below(40); }

/* A datetime in 2020 to 2023, to the second. */
static void datetime_text(char **p) {
  append(p, "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", 2020 + below(4),
         1 + below(12), 1 + below(28), below(24), below(60), below(60));
}

/* A payload with an integer n, a float x and a datetime dt.  Some points
 * have arrays (several values in one index), reals or strings in the
 * integer field, or no field at all. */
static json_t *new_doc(void) {
  static char buf[512];
  char *p = buf;
  append(&p, "{");
  int r = below(100);
  if (r < 4)
    append(&p, "\"n\":[%d,%d,%d]", n_value(), n_value(), n_value());
  else if (r < 6)
    append(&p, "\"n\":%d.5", below(100000));
  else if (r < 7)
    append(&p, "\"n\":\"%d\"", below(100000));
  else if (r < 98)
    append(&p, "\"n\":%d", n_value());
  else
    append(&p, "\"none\":1");

  r = below(100);
  if (r < 3)
    append(&p, ",\"x\":[%d.25,%d.75]", below(1000), below(1000));
  else if (r < 97)
    append(&p, ",\"x\":%d.%d", below(1000), below(10));

  r = below(100);
  if (r < 3) {
    append(&p, ",\"dt\":[");
    datetime_text(&p);
    append(&p, ",");
    datetime_text(&p);
    append(&p, "]");
  } else if (r < 98) {
    append(&p, ",\"dt\":");
    datetime_text(&p);
  }
  append(&p, "}");

  json_t *doc = NULL;
  REQUIRE(strata_payload_load(buf, strlen(buf), &doc) == STRATA_OK);
  return doc;
}

enum { IX_N, IX_X, IX_DT, N_INDEXES };

static const char *const fields[N_INDEXES] = {"n", "x", "dt"};

typedef struct corpus {
  json_t *docs[N_POINTS]; /* NULL: deleted */
  strata_payload_index *items[N_INDEXES];
} corpus;

/* Checks every bucket bitmap against the live entries it covers. */
static void check_buckets(const strata_payload_index *ix, const char *phase) {
  size_t expected_levels = 0;
  for (size_t size = STRATA_BUCKET_BASE; size <= ix->n_sorted;
       size *= STRATA_BUCKET_FANOUT)
    expected_levels++;
  CHECK_MSG(ix->n_levels == expected_levels,
            "%s, %s: %zu levels over %zu entries, expected %zu", phase,
            ix->path.text, ix->n_levels, ix->n_sorted, expected_levels);
  for (size_t l = 0; l < ix->n_levels; l++) {
    const strata_bucket_level *level = &ix->levels[l];
    CHECK_MSG(level->count == ix->n_sorted / level->size,
              "%s, %s: level %zu has %zu buckets", phase, ix->path.text, l,
              level->count);
    for (size_t b = 0; b < level->count; b++) {
      roaring_bitmap_t *live = roaring_bitmap_create();
      for (size_t k = b * level->size; k < (b + 1) * level->size; k++)
        if (!ix->entries[k].dead)
          roaring_bitmap_add(live, ix->entries[k].point);
      CHECK_MSG(roaring_bitmap_equals(live, level->maps[b]),
                "%s, %s: bucket %zu of level %zu has %" PRIu64
                " points, its live entries %" PRIu64,
                phase, ix->path.text, b, l,
                roaring_bitmap_get_cardinality(level->maps[b]),
                roaring_bitmap_get_cardinality(live));
      roaring_bitmap_free(live);
    }
  }
}

/* Compares the lookup of a one-condition filter with an evaluation of
 * every payload.  Returns the number of matching points. */
static uint64_t check_range(corpus *c, int index, const char *json) {
  strata_filter *f = NULL;
  roaring_bitmap_t *truth = matching_points(c->docs, N_POINTS, json, &f);
  if (truth == NULL)
    return 0;

  roaring_bitmap_t *found = NULL;
  int exact = -1;
  REQUIRE(strata_payload_index_lookup(c->items[index], f->must[0], &found,
                                      &exact) == 0);
  CHECK_MSG(roaring_bitmap_is_subset(truth, found),
            "lookup misses matching points: %s", json);
  if (exact)
    CHECK_MSG(roaring_bitmap_equals(truth, found),
              "exact lookup differs: %s (%" PRIu64 " vs %" PRIu64 ")", json,
              roaring_bitmap_get_cardinality(found),
              roaring_bitmap_get_cardinality(truth));

  uint64_t count = roaring_bitmap_get_cardinality(truth);
  roaring_bitmap_free(truth);
  roaring_bitmap_free(found);
  strata_filter_free(f);
  return count;
}

/* Writes the value of the sorted entry at `position` as JSON. */
static void value_text(const strata_payload_index *ix, size_t position,
                       char *out) {
  const strata_num_entry *e = &ix->entries[position];
  if (ix->type == STRATA_INDEX_INTEGER) {
    sprintf(out, "%" PRId64, e->i);
  } else if (ix->type == STRATA_INDEX_FLOAT) {
    sprintf(out, "%.17g", e->d);
  } else {
    char text[40];
    strata_datetime_format(e->i, text);
    sprintf(out, "\"%s\"", text);
  }
}

static void range_json(char *json, int index, const char *lower_op,
                       const char *lower, const char *upper_op,
                       const char *upper) {
  char *p = json;
  append(&p, "{\"must\":[{\"key\":\"%s\",\"range\":{", fields[index]);
  if (lower_op)
    append(&p, "\"%s\":%s", lower_op, lower);
  if (lower_op && upper_op)
    append(&p, ",");
  if (upper_op)
    append(&p, "\"%s\":%s", upper_op, upper);
  append(&p, "}}]}");
}

/* Sorted positions on the edges of two buckets of every level, one
 * entry off them, and inside the buckets.  Returns their number, at most
 * 8 per level plus 2. */
static size_t edge_positions(const strata_payload_index *ix, size_t *out) {
  size_t n = 0;
  for (size_t l = 0; l < ix->n_levels; l++) {
    const strata_bucket_level *level = &ix->levels[l];
    size_t picks[2] = {1, level->count / 2};
    for (int k = 0; k < 2; k++) {
      size_t b = picks[k];
      if (b == 0 || b >= level->count || (k == 1 && b == picks[0]))
        continue;
      out[n++] = b * level->size;
      out[n++] = b * level->size - 1;
      out[n++] = b * level->size + 1;
      out[n++] = b * level->size + (size_t)below((int)level->size);
    }
  }
  out[n++] = 0;
  out[n++] = ix->n_sorted - 1;
  return n;
}

/* Runs ranges whose bounds are the values at bucket edges, one bound or
 * two, with every operator, plus ranges that match nothing. */
static void run_ranges(corpus *c, int index, const char *phase) {
  const strata_payload_index *ix = c->items[index];
  static const char *const lower_ops[] = {"gte", "gt"};
  static const char *const upper_ops[] = {"lte", "lt"};
  char json[512], a[64], b[64];
  size_t positions[8 * 32 + 2]; /* 32 levels are more than 2^32 entries need */
  size_t n = edge_positions(ix, positions);
  uint64_t matched = 0;

  for (size_t i = 0; i < n; i++) {
    value_text(ix, positions[i], a);
    for (int op = 0; op < 2; op++) {
      range_json(json, index, lower_ops[op], a, NULL, NULL);
      matched += check_range(c, index, json);
      range_json(json, index, NULL, NULL, upper_ops[op], a);
      matched += check_range(c, index, json);
    }
    /* Two bounds: to other edge positions, in either order, so some
     * ranges are empty and some span many buckets. */
    for (int k = 0; k < 2; k++) {
      value_text(ix, positions[(size_t)below((int)n)], b);
      int op = below(4);
      range_json(json, index, lower_ops[op & 1], a, upper_ops[op >> 1], b);
      matched += check_range(c, index, json);
    }
  }
  CHECK_MSG(matched > 0, "%s, %s: no range matched a point", phase,
            fields[index]);

  /* Empty ranges: a value excluded at both ends, or beyond the extremes. */
  value_text(ix, ix->n_sorted / 2, a);
  range_json(json, index, "gt", a, "lt", a);
  CHECK_MSG(check_range(c, index, json) == 0, "%s: %s matched", phase, json);
  range_json(json, index, "gte", a, "lt", a);
  CHECK_MSG(check_range(c, index, json) == 0, "%s: %s matched", phase, json);
  value_text(ix, ix->n_sorted - 1, a);
  range_json(json, index, "gt", a, NULL, NULL);
  check_range(c, index, json);
  value_text(ix, 0, a);
  range_json(json, index, NULL, NULL, "lt", a);
  check_range(c, index, json);
}

static void run_all(corpus *c, const char *phase) {
  for (int k = 0; k < N_INDEXES; k++) {
    check_buckets(c->items[k], phase);
    run_ranges(c, k, phase);
  }
}

static void prepare_all(corpus *c) {
  for (int k = 0; k < N_INDEXES; k++)
    REQUIRE(strata_payload_index_prepare(c->items[k]) == STRATA_OK);
}

static void remove_point(corpus *c, uint32_t i) {
  for (int k = 0; k < N_INDEXES; k++)
    REQUIRE(strata_payload_index_remove(c->items[k], i, c->docs[i]) ==
            STRATA_OK);
  json_decref(c->docs[i]);
  c->docs[i] = NULL;
}

static void add_point(corpus *c, uint32_t i, json_t *doc) {
  c->docs[i] = doc;
  for (int k = 0; k < N_INDEXES; k++)
    REQUIRE(strata_payload_index_add(c->items[k], i, doc) == STRATA_OK);
}

/* Too few entries for a bucket: ranges still work, without levels. */
static void check_small_index(void) {
  strata_payload_index *ix = NULL;
  REQUIRE(strata_payload_index_create("n", STRATA_INDEX_INTEGER, &ix) ==
          STRATA_OK);
  for (uint32_t i = 0; i < STRATA_BUCKET_BASE - 1; i++) {
    json_t *doc = json_pack("{s:i}", "n", (int)i);
    REQUIRE(strata_payload_index_add(ix, i, doc) == STRATA_OK);
    json_decref(doc);
  }
  REQUIRE(strata_payload_index_prepare(ix) == STRATA_OK);
  CHECK(ix->n_levels == 0);

  strata_filter *f = NULL;
  const char *json = "{\"must\":[{\"key\":\"n\",\"range\":{\"gte\":10,"
                     "\"lt\":300}}]}";
  REQUIRE(strata_filter_parse_json(json, strlen(json), &f) == STRATA_OK);
  roaring_bitmap_t *found = NULL;
  int exact = -1;
  REQUIRE(strata_payload_index_lookup(ix, f->must[0], &found, &exact) == 0);
  CHECK(roaring_bitmap_get_cardinality(found) == 290);
  CHECK(exact == 1);
  roaring_bitmap_free(found);
  strata_filter_free(f);
  strata_payload_index_free(ix);
}

int main(void) {
  static corpus c;
  static const strata_index_type types[N_INDEXES] = {
      STRATA_INDEX_INTEGER, STRATA_INDEX_FLOAT, STRATA_INDEX_DATETIME};
  for (int k = 0; k < N_INDEXES; k++)
    REQUIRE(strata_payload_index_create(fields[k], types[k], &c.items[k]) ==
            STRATA_OK);

  for (uint32_t i = 0; i < N_POINTS; i++)
    add_point(&c, (uint32_t)((i * 7919u) % N_POINTS), new_doc());
  prepare_all(&c);
  for (int k = 0; k < N_INDEXES; k++)
    CHECK_MSG(c.items[k]->n_levels >= 3, "%s: %zu bucket levels",
              fields[k], c.items[k]->n_levels);
  run_all(&c, "built");

  /* Updates give points new values, which moves them to other buckets,
   * and deletes leave holes.  Checked before prepare and after. */
  for (int u = 0; u < 900; u++) {
    uint32_t i = (uint32_t)below(N_POINTS);
    if (!c.docs[i])
      continue;
    remove_point(&c, i);
    if (u % 4 != 0)
      add_point(&c, i, new_doc());
  }
  run_all(&c, "updated, not prepared");

  /* Enough changes that prepare merges and builds the buckets again. */
  for (int u = 0; u < 6000; u++) {
    uint32_t i = (uint32_t)below(N_POINTS);
    if (c.docs[i])
      remove_point(&c, i);
    add_point(&c, i, new_doc());
  }
  prepare_all(&c);
  for (int k = 0; k < N_INDEXES; k++)
    CHECK_MSG(c.items[k]->n_sorted == c.items[k]->n_entries,
              "%s: prepare left %zu unsorted entries", fields[k],
              c.items[k]->n_entries - c.items[k]->n_sorted);
  run_all(&c, "updated and prepared");

  check_small_index();

  for (int k = 0; k < N_INDEXES; k++)
    strata_payload_index_free(c.items[k]);
  for (uint32_t i = 0; i < N_POINTS; i++)
    json_decref(c.docs[i]);
  return test_result();
}
