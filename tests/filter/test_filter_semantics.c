/* Filter semantics: a table of payloads and filters with the matching
 * points written out by hand from Qdrant's rules (see engine/filter_eval.c
 * for the rules).  Point i has payload i and id i. */
#include "filter.h"
#include "filter_test.h"

static const char *const payloads[] = {
    /* 0 */ "{}",
    /* 1 */
    "{\"city\":\"London\",\"price\":10,\"tags\":[\"a\",\"b\"],\"ok\":true}",
    /* 2 */ "{\"city\":\"Paris\",\"price\":10.0,\"tags\":[],\"ok\":false}",
    /* 3 */
    "{\"city\":null,\"price\":\"10\",\"tags\":[\"a\",[\"b\"]],\"ok\":\"true\"}",
    /* 4 */
    "{\"city\":[\"London\",\"Berlin\"],\"price\":[5,15],\"tags\":\"a\"}",
    /* 5 */ "{\"city\":\"london\",\"price\":20.5,\"tags\":[null]}",
    /* 6 */ "{\"a\":{\"b\":1}}",
    /* 7 */ "{\"a\":[{\"b\":1},{\"b\":2}]}",
    /* 8 */ "{\"a\":[{\"b\":[3,4]},{\"c\":5}]}",
    /* 9 */ "{\"a\":{\"b\":[1,2]}}",
    /* 10 */ "{\"x.y\":7,\"x\":{\"y\":8}}",
    /* 11 */ "{\"город\":\"Москва\",\"emoji\":\"😀\"}",
    /* 12 */ "{\"n\":9223372036854775807}",
    /* 13 */ "{\"n\":-9223372036854775808}",
    /* 14 */ "{\"n\":9223372036854775808}",
    /* 15 */ "{\"n\":9007199254740993}",
    /* 16 */ "{\"n\":5}",
    /* 17 */ "{\"n\":5.0}",
    /* 18 */ "{\"d\":\"2024-05-01T10:00:00Z\"}",
    /* 19 */ "{\"d\":\"2024-05-01T12:00:00+02:00\"}",
    /* 20 */ "{\"d\":\"2024-05-01 10:00\"}",
    /* 21 */ "{\"d\":\"2024-05-01\"}",
    /* 22 */ "{\"d\":[\"2023-01-01\",\"not a date\"]}",
    /* 23 */ "{\"d\":20240501}",
    /* 24 */ "{\"items\":[{\"k\":\"x\",\"v\":1},{\"k\":\"y\",\"v\":2}]}",
    /* 25 */ "{\"items\":[{\"k\":\"x\",\"v\":2},{\"k\":\"y\",\"v\":1}]}",
    /* 26 */ "{\"items\":{\"k\":\"x\",\"v\":1}}",
    /* 27 */ "{\"m\":[[1,2],[3]]}",
    /* 28 */ "{\"text\":\"Hello, World of filters\"}",
    /* 29 */ "{\"e\":[],\"f\":{},\"g\":null,\"h\":[[]]}",
};
#define N_PAYLOADS (sizeof payloads / sizeof payloads[0])

/* Expected points: numbers separated by spaces; "*" is every point and
 * "!" before a list is every point but those. */
