// SPDX-License-Identifier: MIT
// Softmax over the rows of a [rows, cols] fp32 array: kexue's kernels against their scalar twins, Eigen and
// oneDNN, forward and backward, on 1 and 2 threads. Reports Gelem/s (rows * cols per second), GB/s, and
// the GB/s as a percentage of a triad measured by this binary on arrays of the same size as x.
//
//   bench_softmax --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//                 --benchmark_out=softmax.json
//   /usr/bin/python3 bench/torch_softmax.py --kexue-json softmax.json   # PyTorch, and the ratio table
#include <algorithm>  // std::max
#include <cmath>      // std::fabs
#include <cstdint>    // std::int64_t, std::uint8_t
#include <cstdio>     // std::snprintf
#include <map>        // triad bandwidth per size
#include <random>     // std::mt19937
#include <string>
#include <utility>  // std::pair
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>
#ifdef KEXUE_BENCH_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "bench_machine.hpp"

#include <kexue/core/allocator.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/softmax.hpp>

namespace {

using kexue::index_t;

/// Triad GB/s (one thread) on arrays of the given byte size, measured in main() for every shape.
std::map<std::size_t, double> g_triad_gbs;

/// A [rows, cols] problem: logits x, output y, upstream gradient dy, input gradient dx; 64-byte aligned.
struct problem {
  index_t rows, cols;
  float* x;
  float* y;
  float* dy;
  float* dx;

  problem(index_t r, index_t c) : rows(r), cols(c) {
    x = allocate();
    y = allocate();
    dy = allocate();
    dx = allocate();
    std::mt19937 gen(42);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (index_t i = 0; i < numel(); ++i) x[i] = normal(gen);
    for (index_t i = 0; i < numel(); ++i) dy[i] = normal(gen);
    kexue::softmax_rows(x, y, rows, cols);
    for (index_t i = 0; i < numel(); ++i) dx[i] = 0.0f;
  }
  ~problem() {
    for (float* p : {x, y, dy, dx}) kexue::deallocate_bytes(p, bytes());
  }
  problem(const problem&) = delete;
  problem& operator=(const problem&) = delete;

  index_t numel() const { return rows * cols; }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * sizeof(float); }
  float* allocate() const { return static_cast<float*>(kexue::allocate_bytes(bytes())); }
};

/// Largest difference of `got` from the scalar twin's output on the first rows (at most 8), relative to
/// the largest expected value of the row: an independent check of whichever library wrote `got`.
template <class Twin>
double check_rows(const problem& p, const float* got, Twin twin) {
  const index_t rows = std::min<index_t>(p.rows, 8);
  std::vector<float> want(static_cast<std::size_t>(rows * p.cols));
  twin(rows, want.data());
  double worst = 0;
  for (index_t r = 0; r < rows; ++r) {
    double scale = 0;
    for (index_t j = 0; j < p.cols; ++j) scale = std::max(scale, std::fabs(double(want[r * p.cols + j])));
    for (index_t j = 0; j < p.cols; ++j) {
      const double d = std::fabs(double(got[r * p.cols + j]) - double(want[r * p.cols + j]));
      worst = std::max(worst, d / std::max(scale, 1e-30));
    }
  }
  return worst;
}

bool check_forward(benchmark::State& state, const problem& p, const float* got) {
  const double error =
      check_rows(p, got, [&](index_t rows, float* out) { kexue::softmax_rows_reference(p.x, out, rows, p.cols); });
  if (!(error < 1e-5)) {
    state.SkipWithError(("wrong softmax: relative error " + std::to_string(error)).c_str());
    return false;
  }
  return true;
}

bool check_backward(benchmark::State& state, const problem& p, const float* got) {
  const double error = check_rows(
      p, got, [&](index_t rows, float* out) { kexue::softmax_backward_rows_reference(p.y, p.dy, out, rows, p.cols); });
  if (!(error < 1e-5)) {
    state.SkipWithError(("wrong softmax backward: relative error " + std::to_string(error)).c_str());
    return false;
  }
  return true;
}

