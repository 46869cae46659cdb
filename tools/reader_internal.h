/*
 * Shared internals of the readers: the gzip-transparent byte source, the
 * reader state and batch growth.  Used only by readers.c and reader_jsonl.c.
 */
#ifndef STRATA_TOOLS_READER_INTERNAL_H
#define STRATA_TOOLS_READER_INTERNAL_H

#include <stdarg.h>
#include <zlib.h>

#include "readers.h"

/* Longest JSON line accepted: 64 MiB, far above a line holding a
 * STRATA_MAX_DIM vector written with 17 significant digits (about 1.6 MiB). */
#define STRATA_MAX_LINE (64u << 20)

/* A file read through zlib, which passes plain files through unchanged. */
typedef struct source {
  char *path;
  gzFile gz;
  int compressed;
  int sized;          /* a regular file, so file_size is its length */
  uint64_t file_size; /* 0 unless sized */
  uint64_t offset; /* decompressed bytes consumed */
  int at_eof;

  /* Line mode only: a window of decompressed bytes. */
  char *buf;
  size_t buf_len, buf_pos, buf_cap;
  uint64_t line; /* number of the line last returned */

  char error[STRATA_READER_ERROR_MAX];
} source;

int source_open(source *src, const char *path);
void source_close(source *src);

/* Reads up to n bytes.  Returns the count read (less than n only at the
 * end of the data) or -1 with src->error set. */
long source_read(source *src, void *dst, size_t n);

/* Returns the next line without its '\n' (and without a '\r' before it)
 * in *line, valid until the next call: 1 for a line, 0 at the end, -1 on
 * error.  A last line without '\n' is returned like any other. */
int source_getline(source *src, char **line, size_t *len);

uint64_t source_bytes_read(const source *src);

/* Formats "PATH: byte N: message" into src->error and returns -1.  For
 * gzip files the offset counts decompressed bytes, as the message states. */
int source_fail_at(source *src, uint64_t offset, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats "PATH:LINE: message" into src->error and returns -1. */
int source_fail_line(source *src, uint64_t line, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

struct strata_reader {
  strata_format format;
  source src;
  uint32_t dim;      /* dense formats */
  size_t elem_size;  /* bytes per value in the file */
  int idx_type;      /* IDX type byte */
  int header_read;   /* vecs formats: row 0's dim was consumed by open */
  int64_t total;     /* rows, or -1 when unknown */
  uint64_t rows_read;
  unsigned char *scratch;
  size_t scratch_cap;

  /* Vector names; dense formats have the single name "". */
  char **names;
  uint32_t *dims;
  size_t n_names, names_cap;
};

/* Grows the batch arrays; each returns -1 when out of memory. */
int batch_reserve_rows(strata_batch *batch, size_t rows);
float *batch_push_values(strata_batch *batch, size_t n);
strata_batch_vector *batch_push_vector(strata_batch *batch);
int batch_push_text(strata_batch *batch, const char *text, size_t len);
void batch_clear(strata_batch *batch);

/* Returns the index of `name` among the reader's vectors, adding it with
 * `dim` when new; -1 when out of memory. */
long reader_vector_index(strata_reader *reader, const char *name,
                         uint32_t dim);

int jsonl_next(strata_reader *reader, size_t max_rows, strata_batch *batch);

#endif
