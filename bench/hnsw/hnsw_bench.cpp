// Strata's HNSW against hnswlib and FAISS IndexHNSWFlat: same m and
// ef_construct, the same build thread count, single-threaded queries,
// k = 10.  Prints recall@10 against exact search, queries per CPU-second
// of the querying thread and distance evaluations per query for a sweep
// of ef, and the QPS of each at recall 0.95 and 0.99 interpolated between
// the two nearest ef.  With --churn it then deletes 30% of Strata's
// points and inserts them again, and compares recall and memory before
// and after.
//
// Usage: hnsw_bench [--data FILE] [--churn EF] [--faiss-index FILE
//                   [--faiss-only]] [--on-disk DIR] DATA [BASE [QUERIES
//                   [M [EF_CONSTRUCT [THREADS [OVERSAMPLING]]]]]]
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
// 2 * k candidates.  OVERSAMPLING "beam" sets it to ef / k for each ef,
// so every candidate the beam kept is rescored.
// --data FILE writes the sweep as gnuplot data for bench/hnsw/plot.gp.
// --churn EF runs the churn measurement at beam width EF.
// --faiss-index FILE loads the FAISS index from FILE when it exists and
// matches, else builds it and saves it there.  A loaded index has no
// build time in this run.  It saves the slowest build of the three,
// because Debian's FAISS 1.7.3 computes distances with scalar code.
// --faiss-only stops after building or loading the FAISS index.
// --on-disk DIR keeps Strata's float vectors in a file in DIR
// (strata_vs_init_file, as the engine's on_disk), reports the heap, file
// and page-cache bytes per vector, and after the sweep runs the int8
// search once more from a cold page cache.
#include <malloc.h>
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
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <hnswlib/hnswlib.h>

extern "C" {
#include "distance.h"
#include "faiss_shim.h"
#include "flat.h"
#include "hnsw.h"
#include "vector_store.h"
}

