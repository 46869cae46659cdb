/* The point commands: get, delete, count and scroll. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_get_filter(const cli_args *args, strata_filter **out) {
  *out = NULL;
  const char *text = cli_get(args, "filter");
  if (text == NULL)
    return 0;
  if (strata_filter_parse_json(text, strlen(text), out) != STRATA_OK) {
    cli_usage(args->command, "--filter is invalid: %s", strata_last_error());
    return -1;
  }
  return 0;
}

/* Parses positional arguments [first, n) as point ids into a new array. */
static strata_point_id *parse_ids(const cli_args *args, size_t first) {
  size_t n = args->n_positional - first;
  strata_point_id *ids = calloc(n, sizeof *ids);

  if (ids == NULL) {
    cli_fail(args->command, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (cli_parse_id(args->positional[first + i], &ids[i]) < 0) {
      free(ids);
      return NULL;
    }
  }
  return ids;
}

static int same_id(const strata_point_id *a, const strata_point_id *b) {
  if (a->kind != b->kind)
    return 0;
  if (a->kind == STRATA_ID_NUM)
    return a->num == b->num;
  return memcmp(a->uuid, b->uuid, sizeof a->uuid) == 0;
}

static const char get_help[] =
    "usage: strata get NAME ID... [--with-vectors]\n"
    "\n"
    "Prints each point as one line of JSON: id and payload, and with\n"
    "--with-vectors its vectors.  Exits with an error when an id is not\n"
    "found, after printing the points that were.\n"
    "\n"
    "  --with-vectors   include the vectors\n"
    "  --filter JSON    print only the points that match this filter\n"
    "  --data DIR       database directory\n";

int cmd_get(int argc, char **argv) {
  static const cli_option_spec specs[] = {{"with-vectors", 0}, {NULL, 0}};
  cli_args args;
  strata_point_id *ids = NULL;
  strata_records *records = NULL;
  strata_db *db = NULL;
  int rc = CLI_EXIT_FAILURE;

  if (cli_parse(argc, argv, specs, get_help, &args) < 0)
    return CLI_EXIT_USAGE;
  if (args.n_positional < 2) {
    rc = cli_usage("get", "expected a collection name and at least one id");
    goto done;
  }
  ids = parse_ids(&args, 1);
  if (ids == NULL)
    goto done;
  db = cli_open_db(&args, 0);
  if (db == NULL)
    goto done;

  size_t n_ids = args.n_positional - 1;
  int with = STRATA_WITH_PAYLOAD;
  if (cli_has(&args, "with-vectors"))
    with |= STRATA_WITH_VECTORS;
  if (strata_get(db, args.positional[0], ids, n_ids, with, &records) !=
      STRATA_OK) {
    cli_fail("get failed", "%s", strata_last_error());
    goto done;
  }
  for (size_t i = 0; i < records->count; i++)
    cli_print_record_json(stdout, &records->items[i]);

  /* Name the first requested id that was not returned. */
  for (size_t i = 0; i < n_ids; i++) {
    int found = 0;
    for (size_t j = 0; j < records->count && !found; j++)
      found = same_id(&ids[i], &records->items[j].id);
    if (!found) {
      char id[STRATA_ID_STRLEN];
      fflush(stdout);
      cli_fail("get failed", "point %s not found in collection \"%s\"",
               strata_id_format(&ids[i], id), args.positional[0]);
      goto done;
    }
  }
  rc = 0;

done:
  strata_records_free(records);
  strata_close(db);
  free(ids);
  cli_args_free(&args);
  return rc;
}

static const char delete_help[] =
    "usage: strata delete NAME (ID... | --filter JSON) [--wait]\n"
    "\n"
    "Deletes points by id, or every point that matches a filter; ids that\n"
    "do not exist are ignored.  Prints how many points were deleted.\n"
    "\n"
    "  --filter JSON  delete the points whose payload matches this filter\n"
    "                 (Qdrant's JSON form; {} matches every point)\n"
    "  --wait         return only after the deletion is synced to disk\n"
    "  --data DIR     database directory\n";

int cmd_delete(int argc, char **argv) {
  static const cli_option_spec specs[] = {
      {"wait", 0}, {"filter", 1}, {NULL, 0}};
  cli_args args;
  strata_point_id *ids = NULL;
  strata_filter *filter = NULL;
  strata_db *db = NULL;
  int rc = CLI_EXIT_FAILURE;

  if (cli_parse(argc, argv, specs, delete_help, &args) < 0)
    return CLI_EXIT_USAGE;
  int by_filter = cli_has(&args, "filter");
  if (args.n_positional < 1 || (by_filter != (args.n_positional == 1))) {
    rc = cli_usage("delete", "expected a collection name and either ids or "
                   "--filter");
    goto done;
  }
  if (by_filter ? cli_get_filter(&args, &filter) < 0
                : (ids = parse_ids(&args, 1)) == NULL) {
    rc = by_filter ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    goto done;
  }
  db = cli_open_db(&args, 1);
  if (db == NULL)
    goto done;

  strata_write_options options = {cli_has(&args, "wait")};
  uint64_t deleted = 0;
  strata_status st =
      by_filter ? strata_delete_by_filter(db, args.positional[0], filter,
                                          &options, &deleted)
                : strata_delete(db, args.positional[0], ids,
                                args.n_positional - 1, &options, &deleted);
  if (st != STRATA_OK) {
    cli_fail("delete failed", "%s", strata_last_error());
    goto done;
  }
  if (by_filter)
    printf("deleted %llu points\n", (unsigned long long)deleted);
  else
    printf("deleted %llu of %zu points\n", (unsigned long long)deleted,
           args.n_positional - 1);
  rc = 0;

done:
  strata_close(db);
  free(ids);
  strata_filter_free(filter);
  cli_args_free(&args);
  return rc;
}

static const char count_help[] =
    "usage: strata count NAME [--filter JSON]\n"
    "\n"
    "Prints the number of points in a collection.\n"
    "\n"
    "  --filter JSON  count only the points that match this filter\n"
    "  --data DIR     database directory\n";

int cmd_count(int argc, char **argv) {
  static const cli_option_spec specs[] = {{"filter", 1}, {NULL, 0}};
  cli_args args;
  strata_filter *filter = NULL;
  int rc = CLI_EXIT_FAILURE;

  if (cli_parse(argc, argv, specs, count_help, &args) < 0)
    return CLI_EXIT_USAGE;
  if (args.n_positional != 1) {
    rc = cli_usage("count", "expected one collection name, got %zu "
                   "arguments", args.n_positional);
    cli_args_free(&args);
    return rc;
  }
  if (cli_get_filter(&args, &filter) < 0) {
    cli_args_free(&args);
    return CLI_EXIT_USAGE;
  }
  strata_db *db = cli_open_db(&args, 0);
  if (db != NULL) {
    uint64_t count = 0;
    if (strata_count_filtered(db, args.positional[0], filter, &count) !=
        STRATA_OK) {
      cli_fail("count failed", "%s", strata_last_error());
    } else {
      printf("%llu\n", (unsigned long long)count);
      rc = 0;
    }
    strata_close(db);
  }
  strata_filter_free(filter);
  cli_args_free(&args);
  return rc;
}

static const char scroll_help[] =
    "usage: strata scroll NAME [--offset ID] [--limit N] [--with-vectors]\n"
    "                     [--filter JSON]\n"
    "\n"
    "Prints points in id order, one JSON object per line.  When more\n"
    "points follow, a last line {\"next_page_offset\": ID} gives the\n"
    "--offset of the next page.\n"
    "\n"
    "  --offset ID      first id to print (default: the smallest)\n"
    "  --limit N        points to print (default 10)\n"
    "  --with-vectors   include the vectors\n"
    "  --filter JSON    print only the points that match this filter\n"
    "  --data DIR       database directory\n";

int cmd_scroll(int argc, char **argv) {
  static const cli_option_spec specs[] = {
      {"offset", 1}, {"limit", 1}, {"with-vectors", 0}, {"filter", 1},
      {NULL, 0}};
  cli_args args;
  strata_filter *filter = NULL;
  strata_records *records = NULL;
  strata_db *db = NULL;
  int rc = CLI_EXIT_FAILURE;

  if (cli_parse(argc, argv, specs, scroll_help, &args) < 0)
    return CLI_EXIT_USAGE;
  uint64_t limit = 10;
  strata_point_id offset;
  const char *offset_text = cli_get(&args, "offset");
  if (args.n_positional != 1) {
    rc = cli_usage("scroll", "expected one collection name, got %zu "
                   "arguments", args.n_positional);
    goto done;
  }
  if (cli_get_u64(&args, "limit", 1, 1000000, &limit) < 0) {
    rc = CLI_EXIT_USAGE;
    goto done;
  }
  if (offset_text != NULL && cli_parse_id(offset_text, &offset) < 0)
    goto done;
  if (cli_get_filter(&args, &filter) < 0) {
    rc = CLI_EXIT_USAGE;
    goto done;
  }
  db = cli_open_db(&args, 0);
  if (db == NULL)
    goto done;

  int with = STRATA_WITH_PAYLOAD;
  if (cli_has(&args, "with-vectors"))
    with |= STRATA_WITH_VECTORS;
  strata_point_id next;
  int has_next = 0;
  if (strata_scroll_filtered(db, args.positional[0], filter,
                             offset_text != NULL ? &offset : NULL,
                             (size_t)limit, with, &records, &next,
                             &has_next) != STRATA_OK) {
    cli_fail("scroll failed", "%s", strata_last_error());
    goto done;
  }
  for (size_t i = 0; i < records->count; i++)
    cli_print_record_json(stdout, &records->items[i]);
  if (has_next) {
    char id[STRATA_ID_STRLEN];
    strata_id_format(&next, id);
    if (next.kind == STRATA_ID_NUM)
      printf("{\"next_page_offset\":%s}\n", id);
    else
      printf("{\"next_page_offset\":\"%s\"}\n", id);
  }
  rc = 0;

done:
  strata_records_free(records);
  strata_close(db);
  strata_filter_free(filter);
  cli_args_free(&args);
  return rc;
}
