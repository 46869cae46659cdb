/* The collection commands: create, info and drop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char create_help[] =
    "usage: strata create NAME --dim N --distance D [--vector NAME:DIM:D]...\n"
    "\n"
    "Creates a collection.  Give its unnamed vector with --dim and\n"
    "--distance, named vectors with repeated --vector, or both.\n"
    "\n"
    "  --dim N               dimension of the unnamed vector (1-65536)\n"
    "  --distance D          Cosine, Euclid, Dot or Manhattan\n"
    "  --vector NAME:DIM:D   a named vector, e.g. image:784:Euclid\n"
    "  --m N                 HNSW links per node, 2-128 (default 16)\n"
    "  --ef-construct N      HNSW build beam width, 4-4096 (default 100)\n"
    "  --full-scan-threshold-kb N\n"
    "                        search exactly below N KiB of vectors\n"
    "                        (default 10000)\n"
    "  --quantization T      int8: graph searches walk one-byte codes per\n"
    "                        dimension and rescore the best candidates\n"
    "                        from the float vectors; none (default)\n"
    "  --quantile Q          with int8: share of the vector components\n"
    "                        inside the code bounds, above 0.5 and at\n"
    "                        most 1 (default 0.99)\n"
    "  --always-ram          with int8: Qdrant's always_ram, stored and\n"
    "                        shown; Strata keeps the codes in RAM anyway\n"
    "  --on-disk             keep the float vectors in a memory-mapped\n"
    "                        file under DIR/collections instead of on the\n"
    "                        heap; the graph and int8 codes stay in RAM\n"
    "  (the HNSW, quantization and on-disk options apply to every vector\n"
    "  of the collection)\n"
    "  --data DIR            database directory\n";

/* Parses "NAME:DIM:DISTANCE"; the name may itself contain ':', so the
 * dim and distance are taken from the end. */
static int parse_vector_spec(char *text, strata_vector_config *out) {
  char *last = strrchr(text, ':');
  if (last == NULL || last == text)
    return -1;
  *last = '\0';
  char *middle = strrchr(text, ':');
  if (middle == NULL) {
    *last = ':';
    return -1;
  }
  *middle = '\0';

  char *end;
  errno = 0;
  unsigned long dim = strtoul(middle + 1, &end, 10);
  if (*end != '\0' || middle[1] < '0' || middle[1] > '9' || errno != 0 ||
      dim < 1 || dim > STRATA_MAX_DIM)
    return -1;
  if (strata_distance_parse(last + 1, &out->distance) != STRATA_OK)
    return -1;
  out->name = text;
  out->dim = (uint32_t)dim;
  return 0;
}

/* Reads --quantization, --quantile and --always-ram into *out.  Returns
 * -1 after printing the error line. */
static int get_quantization(const cli_args *args,
                            strata_quantization_config *out) {
  const char *type = cli_get(args, "quantization");
  memset(out, 0, sizeof *out);
  if (type != NULL && strcmp(type, "int8") == 0) {
    out->type = STRATA_QUANTIZATION_INT8;
  } else if (type != NULL && strcmp(type, "none") != 0) {
    cli_usage("create", "--quantization \"%s\" is invalid: expected int8 "
              "or none", type);
    return -1;
  }
  const char *quantile = cli_get(args, "quantile");
  int int8 = out->type == STRATA_QUANTIZATION_INT8;
  if ((quantile != NULL || cli_has(args, "always-ram")) && !int8) {
    cli_usage("create", "--quantile and --always-ram need --quantization "
              "int8");
    return -1;
  }
  if (!int8)
    return 0;
  out->quantile = STRATA_DEFAULT_QUANTILE;
  out->always_ram = cli_has(args, "always-ram");
  if (quantile != NULL) {
    char *end;
    errno = 0;
    float value = strtof(quantile, &end);
    /* Written so that NaN fails too. */
    if (end == quantile || *end != '\0' || errno != 0 ||
        !(value > 0.5f && value <= 1.0f)) {
      cli_usage("create", "--quantile %s is invalid: expected a number "
                "above 0.5 and at most 1", quantile);
      return -1;
    }
    out->quantile = value;
  }
  return 0;
}

