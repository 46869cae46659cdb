/* Bad input: every rejected call names the problem, and what was stored
 * before it is unchanged afterwards. */
#include <math.h>
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

#define DIM 4

static strata_db *db;

/* A fingerprint of everything stored in collection "c": count, and every
 * point's id, payload and vector, in id order. */
static char *fingerprint(void) {
  size_t cap = 1 << 16, len = 0;
  char *out = calloc(cap, 1);
  strata_records *page = NULL;
  strata_point_id next;
  int has_next = 0;
  REQUIRE(strata_scroll(db, "c", NULL, 1000,
                        STRATA_WITH_PAYLOAD | STRATA_WITH_VECTORS, &page,
                        &next, &has_next) == STRATA_OK);
  for (size_t i = 0; i < page->count; i++) {
    char idtext[STRATA_ID_STRLEN];
    strata_record *r = &page->items[i];
    len += (size_t)snprintf(out + len, cap - len, "%s %s",
                            strata_id_format(&r->id, idtext), r->payload);
    for (size_t v = 0; v < r->n_vectors; v++)
      for (size_t j = 0; j < r->vectors[v].dim; j++)
        len += (size_t)snprintf(out + len, cap - len, " %a",
                                (double)r->vectors[v].data[j]);
    len += (size_t)snprintf(out + len, cap - len, "\n");
  }
  strata_records_free(page);
  return out;
}

static void expect_unchanged(const char *before, const char *what) {
  char *after = fingerprint();
  if (strcmp(before, after) != 0) {
    fprintf(stderr, "stored data changed after %s\n", what);
    check_failures++;
  }
  free(after);
}

/* Checks status and that the message mentions `needle`. */
#define CHECK_ERROR(call, status, needle)                                  \
  do {                                                                     \
    CHECK_STATUS(call, status);                                            \
    if (!strstr(strata_last_error(), needle)) {                            \
      fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__,    \
              __LINE__, strata_last_error(), needle);                      \
      check_failures++;                                                    \
    }                                                                      \
  } while (0)

static strata_point make_point(uint64_t id, strata_named_vector *nv,
                               float *data, const char *payload) {
  *nv = (strata_named_vector){"", data, DIM};
  return (strata_point){strata_id_num(id), nv, 1, payload, 0};
}

static void seed(void) {
  strata_vector_config vec = {"", DIM, STRATA_DISTANCE_COSINE};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, "c", &config) == STRATA_OK);
  static float data[3][DIM] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}};
  strata_named_vector nv[3];
  strata_point pts[3];
  for (int i = 0; i < 3; i++)
    pts[i] = make_point((uint64_t)i + 1, &nv[i], data[i], "{\"i\":1}");
  REQUIRE(strata_upsert(db, "c", pts, 3, NULL) == STRATA_OK);
}

static void test_bad_upserts(void) {
  char *before = fingerprint();
  float good[DIM] = {1, 2, 3, 4};
  float nan_vec[DIM] = {1, NAN, 3, 4};
  float inf_vec[DIM] = {1, 2, INFINITY, 4};
  float short_vec[DIM - 1] = {1, 2, 3};
  strata_named_vector nv[4];
  strata_point p;

  /* A batch that fails half-way: point 2 of 3 has the wrong dimension. */
  strata_point batch[3];
  batch[0] = make_point(10, &nv[0], good, NULL);
  batch[1] = make_point(11, &nv[1], short_vec, NULL);
  nv[1].dim = DIM - 1;
  batch[2] = make_point(1, &nv[2], good, "{\"replaced\":true}");
  CHECK_ERROR(strata_upsert(db, "c", batch, 3, NULL),
              STRATA_ERR_INVALID_ARGUMENT, "dimension 3");
  CHECK(strstr(strata_last_error(), "expects 4") != NULL);
  expect_unchanged(before, "a half-bad batch");

  p = make_point(10, &nv[0], nan_vec, NULL);
  CHECK_ERROR(strata_upsert(db, "c", &p, 1, NULL),
              STRATA_ERR_INVALID_ARGUMENT, "position 1");
  p = make_point(10, &nv[0], inf_vec, NULL);
  CHECK_ERROR(strata_upsert(db, "c", &p, 1, NULL),
              STRATA_ERR_INVALID_ARGUMENT, "NaN or infinity");
  expect_unchanged(before, "non-finite vectors");

  const char *bad_payloads[] = {"{\"a\":", "[1,2]", "42", "{\"a\":1}x",
                                "not json"};
  for (size_t i = 0; i < sizeof bad_payloads / sizeof *bad_payloads; i++) {
    p = make_point(1, &nv[0], good, bad_payloads[i]);
    CHECK_STATUS(strata_upsert(db, "c", &p, 1, NULL),
                 STRATA_ERR_INVALID_ARGUMENT);
    CHECK(strstr(strata_last_error(), "payload") != NULL);
  }
  expect_unchanged(before, "invalid payloads");

  p = make_point(1, &nv[0], good, NULL);
  nv[0].name = "nope";
  CHECK_ERROR(strata_upsert(db, "c", &p, 1, NULL), STRATA_ERR_INVALID_ARGUMENT,
              "no vector named \"nope\"");
  p = make_point(1, &nv[0], good, NULL);
  CHECK_ERROR(strata_upsert(db, "missing", &p, 1, NULL), STRATA_ERR_NOT_FOUND,
              "\"missing\" not found");
  /* The same vector given twice in one point. */
  strata_named_vector twice[2] = {{"", good, DIM}, {"", good, DIM}};
  p = (strata_point){strata_id_num(1), twice, 2, NULL, 0};
  CHECK_ERROR(strata_upsert(db, "c", &p, 1, NULL),
              STRATA_ERR_INVALID_ARGUMENT, "twice");
  expect_unchanged(before, "unknown names");
  free(before);
}

