// C wrapper around faiss::IndexFlatL2 and faiss::IndexHNSWFlat; see
// faiss_shim.h.
#include "faiss_shim.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>
#include <omp.h>

struct strata_faiss_flat {
  faiss::IndexFlatL2 index;
  explicit strata_faiss_flat(size_t dim)
      : index(static_cast<faiss::Index::idx_t>(dim)) {}
};

struct strata_faiss_hnsw {
  std::unique_ptr<faiss::IndexHNSWFlat> index;
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

int strata_faiss_hnsw_create(size_t dim, int m, int ef_construct,
                             int inner_product, strata_faiss_hnsw **out) {
  *out = nullptr;
  return guarded([&] {
    faiss::MetricType metric =
        inner_product ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2;
    auto made = std::make_unique<strata_faiss_hnsw>();
    made->index = std::make_unique<faiss::IndexHNSWFlat>(
        static_cast<int>(dim), m, metric);
    made->index->hnsw.efConstruction = ef_construct;
    *out = made.release();
  });
}

int strata_faiss_hnsw_add(strata_faiss_hnsw *index, size_t n,
                          const float *vectors) {
  return guarded([&] {
    index->index->add(static_cast<faiss::Index::idx_t>(n), vectors);
  });
}

int strata_faiss_hnsw_write(const strata_faiss_hnsw *index,
                            const char *path) {
  return guarded([&] { faiss::write_index(index->index.get(), path); });
}

int strata_faiss_hnsw_read(const char *path, size_t dim, int m,
                           int ef_construct, int inner_product, size_t n,
                           const float *vectors, strata_faiss_hnsw **out) {
  *out = nullptr;
  int rc = guarded([&] {
    std::unique_ptr<faiss::Index> read(faiss::read_index(path));
    auto *hnsw = dynamic_cast<faiss::IndexHNSWFlat *>(read.get());
    faiss::MetricType metric =
        inner_product ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2;
    if (!hnsw || hnsw->d != static_cast<int>(dim) ||
        hnsw->metric_type != metric || hnsw->hnsw.nb_neighbors(1) != m ||
        hnsw->hnsw.efConstruction != ef_construct ||
        hnsw->ntotal != static_cast<faiss::Index::idx_t>(n))
      throw std::runtime_error("not an IndexHNSWFlat with the requested "
                               "dimension, metric, m, efConstruction and "
                               "vector count");
    auto *flat = dynamic_cast<const faiss::IndexFlat *>(hnsw->storage);
    if (!flat || std::memcmp(flat->get_xb(), vectors,
                             n * dim * sizeof(float)) != 0)
      throw std::runtime_error("its vectors differ from the requested ones");
    auto made = std::make_unique<strata_faiss_hnsw>();
    read.release();
    made->index.reset(hnsw);
    *out = made.release();
  });
  if (rc != 0) {
    char reason[sizeof last_error];
    std::snprintf(reason, sizeof reason, "%s", last_error);
    std::snprintf(last_error, sizeof last_error, "%s: %s", path, reason);
  }
  return rc;
}

int strata_faiss_hnsw_search(strata_faiss_hnsw *index, size_t nq,
                             const float *queries, size_t k, size_t ef,
                             float *distances, int64_t *ids,
                             size_t *distance_count) {
  return guarded([&] {
    index->index->hnsw.efSearch = static_cast<int>(ef);
    faiss::hnsw_stats.reset();
    index->index->search(static_cast<faiss::Index::idx_t>(nq), queries,
                        static_cast<faiss::Index::idx_t>(k), distances, ids);
    // Debian's FAISS 1.7.3 adds the distance count of each search to n3
    // and leaves ndis at 0, as a test program showed.  Later versions
    // count in ndis.
    // NOTE: whether n3 includes the descent through the upper levels was
    // not checked.
    if (distance_count)
      *distance_count = faiss::hnsw_stats.ndis + faiss::hnsw_stats.n3;
  });
}

int strata_faiss_hnsw_search_selected(strata_faiss_hnsw *index,
                                      const float *query, size_t k,
                                      size_t ef, const uint8_t *bitmap,
                                      size_t n_bits, float *scores,
                                      int64_t *ids) {
  return guarded([&] {
    faiss::IDSelectorBitmap selector((n_bits + 7) / 8, bitmap);
    faiss::SearchParametersHNSW params;
    params.efSearch = static_cast<int>(ef);
    params.sel = bitmap ? &selector : nullptr;
    index->index->hnsw.efSearch = static_cast<int>(ef);
    index->index->search(1, query, static_cast<faiss::Index::idx_t>(k),
                         scores, ids, &params);
  });
}

void strata_faiss_hnsw_free(strata_faiss_hnsw *index) { delete index; }

void strata_faiss_set_omp_threads(int threads) {
  omp_set_num_threads(threads);
}

int strata_faiss_omp_threads(void) { return omp_get_max_threads(); }

int strata_faiss_blas_threshold(void) {
  return faiss::distance_compute_blas_threshold;
}

const char *strata_faiss_last_error(void) { return last_error; }

} // extern "C"