namespace {

constexpr size_t kK = 10;
constexpr float kQuantile = 0.99f;
constexpr double kChurnShare = 0.3;
constexpr uint64_t kChurnSeed = 20261204;
const size_t kEfSweep[] = {10, 12, 16, 20,  24,  32,  40,  48,
                           64, 96, 128, 160, 192, 256, 384, 512};

struct Matrix {
  size_t count = 0, dim = 0;
  std::vector<float> rows;
};

struct Options {
  std::string dir, data_path, faiss_path;
  size_t n_base = SIZE_MAX, n_query = 1000;
  uint32_t m = 16, ef_construct = 100;
  unsigned threads = 1;
  float oversampling = 2.0f; // 0: ef / k for each beam width
  size_t churn_ef = 0; // 0: no churn measurement
  bool faiss_only = false;
  std::string on_disk_dir; // empty: Strata's store on the heap
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

// CPU seconds of all threads of the process.  Builds report it next to
// wall time because wall time on a shared machine counts waits for a
// core.  OpenMP threads that spin while waiting for work count as busy.
double ProcessCpuNow() {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Wall and process CPU seconds of a build.
struct BuildTime {
  double wall = 0, cpu = 0;
};

// Runs `build` and returns how long it took.
template <typename Fn> BuildTime TimeBuild(Fn build) {
  double wall0 = Now(), cpu0 = ProcessCpuNow();
  build();
  BuildTime t;
  t.wall = Now() - wall0;
  t.cpu = ProcessCpuNow() - cpu0;
  return t;
}

// Heap bytes in use, as glibc counts them (mallinfo2: allocated chunks of
// every arena, headers included, plus mmapped chunks).  The same measure
// serves all three libraries: the growth across building an index is
// what that index keeps on the heap.
size_t HeapBytes() {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// Prints the 1, 5 and 15 minute load averages of the machine.
void PrintLoad(const char *when) {
  double load[3] = {0, 0, 0};
  FILE *f = std::fopen("/proc/loadavg", "r");
  if (f) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
      load[0] = load[1] = load[2] = NAN;
    std::fclose(f);
  }
  std::printf("load average %s: %.2f %.2f %.2f\n", when, load[0], load[1],
              load[2]);
}

// Fraction of the exact top-k found, over all queries.  `got` and `truth`
// hold kK ids per query.
double Recall(const std::vector<uint32_t> &got,
              const std::vector<uint32_t> &truth, size_t queries) {
  size_t found = 0;
  for (size_t q = 0; q < queries; q++) {
    for (size_t i = 0; i < kK; i++) {
      for (size_t j = 0; j < kK; j++) {
        if (got[q * kK + j] == truth[q * kK + i]) {
          found++;
          break;
        }
      }
    }
  }
  return double(found) / double(queries * kK);
}

struct Point {
  size_t ef;
  double recall, qps, distances;
};

struct Curve {
  const char *name;
  std::vector<Point> points;
};

// QPS at `target` recall, interpolated linearly between the two sweep
// points around it; NAN when the sweep does not reach it.
double QpsAtRecall(const Curve &curve, double target) {
  const std::vector<Point> &p = curve.points;
  for (size_t i = 0; i < p.size(); i++) {
    if (p[i].recall < target)
      continue;
    if (i == 0)
      return p[0].qps; // already above target at the smallest ef
    double t = (target - p[i - 1].recall) / (p[i].recall - p[i - 1].recall);
    return p[i - 1].qps + t * (p[i].qps - p[i - 1].qps);
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

// Parses the flags and positional arguments; exits with the usage text
// when DATA is missing or a flag is unknown.
Options ParseArgs(int argc, char **argv) {
  Options o;
  int i = 1;
  for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; i++) {
    if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      o.data_path = argv[++i];
    } else if (std::strcmp(argv[i], "--faiss-index") == 0 && i + 1 < argc) {
      o.faiss_path = argv[++i];
    } else if (std::strcmp(argv[i], "--faiss-only") == 0) {
      o.faiss_only = true;
    } else if (std::strcmp(argv[i], "--on-disk") == 0 && i + 1 < argc) {
      o.on_disk_dir = argv[++i];
    } else if (std::strcmp(argv[i], "--churn") == 0 && i + 1 < argc) {
      o.churn_ef = std::strtoul(argv[++i], nullptr, 10);
      if (o.churn_ef == 0)
        Die("--churn needs a beam width of at least 1, got", argv[i]);
    } else {
      Die("unknown or incomplete option", argv[i]);
    }
  }
  if (i >= argc) {
    std::fprintf(stderr,
                 "usage: %s [--data FILE] [--churn EF] [--faiss-index FILE "
                 "[--faiss-only]] [--on-disk DIR] DATA [BASE [QUERIES [M "
                 "[EF_CONSTRUCT [THREADS [OVERSAMPLING]]]]]]\n"
                 "DATA: the Fashion-MNIST directory "
                 "(/usr/share/datasets/fashion-mnist), or a directory with "
                 "base.fvecs and query.fvecs;\n"
                 "for GloVe-100 run bench/hnsw/glove_to_fvecs.js with no "
                 "arguments to see how to fetch and convert it.\n"
                 "--data FILE: write the recall/QPS sweep as gnuplot data "
                 "for bench/hnsw/plot.gp.\n"
                 "--churn EF: after the sweep, delete 30%% of Strata's "
                 "points, insert them again and compare recall at beam "
                 "width EF and memory before and after.\n"
                 "--faiss-index FILE: load the FAISS index from FILE if it "
                 "exists and matches the data and parameters, else build "
                 "it and save it there.\n"
                 "--faiss-only: stop after building or loading the FAISS "
                 "index.\n"
                 "--on-disk DIR: keep Strata's float vectors in a "
                 "memory-mapped file in the existing directory DIR, and "
                 "report its disk and page-cache bytes.\n",
                 argv[0]);
    std::exit(2);
  }
  char **pos = argv + i;
  int n_pos = argc - i;
  o.dir = pos[0];
  if (n_pos > 1)
    o.n_base = std::strtoul(pos[1], nullptr, 10);
  if (n_pos > 2)
    o.n_query = std::strtoul(pos[2], nullptr, 10);
  if (n_pos > 3)
    o.m = uint32_t(std::strtoul(pos[3], nullptr, 10));
  if (n_pos > 4)
    o.ef_construct = uint32_t(std::strtoul(pos[4], nullptr, 10));
  if (n_pos > 5)
    o.threads = unsigned(std::strtoul(pos[5], nullptr, 10));
  if (o.threads == 0)
    o.threads = 1;
  if (n_pos > 6) {
    if (std::strcmp(pos[6], "beam") == 0) {
      o.oversampling = 0.0f;
    } else {
      char *end = nullptr;
      o.oversampling = std::strtof(pos[6], &end);
      if (*end != '\0' || !(o.oversampling >= 1.0f))
        Die("OVERSAMPLING must be a number of at least 1, or beam, got",
            pos[6]);
    }
  }
  return o;
}

// Strata's index with its store, and how much each took to build.
struct StrataSide {
  strata_vector_store vs;
  strata_hnsw *h = nullptr;
  size_t store_heap = 0, index_heap = 0, codes_heap = 0;
  BuildTime build;
};

void BuildStrata(StrataSide &s, const Matrix &base, const Options &o,
                 strata_metric metric) {
  size_t heap0 = HeapBytes();
  int init_status =
      o.on_disk_dir.empty()
          ? strata_vs_init(&s.vs, base.dim)
          : strata_vs_init_file(&s.vs, base.dim, o.on_disk_dir.c_str());
  if (init_status != 0)
    Die(strata_vs_error(&s.vs), "creating the vector store");
  for (size_t i = 0; i < base.count; i++) {
    if (strata_vs_add(&s.vs, &base.rows[i * base.dim]) < 0)
      Die(strata_vs_error(&s.vs), "filling the vector store");
  }
  size_t heap1 = HeapBytes();
  s.store_heap = heap1 - heap0;

  strata_hnsw_params params;
  strata_hnsw_params_default(&params);
  params.m = o.m;
  params.ef_construct = o.ef_construct;
  if (strata_hnsw_create(&params, metric, &s.vs, &s.h) != STRATA_HNSW_OK)
    Die("strata_hnsw_create failed for", o.dir);
  std::vector<uint32_t> slots(base.count);
  for (size_t i = 0; i < base.count; i++)
    slots[i] = uint32_t(i);
  s.build = TimeBuild([&] {
    int rc = strata_hnsw_build(s.h, slots.data(), slots.size(), o.threads);
    if (rc != STRATA_HNSW_OK)
      Die(strata_hnsw_strerror(rc), "strata_hnsw_build");
  });
  slots = std::vector<uint32_t>();
  s.index_heap = HeapBytes() - heap1;
}

// Builds hnswlib on `threads` threads, each taking the next vector not
// yet claimed from a shared counter.
BuildTime BuildHnswlib(hnswlib::HierarchicalNSW<float> &lib,
                       const Matrix &base, unsigned threads) {
  return TimeBuild([&] {
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < base.count;)
        lib.addPoint(&base.rows[i * base.dim], i);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; t++)
      pool.emplace_back(work);
    work();
    for (auto &t : pool)
      t.join();
  });
}

// Builds FAISS with OpenMP limited to o.threads, then sets it to 1 so
// that the searches run on the calling thread alone.  With
// o.faiss_path, loads the index from there instead when the file exists
// (and sets *loaded), or saves the built one there.
strata_faiss_hnsw *BuildFaiss(const Matrix &base, const Options &o,
                              strata_metric metric, BuildTime *time,
                              bool *loaded) {
  strata_faiss_hnsw *index = nullptr;
  int inner_product = metric == STRATA_METRIC_DOT;
  *loaded = !o.faiss_path.empty() && Exists(o.faiss_path);
  if (*loaded) {
    if (strata_faiss_hnsw_read(o.faiss_path.c_str(), base.dim, int(o.m),
                               int(o.ef_construct), inner_product,
                               base.count, base.rows.data(), &index) != 0)
      Die(strata_faiss_last_error(),
          "cannot use the saved FAISS index; delete it to rebuild");
    strata_faiss_set_omp_threads(1);
    return index;
  }

  if (strata_faiss_hnsw_create(base.dim, int(o.m), int(o.ef_construct),
                               inner_product, &index) != 0)
    Die(strata_faiss_last_error(), "FAISS IndexHNSWFlat");
  strata_faiss_set_omp_threads(int(o.threads));
  *time = TimeBuild([&] {
    if (strata_faiss_hnsw_add(index, base.count, base.rows.data()) != 0)
      Die(strata_faiss_last_error(), "FAISS IndexHNSWFlat::add");
  });
  strata_faiss_set_omp_threads(1);
  if (!o.faiss_path.empty() &&
      strata_faiss_hnsw_write(index, o.faiss_path.c_str()) != 0)
    Die(strata_faiss_last_error(), o.faiss_path);
  return index;
}

// Searches every query with Strata at beam width ef, the float vectors
// or (opts not NULL) the int8 codes, and writes kK store slots per query.
// Returns distance evaluations per query.
double SearchStrata(strata_hnsw *h, const Matrix &queries, size_t ef,
                    const strata_hnsw_search_options *opts,
                    std::vector<uint32_t> &got) {
  strata_hit hits[kK];
  size_t distances = 0;
  for (size_t q = 0; q < queries.count; q++) {
    strata_hnsw_query_stats stats;
    long n = strata_hnsw_search_ex(h, &queries.rows[q * queries.dim], kK, ef,
                                   nullptr, opts, hits, &stats);
    if (n < 0)
      Die("out of memory", "strata_hnsw_search_ex");
    distances += stats.distances;
    for (size_t i = 0; i < kK; i++)
      got[q * kK + i] = i < size_t(n) ? hits[i].slot : UINT32_MAX;
  }
  return double(distances) / double(queries.count);
}

void SearchHnswlib(hnswlib::HierarchicalNSW<float> &lib,
                   const Matrix &queries, std::vector<uint32_t> &got) {
  for (size_t q = 0; q < queries.count; q++) {
    // searchKnn returns a max-heap: the worst of the hits on top.
    auto result = lib.searchKnn(&queries.rows[q * queries.dim], kK);
    for (size_t i = result.size(); i < kK; i++)
      got[q * kK + i] = UINT32_MAX;
    for (size_t i = result.size(); i > 0; i--) {
      got[q * kK + i - 1] = uint32_t(result.top().second);
      result.pop();
    }
  }
}

// All queries in one call on one OpenMP thread: FAISS 1.7.3 allocates
// and clears a visited table of one byte per vector on every call, a
// cost the other two libraries do not pay per query.
double SearchFaiss(strata_faiss_hnsw *index, const Matrix &queries,
                   size_t ef, std::vector<uint32_t> &got) {
  std::vector<float> scores(queries.count * kK);
  std::vector<int64_t> ids(queries.count * kK);
  size_t distances = 0;
  if (strata_faiss_hnsw_search(index, queries.count, queries.rows.data(), kK,
                               ef, scores.data(), ids.data(),
                               &distances) != 0)
    Die(strata_faiss_last_error(), "FAISS IndexHNSWFlat::search");
  for (size_t i = 0; i < ids.size(); i++)
    got[i] = ids[i] < 0 ? UINT32_MAX : uint32_t(ids[i]);
  return double(distances) / double(queries.count);
}

// Prints the disk and page-cache bytes per vector of Strata's file-backed
// store.
void PrintFileUsage(StrataSide &s, double per, const char *when) {
  strata_vs_file_usage usage;
  if (strata_vs_file_usage_get(&s.vs, &usage) != 0)
    Die(strata_vs_error(&s.vs), "strata_vs_file_usage_get");
  std::printf("on_disk file %s: %.0f B per vector of disk blocks (file "
              "size %.0f B per vector); %.0f B per vector resident in the "
              "page cache (%.1f%% of the mapped file), which the kernel may "
              "evict\n",
              when, double(usage.allocated) / per,
              double(usage.file_size) / per, double(usage.resident) / per,
              usage.mapped
                  ? 100.0 * double(usage.resident) / double(usage.mapped)
                  : 0.0);
}

// Drops the store file's pages from the page cache, then searches every
// query once on the int8 codes at beam width ef.  The pages resident
// afterwards are what rescoring read (the graph and codes are on the
// heap).  Wall time includes the waits for the disk, CPU time does not.
void RunColdInt8(StrataSide &s, const Matrix &queries,
                 const std::vector<uint32_t> &truth, size_t ef,
                 const strata_hnsw_search_options &qopts, double per) {
  if (strata_vs_file_evict(&s.vs) != 0)
    Die(strata_vs_error(&s.vs), "strata_vs_file_evict");
  PrintFileUsage(s, per, "after evicting its pages");
  std::vector<uint32_t> got(queries.count * kK);
  double wall0 = Now(), cpu0 = CpuNow();
  SearchStrata(s.h, queries, ef, &qopts, got);
  double wall = Now() - wall0, cpu = CpuNow() - cpu0;
  std::printf("int8 from a cold page cache, ef %zu, oversampling %.1f: "
              "recall@10 %.4f, %.0f queries per wall second, %.0f per "
              "CPU-second\n",
              ef, double(qopts.oversampling), Recall(got, truth, queries.count),
              double(queries.count) / wall, double(queries.count) / cpu);
  PrintFileUsage(s, per, "after that int8 pass");
}

// Runs `search` twice and returns the CPU seconds of the faster round,
// because load from other jobs on the machine only ever slows a round.
template <typename Fn> double BestOfTwo(Fn search) {
  double best = 1e30;
  for (int round = 0; round < 2; round++) {
    double t0 = CpuNow();
    search();
    best = std::min(best, CpuNow() - t0);
  }
  return best;
}

// Writes one gnuplot data block per curve, each headed by its quoted name
// (for `title columnheader(1)`), with two blank lines between blocks (for
// `index`).  Columns: ef, recall@10, QPS, distances per query.
void WriteData(const std::string &path, const std::string &title,
               const std::vector<Curve> &curves) {
  FILE *f = std::fopen(path.c_str(), "w");
  if (!f)
    Die("cannot write", path);
  std::fprintf(f, "# %s\n# columns: ef recall@10 QPS distances/query\n",
               title.c_str());
  for (const Curve &c : curves) {
    if (&c != &curves.front())
      std::fprintf(f, "\n\n");
    std::fprintf(f, "\"%s\"\n", c.name);
    for (const Point &p : c.points)
      std::fprintf(f, "%zu %.4f %.1f %.1f\n", p.ef, p.recall, p.qps,
                   p.distances);
  }
  if (std::fclose(f) != 0)
    Die("cannot write", path);
  std::printf("wrote %s\n", path.c_str());
}

// Deletes a random 30% of Strata's points (fixed seed) from the index
// and the store and repairs the graph.  Then adds the same vectors back,
// which the store puts into the freed slots, and inserts them.  Prints
// recall at o.churn_ef and memory before and after.  The repair step
// follows the engine, which calls strata_hnsw_repair once a tenth of the
// nodes are removed.
void RunChurn(StrataSide &s, const Matrix &base, const Matrix &queries,
              const std::vector<uint32_t> &truth, const Options &o) {
  size_t n = base.count, n_del = size_t(double(n) * kChurnShare);
  std::vector<uint32_t> got(queries.count * kK);
  // id_of_slot maps a store slot to its row of `base`, which is the id
  // the exact top-k uses.
  std::vector<uint32_t> id_of_slot(s.vs.n_slots);
  for (size_t i = 0; i < n; i++)
    id_of_slot[i] = uint32_t(i);
  // Recall at o.churn_ef, and for context at the sweep's ef up to 128.
  std::vector<size_t> efs = {o.churn_ef};
  for (size_t ef : kEfSweep) {
    if (ef <= 128 && ef != o.churn_ef)
      efs.push_back(ef);
  }
  auto recall_at = [&](std::vector<double> &out) {
    for (size_t ef : efs) {
      SearchStrata(s.h, queries, ef, nullptr, got);
      for (uint32_t &slot : got)
        slot = slot == UINT32_MAX ? slot : id_of_slot[slot];
      out.push_back(Recall(got, truth, queries.count));
    }
  };

  strata_hnsw_info before, after;
  strata_hnsw_get_info(s.h, &before);
  size_t slots_before = s.vs.n_slots, heap_before = HeapBytes();
  std::vector<double> recall_before, recall_after;
  recall_at(recall_before);

  std::vector<uint32_t> victims(n);
  for (size_t i = 0; i < n; i++)
    victims[i] = uint32_t(i);
  std::mt19937_64 rng(kChurnSeed);
  std::shuffle(victims.begin(), victims.end(), rng);
  victims.resize(n_del);

  double t0 = Now();
  for (uint32_t slot : victims) {
    int rc = strata_hnsw_remove(s.h, slot);
    if (rc != STRATA_HNSW_OK)
      Die(strata_hnsw_strerror(rc), "strata_hnsw_remove");
    strata_vs_remove(&s.vs, slot);
  }
  double remove_s = Now() - t0;
  t0 = Now();
  int rc = strata_hnsw_repair(s.h);
  if (rc != STRATA_HNSW_OK)
    Die(strata_hnsw_strerror(rc), "strata_hnsw_repair");
  double repair_s = Now() - t0;

  std::vector<uint32_t> fresh(n_del);
  for (size_t i = 0; i < n_del; i++) {
    int64_t slot = strata_vs_add(&s.vs, &base.rows[victims[i] * base.dim]);
    if (slot < 0)
      Die("out of memory", "strata_vs_add");
    if (size_t(slot) >= id_of_slot.size())
      id_of_slot.resize(size_t(slot) + 1);
    id_of_slot[size_t(slot)] = victims[i];
    fresh[i] = uint32_t(slot);
  }
  t0 = Now();
  rc = strata_hnsw_build(s.h, fresh.data(), fresh.size(), o.threads);
  if (rc != STRATA_HNSW_OK)
    Die(strata_hnsw_strerror(rc), "strata_hnsw_build (re-insert)");
  double insert_s = Now() - t0;

  strata_hnsw_get_info(s.h, &after);
  size_t slots_after = s.vs.n_slots, heap_after = HeapBytes();
  recall_at(recall_after);
  char msg[256];
  rc = strata_hnsw_check(s.h, msg, sizeof msg);

  std::printf("\nchurn: removed %zu of %zu points (seed %llu) in %.1f s, "
              "repaired in %.1f s, re-inserted on %u thread(s) in %.1f s\n",
              n_del, n, (unsigned long long)kChurnSeed, remove_s, repair_s,
              o.threads, insert_s);
  std::printf("churn: recall@10 at ef %zu: %.4f before, %.4f after "
              "(change %+.4f)\n",
              o.churn_ef, recall_before[0], recall_after[0],
              recall_after[0] - recall_before[0]);
  std::printf("churn: %5s %7s %7s %7s\n", "ef", "before", "after",
              "change");
  for (size_t i = 1; i < efs.size(); i++)
    std::printf("churn: %5zu %7.4f %7.4f %+7.4f\n", efs[i], recall_before[i],
                recall_after[i], recall_after[i] - recall_before[i]);
  std::printf("churn: store slots %zu before, %zu after; PRESENT nodes %zu "
              "before, %zu after; index memory %zu B before, %zu B after; "
              "process heap %+.1f MiB\n",
              slots_before, slots_after, before.present, after.present,
              before.memory_bytes, after.memory_bytes,
              (double(heap_after) - double(heap_before)) / 1048576.0);
  std::printf("churn: graph check %s%s\n",
              rc == STRATA_HNSW_OK ? "passed" : "FAILED: ",
              rc == STRATA_HNSW_OK ? "" : msg);
}

} // namespace