static const struct {
  const char *filter;
  const char *expected;
} cases[] = {
    /* match value, any, except on keywords */
    {"{\"must\":{\"key\":\"city\",\"match\":{\"value\":\"London\"}}}", "1 4"},
    {"{\"must\":{\"key\":\"city\",\"match\":{\"any\":[\"Paris\",\"Berlin\"]}}}",
     "2 4"},
    {"{\"must\":{\"key\":\"city\",\"match\":{\"except\":[\"London\"]}}}",
     "2 4 5"},
    {"{\"must\":{\"key\":\"city\",\"match\":{\"except\":[1]}}}", "1 2 4 5"},
    {"{\"must_not\":{\"key\":\"city\",\"match\":{\"value\":\"London\"}}}",
     "!1 4"},
    {"{\"must\":{\"key\":\"city\",\"match\":{\"any\":[]}}}", ""},
    {"{\"must\":{\"key\":\"city\",\"match\":{\"except\":[]}}}", "1 2 4 5"},
    {"{\"must\":{\"key\":\"nope\",\"match\":{\"except\":[\"a\"]}}}", ""},
    {"{\"must\":{\"key\":\"e\",\"match\":{\"except\":[\"a\"]}}}", ""},

    /* numbers: integers exact, reals never equal integers */
    {"{\"must\":{\"key\":\"price\",\"range\":{\"gte\":10}}}", "1 2 4 5"},
    {"{\"must\":{\"key\":\"price\",\"range\":{\"gt\":10,\"lt\":20}}}", "4"},
    {"{\"must\":{\"key\":\"price\",\"range\":{\"lte\":5}}}", "4"},
    {"{\"must\":{\"key\":\"price\",\"match\":{\"value\":10}}}", "1"},
    {"{\"must\":{\"key\":\"n\",\"match\":{\"value\":5}}}", "16"},
    {"{\"must\":{\"key\":\"n\",\"match\":{\"value\":9223372036854775807}}}",
     "12"},
    {"{\"must\":{\"key\":\"n\",\"match\":{\"value\":-9223372036854775808}}}",
     "13"},
    {"{\"must\":{\"key\":\"n\",\"range\":{\"gte\":9223372036854775807}}}",
     "12 14"},
    {"{\"must\":{\"key\":\"n\",\"range\":{\"lt\":-9.2e18}}}", "13"},
    {"{\"must\":{\"key\":\"n\",\"match\":{\"value\":9007199254740992}}}", ""},
    {"{\"must\":{\"key\":\"n\",\"range\":{\"gte\":9007199254740992,"
     "\"lte\":9007199254740992}}}",
     "15"},
    {"{\"must\":{\"key\":\"n\",\"match\":{\"except\":[5]}}}", "12 13 14 15 17"},
    {"{\"must\":{\"key\":\"n\",\"match\":{\"any\":[5,9223372036854775807]}}}",
     "12 16"},
    {"{\"must\":{\"key\":\"city\",\"range\":{\"gte\":0}}}", ""},

    /* booleans */
    {"{\"must\":{\"key\":\"ok\",\"match\":{\"value\":true}}}", "1"},
    {"{\"must\":{\"key\":\"ok\",\"match\":{\"value\":false}}}", "2"},

    /* arrays: any element, no flattening of inner arrays */
    {"{\"must\":{\"key\":\"tags\",\"match\":{\"value\":\"a\"}}}", "1 3 4"},
    {"{\"must\":{\"key\":\"tags\",\"match\":{\"value\":\"b\"}}}", "1"},
    {"{\"must\":{\"key\":\"m\",\"match\":{\"value\":1}}}", ""},
    {"{\"must\":{\"key\":\"m[]\",\"match\":{\"value\":1}}}", "27"},
    {"{\"must\":{\"key\":\"m\",\"match\":{\"except\":[1]}}}", "27"},

    /* is_empty, is_null */
    {"{\"must\":{\"is_empty\":{\"key\":\"tags\"}}}", "!1 3 4 5"},
    {"{\"must\":{\"is_null\":{\"key\":\"city\"}}}", "3"},
    {"{\"must\":{\"is_null\":{\"key\":\"tags\"}}}", ""},
    {"{\"must\":{\"is_null\":{\"key\":\"tags[]\"}}}", "5"},
    {"{\"must\":{\"is_empty\":{\"key\":\"g\"}}}", "*"},
    {"{\"must\":{\"is_empty\":{\"key\":\"e\"}}}", "*"},
    {"{\"must\":{\"is_empty\":{\"key\":\"f\"}}}", "!29"},
    {"{\"must\":{\"is_empty\":{\"key\":\"h\"}}}", "!29"},
    {"{\"must\":{\"is_null\":{\"key\":\"a[].b\"}}}", ""},
    {"{\"must_not\":{\"is_empty\":{\"key\":\"tags\"}}}", "1 3 4 5"},

    /* values_count */
    {"{\"must\":{\"key\":\"tags\",\"values_count\":{\"gt\":1}}}", "1 3"},
    {"{\"must\":{\"key\":\"tags\",\"values_count\":{\"lt\":1}}}", "!1 3 4 5"},
    {"{\"must\":{\"key\":\"city\",\"values_count\":{\"lte\":0}}}", "!1 2 4 5"},
    {"{\"must\":{\"key\":\"a[].b\",\"values_count\":{\"gte\":2}}}", "8"},
    {"{\"must\":{\"key\":\"a.b\",\"values_count\":{\"gte\":2}}}", "9"},
    {"{\"must\":{\"key\":\"m\",\"values_count\":{\"gt\":1}}}", "27"},
    {"{\"must\":{\"key\":\"e\",\"values_count\":{\"lte\":0}}}", "*"},
    {"{\"must\":{\"key\":\"f\",\"values_count\":{\"gte\":1}}}", "29"},
    {"{\"must\":{\"key\":\"g\",\"values_count\":{\"gte\":1}}}", ""},

    /* paths */
    {"{\"must\":{\"key\":\"a.b\",\"match\":{\"value\":1}}}", "6 9"},
    {"{\"must\":{\"key\":\"a[].b\",\"match\":{\"value\":1}}}", "7"},
    {"{\"must\":{\"key\":\"a[].b\",\"match\":{\"value\":4}}}", "8"},
    {"{\"must\":{\"key\":\"a[0].b\",\"match\":{\"value\":1}}}", "7"},
    {"{\"must\":{\"key\":\"a[1].b\",\"match\":{\"value\":1}}}", ""},
    {"{\"must\":{\"key\":\"a[1].c\",\"match\":{\"value\":5}}}", "8"},
    {"{\"must\":{\"key\":\"\\\"x.y\\\"\",\"match\":{\"value\":7}}}", "10"},
    {"{\"must\":{\"key\":\"x.y\",\"match\":{\"value\":8}}}", "10"},
    {"{\"must\":{\"key\":\"x.y\",\"match\":{\"value\":7}}}", ""},
    {"{\"must\":{\"key\":\"город\",\"match\":{\"value\":\"Москва\"}}}", "11"},

    /* text without an index: substring, case-sensitive */
    {"{\"must\":{\"key\":\"emoji\",\"match\":{\"text\":\"😀\"}}}", "11"},
    {"{\"must\":{\"key\":\"text\",\"match\":{\"text\":\"World\"}}}", "28"},
    {"{\"must\":{\"key\":\"text\",\"match\":{\"text\":\"world\"}}}", ""},
    {"{\"must\":{\"key\":\"text\",\"match\":{\"text\":\"\"}}}", "28"},

    /* datetimes */
    {"{\"must\":{\"key\":\"d\",\"range\":{\"gte\":\"2024-05-01T10:00:00Z\","
     "\"lte\":\"2024-05-01T10:00:00Z\"}}}",
     "18 19 20"},
    {"{\"must\":{\"key\":\"d\",\"range\":{\"lt\":\"2024-05-01T00:00:01\"}}}",
     "21 22"},
    {"{\"must\":{\"key\":\"d\",\"range\":{\"gt\":0}}}", "23"},
    {"{\"must\":{\"key\":\"d\",\"match\":{\"value\":\"2024-05-01\"}}}", "21"},

    /* nested */
    {"{\"must\":{\"nested\":{\"key\":\"items\",\"filter\":{\"must\":["
     "{\"key\":\"k\",\"match\":{\"value\":\"x\"}},"
     "{\"key\":\"v\",\"match\":{\"value\":1}}]}}}}",
     "24"},
    {"{\"must\":[{\"key\":\"items[].k\",\"match\":{\"value\":\"x\"}},"
     "{\"key\":\"items[].v\",\"match\":{\"value\":1}}]}",
     "24 25"},
    {"{\"must\":{\"nested\":{\"key\":\"items\",\"filter\":{\"must_not\":"
     "{\"key\":\"k\",\"match\":{\"value\":\"x\"}}}}}}",
     "24 25"},
    {"{\"must\":{\"nested\":{\"key\":\"items\",\"filter\":{\"must\":"
     "{\"key\":\"v\",\"match\":{\"value\":1}}}}}}",
     "24 25"},
    {"{\"must\":{\"nested\":{\"key\":\"a\",\"filter\":{\"must\":"
     "{\"key\":\"b\",\"match\":{\"value\":2}}}}}}",
     "7"},
    {"{\"must\":{\"nested\":{\"key\":\"a\",\"filter\":{\"must\":"
     "{\"is_empty\":{\"key\":\"c\"}}}}}}",
     "7 8"},

    /* has_id */
    {"{\"must\":{\"has_id\":[1,5,100]}}", "1 5"},
    {"{\"must_not\":{\"has_id\":[0]}}", "!0"},
    {"{\"must\":{\"has_id\":[2,3,4]},\"must_not\":{\"is_null\":{\"key\":"
     "\"city\"}}}",
     "2 4"},

    /* combinations */
    {"{}", "*"},
    {"{\"should\":[]}", "*"},
    {"{\"must\":[],\"should\":[],\"must_not\":[]}", "*"},
    {"{\"should\":[{\"key\":\"city\",\"match\":{\"value\":\"London\"}},"
     "{\"key\":\"price\",\"range\":{\"gte\":20}}]}",
     "1 4 5"},
    {"{\"min_should\":{\"conditions\":["
     "{\"key\":\"city\",\"match\":{\"value\":\"London\"}},"
     "{\"key\":\"tags\",\"match\":{\"value\":\"a\"}},"
     "{\"key\":\"ok\",\"match\":{\"value\":true}}],\"min_count\":2}}",
     "1 4"},
    {"{\"min_should\":{\"conditions\":[{\"is_null\":{\"key\":\"city\"}}],"
     "\"min_count\":0}}",
     "*"},
    {"{\"min_should\":{\"conditions\":[{\"is_null\":{\"key\":\"city\"}},"
     "{\"is_null\":{\"key\":\"g\"}}],\"min_count\":3}}",
     ""},
    {"{\"should\":{\"key\":\"city\",\"match\":{\"value\":\"London\"}},"
     "\"must_not\":{\"key\":\"tags\",\"match\":{\"value\":\"b\"}}}",
     "4"},
    {"{\"must\":[{\"should\":[{\"key\":\"n\",\"match\":{\"value\":5}},"
     "{\"key\":\"n\",\"match\":{\"value\":9223372036854775807}}]},"
     "{\"must_not\":{\"key\":\"n\",\"match\":{\"value\":5}}}]}",
     "12"},
    {"{\"must_not\":{\"must_not\":{\"key\":\"city\",\"match\":{\"value\":"
     "\"London\"}}}}",
     "1 4"},
    {"{\"should\":[{\"nested\":{\"key\":\"items\",\"filter\":{\"must\":["
     "{\"key\":\"k\",\"match\":{\"value\":\"y\"}},"
     "{\"key\":\"v\",\"match\":{\"value\":2}}]}}},{\"has_id\":[28]}]}",
     "24 28"},
    {"{\"should\":{\"key\":\"nope\",\"match\":{\"value\":1}}}", ""},
};

