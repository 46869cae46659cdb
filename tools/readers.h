/*
 * Streaming readers for vector files, one interface for every format.
 *
 * Formats (every one may also be gzip-compressed; plain files are read
 * through zlib too):
 *   fvecs  per row: int32 dim, then dim float32 (little-endian)
 *   bvecs  per row: int32 dim, then dim uint8
 *   ivecs  per row: int32 dim, then dim int32, imported as floats
 *   idx    the MNIST IDX layout: big-endian header 0x00 0x00 type ndims,
 *          ndims uint32 sizes, then the data; the first size is the row
 *          count and the others are flattened into the dim.  Types: 0x08
 *          uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
 *          0x0E float64, all big-endian.
 *   raw    float32 rows of a dim the caller gives, no header
 *   jsonl  JSON lines: {"id": 7 or "uuid", "vector": [..] or
 *          {"name": [..], ...}, "payload": {...}}; payload optional
 *
 * A reader fills a caller-owned strata_batch with up to N rows per call.
 * Errors name the file and the byte offset (or line for jsonl) and what
 * is wrong there; strata_reader_error() returns the message.
 */
#ifndef STRATA_TOOLS_READERS_H
#define STRATA_TOOLS_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "strata.h"

typedef enum strata_format {
  STRATA_FORMAT_FVECS,
  STRATA_FORMAT_BVECS,
  STRATA_FORMAT_IVECS,
  STRATA_FORMAT_IDX,
  STRATA_FORMAT_RAW,
  STRATA_FORMAT_JSONL
} strata_format;

/* Parses "fvecs", "bvecs", "ivecs", "idx", "raw" or "jsonl".  Returns 0,
 * or -1 for an unknown name. */
int strata_format_parse(const char *name, strata_format *out);

/* Size of the message buffers that the functions below fill. */
#define STRATA_READER_ERROR_MAX 512

/* One vector of a row: values[offset, offset + dim) of its batch. */
typedef struct strata_batch_vector {
  size_t name; /* index for strata_reader_vector_name() */
  uint32_t dim;
  size_t offset;
} strata_batch_vector;

typedef struct strata_batch_row {
  int has_id; /* jsonl rows carry an id; other formats do not */
  strata_point_id id;
  size_t payload_offset; /* payload text is text[offset, offset + len) */
  size_t payload_len;    /* 0 when the row has no payload */
  size_t first_vector;   /* vectors[first_vector, + n_vectors) */
  size_t n_vectors;
  uint64_t line; /* jsonl: 1-based line number; 0 for other formats */
} strata_batch_row;

/* Rows read by one strata_reader_next() call.  The reader grows the
 * arrays as needed and reuses them on the next call.  For every format
 * except jsonl, each row has exactly one vector, and values holds the
 * rows back to back: a count x dim row-major matrix. */
typedef struct strata_batch {
  size_t count;
  strata_batch_row *rows;
  size_t rows_cap;
  strata_batch_vector *vectors;
  size_t n_vectors, vectors_cap;
  float *values;
  size_t n_values, values_cap;
  char *text; /* jsonl payload bytes, exactly as in the file */
  size_t text_len, text_cap;
} strata_batch;

void strata_batch_init(strata_batch *batch);
void strata_batch_free(strata_batch *batch);

typedef struct strata_reader strata_reader;

/* Opens `path` in `format`.  `dim` is required for raw and otherwise
 * ignored (0).  Dense formats read their header or first row here, so
 * strata_reader_vector_dim() is known on return; jsonl learns its
 * vectors from the rows.  Returns 0 and sets *out, or -1 with a message
 * in error (STRATA_READER_ERROR_MAX bytes). */
int strata_reader_open(const char *path, strata_format format, uint32_t dim,
                       strata_reader **out, char *error);

/* Reads up to max_rows rows into batch, replacing its contents.  Returns
 * 0 with batch->count rows (0 at the end of the file), or -1 on error;
 * after an error, strata_reader_error() describes it. */
int strata_reader_next(strata_reader *reader, size_t max_rows,
                       strata_batch *batch);

const char *strata_reader_error(const strata_reader *reader);

/* Returns the total row count, or -1 when it is not known in advance
 * (jsonl, gzip-compressed files and pipes, except IDX, whose header
 * states it). */
int64_t strata_reader_total_rows(const strata_reader *reader);

/* Returns bytes of the file consumed so far (compressed bytes for gzip)
 * and the file size, for progress reports. */
uint64_t strata_reader_bytes_read(const strata_reader *reader);
uint64_t strata_reader_bytes_total(const strata_reader *reader);

/* The vector names seen so far.  Dense formats have one, "".  For jsonl
 * a row's unnamed array is "" and an object's members are named; each
 * name keeps the dim of the first row that had it. */
size_t strata_reader_vector_count(const strata_reader *reader);
const char *strata_reader_vector_name(const strata_reader *reader,
                                      size_t index);
uint32_t strata_reader_vector_dim(const strata_reader *reader, size_t index);

void strata_reader_close(strata_reader *reader);

/* A JSON lines file in which every line is a JSON object, read one line
 * at a time (the payload file of an import). */
typedef struct strata_lines strata_lines;

int strata_lines_open(const char *path, strata_lines **out, char *error);

/* Sets *object and *len to the next line's object, exactly as written
 * (surrounding whitespace trimmed).  The text stays valid until the next
 * call.  Returns 1 for a line, 0 at the end, or -1 with a message in
 * strata_lines_error() for an empty line, invalid JSON or a value that
 * is not an object. */
int strata_lines_next(strata_lines *lines, const char **object, size_t *len);
const char *strata_lines_error(const strata_lines *lines);
uint64_t strata_lines_number(const strata_lines *lines); /* last line read */
void strata_lines_close(strata_lines *lines);

/* An ivecs file loaded whole: rows x dim int32, such as the ground-truth
 * neighbour ids of a benchmark. */
typedef struct strata_ivecs {
  int32_t *data;
  size_t rows;
  uint32_t dim;
} strata_ivecs;

/* Loads an ivecs file (gzip or plain).  Returns 0 or -1 with a message in
 * error.  Free with strata_ivecs_free(). */
int strata_ivecs_load(const char *path, strata_ivecs *out, char *error);
void strata_ivecs_free(strata_ivecs *ivecs);

#endif
