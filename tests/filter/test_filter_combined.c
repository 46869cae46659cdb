/*
 * Combined must filters: a selective condition with wide ranges on
 * integer, float and datetime indexes.
 *
 * The planner checks such ranges through each index's point-to-value
 * table instead of collecting the range.  These tests compare the
 * candidates with an evaluation of every payload after a bulk build and
 * after updates and deletes (before and after prepare).  They also
 * compare strata_payload_index_restrict() with lookups.  A table that
 * missed an update, a delete or a multi-valued point fails them.
 */
#include <roaring/roaring.h>
#include <stdint.h>

#include "filter.h"
#include "filter_test.h"
#include "filter_truth.h"
#include "payload_index.h"

#define N_POINTS 6000
#define N_TAGS 40

/* An RFC 3339 time in 2020 to 2024: day d of the period, hour h. */
static void datetime_text(char **p, int d, int h) {
  append(p, "\"%04d-%02d-%02dT%02d:%02d:00Z\"", 2020 + d / 336,
         1 + (d / 28) % 12, 1 + d % 28, h, below(60));
}

/* A payload like the bench's: a skewed tag, an integer, a float and a
 * datetime.  Some points have arrays (several values per index), reals
 * in the integer field, strings in the numeric fields, nulls, or no
 * field at all, so that the table's fallbacks are exercised too. */
static json_t *new_doc(void) {
  static char buf[1024];
  char *p = buf;
  int tag = below(4) ? below(4) : below(N_TAGS);
  append(&p, "{\"tag\":\"t%02d\"", tag);

  int r = below(100);
  if (r < 3)
    append(&p, ",\"n\":[%d,%d]", below(1000), below(1000));
  else if (r < 5)
    append(&p, ",\"n\":%d.5", below(1000));
  else if (r < 6)
    append(&p, ",\"n\":\"%d\"", below(1000));
  else if (r < 8)
    append(&p, ",\"n\":null");
  else if (r < 95)
    append(&p, ",\"n\":%d", below(1000));

  r = below(100);
  if (r < 3)
    append(&p, ",\"x\":[%d.25,%d]", below(100), below(100));
  else if (r < 5)
    append(&p, ",\"x\":\"high\"");
  else if (r < 95)
    append(&p, ",\"x\":%d.%d", below(100), below(10));

  r = below(100);
  if (r < 97) {
    append(&p, ",\"dt\":");
    if (r < 3) {
      append(&p, "[");
      datetime_text(&p, below(1680), below(24));
      append(&p, ",");
      datetime_text(&p, below(1680), below(24));
      append(&p, "]");
    } else if (r < 5) {
      append(&p, "\"not a date\"");
    } else {
      datetime_text(&p, below(1680), below(24));
    }
  }
  append(&p, "}");

  json_t *doc = NULL;
  REQUIRE(strata_payload_load(buf, strlen(buf), &doc) == STRATA_OK);
  return doc;
}

typedef struct corpus {
  json_t *docs[N_POINTS]; /* NULL: deleted */
  strata_payload_index *items[4];
  strata_payload_indexes set;
  roaring_bitmap_t *all;
} corpus;

enum { IX_TAG, IX_N, IX_X, IX_DT };

/* Compares the candidates with an evaluation of every payload.  Returns
 * the number of matching points. */
static uint64_t check_filter(corpus *c, const char *json) {
  strata_filter *f = NULL;
  roaring_bitmap_t *truth = matching_points(c->docs, N_POINTS, json, &f);
  if (truth == NULL)
    return 0;

  roaring_bitmap_t *cand = NULL;
  int exact = -1;
  REQUIRE(strata_filter_candidates(f, &c->set, c->all, &cand, &exact) ==
          STRATA_OK);
  CHECK_MSG(roaring_bitmap_is_subset(truth, cand),
            "candidates miss matching points: %s", json);
  CHECK_MSG(roaring_bitmap_is_subset(cand, c->all),
            "candidates outside the point set: %s", json);
  if (exact)
    CHECK_MSG(roaring_bitmap_equals(truth, cand),
              "exact candidates differ: %s (%llu vs %llu)", json,
              (unsigned long long)roaring_bitmap_get_cardinality(cand),
              (unsigned long long)roaring_bitmap_get_cardinality(truth));

  uint64_t count = roaring_bitmap_get_cardinality(truth);
  roaring_bitmap_free(truth);
  roaring_bitmap_free(cand);
  strata_filter_free(f);
  return count;
}

