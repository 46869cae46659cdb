/*
 * The byte source, batches, and the binary formats: fvecs, bvecs, ivecs,
 * IDX and raw float32.  JSON lines live in reader_jsonl.c.
 */
#include "reader_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* zlib's internal buffer; larger than its 8 KiB default for throughput. */
#define SOURCE_GZ_BUFFER (256u << 10)

/* ------------------------------------------------------------------ */
/* Byte source                                                          */

int source_open(source *src, const char *path) {
  struct stat st;
  int fd;

  memset(src, 0, sizeof *src);
  src->path = strdup(path);
  if (src->path == NULL) {
    snprintf(src->error, sizeof src->error, "%s: out of memory", path);
    return -1;
  }
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(src->error, sizeof src->error, "%s: cannot open: %s", path,
             strerror(errno));
    return -1;
  }
  if (fstat(fd, &st) != 0) {
    snprintf(src->error, sizeof src->error, "%s: cannot read: %s", path,
             strerror(errno));
    close(fd);
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    snprintf(src->error, sizeof src->error, "%s: cannot read: it is a "
             "directory", path);
    close(fd);
    return -1;
  }
  src->sized = S_ISREG(st.st_mode);
  src->file_size = src->sized ? (uint64_t)st.st_size : 0;
  src->gz = gzdopen(fd, "rb");
  if (src->gz == NULL) {
    snprintf(src->error, sizeof src->error, "%s: cannot open: out of memory",
             path);
    close(fd);
    return -1;
  }
  gzbuffer(src->gz, SOURCE_GZ_BUFFER);
  /* Called right after gzdopen, gzdirect reads ahead to look for the gzip
   * magic number. */
  src->compressed = gzdirect(src->gz) == 0;
  return 0;
}

void source_close(source *src) {
  if (src->gz != NULL)
    gzclose(src->gz);
  free(src->path);
  free(src->buf);
  src->gz = NULL;
  src->path = NULL;
  src->buf = NULL;
}

static int source_check_gz(source *src) {
  int errnum;
  const char *message = gzerror(src->gz, &errnum);
  if (errnum == Z_OK || errnum == Z_STREAM_END)
    return 0;
  if (errnum == Z_ERRNO)
    message = strerror(errno);
  return source_fail_at(src, src->offset, "read failed: %s", message);
}

long source_read(source *src, void *dst, size_t n) {
  size_t done = 0;

  /* gzread takes an unsigned int length, so large reads go in pieces. */
  while (done < n && !src->at_eof) {
    size_t piece = n - done;
    if (piece > (1u << 30))
      piece = 1u << 30;
    int got = gzread(src->gz, (char *)dst + done, (unsigned)piece);
    if (got < 0) {
      source_check_gz(src);
      return -1;
    }
    done += (size_t)got;
    src->offset += (uint64_t)got;
    if ((size_t)got < piece) {
      src->at_eof = 1;
      if (source_check_gz(src) < 0)
        return -1;
    }
  }
  return (long)done;
}

int source_getline(source *src, char **line, size_t *len) {
  if (src->buf == NULL) {
    src->buf_cap = 256u << 10;
    src->buf = malloc(src->buf_cap + 1);
    if (src->buf == NULL)
      return source_fail_line(src, src->line + 1, "out of memory");
  }
  for (;;) {
    char *start = src->buf + src->buf_pos;
    size_t avail = src->buf_len - src->buf_pos;
    char *newline = avail > 0 ? memchr(start, '\n', avail) : NULL;

    if (newline != NULL || (src->at_eof && avail > 0)) {
      size_t n = newline != NULL ? (size_t)(newline - start) : avail;
      src->buf_pos += n + (newline != NULL);
      src->line++;
      if (n > 0 && start[n - 1] == '\r')
        n--;
      start[n] = '\0';
      *line = start;
      *len = n;
      return 1;
    }
    if (src->at_eof)
      return 0;
    if (avail > STRATA_MAX_LINE)
      return source_fail_line(src, src->line + 1,
                              "line longer than %u bytes", STRATA_MAX_LINE);

    /* Move the partial line to the front and read more after it. */
    memmove(src->buf, start, avail);
    src->buf_len = avail;
    src->buf_pos = 0;
    if (src->buf_cap - src->buf_len < (64u << 10)) {
      size_t cap = src->buf_cap * 2;
      char *grown = realloc(src->buf, cap + 1);
      if (grown == NULL)
        return source_fail_line(src, src->line + 1, "out of memory");
      src->buf = grown;
      src->buf_cap = cap;
    }
    long got = source_read(src, src->buf + src->buf_len,
                           src->buf_cap - src->buf_len);
    if (got < 0)
      return -1;
    src->buf_len += (size_t)got;
  }
}

