/*
 * Unit tests of the file readers, the JSON scanner and the progress bar.
 * Each test writes its input files into a fresh temporary directory.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <zlib.h>

#include "json_scan.h"
#include "progress.h"
#include "readers.h"

static int failures;
static char tmpdir[256];

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,      \
              #cond);                                                        \
      failures++;                                                            \
    }                                                                        \
  } while (0)

#define CHECK_CONTAINS(text, part)                                           \
  do {                                                                       \
    const char *text_ = (text);                                              \
    if (strstr(text_, (part)) == NULL) {                                     \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,   \
              __LINE__, text_, (part));                                      \
      failures++;                                                            \
    }                                                                        \
  } while (0)

/* ------------------------------------------------------------------ */
/* File helpers                                                         */

static const char *path_of(const char *name) {
  static char paths[8][512];
  static int next;
  char *path = paths[next++ % 8];
  snprintf(path, 512, "%s/%s", tmpdir, name);
  return path;
}

static void write_file(const char *name, const void *data, size_t len) {
  FILE *f = fopen(path_of(name), "wb");
  if (f == NULL || fwrite(data, 1, len, f) != len) {
    perror(name);
    exit(2);
  }
  fclose(f);
}

static void write_gzip(const char *name, const void *data, size_t len) {
  gzFile gz = gzopen(path_of(name), "wb");
  if (gz == NULL || gzwrite(gz, data, (unsigned)len) != (int)len) {
    fprintf(stderr, "cannot write %s\n", name);
    exit(2);
  }
  gzclose(gz);
}

static void write_text(const char *name, const char *text) {
  write_file(name, text, strlen(text));
}

/* A growable byte buffer for building binary test files. */
typedef struct bytes {
  unsigned char data[1 << 16];
  size_t len;
} bytes;

static void put_le32(bytes *b, uint32_t v) {
  for (int i = 0; i < 4; i++)
    b->data[b->len++] = (unsigned char)(v >> (8 * i));
}

static void put_be32(bytes *b, uint32_t v) {
  for (int i = 3; i >= 0; i--)
    b->data[b->len++] = (unsigned char)(v >> (8 * i));
}

static uint32_t float_bits(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  return bits;
}

static void put_fvec(bytes *b, int dim, const float *values) {
  put_le32(b, (uint32_t)dim);
  for (int i = 0; i < dim; i++)
    put_le32(b, float_bits(values[i]));
}

/* Opens a reader that must succeed. */
static strata_reader *open_ok(const char *name, strata_format format,
                              uint32_t dim) {
  strata_reader *reader = NULL;
  char error[STRATA_READER_ERROR_MAX];
  if (strata_reader_open(path_of(name), format, dim, &reader, error) != 0) {
    fprintf(stderr, "open %s failed: %s\n", name, error);
    failures++;
    return NULL;
  }
  return reader;
}

/* Opens and reads a whole file that must fail, and returns the message
 * from whichever step failed. */
static const char *read_error(const char *name, strata_format format,
                              uint32_t dim) {
  static char message[STRATA_READER_ERROR_MAX];
  strata_reader *reader;
  strata_batch batch;
  if (strata_reader_open(path_of(name), format, dim, &reader, message) != 0)
    return message;
  strata_batch_init(&batch);
  snprintf(message, sizeof message, "(no error)");
  for (;;) {
    if (strata_reader_next(reader, 2, &batch) != 0) {
      snprintf(message, sizeof message, "%s", strata_reader_error(reader));
      break;
    }
    if (batch.count == 0)
      break;
  }
  strata_batch_free(&batch);
  strata_reader_close(reader);
  return message;
}

/* ------------------------------------------------------------------ */
/* fvecs, bvecs, ivecs                                                  */

static const float rows3x4[3][4] = {
    {1.0f, 2.0f, 3.0f, 4.0f},
    {-0.5f, 0.25f, 1e-3f, 7.0f},
    {100.0f, 0.0f, -2.0f, 3.5f},
};

static void build_fvecs(bytes *b) {
  b->len = 0;
  for (int r = 0; r < 3; r++)
    put_fvec(b, 4, rows3x4[r]);
}