/* Parses an expected-set spec into flags[N_PAYLOADS]. */
static void expected_set(const char *spec, int *flags) {
  int invert = spec[0] == '!' || spec[0] == '*';
  for (size_t i = 0; i < N_PAYLOADS; i++)
    flags[i] = invert;
  const char *p = spec + (spec[0] == '!' || spec[0] == '*');
  char *end;
  for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
    flags[v] = !invert;
    p = end;
  }
}

static void test_table(json_t **docs) {
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    strata_filter *f = NULL;
    strata_status st =
        strata_filter_parse_json(cases[c].filter, strlen(cases[c].filter), &f);
    CHECK_MSG(st == STRATA_OK, "%s: %s", cases[c].filter, strata_last_error());
    if (st != STRATA_OK)
      continue;
    int want[N_PAYLOADS];
    expected_set(cases[c].expected, want);
    for (size_t i = 0; i < N_PAYLOADS; i++) {
      strata_point_id id = strata_id_num(i);
      int got = strata_filter_matches(f, docs[i], &id);
      CHECK_MSG(got == want[i], "filter %s on payload %zu %s: got %d",
                cases[c].filter, i, payloads[i], got);
    }
    strata_filter_free(f);
  }
}

static void test_payload_load(void) {
  json_t *doc = NULL;
  const char *big =
      "{\"s\":\"99999999999999999999\",\"n\":99999999999999999999,"
      "\"i\":5,\"neg\":-9223372036854775809}";
  REQUIRE(strata_payload_load(big, strlen(big), &doc) == STRATA_OK);
  CHECK(json_is_string(json_object_get(doc, "s")));
  CHECK(strcmp(json_string_value(json_object_get(doc, "s")),
               "99999999999999999999") == 0);
  CHECK(json_is_real(json_object_get(doc, "n")));
  CHECK(json_real_value(json_object_get(doc, "n")) == 1e20);
  CHECK(json_is_integer(json_object_get(doc, "i")));
  CHECK(json_is_real(json_object_get(doc, "neg")));
  json_decref(doc);

  const char *huge_real = "{\"x\":1e999}";
  CHECK(strata_payload_load(huge_real, strlen(huge_real), &doc) ==
        STRATA_ERR_INVALID_ARGUMENT);
  const char *broken = "{\"x\":";
  CHECK(strata_payload_load(broken, strlen(broken), &doc) ==
        STRATA_ERR_INVALID_ARGUMENT);
  CHECK(strstr(strata_last_error(), "invalid payload JSON") != NULL);
}

int main(void) {
  json_t *docs[N_PAYLOADS];
  for (size_t i = 0; i < N_PAYLOADS; i++) {
    strata_status st =
        strata_payload_load(payloads[i], strlen(payloads[i]), &docs[i]);
    REQUIRE(st == STRATA_OK);
  }
  /* Payload 14's integer does not fit int64 and is loaded as a real. */
  CHECK(json_is_real(json_object_get(docs[14], "n")));
  test_table(docs);
  test_payload_load();
  for (size_t i = 0; i < N_PAYLOADS; i++)
    json_decref(docs[i]);
  return test_result();
}
