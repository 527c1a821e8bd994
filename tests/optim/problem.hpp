// SPDX-License-Identifier: MIT
// The small regression problem shared by the optimizer tests (same data as tests/reference/data/optim.txt).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "reference/reference_data.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/optim/optimizer.hpp>

namespace kexue::testing {

/// loss(w, b) = mean((tanh(x @ w + b) − y)²) with x [5, 4], y [5, 3], w [4, 3], b [3].
template <class T>
struct optim_problem {
  tensor<T> x, y, w0, b0;

  static optim_problem load() {
    const reference_file f("optim");
    return {f.get("problem.x").to<T>(), f.get("problem.y").to<T>(), f.get("problem.w").to<T>(),
            f.get("problem.b").to<T>()};
  }
  /// Fresh leaf parameters {w, b} at the initial values.
  std::vector<tensor<T>> parameters() const { return {w0.copy().requires_grad(true), b0.copy().requires_grad(true)}; }
  tensor<T> loss(const tensor<T>& w, const tensor<T>& b) const { return mean(square(tanh(matmul(x, w) + b) - y)); }
  /// zero_grad, backward of the loss, step.
  void step(optim::optimizer<T>& opt, const std::vector<tensor<T>>& p) const {
    opt.zero_grad();
    loss(p[0], p[1]).backward();
    opt.step();
  }
};

/// Builds an optimizer (or wrapper stack) over the given parameters.
template <class T>
using optimizer_factory = std::function<std::unique_ptr<optim::optimizer<T>>(const std::vector<tensor<T>>&)>;

/// Runs `steps` steps of `make`'s optimizer on the problem, saves the state after `split` of them, rebuilds the
/// optimizer over copies of the parameters at that point, loads the state and finishes the run there; checks
/// the two runs end with bit-identical parameters (and returns the final parameters).
template <class T>
std::vector<tensor<T>> check_save_restore(const optimizer_factory<T>& make, int steps = 20, int split = 7) {
  const auto problem = optim_problem<T>::load();
  auto p = problem.parameters();
  auto opt = make(p);
  std::vector<tensor<T>> q;
  std::unique_ptr<optim::optimizer<T>> resumed;
  for (int s = 0; s < steps; ++s) {
    if (s == split) {
      const auto saved = opt->save_state();
      q = {p[0].detach().copy().requires_grad(true), p[1].detach().copy().requires_grad(true)};
      resumed = make(q);
      resumed->load_state(saved);
    }
    problem.step(*opt, p);
    if (resumed) problem.step(*resumed, q);
  }
  for (std::size_t i = 0; i < p.size(); ++i) {
    const auto a = p[i].to_vector(), b = q[i].to_vector();
    CHECK_MESSAGE(a == b, "parameter ", i, " differs after save, load and resume");
  }
  return p;
}

}  // namespace kexue::testing
