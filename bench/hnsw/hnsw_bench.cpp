// Strata's HNSW against hnswlib: same m and ef_construct, the same build
// thread count, single-threaded queries, k = 10.  Prints recall@10
// against exact search, queries per CPU-second of the querying thread
// and distance evaluations per query for a sweep of ef, and the QPS of
// each at recall 0.95 and 0.99 interpolated between the two nearest ef.
//
// Usage: hnsw_bench DATA [BASE [QUERIES [M [EF_CONSTRUCT [THREADS
//                   [OVERSAMPLING]]]]]]
//
// DATA is one of:
//   - the Fashion-MNIST directory (Debian's dataset-fashion-mnist installs
//     it at /usr/share/datasets/fashion-mnist): 784 dimensions, pixels
//     scaled to [0, 1], L2, the t10k images as queries;
//   - a directory holding base.fvecs and query.fvecs, for instance the
//     GloVe-100 set that bench/hnsw/glove_to_fvecs.js writes (run it with
//     no arguments for how to fetch the data).  Vectors are normalised and
//     compared by dot product, which is cosine similarity.
// Defaults: all base vectors (60,000 for Fashion-MNIST), 1,000 queries,
// m 16, ef_construct 100, 1 build thread, and for the int8 columns
// (strata_hnsw_quantize with quantile 0.99) rescoring of the best
// 2 * k candidates.
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
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
constexpr float kQuantile = 0.99f;

struct Matrix {
  size_t count = 0, dim = 0;
  std::vector<float> rows;
};

[[noreturn]] void Die(const char *what, const std::string &path) {
  std::fprintf(stderr, "%s: %s\n", what, path.c_str());
  std::exit(1);
}

uint32_t ReadBigEndian(gzFile f, const std::string &path) {
  unsigned char b[4];
  if (gzread(f, b, 4) != 4)
    Die("truncated IDX header", path);
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 |
         b[3];
}

Matrix LoadIdx(const std::string &path, size_t max) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    Die("cannot open", path);
  Matrix img;
  if (ReadBigEndian(f, path) != 0x803)
    Die("not an IDX image file", path);
  size_t count = ReadBigEndian(f, path);
  img.dim = size_t(ReadBigEndian(f, path)) * ReadBigEndian(f, path);
  img.count = std::min(count, max);
  std::vector<unsigned char> pixels(img.count * img.dim);
  if (gzread(f, pixels.data(), unsigned(pixels.size())) != int(pixels.size()))
    Die("truncated", path);
  gzclose(f);
  img.rows.resize(pixels.size());
  for (size_t i = 0; i < pixels.size(); i++)
    img.rows[i] = pixels[i] / 255.0f;
  return img;
}

// Reads up to `max` vectors of an fvecs file (per vector: a little-endian
// int32 dimension, then that many float32) and normalises each.
Matrix LoadFvecs(const std::string &path, size_t max) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    Die("cannot open", path);
  Matrix m;
  int32_t dim;
  while (m.count < max && std::fread(&dim, 4, 1, f) == 1) {
    if (dim <= 0 || (m.dim != 0 && size_t(dim) != m.dim))
      Die("inconsistent dimension in fvecs file", path);
    m.dim = size_t(dim);
    size_t at = m.rows.size();
    m.rows.resize(at + m.dim);
    if (std::fread(&m.rows[at], sizeof(float), m.dim, f) != m.dim)
      Die("truncated", path);
    double norm = 0;
    for (size_t i = 0; i < m.dim; i++)
      norm += double(m.rows[at + i]) * m.rows[at + i];
    float scale = norm > 0 ? float(1 / std::sqrt(norm)) : 0.0f;
    for (size_t i = 0; i < m.dim; i++)
      m.rows[at + i] *= scale;
    m.count++;
  }
  std::fclose(f);
  if (m.count == 0)
    Die("no vectors in", path);
  return m;
}

bool Exists(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU seconds of the calling thread.  Queries are timed with it because
// the machine is shared: wall time also counts the time the thread
// waited for a core, which varied by up to 2x between runs on the
// 2-core machine of bench/hnsw/RESULTS.md.
double CpuNow() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
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

struct Point {
  double recall, qps;
};

// QPS at `target` recall, interpolated linearly between the two sweep
// points around it; NAN when the sweep does not reach it.
double QpsAtRecall(const std::vector<Point> &curve, double target) {
  for (size_t i = 0; i < curve.size(); i++) {
    if (curve[i].recall < target)
      continue;
    if (i == 0)
      return curve[0].qps; // already above target at the smallest ef
    const Point &a = curve[i - 1], &b = curve[i];
    double t = (target - a.recall) / (b.recall - a.recall);
    return a.qps + t * (b.qps - a.qps);
  }
  return NAN;
}

// Counts the distance evaluations of hnswlib during a counting pass, by
// swapping its distance function for one that counts and forwards.
hnswlib::DISTFUNC<float> g_lib_dist;
std::atomic<size_t> g_lib_count{0};
float CountingDist(const void *a, const void *b, const void *param) {
  g_lib_count.fetch_add(1, std::memory_order_relaxed);
  return g_lib_dist(a, b, param);
}

} // namespace

