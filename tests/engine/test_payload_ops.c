/* Payload updates (set, overwrite, delete keys, clear) by ids and by
 * filter, with payload indexes kept in step; delete by filter; creating,
 * dropping and reopening payload indexes; bad input. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

#define DIM 4
#define N 200

static strata_filter *parse(const char *json) {
  strata_filter *f = NULL;
  REQUIRE(strata_filter_parse_json(json, strlen(json), &f) == STRATA_OK);
  return f;
}

static uint64_t count(strata_db *db, const char *filter_json) {
  strata_filter *f = parse(filter_json);
  uint64_t n = UINT64_MAX;
  CHECK_OK(strata_count_filtered(db, "c", f, &n));
  strata_filter_free(f);
  return n;
}

/* Returns point `id`'s payload parsed, or NULL when it does not exist. */
static json_t *payload_of(strata_db *db, uint64_t id) {
  strata_point_id pid = strata_id_num(id);
  strata_records *recs = NULL;
  CHECK_OK(strata_get(db, "c", &pid, 1, STRATA_WITH_PAYLOAD, &recs));
  REQUIRE(recs != NULL);
  json_t *out = NULL;
  if (recs->count == 1)
    out = json_loads(recs->items[0].payload, 0, NULL);
  strata_records_free(recs);
  return out;
}

/* Returns every payload, in id order, as one string. */
static char *snapshot(strata_db *db) {
  strata_records *recs = NULL;
  strata_point_id next;
  int has_next;
  CHECK_OK(strata_scroll(db, "c", NULL, 10 * N, STRATA_WITH_PAYLOAD, &recs,
                         &next, &has_next));
  REQUIRE(recs != NULL);
  size_t len = 1;
  for (size_t i = 0; i < recs->count; i++)
    len += recs->items[i].payload_len + 24;
  char *text = calloc(len, 1);
  REQUIRE(text != NULL);
  for (size_t i = 0; i < recs->count; i++) {
    char idtext[STRATA_ID_STRLEN];
    strcat(text, strata_id_format(&recs->items[i].id, idtext));
    strcat(text, recs->items[i].payload);
    strcat(text, "\n");
  }
  strata_records_free(recs);
  return text;
}

static void load(strata_db *db) {
  strata_vector_config vc = {"", DIM, STRATA_DISTANCE_DOT, {0, 0, 0}};
  strata_collection_config cc = {&vc, 1};
  CHECK_OK(strata_collection_create(db, "c", &cc));
  static float v[N][DIM];
  static char payloads[N][96];
  strata_point points[N];
  strata_named_vector nv[N];
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < DIM; j++)
      v[i][j] = (float)((i * 31 + j * 7) % 17) / 17.0f;
    snprintf(payloads[i], sizeof payloads[i],
             "{\"tenant\": \"%s\", \"n\": %d, \"nested\": {\"x\": %d}}",
             i % 4 == 0 ? "a" : "b", i, i);
    nv[i] = (strata_named_vector){"", v[i], DIM};
    points[i] =
        (strata_point){strata_id_num((uint64_t)i), &nv[i], 1, payloads[i], 0};
  }
  CHECK_OK(strata_upsert(db, "c", points, N, NULL));
  CHECK_OK(strata_field_index_create(db, "c", "tenant", "keyword", NULL));
  CHECK_OK(strata_field_index_create(db, "c", "n", "integer", NULL));
  CHECK_OK(strata_field_index_create(db, "c", "nested.x", "integer", NULL));
  CHECK_OK(strata_field_index_create(db, "c", "color", "keyword", NULL));
}

