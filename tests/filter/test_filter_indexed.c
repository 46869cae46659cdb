/* Indexed against unindexed filtering: random payloads in every index
 * type and random filters.  For each filter the candidate bitmap must
 * contain every matching point (and no other when it claims to be
 * exact), and the estimate's bounds must contain the true count, before
 * and after updates, deletes and prepare. */

#include "filter.h"
#include "filter_test.h"
#include "payload_index.h"

#define N_POINTS 5000

/* Zipf-like: small values are much more frequent. */
static int skewed(int n) {
  double u = (double)(next_random() % 1000000) / 1000000.0;
  return (int)(u * u * u * n);
}

static const char *const words[] = {
    "alpha",   "Beta", "gamma", "DELTA",  "epsilon", "zeta",    "eta",
    "theta",   "iota", "kappa", "lambda", "mu",      "nu",      "xi",
    "omicron", "pi",   "rho",   "sigma",  "tau",     "upsilon", "phi",
    "chi",     "psi",  "omega", "über",   "straße",  "x1",      "42"};
#define N_WORDS (int)(sizeof words / sizeof words[0])

static const char *const datetimes[] = {"2024-05-01T10:00:00Z",
                                        "2024-05-01T12:00:00+02:00",
                                        "2024-05-01 10:00",
                                        "2024-05-01",
                                        "2023-12-31T23:59:59.999999Z",
                                        "2024-01-15T08:30:00-05:00",
                                        "2022-06-01 00:00:01",
                                        "2025-02-28",
                                        "1999-12-31T23:59:59Z",
                                        "not a date"};
#define N_DATETIMES (int)(sizeof datetimes / sizeof datetimes[0])

/* A canonical UUID from a pool of 20, or an uppercase (non-canonical)
 * spelling of one. */
static void uuid_string(char *buf, int k, int upper) {
  sprintf(buf,
          upper ? "%08X-0000-4000-8000-%012X" : "%08x-0000-4000-8000-%012x",
          0xabc00000u + (unsigned)k, (unsigned)k * 7919u);
}

static void keyword_value(char **p) {
  int r = below(20);
  if (r == 0)
    append(p, "null");
  else if (r == 1)
    append(p, "%d", below(5));
  else if (r < 5) {
    append(p, "[");
    int n = below(4);
    for (int i = 0; i < n; i++)
      append(p, "%s\"k%d\"", i ? "," : "", skewed(50));
    append(p, "]");
  } else {
    append(p, "\"k%d\"", skewed(50));
  }
}

static void integer_value(char **p) {
  int r = below(20);
  if (r == 0)
    append(p, "null");
  else if (r == 1)
    append(p, "%d.5", below(100) - 50);
  else if (r == 2)
    append(p, "%d.0", below(100) - 50);
  else if (r == 3)
    append(p, "\"%d\"", below(10));
  else if (r == 4)
    append(p, "4611686018427387904");
  else if (r < 8)
    append(p, "[%d,%d]", below(100) - 50, below(100) - 50);
  else
    append(p, "%d", below(100) - 50);
}

static void text_value(char **p) {
  int n = 1 + below(6);
  append(p, "\"");
  for (int i = 0; i < n; i++)
    append(p, "%s%s", i ? (below(3) ? " " : ", ") : "", words[skewed(N_WORDS)]);
  append(p, "\"");
}

/* Writes one random payload. */
static void make_payload(char *buf) {
  char *p = buf;
  char uuid[40];
  append(&p, "{");
  if (below(10))
    append(&p, "\"kw\":"), keyword_value(&p), append(&p, ",");
  if (below(10))
    append(&p, "\"int\":"), integer_value(&p), append(&p, ",");
  if (below(10))
    append(&p, below(2) ? "\"flt\":%d.%d," : "\"flt\":%d,", below(100),
           below(10));

  int r = below(10);
  if (r < 7)
    append(&p, "\"flag\":%s,", below(2) ? "true" : "false");
  else if (r == 7)
    append(&p, "\"flag\":\"true\",");
  else if (r == 8)
    append(&p, "\"flag\":[true,false],");
  if (below(5)) {
    uuid_string(uuid, skewed(20), below(10) == 0);
    append(&p, "\"uid\":\"%s\",", uuid);
  }

  r = below(10);
  if (r < 7)
    append(&p, "\"dt\":\"%s\",", datetimes[below(N_DATETIMES)]);
  else if (r == 7)
    append(&p, "\"dt\":[\"%s\",\"%s\"],", datetimes[below(N_DATETIMES)],
           datetimes[below(N_DATETIMES)]);
  else if (r == 8)
    append(&p, "\"dt\":%d,", below(100));
  if (below(4))
    append(&p, "\"txt\":"), text_value(&p), append(&p, ",");
  if (below(3)) {
    int n = below(4);
    append(&p, "\"arr\":[");
    for (int i = 0; i < n; i++)
      append(&p, "%s{\"v\":%d,\"w\":\"k%d\"}", i ? "," : "", below(20),
             below(5));
    append(&p, "],");
  }
  append(&p, "\"id\":1}");
}

