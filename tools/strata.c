/*
 * strata: the command-line tool.  This file contains main(), the command
 * table and the helpers that every command uses; the commands live in
 * cmd_*.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_DATA_DIR "./strata-data"

static const char main_help[] =
    "usage: strata <command> [options]\n"
    "\n"
    "Commands:\n"
    "  create NAME         create a collection\n"
    "  import NAME FILE    import vectors from fvecs, bvecs, ivecs, idx, raw "
    "or jsonl\n"
    "  search NAME         find the points nearest to a vector, to queries "
    "from a\n"
    "                      file, or to a stored point\n"
    "  get NAME ID...      print points as JSON\n"
    "  scroll NAME         print points in id order\n"
    "  count NAME          print the number of points\n"
    "  delete NAME ID...   delete points\n"
    "  info [NAME]         list collections, or describe one\n"
    "  drop NAME           delete a collection and its points\n"
    "  index create|drop   create or drop a payload index\n"
    "  payload ACTION      set, overwrite, delete or clear payloads\n"
    "  serve               serve the database over gRPC with Qdrant's API\n"
    "\n"
    "Options of every command:\n"
    "  --data DIR          database directory (default: $STRATA_DATA, else\n"
    "                      " DEFAULT_DATA_DIR ")\n"
    "  --help              describe the command's options\n"
    "\n"
    "strata --version prints the version.\n";

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
} commands[] = {
    {"create", cmd_create}, {"import", cmd_import}, {"search", cmd_search},
    {"get", cmd_get},       {"scroll", cmd_scroll}, {"count", cmd_count},
    {"delete", cmd_delete}, {"info", cmd_info},     {"drop", cmd_drop},
    {"serve", cmd_serve},   {"index", cmd_index},   {"payload", cmd_payload},
};

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(main_help, stderr);
    return CLI_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(main_help, stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("strata %s\n", STRATA_VERSION_STRING);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  return cli_fail("unknown command", "\"%s\" (run 'strata --help' for the "
                  "list)", argv[1]);
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */

static void print_error_line(const char *what, const char *format,
                             va_list args, const char *suffix) {
  char detail[1024];
  vsnprintf(detail, sizeof detail, format, args);
  for (char *p = detail; *p != '\0'; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  fprintf(stderr, "strata: %s: %s%s\n", what, detail, suffix);
}

int cli_fail(const char *what, const char *format, ...) {
  va_list args;
  va_start(args, format);
  print_error_line(what, format, args, "");
  va_end(args);
  return CLI_EXIT_FAILURE;
}

int cli_usage(const char *command, const char *format, ...) {
  char what[64], suffix[96];
  va_list args;

  snprintf(what, sizeof what, "invalid arguments to %s", command);
  snprintf(suffix, sizeof suffix, " (see 'strata %s --help')", command);
  va_start(args, format);
  print_error_line(what, format, args, suffix);
  va_end(args);
  return CLI_EXIT_USAGE;
}

/* ------------------------------------------------------------------ */
/* Options                                                              */

static const cli_option_spec *find_spec(const cli_option_spec *specs,
                                        const char *name, size_t len) {
  for (; specs->name != NULL; specs++)
    if (strlen(specs->name) == len && strncmp(specs->name, name, len) == 0)
      return specs;
  return NULL;
}

int cli_parse(int argc, char **argv, const cli_option_spec *specs,
              const char *help, cli_args *out) {
  static const cli_option_spec data_spec = {"data", 1};
  int options_done = 0;

  memset(out, 0, sizeof *out);
  out->command = argv[0];
  out->options = calloc((size_t)argc, sizeof *out->options);
  out->positional = calloc((size_t)argc, sizeof *out->positional);
  if (out->options == NULL || out->positional == NULL) {
    cli_args_free(out);
    cli_fail(argv[0], "out of memory");
    return -1;
  }

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    int is_negative_number = arg[0] == '-' && (arg[1] >= '0' &&
                                               arg[1] <= '9');
    if (options_done || arg[0] != '-' || arg[1] == '\0' ||
        is_negative_number) {
      out->positional[out->n_positional++] = argv[i];
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      options_done = 1;
      continue;
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(help, stdout);
      cli_args_free(out);
      exit(0);
    }
    if (arg[1] != '-') {
      cli_usage(argv[0], "unknown option \"%s\"", arg);
      cli_args_free(out);
      return -1;
    }

    /* A long option, with its value after '=' or in the next argument. */
    const char *name = arg + 2;
    const char *equals = strchr(name, '=');
    size_t name_len = equals != NULL ? (size_t)(equals - name) : strlen(name);
    const cli_option_spec *spec = find_spec(specs, name, name_len);
    if (spec == NULL && name_len == 4 && strncmp(name, "data", 4) == 0)
      spec = &data_spec;
    if (spec == NULL) {
      cli_usage(argv[0], "unknown option \"--%.*s\"", (int)name_len, name);
      cli_args_free(out);
      return -1;
    }
    const char *value = NULL;
    if (spec->takes_value) {
      if (equals != NULL) {
        value = equals + 1;
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        cli_usage(argv[0], "option \"--%s\" needs a value", spec->name);
        cli_args_free(out);
        return -1;
      }
    } else if (equals != NULL) {
      cli_usage(argv[0], "option \"--%s\" takes no value", spec->name);
      cli_args_free(out);
      return -1;
    }
    out->options[out->n_options].name = spec->name;
    out->options[out->n_options].value = value;
    out->n_options++;
  }

  out->data_dir = cli_get(out, "data");
  if (out->data_dir == NULL)
    out->data_dir = getenv("STRATA_DATA");
  if (out->data_dir == NULL || out->data_dir[0] == '\0')
    out->data_dir = DEFAULT_DATA_DIR;
  return 0;
}