static void test_bad_ids(void) {
  strata_point_id id;
  CHECK_ERROR(strata_id_parse("-1", &id), STRATA_ERR_INVALID_ARGUMENT,
              "negative");
  CHECK_ERROR(strata_id_parse("18446744073709551616", &id),
              STRATA_ERR_INVALID_ARGUMENT, "too large");
  CHECK_OK(strata_id_parse("18446744073709551615", &id));
  CHECK(id.kind == STRATA_ID_NUM);
  CHECK(id.num == UINT64_MAX);
  const char *bad_uuids[] = {"5c56c793-69f3-4fbf-87e6-c4bf54c28c2",
                             "5c56c793-69f3-4fbf-87e6-c4bf54c28c2g",
                             "5c56c79369f3-4fbf-87e6-c4bf54c28c26x",
                             "{5c56c793-69f3-4fbf-87e6-c4bf54c28c26",
                             "12ab", "", "1.5"};
  for (size_t i = 0; i < sizeof bad_uuids / sizeof *bad_uuids; i++)
    CHECK_STATUS(strata_id_parse(bad_uuids[i], &id),
                 STRATA_ERR_INVALID_ARGUMENT);
  /* Every accepted spelling gives the canonical lowercase form. */
  const char *spellings[] = {"5C56C793-69F3-4FBF-87E6-C4BF54C28C26",
                             "5c56c79369f34fbf87e6c4bf54c28c26",
                             "{5c56c793-69f3-4fbf-87e6-c4bf54c28c26}",
                             "urn:uuid:5c56c793-69f3-4fbf-87e6-c4bf54c28c26"};
  for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
    char text[STRATA_ID_STRLEN];
    CHECK_OK(strata_id_parse(spellings[i], &id));
    CHECK(strcmp(strata_id_format(&id, text),
                 "5c56c793-69f3-4fbf-87e6-c4bf54c28c26") == 0);
  }
}

static void test_bad_searches(void) {
  float q[DIM] = {1, 1, 0, 0};
  float nan_q[DIM] = {NAN, 0, 0, 0};
  strata_records *res = NULL;
  strata_search_request req = {"", q, DIM, 0, 0};
  CHECK_ERROR(strata_search(db, "c", &req, &res), STRATA_ERR_INVALID_ARGUMENT,
              "k (limit) is 0");
  CHECK(res == NULL);
  req.k = 3;
  req.dim = DIM + 1;
  CHECK_ERROR(strata_search(db, "c", &req, &res), STRATA_ERR_INVALID_ARGUMENT,
              "dimension 5");
  req.dim = DIM;
  req.query = nan_q;
  CHECK_ERROR(strata_search(db, "c", &req, &res), STRATA_ERR_INVALID_ARGUMENT,
              "position 0");
  req.query = q;
  req.vector_name = "other";
  CHECK_ERROR(strata_search(db, "c", &req, &res), STRATA_ERR_INVALID_ARGUMENT,
              "no vector named \"other\"");
  req.vector_name = NULL;
  CHECK_ERROR(strata_search(db, "nope", &req, &res), STRATA_ERR_NOT_FOUND,
              "\"nope\" not found");

  /* k larger than the collection returns every point once. */
  req.k = 1000;
  CHECK_OK(strata_search(db, "c", &req, &res));
  REQUIRE(res != NULL);
  CHECK(res->count == 3);
  CHECK(res->items[0].id.num != res->items[1].id.num &&
        res->items[1].id.num != res->items[2].id.num &&
        res->items[0].id.num != res->items[2].id.num);
  strata_records_free(res);

  /* A batch with one bad request fails whole. */
  strata_search_request reqs[2] = {{"", q, DIM, 1, 0}, {"", q, DIM, 0, 0}};
  strata_records **results = NULL;
  CHECK_ERROR(strata_search_batch(db, "c", reqs, 2, &results),
              STRATA_ERR_INVALID_ARGUMENT, "request 1");
  CHECK(results == NULL);
}