/* ------------------------------------------------------------------ */
/* Random filters                                                       */

static const char *const fields[] = {"kw", "int", "flt",     "flag", "uid",
                                     "dt", "txt", "arr[].v", "arr",  "nope"};
#define N_FIELDS (int)(sizeof fields / sizeof fields[0])

static void bounds(char **p, int datetime) {
  static const char *const names[] = {"lt", "gt", "lte", "gte"};
  int mask = 1 + below(15), first = 1;
  append(p, "{");
  for (int i = 0; i < 4; i++) {
    if (!(mask & (1 << i)))
      continue;
    if (datetime)
      append(p, "%s\"%s\":\"%s\"", first ? "" : ",", names[i],
             datetimes[below(N_DATETIMES - 1)]);
    else
      append(p, "%s\"%s\":%d%s", first ? "" : ",", names[i], below(120) - 40,
             below(3) ? "" : ".5");
    first = 0;
  }
  append(p, "}");
}

static void value_list(char **p, int keywords) {
  int n = below(4);
  char uuid[40];
  append(p, "[");
  for (int i = 0; i < n; i++) {
    if (!keywords)
      append(p, "%s%d", i ? "," : "", below(100) - 50);
    else if (below(3) == 0) {
      uuid_string(uuid, skewed(20), below(4) == 0);
      append(p, "%s\"%s\"", i ? "," : "", uuid);
    } else
      append(p, "%s\"k%d\"", i ? "," : "", skewed(50));
  }
  append(p, "]");
}

static void random_filter(char **p, int depth, int in_nested);

static void random_condition(char **p, int depth, int in_nested) {
  const char *field =
      in_nested ? (below(2) ? "v" : "w") : fields[below(N_FIELDS)];
  char uuid[40];
  int r = below(in_nested ? 12 : 16);
  switch (r) {
  case 0:
    append(p, "{\"key\":\"%s\",\"match\":{\"value\":\"k%d\"}}", field,
           skewed(50));
    break;
  case 1:
    append(p, "{\"key\":\"%s\",\"match\":{\"value\":%d}}", field,
           below(100) - 50);
    break;
  case 2:
    append(p, "{\"key\":\"%s\",\"match\":{\"value\":%s}}", field,
           below(2) ? "true" : "false");
    break;
  case 3:
    append(p, "{\"key\":\"%s\",\"match\":{\"%s\":", field,
           below(2) ? "any" : "except");
    value_list(p, below(2));
    append(p, "}}");
    break;
  case 4:
    append(p, "{\"key\":\"%s\",\"match\":{\"text\":\"%s%s%s\"}}", field,
           words[below(N_WORDS)], below(2) ? " " : "",
           below(2) ? words[below(N_WORDS)] : "");
    break;
  case 5:
  case 6:
    append(p, "{\"key\":\"%s\",\"range\":", field);
    bounds(p, 0);
    append(p, "}");
    break;
  case 7:
    append(p, "{\"key\":\"%s\",\"range\":", in_nested ? field : "dt");
    bounds(p, 1);
    append(p, "}");
    break;
  case 8:
    append(p, "{\"key\":\"%s\",\"values_count\":{\"%s\":%d}}", field,
           below(2) ? "gt" : "lte", below(3));
    break;
  case 9:
    append(p, "{\"%s\":{\"key\":\"%s\"}}", below(2) ? "is_empty" : "is_null",
           field);
    break;
  case 10:
    uuid_string(uuid, skewed(20), below(4) == 0);
    append(p, "{\"key\":\"%s\",\"match\":{\"value\":\"%s\"}}",
           in_nested ? field : "uid", uuid);
    break;
  case 11:
    if (depth < 3) {
      random_filter(p, depth + 1, in_nested);
      break;
    }
    append(p, "{\"key\":\"%s\",\"match\":{\"value\":\"k1\"}}", field);
    break;
  case 12: {
    int n = below(50);
    append(p, "{\"has_id\":[");
    for (int i = 0; i < n; i++)
      append(p, "%s%d", i ? "," : "", below(3 * N_POINTS + 10));
    append(p, "]}");
    break;
  }
  case 13:
    if (depth < 3) {
      append(p, "{\"nested\":{\"key\":\"arr\",\"filter\":");
      random_filter(p, depth + 1, 1);
      append(p, "}}");
      break;
    }
    /* fall through */
  default:
    append(p, "{\"key\":\"%s\",\"match\":{\"value\":\"k%d\"}}",
           below(2) ? "kw" : "arr[].w", skewed(50));
  }
}

