/*
 * strata search: nearest neighbours of a literal vector, of queries read
 * from a file (with recall against ground truth), or of a stored point.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json_scan.h"
#include "progress.h"
#include "readers.h"

/* Maximum characters of a payload field that --payload-field prints. */
#define FIELD_MAX_CHARS 100

/* Queries sent per strata_search_batch call. */
#define QUERY_BATCH 64

static const char search_help[] =
    "usage: strata search NAME (--vector V | --queries FILE --format F | "
    "--like ID)\n"
    "                     [options]\n"
    "\n"
    "Prints the nearest points, best first, one per line:\n"
    "  RANK ID SCORE [PAYLOAD]\n"
    "Scores are similarities (Cosine, Dot: larger is closer) or distances\n"
    "(Euclid, Manhattan: smaller is closer).\n"
    "\n"
    "Query, one of:\n"
    "  --vector V          comma-separated numbers, e.g. 0.1,0.2,0.3\n"
    "  --queries FILE      vectors from a file; each query's hits follow "
    "a line\n"
    "                      \"query I\"\n"
    "  --like ID           the stored vector of point ID, which is left "
    "out of\n"
    "                      the results\n"
    "\n"
    "Options:\n"
    "  --format F          format of --queries: fvecs, bvecs, ivecs, idx, "
    "raw, jsonl\n"
    "  --dim N             with --format raw (default: the vector's dim)\n"
    "  --first N           run the first N queries of the file (default 1)\n"
    "  --truth FILE        ivecs ground truth: print recall@K for --queries\n"
    "  --quiet             with --truth, print only the recall line\n"
    "  --limit K           number of hits (default 10)\n"
    "  --ef N              HNSW beam width (default: the vector's "
    "ef_construct);\n"
    "                      larger is slower and finds more true "
    "neighbours\n"
    "  --exact             score every vector instead of walking the "
    "graph\n"
    "  --ignore-quantization\n"
    "                      walk the graph on the float vectors even when "
    "the\n"
    "                      vector has int8 codes\n"
    "  --rescore, --no-rescore\n"
    "                      with int8 codes: recompute the scores of the "
    "best\n"
    "                      candidates from the float vectors (the "
    "default), or\n"
    "                      return the scores estimated from the codes\n"
    "  --oversampling X    with int8 codes and rescoring: rescore the "
    "best\n"
    "                      X * limit candidates, X >= 1 (default 1)\n"
    "  --with-payload      print each hit's payload\n"
    "  --payload-field F   print only the top-level payload field F, cut "
    "to 100\n"
    "                      characters\n"
    "  --vector-name V     vector to search (default: the only one)\n"
    "  --filter JSON       return only points whose payload matches this\n"
    "                      filter, in Qdrant's JSON form, e.g.\n"
    "                      '{\"must\": {\"key\": \"city\", \"match\": "
    "{\"value\": \"Oslo\"}}}'\n"
    "  --explain           print the query plan as JSON instead of the "
    "hits\n"
    "                      (with --vector or --like)\n"
    "  --data DIR          database directory\n";

typedef struct search_state {
  const cli_args *args;
  const char *collection;
  strata_db *db;
  strata_collection_info *info;
  const char *vector_name; /* the collection's vector searched */
  uint32_t dim;
  uint32_t k;
  uint32_t ef; /* 0: the collection default */
  int exact;
  int with;
  const char *field;
  int quiet;
  const strata_filter *filter; /* NULL: no filter */
  int explain;
  strata_quantization_search_params quantization;
} search_state;

/* ------------------------------------------------------------------ */
/* Output                                                               */

/* Prints a string for one line of output: control characters become
 * spaces, and text beyond FIELD_MAX_CHARS code points becomes "...". */
static void print_field_text(const char *text, size_t len) {
  size_t chars = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if ((c & 0xC0) != 0x80 && ++chars > FIELD_MAX_CHARS) {
      fputs("...", stdout);
      return;
    }
    putchar(c < 0x20 || c == 0x7F ? ' ' : c);
  }
}