/* Writes a `must` of one rare tag and wide ranges on n, x and dt, in an
 * order picked by `order`.  The ranges cover most points, so the
 * planner checks them through the point-to-value tables. */
static void combined_filter(char *json, int order) {
  char parts[4][160];
  int lo = below(200), dlo = below(300);
  snprintf(parts[0], sizeof parts[0],
           "{\"key\":\"tag\",\"match\":{\"any\":[\"t%02d\",\"t%02d\"]}}",
           4 + below(N_TAGS - 4), 4 + below(N_TAGS - 4));
  snprintf(parts[1], sizeof parts[1],
           "{\"key\":\"n\",\"range\":{\"gte\":%d,\"lt\":%d}}", lo,
           lo + 500 + below(300));
  snprintf(parts[2], sizeof parts[2],
           "{\"key\":\"x\",\"range\":{\"gt\":%d.5,\"lte\":%d}}", below(20),
           60 + below(40));
  char *p = parts[3];
  append(&p, "{\"key\":\"dt\",\"range\":{\"gte\":");
  datetime_text(&p, dlo, below(24));
  append(&p, ",\"lt\":");
  datetime_text(&p, dlo + 900 + below(400), below(24));
  append(&p, "}}");

  /* Rotate the parts so that the rare condition is not always first. */
  char *out = json;
  append(&out, "{\"must\":[");
  for (int k = 0; k < 4; k++)
    append(&out, "%s%s", k ? "," : "", parts[(k + order) % 4]);
  append(&out, "]}");
}

/* Runs combined filters and a few variants: ranges only, and ranges
 * with a condition that matches no point. */
static void run_filters(corpus *c, const char *phase) {
  static char json[2048];
  uint64_t matched = 0;
  for (int k = 0; k < 60; k++) {
    combined_filter(json, k);
    matched += check_filter(c, json);
  }
  CHECK_MSG(matched > 0, "%s: no combined filter matched a point", phase);

  check_filter(c, "{\"must\":[{\"key\":\"n\",\"range\":{\"gte\":100}},"
                  "{\"key\":\"x\",\"range\":{\"lt\":90}},"
                  "{\"key\":\"n\",\"range\":{\"lt\":120}}]}");
  check_filter(c, "{\"must\":[{\"key\":\"tag\",\"match\":{\"value\":\"zz\"}},"
                  "{\"key\":\"n\",\"range\":{\"gte\":0}}]}");
  check_filter(c, "{\"must\":[{\"key\":\"tag\",\"match\":{\"value\":\"t07\"}},"
                  "{\"key\":\"dt\",\"range\":{\"gt\":\"2020-01-01T00:00:00Z\"}},"
                  "{\"key\":\"n\",\"range\":{\"lte\":999}}]}");
  check_filter(c, "{\"must\":[{\"key\":\"tag\",\"match\":{\"value\":\"t09\"}}],"
                  "\"must_not\":[{\"key\":\"x\",\"range\":{\"lt\":50}}]}");
}

/* Restricts sets of points through the table and compares the result
 * with the lookup of the same condition intersected with the set. */
