// SPDX-License-Identifier: MIT
// Benchmarks of the fused recurrent layers: nn::gru and nn::lstm (one layer, one direction), forward
// (inference, no graph) and forward + backward, at 1 and 2 threads. The PyTorch side is
// bench/torch_recurrent.py (same shapes), which also prints the ratio table from this program's JSON.
#include <algorithm>  // std::min
#include <string>

#include "bench_machine.hpp"
#include <benchmark/benchmark.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/nn/recurrent.hpp>

namespace {

namespace kx = kexue;

/// The shape: batch 32, 64 steps, 128 inputs, 128 hidden units.
constexpr int64_t batch = 32, steps = 64, features = 128, hidden = 128;

/// Runs forward (with_backward false, under no_grad) or forward + backward of `Layer` for every iteration.
/// Args: {batch, steps, input, hidden, threads}.
template <class Layer>
void run_layer(benchmark::State& state, bool with_backward) {
  const int64_t B = state.range(0), TT = state.range(1), I = state.range(2), H = state.range(3);
  kx::set_num_threads(static_cast<int>(state.range(4)));
  kx::generator gen(1);
  Layer layer(kx::nn::recurrent_options(I, H), gen);
  auto x = kx::randn<float>({B, TT, I}, gen);
  const auto g = kx::randn<float>({B, TT, H}, gen);
  if (with_backward) x.requires_grad(true);
  for (auto _ : state) {
    if (with_backward) {
      auto out = layer(x).output;
      out.backward(g);
      benchmark::DoNotOptimize(x.grad().data());
    } else {
      kx::no_grad_guard no_grad;
      auto out = layer(x).output;
      benchmark::DoNotOptimize(out.data());
    }
    benchmark::ClobberMemory();
  }
  state.counters["steps_per_s"] =
      benchmark::Counter(static_cast<double>(B * TT), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_gru_forward(benchmark::State& s) { run_layer<kx::nn::gru<float>>(s, false); }
void BM_gru_forward_backward(benchmark::State& s) { run_layer<kx::nn::gru<float>>(s, true); }
void BM_lstm_forward(benchmark::State& s) { run_layer<kx::nn::lstm<float>>(s, false); }
void BM_lstm_forward_backward(benchmark::State& s) { run_layer<kx::nn::lstm<float>>(s, true); }

/// One thread is timed in CPU time, two in wall-clock time (CPU time would count the calling thread only).
void register_all(int max_threads) {
  const std::pair<const char*, void (*)(benchmark::State&)> all[] = {
      {"BM_gru_forward", BM_gru_forward},
      {"BM_gru_forward_backward", BM_gru_forward_backward},
      {"BM_lstm_forward", BM_lstm_forward},
      {"BM_lstm_forward_backward", BM_lstm_forward_backward}};
  for (const auto& [name, fn] : all) {
    for (int threads = 1; threads <= max_threads; ++threads) {
      auto* b = benchmark::RegisterBenchmark(name, fn);
      b->ArgNames({"batch", "steps", "input", "hidden", "threads"})->Unit(benchmark::kMillisecond)->MinTime(0.5);
      if (threads > 1) b->UseRealTime();
      b->Args({batch, steps, features, hidden, threads});
    }
  }
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
  register_all(max_threads);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