typedef struct field_lookup {
  const char *name;
  strata_json_span value;
  int found;
} field_lookup;

static int match_field(const char *text, const strata_json_span *key,
                       const strata_json_span *value, void *context) {
  field_lookup *lookup = context;
  if (!strata_json_key_equals(text, key, lookup->name))
    return 0;
  lookup->value = *value;
  lookup->found = 1;
  return 1;
}

/* Prints one top-level field of a payload, or "-" when it is missing. */
static void print_payload_field(const char *payload, size_t len,
                                const char *name) {
  strata_json_span object;
  strata_json_error error;
  field_lookup lookup = {name, {0, 0, STRATA_JSON_NULL}, 0};

  if (strata_json_scan(payload, len, &object, &error) < 0 ||
      object.type != STRATA_JSON_OBJECT) {
    fputs("(invalid payload)", stdout);
    return;
  }
  strata_json_object_foreach(payload, &object, match_field, &lookup);
  if (!lookup.found) {
    putchar('-');
    return;
  }
  if (lookup.value.type != STRATA_JSON_STRING) {
    print_field_text(payload + lookup.value.start,
                     lookup.value.end - lookup.value.start);
    return;
  }
  size_t decoded_len;
  char *decoded = strata_json_string_decode(payload, &lookup.value,
                                            &decoded_len);
  if (decoded == NULL) {
    fputs("(out of memory)", stdout);
    return;
  }
  print_field_text(decoded, decoded_len);
  free(decoded);
}

/* Prints the hits, skipping `skip` when not NULL, up to state->k lines. */
static void print_hits(const search_state *state,
                       const strata_records *records,
                       const strata_point_id *skip) {
  int rank = 0;
  for (size_t i = 0; i < records->count && (uint32_t)rank < state->k; i++) {
    const strata_record *hit = &records->items[i];
    char id[STRATA_ID_STRLEN];
    if (skip != NULL && hit->id.kind == skip->kind &&
        (skip->kind == STRATA_ID_NUM
             ? hit->id.num == skip->num
             : memcmp(hit->id.uuid, skip->uuid, 16) == 0))
      continue;
    printf("%d %s %.6g", ++rank, strata_id_format(&hit->id, id),
           (double)hit->score);
    if (state->field != NULL && hit->payload != NULL) {
      putchar(' ');
      print_payload_field(hit->payload, hit->payload_len, state->field);
    } else if (hit->payload != NULL) {
      putchar(' ');
      fwrite(hit->payload, 1, hit->payload_len, stdout);
    }
    putchar('\n');
  }
}

/* ------------------------------------------------------------------ */
/* Query sources                                                        */

static int search_one(const search_state *state, const float *query,
                      uint32_t dim, uint32_t k,
                      const strata_point_id *skip) {
  strata_search_request request = {state->vector_name, query, dim, k,
                                    state->with, state->ef, state->exact,
                                    state->filter};
  strata_records *records = NULL;

  request.quantization = state->quantization;
  if (state->explain) {
    char *plan = NULL;
    if (strata_search_explain(state->db, state->collection, &request,
                              &plan) != STRATA_OK)
      return cli_fail("explain failed", "%s", strata_last_error());
    printf("%s\n", plan);
    free(plan);
    return 0;
  }
  if (strata_search(state->db, state->collection, &request, &records) !=
      STRATA_OK)
    return cli_fail("search failed", "%s", strata_last_error());
  print_hits(state, records, skip);
  strata_records_free(records);
  return 0;
}

/* Parses "0.1,0.2,-3" into a new array. */
static int search_literal(const search_state *state, const char *text) {
  size_t cap = 1;
  for (const char *p = text; *p != '\0'; p++)
    cap += *p == ',';
  float *values = malloc(cap * sizeof *values);
  if (values == NULL)
    return cli_fail("search failed", "out of memory");

  size_t n = 0;
  const char *p = text;
  for (;;) {
    char *end;
    errno = 0;
    float value = strtof(p, &end);
    while (*end == ' ')
      end++;
    if (end == p || (*end != ',' && *end != '\0') || !isfinite(value)) {
      free(values);
      return cli_usage("search", "--vector \"%s\" is invalid at number "
                       "%zu (counting from 1): expected finite numbers "
                       "separated by commas",
                       text, n + 1);
    }
    values[n++] = value;
    if (*end == '\0')
      break;
    p = end + 1;
  }
  int rc = search_one(state, values, (uint32_t)n, state->k, NULL);
  free(values);
  return rc;
}