static void check_rows3x4(const char *name, int compressed) {
  strata_reader *reader = open_ok(name, STRATA_FORMAT_FVECS, 0);
  strata_batch batch;
  if (reader == NULL)
    return;
  strata_batch_init(&batch);
  CHECK(strata_reader_vector_count(reader) == 1);
  CHECK(strcmp(strata_reader_vector_name(reader, 0), "") == 0);
  CHECK(strata_reader_vector_dim(reader, 0) == 4);
  CHECK(strata_reader_total_rows(reader) == (compressed ? -1 : 3));

  CHECK(strata_reader_next(reader, 2, &batch) == 0);
  CHECK(batch.count == 2);
  CHECK(batch.n_values == 8);
  CHECK(memcmp(batch.values, rows3x4, 8 * sizeof(float)) == 0);
  CHECK(batch.rows[1].n_vectors == 1);
  CHECK(batch.vectors[batch.rows[1].first_vector].offset == 4);
  CHECK(batch.rows[0].has_id == 0);

  CHECK(strata_reader_next(reader, 2, &batch) == 0);
  CHECK(batch.count == 1);
  CHECK(memcmp(batch.values, rows3x4[2], 4 * sizeof(float)) == 0);
  CHECK(strata_reader_next(reader, 2, &batch) == 0);
  CHECK(batch.count == 0);
  CHECK(strata_reader_bytes_total(reader) > 0);
  CHECK(strata_reader_bytes_read(reader) == strata_reader_bytes_total(reader));
  strata_batch_free(&batch);
  strata_reader_close(reader);
}

static void test_fvecs_plain_and_gzip(void) {
  bytes b;
  build_fvecs(&b);
  write_file("a.fvecs", b.data, b.len);
  write_gzip("a.fvecs.gz", b.data, b.len);
  check_rows3x4("a.fvecs", 0);
  check_rows3x4("a.fvecs.gz", 1);
}

static void test_fvecs_rejections(void) {
  bytes b;
  float three[3] = {1, 2, 3};
  float nan_row[4] = {1, NAN, 3, 4};
  float inf_row[4] = {1, 2, INFINITY, 4};

  /* Row 1 has dim 3; it starts at byte 4 + 16 = 20. */
  b.len = 0;
  put_fvec(&b, 4, rows3x4[0]);
  put_fvec(&b, 3, three);
  write_file("dim.fvecs", b.data, b.len);
  const char *error = read_error("dim.fvecs", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "dim.fvecs: byte 20: ");
  CHECK_CONTAINS(error, "row 1 has dim 3, expected 4");

  /* The same in gzip reports the decompressed offset. */
  write_gzip("dim.fvecs.gz", b.data, b.len);
  error = read_error("dim.fvecs.gz", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "byte 20 of the decompressed data");

  build_fvecs(&b);
  write_file("trunc.fvecs", b.data, b.len - 3);
  error = read_error("trunc.fvecs", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "trunc.fvecs: byte 40: ");
  CHECK_CONTAINS(error, "truncated last row 2: 13 of 16 data bytes");

  write_file("trunc2.fvecs", b.data, 20 + 2);
  error = read_error("trunc2.fvecs", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "truncated row 1: 2 of 4 header bytes");

  b.len = 0;
  put_fvec(&b, 4, rows3x4[0]);
  put_fvec(&b, 4, nan_row);
  write_file("nan.fvecs", b.data, b.len);
  error = read_error("nan.fvecs", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "byte 28: row 1, component 1: NaN");

  b.len = 0;
  put_fvec(&b, 4, inf_row);
  write_file("inf.fvecs", b.data, b.len);
  error = read_error("inf.fvecs", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "row 0, component 2: value is not a finite float32");

  b.len = 0;
  put_le32(&b, (uint32_t)-5);
  write_file("neg.fvecs", b.data, b.len);
  error = read_error("neg.fvecs", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "dim -5 is outside 1..65536");

  write_file("empty.fvecs", "", 0);
  error = read_error("empty.fvecs", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "empty file");

  error = read_error("missing.fvecs", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "missing.fvecs: cannot open: No such file");

  error = read_error(".", STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "it is a directory");
}

static void test_gzip_corrupt(void) {
  bytes b;
  char name[64];
  build_fvecs(&b);
  write_gzip("whole.gz", b.data, b.len);

  /* Cut the compressed file before its trailer. */
  FILE *f = fopen(path_of("whole.gz"), "rb");
  unsigned char gz[4096];
  size_t n = fread(gz, 1, sizeof gz, f);
  fclose(f);
  snprintf(name, sizeof name, "cut.fvecs.gz");
  write_file(name, gz, n - 10);
  const char *error = read_error(name, STRATA_FORMAT_FVECS, 0);
  CHECK_CONTAINS(error, "cut.fvecs.gz: byte ");
  CHECK(strstr(error, "truncated") != NULL ||
        strstr(error, "read failed") != NULL);

  /* Flip bytes in the deflate data. */
  for (size_t i = 12; i < 20 && i < n; i++)
    gz[i] ^= 0xFF;
  write_file("bad.fvecs.gz", gz, n);
  error = read_error("bad.fvecs.gz", STRATA_FORMAT_FVECS, 0);
  CHECK(strcmp(error, "(no error)") != 0);
}

