/*
 * Checks the vector store's layout and chunk table.  Rows are padded to
 * a multiple of 4 floats with zeros.  The table grows past its initial
 * size without moving any chunk.  strata_vs_add_at works far beyond the
 * high-water mark, freed slots are reused (also in chunks never
 * allocated), and strata_vs_grow_to extends the range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_check.h"
#include "vector_rows.h"
#include "vector_store.h"

static void test_stride_and_padding(void) {
  static const size_t dims[][2] = {{1, 4}, {4, 4}, {5, 8}, {100, 100},
                                   {101, 104}, {784, 784}};
  for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
    strata_vector_store vs;
    CHECK(strata_vs_init(&vs, dims[d][0]) == 0, "init dim %zu", dims[d][0]);
    CHECK(vs.stride == dims[d][1], "dim %zu: stride %zu, expected %zu",
          dims[d][0], vs.stride, dims[d][1]);
    float *vec = malloc(dims[d][0] * sizeof *vec);
    for (size_t i = 0; i < dims[d][0]; i++)
      vec[i] = 1.0f;
    CHECK(strata_vs_add(&vs, vec) == 0, "add to dim %zu", dims[d][0]);
    CHECK(strata_vs_add(&vs, vec) == 1, "second add to dim %zu", dims[d][0]);
    /* The distance kernels run over whole rows: padding must be zero. */
    for (size_t slot = 0; slot < 2; slot++) {
      const float *row = strata_vs_vector(&vs, slot);
      for (size_t i = dims[d][0]; i < vs.stride; i++)
        CHECK(row[i] == 0.0f, "dim %zu slot %zu: padding float %zu is %g",
              dims[d][0], slot, i, (double)row[i]);
    }
    free(vec);
    strata_vs_destroy(&vs);
  }
}

static void test_growth_keeps_rows(void) {
  strata_vector_store vs;
  CHECK(strata_vs_init(&vs, DIM) == 0, "init");
  size_t initial_ptrs = vs.n_chunk_ptrs;

  /* Enough slots for many table doublings. */
  size_t n = 40 * STRATA_VS_CHUNK + 17;
  const float *first_row = NULL;
  float vec[DIM];
  for (size_t i = 0; i < n; i++) {
    make_row(vec, i);
    int64_t slot = strata_vs_add(&vs, vec);
    CHECK(slot == (int64_t)i, "add %zu returned slot %lld", i,
          (long long)slot);
    if (i == 0)
      first_row = strata_vs_vector(&vs, 0);
  }
  CHECK(vs.n_chunk_ptrs > initial_ptrs, "table did not grow: %zu entries",
        vs.n_chunk_ptrs);
  CHECK(vs.n_chunk_ptrs * STRATA_VS_CHUNK >= n, "table of %zu entries for "
        "%zu slots", vs.n_chunk_ptrs, n);
  CHECK(vs.n_chunk_ptrs <= 2 * (n / STRATA_VS_CHUNK + 1),
        "table of %zu entries is more than twice the %zu chunks needed",
        vs.n_chunk_ptrs, n / STRATA_VS_CHUNK + 1);
  /* Growing the table moves no chunk. */
  CHECK(strata_vs_vector(&vs, 0) == first_row, "row 0 moved");
  for (size_t i = 0; i < n; i++) {
    if (!row_matches(&vs, i, i)) {
      CHECK(0, "row %zu changed after growth", i);
      break;
    }
  }

  /* A freed slot is reused before the store grows. */
  strata_vs_remove(&vs, 3);
  make_row(vec, 1000000);
  CHECK(strata_vs_add(&vs, vec) == 3, "freed slot 3 not reused");
  CHECK(row_matches(&vs, 3, 1000000), "reused slot 3 has the wrong row");
  CHECK(vs.n_slots == n, "n_slots %zu after reuse, expected %zu", vs.n_slots,
        n);
  strata_vs_destroy(&vs);
}

static void test_add_at_far_slot(void) {
  strata_vector_store vs;
  CHECK(strata_vs_init(&vs, DIM) == 0, "init");
  float vec[DIM];
  uint32_t far = (uint32_t)(1000 * STRATA_VS_CHUNK + 5);
  make_row(vec, 7);
  CHECK(strata_vs_add_at(&vs, far, vec) == 0, "add_at %u", far);
  CHECK(vs.n_slots == (size_t)far + 1, "n_slots %zu", vs.n_slots);
  CHECK(strata_vs_is_live(&vs, far), "slot %u not live", far);
  CHECK(!strata_vs_is_live(&vs, 0), "slot 0 live");
  CHECK(row_matches(&vs, far, 7), "far row wrong");
  CHECK(strata_vs_add_at(&vs, far, vec) != 0, "add_at of a live slot");

  /* A slot below it, in a chunk never allocated before. */
  make_row(vec, 8);
  CHECK(strata_vs_add_at(&vs, 2 * STRATA_VS_CHUNK, vec) == 0, "add_at low");
  CHECK(row_matches(&vs, far, 7), "far row changed");
  CHECK(row_matches(&vs, 2 * STRATA_VS_CHUNK, 8), "low row wrong");

  CHECK(strata_vs_grow_to(&vs, (size_t)far + 3 * STRATA_VS_CHUNK) == 0,
        "grow_to");
  CHECK(vs.n_slots == (size_t)far + 3 * STRATA_VS_CHUNK, "n_slots %zu",
        vs.n_slots);
  CHECK(strata_vs_collect_free(&vs) == 0, "collect_free");
  /* Slot 0, the lowest free slot, is handed out first, although no
   * vector was ever stored in its chunk. */
  make_row(vec, 9);
  CHECK(strata_vs_add(&vs, vec) == 0, "add after collect_free");
  CHECK(row_matches(&vs, 0, 9), "row 0 wrong");
  strata_vs_destroy(&vs);
}

int main(void) {
  test_stride_and_padding();
  test_growth_keeps_rows();
  test_add_at_far_slot();
  if (failures) {
    fprintf(stderr, "test_vector_store: %d check(s) failed\n", failures);
    return 1;
  }
  printf("test_vector_store: ok\n");
  return 0;
}
