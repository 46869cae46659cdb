// C wrapper around faiss::IndexFlatL2; see faiss_shim.h.
#include "faiss_shim.h"

#include <cstdio>
#include <exception>
#include <new>

#include <faiss/IndexFlat.h>
#include <faiss/utils/distances.h>
#include <omp.h>

struct strata_faiss_flat {
  faiss::IndexFlatL2 index;
  explicit strata_faiss_flat(size_t dim)
      : index(static_cast<faiss::Index::idx_t>(dim)) {}
};

namespace {

thread_local char last_error[512];

// Runs fn, converting any exception to an error code and a message.
template <typename Fn> int guarded(Fn fn) {
  last_error[0] = '\0';
  try {
    fn();
    return 0;
  } catch (const std::bad_alloc &) {
    std::snprintf(last_error, sizeof last_error, "out of memory");
    return STRATA_FAISS_ENOMEM;
  } catch (const std::exception &e) {
    std::snprintf(last_error, sizeof last_error, "%s", e.what());
    return STRATA_FAISS_EFAISS;
  } catch (...) {
    std::snprintf(last_error, sizeof last_error, "unknown C++ exception");
    return STRATA_FAISS_EFAISS;
  }
}

} // namespace

extern "C" {

int strata_faiss_flat_create(size_t dim, strata_faiss_flat **out) {
  *out = nullptr;
  return guarded([&] { *out = new strata_faiss_flat(dim); });
}

int strata_faiss_flat_add(strata_faiss_flat *index, size_t n,
                          const float *vectors) {
  return guarded([&] {
    index->index.add(static_cast<faiss::Index::idx_t>(n), vectors);
  });
}

int strata_faiss_flat_search(strata_faiss_flat *index, size_t nq,
                             const float *queries, size_t k,
                             float *distances, int64_t *ids) {
  return guarded([&] {
    index->index.search(static_cast<faiss::Index::idx_t>(nq), queries,
                        static_cast<faiss::Index::idx_t>(k), distances, ids);
  });
}

void strata_faiss_flat_free(strata_faiss_flat *index) { delete index; }

void strata_faiss_set_omp_threads(int threads) {
  omp_set_num_threads(threads);
}

int strata_faiss_omp_threads(void) { return omp_get_max_threads(); }

int strata_faiss_blas_threshold(void) {
  return faiss::distance_compute_blas_threshold;
}

const char *strata_faiss_last_error(void) { return last_error; }

} // extern "C"
