/* Persistence.  A save/load round trip gives identical results and an
 * identical file.  Every truncation and every flipped byte is reported as
 * corruption.  Files with a valid CRC but hostile content are rejected.
 * Mismatched stores and I/O failures get their own codes. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "hnsw_test.h"

#define DIM 12
#define HEADER_BYTES 60

typedef struct blob {
  uint8_t *bytes;
  size_t len;
} blob;

static blob read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  REQUIRE(f != NULL);
  REQUIRE(fseek(f, 0, SEEK_END) == 0);
  long len = ftell(f);
  REQUIRE(len > 0);
  rewind(f);
  blob b = {malloc((size_t)len), (size_t)len};
  REQUIRE(b.bytes && fread(b.bytes, 1, b.len, f) == b.len);
  fclose(f);
  return b;
}

static void write_file(const char *path, const uint8_t *bytes, size_t len) {
  FILE *f = fopen(path, "wb");
  REQUIRE(f != NULL);
  REQUIRE(fwrite(bytes, 1, len, f) == len);
  REQUIRE(fclose(f) == 0);
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the trailing CRC so that only the content check can object.
 * zlib's crc32 is the same CRC-32 the format uses. */
static void fix_crc(uint8_t *bytes, size_t len) {
  uLong crc = crc32(0L, bytes, (uInt)(len - 4));
  put_u32(bytes + len - 4, (uint32_t)crc);
}

/* Writes dir/name to `out`, which has room for `size` bytes. */
static void join_path(char *out, size_t size, const char *dir,
                      const char *name) {
  int n = snprintf(out, size, "%s/%s", dir, name);
  REQUIRE(n > 0 && (size_t)n < size);
}

static int load_bytes(const char *path, const uint8_t *bytes, size_t len,
                      const strata_vector_store *vs, char *msg,
                      size_t msg_len) {
  write_file(path, bytes, len);
  strata_hnsw *h = NULL;
  int rc = strata_hnsw_load(path, vs, &h, msg, msg_len);
  if (rc == STRATA_HNSW_OK) {
    CHECK_GRAPH(h);
    strata_hnsw_destroy(h);
  } else {
    CHECK(h == NULL);
  }
  return rc;
}