static void test_empty_collection(void) {
  strata_vector_config vec = {"", DIM, STRATA_DISTANCE_EUCLID};
  strata_collection_config config = {&vec, 1};
  CHECK_OK(strata_collection_create(db, "empty", &config));
  float q[DIM] = {0};
  strata_search_request req = {"", q, DIM, 10, STRATA_WITH_PAYLOAD};
  strata_records *res = NULL;
  CHECK_OK(strata_search(db, "empty", &req, &res));
  CHECK(res && res->count == 0);
  strata_records_free(res);
  uint64_t count = 1;
  CHECK_OK(strata_count(db, "empty", &count));
  CHECK(count == 0);
  strata_point_id next;
  int has_next = 1;
  CHECK_OK(strata_scroll(db, "empty", NULL, 10, 0, &res, &next, &has_next));
  REQUIRE(res != NULL);
  CHECK(res->count == 0);
  CHECK(has_next == 0);
  strata_records_free(res);
  CHECK_ERROR(strata_scroll(db, "empty", NULL, 0, 0, &res, &next, &has_next),
              STRATA_ERR_INVALID_ARGUMENT, "limit is 0");
}

static void test_bad_collections(void) {
  strata_vector_config vec = {"", DIM, STRATA_DISTANCE_DOT};
  strata_collection_config config = {&vec, 1};
  CHECK_ERROR(strata_collection_create(db, "", &config),
              STRATA_ERR_INVALID_ARGUMENT, "empty");
  CHECK_ERROR(strata_collection_create(db, "a/b", &config),
              STRATA_ERR_INVALID_ARGUMENT, "'/'");
  CHECK_ERROR(strata_collection_create(db, "c", &config),
              STRATA_ERR_ALREADY_EXISTS, "already exists");
  /* Names that are not UTF-8, or hold control characters, are refused
   * before anything is stored (a stored one made the database
   * unopenable). */
  CHECK_ERROR(strata_collection_create(db, "a\xff" "b", &config),
              STRATA_ERR_INVALID_ARGUMENT, "not valid UTF-8 (at byte 1)");
  CHECK_ERROR(strata_collection_create(db, "\xc0\x80", &config),
              STRATA_ERR_INVALID_ARGUMENT, "not valid UTF-8");
  CHECK_ERROR(strata_collection_create(db, "tab\there", &config),
              STRATA_ERR_INVALID_ARGUMENT, "control character");
  strata_vector_config bad_vector_name = {"im\xffg", 4, STRATA_DISTANCE_DOT};
  config.vectors = &bad_vector_name;
  CHECK_ERROR(strata_collection_create(db, "z", &config),
              STRATA_ERR_INVALID_ARGUMENT, "vector name is not valid UTF-8");
  strata_vector_config unicode_name = {"bild-\xc3\xa4", 4,
                                       STRATA_DISTANCE_DOT};
  config.vectors = &unicode_name;
  CHECK_OK(strata_collection_create(db, "\xe6\x97\xa5\xe6\x9c\xac", &config));
  CHECK_OK(strata_collection_drop(db, "\xe6\x97\xa5\xe6\x9c\xac"));
  config.vectors = &vec;
  strata_vector_config zero_dim = {"", 0, STRATA_DISTANCE_DOT};
  config.vectors = &zero_dim;
  CHECK_ERROR(strata_collection_create(db, "z", &config),
              STRATA_ERR_INVALID_ARGUMENT, "dimension 0");
  strata_vector_config bad_distance = {"", 3, (strata_distance)9};
  config.vectors = &bad_distance;
  CHECK_ERROR(strata_collection_create(db, "z", &config),
              STRATA_ERR_INVALID_ARGUMENT, "distance code 9");
  strata_vector_config dup[2] = {{"x", 3, STRATA_DISTANCE_DOT},
                                 {"x", 4, STRATA_DISTANCE_DOT}};
  config.vectors = dup;
  config.n_vectors = 2;
  CHECK_ERROR(strata_collection_create(db, "z", &config),
              STRATA_ERR_INVALID_ARGUMENT, "given twice");
  config.n_vectors = 0;
  CHECK_ERROR(strata_collection_create(db, "z", &config),
              STRATA_ERR_INVALID_ARGUMENT, "at least one vector");
  strata_distance d;
  CHECK_ERROR(strata_distance_parse("cosinus", &d),
              STRATA_ERR_INVALID_ARGUMENT, "\"cosinus\"");
  CHECK_OK(strata_distance_parse("euclid", &d));
  CHECK(d == STRATA_DISTANCE_EUCLID);
}

