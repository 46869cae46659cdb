/* The public API end to end: collections, point writes and reads, exact
 * search under every distance, persistence across reopen. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

static void test_collections(const char *dir) {
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  strata_vector_config vectors[] = {{"", 4, STRATA_DISTANCE_EUCLID},
                                    {"text", 3, STRATA_DISTANCE_COSINE}};
  strata_collection_config config = {vectors, 2};
  CHECK_OK(strata_collection_create(db, "b", &config));
  CHECK_OK(strata_collection_create(db, "a", &config));
  CHECK_STATUS(strata_collection_create(db, "a", &config),
               STRATA_ERR_ALREADY_EXISTS);

  char **names = NULL;
  CHECK_OK(strata_collection_list(db, &names));
  REQUIRE(names != NULL);
  REQUIRE(names[0] && names[1]);
  CHECK(strcmp(names[0], "a") == 0);
  CHECK(strcmp(names[1], "b") == 0);
  CHECK(names[2] == NULL);
  strata_names_free(names);

  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, "a", &info));
  REQUIRE(info != NULL);
  CHECK(info->n_vectors == 2);
  CHECK(strcmp(info->vectors[1].name, "text") == 0);
  CHECK(info->vectors[1].dim == 3);
  CHECK(info->vectors[1].distance == STRATA_DISTANCE_COSINE);
  CHECK(info->points_count == 0);
  strata_collection_info_free(info);

  CHECK_OK(strata_collection_drop(db, "b"));
  CHECK_STATUS(strata_collection_drop(db, "b"), STRATA_ERR_NOT_FOUND);
  CHECK_STATUS(strata_collection_describe(db, "b", &info),
               STRATA_ERR_NOT_FOUND);
  strata_close(db);

  /* The catalogue survives a reopen. */
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  CHECK_OK(strata_collection_list(db, &names));
  CHECK(names[0] && strcmp(names[0], "a") == 0);
  CHECK(names[1] == NULL);
  strata_names_free(names);
  strata_close(db);
}

/* Writes points with numeric and UUID ids and reads them back every way. */
static void test_points(const char *dir) {
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  strata_vector_config vec = {"", 2, STRATA_DISTANCE_DOT};
  strata_collection_config config = {&vec, 1};
  CHECK_OK(strata_collection_create(db, "p", &config));

  strata_point_id uuid_id;
  CHECK_OK(strata_id_parse("{5C56C793-69F3-4FBF-87E6-C4BF54C28C26}",
                           &uuid_id));
  float v[3][2] = {{1, 2}, {3, 4}, {5, 6}};
  strata_named_vector nv[3] = {{NULL, v[0], 2}, {"", v[1], 2}, {"", v[2], 2}};
  /* The payload keeps an integer beyond 2^63 and odd spacing as given. */
  const char *big = "{\"n\": 123456789012345678901234567890, \"s\":\"x\"}";
  strata_point pts[3] = {
      {strata_id_num(7), &nv[0], 1, big, 0},
      {uuid_id, &nv[1], 1, "{\"k\":[1,2,{\"d\":null}]}", 0},
      {strata_id_num(UINT64_MAX), &nv[2], 1, NULL, 0},
  };
  strata_write_options wait = {1};
  CHECK_OK(strata_upsert(db, "p", pts, 3, &wait));
  uint64_t count = 0;
  CHECK_OK(strata_count(db, "p", &count));
  CHECK(count == 3);

  /* get: request order, missing ids skipped, repeats once. */
  strata_point_id ids[4] = {uuid_id, strata_id_num(99), strata_id_num(7),
                            uuid_id};
  strata_records *got = NULL;
  CHECK_OK(strata_get(db, "p", ids, 4,
                      STRATA_WITH_PAYLOAD | STRATA_WITH_VECTORS, &got));
  REQUIRE(got != NULL);
  CHECK(got->count == 2);
  char idtext[STRATA_ID_STRLEN];
  CHECK(strcmp(strata_id_format(&got->items[0].id, idtext),
               "5c56c793-69f3-4fbf-87e6-c4bf54c28c26") == 0);
  CHECK(got->items[1].id.kind == STRATA_ID_NUM);
  CHECK(got->items[1].id.num == 7);
  CHECK(strcmp(got->items[1].payload, big) == 0);
  CHECK(got->items[1].payload_len == strlen(big));
  CHECK(got->items[0].n_vectors == 1);
  CHECK(got->items[0].vectors[0].dim == 2 &&
        got->items[0].vectors[0].data[1] == 4.0f);
  strata_records_free(got);

  /* scroll: numeric ids in order, then UUIDs. */
  strata_records *page = NULL;
  strata_point_id next;
  int has_next = 0;
  CHECK_OK(strata_scroll(db, "p", NULL, 2, STRATA_WITH_PAYLOAD, &page, &next,
                         &has_next));
  REQUIRE(page != NULL);
  CHECK(page->count == 2);
  CHECK(page->items[0].id.num == 7);
  CHECK(page->items[1].id.num == UINT64_MAX);
  CHECK(strcmp(page->items[1].payload, "{}") == 0);
  CHECK(has_next == 1);
  CHECK(next.kind == STRATA_ID_UUID);
  strata_records_free(page);
  CHECK_OK(strata_scroll(db, "p", &next, 2, 0, &page, &next, &has_next));
  CHECK(page->count == 1);
  CHECK(page->items[0].id.kind == STRATA_ID_UUID);
  CHECK(has_next == 0);
  strata_records_free(page);

  /* Replacing a point keeps one copy; deleting removes it. */
  float v7[2] = {-1, -1};
  strata_named_vector nv7 = {"", v7, 2};
  strata_point replace = {strata_id_num(7), &nv7, 1, NULL, 0};
  CHECK_OK(strata_upsert(db, "p", &replace, 1, NULL));
  CHECK_OK(strata_count(db, "p", &count));
  CHECK(count == 3);
  strata_point_id seven = strata_id_num(7);
  CHECK_OK(strata_get(db, "p", &seven, 1, STRATA_WITH_PAYLOAD, &got));
  REQUIRE(got->count == 1);
  CHECK(strcmp(got->items[0].payload, "{}") == 0);
  strata_records_free(got);

  uint64_t deleted = 0;
  strata_point_id del[2] = {strata_id_num(7), strata_id_num(12345)};
  CHECK_OK(strata_delete(db, "p", del, 2, &wait, &deleted));
  CHECK(deleted == 1);
  CHECK_OK(strata_count(db, "p", &count));
  CHECK(count == 2);
  strata_close(db);

  /* Everything above survives a reopen. */
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  CHECK_OK(strata_count(db, "p", &count));
  CHECK(count == 2);
  CHECK_OK(strata_get(db, "p", ids, 4, STRATA_WITH_PAYLOAD, &got));
  CHECK(got->count == 1);
  CHECK(strcmp(got->items[0].payload, "{\"k\":[1,2,{\"d\":null}]}") == 0);
  strata_records_free(got);
  strata_close(db);
}