static void random_list(char **p, int depth, int in_nested) {
  int n = below(3) + (depth == 1);
  append(p, "[");
  for (int i = 0; i < n; i++) {
    if (i)
      append(p, ",");
    random_condition(p, depth, in_nested);
  }
  append(p, "]");
}

static void random_filter(char **p, int depth, int in_nested) {
  static const char *const clauses[] = {"must", "should", "must_not"};
  int first = 1;
  append(p, "{");
  for (int c = 0; c < 3; c++) {
    if (below(3) == 0)
      continue;
    append(p, "%s\"%s\":", first ? "" : ",", clauses[c]);
    random_list(p, depth, in_nested);
    first = 0;
  }
  if (below(5) == 0) {
    append(p, "%s\"min_should\":{\"conditions\":", first ? "" : ",");
    random_list(p, depth, in_nested);
    append(p, ",\"min_count\":%d}", below(3));
  }
  append(p, "}");
}

/* ------------------------------------------------------------------ */
/* The check                                                            */

typedef struct corpus {
  json_t *docs[N_POINTS]; /* NULL: deleted */
  strata_payload_index *items[16];
  strata_payload_indexes set;
  roaring_bitmap_t *all;
} corpus;

/* Point i has id 3i+1. */
static int resolve(void *arg, const strata_point_id *id, uint32_t *point) {
  const corpus *c = arg;
  if (id->kind != STRATA_ID_NUM || id->num % 3 != 1 ||
      id->num / 3 >= N_POINTS || !c->docs[id->num / 3])
    return 0;
  *point = (uint32_t)(id->num / 3);
  return 1;
}

static strata_status load_point(void *arg, uint32_t point, int need_payload,
                                json_t **payload, strata_point_id *id) {
  const corpus *c = arg;
  *id = strata_id_num(3 * (uint64_t)point + 1);
  *payload = need_payload ? json_incref(c->docs[point]) : NULL;
  return STRATA_OK;
}

typedef struct stats {
  int filters, exact, nonempty;
} stats;

static void check_filter(corpus *c, const char *json, stats *s) {
  strata_filter *f = NULL;
  if (strata_filter_parse_json(json, strlen(json), &f) != STRATA_OK) {
    CHECK_MSG(0, "%s: %s", json, strata_last_error());
    return;
  }
  roaring_bitmap_t *truth = roaring_bitmap_create();
  for (uint32_t i = 0; i < N_POINTS; i++) {
    if (!c->docs[i])
      continue;
    strata_point_id id = strata_id_num(3 * (uint64_t)i + 1);
    if (strata_filter_matches_indexed(f, c->docs[i], &id, &c->set))
      roaring_bitmap_add(truth, i);
  }

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

  strata_estimate est;
  REQUIRE(strata_filter_estimate(f, &c->set,
                                 roaring_bitmap_get_cardinality(c->all),
                                 &est) == STRATA_OK);
  uint64_t count = roaring_bitmap_get_cardinality(truth);
  CHECK_MSG(est.min <= count && count <= est.max,
            "estimate [%llu, %llu] misses %llu: %s",
            (unsigned long long)est.min, (unsigned long long)est.max,
            (unsigned long long)count, json);
  CHECK(est.min <= est.expected);
  CHECK(est.expected <= est.max);
  roaring_bitmap_t *selected = NULL;
  strata_filter_source source = {load_point, c};
  REQUIRE(strata_filter_select(f, &c->set, c->all, &source, &selected) ==
          STRATA_OK);
  CHECK_MSG(roaring_bitmap_equals(truth, selected), "select differs: %s", json);
  roaring_bitmap_free(selected);

  s->filters++;
  s->exact += exact;
  s->nonempty += count > 0;
  roaring_bitmap_free(truth);
  roaring_bitmap_free(cand);
  strata_filter_free(f);
}