static void test_set(strata_db *db) {
  strata_point_id ids[3] = {strata_id_num(1), strata_id_num(2),
                            strata_id_num(3)};
  strata_point_selector by_ids = {ids, 3, NULL};
  uint64_t updated = 0;
  strata_write_options wait = {1};

  /* Merge: new keys appear, old ones stay; the index sees them. */
  CHECK_OK(strata_payload_set(db, "c", &by_ids, "{\"color\": \"red\"}", NULL,
                              &wait, &updated));
  CHECK(updated == 3);
  CHECK(count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                  "{\"value\": \"red\"}}}") == 3);
  json_t *p = payload_of(db, 2);
  CHECK(p && strcmp(json_string_value(json_object_get(p, "tenant")), "b") ==
                 0);
  json_decref(p);

  /* A key set to null is removed. */
  strata_point_selector one = {ids, 1, NULL};
  uint64_t tenant_b = count(db, "{\"must\": {\"key\": \"tenant\", \"match\": "
                                "{\"value\": \"b\"}}}");
  CHECK_OK(strata_payload_set(db, "c", &one, "{\"tenant\": null}", NULL, NULL,
                              &updated));
  p = payload_of(db, 1);
  CHECK(p && !json_object_get(p, "tenant"));
  CHECK(p && json_object_get(p, "color"));
  json_decref(p);
  CHECK(count(db, "{\"must\": {\"key\": \"tenant\", \"match\": "
                  "{\"value\": \"b\"}}}") == tenant_b - 1);

  /* With a key, the merge happens in the nested object, created when
   * missing. */
  strata_point_selector two = {ids + 1, 1, NULL};
  CHECK_OK(strata_payload_set(db, "c", &two, "{\"y\": 5}", "nested", NULL,
                              NULL));
  p = payload_of(db, 2);
  json_t *nested = json_object_get(p, "nested");
  CHECK(json_integer_value(json_object_get(nested, "x")) == 2);
  CHECK(json_integer_value(json_object_get(nested, "y")) == 5);
  json_decref(p);
  CHECK_OK(strata_payload_set(db, "c", &two, "{\"x\": 1000}", "nested", NULL,
                              NULL));
  CHECK(count(db, "{\"must\": {\"key\": \"nested.x\", \"match\": "
                  "{\"value\": 1000}}}") == 1);
  CHECK(count(db, "{\"must\": {\"key\": \"nested.x\", \"match\": "
                  "{\"value\": 2}}}") == 0);
  strata_point_selector three = {ids + 2, 1, NULL};
  CHECK_OK(strata_payload_set(db, "c", &three, "{\"z\": 1}", "deep.er", NULL,
                              NULL));
  CHECK(count(db, "{\"must\": {\"key\": \"deep.er.z\", \"match\": "
                  "{\"value\": 1}}}") == 1);

  /* By filter: every point of tenant a. */
  strata_filter *f =
      parse("{\"must\": {\"key\": \"tenant\", \"match\": {\"value\": "
            "\"a\"}}}");
  strata_point_selector by_filter = {NULL, 0, f};
  uint64_t tenant_a = count(db, "{\"must\": {\"key\": \"tenant\", \"match\": "
                                "{\"value\": \"a\"}}}");
  CHECK(tenant_a == N / 4);
  CHECK_OK(strata_payload_set(db, "c", &by_filter, "{\"color\": \"blue\"}",
                              NULL, NULL, &updated));
  CHECK(updated == tenant_a);
  CHECK(count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                  "{\"value\": \"blue\"}}}") == tenant_a);
  strata_filter_free(f);
}

static void test_overwrite_delete_clear(strata_db *db) {
  strata_point_id id4 = strata_id_num(4), id5 = strata_id_num(5);
  strata_point_selector sel4 = {&id4, 1, NULL}, sel5 = {&id5, 1, NULL};
  uint64_t updated = 0;

  /* Overwrite stores the text as given. */
  const char *text = "{\"only\":   true}";
  CHECK_OK(strata_payload_overwrite(db, "c", &sel4, text, NULL, &updated));
  CHECK(updated == 1);
  strata_records *recs = NULL;
  CHECK_OK(strata_get(db, "c", &id4, 1, STRATA_WITH_PAYLOAD, &recs));
  REQUIRE(recs && recs->count == 1);
  CHECK(strcmp(recs->items[0].payload, text) == 0);
  strata_records_free(recs);
  CHECK(count(db, "{\"must\": [{\"key\": \"n\", \"match\": {\"value\": 4}}]}") ==
        0);
  CHECK(count(db, "{\"must\": [{\"has_id\": [4]}, {\"key\": \"tenant\", "
                  "\"match\": {\"value\": \"a\"}}]}") == 0);

  /* Delete keys by filter: nested.x of points 10 to 19. */
  strata_filter *f =
      parse("{\"must\": {\"key\": \"n\", \"range\": {\"gte\": 10, \"lt\": "
            "20}}}");
  strata_point_selector by_filter = {NULL, 0, f};
  const char *keys[] = {"nested.x", "missing.key"};
  CHECK_OK(strata_payload_delete_keys(db, "c", &by_filter, keys, 2, NULL,
                                      &updated));
  CHECK(updated == 10);
  CHECK(count(db, "{\"must\": {\"key\": \"nested.x\", \"range\": {\"gte\": "
                  "10, \"lt\": 20}}}") == 0);
  json_t *p = payload_of(db, 12);
  CHECK(p && json_is_object(json_object_get(p, "nested")));
  CHECK(p && !json_object_get(json_object_get(p, "nested"), "x"));
  CHECK(p && json_integer_value(json_object_get(p, "n")) == 12);
  json_decref(p);
  strata_filter_free(f);

  /* Clear. */
  CHECK_OK(strata_payload_clear(db, "c", &sel5, NULL, &updated));
  CHECK(updated == 1);
  p = payload_of(db, 5);
  CHECK(p && json_object_size(p) == 0);
  json_decref(p);
  CHECK(count(db, "{\"must\": {\"key\": \"n\", \"match\": {\"value\": 5}}}") ==
        0);
  CHECK(count(db, "{\"must\": [{\"has_id\": [5]}, {\"is_empty\": {\"key\": "
                  "\"tenant\"}}]}") == 1);

  /* Ids that do not exist are skipped. */
  strata_point_id missing = strata_id_num(99999);
  strata_point_selector none = {&missing, 1, NULL};
  CHECK_OK(strata_payload_clear(db, "c", &none, NULL, &updated));
  CHECK(updated == 0);
}

