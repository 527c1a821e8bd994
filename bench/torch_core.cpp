// SPDX-License-Identifier: MIT
// The cases of bench/bench_core.cpp, same names and sizes, run with libtorch (libtorch-dev) on one thread.
// Built only when CMake finds Torch; bench/compare.py prints the two side by side (bench/README.md).
#include <string>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

constexpr int64_t large_n = 1 << 20;  // 1M floats, as in bench_core.cpp

const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);

/// Sets bytes_per_second for a 1M case moving `bytes_per_iteration` (read + written, as in bench_core.cpp).
void set_bytes(benchmark::State& state, double bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(bytes_per_iteration * static_cast<double>(state.iterations())));
}

torch::Tensor tiny(float start) { return torch::arange(start, start + 4, f32); }

torch::Tensor large(uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::rand({large_n}, gen, f32) * 4 - 2;
}

// ~~~ Per-op overhead ~~~

void BM_empty_tiny(benchmark::State& state) {
  for (auto _ : state) {
    auto t = torch::empty({4}, f32);
    benchmark::DoNotOptimize(t.data_ptr<float>());
  }
}
BENCHMARK(BM_empty_tiny);

void BM_add_tiny(benchmark::State& state) {
  const auto a = tiny(1), b = tiny(10);
  for (auto _ : state) {
    auto c = torch::add(a, b);
    benchmark::DoNotOptimize(c.data_ptr<float>());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_add_tiny);

void BM_add_tiny_grad(benchmark::State& state) {
  const auto a = tiny(1).requires_grad_(true), b = tiny(10).requires_grad_(true);
  for (auto _ : state) {
    auto c = torch::add(a, b);
    benchmark::DoNotOptimize(c.data_ptr<float>());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_add_tiny_grad);

/// x [16, 16] (no gradient), w [16, 16] and b [16] requiring gradients; y = x wᵀ + b as two ops, like
/// kexue's matmul(x, w, false, true) + b.
struct linear16 {
  torch::Tensor x = torch::randn({16, 16}, f32);
  torch::Tensor w = torch::randn({16, 16}, f32).requires_grad_(true);
  torch::Tensor b = torch::randn({16}, f32).requires_grad_(true);

  torch::Tensor forward() const { return torch::matmul(x, w.t()) + b; }
};

void BM_linear16_forward(benchmark::State& state) {
  linear16 layer;
  for (auto _ : state) {
    auto y = layer.forward();
    benchmark::DoNotOptimize(y.data_ptr<float>());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_linear16_forward);

void BM_linear16_forward_backward(benchmark::State& state) {
  linear16 layer;
  for (auto _ : state) {
    auto loss = layer.forward().sum();
    loss.backward();
    benchmark::DoNotOptimize(layer.w.grad().data_ptr<float>());
    layer.w.mutable_grad().reset();  // zero_grad(set_to_none=true), as kexue's zero_grad
    layer.b.mutable_grad().reset();
  }
}
BENCHMARK(BM_linear16_forward_backward);

/// The same layer through torch::linear (one fused addmm): libtorch's best case, for reference.
void BM_linear16_forward_backward_addmm(benchmark::State& state) {
  linear16 layer;
  for (auto _ : state) {
    auto loss = torch::linear(layer.x, layer.w, layer.b).sum();
    loss.backward();
    benchmark::DoNotOptimize(layer.w.grad().data_ptr<float>());
    layer.w.mutable_grad().reset();
    layer.b.mutable_grad().reset();
  }
}
BENCHMARK(BM_linear16_forward_backward_addmm);

// ~~~ Element-wise ops on 1M floats ~~~

/// One element-wise case on 1M floats: op(a, b) (unary ops and sum ignore b), moving `arrays` arrays.
template <class Op>
void elementwise_1m(benchmark::State& state, int arrays, Op op) {
  const auto a = large(1), b = large(2);
  for (auto _ : state) {
    auto c = op(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
    benchmark::ClobberMemory();
  }
  set_bytes(state, double(arrays) * large_n * sizeof(float));
}

void BM_add_1M(benchmark::State& state) {
  elementwise_1m(state, 3, [](const auto& a, const auto& b) { return torch::add(a, b); });
}
BENCHMARK(BM_add_1M);

void BM_mul_1M(benchmark::State& state) {
  elementwise_1m(state, 3, [](const auto& a, const auto& b) { return torch::mul(a, b); });
}
BENCHMARK(BM_mul_1M);

void BM_exp_1M(benchmark::State& state) {
  elementwise_1m(state, 2, [](const auto& a, const auto&) { return torch::exp(a); });
}
BENCHMARK(BM_exp_1M);

void BM_relu_1M(benchmark::State& state) {
  elementwise_1m(state, 2, [](const auto& a, const auto&) { return torch::relu(a); });
}
BENCHMARK(BM_relu_1M);

void BM_sum_1M(benchmark::State& state) {
  elementwise_1m(state, 1, [](const auto& a, const auto&) { return torch::sum(a); });
}
BENCHMARK(BM_sum_1M);

}  // namespace

int main(int argc, char** argv) {
  torch::set_num_threads(1);  // kexue's cases run on one thread too
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("library", "libtorch");
  benchmark::AddCustomContext("torch_version", TORCH_VERSION);
  benchmark::AddCustomContext("torch_threads", std::to_string(torch::get_num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