uint64_t source_bytes_read(const source *src) {
  long off = gzoffset(src->gz);
  if (off < 0)
    return 0;
  return (uint64_t)off > src->file_size ? src->file_size : (uint64_t)off;
}

int source_fail_at(source *src, uint64_t offset, const char *format, ...) {
  char message[STRATA_READER_ERROR_MAX - 128];
  va_list args;

  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  snprintf(src->error, sizeof src->error, "%s: byte %llu%s: %s", src->path,
           (unsigned long long)offset,
           src->compressed ? " of the decompressed data" : "", message);
  return -1;
}

int source_fail_line(source *src, uint64_t line, const char *format, ...) {
  char message[STRATA_READER_ERROR_MAX - 128];
  va_list args;

  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  snprintf(src->error, sizeof src->error, "%s:%llu: %s", src->path,
           (unsigned long long)line, message);
  return -1;
}

/* ------------------------------------------------------------------ */
/* Batches                                                              */

void strata_batch_init(strata_batch *batch) {
  memset(batch, 0, sizeof *batch);
}

void strata_batch_free(strata_batch *batch) {
  free(batch->rows);
  free(batch->vectors);
  free(batch->values);
  free(batch->text);
  strata_batch_init(batch);
}

void batch_clear(strata_batch *batch) {
  batch->count = 0;
  batch->n_vectors = 0;
  batch->n_values = 0;
  batch->text_len = 0;
}

/* Grows *array (elements of `size` bytes, capacity *cap) to hold `need`. */
static int grow(void **array, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return 0;
  size_t next = *cap < 16 ? 16 : *cap;
  while (next < need)
    next *= 2;
  void *grown = realloc(*array, next * size);
  if (grown == NULL)
    return -1;
  *array = grown;
  *cap = next;
  return 0;
}

int batch_reserve_rows(strata_batch *batch, size_t rows) {
  return grow((void **)&batch->rows, &batch->rows_cap, rows,
              sizeof *batch->rows);
}

float *batch_push_values(strata_batch *batch, size_t n) {
  if (grow((void **)&batch->values, &batch->values_cap, batch->n_values + n,
           sizeof *batch->values) < 0)
    return NULL;
  float *out = batch->values + batch->n_values;
  batch->n_values += n;
  return out;
}

strata_batch_vector *batch_push_vector(strata_batch *batch) {
  if (grow((void **)&batch->vectors, &batch->vectors_cap,
           batch->n_vectors + 1, sizeof *batch->vectors) < 0)
    return NULL;
  return &batch->vectors[batch->n_vectors++];
}

int batch_push_text(strata_batch *batch, const char *text, size_t len) {
  if (grow((void **)&batch->text, &batch->text_cap, batch->text_len + len,
           1) < 0)
    return -1;
  memcpy(batch->text + batch->text_len, text, len);
  batch->text_len += len;
  return 0;
}

long reader_vector_index(strata_reader *reader, const char *name,
                         uint32_t dim) {
  for (size_t i = 0; i < reader->n_names; i++)
    if (strcmp(reader->names[i], name) == 0)
      return (long)i;
  if (reader->n_names == reader->names_cap) {
    size_t cap = reader->names_cap == 0 ? 4 : reader->names_cap * 2;
    char **names = realloc(reader->names, cap * sizeof *names);
    if (names == NULL)
      return -1;
    reader->names = names;
    uint32_t *dims = realloc(reader->dims, cap * sizeof *dims);
    if (dims == NULL)
      return -1;
    reader->dims = dims;
    reader->names_cap = cap;
  }
  char *copy = strdup(name);
  if (copy == NULL)
    return -1;
  reader->names[reader->n_names] = copy;
  reader->dims[reader->n_names] = dim;
  return (long)reader->n_names++;
}

/* ------------------------------------------------------------------ */
/* Binary formats                                                       */