void cli_args_free(cli_args *args) {
  free(args->options);
  free(args->positional);
  args->options = NULL;
  args->positional = NULL;
}

const char *cli_get(const cli_args *args, const char *name) {
  const char *value = NULL;
  for (size_t i = 0; i < args->n_options; i++)
    if (strcmp(args->options[i].name, name) == 0)
      value = args->options[i].value;
  return value;
}

int cli_has(const cli_args *args, const char *name) {
  for (size_t i = 0; i < args->n_options; i++)
    if (strcmp(args->options[i].name, name) == 0)
      return 1;
  return 0;
}

int cli_get_u64(const cli_args *args, const char *name, uint64_t min,
                uint64_t max, uint64_t *out) {
  const char *text = cli_get(args, name);
  char *end;

  if (text == NULL)
    return 0;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE ||
      value < min || value > max) {
    cli_usage(args->command, "--%s %s is invalid: expected an integer from "
              "%llu to %llu", name, text, (unsigned long long)min,
              (unsigned long long)max);
    return -1;
  }
  *out = value;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Database and points                                                  */

strata_db *cli_open_db(const cli_args *args, int writable) {
  strata_open_options options = {writable, !writable};
  strata_db *db = NULL;

  strata_status st = strata_open(args->data_dir, &options, &db);
  if (st != STRATA_OK) {
    char what[600];
    snprintf(what, sizeof what, "cannot open database %s", args->data_dir);
    /* Reading commands never create a database, so the library's advice
     * (open it for writing) is replaced by the commands that do. */
    if (st == STRATA_ERR_NOT_FOUND && !writable)
      cli_fail(what,
               "it does not exist or holds no Strata database; make one "
               "with 'strata create' or 'strata import --create', or pass "
               "--data DIR");
    else
      cli_fail(what, "%s", strata_last_error());
    return NULL;
  }
  return db;
}

int cli_parse_id(const char *text, strata_point_id *out) {
  if (strata_id_parse(text, out) != STRATA_OK) {
    cli_fail("invalid point id", "%s", strata_last_error());
    return -1;
  }
  return 0;
}

const char *cli_vector_label(const char *name, char *buf, size_t size) {
  if (name == NULL || name[0] == '\0')
    snprintf(buf, size, "(unnamed)");
  else
    snprintf(buf, size, "\"%s\"", name);
  return buf;
}

int cli_pick_vector(const strata_collection_info *info,
                    const char *requested, size_t *index) {
  if (requested != NULL) {
    for (size_t i = 0; i < info->n_vectors; i++) {
      if (strcmp(info->vectors[i].name, requested) == 0) {
        *index = i;
        return 0;
      }
    }
    char label[300];
    cli_fail("vector not found", "collection \"%s\" has no vector %s",
             info->name, cli_vector_label(requested, label, sizeof label));
    return -1;
  }
  if (info->n_vectors == 1) {
    *index = 0;
    return 0;
  }

  /* Several vectors and no choice: list them in the message. */
  char names[1024] = "";
  size_t used = 0;
  for (size_t i = 0; i < info->n_vectors && used < sizeof names; i++) {
    char label[300];
    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                             i > 0 ? ", " : "",
                             cli_vector_label(info->vectors[i].name, label,
                                              sizeof label));
  }
  cli_fail("ambiguous vector", "collection \"%s\" has vectors %s: choose one "
           "with --vector-name", info->name, names);
  return -1;
}

static void print_vector_json(FILE *out, const strata_named_vector *vector) {
  fputc('[', out);
  for (uint32_t i = 0; i < vector->dim; i++)
    fprintf(out, "%s%.9g", i > 0 ? "," : "", (double)vector->data[i]);
  fputc(']', out);
}

/* Writes a vector name as a JSON string; names are UTF-8 without control
 * characters, so only '"' and '\\' need escapes. */
static void print_name_json(FILE *out, const char *name) {
  fputc('"', out);
  for (const char *p = name; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      fputc('\\', out);
    fputc(*p, out);
  }
  fputc('"', out);
}

void cli_print_record_json(FILE *out, const strata_record *record) {
  char id[STRATA_ID_STRLEN];

  strata_id_format(&record->id, id);
  if (record->id.kind == STRATA_ID_NUM)
    fprintf(out, "{\"id\":%s", id);
  else
    fprintf(out, "{\"id\":\"%s\"", id);
  if (record->payload != NULL) {
    fputs(",\"payload\":", out);
    fwrite(record->payload, 1, record->payload_len, out);
  }
  if (record->vectors != NULL) {
    fputs(",\"vector\":", out);
    int unnamed_only = record->n_vectors == 1 &&
                       (record->vectors[0].name == NULL ||
                        record->vectors[0].name[0] == '\0');
    if (unnamed_only) {
      print_vector_json(out, &record->vectors[0]);
    } else {
      fputc('{', out);
      for (size_t i = 0; i < record->n_vectors; i++) {
        if (i > 0)
          fputc(',', out);
        print_name_json(out, record->vectors[i].name != NULL
                                 ? record->vectors[i].name
                                 : "");
        fputc(':', out);
        print_vector_json(out, &record->vectors[i]);
      }
      fputc('}', out);
    }
  }
  fputs("}\n", out);
}
