// Strata's HNSW against hnswlib on Fashion-MNIST: same m and
// ef_construct, single-threaded build and queries, k = 10, recall@10
// against exact search and queries per second for a sweep of ef.
//
// Usage: hnsw_bench DATA_DIR [TRAIN [QUERIES [M [EF_CONSTRUCT]]]]
// Defaults: all 60,000 train images, 1,000 t10k queries, m 16,
// ef_construct 100.  Pixels are scaled to [0, 1]; the metric is L2.
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <hnswlib/hnswlib.h>

extern "C" {
#include "distance.h"
#include "flat.h"
#include "hnsw.h"
#include "vector_store.h"
}

namespace {

constexpr size_t kK = 10;

struct Images {
  size_t count = 0, dim = 0;
  std::vector<float> rows;
};

uint32_t ReadBigEndian(gzFile f) {
  unsigned char b[4];
  if (gzread(f, b, 4) != 4) {
    std::fprintf(stderr, "truncated IDX header\n");
    std::exit(1);
  }
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 |
         b[3];
}

Images LoadIdx(const std::string &path, size_t max) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(1);
  }
  Images img;
  if (ReadBigEndian(f) != 0x803) {
    std::fprintf(stderr, "%s is not an IDX image file\n", path.c_str());
    std::exit(1);
  }
  size_t count = ReadBigEndian(f);
  img.dim = size_t(ReadBigEndian(f)) * ReadBigEndian(f);
  img.count = std::min(count, max);
  std::vector<unsigned char> pixels(img.count * img.dim);
  if (gzread(f, pixels.data(), unsigned(pixels.size())) != int(pixels.size())) {
    std::fprintf(stderr, "truncated %s\n", path.c_str());
    std::exit(1);
  }
  gzclose(f);
  img.rows.resize(pixels.size());
  for (size_t i = 0; i < pixels.size(); i++)
    img.rows[i] = pixels[i] / 255.0f;
  return img;
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Fraction of the exact top-k found, over all queries.
double Recall(const std::vector<uint32_t> &got,
              const std::vector<strata_hit> &truth, size_t queries) {
  size_t found = 0;
  for (size_t q = 0; q < queries; q++) {
    for (size_t i = 0; i < kK; i++) {
      for (size_t j = 0; j < kK; j++) {
        if (got[q * kK + j] == truth[q * kK + i].slot) {
          found++;
          break;
        }
      }
    }
  }
  return double(found) / double(queries * kK);
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s DATA_DIR [TRAIN [QUERIES [M [EF_CONSTRUCT]]]]\n",
                 argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  size_t n_train = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 60000;
  size_t n_query = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1000;
  uint32_t m = argc > 4 ? uint32_t(std::strtoul(argv[4], nullptr, 10)) : 16;
  uint32_t efc = argc > 5 ? uint32_t(std::strtoul(argv[5], nullptr, 10)) : 100;

  Images train = LoadIdx(dir + "/train-images-idx3-ubyte.gz", n_train);
  Images queries = LoadIdx(dir + "/t10k-images-idx3-ubyte.gz", n_query);
  size_t dim = train.dim;
  std::printf("Fashion-MNIST: %zu train, %zu queries, dim %zu, L2, k %zu, "
              "m %u, ef_construct %u, kernels %s\n",
              train.count, queries.count, dim, kK, m, efc,
              strata_kernels_get()->name);

  // Exact top-k from Strata's flat search.
  strata_vector_store vs;
  if (strata_vs_init(&vs, dim) != 0)
    return 1;
  for (size_t i = 0; i < train.count; i++)
    strata_vs_add(&vs, &train.rows[i * dim]);
  std::vector<strata_hit> truth(queries.count * kK);
  std::vector<size_t> counts(queries.count);
  strata_flat_search_batch(&vs, STRATA_METRIC_L2, queries.rows.data(),
                           queries.count, kK, truth.data(), counts.data());

  // Build both, one thread each.
  strata_hnsw_params params;
  strata_hnsw_params_default(&params);
  params.m = m;
  params.ef_construct = efc;
  strata_hnsw *h = nullptr;
  if (strata_hnsw_create(&params, STRATA_METRIC_L2, &vs, &h) != 0)
    return 1;
  double t0 = Now();
  for (size_t i = 0; i < train.count; i++) {
    if (strata_hnsw_insert(h, uint32_t(i)) != STRATA_HNSW_OK)
      return 1;
  }
  double strata_build = Now() - t0;
  strata_hnsw_info info;
  strata_hnsw_get_info(h, &info);

  hnswlib::L2Space space(dim);
  hnswlib::HierarchicalNSW<float> lib(&space, train.count, m, efc);
  t0 = Now();
  for (size_t i = 0; i < train.count; i++)
    lib.addPoint(&train.rows[i * dim], i);
  double lib_build = Now() - t0;
  // hnswlib keeps vectors inside its level-0 records.  Strata keeps them
  // in the store, so its graph memory excludes them.
  size_t lib_graph = train.count * (lib.size_links_level0_ + sizeof(void *));
  std::printf("build, 1 thread: strata %.1f s, hnswlib %.1f s\n",
              strata_build, lib_build);
  std::printf("graph memory without vectors: strata %.1f MB, hnswlib "
              "level 0 %.1f MB\n",
              info.memory_bytes / 1048576.0, lib_graph / 1048576.0);

  std::printf("\n%5s  %14s %12s  %14s %12s\n", "ef", "strata recall",
              "strata QPS", "hnswlib recall", "hnswlib QPS");
  std::vector<uint32_t> got(queries.count * kK);
  std::vector<strata_hit> hits(kK);
  for (size_t ef : {10, 16, 32, 64, 128, 256}) {
    t0 = Now();
    for (size_t q = 0; q < queries.count; q++) {
      long n = strata_hnsw_search(h, &queries.rows[q * dim], kK, ef, nullptr,
                                  hits.data());
      for (long i = 0; i < n; i++)
        got[q * kK + size_t(i)] = hits[size_t(i)].slot;
    }
    double strata_s = Now() - t0;
    double strata_recall = Recall(got, truth, queries.count);

    lib.setEf(ef);
    t0 = Now();
    for (size_t q = 0; q < queries.count; q++) {
      auto result = lib.searchKnn(&queries.rows[q * dim], kK);
      for (size_t i = kK; i > 0 && !result.empty(); i--) {
        got[q * kK + i - 1] = uint32_t(result.top().second);
        result.pop();
      }
    }
    double lib_s = Now() - t0;
    double lib_recall = Recall(got, truth, queries.count);
    std::printf("%5zu  %14.4f %12.0f  %14.4f %12.0f\n", ef, strata_recall,
                queries.count / strata_s, lib_recall, queries.count / lib_s);
  }

  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  return 0;
}
