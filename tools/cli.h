/*
 * Shared parts of the strata command-line tool: option parsing, opening
 * the database, error output and the commands' entry points.
 *
 * Every failure ends the process with exactly one line on stderr,
 * "strata: <what failed>: <why>", and a nonzero exit code: 1 for a failed
 * operation, 2 for invalid command-line arguments.
 */
#ifndef STRATA_TOOLS_CLI_H
#define STRATA_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "strata.h"

#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

/* One accepted option of a command, without the leading "--". */
typedef struct cli_option_spec {
  const char *name;
  int takes_value;
} cli_option_spec;

typedef struct cli_option {
  const char *name;
  const char *value; /* NULL for a flag */
} cli_option;

/* A parsed command line: the options in the order given and the other
 * arguments. */
typedef struct cli_args {
  const char *command;
  const char *data_dir;
  cli_option *options;
  size_t n_options;
  char **positional;
  size_t n_positional;
} cli_args;

/* Parses argv (argv[0] is the command name).  Accepts "--name value",
 * "--name=value", "--data DIR" everywhere and "--" to end options; an
 * argument that starts with a single '-' followed by a digit is
 * positional, so negative numbers reach the command.  On "--help" or
 * "-h" prints `help` to stdout and exits 0.  On an unknown option or a
 * missing value prints the error line and returns -1. */
int cli_parse(int argc, char **argv, const cli_option_spec *specs,
              const char *help, cli_args *out);
void cli_args_free(cli_args *args);

/* Returns the last value given for option `name`, or NULL. */
const char *cli_get(const cli_args *args, const char *name);

/* Returns nonzero when flag or option `name` was given. */
int cli_has(const cli_args *args, const char *name);

/* Parses option `name` as an unsigned integer in [min, max]; leaves *out
 * unchanged when the option is absent.  Returns -1 after printing the
 * error line when the value is invalid. */
int cli_get_u64(const cli_args *args, const char *name, uint64_t min,
                uint64_t max, uint64_t *out);

/* Prints "strata: <what>: <detail>" to stderr as one line (newlines in
 * the detail become spaces) and returns CLI_EXIT_FAILURE. */
int cli_fail(const char *what, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* As cli_fail, with "(see 'strata COMMAND --help')" appended; returns
 * CLI_EXIT_USAGE. */
int cli_usage(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Opens the database in args->data_dir.  Writers create it when missing;
 * readers open it read-only.  Returns NULL after printing the error. */
strata_db *cli_open_db(const cli_args *args, int writable);

/* Parses a point id, printing the error line on failure. */
int cli_parse_id(const char *text, strata_point_id *out);

/* Finds the collection's vector to use: `requested` when given (it must
 * exist), else the only vector of the collection.  Sets *index into
 * info->vectors.  Returns -1 after printing the error line. */
int cli_pick_vector(const strata_collection_info *info,
                    const char *requested, size_t *index);

/* Prints a point as one JSON object: id, payload when present, and the
 * vectors when present ("vector": an array for the unnamed vector alone,
 * otherwise an object of name -> array). */
void cli_print_record_json(FILE *out, const strata_record *record);

/* Prints a vector name for messages: "x" quoted, or "(unnamed)". */
const char *cli_vector_label(const char *name, char *buf, size_t size);

int cmd_create(int argc, char **argv);
int cmd_drop(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_count(int argc, char **argv);
int cmd_scroll(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_payload(int argc, char **argv);

/* Parses option --filter into *out (NULL when absent).  Returns -1 after
 * printing the error line when the JSON is not a valid filter. */
int cli_get_filter(const cli_args *args, strata_filter **out);

#endif
