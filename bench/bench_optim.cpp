// SPDX-License-Identifier: MIT
// Optimizer step benchmarks: SGD with momentum, Adam, AdamW, RMSprop on 1M float32 parameters (one tensor,
// and 256 tensors of 4096), and the overhead of a wrapper stack. bench/torch_optim.py times torch.optim on
// the same cases and prints the comparison (see bench/README.md, "Optimizers").
#include <memory>
#include <vector>

#include <benchmark/benchmark.h>

#include <kexue/core/creation.hpp>
#include <kexue/optim/adam.hpp>
#include <kexue/optim/ema.hpp>
#include <kexue/optim/gradient_accumulation.hpp>
#include <kexue/optim/lookahead.hpp>
#include <kexue/optim/rmsprop.hpp>
#include <kexue/optim/sgd.hpp>

namespace {

using kexue::index_t;
using kexue::tensor;
using params_t = std::vector<tensor<float>>;

/// `count` parameters of `size` floats in U(−1, 1), each with a gradient in U(−1, 1).
params_t make_params(index_t count, index_t size) {
  kexue::generator gen(7);
  params_t out;
  for (index_t i = 0; i < count; ++i) {
    auto p = kexue::rand<float>({size}, gen, -1.0f, 1.0f).requires_grad(true);
    p.set_grad(kexue::rand<float>({size}, gen, -1.0f, 1.0f));
    out.push_back(p);
  }
  return out;
}

/// Times opt.step() (the gradients stay in place; the parameters drift, which does not change the work).
template <class Make>
void run_steps(benchmark::State& state, Make make) {
  const auto count = state.range(0), size = state.range(1);
  auto params = make_params(count, size);
  auto opt = make(params);
  opt.step();  // creates the state buffers outside the timed loop
  for (auto _ : state) {
    opt.step();
    benchmark::DoNotOptimize(params[0].data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * count * size);
}

void BM_sgd_momentum(benchmark::State& state) {
  run_steps(state, [](const params_t& p) {
    return kexue::optim::sgd<float>(p, kexue::optim::sgd_options().lr(1e-3).momentum(0.9));
  });
}
void BM_adam(benchmark::State& state) {
  run_steps(state, [](const params_t& p) { return kexue::optim::adam<float>(p, kexue::optim::adam_options()); });
}
void BM_adamw(benchmark::State& state) {
  run_steps(state, [](const params_t& p) { return kexue::optim::adamw<float>(p, kexue::optim::adamw_options()); });
}
void BM_rmsprop(benchmark::State& state) {
  run_steps(state, [](const params_t& p) {
    return kexue::optim::rmsprop<float>(p, kexue::optim::rmsprop_options().momentum(0.9).centered(true));
  });
}
/// ema(lookahead(gradient_accumulation(adam, 1))): every call updates, so the cost over BM_adam is the
/// wrappers' (accumulation copy and mean, lookahead every 5th update, the average).
void BM_stack_ema_lookahead_accumulation_adam(benchmark::State& state) {
  namespace optim = kexue::optim;
  run_steps(state, [](const params_t& p) {
    return optim::ema(optim::lookahead(optim::gradient_accumulation(optim::adam<float>(p), 1)));
  });
}

#define KEXUE_OPTIM_SHAPES ArgNames({"tensors", "size"})->Args({1, 1 << 20})->Args({256, 4096})->Args({64, 16})
BENCHMARK(BM_sgd_momentum)->KEXUE_OPTIM_SHAPES;
BENCHMARK(BM_adam)->KEXUE_OPTIM_SHAPES;
BENCHMARK(BM_adamw)->KEXUE_OPTIM_SHAPES;
BENCHMARK(BM_rmsprop)->KEXUE_OPTIM_SHAPES;
BENCHMARK(BM_stack_ema_lookahead_accumulation_adam)->KEXUE_OPTIM_SHAPES;
#undef KEXUE_OPTIM_SHAPES

}  // namespace

BENCHMARK_MAIN();
