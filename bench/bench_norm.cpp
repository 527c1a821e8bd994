// SPDX-License-Identifier: MIT
// The differentiable ops of ops/softmax.hpp (now on the row kernels), ops/cross_entropy.hpp and ops/norm.hpp, as
// a model calls them (tensors in, tensors out, autograd recording on): forward, and forward + backward, on 1 and
// 2 threads. Reports Gelem/s (elements of x per second).
//
//   bench_norm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <cstdint>  // std::int64_t
#include <vector>

#include <benchmark/benchmark.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/ops/cross_entropy.hpp>
#include <kexue/ops/norm.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/softmax.hpp>

namespace {

using kexue::index_t;
using kexue::tensor;

enum class op { softmax, log_softmax, softmax_axis0, cross_entropy, layer_norm, rms_norm, batch_norm };

/// One benchmark: x [rows, cols] (batch_norm: [rows, cols] = [N, C]); backward adds y.backward(g).
void run(benchmark::State& state, op which, bool backward) {
  const index_t rows = state.range(0), cols = state.range(1);
  kexue::set_num_threads(static_cast<int>(state.range(2)));
  kexue::generator gen(1);
  auto x = kexue::randn<float>({rows, cols}, gen).requires_grad(backward);
  const auto w = kexue::ones<float>({cols}).requires_grad(backward);
  const auto b = kexue::zeros<float>({cols}).requires_grad(backward);
  auto target = tensor<index_t>::empty({rows});
  for (index_t r = 0; r < rows; ++r) target.data()[r] = (r * 7919) % cols;
  const auto forward = [&]() -> tensor<float> {
    switch (which) {
      case op::softmax:
        return kexue::softmax(x);
      case op::log_softmax:
        return kexue::log_softmax(x);
      case op::softmax_axis0:
        return kexue::softmax(x, 0);
      case op::cross_entropy:
        return kexue::softmax_cross_entropy(x, target);
      case op::layer_norm:
        return kexue::layer_norm(x, {cols}, w, b);
      case op::rms_norm:
        return kexue::rms_norm(x, {cols}, w);
      case op::batch_norm:
        return kexue::batch_norm(x, {}, {}, w, b, true);
    }
    return {};
  };
  const auto probe = forward();
  const auto g = kexue::randn<float>(probe.shape(), gen);
  for (auto _ : state) {
    auto y = forward();
    if (backward) {
      y.backward(g);
      x.zero_grad();
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["Gelem/s"] =
      benchmark::Counter(static_cast<double>(rows * cols) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void add(const char* name, op which, bool backward, const std::vector<std::vector<std::int64_t>>& grid) {
  for (int threads : {1, 2}) {
    auto* bm = benchmark::RegisterBenchmark(name, [which, backward](benchmark::State& s) { run(s, which, backward); });
    bm->ArgNames({"rows", "cols", "threads"})->Unit(benchmark::kMicrosecond)->MinTime(0.2);
    if (threads > 1) bm->UseRealTime();
    for (const auto& rc : grid) bm->Args({rc[0], rc[1], threads});
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::vector<std::int64_t>> softmax_grid = {{4096, 512}, {256, 32000}, {8192, 64}};
  const std::vector<std::vector<std::int64_t>> norm_grid = {{4096, 512}, {8192, 64}, {512, 4096}};
  add("softmax", op::softmax, false, softmax_grid);
  add("softmax_fwd_bwd", op::softmax, true, softmax_grid);
  add("log_softmax", op::log_softmax, false, softmax_grid);
  add("log_softmax_fwd_bwd", op::log_softmax, true, softmax_grid);
  add("softmax_axis0", op::softmax_axis0, false, {{512, 4096}, {64, 8192}});
  add("cross_entropy_fwd_bwd", op::cross_entropy, true, softmax_grid);
  add("layer_norm", op::layer_norm, false, norm_grid);
  add("layer_norm_fwd_bwd", op::layer_norm, true, norm_grid);
  add("rms_norm_fwd_bwd", op::rms_norm, true, norm_grid);
  add("batch_norm_train_fwd_bwd", op::batch_norm, true, {{4096, 64}, {256, 512}});
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