/// Counters of every variant: Gelem/s, GB/s for `arrays` arrays of rows x cols floats moved per call, and
/// that as a percentage of the one-thread triad on arrays of x's size.
void finish(benchmark::State& state, const problem& p, int arrays, int threads) {
  const double elements = double(p.numel());
  state.SetItemsProcessed(state.iterations() * p.numel());
  state.SetBytesProcessed(state.iterations() * p.numel() * index_t(sizeof(float)) * arrays);
  state.counters["Gelem_s"] = benchmark::Counter(elements * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const double gb = elements * sizeof(float) * arrays * 1e-9;
  state.counters["GB_s"] = benchmark::Counter(gb, benchmark::Counter::kIsIterationInvariantRate);
  const double triad = g_triad_gbs.count(p.bytes()) ? g_triad_gbs[p.bytes()] : 0.0;
  if (triad > 0) {
    state.counters["pct_triad"] = benchmark::Counter(gb * 100.0 / triad, benchmark::Counter::kIsIterationInvariantRate);
  }
  state.counters["threads"] = threads;
}

int threads_of(const benchmark::State& state) { return static_cast<int>(state.range(2)); }

template <class F>
void timed(benchmark::State& state, const float* out, F run) {
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
}

// ~~~ forward ~~~

void BM_softmax_kernel(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  const int threads = threads_of(state);
  kexue::set_num_threads(threads);
  auto run = [&] { kexue::softmax_rows(p.x, p.y, p.rows, p.cols); };
  run();
  if (!check_forward(state, p, p.y)) return;
  timed(state, p.y, run);
  finish(state, p, 2, threads);
}

/// The scalar twin (long double arithmetic: it is the tests' oracle, not a contender).
void BM_softmax_reference(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  auto run = [&] { kexue::softmax_rows_reference(p.x, p.y, p.rows, p.cols); };
  run();
  timed(state, p.y, run);
  finish(state, p, 2, 1);
}

/// A straightforward Eigen implementation: rowwise max, exp of the shifted array, rowwise sum, divide.
void BM_softmax_eigen(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  using array = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const array, Eigen::Aligned64> x(p.x, p.rows, p.cols);
  Eigen::Map<array, Eigen::Aligned64> y(p.y, p.rows, p.cols);
  auto run = [&] {
    y = (x.colwise() - x.rowwise().maxCoeff()).exp();
    y.colwise() /= y.rowwise().sum();
  };
  run();
  if (!check_forward(state, p, p.y)) return;
  timed(state, p.y, run);
  finish(state, p, 2, 1);
}

// ~~~ backward ~~~

void BM_softmax_backward_kernel(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  const int threads = threads_of(state);
  kexue::set_num_threads(threads);
  auto run = [&] { kexue::softmax_backward_rows(p.y, p.dy, p.dx, p.rows, p.cols); };
  run();
  if (!check_backward(state, p, p.dx)) return;
  timed(state, p.dx, run);
  finish(state, p, 3, threads);
}

void BM_softmax_backward_reference(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  auto run = [&] { kexue::softmax_backward_rows_reference(p.y, p.dy, p.dx, p.rows, p.cols); };
  run();
  timed(state, p.dx, run);
  finish(state, p, 3, 1);
}

void BM_softmax_backward_eigen(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  using array = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const array, Eigen::Aligned64> y(p.y, p.rows, p.cols), dy(p.dy, p.rows, p.cols);
  Eigen::Map<array, Eigen::Aligned64> dx(p.dx, p.rows, p.cols);
  auto run = [&] { dx = y * (dy.colwise() - (dy * y).rowwise().sum()); };
  run();
  if (!check_backward(state, p, p.dx)) return;
  timed(state, p.dx, run);
  finish(state, p, 3, 1);
}

// ~~~ log_softmax, cross-entropy, masked attention rows (kexue only: how the variants compare) ~~~

void BM_log_softmax_kernel(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  const int threads = threads_of(state);
  kexue::set_num_threads(threads);
  auto run = [&] { kexue::log_softmax_rows(p.x, p.y, p.rows, p.cols); };
  timed(state, p.y, run);
  finish(state, p, 2, threads);
}

/// Loss and gradient together: reads logits, writes the gradient.
void BM_cross_entropy_kernel(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  const int threads = threads_of(state);
  kexue::set_num_threads(threads);
  std::vector<std::int64_t> target(static_cast<std::size_t>(p.rows));
  for (index_t r = 0; r < p.rows; ++r) target[r] = (r * 7919) % p.cols;
  std::vector<float> loss(static_cast<std::size_t>(p.rows));
  kexue::cross_entropy_options<float> opt;
  opt.grad_scale = 1.0f / float(p.rows);
  auto run = [&] { kexue::cross_entropy_rows(p.x, target.data(), loss.data(), p.dx, p.rows, p.cols, opt); };
  timed(state, p.dx, run);
  finish(state, p, 2, threads);
}

/// Attention-style rows: scale 1/8, causal over blocks of `cols` queries (rows = batch * heads * cols), which
/// skips the hidden half; and with a [cols, cols] boolean keep mask repeated over the blocks instead.
void BM_softmax_kernel_causal(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  const int threads = threads_of(state);
  kexue::set_num_threads(threads);
  kexue::softmax_options<float> opt;
  opt.scale = 0.125f;
  opt.causal = true;
  auto run = [&] { kexue::softmax_rows(p.x, p.y, p.rows, p.cols, opt); };
  timed(state, p.y, run);
  finish(state, p, 2, threads);
}

void BM_softmax_kernel_keep_mask(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  const int threads = threads_of(state);
  kexue::set_num_threads(threads);
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(p.cols * p.cols));
  for (index_t i = 0; i < p.cols; ++i) {
    for (index_t j = 0; j < p.cols; ++j) keep[i * p.cols + j] = j <= i ? 1 : 0;
  }
  kexue::softmax_options<float> opt;
  opt.scale = 0.125f;
  opt.keep = keep.data();
  opt.keep_row_stride = p.cols;
  opt.keep_rows = p.cols;
  auto run = [&] { kexue::softmax_rows(p.x, p.y, p.rows, p.cols, opt); };
  timed(state, p.y, run);
  finish(state, p, 2, threads);
}

