/*
 * strata import: reads a vector file in batches and upserts each batch.
 *
 * Batches are upserted as they are read, so a failure part way leaves the
 * earlier batches stored; the error message states how many points were.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "readers.h"

static const char import_help[] =
    "usage: strata import NAME FILE --format F [options]\n"
    "\n"
    "Imports vectors into collection NAME.  FILE may be gzip-compressed.\n"
    "Points get the ids N, N+1, ... from --ids-from, except with jsonl,\n"
    "whose lines carry ids and payloads.\n"
    "\n"
    "  --format F         fvecs, bvecs, ivecs, idx, raw or jsonl\n"
    "  --dim N            vector dimension; required for raw, checked for "
    "the others\n"
    "  --payloads FILE    JSON lines file whose line i is the payload of "
    "vector i\n"
    "  --ids-from N       id of the first vector (default 0)\n"
    "  --batch N          points per upsert (default 1000)\n"
    "  --limit N          import at most N vectors\n"
    "  --wait             sync each batch to disk before the next\n"
    "  --vector-name V    collection vector to fill (default: the only one, "
    "or\n"
    "                     for jsonl the names in the file)\n"
    "  --create           create the collection from the file's dimension "
    "if missing\n"
    "  --distance D       with --create: Cosine, Euclid, Dot or Manhattan\n"
    "  --data DIR         database directory\n"
    "\n"
    "Formats:\n"
    "  fvecs, bvecs, ivecs  per row: int32 dim, then dim float32, uint8 or "
    "int32\n"
    "  idx                  MNIST IDX: big-endian header, rows of any IDX "
    "type\n"
    "  raw                  float32 rows without header; needs --dim\n"
    "  jsonl                one object per line: {\"id\": 7 or \"UUID\", "
    "\"vector\":\n"
    "                       [...] or {\"name\": [...]}, \"payload\": "
    "{...}}\n";

typedef struct import_state {
  const cli_args *args;
  const char *collection;
  const char *path;
  const char *payloads_path;
  const char *vector_name; /* --vector-name, or NULL */
  strata_format format;
  strata_reader *reader;
  strata_lines *payloads;
  strata_db *db;
  strata_collection_info *info;
  strata_batch batch;

  /* Reader vector index -> index in info->vectors, or -1 until checked. */
  long *targets;
  size_t n_targets;

  uint64_t next_id;
  int ids_exhausted; /* the id 2^64-1 has been used */
  uint64_t limit;
  uint64_t batch_size;
  uint64_t imported;
  strata_write_options write_options;

  /* Per-batch arrays handed to strata_upsert. */
  strata_point *points;
  strata_named_vector *vectors;
  size_t vectors_cap;
  char *payload_text;
  size_t payload_len, payload_cap;
  size_t *payload_offsets;

  char error[1024];
} import_state;