static void run_filters(corpus *c, int n, const char *phase) {
  static char json[1 << 16];
  stats s = {0, 0, 0};
  for (int i = 0; i < n; i++) {
    char *p = json;
    random_filter(&p, 1, 0);
    check_filter(c, json, &s);
  }
  /* Every field condition alone, so each index type is checked. */
  for (int i = 0; i < n; i++) {
    char *p = json;
    append(&p, "{\"must\":");
    random_condition(&p, 3, 0);
    append(&p, "}");
    check_filter(c, json, &s);
  }
  printf("%s: %d filters, %d exact from indexes, %d match some point\n", phase,
         s.filters, s.exact, s.nonempty);
  /* The test would prove little if index lookups were never exact or
   * every filter matched nothing. */
  CHECK(s.exact > s.filters / 5);
  CHECK(s.nonempty > s.filters / 5);
}

static json_t *new_doc(void) {
  static char buf[4096];
  make_payload(buf);
  json_t *doc = NULL;
  REQUIRE(strata_payload_load(buf, strlen(buf), &doc) == STRATA_OK);
  return doc;
}

static void prepare_all(corpus *c) {
  for (size_t k = 0; k < c->set.count; k++)
    REQUIRE(strata_payload_index_prepare(c->items[k]) == STRATA_OK);
}

/* Runs one filter on a small corpus with one index and checks the
 * candidate bitmap, its exactness and the indexed evaluation. */
static void check_lookup(const char *field, strata_index_type type,
                         const char *const *docs, size_t n_docs,
                         const char *filter, const char *expected,
                         int expect_exact) {
  strata_payload_index *ix = NULL;
  REQUIRE(strata_payload_index_create(field, type, &ix) == STRATA_OK);
  json_t *loaded[8];
  roaring_bitmap_t *all = roaring_bitmap_create();
  for (size_t i = 0; i < n_docs; i++) {
    REQUIRE(strata_payload_load(docs[i], strlen(docs[i]), &loaded[i]) ==
            STRATA_OK);
    REQUIRE(strata_payload_index_add(ix, (uint32_t)i, loaded[i]) == STRATA_OK);
    roaring_bitmap_add(all, (uint32_t)i);
  }
  REQUIRE(strata_payload_index_prepare(ix) == STRATA_OK);
  strata_payload_indexes set = {&ix, 1, NULL, NULL};
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(filter, strlen(filter), &f) == STRATA_OK);

  char got[64] = "", matched[64] = "";
  roaring_bitmap_t *cand = NULL;
  int exact = -1;
  REQUIRE(strata_filter_candidates(f, &set, all, &cand, &exact) == STRATA_OK);
  for (size_t i = 0; i < n_docs; i++) {
    if (roaring_bitmap_contains(cand, (uint32_t)i))
      sprintf(got + strlen(got), "%s%zu", got[0] ? " " : "", i);
    if (strata_filter_matches_indexed(f, loaded[i], NULL, &set))
      sprintf(matched + strlen(matched), "%s%zu", matched[0] ? " " : "", i);
  }
  CHECK_MSG(strcmp(got, expected) == 0,
            "%s: candidates \"%s\", expected \"%s\"", filter, got, expected);
  CHECK_MSG(exact == expect_exact, "%s: exact %d", filter, exact);
  if (exact)
    CHECK_MSG(strcmp(matched, expected) == 0, "%s: matched \"%s\"", filter,
              matched);

  roaring_bitmap_free(cand);
  roaring_bitmap_free(all);
  strata_filter_free(f);
  for (size_t i = 0; i < n_docs; i++)
    json_decref(loaded[i]);
  strata_payload_index_free(ix);
}

