/*
 * HNSW persistence.
 *
 * File format, version 1.  Every integer is little-endian.
 *
 *   offset  size  field
 *        0     8  magic "STRAHNSW"
 *        8     4  format version (1)
 *       12     4  metric (0 dot, 1 L2, 2 L1)
 *       16     4  dimension, must equal the store's
 *       20     4  m (2..128); level-0 lists hold up to 2m links
 *       24     4  ef_construct (>= 1)
 *       28     4  slot limit L: every node's slot is below L
 *       32     4  node count N (<= L)
 *       36     4  entry slot, 0xFFFFFFFF when no node is PRESENT
 *       40     4  entry level
 *       44     8  level generator seed
 *       52     8  level draws made so far
 *       60        N node records, slots strictly ascending:
 *                   4  slot
 *                   1  state (2 PRESENT, 3 REMOVED)
 *                   1  level (0..30)
 *                   2  zero
 *                   then for each level 0..level:
 *                     4  link count (<= 2m on level 0, <= m above)
 *                     4  per link: the neighbour's slot
 *   end - 4     4  CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320)
 *                  of every byte before it
 *
 * Loading reads the file twice.  The first pass checks the CRC, so a
 * flipped bit or a truncation is reported as corruption before any field
 * is trusted.  The second pass parses and bounds every count, level and
 * slot before using it, because a file with a valid CRC may still have
 * been written by something hostile.  Finally the graph invariants are
 * verified as strata_hnsw_check does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hnsw_internal.h"

#define FILE_MAGIC "STRAHNSW"
#define FILE_VERSION 1
#define HEADER_BYTES 60
#define FILE_STATE_PRESENT 2
#define FILE_STATE_REMOVED 3

/* ---- CRC-32 ---------------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

/* Continues a CRC over `n` bytes; start from 0. */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++)
    crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

/* ---- Little-endian fields --------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---- Save ----------------------------------------------------------------- */

typedef struct writer {
  FILE *f;
  uint32_t crc;
  bool failed;
} writer;

static void w_bytes(writer *w, const void *data, size_t n) {
  if (w->failed)
    return;
  w->crc = crc32_update(w->crc, data, n);
  if (fwrite(data, 1, n, w->f) != n)
    w->failed = true;
}

static void w_u32(writer *w, uint32_t v) {
  uint8_t b[4];
  put_u32(b, v);
  w_bytes(w, b, 4);
}

static void write_header(writer *w, strata_hnsw *h, uint32_t limit,
                         uint32_t nodes) {
  uint8_t b[HEADER_BYTES];
  uint64_t entry = hnsw_entry_load(h);
  memcpy(b, FILE_MAGIC, 8);
  put_u32(b + 8, FILE_VERSION);
  put_u32(b + 12, (uint32_t)h->metric);
  put_u32(b + 16, (uint32_t)h->dim);
  put_u32(b + 20, h->m);
  put_u32(b + 24, h->ef_construct);
  put_u32(b + 28, limit);
  put_u32(b + 32, nodes);
  put_u32(b + 36, hnsw_entry_slot(entry));
  put_u32(b + 40, hnsw_entry_level(entry));
  put_u64(b + 44, h->seed);
  put_u64(b + 52, h->level_draws);
  w_bytes(w, b, sizeof b);
}

static void write_nodes(writer *w, strata_hnsw *h, uint32_t limit) {
  for (uint32_t slot = 0; slot < limit && !w->failed; slot++) {
    uint8_t st = hnsw_state(h, slot);
    if (st != HNSW_PRESENT && st != HNSW_REMOVED)
      continue;
    unsigned level = hnsw_level(h, slot);
    uint8_t rec[8] = {0};
    put_u32(rec, slot);
    rec[4] = st == HNSW_PRESENT ? FILE_STATE_PRESENT : FILE_STATE_REMOVED;
    rec[5] = (uint8_t)level;
    w_bytes(w, rec, sizeof rec);
    for (unsigned l = 0; l <= level; l++) {
      const uint32_t *list = hnsw_list(h, slot, l);
      uint32_t n = list[0];
      w_u32(w, n);
      for (uint32_t i = 0; i < n; i++)
        w_u32(w, list[1 + i]);
    }
  }
}