int main(int argc, char **argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s DATA [BASE [QUERIES [M [EF_CONSTRUCT "
                 "[THREADS [OVERSAMPLING]]]]]]\n"
                 "DATA: the Fashion-MNIST directory "
                 "(/usr/share/datasets/fashion-mnist), or a directory with "
                 "base.fvecs and query.fvecs;\n"
                 "for GloVe-100 run bench/hnsw/glove_to_fvecs.js with no "
                 "arguments to see how to fetch and convert it.\n",
                 argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  size_t n_base = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : SIZE_MAX;
  size_t n_query = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1000;
  uint32_t m = argc > 4 ? uint32_t(std::strtoul(argv[4], nullptr, 10)) : 16;
  uint32_t efc = argc > 5 ? uint32_t(std::strtoul(argv[5], nullptr, 10)) : 100;
  unsigned threads =
      argc > 6 ? unsigned(std::strtoul(argv[6], nullptr, 10)) : 1;
  if (threads == 0)
    threads = 1;
  float oversampling = argc > 7 ? std::strtof(argv[7], nullptr) : 2.0f;

  Matrix base, queries;
  strata_metric metric;
  const char *data_name;
  if (Exists(dir + "/base.fvecs")) {
    base = LoadFvecs(dir + "/base.fvecs", n_base);
    queries = LoadFvecs(dir + "/query.fvecs", n_query);
    metric = STRATA_METRIC_DOT;
    data_name = "fvecs, normalised, cosine (dot)";
  } else {
    base = LoadIdx(dir + "/train-images-idx3-ubyte.gz", n_base);
    queries = LoadIdx(dir + "/t10k-images-idx3-ubyte.gz", n_query);
    metric = STRATA_METRIC_L2;
    data_name = "Fashion-MNIST, L2";
  }
  if (queries.dim != base.dim)
    Die("query and base dimensions differ in", dir);
  size_t dim = base.dim;
  std::printf("%s: %s: %zu base, %zu queries, dim %zu, k %zu, m %u, "
              "ef_construct %u, build threads %u, kernels %s\n",
              dir.c_str(), data_name, base.count, queries.count, dim, kK, m,
              efc, threads, strata_kernels_get()->name);

  // Exact top-k from Strata's flat search.
  strata_vector_store vs;
  if (strata_vs_init(&vs, dim) != 0)
    return 1;
  for (size_t i = 0; i < base.count; i++)
    strata_vs_add(&vs, &base.rows[i * dim]);
  std::vector<strata_hit> truth(queries.count * kK);
  std::vector<size_t> counts(queries.count);
  strata_flat_search_batch(&vs, metric, queries.rows.data(), queries.count,
                           kK, truth.data(), counts.data());

  // Build both on the same number of threads.
  strata_hnsw_params params;
  strata_hnsw_params_default(&params);
  params.m = m;
  params.ef_construct = efc;
  strata_hnsw *h = nullptr;
  if (strata_hnsw_create(&params, metric, &vs, &h) != 0)
    return 1;
  std::vector<uint32_t> slots(base.count);
  for (size_t i = 0; i < base.count; i++)
    slots[i] = uint32_t(i);
  double t0 = Now();
  if (strata_hnsw_build(h, slots.data(), slots.size(), threads) !=
      STRATA_HNSW_OK)
    return 1;
  double strata_build = Now() - t0;
  strata_hnsw_info info;
  strata_hnsw_get_info(h, &info);

  hnswlib::L2Space l2_space(dim);
  hnswlib::InnerProductSpace ip_space(dim);
  hnswlib::SpaceInterface<float> *space = &l2_space;
  if (metric == STRATA_METRIC_DOT)
    space = &ip_space;
  hnswlib::HierarchicalNSW<float> lib(space, base.count, m, efc);
  t0 = Now();
  {
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < base.count;)
        lib.addPoint(&base.rows[i * dim], i);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; t++)
      pool.emplace_back(work);
    work();
    for (auto &t : pool)
      t.join();
  }
  double lib_build = Now() - t0;
  std::printf("build, %u thread(s): strata %.1f s, hnswlib %.1f s\n",
              threads, strata_build, lib_build);

  // Memory per vector.  Strata: the store's vector chunks and chunk table
  // plus what the index reports.  hnswlib: its level-0 block (links,
  // vector and label per element), the upper-level lists, and the
  // per-element pointer and level.
  size_t store_chunks = (vs.n_slots + STRATA_VS_CHUNK - 1) / STRATA_VS_CHUNK;
  size_t store_bytes =
      store_chunks * STRATA_VS_CHUNK * vs.stride * sizeof(float) +
      (STRATA_VS_MAX_SLOTS / STRATA_VS_CHUNK) * sizeof(float *);
  size_t lib_bytes = base.count * (lib.size_data_per_element_ +
                                   sizeof(void *) + sizeof(int));
  for (size_t i = 0; i < base.count; i++)
    lib_bytes += size_t(lib.element_levels_[i]) * lib.size_links_per_element_;
  std::printf("memory per vector: strata %.0f B (graph %.0f B), hnswlib "
              "%.0f B\n",
              double(store_bytes + info.memory_bytes) / base.count,
              double(info.memory_bytes) / base.count,
              double(lib_bytes) / base.count);

  // int8 codes for the quantized columns, searched with rescoring of
  // the best oversampling * k candidates from the float vectors.
  t0 = Now();
  if (strata_hnsw_quantize(h, kQuantile) != STRATA_HNSW_OK)
    return 1;
  double quantize_s = Now() - t0;
  strata_hnsw_info qinfo;
  strata_hnsw_get_info(h, &qinfo);
  std::printf("int8 quantization (quantile %.2f): %.1f s, index without "
              "the store's float vectors %.0f B per vector\n",
              kQuantile, quantize_s, double(qinfo.memory_bytes) / base.count);
  strata_hnsw_search_options qopts = {1, 1, oversampling};

  std::printf("\nrecall@10, queries per CPU-second, distances per query "
              "(int8: oversampling %.1f, rescored)\n",
              double(oversampling));
  std::printf("%5s  %8s %8s %8s  %8s %8s %8s  %8s %8s %8s\n", "ef",
              "strata", "QPS", "dist/q", "int8", "QPS", "dist/q", "hnswlib",
              "QPS", "dist/q");
  std::vector<uint32_t> got(queries.count * kK);
  std::vector<strata_hit> hits(kK);
  std::vector<Point> strata_curve, quant_curve, lib_curve;
  for (size_t ef : {10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 256, 512}) {
    // Two rounds of each library, keeping the faster round, because load
    // from other jobs on the machine only ever slows a round down.
    double strata_s = 1e30, lib_s = 1e30;
    size_t strata_dist = 0;
    lib.setEf(ef);
    for (int round = 0; round < 2; round++) {
      strata_dist = 0;
      t0 = CpuNow();
      for (size_t q = 0; q < queries.count; q++) {
        strata_hnsw_query_stats stats;
        long n = strata_hnsw_search_stats(h, &queries.rows[q * dim], kK, ef,
                                          nullptr, hits.data(), &stats);
        strata_dist += stats.distances;
        for (long i = 0; i < n; i++)
          got[q * kK + size_t(i)] = hits[size_t(i)].slot;
      }
      strata_s = std::min(strata_s, CpuNow() - t0);
    }
    double strata_recall = Recall(got, truth, queries.count);

    double quant_s = 1e30;
    size_t quant_dist = 0;
    for (int round = 0; round < 2; round++) {
      quant_dist = 0;
      t0 = CpuNow();
      for (size_t q = 0; q < queries.count; q++) {
        strata_hnsw_query_stats stats;
        long n = strata_hnsw_search_ex(h, &queries.rows[q * dim], kK, ef,
                                       nullptr, &qopts, hits.data(), &stats);
        quant_dist += stats.distances;
        for (long i = 0; i < n; i++)
          got[q * kK + size_t(i)] = hits[size_t(i)].slot;
      }
      quant_s = std::min(quant_s, CpuNow() - t0);
    }
    double quant_recall = Recall(got, truth, queries.count);

    for (int round = 0; round < 2; round++) {
      t0 = CpuNow();
      for (size_t q = 0; q < queries.count; q++) {
        auto result = lib.searchKnn(&queries.rows[q * dim], kK);
        for (size_t i = kK; i > 0 && !result.empty(); i--) {
          got[q * kK + i - 1] = uint32_t(result.top().second);
          result.pop();
        }
      }
      lib_s = std::min(lib_s, CpuNow() - t0);
    }
    double lib_recall = Recall(got, truth, queries.count);

    // Untimed pass of hnswlib with a counting distance function.
    g_lib_dist = lib.fstdistfunc_;
    lib.fstdistfunc_ = CountingDist;
    g_lib_count = 0;
    for (size_t q = 0; q < queries.count; q++)
      lib.searchKnn(&queries.rows[q * dim], kK);
    lib.fstdistfunc_ = g_lib_dist;

    strata_curve.push_back({strata_recall, queries.count / strata_s});
    quant_curve.push_back({quant_recall, queries.count / quant_s});
    lib_curve.push_back({lib_recall, queries.count / lib_s});
    std::printf("%5zu  %8.4f %8.0f %8.0f  %8.4f %8.0f %8.0f  %8.4f %8.0f "
                "%8.0f\n",
                ef, strata_recall, queries.count / strata_s,
                double(strata_dist) / queries.count, quant_recall,
                queries.count / quant_s, double(quant_dist) / queries.count,
                lib_recall, queries.count / lib_s,
                double(g_lib_count.load()) / queries.count);
  }
  for (double target : {0.95, 0.99}) {
    double a = QpsAtRecall(strata_curve, target);
    double b = QpsAtRecall(quant_curve, target);
    double c = QpsAtRecall(lib_curve, target);
    std::printf("QPS at recall %.2f: strata %.0f (%.2fx hnswlib), int8 %.0f "
                "(%.2fx), hnswlib %.0f\n",
                target, a, a / c, b, b / c, c);
  }

  strata_hnsw_destroy(h);
  strata_vs_destroy(&vs);
  return 0;
}