static void test_bvecs(void) {
  bytes b = {.len = 0};
  put_le32(&b, 3);
  b.data[b.len++] = 0;
  b.data[b.len++] = 128;
  b.data[b.len++] = 255;
  put_le32(&b, 3);
  b.data[b.len++] = 1;
  b.data[b.len++] = 2;
  b.data[b.len++] = 3;
  write_gzip("a.bvecs.gz", b.data, b.len);

  strata_reader *reader = open_ok("a.bvecs.gz", STRATA_FORMAT_BVECS, 0);
  strata_batch batch;
  if (reader == NULL)
    return;
  strata_batch_init(&batch);
  CHECK(strata_reader_next(reader, 10, &batch) == 0);
  CHECK(batch.count == 2);
  float expected[6] = {0, 128, 255, 1, 2, 3};
  CHECK(memcmp(batch.values, expected, sizeof expected) == 0);
  strata_batch_free(&batch);
  strata_reader_close(reader);

  write_file("trunc.bvecs", b.data, b.len - 1);
  CHECK_CONTAINS(read_error("trunc.bvecs", STRATA_FORMAT_BVECS, 0),
                 "truncated last row 1: 2 of 3 data bytes");
}

static void test_ivecs(void) {
  bytes b = {.len = 0};
  put_le32(&b, 2);
  put_le32(&b, 7);
  put_le32(&b, (uint32_t)-3);
  put_le32(&b, 2);
  put_le32(&b, 20000001); /* above 2^24: exact only as an int */
  put_le32(&b, 0);
  write_file("a.ivecs", b.data, b.len);

  strata_reader *reader = open_ok("a.ivecs", STRATA_FORMAT_IVECS, 0);
  strata_batch batch;
  if (reader != NULL) {
    strata_batch_init(&batch);
    CHECK(strata_reader_next(reader, 10, &batch) == 0);
    CHECK(batch.count == 2);
    CHECK(batch.values[0] == 7.0f);
    CHECK(batch.values[1] == -3.0f);
    strata_batch_free(&batch);
    strata_reader_close(reader);
  }

  strata_ivecs truth;
  char error[STRATA_READER_ERROR_MAX];
  CHECK(strata_ivecs_load(path_of("a.ivecs"), &truth, error) == 0);
  CHECK(truth.rows == 2);
  CHECK(truth.dim == 2);
  CHECK(truth.data != NULL);
  if (truth.data != NULL) {
    CHECK(truth.data[1] == -3);
    CHECK(truth.data[2] == 20000001);
  }
  strata_ivecs_free(&truth);

  write_gzip("a.ivecs.gz", b.data, b.len);
  CHECK(strata_ivecs_load(path_of("a.ivecs.gz"), &truth, error) == 0);
  CHECK(truth.rows == 2);
  strata_ivecs_free(&truth);

  b.len = 0;
  put_le32(&b, 2);
  put_le32(&b, 1);
  put_le32(&b, 2);
  put_le32(&b, 1);
  put_le32(&b, 5);
  write_file("bad.ivecs", b.data, b.len);
  CHECK(strata_ivecs_load(path_of("bad.ivecs"), &truth, error) == -1);
  CHECK_CONTAINS(error, "bad.ivecs: byte 12: row 1 has dim 1, expected 2");
  CHECK(truth.data == NULL);

  write_file("trunc.ivecs", b.data, 10);
  CHECK(strata_ivecs_load(path_of("trunc.ivecs"), &truth, error) == -1);
  CHECK_CONTAINS(error, "truncated last row 0: 6 of 8 data bytes");
}

/* ------------------------------------------------------------------ */
/* IDX and raw                                                          */

static void build_idx_ubyte(bytes *b, uint32_t rows_declared, int rows) {
  b->len = 0;
  put_be32(b, 0x00000803);
  put_be32(b, rows_declared);
  put_be32(b, 2);
  put_be32(b, 3);
  for (int i = 0; i < rows * 6; i++)
    b->data[b->len++] = (unsigned char)(i * 10);
}