int cmd_create(int argc, char **argv) {
  static const cli_option_spec specs[] = {
      {"dim", 1}, {"distance", 1}, {"vector", 1}, {"m", 1},
      {"ef-construct", 1}, {"full-scan-threshold-kb", 1},
      {"quantization", 1}, {"quantile", 1}, {"always-ram", 0},
      {"on-disk", 0}, {NULL, 0}};
  cli_args args;
  strata_vector_config *vectors = NULL;
  size_t n_vectors = 0;
  strata_db *db = NULL;
  int rc = CLI_EXIT_USAGE;

  if (cli_parse(argc, argv, specs, create_help, &args) < 0)
    return CLI_EXIT_USAGE;
  if (args.n_positional != 1) {
    cli_usage("create", "expected one collection name, got %zu arguments",
              args.n_positional);
    goto done;
  }
  vectors = calloc(args.n_options + 1, sizeof *vectors);
  if (vectors == NULL) {
    rc = cli_fail("create", "out of memory");
    goto done;
  }

  /* The unnamed vector: --dim and --distance go together. */
  const char *distance = cli_get(&args, "distance");
  if (cli_has(&args, "dim") != (distance != NULL)) {
    cli_usage("create", "--dim and --distance must be given together");
    goto done;
  }
  if (distance != NULL) {
    uint64_t dim = 0;
    if (cli_get_u64(&args, "dim", 1, STRATA_MAX_DIM, &dim) < 0)
      goto done;
    if (strata_distance_parse(distance, &vectors[0].distance) != STRATA_OK) {
      cli_usage("create", "unknown distance \"%s\": expected Cosine, Euclid, "
                "Dot or Manhattan", distance);
      goto done;
    }
    vectors[0].name = "";
    vectors[0].dim = (uint32_t)dim;
    n_vectors = 1;
  }

  for (size_t i = 0; i < args.n_options; i++) {
    if (strcmp(args.options[i].name, "vector") != 0)
      continue;
    char *spec = (char *)args.options[i].value;
    char *copy = strdup(spec);
    if (copy == NULL || parse_vector_spec(spec, &vectors[n_vectors]) < 0) {
      cli_usage("create", "--vector \"%s\" is invalid: expected NAME:DIM:"
                "DISTANCE with DIM 1-65536 and DISTANCE Cosine, Euclid, Dot "
                "or Manhattan", copy != NULL ? copy : spec);
      free(copy);
      goto done;
    }
    free(copy);
    n_vectors++;
  }
  if (n_vectors == 0) {
    cli_usage("create", "give --dim and --distance, or at least one "
              "--vector");
    goto done;
  }

  strata_hnsw_config hnsw = {0, 0, 0};
  uint64_t value = 0;
  if (cli_has(&args, "m")) {
    if (cli_get_u64(&args, "m", 2, 128, &value) < 0)
      goto done;
    hnsw.m = (uint32_t)value;
  }
  if (cli_has(&args, "ef-construct")) {
    if (cli_get_u64(&args, "ef-construct", 4, 4096, &value) < 0)
      goto done;
    hnsw.ef_construct = (uint32_t)value;
  }
  if (cli_has(&args, "full-scan-threshold-kb")) {
    if (cli_get_u64(&args, "full-scan-threshold-kb", 1, UINT32_MAX,
                    &value) < 0)
      goto done;
    hnsw.full_scan_threshold_kb = (uint32_t)value;
  }
  strata_quantization_config quantization;
  if (get_quantization(&args, &quantization) < 0)
    goto done;
  for (size_t i = 0; i < n_vectors; i++) {
    vectors[i].hnsw = hnsw;
    vectors[i].quantization = quantization;
    vectors[i].on_disk = cli_has(&args, "on-disk");
  }

  db = cli_open_db(&args, 1);
  if (db == NULL) {
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  strata_collection_config config = {vectors, n_vectors};
  if (strata_collection_create(db, args.positional[0], &config) !=
      STRATA_OK) {
    rc = cli_fail("create failed", "%s", strata_last_error());
    goto done;
  }
  printf("created collection \"%s\"\n", args.positional[0]);
  rc = 0;

done:
  strata_close(db);
  free(vectors);
  cli_args_free(&args);
  return rc;
}

static const char drop_help[] =
    "usage: strata drop NAME\n"
    "\n"
    "Deletes a collection and all its points.\n"
    "\n"
    "  --data DIR   database directory\n";

int cmd_drop(int argc, char **argv) {
  static const cli_option_spec specs[] = {{NULL, 0}};
  cli_args args;
  int rc = CLI_EXIT_FAILURE;

  if (cli_parse(argc, argv, specs, drop_help, &args) < 0)
    return CLI_EXIT_USAGE;
  if (args.n_positional != 1) {
    rc = cli_usage("drop", "expected one collection name, got %zu "
                   "arguments", args.n_positional);
    cli_args_free(&args);
    return rc;
  }
  strata_db *db = cli_open_db(&args, 1);
  if (db != NULL) {
    if (strata_collection_drop(db, args.positional[0]) != STRATA_OK) {
      cli_fail("drop failed", "%s", strata_last_error());
    } else {
      printf("dropped collection \"%s\"\n", args.positional[0]);
      rc = 0;
    }
    strata_close(db);
  }
  cli_args_free(&args);
  return rc;
}

static const char info_help[] =
    "usage: strata info [NAME]\n"
    "\n"
    "Without NAME, lists the collections and their point counts.  With\n"
    "NAME, describes that collection's vectors and counts its points.\n"
    "\n"
    "  --data DIR   database directory\n";

static int list_collections(strata_db *db) {
  char **names = NULL;

  if (strata_collection_list(db, &names) != STRATA_OK)
    return cli_fail("info failed", "%s", strata_last_error());
  for (char **name = names; *name != NULL; name++) {
    uint64_t count = 0;
    if (strata_count(db, *name, &count) != STRATA_OK) {
      strata_names_free(names);
      return cli_fail("info failed", "%s", strata_last_error());
    }
    printf("%s\t%llu points\n", *name, (unsigned long long)count);
  }
  strata_names_free(names);
  return 0;
}

static int describe_collection(strata_db *db, const char *name) {
  strata_collection_info *info = NULL;

  if (strata_collection_describe(db, name, &info) != STRATA_OK)
    return cli_fail("info failed", "%s", strata_last_error());
  printf("collection: %s\n", info->name);
  printf("points: %llu\n", (unsigned long long)info->points_count);
  printf("indexed vectors: %llu\n",
         (unsigned long long)info->indexed_vectors_count);
  for (size_t i = 0; i < info->n_vectors; i++) {
    char label[300];
    const strata_hnsw_config *hnsw = &info->vectors[i].hnsw;
    printf("vector %s: dim %u, distance %s, hnsw m %u, ef_construct %u, "
           "full_scan_threshold_kb %u\n",
           cli_vector_label(info->vectors[i].name, label, sizeof label),
           info->vectors[i].dim,
           strata_distance_name(info->vectors[i].distance), hnsw->m,
           hnsw->ef_construct, hnsw->full_scan_threshold_kb);
    const strata_quantization_config *q = &info->vectors[i].quantization;
    if (q->type == STRATA_QUANTIZATION_INT8)
      printf("vector %s quantization: int8, quantile %g, always_ram %s, "
             "codes %llu bytes\n",
             label, (double)q->quantile, q->always_ram ? "yes" : "no",
             (unsigned long long)info->quantization_bytes[i]);
    if (info->vectors[i].on_disk)
      printf("vector %s storage: on_disk, float vectors in a memory-mapped "
             "file\n",
             label);
  }
  for (size_t i = 0; i < info->n_field_indexes; i++)
    printf("payload index %s: %s\n", info->field_indexes[i].field,
           info->field_indexes[i].type);
  strata_collection_info_free(info);
  return 0;
}

int cmd_info(int argc, char **argv) {
  static const cli_option_spec specs[] = {{NULL, 0}};
  cli_args args;
  int rc = CLI_EXIT_FAILURE;

  if (cli_parse(argc, argv, specs, info_help, &args) < 0)
    return CLI_EXIT_USAGE;
  if (args.n_positional > 1) {
    rc = cli_usage("info", "expected at most one collection name, got %zu "
                   "arguments", args.n_positional);
    cli_args_free(&args);
    return rc;
  }
  strata_db *db = cli_open_db(&args, 0);
  if (db != NULL) {
    rc = args.n_positional == 0 ? list_collections(db)
                                : describe_collection(db, args.positional[0]);
    strata_close(db);
  }
  cli_args_free(&args);
  return rc;
}