/* Scores a query against a vector the way Qdrant defines each distance,
 * in double precision. */
static double reference_score(strata_distance d, const float *q,
                              const float *x, size_t dim) {
  double dot = 0, qn = 0, xn = 0, l2 = 0, l1 = 0;
  for (size_t i = 0; i < dim; i++) {
    dot += (double)q[i] * x[i];
    qn += (double)q[i] * q[i];
    xn += (double)x[i] * x[i];
    l2 += ((double)q[i] - x[i]) * ((double)q[i] - x[i]);
    l1 += fabs((double)q[i] - x[i]);
  }
  switch (d) {
  case STRATA_DISTANCE_COSINE:
    return qn > 0 && xn > 0 ? dot / sqrt(qn * xn) : 0;
  case STRATA_DISTANCE_DOT:
    return dot;
  case STRATA_DISTANCE_EUCLID:
    return sqrt(l2);
  case STRATA_DISTANCE_MANHATTAN:
    return l1;
  }
  return NAN;
}

static void test_search_distance(const char *dir, strata_distance distance) {
  enum { N = 500, DIM = 37, QUERIES = 20, K = 10 };
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  const char *name = strata_distance_name(distance);
  strata_vector_config vec = {"", DIM, distance};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, name, &config) == STRATA_OK);

  static float data[N][DIM];
  static strata_named_vector nv[N];
  static strata_point pts[N];
  uint64_t rng = 42 + (uint64_t)distance;
  for (size_t i = 0; i < N; i++) {
    for (size_t j = 0; j < DIM; j++)
      data[i][j] = test_random_float(&rng) * 2 - 1;
    nv[i] = (strata_named_vector){"", data[i], DIM};
    pts[i] = (strata_point){strata_id_num(1000 + i), &nv[i], 1, NULL, 0};
  }
  CHECK_OK(strata_upsert(db, name, pts, N, NULL));

  strata_search_request reqs[QUERIES];
  float queries[QUERIES][DIM];
  for (size_t q = 0; q < QUERIES; q++) {
    for (size_t j = 0; j < DIM; j++)
      queries[q][j] = test_random_float(&rng) * 2 - 1;
    reqs[q] = (strata_search_request){NULL, queries[q], DIM, K, 0};
  }
  int larger_better = distance == STRATA_DISTANCE_COSINE ||
                      distance == STRATA_DISTANCE_DOT;

  /* Single and batched search must both match the reference. */
  strata_records **batch = NULL;
  CHECK_OK(strata_search_batch(db, name, reqs, QUERIES, &batch));
  REQUIRE(batch != NULL);
  for (size_t q = 0; q < QUERIES; q++) {
    strata_records *res = NULL;
    CHECK_OK(strata_search(db, name, &reqs[q], &res));
    REQUIRE(res != NULL);
    CHECK(res->count == K);
    CHECK(batch[q]->count == K);
    double worst_kept = larger_better ? INFINITY : -INFINITY;
    for (size_t r = 0; r < res->count; r++) {
      size_t i = (size_t)(res->items[r].id.num - 1000);
      double ref = reference_score(distance, queries[q], data[i], DIM);
      CHECK(fabs(ref - res->items[r].score) <= 1e-4 * (1 + fabs(ref)));
      CHECK(res->items[r].id.num == batch[q]->items[r].id.num ||
            fabsf(res->items[r].score - batch[q]->items[r].score) <= 1e-5f);
      if (r > 0) {
        CHECK(larger_better ? res->items[r - 1].score >= res->items[r].score
                            : res->items[r - 1].score <= res->items[r].score);
      }
      worst_kept = larger_better ? fmin(worst_kept, ref) : fmax(worst_kept, ref);
    }
    /* No point outside the result scores better than the worst kept. */
    for (size_t i = 0; i < N; i++) {
      int in_result = 0;
      for (size_t r = 0; r < res->count; r++)
        in_result |= res->items[r].id.num == 1000 + i;
      if (in_result)
        continue;
      double ref = reference_score(distance, queries[q], data[i], DIM);
      CHECK(larger_better ? ref <= worst_kept + 1e-5 : ref >= worst_kept - 1e-5);
    }
    strata_records_free(res);
  }
  strata_records_free_array(batch, QUERIES);
  strata_close(db);
}