// ~~~ oneDNN ~~~

#ifdef KEXUE_BENCH_HAVE_DNNL
/// oneDNN 2.6 softmax primitives on a plain row-major [rows, cols] memory, axis 1.
struct dnnl_softmax {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::memory::desc md;
  dnnl::softmax_forward::primitive_desc forward_pd;
  dnnl::softmax_forward forward;
  dnnl::softmax_backward::primitive_desc backward_pd;
  dnnl::softmax_backward backward;

  explicit dnnl_softmax(const problem& p)
      : md({p.rows, p.cols}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab),
        forward_pd({dnnl::prop_kind::forward_training, md, 1}, engine),
        forward(forward_pd),
        backward_pd({md, md, 1}, engine, forward_pd),
        backward(backward_pd) {}
};

/// oneDNN (Debian's build) threads through the OpenMP runtime.
void set_omp_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

void BM_softmax_dnnl(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  const int threads = threads_of(state);
  set_omp_threads(threads);
  dnnl_softmax d(p);
  dnnl::memory src(d.md, d.engine, p.x), dst(d.md, d.engine, p.y);
  auto run = [&] {
    d.forward.execute(d.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    d.stream.wait();
  };
  run();
  if (!check_forward(state, p, p.y)) return;
  timed(state, p.y, run);
  finish(state, p, 2, threads);
  set_omp_threads(kexue::get_num_threads());
}

void BM_softmax_backward_dnnl(benchmark::State& state) {
  problem p(state.range(0), state.range(1));
  const int threads = threads_of(state);
  set_omp_threads(threads);
  dnnl_softmax d(p);
  dnnl::memory dst(d.md, d.engine, p.y), diff_dst(d.md, d.engine, p.dy), diff_src(d.md, d.engine, p.dx);
  auto run = [&] {
    d.backward.execute(d.stream, {{DNNL_ARG_DST, dst}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}});
    d.stream.wait();
  };
  run();
  if (!check_backward(state, p, p.dx)) return;
  timed(state, p.dx, run);
  finish(state, p, 3, threads);
  set_omp_threads(kexue::get_num_threads());
}
#endif