static void test_lookup_cases(void) {
  /* Text index: tokens, lowercase, every query token present. */
  static const char *const texts[] = {
      "{\"t\":\"Hello, World\"}", "{\"t\":[\"hello\",\"big world\"]}",
      "{\"t\":\"worldwide hello\"}", "{\"t\":5}", "{}"};
  check_lookup(
      "t", STRATA_INDEX_TEXT, texts, 5,
      "{\"must\":{\"key\":\"t\",\"match\":{\"text\":\"WORLD hello\"}}}", "0 1",
      1);
  check_lookup("t", STRATA_INDEX_TEXT, texts, 5,
               "{\"must\":{\"key\":\"t\",\"match\":{\"text\":\"!!\"}}}", "", 1);
  /* Keyword index: match text stays a substring test. */
  check_lookup("t", STRATA_INDEX_KEYWORD, texts, 5,
               "{\"must\":{\"key\":\"t\",\"match\":{\"text\":\"world\"}}}",
               "1 2", 1);

  /* UUID index: canonical spellings are exact, others fall back. */
  static const char *const uuids[] = {
      "{\"u\":\"936da01f-9abd-4d9d-80c7-02af85c822a8\"}",
      "{\"u\":\"936DA01F-9ABD-4D9D-80C7-02AF85C822A8\"}", "{\"u\":\"other\"}",
      "{\"u\":null}"};
  check_lookup("u", STRATA_INDEX_UUID, uuids, 4,
               "{\"must\":{\"key\":\"u\",\"match\":{\"value\":"
               "\"936da01f-9abd-4d9d-80c7-02af85c822a8\"}}}",
               "0", 1);
  check_lookup("u", STRATA_INDEX_UUID, uuids, 4,
               "{\"must\":{\"key\":\"u\",\"match\":{\"value\":"
               "\"936DA01F-9ABD-4D9D-80C7-02AF85C822A8\"}}}",
               "1 2", 0);

  /* Float index: 5 and 5.0 look alike, so integer match is inexact. */
  static const char *const numbers[] = {"{\"n\":5}", "{\"n\":5.0}",
                                        "{\"n\":[1,5.5]}", "{\"n\":\"5\"}"};
  check_lookup("n", STRATA_INDEX_FLOAT, numbers, 4,
               "{\"must\":{\"key\":\"n\",\"match\":{\"value\":5}}}", "0 1", 0);
  check_lookup("n", STRATA_INDEX_FLOAT, numbers, 4,
               "{\"must\":{\"key\":\"n\",\"range\":{\"gt\":5}}}", "2", 1);
  /* Nested: the lookups of positive inner conditions bound the points. */
  static const char *const nested[] = {
      "{\"arr\":[{\"v\":1},{\"v\":2}]}", "{\"arr\":[{\"v\":2}]}",
      "{\"arr\":{\"v\":1}}", "{\"arr\":[{\"v\":1,\"w\":0}]}"};
  check_lookup("arr[].v", STRATA_INDEX_INTEGER, nested, 4,
               "{\"must\":{\"nested\":{\"key\":\"arr\",\"filter\":{\"must\":["
               "{\"key\":\"v\",\"match\":{\"value\":1}},"
               "{\"key\":\"w\",\"match\":{\"value\":0}}]}}}}",
               "0 3", 0);
  check_lookup("arr[].v", STRATA_INDEX_INTEGER, nested, 4,
               "{\"must\":{\"nested\":{\"key\":\"arr\",\"filter\":{"
               "\"must_not\":{\"key\":\"v\",\"match\":{\"value\":1}}}}}}",
               "0 1 2 3", 0);

  /* Integer index: reals sit outside it, so ranges include them. */
  check_lookup("n", STRATA_INDEX_INTEGER, numbers, 4,
               "{\"must\":{\"key\":\"n\",\"match\":{\"value\":5}}}", "0", 1);
  check_lookup("n", STRATA_INDEX_INTEGER, numbers, 4,
               "{\"must\":{\"key\":\"n\",\"range\":{\"gte\":5}}}", "0 1 2 3",
               0);
  check_lookup("n", STRATA_INDEX_INTEGER, numbers, 4,
               "{\"must\":{\"key\":\"n\",\"match\":{\"except\":[1]}}}",
               "0 1 2 3", 1);
}