static void test_idx_ubyte(void) {
  bytes b;
  build_idx_ubyte(&b, 2, 2);
  write_gzip("img.idx.gz", b.data, b.len);

  strata_reader *reader = open_ok("img.idx.gz", STRATA_FORMAT_IDX, 0);
  strata_batch batch;
  if (reader == NULL)
    return;
  strata_batch_init(&batch);
  CHECK(strata_reader_vector_dim(reader, 0) == 6);
  CHECK(strata_reader_total_rows(reader) == 2);
  CHECK(strata_reader_next(reader, 10, &batch) == 0);
  CHECK(batch.count == 2);
  CHECK(batch.values[0] == 0.0f);
  CHECK(batch.values[7] == 70.0f);
  CHECK(batch.values[11] == 110.0f);
  CHECK(strata_reader_next(reader, 10, &batch) == 0);
  CHECK(batch.count == 0);
  strata_batch_free(&batch);
  strata_reader_close(reader);

  build_idx_ubyte(&b, 3, 2);
  write_file("short.idx", b.data, b.len);
  CHECK_CONTAINS(read_error("short.idx", STRATA_FORMAT_IDX, 0),
                 "short.idx: byte 28: truncated: the header declares 3 rows "
                 "but the data ends in row 2");

  build_idx_ubyte(&b, 1, 2);
  write_file("long.idx", b.data, b.len);
  CHECK_CONTAINS(read_error("long.idx", STRATA_FORMAT_IDX, 0),
                 "byte 22: unexpected data after the 1 rows");

  build_idx_ubyte(&b, 2, 2);
  b.data[0] = 0x1F; /* gzip-like junk, not an IDX magic */
  write_file("magic.idx", b.data, b.len);
  CHECK_CONTAINS(read_error("magic.idx", STRATA_FORMAT_IDX, 0),
                 "not an IDX file");

  build_idx_ubyte(&b, 2, 2);
  b.data[2] = 0x07;
  write_file("type.idx", b.data, b.len);
  CHECK_CONTAINS(read_error("type.idx", STRATA_FORMAT_IDX, 0),
                 "unknown IDX data type 0x07");
}

static void test_idx_float(void) {
  bytes b = {.len = 0};
  float values[4] = {1.5f, -2.25f, 1e-7f, 3e5f};
  put_be32(&b, 0x00000D02);
  put_be32(&b, 2);
  put_be32(&b, 2);
  for (int i = 0; i < 4; i++)
    put_be32(&b, float_bits(values[i]));
  write_file("f.idx", b.data, b.len);

  strata_reader *reader = open_ok("f.idx", STRATA_FORMAT_IDX, 0);
  strata_batch batch;
  if (reader == NULL)
    return;
  strata_batch_init(&batch);
  CHECK(strata_reader_vector_dim(reader, 0) == 2);
  CHECK(strata_reader_next(reader, 1, &batch) == 0);
  CHECK(batch.count == 1);
  CHECK(strata_reader_next(reader, 1, &batch) == 0);
  CHECK(batch.count == 1);
  CHECK(memcmp(batch.values, values + 2, 2 * sizeof(float)) == 0);
  strata_batch_free(&batch);
  strata_reader_close(reader);

  b.len = 12;
  put_be32(&b, 0x7FC00000); /* NaN */
  write_file("nan.idx", b.data, b.len + 12);
  CHECK_CONTAINS(read_error("nan.idx", STRATA_FORMAT_IDX, 0),
                 "byte 12: row 0, component 0: NaN");
}

static void test_raw(void) {
  bytes b = {.len = 0};
  for (int i = 0; i < 6; i++)
    put_le32(&b, float_bits((float)i * 0.5f));
  write_file("a.raw", b.data, b.len);
  write_gzip("a.raw.gz", b.data, b.len);

  for (int compressed = 0; compressed <= 1; compressed++) {
    const char *name = compressed ? "a.raw.gz" : "a.raw";
    strata_reader *reader = open_ok(name, STRATA_FORMAT_RAW, 3);
    strata_batch batch;
    if (reader == NULL)
      continue;
    strata_batch_init(&batch);
    CHECK(strata_reader_total_rows(reader) == (compressed ? -1 : 2));
    CHECK(strata_reader_next(reader, 5, &batch) == 0);
    CHECK(batch.count == 2);
    CHECK(batch.values[5] == 2.5f);
    CHECK(strata_reader_next(reader, 5, &batch) == 0);
    CHECK(batch.count == 0);
    strata_batch_free(&batch);
    strata_reader_close(reader);
  }

  write_file("trunc.raw", b.data, b.len - 4);
  CHECK_CONTAINS(read_error("trunc.raw", STRATA_FORMAT_RAW, 3),
                 "trunc.raw: byte 12: truncated last row 1: 8 of 12 bytes");
  CHECK_CONTAINS(read_error("a.raw", STRATA_FORMAT_RAW, 0),
                 "raw format needs --dim");
}

