/* Crash safety: a child process imports batches with wait (fsync) on and
 * reports each acknowledged batch through a pipe; the parent kills it with
 * SIGKILL at a random moment, reopens the directory, and checks that
 *   - every acknowledged batch is present in full, and
 *   - no batch is present in part (the one in flight is all or nothing).
 * Repeated ROUNDS times on the same directory.  One round in four kills
 * the child at a random moment after fork, usually while it opens and
 * loads what earlier rounds wrote; the others wait until it has opened
 * the database and acknowledged a first batch, then kill it at a random
 * moment during the import. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

#define ROUNDS 24
#define BATCH 64
#define DIM 8
#define MAX_BATCHES 100000
#define OPENED UINT32_MAX /* the child's first message */

static void vector_of(uint64_t id, float *v) {
  for (int j = 0; j < DIM; j++)
    v[j] = (float)((id * 31 + (uint64_t)j * 7) % 1000) / 10.0f;
}

/* The child: import batch after batch from `first`, acknowledging each
 * one on `fd` once strata_upsert returned with wait on. */
static void run_importer(const char *dir, uint32_t first, int fd) {
  strata_db *db = NULL;
  if (strata_open(dir, NULL, &db) != STRATA_OK)
    _exit(3);
  uint32_t opened = OPENED;
  if (write(fd, &opened, sizeof opened) != (ssize_t)sizeof opened)
    _exit(5);
  static float data[BATCH][DIM];
  static char payloads[BATCH][64];
  strata_named_vector nv[BATCH];
  strata_point pts[BATCH];
  strata_write_options wait = {1};
  for (uint32_t b = first; b < MAX_BATCHES; b++) {
    for (int i = 0; i < BATCH; i++) {
      uint64_t id = (uint64_t)b * BATCH + (uint64_t)i;
      vector_of(id, data[i]);
      snprintf(payloads[i], sizeof payloads[i], "{\"batch\":%u,\"i\":%d}", b,
               i);
      nv[i] = (strata_named_vector){"", data[i], DIM};
      pts[i] = (strata_point){strata_id_num(id), &nv[i], 1, payloads[i], 0};
    }
    if (strata_upsert(db, "c", pts, BATCH, &wait) != STRATA_OK)
      _exit(4);
    if (write(fd, &b, sizeof b) != (ssize_t)sizeof b)
      _exit(5);
  }
  _exit(0);
}

/* Checks the directory after a kill; returns the first batch number
 * that is not stored, where the next round starts. */
static uint32_t verify(const char *dir, long last_acked) {
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  uint64_t count = 0;
  CHECK_OK(strata_count(db, "c", &count));
  uint32_t complete = (uint32_t)(count / BATCH);
  /* Whole batches only. */
  CHECK(count % BATCH == 0);
  /* Every acknowledged batch, and at most one more (the one in flight). */
  CHECK((long)complete >= last_acked + 1);
  CHECK((long)complete <= last_acked + 2);

  /* Batches 0..complete-1 are present with the right contents. */
  strata_point_id ids[BATCH];
  for (uint32_t b = 0; b < complete; b += 1 + complete / 16) {
    for (int i = 0; i < BATCH; i++)
      ids[i] = strata_id_num((uint64_t)b * BATCH + (uint64_t)i);
    strata_records *got = NULL;
    CHECK_OK(strata_get(db, "c", ids, BATCH,
                        STRATA_WITH_PAYLOAD | STRATA_WITH_VECTORS, &got));
    REQUIRE(got != NULL);
    CHECK(got->count == BATCH);
    for (size_t i = 0; i < got->count; i++) {
      float expected[DIM];
      vector_of(got->items[i].id.num, expected);
      CHECK(got->items[i].n_vectors == 1 &&
            memcmp(got->items[i].vectors[0].data, expected, sizeof expected) ==
                0);
      char payload[64];
      snprintf(payload, sizeof payload, "{\"batch\":%u,\"i\":%zu}", b, i);
      CHECK(strcmp(got->items[i].payload, payload) == 0);
    }
    strata_records_free(got);
  }
  /* The batch after the last complete one has no point at all. */
  for (int i = 0; i < BATCH; i++)
    ids[i] = strata_id_num((uint64_t)complete * BATCH + (uint64_t)i);
  strata_records *got = NULL;
  CHECK_OK(strata_get(db, "c", ids, BATCH, 0, &got));
  CHECK(got && got->count == 0);
  strata_records_free(got);
  strata_close(db);
  return complete;
}

/* Starts the importer as a new program image.  A forked copy of this
 * process would inherit the state of RocksDB's background thread pool,
 * whose threads do not exist in the child, and its first flush could then
 * wait forever on a condition variable. */
static void exec_importer(const char *self, const char *dir, uint32_t first,
                          int fd) {
  char first_text[16], fd_text[16];
  snprintf(first_text, sizeof first_text, "%u", first);
  snprintf(fd_text, sizeof fd_text, "%d", fd);
  execl(self, self, "--importer", dir, first_text, fd_text, (char *)NULL);
  _exit(6);
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--importer") == 0)
    run_importer(argv[2], (uint32_t)strtoul(argv[3], NULL, 10),
                 atoi(argv[4]));
  char *dir = test_make_dir("crash");
  strata_db *db = NULL;
  REQUIRE(strata_open(dir, NULL, &db) == STRATA_OK);
  strata_vector_config vec = {"", DIM, STRATA_DISTANCE_EUCLID};
  strata_collection_config config = {&vec, 1};
  REQUIRE(strata_collection_create(db, "c", &config) == STRATA_OK);
  strata_close(db);

  uint64_t rng = (uint64_t)time(NULL);
  printf("test_crash: seed %llu\n", (unsigned long long)rng);
  uint32_t next_batch = 0;
  int killed_mid_import = 0;
  for (int round = 0; round < ROUNDS; round++) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      exec_importer("/proc/self/exe", dir, next_batch, fds[1]);
    }
    close(fds[1]);
    uint32_t b;
    long last_acked = (long)next_batch - 1;
    int during_open = round % 4 == 3;
    if (!during_open) {
      /* Wait for the open and the first acknowledged batch, so the kill
       * lands inside the import however slow the machine is. */
      ssize_t got = read(fds[0], &b, sizeof b);
      CHECK(got == (ssize_t)sizeof b && b == OPENED);
      got = read(fds[0], &b, sizeof b);
      CHECK(got == (ssize_t)sizeof b && b != OPENED);
      if (got == (ssize_t)sizeof b && b != OPENED)
        last_acked = b;
    }
    useconds_t delay = 1000 + (useconds_t)(test_random_u64(&rng) % 100000);
    usleep(delay);
    kill(pid, SIGKILL);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    CHECK(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);

    ssize_t n;
    while ((n = read(fds[0], &b, sizeof b)) == (ssize_t)sizeof b)
      if (b != OPENED)
        last_acked = b;
    close(fds[0]);
    killed_mid_import += last_acked >= (long)next_batch;
    uint32_t complete = verify(dir, last_acked);
    printf("round %d: killed after %u ms, acknowledged through batch %ld, "
           "%u batches stored\n",
           round, (unsigned)(delay / 1000), last_acked, complete);
    next_batch = complete;
  }
  /* The test only means something if kills landed during imports. */
  CHECK(killed_mid_import >= ROUNDS / 2);
  printf("test_crash: %d of %d kills landed during an import\n",
         killed_mid_import, ROUNDS);
  test_remove_dir(dir);
  free(dir);
  return check_finish("test_crash");
}