static void check_restrict(corpus *c, int index, const char *json) {
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(json, strlen(json), &f) == STRATA_OK);
  const strata_condition *cond = f->must[0];
  const strata_payload_index *ix = c->items[index];

  roaring_bitmap_t *lookup = NULL;
  int lookup_exact = -1;
  REQUIRE(strata_payload_index_lookup(ix, cond, &lookup, &lookup_exact) == 0);

  for (int round = 0; round < 20; round++) {
    roaring_bitmap_t *points = roaring_bitmap_create();
    int every = 1 + below(20);
    for (uint32_t i = (uint32_t)below(every); i < N_POINTS + 50;
         i += (uint32_t)every)
      roaring_bitmap_add(points, i);
    roaring_bitmap_t *expected = roaring_bitmap_and(points, lookup);

    /* The table cannot decide a point with several values, so restrict
     * must decline when the set contains one. */
    int multi = 0;
    for (uint32_t i = 0; i < N_POINTS; i++) {
      if (!roaring_bitmap_contains(points, i) || !c->docs[i])
        continue;
      json_t *v = json_object_get(c->docs[i], index == IX_N    ? "n"
                                              : index == IX_X ? "x"
                                                              : "dt");
      multi |= json_is_array(v);
    }

    int exact = -1;
    int done = strata_payload_index_restrict(ix, cond, &points, &exact);
    CHECK_MSG(done == !multi, "%s: restrict returned %d with multi %d", json,
              done, multi);
    if (done == 1) {
      CHECK_MSG(roaring_bitmap_equals(points, expected),
                "%s: restricted %llu points, lookup gives %llu", json,
                (unsigned long long)roaring_bitmap_get_cardinality(points),
                (unsigned long long)roaring_bitmap_get_cardinality(expected));
      CHECK_MSG(exact == lookup_exact, "%s: exact %d, lookup exact %d", json,
                exact, lookup_exact);
    }
    roaring_bitmap_free(points);
    roaring_bitmap_free(expected);
  }
  roaring_bitmap_free(lookup);
  strata_filter_free(f);
}

static void run_restricts(corpus *c) {
  check_restrict(c, IX_N, "{\"must\":[{\"key\":\"n\",\"range\":"
                          "{\"gte\":200,\"lt\":700}}]}");
  check_restrict(c, IX_X, "{\"must\":[{\"key\":\"x\",\"range\":"
                          "{\"gt\":10.5,\"lte\":80}}]}");
  check_restrict(c, IX_DT, "{\"must\":[{\"key\":\"dt\",\"range\":"
                           "{\"gte\":\"2021-03-01T00:00:00Z\","
                           "\"lt\":\"2023-06-01T12:00:00Z\"}}]}");

  /* A range on another index type is not the table's to decide. */
  strata_filter *f = NULL;
  const char *json =
      "{\"must\":[{\"key\":\"dt\",\"range\":{\"gte\":1,\"lt\":9}}]}";
  REQUIRE(strata_filter_parse_json(json, strlen(json), &f) == STRATA_OK);
  roaring_bitmap_t *points = roaring_bitmap_from_range(0, 100, 1);
  roaring_bitmap_t *before = points;
  int exact = -1;
  CHECK(strata_payload_index_restrict(c->items[IX_DT], f->must[0], &points,
                                      &exact) == 0);
  CHECK(points == before);
  uint64_t size = 0;
  CHECK(strata_payload_index_range_size(c->items[IX_DT], f->must[0], &size) ==
        0);
  roaring_bitmap_free(points);
  strata_filter_free(f);
}

/* The size bound is at least the lookup's cardinality. */
static void check_range_size(corpus *c) {
  const char *json = "{\"must\":[{\"key\":\"n\",\"range\":{\"gte\":300}}]}";
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(json, strlen(json), &f) == STRATA_OK);
  roaring_bitmap_t *lookup = NULL;
  int exact = -1;
  REQUIRE(strata_payload_index_lookup(c->items[IX_N], f->must[0], &lookup,
                                      &exact) == 0);
  uint64_t size = 0;
  CHECK(strata_payload_index_range_size(c->items[IX_N], f->must[0], &size) ==
        1);
  CHECK_MSG(size >= roaring_bitmap_get_cardinality(lookup),
            "range size %llu below lookup %llu", (unsigned long long)size,
            (unsigned long long)roaring_bitmap_get_cardinality(lookup));
  roaring_bitmap_free(lookup);
  strata_filter_free(f);
}

