// C wrapper around faiss::IndexHNSWFlat; see faiss_hnsw_shim.h.
#include "faiss_hnsw_shim.h"

#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include <faiss/IndexHNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>

struct strata_faiss_filtered_hnsw {
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

int strata_faiss_filtered_hnsw_create(size_t dim, int m, int ef_construct,
                             strata_faiss_filtered_hnsw **out) {
  *out = nullptr;
  return guarded([&] {
    auto h = std::make_unique<strata_faiss_filtered_hnsw>();
    h->index = std::make_unique<faiss::IndexHNSWFlat>(
        static_cast<int>(dim), m, faiss::METRIC_INNER_PRODUCT);
    h->index->hnsw.efConstruction = ef_construct;
    *out = h.release();
  });
}

int strata_faiss_filtered_hnsw_add(strata_faiss_filtered_hnsw *index, size_t n,
                          const float *vectors) {
  return guarded([&] {
    index->index->add(static_cast<faiss::Index::idx_t>(n), vectors);
  });
}

int strata_faiss_filtered_hnsw_save(const strata_faiss_filtered_hnsw *index, const char *path) {
  return guarded([&] { faiss::write_index(index->index.get(), path); });
}

int strata_faiss_filtered_hnsw_load(const char *path, strata_faiss_filtered_hnsw **out) {
  *out = nullptr;
  return guarded([&] {
    std::unique_ptr<faiss::Index> loaded(faiss::read_index(path));
    auto *flat = dynamic_cast<faiss::IndexHNSWFlat *>(loaded.get());
    if (!flat)
      throw std::runtime_error(std::string(path) +
                               " does not hold an IndexHNSWFlat");
    auto h = std::make_unique<strata_faiss_filtered_hnsw>();
    loaded.release();
    h->index.reset(flat);
    *out = h.release();
  });
}

size_t strata_faiss_filtered_hnsw_count(const strata_faiss_filtered_hnsw *index) {
  return static_cast<size_t>(index->index->ntotal);
}

int strata_faiss_filtered_hnsw_search(strata_faiss_filtered_hnsw *index,
                             const float *query, size_t k, int ef,
                             const uint8_t *bitmap, size_t n_bits,
                             float *scores, int64_t *ids) {
  return guarded([&] {
    faiss::IDSelectorBitmap selector((n_bits + 7) / 8, bitmap);
    faiss::SearchParametersHNSW params;
    params.efSearch = ef;
    index->index->hnsw.efSearch = ef;
    params.sel = bitmap ? &selector : nullptr;
    index->index->search(1, query, static_cast<faiss::Index::idx_t>(k),
                         scores, ids, &params);
  });
}

void strata_faiss_filtered_hnsw_free(strata_faiss_filtered_hnsw *index) { delete index; }

} // extern "C"