static void test_round_trip(const char *dir) {
  test_data d = test_random(3000, DIM, 41);
  test_data queries = test_random(50, DIM, 42);
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, DIM) == 0);
  test_fill_store(&vs, &d);
  strata_hnsw *h = test_create(STRATA_METRIC_L2, &vs, 12, 80);
  for (uint32_t i = 0; i < 3000; i++)
    CHECK_RC(strata_hnsw_insert(h, i), STRATA_HNSW_OK);
  /* Keep some REMOVED nodes in the file. */
  for (uint32_t i = 0; i < 3000; i += 10)
    CHECK_RC(strata_hnsw_remove(h, i), STRATA_HNSW_OK);
  CHECK_GRAPH(h);

  char path[512], path2[512], scratch[512];
  join_path(path, sizeof path, dir, "index.hnsw");
  join_path(path2, sizeof path2, dir, "index2.hnsw");
  join_path(scratch, sizeof scratch, dir, "scratch.hnsw");
  CHECK_RC(strata_hnsw_save(h, path), STRATA_HNSW_OK);
  /* Saving again replaces the file. */
  CHECK_RC(strata_hnsw_save(h, path), STRATA_HNSW_OK);

  strata_hnsw *loaded = NULL;
  char msg[256] = "";
  CHECK_RC(strata_hnsw_load(path, &vs, &loaded, msg, sizeof msg),
           STRATA_HNSW_OK);
  REQUIRE(loaded != NULL);
  CHECK_GRAPH(loaded);
  strata_hnsw_info a, b;
  strata_hnsw_get_info(h, &a);
  strata_hnsw_get_info(loaded, &b);
  CHECK(a.present == b.present);
  CHECK(a.removed == b.removed);
  CHECK(a.entry == b.entry);
  CHECK(a.max_level == b.max_level);

  size_t same = 0;
  for (size_t q = 0; q < queries.count; q++) {
    strata_hit x[10], y[10];
    long nx = strata_hnsw_search(h, queries.rows + q * DIM, 10, 40, NULL, x);
    long ny =
        strata_hnsw_search(loaded, queries.rows + q * DIM, 10, 40, NULL, y);
    same += nx == 10 && ny == 10 && memcmp(x, y, sizeof x) == 0;
  }
  CHECK(same == queries.count);

  /* The loaded index saves to the same bytes. */
  CHECK_RC(strata_hnsw_save(loaded, path2), STRATA_HNSW_OK);
  blob original = read_file(path), again = read_file(path2);
  CHECK(original.len == again.len &&
        memcmp(original.bytes, again.bytes, original.len) == 0);
  free(again.bytes);

  /* Every truncation is corruption. */
  size_t truncated_ok = 0;
  for (size_t len = 0; len < original.len; len += len < 200 ? 1 : 997) {
    int rc = load_bytes(scratch, original.bytes, len, &vs, msg, sizeof msg);
    truncated_ok += rc == STRATA_HNSW_ECORRUPT;
    if (rc != STRATA_HNSW_ECORRUPT)
      fprintf(stderr, "truncated to %zu: code %d (%s)\n", len, rc, msg);
  }
  CHECK(truncated_ok > 0);
  CHECK(load_bytes(scratch, original.bytes, original.len - 1, &vs, msg,
                   sizeof msg) == STRATA_HNSW_ECORRUPT);

  /* Every flipped byte is corruption. */
  size_t flips = 0, caught = 0;
  uint8_t *copy = malloc(original.len);
  REQUIRE(copy != NULL);
  for (size_t off = 0; off < original.len; off += off < 256 ? 1 : 499) {
    memcpy(copy, original.bytes, original.len);
    copy[off] ^= (uint8_t)(1u << (off % 8));
    flips++;
    caught += load_bytes(scratch, copy, original.len, &vs, msg,
                         sizeof msg) == STRATA_HNSW_ECORRUPT;
  }
  printf("flipped %zu single bits, %zu reported as corrupt\n", flips, caught);
  CHECK(caught == flips);

  /* Trailing garbage after a valid file, with a CRC over it. */
  uint8_t *longer = malloc(original.len + 8);
  REQUIRE(longer != NULL);
  memcpy(longer, original.bytes, original.len - 4);
  memset(longer + original.len - 4, 0, 8);
  fix_crc(longer, original.len + 8);
  CHECK(load_bytes(scratch, longer, original.len + 8, &vs, msg,
                   sizeof msg) == STRATA_HNSW_ECORRUPT);
  free(longer);

  /* Hostile content with a valid CRC.  The first node record starts at
   * HEADER_BYTES: slot, state, level, padding, then the level-0 count and
   * links. */
  const size_t rec = HEADER_BYTES, count_at = rec + 8, link_at = rec + 12;
  REQUIRE(get_u32(original.bytes + count_at) > 0);
  struct {
    const char *what;
    size_t offset;
    uint32_t value;
    int width;
    int expected;
  } cases[] = {
      {"link beyond the slot limit", link_at, 1u << 30, 4,
       STRATA_HNSW_ECORRUPT},
      {"link to itself", link_at, 0xFFFFFFFF, 4, STRATA_HNSW_ECORRUPT},
      {"count above 2m", count_at, 25, 4, STRATA_HNSW_ECORRUPT},
      {"count of 2^32 - 1", count_at, 0xFFFFFFFF, 4, STRATA_HNSW_ECORRUPT},
      {"state 9", rec + 4, 9, 1, STRATA_HNSW_ECORRUPT},
      {"level 200", rec + 5, 200, 1, STRATA_HNSW_ECORRUPT},
      {"m of 0", 20, 0, 4, STRATA_HNSW_ECORRUPT},
      {"metric 5", 12, 5, 4, STRATA_HNSW_ECORRUPT},
      {"version 2", 8, 2, 4, STRATA_HNSW_ECORRUPT},
      {"node count above the slot limit", 32, 5000, 4, STRATA_HNSW_ECORRUPT},
      {"entry point beyond the slot limit", 36, 4000, 4,
       STRATA_HNSW_ECORRUPT},
      {"dimension 13", 16, 13, 4, STRATA_HNSW_EMISMATCH},
      {"slot limit above the store", 28, 3001, 4, STRATA_HNSW_EMISMATCH},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(copy, original.bytes, original.len);
    uint32_t value = cases[i].value;
    if (value == 0xFFFFFFFF && cases[i].offset == link_at)
      value = get_u32(copy + rec); /* the node's own slot */
    if (cases[i].width == 4)
      put_u32(copy + cases[i].offset, value);
    else
      copy[cases[i].offset] = (uint8_t)value;
    fix_crc(copy, original.len);
    int rc = load_bytes(scratch, copy, original.len, &vs, msg, sizeof msg);
    if (rc != cases[i].expected)
      fprintf(stderr, "%s: code %d (%s)\n", cases[i].what, rc, msg);
    CHECK(rc == cases[i].expected);
  }

  /* Random damage with a recomputed CRC, as a hostile writer would make:
   * every outcome must be a clean error or an index that passes the
   * check (load_bytes runs it), and never a crash. */
  uint64_t state = 12345;
  size_t accepted = 0, rejected = 0;
  for (int round = 0; round < 400; round++) {
    memcpy(copy, original.bytes, original.len);
    int bytes = 1 + round % 4;
    for (int i = 0; i < bytes; i++) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t off = (size_t)(state >> 33) % (original.len - 4);
      copy[off] = (uint8_t)(state >> 20);
    }
    fix_crc(copy, original.len);
    int rc = load_bytes(scratch, copy, original.len, &vs, msg, sizeof msg);
    CHECK(rc == STRATA_HNSW_OK || rc == STRATA_HNSW_ECORRUPT ||
          rc == STRATA_HNSW_EMISMATCH);
    accepted += rc == STRATA_HNSW_OK;
    rejected += rc != STRATA_HNSW_OK;
  }
  printf("random damage with valid CRC: %zu rejected, %zu accepted and "
         "checked\n",
         rejected, accepted);
  CHECK(rejected > 0);
  free(copy);

  /* A PRESENT node whose store slot was freed since the save. */
  uint32_t first_present = 1; /* slot 0 was removed above */
  strata_vs_remove(&vs, first_present);
  CHECK(load_bytes(scratch, original.bytes, original.len, &vs, msg,
                   sizeof msg) == STRATA_HNSW_EMISMATCH);
  CHECK(strstr(msg, "not live") != NULL);
  free(original.bytes);

  /* I/O failures. */
  char missing[512];
  join_path(missing, sizeof missing, dir, "no-such-file.hnsw");
  strata_hnsw *none = NULL;
  CHECK_RC(strata_hnsw_load(missing, &vs, &none, msg, sizeof msg),
           STRATA_HNSW_EIO);
  CHECK(none == NULL);
  join_path(missing, sizeof missing, dir, "no-such-dir/index.hnsw");
  CHECK_RC(strata_hnsw_save(h, missing), STRATA_HNSW_EIO);
  CHECK(errno == ENOENT);

  unlink(path);
  unlink(path2);
  unlink(scratch);
  strata_hnsw_destroy(loaded);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  test_data_free(&d);
  test_data_free(&queries);
}