static int search_like(const search_state *state, const char *id_text) {
  strata_point_id id;
  strata_records *records = NULL;
  int rc = CLI_EXIT_FAILURE;

  if (cli_parse_id(id_text, &id) < 0)
    return CLI_EXIT_FAILURE;
  if (strata_get(state->db, state->collection, &id, 1, STRATA_WITH_VECTORS,
                 &records) != STRATA_OK)
    return cli_fail("search failed", "%s", strata_last_error());
  if (records->count == 0) {
    cli_fail("search failed", "point %s not found in collection \"%s\"",
             id_text, state->collection);
    goto done;
  }

  const strata_record *point = &records->items[0];
  for (size_t i = 0; i < point->n_vectors; i++) {
    const strata_named_vector *vector = &point->vectors[i];
    const char *name = vector->name != NULL ? vector->name : "";
    if (strcmp(name, state->vector_name) == 0) {
      /* One extra hit, since the point itself is normally among them. */
      rc = search_one(state, vector->data, vector->dim, state->k + 1, &id);
      goto done;
    }
  }
  char label[300];
  cli_fail("search failed", "point %s has no vector %s", id_text,
           cli_vector_label(state->vector_name, label, sizeof label));

done:
  strata_records_free(records);
  return rc;
}

/* Returns the query vector of a file row: for jsonl the vector with the
 * searched name or the unnamed one, otherwise the row's only vector. */
static const strata_batch_vector *
query_vector(const search_state *state, const strata_reader *reader,
             const strata_batch *batch, const strata_batch_row *row) {
  const strata_batch_vector *unnamed = NULL;
  for (size_t v = 0; v < row->n_vectors; v++) {
    const strata_batch_vector *vector = &batch->vectors[row->first_vector + v];
    const char *name = strata_reader_vector_name(reader, vector->name);
    if (strcmp(name, state->vector_name) == 0)
      return vector;
    if (name[0] == '\0')
      unnamed = vector;
  }
  return unnamed;
}

/* Counts how many hits of one query are among its first k true
 * neighbours. */
static size_t count_true_hits(const strata_records *records,
                              const int32_t *truth, uint32_t k) {
  size_t hits = 0;
  for (size_t i = 0; i < records->count && i < k; i++) {
    const strata_point_id *id = &records->items[i].id;
    if (id->kind != STRATA_ID_NUM)
      continue;
    for (uint32_t j = 0; j < k; j++) {
      if (truth[j] >= 0 && (uint64_t)truth[j] == id->num) {
        hits++;
        break;
      }
    }
  }
  return hits;
}