/* ------------------------------------------------------------------ */
/* JSON lines                                                           */

static void test_jsonl_rows(void) {
  const char *text =
      "{\"id\": 1, \"vector\": [0.5, -1, 2e2], \"payload\": "
      "{\"big\": 123456789012345678901234567890, \"n\": 9007199254740993}}\n"
      "\n"
      "{\"payload\":null,\"vector\":[1,2,3],"
      "\"id\":\"550E8400-E29B-41D4-A716-446655440000\"}\r\n"
      "{\"id\": 18446744073709551615, \"vector\": {\"img\": [1, 2], "
      "\"txt\": [3]}, \"payload\": {\"a\" : [1, {\"b\": \"\\u00e9\"}]}}\n"
      "{\"id\": 4, \"vector\": {\"txt\": [9]}}";
  write_text("a.jsonl", text);
  write_gzip("a.jsonl.gz", text, strlen(text));

  for (int compressed = 0; compressed <= 1; compressed++) {
    strata_reader *reader = open_ok(compressed ? "a.jsonl.gz" : "a.jsonl",
                                    STRATA_FORMAT_JSONL, 0);
    strata_batch batch;
    if (reader == NULL)
      continue;
    strata_batch_init(&batch);
    CHECK(strata_reader_total_rows(reader) == -1);
    CHECK(strata_reader_next(reader, 3, &batch) == 0);
    CHECK(batch.count == 3);

    strata_batch_row *row = &batch.rows[0];
    CHECK(row->has_id);
    CHECK(row->id.kind == STRATA_ID_NUM);
    CHECK(row->id.num == 1);
    CHECK(row->line == 1);
    const char *payload0 = "{\"big\": 123456789012345678901234567890, "
                           "\"n\": 9007199254740993}";
    CHECK(row->payload_len == strlen(payload0));
    CHECK(memcmp(batch.text + row->payload_offset, payload0,
                 strlen(payload0)) == 0);
    CHECK(batch.values[2] == 200.0f);

    row = &batch.rows[1];
    CHECK(row->line == 3);
    CHECK(row->id.kind == STRATA_ID_UUID);
    CHECK(row->id.uuid[0] == 0x55);
    CHECK(row->id.uuid[15] == 0x00);
    CHECK(row->id.uuid[6] == 0x41);
    CHECK(row->payload_len == 0);

    row = &batch.rows[2];
    CHECK(row->id.num == UINT64_MAX);
    CHECK(row->n_vectors == 2);
    strata_batch_vector *img = &batch.vectors[row->first_vector];
    strata_batch_vector *txt = &batch.vectors[row->first_vector + 1];
    CHECK(strcmp(strata_reader_vector_name(reader, img->name), "img") == 0);
    CHECK(strcmp(strata_reader_vector_name(reader, txt->name), "txt") == 0);
    CHECK(img->dim == 2);
    CHECK(txt->dim == 1);
    CHECK(batch.values[txt->offset] == 3.0f);
    CHECK(memcmp(batch.text + row->payload_offset,
                 "{\"a\" : [1, {\"b\": \"\\u00e9\"}]}", row->payload_len) == 0);

    /* The last line has no newline. */
    CHECK(strata_reader_next(reader, 3, &batch) == 0);
    CHECK(batch.count == 1);
    CHECK(batch.rows[0].line == 5);
    CHECK(batch.rows[0].id.num == 4);
    CHECK(strata_reader_vector_count(reader) == 3);
    CHECK(strata_reader_next(reader, 3, &batch) == 0);
    CHECK(batch.count == 0);
    strata_batch_free(&batch);
    strata_reader_close(reader);
  }
}