static int import_error(import_state *state, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int import_error(import_state *state, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(state->error, sizeof state->error, format, args);
  va_end(args);
  return -1;
}

/* ------------------------------------------------------------------ */
/* Vector mapping                                                       */

static long find_vector(const strata_collection_info *info,
                        const char *name) {
  for (size_t i = 0; i < info->n_vectors; i++)
    if (strcmp(info->vectors[i].name, name) == 0)
      return (long)i;
  return -1;
}

/* Chooses the collection vector for the file's unnamed vector. */
static const char *unnamed_target(const import_state *state) {
  if (state->vector_name != NULL)
    return state->vector_name;
  if (find_vector(state->info, "") >= 0 || state->info->n_vectors != 1)
    return "";
  return state->info->vectors[0].name;
}

/* Maps reader vector `index` to a collection vector and checks its dim.
 * `line` is the jsonl line for messages, 0 for other formats. */
static int resolve_vector(import_state *state, size_t index, uint64_t line) {
  if (index < state->n_targets && state->targets[index] >= 0)
    return 0;
  if (index >= state->n_targets) {
    size_t n = index + 8;
    long *grown = realloc(state->targets, n * sizeof *grown);
    if (grown == NULL)
      return import_error(state, "out of memory");
    for (size_t i = state->n_targets; i < n; i++)
      grown[i] = -1;
    state->targets = grown;
    state->n_targets = n;
  }

  const char *name = strata_reader_vector_name(state->reader, index);
  uint32_t dim = strata_reader_vector_dim(state->reader, index);
  const char *target = name[0] == '\0' ? unnamed_target(state) : name;
  char where[600], label[300];
  if (line > 0)
    snprintf(where, sizeof where, "%s:%llu", state->path,
             (unsigned long long)line);
  else
    snprintf(where, sizeof where, "%s", state->path);

  long found = find_vector(state->info, target);
  if (found < 0) {
    if (target[0] == '\0' && state->info->n_vectors > 1)
      return import_error(state, "collection \"%s\" has several vectors: "
                          "choose one with --vector-name", state->collection);
    return import_error(state, "%s: collection \"%s\" has no vector %s",
                        where, state->collection,
                        cli_vector_label(target, label, sizeof label));
  }
  if (state->info->vectors[found].dim != dim)
    return import_error(state, "%s: vectors have dim %u, but vector %s of "
                        "collection \"%s\" has dim %u", where, dim,
                        cli_vector_label(target, label, sizeof label),
                        state->collection, state->info->vectors[found].dim);
  state->targets[index] = found;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Collection                                                           */

/* Creates the collection from the vectors the reader has seen. */
static int create_collection(import_state *state) {
  const char *distance_name = cli_get(state->args, "distance");
  size_t n = strata_reader_vector_count(state->reader);
  strata_distance distance;

  if (distance_name == NULL)
    return import_error(state, "collection \"%s\" does not exist, and "
                        "--create needs --distance", state->collection);
  if (strata_distance_parse(distance_name, &distance) != STRATA_OK)
    return import_error(state, "unknown distance \"%s\": expected Cosine, "
                        "Euclid, Dot or Manhattan", distance_name);
  if (n == 0)
    return import_error(state, "%s has no rows to take the vector "
                        "dimensions from", state->path);

  strata_vector_config *vectors = calloc(n, sizeof *vectors);
  if (vectors == NULL)
    return import_error(state, "out of memory");
  for (size_t i = 0; i < n; i++) {
    const char *name = strata_reader_vector_name(state->reader, i);
    if (name[0] == '\0' && state->vector_name != NULL)
      name = state->vector_name;
    vectors[i].name = name;
    vectors[i].dim = strata_reader_vector_dim(state->reader, i);
    vectors[i].distance = distance;
  }
  /* NOTE: a jsonl vector name first seen after the first batch is not
   * created here; its rows then fail with "has no vector". */
  strata_collection_config config = {vectors, n};
  strata_status status =
      strata_collection_create(state->db, state->collection, &config);
  free(vectors);
  if (status != STRATA_OK)
    return import_error(state, "%s", strata_last_error());
  fprintf(stdout, "created collection \"%s\"\n", state->collection);
  return 0;
}

static int load_collection(import_state *state) {
  strata_status status =
      strata_collection_describe(state->db, state->collection, &state->info);
  if (status == STRATA_ERR_NOT_FOUND && cli_has(state->args, "create")) {
    if (create_collection(state) < 0)
      return -1;
    status =
        strata_collection_describe(state->db, state->collection, &state->info);
  } else if (status == STRATA_ERR_NOT_FOUND) {
    return import_error(state, "%s (create it with 'strata create', or pass "
                        "--create --distance D)", strata_last_error());
  }
  if (status != STRATA_OK)
    return import_error(state, "%s", strata_last_error());
  return 0;
}

/* ------------------------------------------------------------------ */
/* Batches                                                              */

/* Reads the next --payloads line for the point at `row` of the batch. */
static int read_payload(import_state *state, size_t row) {
  const char *object;
  size_t len;
  int rc = strata_lines_next(state->payloads, &object, &len);

  if (rc < 0)
    return import_error(state, "%s", strata_lines_error(state->payloads));
  if (rc == 0)
    return import_error(state, "%s has %llu lines, fewer than the vectors "
                        "in %s", state->payloads_path,
                        (unsigned long long)(state->imported + row),
                        state->path);
  if (state->payload_len + len > state->payload_cap) {
    size_t cap = state->payload_cap == 0 ? 1 << 16 : state->payload_cap;
    while (cap < state->payload_len + len)
      cap *= 2;
    char *grown = realloc(state->payload_text, cap);
    if (grown == NULL)
      return import_error(state, "out of memory");
    state->payload_text = grown;
    state->payload_cap = cap;
  }
  memcpy(state->payload_text + state->payload_len, object, len);
  state->payload_offsets[row] = state->payload_len;
  state->payload_len += len;
  return 0;
}

/* Turns the reader's batch into points and upserts them. */
static int upsert_batch(import_state *state) {
  strata_batch *batch = &state->batch;

  if (batch->n_vectors > state->vectors_cap) {
    strata_named_vector *grown =
        realloc(state->vectors, batch->n_vectors * sizeof *grown);
    if (grown == NULL)
      return import_error(state, "out of memory");
    state->vectors = grown;
    state->vectors_cap = batch->n_vectors;
  }
  state->payload_len = 0;

  for (size_t i = 0; i < batch->count; i++) {
    const strata_batch_row *row = &batch->rows[i];
    strata_point *point = &state->points[i];
    memset(point, 0, sizeof *point);

    /* Ids come from the file (jsonl) or count up from --ids-from. */
    if (row->has_id) {
      point->id = row->id;
    } else if (state->ids_exhausted) {
      return import_error(state, "ids run past 2^64-1: lower --ids-from");
    } else {
      point->id = strata_id_num(state->next_id);
      if (state->next_id == UINT64_MAX)
        state->ids_exhausted = 1;
      else
        state->next_id++;
    }

    for (size_t v = 0; v < row->n_vectors; v++) {
      const strata_batch_vector *in = &batch->vectors[row->first_vector + v];
      if (resolve_vector(state, in->name, row->line) < 0)
        return -1;
      strata_named_vector *out = &state->vectors[row->first_vector + v];
      out->name = state->info->vectors[state->targets[in->name]].name;
      out->data = batch->values + in->offset;
      out->dim = in->dim;
    }
    point->vectors = &state->vectors[row->first_vector];
    point->n_vectors = row->n_vectors;

    if (row->payload_len > 0) {
      point->payload = batch->text + row->payload_offset;
      point->payload_len = row->payload_len;
    } else if (state->payloads != NULL && read_payload(state, i) < 0) {
      return -1;
    }
  }

  /* Payload pointers are set last: the text buffer may move as it grows. */
  if (state->payloads != NULL) {
    for (size_t i = 0; i < batch->count; i++) {
      size_t end = i + 1 < batch->count ? state->payload_offsets[i + 1]
                                        : state->payload_len;
      state->points[i].payload =
          state->payload_text + state->payload_offsets[i];
      state->points[i].payload_len = end - state->payload_offsets[i];
    }
  }

  /* The engine's message names a point of the batch; the prefix names
   * where the batch came from in the file. */
  if (strata_upsert(state->db, state->collection, state->points,
                    batch->count, &state->write_options) != STRATA_OK) {
    if (batch->rows[0].line > 0)
      return import_error(state, "%s lines %llu to %llu: %s", state->path,
                          (unsigned long long)batch->rows[0].line,
                          (unsigned long long)batch->rows[batch->count - 1]
                              .line,
                          strata_last_error());
    return import_error(state, "%s rows %llu to %llu: %s", state->path,
                        (unsigned long long)state->imported,
                        (unsigned long long)(state->imported + batch->count -
                                             1),
                        strata_last_error());
  }
  state->imported += batch->count;
  return 0;
}

static size_t next_batch_rows(const import_state *state) {
  uint64_t rows = state->batch_size;
  if (state->limit > 0 && state->limit - state->imported < rows)
    rows = state->limit - state->imported;
  return (size_t)rows;
}

static int read_batch(import_state *state) {
  if (strata_reader_next(state->reader, next_batch_rows(state),
                         &state->batch) < 0)
    return import_error(state, "%s", strata_reader_error(state->reader));
  return 0;
}

/* Fails when the payload file has lines left after the last vector. */
static int check_payloads_used(import_state *state) {
  const char *object;
  size_t len;

  if (state->payloads == NULL ||
      (state->limit > 0 && state->imported == state->limit))
    return 0;
  int rc = strata_lines_next(state->payloads, &object, &len);
  if (rc < 0)
    return import_error(state, "%s", strata_lines_error(state->payloads));
  if (rc > 0)
    return import_error(state, "%s has more lines than %s has vectors "
                        "(%llu)", state->payloads_path, state->path,
                        (unsigned long long)state->imported);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Command                                                              */

/* Checks the options that do not need the file.  Returns 0 or the exit
 * code after printing the error line. */
static int check_options(import_state *state, const cli_args *args) {
  const char *format = cli_get(args, "format");

  if (args->n_positional != 2)
    return cli_usage("import", "expected a collection name and a file, got "
                     "%zu arguments", args->n_positional);
  if (format == NULL)
    return cli_usage("import", "missing --format");
  if (strata_format_parse(format, &state->format) < 0)
    return cli_usage("import", "unknown --format \"%s\": expected fvecs, "
                     "bvecs, ivecs, idx, raw or jsonl", format);
  if (state->format == STRATA_FORMAT_JSONL && cli_has(args, "payloads"))
    return cli_usage("import", "--payloads does not apply to jsonl, whose "
                     "lines carry payloads");
  if (state->format == STRATA_FORMAT_JSONL && cli_has(args, "ids-from"))
    return cli_usage("import", "--ids-from does not apply to jsonl, whose "
                     "lines carry ids");
  if (cli_has(args, "distance") && !cli_has(args, "create"))
    return cli_usage("import", "--distance applies only with --create");
  if (state->format == STRATA_FORMAT_RAW && !cli_has(args, "dim"))
    return cli_usage("import", "--format raw needs --dim");
  return 0;
}

int cmd_import(int argc, char **argv) {
  static const cli_option_spec specs[] = {
      {"format", 1},   {"dim", 1},    {"payloads", 1}, {"ids-from", 1},
      {"batch", 1},    {"wait", 0},   {"limit", 1},    {"vector-name", 1},
      {"create", 0},   {"distance", 1}, {NULL, 0}};
  cli_args args;
  import_state state;
  strata_progress progress;
  char what[400];
  int rc;

  memset(&state, 0, sizeof state);
  strata_batch_init(&state.batch);
  if (cli_parse(argc, argv, specs, import_help, &args) < 0)
    return CLI_EXIT_USAGE;
  rc = check_options(&state, &args);
  if (rc != 0)
    goto done;

  rc = CLI_EXIT_USAGE;
  uint64_t dim = 0;
  state.batch_size = 1000;
  if (cli_get_u64(&args, "dim", 1, STRATA_MAX_DIM, &dim) < 0 ||
      cli_get_u64(&args, "ids-from", 0, UINT64_MAX, &state.next_id) < 0 ||
      cli_get_u64(&args, "batch", 1, 1000000, &state.batch_size) < 0 ||
      cli_get_u64(&args, "limit", 1, UINT64_MAX, &state.limit) < 0)
    goto done;
  state.args = &args;
  state.collection = args.positional[0];
  state.path = args.positional[1];
  state.payloads_path = cli_get(&args, "payloads");
  state.vector_name = cli_get(&args, "vector-name");
  state.write_options.wait = cli_has(&args, "wait");
  snprintf(what, sizeof what, "import into \"%s\" failed", state.collection);

  /* Open the inputs before the database, so that a bad file leaves no
   * trace. */
  rc = CLI_EXIT_FAILURE;
  char error[STRATA_READER_ERROR_MAX];
  if (strata_reader_open(state.path, state.format, (uint32_t)dim,
                         &state.reader, error) < 0) {
    cli_fail(what, "%s", error);
    goto done;
  }
  if (dim > 0 && state.format != STRATA_FORMAT_JSONL &&
      strata_reader_vector_dim(state.reader, 0) != dim) {
    cli_fail(what, "%s has dim %u, but --dim is %llu", state.path,
             strata_reader_vector_dim(state.reader, 0),
             (unsigned long long)dim);
    goto done;
  }
  if (state.payloads_path != NULL &&
      strata_lines_open(state.payloads_path, &state.payloads, error) < 0) {
    cli_fail(what, "%s", error);
    goto done;
  }
  state.points = calloc(state.batch_size, sizeof *state.points);
  state.payload_offsets =
      calloc(state.batch_size, sizeof *state.payload_offsets);
  if (state.points == NULL || state.payload_offsets == NULL) {
    cli_fail(what, "out of memory");
    goto done;
  }

  state.db = cli_open_db(&args, 1);
  if (state.db == NULL)
    goto done;

  /* The first batch comes before the collection so that --create learns
   * the vectors of a jsonl file. */
  if (read_batch(&state) < 0 || load_collection(&state) < 0) {
    cli_fail(what, "%s", state.error);
    goto done;
  }

  int64_t total = strata_reader_total_rows(state.reader);
  if (state.limit > 0 && (total < 0 || (uint64_t)total > state.limit))
    total = (int64_t)state.limit;
  strata_progress_start(&progress, "imported", "points", stderr, 0);
  while (state.batch.count > 0) {
    if (upsert_batch(&state) < 0 || read_batch(&state) < 0)
      break;
    strata_progress_update(&progress, state.imported, total,
                           strata_reader_bytes_read(state.reader),
                           strata_reader_bytes_total(state.reader));
  }
  if (state.error[0] == '\0')
    check_payloads_used(&state);
  strata_progress_finish(&progress, state.imported,
                         state.error[0] == '\0' ? stdout : NULL);
  if (state.error[0] != '\0') {
    if (state.imported > 0)
      snprintf(what, sizeof what, "import into \"%s\" failed after %llu "
               "points", state.collection,
               (unsigned long long)state.imported);
    cli_fail(what, "%s", state.error);
    goto done;
  }
  rc = 0;

done:
  strata_collection_info_free(state.info);
  strata_close(state.db);
  strata_reader_close(state.reader);
  strata_lines_close(state.payloads);
  strata_batch_free(&state.batch);
  free(state.targets);
  free(state.points);
  free(state.vectors);
  free(state.payload_text);
  free(state.payload_offsets);
  cli_args_free(&args);
  return rc;
}