static void test_errors_change_nothing(strata_db *db) {
  char *before = snapshot(db);
  strata_point_id id = strata_id_num(7);
  strata_point_selector sel = {&id, 1, NULL};
  strata_point_selector empty = {NULL, 0, NULL};
  const char *bad_key[] = {"a["};
  CHECK_STATUS(strata_payload_set(db, "c", &sel, "{\"a\": ", NULL, NULL, NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_payload_set(db, "c", &sel, "[1, 2]", NULL, NULL, NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_payload_set(db, "c", &sel, "{\"a\": 1}", "x[0]", NULL,
                                  NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_payload_set(db, "nope", &sel, "{\"a\": 1}", NULL, NULL,
                                  NULL),
               STRATA_ERR_NOT_FOUND);
  CHECK_STATUS(strata_payload_set(db, "c", &empty, "{\"a\": 1}", NULL, NULL,
                                  NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_payload_overwrite(db, "c", &sel, "\"text\"", NULL, NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_payload_overwrite(db, "nope", &sel, "{}", NULL, NULL),
               STRATA_ERR_NOT_FOUND);
  CHECK_STATUS(strata_payload_delete_keys(db, "c", &sel, bad_key, 1, NULL,
                                          NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_payload_clear(db, "nope", &sel, NULL, NULL),
               STRATA_ERR_NOT_FOUND);
  CHECK_STATUS(strata_delete_by_filter(db, "c", NULL, NULL, NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  char *after = snapshot(db);
  CHECK(strcmp(before, after) == 0);
  free(before);
  free(after);
}

static void test_upsert_and_delete_keep_indexes(strata_db *db) {
  float v[DIM] = {1, 0, 0, 0};
  strata_named_vector nv = {"", v, DIM};
  /* The last occurrence of an id in a batch wins in the index too. */
  strata_point points[2] = {
      {strata_id_num(8), &nv, 1, "{\"color\": \"green\"}", 0},
      {strata_id_num(8), &nv, 1, "{\"color\": \"violet\"}", 0}};
  CHECK_OK(strata_upsert(db, "c", points, 2, NULL));
  CHECK(count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                  "{\"value\": \"green\"}}}") == 0);
  CHECK(count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                  "{\"value\": \"violet\"}}}") == 1);
  CHECK(count(db, "{\"must\": {\"key\": \"n\", \"match\": {\"value\": 8}}}") ==
        0);
  strata_point_id id8 = strata_id_num(8);
  uint64_t deleted = 0;
  CHECK_OK(strata_delete(db, "c", &id8, 1, NULL, &deleted));
  CHECK(deleted == 1);
  CHECK(count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                  "{\"value\": \"violet\"}}}") == 0);
}

static void test_delete_by_filter(strata_db *db) {
  uint64_t total = 0, blue = 0, deleted = 0;
  CHECK_OK(strata_count(db, "c", &total));
  blue = count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                   "{\"value\": \"blue\"}}}");
  CHECK(blue > 0);
  strata_filter *f = parse("{\"must\": {\"key\": \"color\", \"match\": "
                           "{\"value\": \"blue\"}}}");
  strata_write_options wait = {1};
  CHECK_OK(strata_delete_by_filter(db, "c", f, &wait, &deleted));
  CHECK(deleted == blue);
  uint64_t after = 0;
  CHECK_OK(strata_count(db, "c", &after));
  CHECK(after == total - blue);
  CHECK(count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                  "{\"value\": \"blue\"}}}") == 0);
  CHECK(count(db, "{\"must\": {\"key\": \"tenant\", \"match\": "
                  "{\"value\": \"a\"}}}") == 0);
  CHECK_STATUS(strata_delete_by_filter(db, "nope", f, NULL, NULL),
               STRATA_ERR_NOT_FOUND);
  strata_filter_free(f);
}

static void test_index_definitions(strata_db *db) {
  CHECK_STATUS(strata_field_index_create(db, "c", "tenant", "keyword", NULL),
               STRATA_ERR_ALREADY_EXISTS);
  CHECK_STATUS(strata_field_index_create(db, "c", "x", "geo-ish", NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_field_index_create(db, "c", "x", NULL, NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_field_index_create(db, "c", "a[", "keyword", NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_field_index_create(db, "c", "", "keyword", NULL),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(strata_field_index_create(db, "nope", "x", "keyword", NULL),
               STRATA_ERR_NOT_FOUND);
  CHECK_STATUS(strata_field_index_drop(db, "c", "never", NULL),
               STRATA_ERR_NOT_FOUND);
  CHECK_STATUS(strata_field_index_drop(db, "nope", "tenant", NULL),
               STRATA_ERR_NOT_FOUND);
  CHECK_OK(strata_field_index_drop(db, "c", "n", NULL));
  CHECK_STATUS(strata_field_index_drop(db, "c", "n", NULL),
               STRATA_ERR_NOT_FOUND);
  /* A filter on a field whose index was dropped still works. */
  CHECK(count(db, "{\"must\": {\"key\": \"n\", \"range\": {\"gte\": 190}}}") ==
        10);
}

static void check_indexes_listed(strata_db *db, const char *const *fields,
                                 size_t n) {
  strata_collection_info *info = NULL;
  CHECK_OK(strata_collection_describe(db, "c", &info));
  REQUIRE(info != NULL);
  CHECK(info->n_field_indexes == n);
  for (size_t i = 0; i < n && i < info->n_field_indexes; i++)
    CHECK(strcmp(info->field_indexes[i].field, fields[i]) == 0);
  strata_collection_info_free(info);
}

static void test_has_id_and_depth(strata_db *db) {
  /* has_id with 100,000 ids, of which the live points are a few. */
  size_t n = 100000;
  strata_point_id *ids = malloc(n * sizeof *ids);
  REQUIRE(ids != NULL);
  for (size_t i = 0; i < n; i++)
    ids[i] = strata_id_num(i * 2); /* even ids */
  strata_filter *f = strata_filter_new();
  REQUIRE(f != NULL);
  CHECK_OK(strata_filter_add(f, STRATA_MUST, strata_cond_has_id(ids, n)));
  free(ids);
  uint64_t matched = 0, even = 0;
  CHECK_OK(strata_count_filtered(db, "c", f, &matched));
  strata_records *recs = NULL;
  strata_point_id next;
  int has_next;
  CHECK_OK(strata_scroll(db, "c", NULL, 10 * N, 0, &recs, &next, &has_next));
  REQUIRE(recs != NULL);
  for (size_t i = 0; i < recs->count; i++)
    even += recs->items[i].id.num % 2 == 0;
  strata_records_free(recs);
  CHECK(matched > 0);
  CHECK(matched == even);
  strata_filter_free(f);

  /* 40 levels of nested filters exceed the limit of 32. */
  char deep[2048] = "";
  for (int i = 0; i < 40; i++)
    strcat(deep, "{\"must\": ");
  strcat(deep, "{}");
  for (int i = 0; i < 40; i++)
    strcat(deep, "}");
  strata_filter *bad = NULL;
  CHECK_STATUS(strata_filter_parse_json(deep, strlen(deep), &bad),
               STRATA_ERR_INVALID_ARGUMENT);
  CHECK(bad == NULL);
  CHECK(strstr(strata_last_error(), "deeper than 32") != NULL);
}

int main(void) {
  char *dir = test_make_dir("payload-ops");
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  load(db);
  test_set(db);
  test_overwrite_delete_clear(db);
  test_errors_change_nothing(db);
  test_upsert_and_delete_keep_indexes(db);
  test_index_definitions(db);

  /* Definitions survive reopening and the contents are rebuilt. */
  const char *fields[] = {"color", "nested.x", "tenant"};
  check_indexes_listed(db, fields, 3);
  uint64_t blue = count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                            "{\"value\": \"blue\"}}}");
  strata_close(db);
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  check_indexes_listed(db, fields, 3);
  CHECK(count(db, "{\"must\": {\"key\": \"color\", \"match\": "
                  "{\"value\": \"blue\"}}}") == blue);

  test_delete_by_filter(db);
  test_has_id_and_depth(db);

  /* Dropping the collection forgets its index definitions. */
  CHECK_OK(strata_collection_drop(db, "c"));
  strata_vector_config vc = {"", DIM, STRATA_DISTANCE_DOT, {0, 0, 0}};
  strata_collection_config cc = {&vc, 1};
  CHECK_OK(strata_collection_create(db, "c", &cc));
  check_indexes_listed(db, NULL, 0);
  strata_close(db);
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  check_indexes_listed(db, NULL, 0);

  strata_close(db);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_payload_ops");
}