static void test_jsonl_rejections(void) {
  static const struct {
    const char *line;
    const char *error;
  } cases[] = {
      {"{\"id\": -1, \"vector\": [1]}", "bad.jsonl:2: negative id -1"},
      {"{\"id\": 18446744073709551616, \"vector\": [1]}",
       "bad.jsonl:2: id 18446744073709551616 exceeds 2^64-1"},
      {"{\"id\": 1.5, \"vector\": [1]}", "id 1.5 is not an integer"},
      {"{\"id\": \"550e8400-e29b-41d4-a716-44665544000\", \"vector\": [1]}",
       "invalid UUID id \"550e8400-e29b-41d4-a716-44665544000\""},
      {"{\"id\": \"550e8400+e29b-41d4-a716-446655440000\", \"vector\": [1]}",
       "invalid UUID"},
      {"{\"id\": true, \"vector\": [1]}", "found true"},
      {"{\"id\": 2, \"vector\": [1, 2]}",
       "vector \"\" has dim 2, expected 1 as in the first row"},
      {"{\"id\": 2, \"vector\": [1e39]}", "is outside the float32 range"},
      {"{\"id\": 2, \"vector\": [NaN]}", "bad.jsonl:2: invalid JSON at column"},
      {"{\"id\": 2, \"vector\": [1],}", "invalid JSON at column 25"},
      {"{\"id\": 2, \"vector\": [\"1\"]}", "component 0 is string"},
      {"{\"id\": 2, \"vector\": []}", "has dim 0"},
      {"{\"id\": 2, \"vector\": {}}", "\"vector\" is an empty object"},
      {"{\"id\": 2}", "missing \"vector\""},
      {"{\"vector\": [1]}", "missing \"id\""},
      {"{\"id\": 2, \"id\": 3, \"vector\": [1]}", "duplicate \"id\""},
      {"{\"id\": 2, \"vectors\": [1]}", "unknown key \"vectors\""},
      {"{\"id\": 2, \"vector\": [1], \"payload\": [1]}",
       "\"payload\" must be an object, found array"},
      {"[1, 2]", "expected a JSON object, found array"},
      {"{\"id\": 2, \"vector\": [1], \"payload\": {\"a\": \"\xff\"}}",
       "invalid UTF-8"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[512];
    snprintf(text, sizeof text, "{\"id\": 0, \"vector\": [7]}\n%s\n",
             cases[i].line);
    write_text("bad.jsonl", text);
    const char *error = read_error("bad.jsonl", STRATA_FORMAT_JSONL, 0);
    if (strstr(error, cases[i].error) == NULL) {
      fprintf(stderr, "case %zu: \"%s\" does not contain \"%s\"\n", i, error,
              cases[i].error);
      failures++;
    }
  }
}

static void test_payload_lines(void) {
  const char *text = "{\"title\": \"a\", \"n\": 18446744073709551616}\n"
                     "  {\"title\": \"b\"}  \r\n"
                     "{}";
  write_gzip("p.jsonl.gz", text, strlen(text));

  strata_lines *lines;
  char error[STRATA_READER_ERROR_MAX];
  const char *object;
  size_t len;
  CHECK(strata_lines_open(path_of("p.jsonl.gz"), &lines, error) == 0);
  CHECK(strata_lines_next(lines, &object, &len) == 1);
  CHECK(len == 41);
  CHECK(strncmp(object, "{\"title\": \"a\", \"n\": 18446744073709551616}",
                len) == 0);
  CHECK(strata_lines_next(lines, &object, &len) == 1);
  CHECK(len == 14);
  CHECK(strncmp(object, "{\"title\": \"b\"}", 14) == 0);
  CHECK(strata_lines_next(lines, &object, &len) == 1);
  CHECK(len == 2);
  CHECK(strncmp(object, "{}", 2) == 0);
  CHECK(strata_lines_number(lines) == 3);
  CHECK(strata_lines_next(lines, &object, &len) == 0);
  strata_lines_close(lines);

  write_text("blank.jsonl", "{}\n\n{}\n");
  CHECK(strata_lines_open(path_of("blank.jsonl"), &lines, error) == 0);
  CHECK(strata_lines_next(lines, &object, &len) == 1);
  CHECK(strata_lines_next(lines, &object, &len) == -1);
  CHECK_CONTAINS(strata_lines_error(lines),
                 "blank.jsonl:2: empty line, expected a JSON object");
  strata_lines_close(lines);

  write_text("scalar.jsonl", "{}\n42\n");
  CHECK(strata_lines_open(path_of("scalar.jsonl"), &lines, error) == 0);
  CHECK(strata_lines_next(lines, &object, &len) == 1);
  CHECK(strata_lines_next(lines, &object, &len) == -1);
  CHECK_CONTAINS(strata_lines_error(lines),
                 "scalar.jsonl:2: expected a JSON object, found number");
  strata_lines_close(lines);

  CHECK(strata_lines_open(path_of("none.jsonl"), &lines, error) == -1);
  CHECK_CONTAINS(error, "none.jsonl: cannot open");
}

/* A line longer than the first 256 KiB buffer must still be read whole. */
static void test_jsonl_long_line(void) {
  size_t dim = 60000;
  size_t cap = dim * 8 + 64;
  char *text = malloc(cap);
  size_t n = (size_t)snprintf(text, cap, "{\"id\": 9, \"vector\": [");
  for (size_t i = 0; i < dim; i++)
    n += (size_t)snprintf(text + n, cap - n, "%s0.125", i ? "," : "");
  n += (size_t)snprintf(text + n, cap - n, "]}\n");
  write_file("long.jsonl", text, n);
  free(text);

  strata_reader *reader = open_ok("long.jsonl", STRATA_FORMAT_JSONL, 0);
  strata_batch batch;
  if (reader == NULL)
    return;
  strata_batch_init(&batch);
  CHECK(strata_reader_next(reader, 10, &batch) == 0);
  CHECK(batch.count == 1);
  CHECK(batch.n_values == dim);
  CHECK(batch.values[dim - 1] == 0.125f);
  strata_batch_free(&batch);
  strata_reader_close(reader);
}

/* ------------------------------------------------------------------ */
/* JSON scanner                                                         */

static int scan_fails(const char *text, size_t len, const char *message) {
  strata_json_span span;
  strata_json_error error;
  if (strata_json_scan(text, len, &span, &error) == 0)
    return 0;
  return strstr(error.message, message) != NULL;
}

static void test_json_scan(void) {
  strata_json_span span;
  strata_json_error error;
  const char *ok = " {\"a\": [1, -0.5e+3, true, false, null, \"\\ud83d\\ude00\"]"
                   ", \"\\u0062\": {}} ";
  CHECK(strata_json_scan(ok, strlen(ok), &span, &error) == 0);
  CHECK(span.type == STRATA_JSON_OBJECT);
  CHECK(span.start == 1);
  CHECK(span.end == strlen(ok) - 1);

  CHECK(scan_fails("{\"a\":1} x", 9, "unexpected text after"));
  CHECK(scan_fails("\"\\ud83d\"", 8, "high surrogate without"));
  CHECK(scan_fails("\"\\ude00\"", 8, "lone low surrogate"));
  CHECK(scan_fails("\"\xc0\x80\"", 4, "invalid UTF-8 byte"));
  CHECK(scan_fails("\"\xed\xa0\x80\"", 5, "UTF-8 encoded surrogate"));
  CHECK(scan_fails("\"a\tb\"", 5, "unescaped control character"));
  CHECK(scan_fails("01", 2, "unexpected text after"));
  CHECK(scan_fails("1.", 2, "expected a digit"));
  CHECK(scan_fails("tru", 3, "invalid literal"));
  CHECK(scan_fails("", 0, "found end of input"));
  CHECK(scan_fails("{\"a\" 1}", 7, "expected ':'"));

  char deep[1200];
  memset(deep, '[', 600);
  memset(deep + 600, ']', 600);
  CHECK(scan_fails(deep, sizeof deep, "nesting deeper than 512"));
  CHECK(strata_json_scan(deep + 100, 1000, &span, &error) == 0);

  /* Keys with escapes compare decoded; strings decode surrogate pairs. */
  const char *text = "{\"\\u0069d\": \"x\\ud83d\\ude00\\n\"}";
  CHECK(strata_json_scan(text, strlen(text), &span, &error) == 0);
  strata_json_span key = {1, 10, STRATA_JSON_STRING};
  CHECK(strata_json_key_equals(text, &key, "id"));
  CHECK(!strata_json_key_equals(text, &key, "i"));
  strata_json_span value = {12, strlen(text) - 1, STRATA_JSON_STRING};
  size_t len;
  char *decoded = strata_json_string_decode(text, &value, &len);
  CHECK(decoded != NULL);
  CHECK(len == 6);
  if (decoded != NULL)
    CHECK(strcmp(decoded, "x\xf0\x9f\x98\x80\n") == 0);
  free(decoded);
}

/* Mutates valid JSON at random and checks that the scanner accepts
 * exactly what jansson accepts.  The mutations insert, delete or replace
 * one byte from an alphabet without digits, so numbers never grow beyond
 * what jansson's integer parsing accepts. */
static void test_json_scan_matches_jansson(void) {
  static const char *seeds[] = {
      "{\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"x\"}}",
      "[\"\\u00e9\\ud83d\\ude00\", \"\xc3\xa9\xf0\x9f\x98\x80\", {}]",
      "{\"id\": 7, \"vector\": [0.5, 1], \"payload\": {\"k\": [[], {}]}}",
  };
  static const char alphabet[] = "{}[]\":,\\ ute0nlfr.-\x80\xc3\xa9\xed\xff\t";
  uint32_t state = 12345;
  int disagreements = 0;

  for (int round = 0; round < 20000; round++) {
    char text[256];
    const char *seed = seeds[round % 3];
    size_t len = strlen(seed);
    memcpy(text, seed, len);

    int edits = 1 + round % 3;
    for (int e = 0; e < edits; e++) {
      state = state * 1103515245u + 12345u;
      size_t at = (state >> 8) % (len + 1);
      state = state * 1103515245u + 12345u;
      char c = alphabet[(state >> 8) % (sizeof alphabet - 1)];
      switch ((state >> 20) % 3) {
      case 0: /* insert */
        memmove(text + at + 1, text + at, len - at);
        text[at] = c;
        len++;
        break;
      case 1: /* delete */
        if (at < len) {
          memmove(text + at, text + at + 1, len - at - 1);
          len--;
        }
        break;
      default: /* replace */
        if (at < len)
          text[at] = c;
        break;
      }
    }

    strata_json_span span;
    strata_json_error error;
    json_error_t jansson_error;
    int ours = strata_json_scan(text, len, &span, &error) == 0;
    json_t *value =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jansson_error);
    int theirs = value != NULL;
    json_decref(value);
    if (ours != theirs && disagreements++ < 5)
      fprintf(stderr, "scanner %s but jansson %s: %.*s (%s)\n",
              ours ? "accepts" : "rejects", theirs ? "accepts" : "rejects",
              (int)len, text, ours ? jansson_error.text : error.message);
  }
  CHECK(disagreements == 0);
}