/* Fsyncs the directory holding `path`, so the rename is durable. */
static int sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup(".");
  if (!dir)
    return STRATA_HNSW_ENOMEM;
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  free(dir);
  if (fd < 0)
    return STRATA_HNSW_EIO;
  int rc = fsync(fd) == 0 ? STRATA_HNSW_OK : STRATA_HNSW_EIO;
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int save_locked(strata_hnsw *h, const char *path) {
  size_t len = strlen(path);
  char *tmp = malloc(len + sizeof ".tmp.XXXXXX");
  if (!tmp)
    return STRATA_HNSW_ENOMEM;
  memcpy(tmp, path, len);
  memcpy(tmp + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");

  int fd = mkstemp(tmp);
  if (fd < 0) {
    free(tmp);
    return STRATA_HNSW_EIO;
  }
  writer w = {fdopen(fd, "wb"), 0, false};
  if (!w.f) {
    int saved = errno;
    close(fd);
    unlink(tmp);
    free(tmp);
    errno = saved;
    return STRATA_HNSW_EIO;
  }

  /* 1. Count the nodes, then write header, nodes and CRC. */
  uint32_t limit = __atomic_load_n(&h->slot_limit, __ATOMIC_ACQUIRE);
  uint32_t nodes = 0;
  for (uint32_t slot = 0; slot < limit; slot++) {
    uint8_t st = hnsw_state(h, slot);
    nodes += st == HNSW_PRESENT || st == HNSW_REMOVED;
  }
  write_header(&w, h, limit, nodes);
  write_nodes(&w, h, limit);
  uint8_t crc[4];
  put_u32(crc, w.crc);
  w_bytes(&w, crc, sizeof crc);

  /* 2. Make it durable, then atomically replace the old file. */
  bool ok = !w.failed && fflush(w.f) == 0 && fsync(fd) == 0;
  int saved = errno;
  if (fclose(w.f) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (ok && rename(tmp, path) != 0) {
    ok = false;
    saved = errno;
  }
  if (!ok)
    unlink(tmp);
  free(tmp);
  errno = saved;
  if (!ok)
    return STRATA_HNSW_EIO;
  return sync_parent_dir(path);
}

int strata_hnsw_save(strata_hnsw *h, const char *path) {
  pthread_once(&crc_once, crc_init);
  pthread_rwlock_wrlock(&h->writers);
  int rc = save_locked(h, path);
  pthread_rwlock_unlock(&h->writers);
  return rc;
}

/* ---- Load ----------------------------------------------------------------- */

typedef struct reader {
  FILE *f;
  uint64_t offset; /* bytes consumed so far */
  uint64_t body;   /* bytes before the CRC */
  char *msg;
  size_t msg_len;
} reader;

static int load_fail(reader *r, int rc, const char *fmt, ...) {
  if (r->msg && r->msg_len > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, r->msg_len, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* Reads `n` bytes of the body; false at its end. */
static bool r_bytes(reader *r, void *buf, size_t n) {
  if (r->offset + n > r->body)
    return false;
  if (fread(buf, 1, n, r->f) != n)
    return false;
  r->offset += n;
  return true;
}

static bool r_u32(reader *r, uint32_t *v) {
  uint8_t b[4];
  if (!r_bytes(r, b, 4))
    return false;
  *v = get_u32(b);
  return true;
}

/* Pass 1: checks the size and the CRC of the whole file. */
static int verify_crc(reader *r) {
  if (fseeko(r->f, 0, SEEK_END) != 0)
    return load_fail(r, STRATA_HNSW_EIO, "cannot seek: %s", strerror(errno));
  off_t size = ftello(r->f);
  if (size < 0 || fseeko(r->f, 0, SEEK_SET) != 0)
    return load_fail(r, STRATA_HNSW_EIO, "cannot seek: %s", strerror(errno));
  if (size < HEADER_BYTES + 4)
    return load_fail(r, STRATA_HNSW_ECORRUPT,
                     "truncated: %lld bytes, a header and CRC need %d",
                     (long long)size, HEADER_BYTES + 4);
  r->body = (uint64_t)size - 4;

  uint8_t buf[1 << 16];
  uint32_t crc = 0;
  uint64_t left = r->body;
  while (left > 0) {
    size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
    if (fread(buf, 1, n, r->f) != n)
      return load_fail(r, STRATA_HNSW_EIO, "read failed at byte %llu",
                       (unsigned long long)(r->body - left));
    crc = crc32_update(crc, buf, n);
    left -= n;
  }
  uint8_t stored[4];
  if (fread(stored, 1, 4, r->f) != 4)
    return load_fail(r, STRATA_HNSW_EIO, "cannot read the CRC");
  if (get_u32(stored) != crc)
    return load_fail(r, STRATA_HNSW_ECORRUPT,
                     "CRC mismatch: stored %08x, computed %08x over %llu "
                     "bytes (truncated or damaged file)",
                     get_u32(stored), crc, (unsigned long long)r->body);
  if (fseeko(r->f, 0, SEEK_SET) != 0)
    return load_fail(r, STRATA_HNSW_EIO, "cannot seek: %s", strerror(errno));
  return STRATA_HNSW_OK;
}

typedef struct file_header {
  strata_hnsw_params params;
  uint32_t metric, dim, limit, nodes, entry, entry_level;
  uint64_t draws;
} file_header;

static int read_header(reader *r, const strata_vector_store *store,
                       file_header *hd) {
  uint8_t b[HEADER_BYTES];
  if (!r_bytes(r, b, sizeof b))
    return load_fail(r, STRATA_HNSW_ECORRUPT, "truncated header");
  if (memcmp(b, FILE_MAGIC, 8) != 0)
    return load_fail(r, STRATA_HNSW_ECORRUPT, "bad magic at offset 0");
  if (get_u32(b + 8) != FILE_VERSION)
    return load_fail(r, STRATA_HNSW_ECORRUPT,
                     "format version %u, this build reads %u",
                     get_u32(b + 8), FILE_VERSION);
  hd->metric = get_u32(b + 12);
  hd->dim = get_u32(b + 16);
  hd->params.m = get_u32(b + 20);
  hd->params.ef_construct = get_u32(b + 24);
  hd->limit = get_u32(b + 28);
  hd->nodes = get_u32(b + 32);
  hd->entry = get_u32(b + 36);
  hd->entry_level = get_u32(b + 40);
  hd->params.seed = get_u64(b + 44);
  hd->draws = get_u64(b + 52);

  if (hd->metric > STRATA_METRIC_L1)
    return load_fail(r, STRATA_HNSW_ECORRUPT, "metric %u at offset 12",
                     hd->metric);
  if (hd->params.m < 2 || hd->params.m > HNSW_MAX_M ||
      hd->params.ef_construct < 1)
    return load_fail(r, STRATA_HNSW_ECORRUPT,
                     "m %u or ef_construct %u out of range", hd->params.m,
                     hd->params.ef_construct);
  if (hd->nodes > hd->limit || hd->limit > STRATA_VS_MAX_SLOTS)
    return load_fail(r, STRATA_HNSW_ECORRUPT,
                     "node count %u, slot limit %u", hd->nodes, hd->limit);
  if (hd->entry != HNSW_NONE &&
      (hd->entry >= hd->limit || hd->entry_level > HNSW_MAX_LEVEL))
    return load_fail(r, STRATA_HNSW_ECORRUPT,
                     "entry point %u level %u out of range", hd->entry,
                     hd->entry_level);
  if (hd->dim != store->dim)
    return load_fail(r, STRATA_HNSW_EMISMATCH,
                     "file dimension %u, store dimension %zu", hd->dim,
                     store->dim);
  if (hd->limit > store->n_slots)
    return load_fail(r, STRATA_HNSW_EMISMATCH,
                     "file has slots up to %u, store has %zu", hd->limit,
                     store->n_slots);
  return STRATA_HNSW_OK;
}

/* Reads the lists of one node into the index; `slot` is validated. */
static int read_lists(reader *r, strata_hnsw *h, uint32_t slot,
                      unsigned level, uint32_t limit) {
  for (unsigned l = 0; l <= level; l++) {
    uint64_t at = r->offset;
    uint32_t n;
    if (!r_u32(r, &n))
      return load_fail(r, STRATA_HNSW_ECORRUPT,
                       "truncated in node %u at offset %llu", slot,
                       (unsigned long long)at);
    if (n > hnsw_list_cap(h, l))
      return load_fail(r, STRATA_HNSW_ECORRUPT,
                       "node %u level %u: %u links at offset %llu, limit %u",
                       slot, l, n, (unsigned long long)at,
                       hnsw_list_cap(h, l));
    uint32_t *list = hnsw_list(h, slot, l);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t nb;
      if (!r_u32(r, &nb))
        return load_fail(r, STRATA_HNSW_ECORRUPT,
                         "truncated in node %u at offset %llu", slot,
                         (unsigned long long)r->offset);
      if (nb >= limit)
        return load_fail(r, STRATA_HNSW_ECORRUPT,
                         "node %u level %u: link to slot %u at offset %llu, "
                         "limit %u",
                         slot, l, nb, (unsigned long long)(r->offset - 4),
                         limit);
      list[1 + i] = nb;
    }
    list[0] = n;
  }
  return STRATA_HNSW_OK;
}

static int read_nodes(reader *r, strata_hnsw *h, const file_header *hd) {
  int64_t prev = -1;
  for (uint32_t k = 0; k < hd->nodes; k++) {
    uint64_t at = r->offset;
    uint8_t rec[8];
    if (!r_bytes(r, rec, sizeof rec))
      return load_fail(r, STRATA_HNSW_ECORRUPT,
                       "truncated at node record %u, offset %llu", k,
                       (unsigned long long)at);
    uint32_t slot = get_u32(rec);
    uint8_t state = rec[4], level = rec[5];
    if ((int64_t)slot <= prev || slot >= hd->limit)
      return load_fail(r, STRATA_HNSW_ECORRUPT,
                       "node record %u at offset %llu: slot %u out of order "
                       "or beyond %u",
                       k, (unsigned long long)at, slot, hd->limit);
    if (state != FILE_STATE_PRESENT && state != FILE_STATE_REMOVED)
      return load_fail(r, STRATA_HNSW_ECORRUPT,
                       "node %u at offset %llu: state %u", slot,
                       (unsigned long long)at, state);
    if (level > HNSW_MAX_LEVEL)
      return load_fail(r, STRATA_HNSW_ECORRUPT,
                       "node %u at offset %llu: level %u above %u", slot,
                       (unsigned long long)at, level, HNSW_MAX_LEVEL);
    if (state == FILE_STATE_PRESENT &&
        !strata_vs_is_live(h->store, slot))
      return load_fail(r, STRATA_HNSW_EMISMATCH,
                       "node %u is PRESENT but its store slot is not live",
                       slot);
    prev = slot;

    if (!hnsw_ensure_chunk(h, slot) || !hnsw_alloc_upper(h, slot, level))
      return load_fail(r, STRATA_HNSW_ENOMEM, "out of memory at node %u",
                       slot);
    hnsw_chunk *c = hnsw_chunk_of(h, slot);
    c->level[hnsw_index_in_chunk(slot)] = level;
    int rc = read_lists(r, h, slot, level, hd->limit);
    if (rc != STRATA_HNSW_OK)
      return rc;
    if (state == FILE_STATE_PRESENT) {
      c->state[hnsw_index_in_chunk(slot)] = HNSW_PRESENT;
      h->n_present++;
    } else {
      c->state[hnsw_index_in_chunk(slot)] = HNSW_REMOVED;
      h->n_removed++;
    }
  }
  if (r->offset != r->body)
    return load_fail(r, STRATA_HNSW_ECORRUPT,
                     "%llu unexpected bytes after the last node",
                     (unsigned long long)(r->body - r->offset));

  /* In-degrees are not stored; count them.  A link to a slot with no
   * chunk is left for the graph check to report. */
  for (uint32_t slot = 0; slot < hd->limit; slot++) {
    if (hnsw_state(h, slot) == HNSW_FREE)
      continue;
    const uint32_t *list = hnsw_list(h, slot, 0);
    for (uint32_t i = 0; i < list[0]; i++) {
      if (hnsw_chunk_of(h, list[1 + i]))
        (*hnsw_indeg(h, list[1 + i]))++;
    }
  }
  return STRATA_HNSW_OK;
}

static int load_from(reader *r, const strata_vector_store *store,
                     strata_hnsw **out) {
  int rc = verify_crc(r);
  if (rc != STRATA_HNSW_OK)
    return rc;
  file_header hd;
  rc = read_header(r, store, &hd);
  if (rc != STRATA_HNSW_OK)
    return rc;

  strata_hnsw *h = NULL;
  rc = hnsw_alloc(&hd.params, (strata_metric)hd.metric, store, &h);
  if (rc != STRATA_HNSW_OK)
    return load_fail(r, rc, "cannot create the index: %s",
                     strata_hnsw_strerror(rc));
  h->level_draws = hd.draws;
  rc = read_nodes(r, h, &hd);
  if (rc == STRATA_HNSW_OK) {
    h->entry = hnsw_entry_pack(hd.entry,
                               hd.entry == HNSW_NONE ? 0 : hd.entry_level);
    char why[200];
    int check = hnsw_check_locked(h, why, sizeof why);
    if (check == STRATA_HNSW_ENOMEM)
      rc = load_fail(r, check, "%s", why);
    else if (check != STRATA_HNSW_OK)
      rc = load_fail(r, STRATA_HNSW_ECORRUPT, "invalid graph: %s", why);
  }
  if (rc != STRATA_HNSW_OK) {
    strata_hnsw_destroy(h);
    return rc;
  }
  *out = h;
  return STRATA_HNSW_OK;
}

int strata_hnsw_load(const char *path, const strata_vector_store *store,
                     strata_hnsw **out, char *msg, size_t msg_len) {
  pthread_once(&crc_once, crc_init);
  if (msg && msg_len > 0)
    msg[0] = '\0';
  if (!out || !store || !path)
    return STRATA_HNSW_EINVAL;
  *out = NULL;
  reader r = {fopen(path, "rb"), 0, 0, msg, msg_len};
  if (!r.f)
    return load_fail(&r, STRATA_HNSW_EIO, "cannot open %s: %s", path,
                     strerror(errno));
  int rc = load_from(&r, store, out);
  int saved = errno;
  fclose(r.f);
  errno = saved;
  return rc;
}