// ~~~ registration ~~~

/// The shapes: transformer attention rows, a language-model vocabulary, short rows.
const std::vector<std::pair<int64_t, int64_t>> shapes = {{4096, 512}, {256, 32000}, {8192, 64}};

/// Registers fn for every shape at 1..max_threads threads. One thread is timed in CPU time (what a busy
/// machine disturbs least; the rates, Gelem/s and GB/s, follow it), two in wall-clock time (CPU time would
/// count the calling thread only).
void shape_grid(const char* name, void (*fn)(benchmark::State&), int max_threads,
                const std::vector<std::pair<int64_t, int64_t>>& grid = shapes) {
  for (int threads = 1; threads <= max_threads; ++threads) {
    auto* b = benchmark::RegisterBenchmark(name, fn);
    b->ArgNames({"rows", "cols", "threads"})->Unit(benchmark::kMicrosecond)->MinTime(0.2);
    if (threads > 1) b->UseRealTime();
    for (const auto& [rows, cols] : grid) b->Args({rows, cols, threads});
  }
}

void register_all(int max_threads) {
  shape_grid("BM_softmax_kernel", BM_softmax_kernel, max_threads);
  shape_grid("BM_softmax_reference", BM_softmax_reference, 1);
  shape_grid("BM_softmax_eigen", BM_softmax_eigen, 1);
#ifdef KEXUE_BENCH_HAVE_DNNL
  shape_grid("BM_softmax_dnnl", BM_softmax_dnnl, max_threads);
#endif
  shape_grid("BM_softmax_backward_kernel", BM_softmax_backward_kernel, max_threads);
  shape_grid("BM_softmax_backward_reference", BM_softmax_backward_reference, 1);
  shape_grid("BM_softmax_backward_eigen", BM_softmax_backward_eigen, 1);
#ifdef KEXUE_BENCH_HAVE_DNNL
  shape_grid("BM_softmax_backward_dnnl", BM_softmax_backward_dnnl, max_threads);
#endif
  shape_grid("BM_log_softmax_kernel", BM_log_softmax_kernel, max_threads);
  shape_grid("BM_cross_entropy_kernel", BM_cross_entropy_kernel, max_threads);
  shape_grid("BM_softmax_kernel_causal", BM_softmax_kernel_causal, max_threads, {{4096, 512}});
  shape_grid("BM_softmax_kernel_keep_mask", BM_softmax_kernel_keep_mask, max_threads, {{4096, 512}});
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const int max_threads = std::min(2, kexue::get_num_threads());
  kexue::bench::add_machine_context(max_threads);
#ifdef KEXUE_BENCH_BUILD_INFO
  benchmark::AddCustomContext("kexue_build_flags", KEXUE_BENCH_BUILD_INFO);
#endif
  // Bandwidth baselines: a one-thread triad on arrays the size of x for every shape, and DRAM-sized.
  char text[64];
  for (const auto& [rows, cols] : shapes) {
    const std::size_t bytes = static_cast<std::size_t>(rows * cols) * sizeof(float);
    g_triad_gbs[bytes] = kexue::bench::measure_triad_gbs(bytes, 1, 0.2);
    std::snprintf(text, sizeof text, "%.1f", g_triad_gbs[bytes]);
    benchmark::AddCustomContext("triad_gbs_1thread_" + std::to_string(bytes >> 20) + "MiB_arrays", text);
  }
  std::snprintf(text, sizeof text, "%.1f", kexue::bench::measure_triad_gbs(std::size_t(256) << 20, 1, 0.5));
  benchmark::AddCustomContext("triad_gbs_1thread_256MiB_arrays", text);
  register_all(max_threads);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