/* A source that fails when asked for a payload, or always. */
static strata_status load_ids_only(void *arg, uint32_t point, int need_payload,
                                   json_t **payload, strata_point_id *id) {
  int always_fail = *(const int *)arg;
  *payload = NULL;
  *id = strata_id_num(point);
  if (always_fail || need_payload)
    return STRATA_ERR_IO;
  return STRATA_OK;
}

static void test_select_source(void) {
  roaring_bitmap_t *all = roaring_bitmap_from_range(0, 10, 1), *out = NULL;
  int always_fail = 0;
  strata_filter_source source = {load_ids_only, &always_fail};
  strata_filter *f = NULL;
  const char *ids = "{\"must\":{\"has_id\":[1,4,40]}}";
  REQUIRE(strata_filter_parse_json(ids, strlen(ids), &f) == STRATA_OK);

  /* Without a resolver has_id is checked per point, without payloads. */
  CHECK(strata_filter_select(f, NULL, all, &source, &out) == STRATA_OK);
  CHECK(out != NULL);
  CHECK(out && roaring_bitmap_get_cardinality(out) == 2);
  CHECK(out && roaring_bitmap_contains(out, 4));
  if (out)
    roaring_bitmap_free(out);

  /* A failing source stops the selection with its error. */
  always_fail = 1;
  out = NULL;
  CHECK(strata_filter_select(f, NULL, all, &source, &out) == STRATA_ERR_IO);
  CHECK(out == NULL);
  strata_filter_free(f);
  roaring_bitmap_free(all);
}

int main(void) {
  test_lookup_cases();
  test_select_source();

  static corpus c;
  static const struct {
    const char *field;
    strata_index_type type;
  } defs[] = {
      {"kw", STRATA_INDEX_KEYWORD},      {"int", STRATA_INDEX_INTEGER},
      {"flt", STRATA_INDEX_FLOAT},       {"flag", STRATA_INDEX_BOOL},
      {"uid", STRATA_INDEX_UUID},        {"dt", STRATA_INDEX_DATETIME},
      {"txt", STRATA_INDEX_TEXT},        {"arr[].v", STRATA_INDEX_INTEGER},
      {"arr[].w", STRATA_INDEX_KEYWORD}, {"int", STRATA_INDEX_FLOAT}};
  size_t n_defs = sizeof defs / sizeof defs[0];
  for (size_t k = 0; k < n_defs; k++)
    REQUIRE(strata_payload_index_create(defs[k].field, defs[k].type,
                                        &c.items[k]) == STRATA_OK);
  c.set.items = c.items;
  c.set.count = n_defs;
  c.set.resolve_id = resolve;
  c.set.resolve_arg = &c;
  c.all = roaring_bitmap_create();

  /* Bulk build, then prepare once. */
  for (uint32_t i = 0; i < N_POINTS; i++) {
    c.docs[i] = new_doc();
    roaring_bitmap_add(c.all, i);
    for (size_t k = 0; k < n_defs; k++)
      REQUIRE(strata_payload_index_add(c.items[k], i, c.docs[i]) == STRATA_OK);
  }
  prepare_all(&c);
  run_filters(&c, 200, "built");

  /* Updates and deletes, checked before prepare (unsorted tails and
   * dead entries) and after. */
  for (int u = 0; u < 1500; u++) {
    uint32_t i = (uint32_t)below(N_POINTS);
    if (!c.docs[i])
      continue;
    for (size_t k = 0; k < n_defs; k++)
      REQUIRE(strata_payload_index_remove(c.items[k], i, c.docs[i]) ==
              STRATA_OK);
    json_decref(c.docs[i]);
    c.docs[i] = NULL;
    if (u % 3 == 0) {
      roaring_bitmap_remove(c.all, i);
      continue;
    }
    c.docs[i] = new_doc();
    for (size_t k = 0; k < n_defs; k++)
      REQUIRE(strata_payload_index_add(c.items[k], i, c.docs[i]) == STRATA_OK);
  }
  run_filters(&c, 100, "updated, not prepared");
  prepare_all(&c);
  run_filters(&c, 100, "updated and prepared");

  for (size_t k = 0; k < n_defs; k++)
    strata_payload_index_free(c.items[k]);
  for (uint32_t i = 0; i < N_POINTS; i++)
    json_decref(c.docs[i]);
  roaring_bitmap_free(c.all);
  return test_result();
}