/* Duplicate ids in one batch: the last occurrence wins. */
static void test_duplicate_ids(void) {
  float a[DIM] = {1, 0, 0, 0}, b[DIM] = {0, 0, 0, 1};
  strata_named_vector nv[2];
  strata_point pts[2] = {make_point(50, &nv[0], a, "{\"v\":\"first\"}"),
                         make_point(50, &nv[1], b, "{\"v\":\"last\"}")};
  CHECK_OK(strata_upsert(db, "c", pts, 2, NULL));
  strata_point_id id = strata_id_num(50);
  strata_records *got = NULL;
  CHECK_OK(strata_get(db, "c", &id, 1,
                      STRATA_WITH_PAYLOAD | STRATA_WITH_VECTORS, &got));
  REQUIRE(got && got->count == 1);
  CHECK(strcmp(got->items[0].payload, "{\"v\":\"last\"}") == 0);
  CHECK(got->items[0].vectors[0].data[3] == 1.0f);
  strata_records_free(got);
  float q[DIM] = {0, 0, 0, 1};
  strata_search_request req = {"", q, DIM, 100, 0};
  strata_records *res = NULL;
  CHECK_OK(strata_search(db, "c", &req, &res));
  int seen = 0;
  for (size_t i = 0; i < res->count; i++)
    seen += res->items[i].id.num == 50;
  CHECK(seen == 1);
  strata_records_free(res);
}

static void test_reopen_errors(const char *dir) {
  /* A second handle on the same directory is refused. */
  strata_db *second = NULL;
  CHECK_ERROR(strata_open(dir, NULL, &second), STRATA_ERR_LOCKED,
              "another process");
  CHECK(second == NULL);
  strata_close(db);
  db = NULL;

  /* A directory written by a newer format is refused, and left as is. */
  rocksdb_options_t *opts = rocksdb_options_create();
  const char *names[] = {"default", "meta", "points", "payloads"};
  const rocksdb_options_t *cf_opts[] = {opts, opts, opts, opts};
  rocksdb_column_family_handle_t *handles[4];
  char *err = NULL;
  rocksdb_t *raw = rocksdb_open_column_families(opts, dir, 4, names, cf_opts,
                                                handles, &err);
  REQUIRE(err == NULL);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put_cf(raw, wo, handles[1], "format_version", 14, "99", 2, &err);
  REQUIRE(err == NULL);
  rocksdb_writeoptions_destroy(wo);
  for (int i = 0; i < 4; i++)
    rocksdb_column_family_handle_destroy(handles[i]);
  rocksdb_close(raw);

  strata_db *newer = NULL;
  CHECK_ERROR(strata_open(dir, NULL, &newer), STRATA_ERR_VERSION,
              "format version 99");
  CHECK(newer == NULL);

  /* Put the version back: the data is all still there. */
  raw = rocksdb_open_column_families(opts, dir, 4, names, cf_opts, handles,
                                     &err);
  REQUIRE(err == NULL);
  wo = rocksdb_writeoptions_create();
  rocksdb_put_cf(raw, wo, handles[1], "format_version", 14, "1", 1, &err);
  rocksdb_writeoptions_destroy(wo);
  for (int i = 0; i < 4; i++)
    rocksdb_column_family_handle_destroy(handles[i]);
  rocksdb_close(raw);
  rocksdb_options_destroy(opts);
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  uint64_t count = 0;
  CHECK_OK(strata_count(db, "c", &count));
  CHECK(count == 4);

  /* Read-only handles refuse writes. */
  strata_close(db);
  strata_open_options ro = {0, 1, NULL, NULL, 0};
  REQUIRE(strata_open(dir, &ro, &db) == STRATA_OK);
  float v[DIM] = {1, 1, 1, 1};
  strata_named_vector nv;
  strata_point p = make_point(77, &nv, v, NULL);
  CHECK_ERROR(strata_upsert(db, "c", &p, 1, NULL),
              STRATA_ERR_INVALID_ARGUMENT, "read-only");
  CHECK_OK(strata_count(db, "c", &count));
  CHECK(count == 4);

  /* Opening a missing directory without create fails clearly. */
  strata_db *missing = NULL;
  strata_open_options no_create = {0, 0, NULL, NULL, 0};
  CHECK_ERROR(strata_open("/nonexistent/strata-dir", &no_create, &missing),
              STRATA_ERR_NOT_FOUND, "does not exist");
}

int main(void) {
  char *dir = test_make_dir("bad-input");
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  seed();
  test_bad_upserts();
  test_bad_ids();
  test_bad_searches();
  test_empty_collection();
  test_bad_collections();
  test_duplicate_ids();
  test_reopen_errors(dir);
  strata_close(db);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_bad_input");
}
