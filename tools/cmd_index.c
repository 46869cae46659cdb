/* The payload commands: index create|drop and payload
 * set|overwrite|delete|clear. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char index_help[] =
    "usage: strata index create NAME FIELD TYPE [--wait]\n"
    "       strata index drop NAME FIELD [--wait]\n"
    "\n"
    "Creates or drops a payload index on FIELD, a key path such as\n"
    "city, meta.color or items[].sku.  TYPE is keyword, integer, float,\n"
    "bool, uuid, datetime or text.  A new index is built over the points\n"
    "already stored.  Indexes make filters on the field faster; results\n"
    "are the same without them.\n"
    "\n"
    "  --wait       return only after the change is synced to disk\n"
    "  --data DIR   database directory\n";

int cmd_index(int argc, char **argv) {
  static const cli_option_spec specs[] = {{"wait", 0}, {NULL, 0}};
  cli_args args;
  strata_db *db = NULL;
  int rc = CLI_EXIT_USAGE;

  if (cli_parse(argc, argv, specs, index_help, &args) < 0)
    return CLI_EXIT_USAGE;
  const char *action = args.n_positional > 0 ? args.positional[0] : "";
  int create = strcmp(action, "create") == 0;
  if (!create && strcmp(action, "drop") != 0) {
    cli_usage("index", "expected create or drop, got \"%s\"", action);
    goto done;
  }
  if (args.n_positional != (create ? 4u : 3u)) {
    cli_usage("index", create ? "create expects NAME FIELD TYPE"
                              : "drop expects NAME FIELD");
    goto done;
  }
  rc = CLI_EXIT_FAILURE;
  db = cli_open_db(&args, 1);
  if (db == NULL)
    goto done;
  strata_write_options options = {cli_has(&args, "wait")};
  strata_status st =
      create ? strata_field_index_create(db, args.positional[1],
                                         args.positional[2],
                                         args.positional[3], &options)
             : strata_field_index_drop(db, args.positional[1],
                                       args.positional[2], &options);
  if (st != STRATA_OK) {
    cli_fail(create ? "index create failed" : "index drop failed", "%s",
             strata_last_error());
    goto done;
  }
  printf("%s index on %s\n", create ? "created" : "dropped",
         args.positional[2]);
  rc = 0;

done:
  strata_close(db);
  cli_args_free(&args);
  return rc;
}

static const char payload_help[] =
    "usage: strata payload set NAME JSON (--ids IDS | --filter JSON) "
    "[--key PATH]\n"
    "       strata payload overwrite NAME JSON (--ids IDS | --filter JSON)\n"
    "       strata payload delete NAME KEY... (--ids IDS | --filter JSON)\n"
    "       strata payload clear NAME (--ids IDS | --filter JSON)\n"
    "\n"
    "Changes the payloads of the points given by --ids (comma-separated)\n"
    "or matched by --filter, in one atomic write, and prints how many\n"
    "points changed.  set merges the top-level keys of the JSON object\n"
    "into each payload (a key set to null is removed); with --key, into\n"
    "the object at that path.  overwrite replaces each payload, delete\n"
    "removes the given key paths and clear empties the payload.\n"
    "\n"
    "  --ids IDS      comma-separated point ids\n"
    "  --filter JSON  the points whose payload matches this filter\n"
    "  --key PATH     with set: merge into the object at this key path\n"
    "  --wait         return only after the change is synced to disk\n"
    "  --data DIR     database directory\n";

/* Parses "1,2,uuid" into a new array; returns NULL after printing the
 * error line. */
static strata_point_id *parse_id_list(const char *text, size_t *n) {
  size_t cap = 1;
  for (const char *p = text; *p; p++)
    cap += *p == ',';
  strata_point_id *ids = calloc(cap, sizeof *ids);
  char *copy = strdup(text);
  if (!ids || !copy) {
    free(ids);
    free(copy);
    cli_fail("payload", "out of memory");
    return NULL;
  }
  *n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    if (cli_parse_id(tok, &ids[*n]) < 0) {
      free(ids);
      free(copy);
      return NULL;
    }
    (*n)++;
  }
  free(copy);
  return ids;
}

int cmd_payload(int argc, char **argv) {
  static const cli_option_spec specs[] = {
      {"ids", 1}, {"filter", 1}, {"key", 1}, {"wait", 0}, {NULL, 0}};
  cli_args args;
  strata_db *db = NULL;
  strata_filter *filter = NULL;
  strata_point_id *ids = NULL;
  int rc = CLI_EXIT_USAGE;

  if (cli_parse(argc, argv, specs, payload_help, &args) < 0)
    return CLI_EXIT_USAGE;
  const char *action = args.n_positional > 0 ? args.positional[0] : "";
  size_t min_args = strcmp(action, "clear") == 0 ? 2 : 3;
  int known = strcmp(action, "set") == 0 ||
              strcmp(action, "overwrite") == 0 ||
              strcmp(action, "delete") == 0 || strcmp(action, "clear") == 0;
  if (!known) {
    cli_usage("payload", "expected set, overwrite, delete or clear, got "
              "\"%s\"", action);
    goto done;
  }
  if (args.n_positional < min_args ||
      (strcmp(action, "delete") != 0 && args.n_positional != min_args)) {
    cli_usage("payload", "wrong number of arguments for %s", action);
    goto done;
  }
  if (cli_has(&args, "ids") == cli_has(&args, "filter")) {
    cli_usage("payload", "give exactly one of --ids and --filter");
    goto done;
  }
  if (cli_has(&args, "key") && strcmp(action, "set") != 0) {
    cli_usage("payload", "--key applies only to set");
    goto done;
  }
  strata_point_selector points = {NULL, 0, NULL};
  if (cli_has(&args, "ids")) {
    ids = parse_id_list(cli_get(&args, "ids"), &points.n_ids);
    if (ids == NULL)
      goto done;
    points.ids = ids;
  } else {
    if (cli_get_filter(&args, &filter) < 0)
      goto done;
    points.filter = filter;
  }

  rc = CLI_EXIT_FAILURE;
  db = cli_open_db(&args, 1);
  if (db == NULL)
    goto done;
  strata_write_options options = {cli_has(&args, "wait")};
  const char *name = args.positional[1];
  uint64_t updated = 0;
  strata_status st;
  if (strcmp(action, "set") == 0)
    st = strata_payload_set(db, name, &points, args.positional[2],
                            cli_get(&args, "key"), &options, &updated);
  else if (strcmp(action, "overwrite") == 0)
    st = strata_payload_overwrite(db, name, &points, args.positional[2],
                                  &options, &updated);
  else if (strcmp(action, "delete") == 0)
    st = strata_payload_delete_keys(
        db, name, &points, (const char *const *)args.positional + 2,
        args.n_positional - 2, &options, &updated);
  else
    st = strata_payload_clear(db, name, &points, &options, &updated);
  if (st != STRATA_OK) {
    cli_fail("payload update failed", "%s", strata_last_error());
    goto done;
  }
  printf("updated %llu points\n", (unsigned long long)updated);
  rc = 0;

done:
  strata_close(db);
  strata_filter_free(filter);
  free(ids);
  cli_args_free(&args);
  return rc;
}