int main(int argc, char **argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Options o = ParseArgs(argc, argv);

  Matrix base, queries;
  strata_metric metric;
  const char *data_name;
  if (Exists(o.dir + "/base.fvecs")) {
    base = LoadFvecs(o.dir + "/base.fvecs", o.n_base);
    queries = LoadFvecs(o.dir + "/query.fvecs", o.n_query);
    metric = STRATA_METRIC_DOT;
    data_name = "fvecs, normalised, cosine (dot)";
  } else {
    base = LoadIdx(o.dir + "/train-images-idx3-ubyte.gz", o.n_base);
    queries = LoadIdx(o.dir + "/t10k-images-idx3-ubyte.gz", o.n_query);
    metric = STRATA_METRIC_L2;
    data_name = "Fashion-MNIST, L2";
  }
  if (queries.dim != base.dim)
    Die("query and base dimensions differ in", o.dir);
  size_t dim = base.dim;
  std::printf("%s: %s: %zu base, %zu queries, dim %zu, k %zu, m %u, "
              "ef_construct %u, build threads %u, kernels %s\n",
              o.dir.c_str(), data_name, base.count, queries.count, dim, kK,
              o.m, o.ef_construct, o.threads, strata_kernels_get()->name);
  PrintLoad("at start");
  if (o.faiss_only) {
    if (o.faiss_path.empty())
      Die("--faiss-only needs --faiss-index FILE", o.dir);
    BuildTime time;
    bool loaded = false;
    strata_faiss_hnsw *index = BuildFaiss(base, o, metric, &time, &loaded);
    if (loaded)
      std::printf("faiss: %s exists and matches\n", o.faiss_path.c_str());
    else
      std::printf("faiss: built on %u thread(s) in %.1f s wall, %.1f s "
                  "process CPU, saved to %s\n",
                  o.threads, time.wall, time.cpu, o.faiss_path.c_str());
    strata_faiss_hnsw_free(index);
    return 0;
  }

  // Strata first: its store also gives the exact top-k.
  StrataSide s;
  BuildStrata(s, base, o, metric);
  std::vector<uint32_t> truth(queries.count * kK, UINT32_MAX);
  {
    std::vector<strata_hit> exact(queries.count * kK);
    std::vector<size_t> counts(queries.count);
    if (strata_flat_search_batch_threads(&s.vs, metric, queries.rows.data(),
                                         queries.count, kK, exact.data(),
                                         counts.data(), o.threads) != 0)
      Die("exact search failed for", o.dir);
    for (size_t q = 0; q < queries.count; q++)
      for (size_t i = 0; i < counts[q]; i++)
        truth[q * kK + i] = exact[q * kK + i].slot;
  }

  hnswlib::L2Space l2_space(dim);
  hnswlib::InnerProductSpace ip_space(dim);
  hnswlib::SpaceInterface<float> *space = &l2_space;
  if (metric == STRATA_METRIC_DOT)
    space = &ip_space;
  size_t heap0 = HeapBytes();
  hnswlib::HierarchicalNSW<float> lib(space, base.count, o.m, o.ef_construct);
  BuildTime lib_build = BuildHnswlib(lib, base, o.threads);
  size_t lib_heap = HeapBytes() - heap0;

  heap0 = HeapBytes();
  BuildTime faiss_build;
  bool faiss_loaded = false;
  strata_faiss_hnsw *faiss =
      BuildFaiss(base, o, metric, &faiss_build, &faiss_loaded);
  size_t faiss_heap = HeapBytes() - heap0;

  double per = double(base.count);
  std::printf("build, %u thread(s), wall s (vectors/s) and process CPU s: "
              "strata %.1f (%.0f) %.1f, hnswlib %.1f (%.0f) %.1f, ",
              o.threads, s.build.wall, per / s.build.wall, s.build.cpu,
              lib_build.wall, per / lib_build.wall, lib_build.cpu);
  if (faiss_loaded)
    std::printf("faiss loaded from %s\n", o.faiss_path.c_str());
  else
    std::printf("faiss %.1f (%.0f) %.1f\n", faiss_build.wall,
                per / faiss_build.wall, faiss_build.cpu);
  std::printf("memory per vector (heap growth while building or loading, "
              "mallinfo2): "
              "strata %.0f B (store %.0f B, index %.0f B), hnswlib %.0f B, "
              "faiss %.0f B\n",
              double(s.store_heap + s.index_heap) / per,
              double(s.store_heap) / per, double(s.index_heap) / per,
              double(lib_heap) / per, double(faiss_heap) / per);
  bool on_disk = !o.on_disk_dir.empty();
  if (on_disk) {
    std::printf("on_disk store in %s: the store's heap above is its "
                "chunk table, live bits and free list\n",
                o.on_disk_dir.c_str());
    PrintFileUsage(s, per, "after the builds");
  }
  PrintLoad("after the builds");

  // int8 codes for the quantized columns, searched with rescoring of
  // the best oversampling * k candidates from the float vectors.
  heap0 = HeapBytes();
  double t0 = Now();
  if (strata_hnsw_quantize(s.h, kQuantile) != STRATA_HNSW_OK)
    return 1;
  double quantize_s = Now() - t0;
  s.codes_heap = HeapBytes() - heap0;
  double int8_heap = double(s.store_heap + s.index_heap + s.codes_heap);
  if (!on_disk)
    std::printf("int8 quantization (quantile %.2f): %.1f s, codes %.0f B per "
                "vector; with rescoring the float store stays, so strata "
                "int8 holds %.0f B per vector, %.0f B without the store\n",
                double(kQuantile), quantize_s, double(s.codes_heap) / per,
                int8_heap / per, double(s.index_heap + s.codes_heap) / per);
  else
    std::printf("int8 quantization (quantile %.2f): %.1f s, codes %.0f B per "
                "vector; with the float store on_disk, strata int8 holds "
                "%.0f B of heap per vector (store %.0f, index %.0f, codes "
                "%.0f), %.2fx hnswlib's %.0f B\n",
                double(kQuantile), quantize_s, double(s.codes_heap) / per,
                int8_heap / per, double(s.store_heap) / per,
                double(s.index_heap) / per, double(s.codes_heap) / per,
                int8_heap / double(lib_heap), double(lib_heap) / per);
  // With "beam", oversampling is ef / k for each row: every candidate
  // the beam kept is rescored, and the beam is not widened.
  strata_hnsw_search_options qopts = {1, 1, o.oversampling};

  std::printf("\nrecall@10, queries per CPU-second, distances per query "
              "(int8: %s, rescored)\n",
              o.oversampling > 0.0f
                  ? ("oversampling " + std::to_string(o.oversampling)).c_str()
                  : "oversampling ef / k, every beam candidate");
  std::printf("%5s  %7s %7s %6s  %7s %7s %6s  %7s %7s %6s  %7s %7s %6s\n",
              "ef", "strata", "QPS", "dist/q", "int8", "QPS", "dist/q",
              "hnswlib", "QPS", "dist/q", "faiss", "QPS", "dist/q");
  std::vector<uint32_t> got(queries.count * kK);
  std::vector<Curve> curves = {
      {"Strata", {}}, {"Strata int8", {}}, {"hnswlib", {}}, {"FAISS", {}}};
  double nq = double(queries.count);
  for (size_t ef : kEfSweep) {
    Point p[4];
    for (int c = 0; c < 4; c++)
      p[c].ef = ef;

    double secs = BestOfTwo(
        [&] { p[0].distances = SearchStrata(s.h, queries, ef, nullptr, got); });
    p[0].recall = Recall(got, truth, queries.count);
    p[0].qps = nq / secs;

    if (o.oversampling <= 0.0f)
      qopts.oversampling = float(ef) / float(kK) > 1.0f
                               ? float(ef) / float(kK)
                               : 1.0f;
    secs = BestOfTwo(
        [&] { p[1].distances = SearchStrata(s.h, queries, ef, &qopts, got); });
    p[1].recall = Recall(got, truth, queries.count);
    p[1].qps = nq / secs;

    lib.setEf(ef);
    secs = BestOfTwo([&] { SearchHnswlib(lib, queries, got); });
    p[2].recall = Recall(got, truth, queries.count);
    p[2].qps = nq / secs;
    // Untimed pass of hnswlib with a counting distance function.
    g_lib_dist = lib.fstdistfunc_;
    lib.fstdistfunc_ = CountingDist;
    g_lib_count = 0;
    for (size_t q = 0; q < queries.count; q++)
      lib.searchKnn(&queries.rows[q * dim], kK);
    lib.fstdistfunc_ = g_lib_dist;
    p[2].distances = double(g_lib_count.load()) / nq;

    secs = BestOfTwo(
        [&] { p[3].distances = SearchFaiss(faiss, queries, ef, got); });
    p[3].recall = Recall(got, truth, queries.count);
    p[3].qps = nq / secs;

    std::printf("%5zu", ef);
    for (int c = 0; c < 4; c++) {
      curves[size_t(c)].points.push_back(p[c]);
      std::printf("  %7.4f %7.0f %6.0f", p[c].recall, p[c].qps,
                  p[c].distances);
    }
    std::printf("\n");
  }
  for (double target : {0.95, 0.99}) {
    double lib_qps = QpsAtRecall(curves[2], target);
    std::printf("QPS at recall %.2f:", target);
    for (const Curve &c : curves) {
      double qps = QpsAtRecall(c, target);
      std::printf(" %s %.0f (%.2fx hnswlib)%s", c.name, qps, qps / lib_qps,
                  &c == &curves.back() ? "\n" : ",");
    }
  }
  PrintLoad("after the sweep");

  if (on_disk) {
    PrintFileUsage(s, per, "after the sweep (float and int8 searches)");
    // The cold pass runs at the smallest ef at which the int8 column
    // reached recall 0.95 in the sweep, else at the largest ef.
    size_t cold_ef = kEfSweep[sizeof kEfSweep / sizeof *kEfSweep - 1];
    for (const Point &p : curves[1].points) {
      if (p.recall >= 0.95) {
        cold_ef = p.ef;
        break;
      }
    }
    if (o.oversampling <= 0.0f)
      qopts.oversampling = std::max(1.0f, float(cold_ef) / float(kK));
    RunColdInt8(s, queries, truth, cold_ef, qopts, per);
    PrintLoad("after the cold int8 pass");
  }

  if (!o.data_path.empty()) {
    char title[256];
    std::snprintf(title, sizeof title,
                  "%s: %zu base, %zu queries, dim %zu, m %u, "
                  "ef_construct %u, k %zu",
                  data_name, base.count, queries.count, dim, o.m,
                  o.ef_construct, kK);
    WriteData(o.data_path, title, curves);
  }

  strata_faiss_hnsw_free(faiss);
  if (o.churn_ef > 0) {
    RunChurn(s, base, queries, truth, o);
    PrintLoad("after the churn");
  }
  strata_hnsw_destroy(s.h);
  strata_vs_destroy(&s.vs);
  return 0;
}
