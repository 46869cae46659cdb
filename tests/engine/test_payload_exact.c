/* Payload updates that rewrite a stored payload keep integers beyond
 * int64 digit for digit, in the keys they touch and in those they do
 * not. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

static void expect_payload(strata_db *db, uint64_t id, const char *want) {
  strata_point_id pid = strata_id_num(id);
  strata_records *got = NULL;
  CHECK_OK(strata_get(db, "c", &pid, 1, STRATA_WITH_PAYLOAD, &got));
  REQUIRE(got != NULL);
  CHECK(got->count == 1);
  if (got->count == 1 && strcmp(got->items[0].payload, want) != 0) {
    fprintf(stderr, "payload of %llu is %s, expected %s\n",
            (unsigned long long)id, got->items[0].payload, want);
    check_failures++;
  }
  strata_records_free(got);
}

int main(void) {
  char *dir = test_make_dir("payload-exact");
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  strata_vector_config vec = {"", 2, STRATA_DISTANCE_DOT};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, "c", &config) == STRATA_OK);
  float v[2] = {1, 2};
  strata_named_vector nv = {"", v, 2};
  strata_point p = {strata_id_num(2), &nv, 1,
                    "{\"big\":[12345678901234567890123,1],"
                    "\"u64\":18446744073709551615,"
                    "\"neg\":-9223372036854775809,"
                    "\"max\":9223372036854775807,"
                    "\"s\":\"123456789012345678901234\"}",
                    0};
  REQUIRE(strata_upsert(db, "c", &p, 1, NULL) == STRATA_OK);

  strata_point_id id = strata_id_num(2);
  strata_point_selector by_id = {&id, 1, NULL};
  CHECK_OK(strata_payload_set(db, "c", &by_id,
                              "{\"x\":1,\"huge\":99999999999999999999}", NULL,
                              NULL, NULL));
  expect_payload(db, 2,
                 "{\"big\":[12345678901234567890123,1],"
                 "\"u64\":18446744073709551615,"
                 "\"neg\":-9223372036854775809,"
                 "\"max\":9223372036854775807,"
                 "\"s\":\"123456789012345678901234\","
                 "\"x\":1,\"huge\":99999999999999999999}");

  const char *keys[] = {"neg", "x"};
  CHECK_OK(strata_payload_delete_keys(db, "c", &by_id, keys, 2, NULL, NULL));
  expect_payload(db, 2,
                 "{\"big\":[12345678901234567890123,1],"
                 "\"u64\":18446744073709551615,"
                 "\"max\":9223372036854775807,"
                 "\"s\":\"123456789012345678901234\","
                 "\"huge\":99999999999999999999}");

  /* Filters still see the big integer as a number (a double). */
  strata_filter *f = NULL;
  const char *json = "{\"must\":{\"key\":\"u64\",\"range\":{\"gt\":1e19}}}";
  CHECK_OK(strata_filter_parse_json(json, strlen(json), &f));
  uint64_t count = 0;
  CHECK_OK(strata_count_filtered(db, "c", f, &count));
  CHECK(count == 1);
  strata_filter_free(f);

  strata_close(db);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_payload_exact");
}