int strata_format_parse(const char *name, strata_format *out) {
  static const struct {
    const char *name;
    strata_format format;
  } table[] = {
      {"fvecs", STRATA_FORMAT_FVECS}, {"bvecs", STRATA_FORMAT_BVECS},
      {"ivecs", STRATA_FORMAT_IVECS}, {"idx", STRATA_FORMAT_IDX},
      {"raw", STRATA_FORMAT_RAW},     {"jsonl", STRATA_FORMAT_JSONL},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (strcasecmp(name, table[i].name) == 0) {
      *out = table[i].format;
      return 0;
    }
  }
  return -1;
}

static uint32_t load_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint32_t load_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

static uint64_t load_be64(const unsigned char *p) {
  return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

static float bits_to_float(uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

static int reserve_scratch(strata_reader *reader, size_t bytes) {
  if (bytes <= reader->scratch_cap)
    return 0;
  unsigned char *grown = realloc(reader->scratch, bytes);
  if (grown == NULL)
    return -1;
  reader->scratch = grown;
  reader->scratch_cap = bytes;
  return 0;
}

/* Converts one row of file bytes to floats, checking that each is finite.
 * `offset` is the row's first data byte, for error messages. */
static int decode_row(strata_reader *reader, const unsigned char *in,
                      float *out, uint64_t offset) {
  for (uint32_t i = 0; i < reader->dim; i++) {
    const unsigned char *p = in + (size_t)i * reader->elem_size;
    double value;
    switch (reader->format) {
    case STRATA_FORMAT_FVECS:
    case STRATA_FORMAT_RAW:
      value = bits_to_float(load_le32(p));
      break;
    case STRATA_FORMAT_BVECS:
      value = p[0];
      break;
    case STRATA_FORMAT_IVECS:
      /* Exact up to 2^24; larger ints round to the nearest float. */
      value = (int32_t)load_le32(p);
      break;
    default: /* IDX */
      switch (reader->idx_type) {
      case 0x08: value = p[0]; break;
      case 0x09: value = (int8_t)p[0]; break;
      case 0x0B: value = (int16_t)(p[0] << 8 | p[1]); break;
      case 0x0C: value = (int32_t)load_be32(p); break;
      case 0x0D: value = bits_to_float(load_be32(p)); break;
      default: {
        uint64_t bits = load_be64(p);
        memcpy(&value, &bits, sizeof value);
        break;
      }
      }
      break;
    }
    float f = (float)value;
    if (!isfinite(f))
      return source_fail_at(&reader->src, offset + i * reader->elem_size,
                            "row %llu, component %u: %s is not a finite "
                            "float32",
                            (unsigned long long)reader->rows_read, i,
                            isnan(value) ? "NaN" : "value");
    out[i] = f;
  }
  return 0;
}

/* Appends one decoded row to the batch as vector 0. */
static int push_dense_row(strata_reader *reader, strata_batch *batch,
                          const unsigned char *bytes, uint64_t offset) {
  strata_batch_row *row = &batch->rows[batch->count];
  strata_batch_vector *vector = batch_push_vector(batch);
  float *values = vector != NULL ? batch_push_values(batch, reader->dim)
                                 : NULL;
  if (values == NULL)
    return source_fail_at(&reader->src, offset, "out of memory");
  if (decode_row(reader, bytes, values, offset) < 0)
    return -1;
  memset(row, 0, sizeof *row);
  row->first_vector = batch->n_vectors - 1;
  row->n_vectors = 1;
  vector->name = 0;
  vector->dim = reader->dim;
  vector->offset = batch->n_values - reader->dim;
  batch->count++;
  reader->rows_read++;
  return 0;
}

static int check_dim(strata_reader *reader, int32_t dim, uint64_t offset) {
  if (dim < 1 || dim > STRATA_MAX_DIM)
    return source_fail_at(&reader->src, offset,
                          "row %llu: dim %d is outside 1..%d",
                          (unsigned long long)reader->rows_read, dim,
                          STRATA_MAX_DIM);
  return 0;
}

/* Reads and checks the 4-byte dim header of the next fvecs, bvecs or
 * ivecs row and sets *row_offset to where the row starts.  Returns 1, 0
 * at the end of the file, or -1 on error. */
static int read_row_header(strata_reader *reader, uint64_t *row_offset) {
  unsigned char header[4];

  /* Opening the file consumed row 0's header to learn the dim. */
  if (reader->header_read) {
    reader->header_read = 0;
    *row_offset = 0;
    return 1;
  }
  *row_offset = reader->src.offset;
  long got = source_read(&reader->src, header, sizeof header);
  if (got < 0)
    return -1;
  if (got == 0)
    return 0;
  if (got < 4)
    return source_fail_at(&reader->src, *row_offset,
                          "truncated row %llu: %ld of 4 header bytes",
                          (unsigned long long)reader->rows_read, got);
  int32_t dim = (int32_t)load_le32(header);
  if (check_dim(reader, dim, *row_offset) < 0)
    return -1;
  if ((uint32_t)dim != reader->dim)
    return source_fail_at(&reader->src, *row_offset,
                          "row %llu has dim %d, expected %u as in row 0",
                          (unsigned long long)reader->rows_read, dim,
                          reader->dim);
  return 1;
}

/* fvecs, bvecs and ivecs: every row repeats its dim in a 4-byte header. */
static int vecs_next(strata_reader *reader, size_t max_rows,
                     strata_batch *batch) {
  size_t data_bytes = (size_t)reader->dim * reader->elem_size;

  if (reserve_scratch(reader, data_bytes) < 0)
    return source_fail_at(&reader->src, reader->src.offset, "out of memory");
  while (batch->count < max_rows) {
    uint64_t row_offset;
    int rc = read_row_header(reader, &row_offset);
    if (rc <= 0)
      return rc;
    long got = source_read(&reader->src, reader->scratch, data_bytes);
    if (got < 0)
      return -1;
    if ((size_t)got < data_bytes)
      return source_fail_at(&reader->src, row_offset,
                            "truncated last row %llu: %ld of %zu data bytes",
                            (unsigned long long)reader->rows_read, got,
                            data_bytes);
    if (push_dense_row(reader, batch, reader->scratch, row_offset + 4) < 0)
      return -1;
  }
  return 0;
}

/* IDX and raw: fixed-size rows with no per-row header. */
static int fixed_next(strata_reader *reader, size_t max_rows,
                      strata_batch *batch) {
  size_t row_bytes = (size_t)reader->dim * reader->elem_size;

  /* Only IDX stops at its total.  A raw file's total is its size rounded
   * down to whole rows, so a partial last row must reach the check below. */
  if (reader->format == STRATA_FORMAT_IDX &&
      (uint64_t)reader->total - reader->rows_read < max_rows)
    max_rows = (size_t)((uint64_t)reader->total - reader->rows_read);
  if (reserve_scratch(reader, row_bytes) < 0)
    return source_fail_at(&reader->src, reader->src.offset, "out of memory");
  while (batch->count < max_rows) {
    uint64_t row_offset = reader->src.offset;
    long got = source_read(&reader->src, reader->scratch, row_bytes);
    if (got < 0)
      return -1;
    if (got == 0 && reader->format == STRATA_FORMAT_RAW)
      break;
    if ((size_t)got < row_bytes) {
      if (reader->format == STRATA_FORMAT_IDX)
        return source_fail_at(&reader->src, row_offset,
                              "truncated: the header declares %lld rows but "
                              "the data ends in row %llu",
                              (long long)reader->total,
                              (unsigned long long)reader->rows_read);
      return source_fail_at(&reader->src, row_offset,
                            "truncated last row %llu: %ld of %zu bytes "
                            "(dim %u float32)",
                            (unsigned long long)reader->rows_read, got,
                            row_bytes, reader->dim);
    }
    if (push_dense_row(reader, batch, reader->scratch, row_offset) < 0)
      return -1;
  }

  /* After the declared rows, an IDX file must end. */
  if (reader->format == STRATA_FORMAT_IDX && batch->count == 0 &&
      (uint64_t)reader->total == reader->rows_read) {
    unsigned char extra;
    uint64_t offset = reader->src.offset;
    long got = source_read(&reader->src, &extra, 1);
    if (got < 0)
      return -1;
    if (got > 0)
      return source_fail_at(&reader->src, offset,
                            "unexpected data after the %lld rows that the "
                            "header declares",
                            (long long)reader->total);
  }
  return 0;
}

static int open_vecs(strata_reader *reader) {
  unsigned char header[4];
  long got = source_read(&reader->src, header, sizeof header);

  if (got < 0)
    return -1;
  if (got == 0)
    return source_fail_at(&reader->src, 0, "empty file, expected a row");
  if (got < 4)
    return source_fail_at(&reader->src, 0, "truncated row 0: %ld of 4 "
                          "header bytes", got);
  int32_t dim = (int32_t)load_le32(header);
  if (check_dim(reader, dim, 0) < 0)
    return -1;
  reader->dim = (uint32_t)dim;
  if (!reader->src.compressed && reader->src.sized)
    reader->total = (int64_t)(reader->src.file_size /
                              (4 + reader->dim * reader->elem_size));

  /* No rewind, so that pipes work: the first read skips this header. */
  reader->header_read = 1;
  return 0;
}

static int open_idx(strata_reader *reader) {
  unsigned char magic[4], sizes[4 * 255];
  long got = source_read(&reader->src, magic, sizeof magic);

  if (got < 0)
    return -1;
  if (got < 4 || magic[0] != 0 || magic[1] != 0)
    return source_fail_at(&reader->src, 0, "not an IDX file: the magic "
                          "number must start with two zero bytes");
  reader->idx_type = magic[2];
  switch (magic[2]) {
  case 0x08: case 0x09: reader->elem_size = 1; break;
  case 0x0B: reader->elem_size = 2; break;
  case 0x0C: case 0x0D: reader->elem_size = 4; break;
  case 0x0E: reader->elem_size = 8; break;
  default:
    return source_fail_at(&reader->src, 2, "unknown IDX data type 0x%02X "
                          "(expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)",
                          magic[2]);
  }
  unsigned ndims = magic[3];
  if (ndims == 0)
    return source_fail_at(&reader->src, 3, "IDX file with 0 dimensions");
  got = source_read(&reader->src, sizes, 4 * ndims);
  if (got < 0)
    return -1;
  if ((size_t)got < 4 * ndims)
    return source_fail_at(&reader->src, 4, "truncated IDX header: %u sizes "
                          "declared", ndims);

  /* The first size counts rows; the rest multiply into the dim. */
  uint64_t dim = 1;
  for (unsigned i = 1; i < ndims; i++) {
    dim *= load_be32(sizes + 4 * i);
    if (dim == 0 || dim > STRATA_MAX_DIM)
      return source_fail_at(&reader->src, 4 + 4 * i, "IDX row size must be "
                            "1..%d values", STRATA_MAX_DIM);
  }
  reader->dim = (uint32_t)dim;
  reader->total = load_be32(sizes);
  return 0;
}

int strata_reader_open(const char *path, strata_format format, uint32_t dim,
                       strata_reader **out, char *error) {
  strata_reader *reader = calloc(1, sizeof *reader);
  int rc = 0;

  if (reader == NULL) {
    snprintf(error, STRATA_READER_ERROR_MAX, "%s: out of memory", path);
    return -1;
  }
  reader->format = format;
  reader->total = -1;
  if (source_open(&reader->src, path) < 0) {
    snprintf(error, STRATA_READER_ERROR_MAX, "%s", reader->src.error);
    strata_reader_close(reader);
    return -1;
  }

  switch (format) {
  case STRATA_FORMAT_FVECS:
  case STRATA_FORMAT_IVECS:
    reader->elem_size = 4;
    rc = open_vecs(reader);
    break;
  case STRATA_FORMAT_BVECS:
    reader->elem_size = 1;
    rc = open_vecs(reader);
    break;
  case STRATA_FORMAT_IDX:
    rc = open_idx(reader);
    break;
  case STRATA_FORMAT_RAW:
    if (dim < 1 || dim > STRATA_MAX_DIM) {
      snprintf(reader->src.error, sizeof reader->src.error,
               "%s: raw format needs --dim between 1 and %d", path,
               STRATA_MAX_DIM);
      rc = -1;
      break;
    }
    reader->dim = dim;
    reader->elem_size = 4;
    if (!reader->src.compressed && reader->src.sized)
      reader->total = (int64_t)(reader->src.file_size / (4 * (uint64_t)dim));
    break;
  case STRATA_FORMAT_JSONL:
    break;
  }
  if (rc == 0 && format != STRATA_FORMAT_JSONL &&
      reader_vector_index(reader, "", reader->dim) < 0) {
    snprintf(reader->src.error, sizeof reader->src.error, "%s: out of memory",
             path);
    rc = -1;
  }
  if (rc < 0) {
    snprintf(error, STRATA_READER_ERROR_MAX, "%s", reader->src.error);
    strata_reader_close(reader);
    return -1;
  }
  *out = reader;
  return 0;
}

int strata_reader_next(strata_reader *reader, size_t max_rows,
                       strata_batch *batch) {
  batch_clear(batch);
  if (max_rows == 0)
    return 0;
  if (batch_reserve_rows(batch, max_rows) < 0)
    return source_fail_at(&reader->src, reader->src.offset, "out of memory");
  switch (reader->format) {
  case STRATA_FORMAT_FVECS:
  case STRATA_FORMAT_BVECS:
  case STRATA_FORMAT_IVECS:
    return vecs_next(reader, max_rows, batch);
  case STRATA_FORMAT_IDX:
  case STRATA_FORMAT_RAW:
    return fixed_next(reader, max_rows, batch);
  case STRATA_FORMAT_JSONL:
    return jsonl_next(reader, max_rows, batch);
  }
  return -1;
}

const char *strata_reader_error(const strata_reader *reader) {
  return reader->src.error;
}

int64_t strata_reader_total_rows(const strata_reader *reader) {
  return reader->total;
}

uint64_t strata_reader_bytes_read(const strata_reader *reader) {
  return source_bytes_read(&reader->src);
}

uint64_t strata_reader_bytes_total(const strata_reader *reader) {
  return reader->src.file_size;
}

size_t strata_reader_vector_count(const strata_reader *reader) {
  return reader->n_names;
}

const char *strata_reader_vector_name(const strata_reader *reader,
                                      size_t index) {
  return reader->names[index];
}

uint32_t strata_reader_vector_dim(const strata_reader *reader, size_t index) {
  return reader->dims[index];
}

void strata_reader_close(strata_reader *reader) {
  if (reader == NULL)
    return;
  source_close(&reader->src);
  for (size_t i = 0; i < reader->n_names; i++)
    free(reader->names[i]);
  free(reader->names);
  free(reader->dims);
  free(reader->scratch);
  free(reader);
}

/* ------------------------------------------------------------------ */
/* Ground truth                                                         */

int strata_ivecs_load(const char *path, strata_ivecs *out, char *error) {
  strata_reader *reader;
  size_t cap = 0;

  /* Opening as ivecs validates the first row's dim; the rows are then
   * read here as int32, since floats would round ids above 2^24. */
  memset(out, 0, sizeof *out);
  if (strata_reader_open(path, STRATA_FORMAT_IVECS, 0, &reader, error) < 0)
    return -1;
  out->dim = reader->dim;
  size_t data_bytes = (size_t)out->dim * 4;
  if (reserve_scratch(reader, data_bytes) < 0) {
    source_fail_at(&reader->src, 0, "out of memory");
    goto fail;
  }
  for (;;) {
    uint64_t row_offset;
    reader->rows_read = out->rows;
    int rc = read_row_header(reader, &row_offset);
    if (rc < 0)
      goto fail;
    if (rc == 0)
      break;
    long got = source_read(&reader->src, reader->scratch, data_bytes);
    if (got < 0)
      goto fail;
    if ((size_t)got < data_bytes) {
      source_fail_at(&reader->src, row_offset, "truncated last row %zu: %ld "
                     "of %zu data bytes", out->rows, got, data_bytes);
      goto fail;
    }
    if ((out->rows + 1) * out->dim > cap) {
      size_t next = cap == 0 ? (size_t)out->dim * 64 : cap * 2;
      int32_t *grown = realloc(out->data, next * sizeof *grown);
      if (grown == NULL) {
        source_fail_at(&reader->src, row_offset, "out of memory");
        goto fail;
      }
      out->data = grown;
      cap = next;
    }
    for (uint32_t i = 0; i < out->dim; i++)
      out->data[out->rows * out->dim + i] =
          (int32_t)load_le32(reader->scratch + 4 * (size_t)i);
    out->rows++;
  }
  strata_reader_close(reader);
  return 0;

fail:
  snprintf(error, STRATA_READER_ERROR_MAX, "%s", reader->src.error);
  strata_reader_close(reader);
  strata_ivecs_free(out);
  return -1;
}

void strata_ivecs_free(strata_ivecs *ivecs) {
  free(ivecs->data);
  memset(ivecs, 0, sizeof *ivecs);
}