static int search_file(const search_state *state, const char *path) {
  const cli_args *args = state->args;
  const char *format_name = cli_get(args, "format");
  const char *truth_path = cli_get(args, "truth");
  strata_format format;
  strata_reader *reader = NULL;
  strata_batch batch;
  strata_ivecs truth = {NULL, 0, 0};
  strata_search_request requests[QUERY_BATCH];
  strata_records **results = NULL;
  char error[STRATA_READER_ERROR_MAX];
  uint64_t first = 1, dim = state->dim, done = 0, true_hits = 0;
  int rc = CLI_EXIT_USAGE;

  strata_batch_init(&batch);
  if (format_name == NULL) {
    cli_usage("search", "--queries needs --format");
    goto done;
  }
  if (strata_format_parse(format_name, &format) < 0) {
    cli_usage("search", "unknown --format \"%s\": expected fvecs, bvecs, "
              "ivecs, idx, raw or jsonl", format_name);
    goto done;
  }
  if (cli_get_u64(args, "first", 1, UINT64_MAX, &first) < 0 ||
      cli_get_u64(args, "dim", 1, STRATA_MAX_DIM, &dim) < 0)
    goto done;

  rc = CLI_EXIT_FAILURE;
  if (truth_path != NULL) {
    if (strata_ivecs_load(truth_path, &truth, error) < 0) {
      cli_fail("cannot load ground truth", "%s", error);
      goto done;
    }
    if (truth.dim < state->k) {
      cli_fail("cannot compute recall", "%s has %u neighbours per query, "
               "fewer than --limit %u", truth_path, truth.dim, state->k);
      goto done;
    }
  }
  if (strata_reader_open(path, format, (uint32_t)dim, &reader, error) < 0) {
    cli_fail("cannot read queries", "%s", error);
    goto done;
  }

  strata_progress progress;
  strata_progress_start(&progress, "searched", "queries", stderr, 0);
  while (done < first) {
    size_t want = first - done < QUERY_BATCH ? (size_t)(first - done)
                                             : QUERY_BATCH;
    if (strata_reader_next(reader, want, &batch) < 0) {
      cli_fail("cannot read queries", "%s", strata_reader_error(reader));
      goto done;
    }
    if (batch.count == 0)
      break;
    if (truth.data != NULL && done + batch.count > truth.rows) {
      cli_fail("cannot compute recall", "%s has %zu rows, fewer than the "
               "queries run", truth_path, truth.rows);
      goto done;
    }

    for (size_t i = 0; i < batch.count; i++) {
      const strata_batch_vector *vector =
          query_vector(state, reader, &batch, &batch.rows[i]);
      if (vector == NULL) {
        cli_fail("cannot read queries", "%s:%llu: no vector \"%s\" in this "
                 "line", path, (unsigned long long)batch.rows[i].line,
                 state->vector_name);
        goto done;
      }
      strata_search_request request = {
          state->vector_name, batch.values + vector->offset, vector->dim,
          state->k, state->with, state->ef, state->exact, state->filter};
      request.quantization = state->quantization;
      requests[i] = request;
    }
    if (strata_search_batch(state->db, state->collection, requests,
                            batch.count, &results) != STRATA_OK) {
      cli_fail("search failed", "query %llu: %s", (unsigned long long)done,
               strata_last_error());
      goto done;
    }
    for (size_t i = 0; i < batch.count; i++) {
      if (truth.data != NULL)
        true_hits += count_true_hits(
            results[i], truth.data + (done + i) * truth.dim, state->k);
      if (!state->quiet) {
        printf("query %llu\n", (unsigned long long)(done + i));
        print_hits(state, results[i], NULL);
      }
    }
    strata_records_free_array(results, batch.count);
    results = NULL;
    done += batch.count;
    strata_progress_update(&progress, done, (int64_t)first,
                           strata_reader_bytes_read(reader),
                           strata_reader_bytes_total(reader));
  }
  strata_progress_finish(&progress, done, NULL);
  if (done == 0) {
    cli_fail("cannot read queries", "%s has no rows", path);
    goto done;
  }
  if (truth.data != NULL)
    printf("recall@%u: %.4f over %llu queries\n", state->k,
           (double)true_hits / ((double)done * state->k),
           (unsigned long long)done);
  rc = 0;

done:
  strata_batch_free(&batch);
  strata_reader_close(reader);
  strata_ivecs_free(&truth);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Command                                                              */

/* Reads --ignore-quantization, --rescore, --no-rescore and
 * --oversampling into *out.  Returns -1 after printing the error line. */
static int get_quantization_params(const cli_args *args,
                                   strata_quantization_search_params *out) {
  memset(out, 0, sizeof *out);
  out->ignore = cli_has(args, "ignore-quantization");
  if (cli_has(args, "rescore") && cli_has(args, "no-rescore")) {
    cli_usage("search", "give at most one of --rescore and --no-rescore");
    return -1;
  }
  if (cli_has(args, "rescore"))
    out->rescore = STRATA_RESCORE_ON;
  if (cli_has(args, "no-rescore"))
    out->rescore = STRATA_RESCORE_OFF;
  const char *text = cli_get(args, "oversampling");
  if (text == NULL)
    return 0;
  char *end;
  errno = 0;
  float value = strtof(text, &end);
  if (end == text || *end != '\0' || errno != 0 || !isfinite(value) ||
      value < 1.0f) {
    cli_usage("search", "--oversampling %s is invalid: expected a number of "
              "at least 1", text);
    return -1;
  }
  out->oversampling = value;
  return 0;
}

int cmd_search(int argc, char **argv) {
  static const cli_option_spec specs[] = {
      {"vector", 1}, {"queries", 1},      {"like", 1},
      {"format", 1}, {"dim", 1},          {"first", 1},
      {"truth", 1},  {"quiet", 0},        {"limit", 1},
      {"with-payload", 0}, {"payload-field", 1}, {"vector-name", 1},
      {"ef", 1},     {"exact", 0},        {"filter", 1},
      {"explain", 0},
      {"ignore-quantization", 0}, {"rescore", 0}, {"no-rescore", 0},
      {"oversampling", 1},
      {NULL, 0}};
  cli_args args;
  search_state state;
  strata_filter *filter = NULL;
  int rc = CLI_EXIT_USAGE;

  memset(&state, 0, sizeof state);
  if (cli_parse(argc, argv, specs, search_help, &args) < 0)
    return CLI_EXIT_USAGE;
  const char *vector = cli_get(&args, "vector");
  const char *queries = cli_get(&args, "queries");
  const char *like = cli_get(&args, "like");
  int sources = (vector != NULL) + (queries != NULL) + (like != NULL);
  uint64_t k = 10;
  if (args.n_positional != 1) {
    cli_usage("search", "expected one collection name, got %zu arguments",
              args.n_positional);
    goto done;
  }
  if (sources != 1) {
    cli_usage("search", "give exactly one of --vector, --queries and "
              "--like");
    goto done;
  }
  if (cli_has(&args, "truth") && queries == NULL) {
    cli_usage("search", "--truth applies only with --queries");
    goto done;
  }
  if (cli_has(&args, "quiet") && !cli_has(&args, "truth")) {
    cli_usage("search", "--quiet applies only with --truth");
    goto done;
  }
  if (cli_has(&args, "explain") && queries != NULL) {
    cli_usage("search", "--explain applies only with --vector or --like");
    goto done;
  }
  if (cli_get_u64(&args, "limit", 1, 100000, &k) < 0)
    goto done;
  if (cli_get_filter(&args, &filter) < 0)
    goto done;
  uint64_t ef = 0;
  if (cli_has(&args, "ef") && cli_get_u64(&args, "ef", 1, 100000, &ef) < 0)
    goto done;
  if (get_quantization_params(&args, &state.quantization) < 0)
    goto done;

  state.args = &args;
  state.collection = args.positional[0];
  state.k = (uint32_t)k;
  state.ef = (uint32_t)ef;
  state.exact = cli_has(&args, "exact");
  state.field = cli_get(&args, "payload-field");
  state.quiet = cli_has(&args, "quiet");
  state.filter = filter;
  state.explain = cli_has(&args, "explain");
  if (cli_has(&args, "with-payload") || state.field != NULL)
    state.with = STRATA_WITH_PAYLOAD;

  rc = CLI_EXIT_FAILURE;
  state.db = cli_open_db(&args, 0);
  if (state.db == NULL)
    goto done;
  if (strata_collection_describe(state.db, state.collection, &state.info) !=
      STRATA_OK) {
    cli_fail("search failed", "%s", strata_last_error());
    goto done;
  }
  size_t index;
  if (cli_pick_vector(state.info, cli_get(&args, "vector-name"), &index) < 0)
    goto done;
  state.vector_name = state.info->vectors[index].name;
  state.dim = state.info->vectors[index].dim;

  if (vector != NULL)
    rc = search_literal(&state, vector);
  else if (like != NULL)
    rc = search_like(&state, like);
  else
    rc = search_file(&state, queries);

done:
  strata_collection_info_free(state.info);
  strata_close(state.db);
  strata_filter_free(filter);
  cli_args_free(&args);
  return rc;
}