static void run_all(corpus *c, const char *phase) {
  run_filters(c, phase);
  run_restricts(c);
  check_range_size(c);
}

static void prepare_all(corpus *c) {
  for (size_t k = 0; k < 4; k++)
    REQUIRE(strata_payload_index_prepare(c->items[k]) == STRATA_OK);
}

static void remove_point(corpus *c, uint32_t i) {
  for (size_t k = 0; k < 4; k++)
    REQUIRE(strata_payload_index_remove(c->items[k], i, c->docs[i]) ==
            STRATA_OK);
  json_decref(c->docs[i]);
  c->docs[i] = NULL;
}

static void add_point(corpus *c, uint32_t i) {
  c->docs[i] = new_doc();
  for (size_t k = 0; k < 4; k++)
    REQUIRE(strata_payload_index_add(c->items[k], i, c->docs[i]) ==
            STRATA_OK);
}

int main(void) {
  rng_state = 0x2545F4914F6CDD1DULL;
  static corpus c;
  static const struct {
    const char *field;
    strata_index_type type;
  } defs[] = {{"tag", STRATA_INDEX_KEYWORD},
              {"n", STRATA_INDEX_INTEGER},
              {"x", STRATA_INDEX_FLOAT},
              {"dt", STRATA_INDEX_DATETIME}};
  for (size_t k = 0; k < 4; k++)
    REQUIRE(strata_payload_index_create(defs[k].field, defs[k].type,
                                        &c.items[k]) == STRATA_OK);
  c.set.items = c.items;
  c.set.count = 4;
  c.all = roaring_bitmap_create();

  /* Points are added in a shuffled order so that the table grows past
   * points that have no value yet. */
  for (uint32_t i = 0; i < N_POINTS; i++) {
    uint32_t point = (uint32_t)((i * 4099u) % N_POINTS);
    add_point(&c, point);
    roaring_bitmap_add(c.all, point);
  }
  prepare_all(&c);
  run_all(&c, "built");

  /* Updates (remove the old payload, add a new one) and deletes, checked
   * before prepare (an unsorted tail and dead entries) and after. */
  for (int u = 0; u < 1200; u++) {
    uint32_t i = (uint32_t)below(N_POINTS);
    if (!c.docs[i])
      continue;
    remove_point(&c, i);
    if (u % 3 == 0)
      roaring_bitmap_remove(c.all, i);
    else
      add_point(&c, i);
  }
  run_all(&c, "updated, not prepared");
  prepare_all(&c);
  run_all(&c, "updated and prepared");

  /* Points whose multi-valued payloads are replaced by single values
   * must be decided by the table again. */
  for (uint32_t i = 0; i < N_POINTS; i++) {
    if (!c.docs[i] || !json_is_array(json_object_get(c.docs[i], "n")))
      continue;
    remove_point(&c, i);
    json_t *doc = NULL;
    REQUIRE(strata_payload_load("{\"tag\":\"t05\",\"n\":250,\"x\":20.5,"
                                "\"dt\":\"2022-02-02T00:00:00Z\"}",
                                strlen("{\"tag\":\"t05\",\"n\":250,\"x\":20.5,"
                                       "\"dt\":\"2022-02-02T00:00:00Z\"}"),
                                &doc) == STRATA_OK);
    c.docs[i] = doc;
    for (size_t k = 0; k < 4; k++)
      REQUIRE(strata_payload_index_add(c.items[k], i, doc) == STRATA_OK);
  }
  run_all(&c, "multi-valued points replaced");

  for (size_t k = 0; k < 4; k++)
    strata_payload_index_free(c.items[k]);
  for (uint32_t i = 0; i < N_POINTS; i++)
    json_decref(c.docs[i]);
  roaring_bitmap_free(c.all);
  return test_result();
}