/* ------------------------------------------------------------------ */
/* Progress                                                             */

static void test_progress(void) {
  FILE *bar = tmpfile();
  FILE *summary = tmpfile();
  strata_progress progress;
  char text[4096];

  strata_progress_start(&progress, "imported", "points", bar, 1);
  for (uint64_t i = 1; i <= 1000; i++)
    strata_progress_update(&progress, i, 2000, 0, 0);
  strata_progress_finish(&progress, 1000, summary);

  rewind(bar);
  size_t n = fread(text, 1, sizeof text - 1, bar);
  text[n] = '\0';
  /* A thousand updates within 0.1 s draw once: the first one. */
  CHECK_CONTAINS(text, "[");
  CHECK_CONTAINS(text, "   0.1%  1/2000 points");
  CHECK(strstr(text, "2/2000") == NULL);
  CHECK_CONTAINS(text, "\r\033[K");

  rewind(summary);
  n = fread(text, 1, sizeof text - 1, summary);
  text[n] = '\0';
  CHECK(strncmp(text, "imported 1000 points in ", 24) == 0);
  CHECK_CONTAINS(text, "/s)\n");
  fclose(bar);
  fclose(summary);

  /* Not a terminal and not forced: nothing drawn. */
  FILE *quiet = tmpfile();
  strata_progress_start(&progress, "imported", "points", quiet, 0);
  strata_progress_update(&progress, 5, 10, 0, 0);
  strata_progress_finish(&progress, 10, NULL);
  CHECK(ftell(quiet) == 0);
  fclose(quiet);

  char duration[32];
  strata_progress_format_duration(12.34, duration, sizeof duration);
  CHECK(strcmp(duration, "12.3 s") == 0);
  strata_progress_format_duration(245, duration, sizeof duration);
  CHECK(strcmp(duration, "4m05s") == 0);
  strata_progress_format_duration(7380, duration, sizeof duration);
  CHECK(strcmp(duration, "2h03m") == 0);
}

int main(void) {
  const char *base = getenv("STRATA_TEST_TMP");
  if (base == NULL || base[0] == '\0')
    base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/strata-readers-XXXXXX",
           base != NULL ? base : "/tmp");
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 2;
  }

  test_fvecs_plain_and_gzip();
  test_fvecs_rejections();
  test_gzip_corrupt();
  test_bvecs();
  test_ivecs();
  test_idx_ubyte();
  test_idx_float();
  test_raw();
  test_jsonl_rows();
  test_jsonl_rejections();
  test_payload_lines();
  test_jsonl_long_line();
  test_json_scan();
  test_json_scan_matches_jansson();
  test_progress();

  char command[600];
  snprintf(command, sizeof command, "rm -rf '%s'", tmpdir);
  if (system(command) != 0)
    fprintf(stderr, "could not remove %s\n", tmpdir);
  if (failures > 0) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("all reader checks passed\n");
  return 0;
}