/* Cosine: stored vectors come back normalised; a zero vector scores 0. */
static void test_cosine_details(const char *dir) {
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  strata_vector_config vec = {"", 2, STRATA_DISTANCE_COSINE};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, "cos", &config) == STRATA_OK);
  float a[2] = {3, 4}, zero[2] = {0, 0};
  strata_named_vector nva = {"", a, 2}, nvz = {"", zero, 2};
  strata_point pts[2] = {{strata_id_num(1), &nva, 1, NULL, 0},
                         {strata_id_num(2), &nvz, 1, NULL, 0}};
  CHECK_OK(strata_upsert(db, "cos", pts, 2, NULL));

  strata_point_id one = strata_id_num(1);
  strata_records *got = NULL;
  CHECK_OK(strata_get(db, "cos", &one, 1, STRATA_WITH_VECTORS, &got));
  CHECK(fabsf(got->items[0].vectors[0].data[0] - 0.6f) < 1e-6f);
  CHECK(fabsf(got->items[0].vectors[0].data[1] - 0.8f) < 1e-6f);
  strata_records_free(got);

  float q[2] = {6, 8};
  strata_search_request req = {"", q, 2, 5, 0};
  strata_records *res = NULL;
  CHECK_OK(strata_search(db, "cos", &req, &res));
  REQUIRE(res && res->count == 2);
  CHECK(res->items[0].id.num == 1);
  CHECK(fabsf(res->items[0].score - 1) < 1e-6f);
  CHECK(res->items[1].id.num == 2);
  CHECK(res->items[1].score == 0.0f);
  strata_records_free(res);

  /* A zero query scores 0 against everything, never NaN. */
  strata_search_request zero_req = {"", zero, 2, 5, 0};
  CHECK_OK(strata_search(db, "cos", &zero_req, &res));
  REQUIRE(res && res->count == 2);
  CHECK(res->items[0].score == 0.0f);
  CHECK(res->items[1].score == 0.0f);
  strata_records_free(res);
  strata_close(db);
}

/* Points may lack one of several named vectors; search skips them. */
static void test_named_vectors(const char *dir) {
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  strata_vector_config vectors[] = {{"image", 2, STRATA_DISTANCE_EUCLID},
                                    {"text", 3, STRATA_DISTANCE_DOT}};
  strata_collection_config config = {vectors, 2};
  REQUIRE(strata_collection_create(db, "multi", &config) == STRATA_OK);
  float img[2] = {1, 1}, txt[3] = {1, 0, 0};
  strata_named_vector both[2] = {{"image", img, 2}, {"text", txt, 3}};
  strata_named_vector only_text[1] = {{"text", txt, 3}};
  strata_point pts[2] = {{strata_id_num(1), both, 2, NULL, 0},
                         {strata_id_num(2), only_text, 1, NULL, 0}};
  CHECK_OK(strata_upsert(db, "multi", pts, 2, NULL));

  strata_search_request by_image = {"image", img, 2, 10, 0};
  strata_search_request by_text = {"text", txt, 3, 10, 0};
  strata_records *res = NULL;
  CHECK_OK(strata_search(db, "multi", &by_image, &res));
  CHECK(res->count == 1 && res->items[0].id.num == 1);
  strata_records_free(res);
  CHECK_OK(strata_search(db, "multi", &by_text, &res));
  CHECK(res->count == 2);
  strata_records_free(res);
  strata_close(db);

  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  CHECK_OK(strata_search(db, "multi", &by_image, &res));
  CHECK(res->count == 1 && res->items[0].id.num == 1);
  strata_records_free(res);
  strata_close(db);
}

int main(void) {
  char *dir = test_make_dir("api");
  test_collections(dir);
  test_points(dir);
  test_search_distance(dir, STRATA_DISTANCE_COSINE);
  test_search_distance(dir, STRATA_DISTANCE_DOT);
  test_search_distance(dir, STRATA_DISTANCE_EUCLID);
  test_search_distance(dir, STRATA_DISTANCE_MANHATTAN);
  test_cosine_details(dir);
  test_named_vectors(dir);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_api");
}