static void test_empty_round_trip(const char *dir) {
  strata_vector_store vs;
  REQUIRE(strata_vs_init(&vs, DIM) == 0);
  strata_hnsw *h = test_create(STRATA_METRIC_DOT, &vs, 16, 100);
  char path[512];
  join_path(path, sizeof path, dir, "empty.hnsw");
  CHECK_RC(strata_hnsw_save(h, path), STRATA_HNSW_OK);
  strata_hnsw *loaded = NULL;
  CHECK_RC(strata_hnsw_load(path, &vs, &loaded, NULL, 0), STRATA_HNSW_OK);
  REQUIRE(loaded != NULL);
  CHECK_GRAPH(loaded);
  float q[DIM] = {1};
  strata_hit hit;
  CHECK(strata_hnsw_search(loaded, q, 1, 10, NULL, &hit) == 0);
  unlink(path);
  strata_hnsw_destroy(loaded);
  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
}

int main(int argc, char **argv) {
  char dir[] = "/tmp/strata-hnsw-persist-XXXXXX";
  const char *base = argc > 1 ? argv[1] : NULL;
  char buf[512];
  if (base) {
    join_path(buf, sizeof buf, base, "hnsw-persist-XXXXXX");
    REQUIRE(mkdtemp(buf) != NULL);
  } else {
    REQUIRE(mkdtemp(dir) != NULL);
  }
  const char *use = base ? buf : dir;
  test_round_trip(use);
  test_empty_round_trip(use);
  CHECK(rmdir(use) == 0); /* no temporary file was left behind */
  return test_finish("test_hnsw_persist");
}
