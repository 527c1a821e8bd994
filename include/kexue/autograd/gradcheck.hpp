// SPDX-License-Identifier: MIT
// gradcheck / gradgradcheck: compare autograd's gradients with central finite differences.
#pragma once

#include <algorithm>   // std::min
#include <cmath>       // std::abs
#include <functional>  // std::function
#include <sstream>     // the report
#include <string>
#include <vector>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/reduce.hpp>

namespace kexue {

/// Options of gradcheck. Defaults follow PyTorch's torch.autograd.gradcheck for double precision.
struct gradcheck_options {
  double eps = 1e-6;          ///< finite-difference step
  double atol = 1e-5;         ///< absolute tolerance
  double rtol = 1e-3;         ///< relative tolerance: pass when |analytic − numeric| ≤ atol + rtol·|numeric|
  bool four_point = false;    ///< use the 4-point central difference (error O(eps⁴) instead of O(eps²))
  index_t max_elements = -1;  ///< check at most this many elements per input (−1: all), spread evenly
  index_t full_jacobian_up_to = 32;  ///< outputs with at most this many elements are checked row by row
  int projections = 3;        ///< otherwise: this many random projections of the output
  std::uint64_t seed = 1234;  ///< seed of the projection vectors

  gradcheck_options& with_eps(double v) { eps = v; return *this; }
  gradcheck_options& with_atol(double v) { atol = v; return *this; }
  gradcheck_options& with_rtol(double v) { rtol = v; return *this; }
};

/// The outcome of a check: `passed`, and a log naming the worst element (input, flat index, analytic and
/// numeric values, error) so a failing test says exactly what is wrong.
struct gradcheck_result {
  bool passed = true;
  std::string log;
  double worst_error = 0;  ///< largest |analytic − numeric| / (atol + rtol·|numeric|); pass iff ≤ 1
  explicit operator bool() const { return passed; }
};

/// Checks d(fn)/d(inputs) by finite differences. `fn` maps the inputs to one tensor; each input that
/// requires a gradient is checked. Use double precision: in float the differences are too noisy.
///
///     auto r = kexue::gradcheck<double>([](auto& x) { return kexue::exp(x[0]); }, {x});
///     CHECK_MESSAGE(r.passed, r.log);
template <class T>
gradcheck_result gradcheck(const std::function<tensor<T>(const std::vector<tensor<T>>&)>& fn,
                           const std::vector<tensor<T>>& inputs, const gradcheck_options& options = {}) {
  gradcheck_result result;
  std::ostringstream log;
  log.precision(10);
  generator gen(options.seed);

  const tensor<T> probe = [&] {
    no_grad_guard guard;
    return fn(inputs);
  }();
  const index_t out_n = probe.numel();
  // The scalar functions checked: rows of the Jacobian (one-hot weights) or random projections.
  std::vector<tensor<T>> weights;
  if (out_n <= options.full_jacobian_up_to) {
    for (index_t r = 0; r < out_n; ++r) {
      auto w = zeros<T>(probe.shape());
      w.data()[r] = T(1);
      weights.push_back(w);
    }
  } else {
    for (int p = 0; p < options.projections; ++p) weights.push_back(randn<T>(probe.shape(), gen));
  }

  auto scalar_value = [&](const tensor<T>& w) {
    no_grad_guard guard;
    const tensor<T> y = fn(inputs);
    double acc = 0;
    for (index_t k = 0; k < y.numel(); ++k) acc += static_cast<double>(y.data()[k]) * w.data()[k];
    return acc;
  };

  for (std::size_t wi = 0; wi < weights.size(); ++wi) {
    const tensor<T>& w = weights[wi];
    // Analytic gradients of sum(w · fn(inputs)).
    std::vector<tensor<T>> checked;
    std::vector<std::size_t> checked_index;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].requires_grad()) {
        checked.push_back(inputs[i]);
        checked_index.push_back(i);
      }
    }
    KEXUE_CHECK(!checked.empty(), value_error, "gradcheck", "no input requires a gradient");
    const tensor<T> y = fn(inputs);
    KEXUE_CHECK(y.shape() == probe.shape(), shape_error, "gradcheck", "fn returned shape ", format_shape(y.shape()),
                " with gradients on and ", format_shape(probe.shape()), " without");
    std::vector<tensor<T>> analytic;
    if (y.requires_grad()) {
      analytic = grad<T>({y}, checked, grad_options().allow_unused(true), {w});
    } else {
      analytic.resize(checked.size());
    }
    for (std::size_t c = 0; c < checked.size(); ++c) {
      const tensor<T>& x = checked[c];
      const index_t n = x.numel();
      const index_t step = options.max_elements > 0 && n > options.max_elements
                               ? (n + options.max_elements - 1) / options.max_elements
                               : 1;
      for (index_t k = 0; k < n; k += step) {
        T* p = x.data() + k;
        const T original = *p;
        const double h = options.eps;
        auto at = [&](double delta) {
          *p = static_cast<T>(original + delta);
          const double v = scalar_value(w);
          *p = original;
          return v;
        };
        double numeric;
        if (options.four_point) {
          numeric = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h);
        } else {
          numeric = (at(h) - at(-h)) / (2 * h);
        }
        const double a = analytic[c].defined() ? static_cast<double>(analytic[c].data()[k]) : 0.0;
        const double err = std::abs(a - numeric) / (options.atol + options.rtol * std::abs(numeric));
        if (!(err <= 1.0)) result.passed = false;  // NaN fails too
        if (!(err <= result.worst_error)) {
          result.worst_error = err;
          log.str("");
          log << "worst element: input " << checked_index[c] << " (shape " << format_shape(x.shape())
              << ") flat index " << k << ", output weight " << wi << ": analytic " << a << ", numeric " << numeric
              << ", |difference| " << std::abs(a - numeric) << " (tolerance " << options.atol << " + "
              << options.rtol << "·|numeric|)";
        }
      }
    }
  }
  result.log = (result.passed ? "gradcheck passed; " : "gradcheck FAILED; ") + log.str();
  return result;
}

/// Checks second-order gradients: the gradient of sum(v · grad(sum(w · fn), inputs)), built with
/// create_graph, against finite differences of the first-order gradient (fixed random v and w).
template <class T>
gradcheck_result gradgradcheck(const std::function<tensor<T>(const std::vector<tensor<T>>&)>& fn,
                               const std::vector<tensor<T>>& inputs, const gradcheck_options& options = {}) {
  generator gen(options.seed + 1);
  tensor<T> w;
  {
    no_grad_guard guard;
    w = randn<T>(fn(inputs).shape(), gen);
  }
  std::vector<tensor<T>> v(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].requires_grad()) v[i] = randn<T>(inputs[i].shape(), gen);
  }
  auto first_order = [fn, w, v](const std::vector<tensor<T>>& xs) {
    std::vector<tensor<T>> checked;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      if (xs[i].requires_grad()) {
        checked.push_back(xs[i]);
        index.push_back(i);
      }
    }
    enable_grad_guard on;  // the finite differences run under no_grad; the inner gradient still needs a graph
    const tensor<T> y = fn(xs);
    auto g = grad<T>({y}, checked, grad_options().create_graph(true).allow_unused(true), {w});
    tensor<T> total = scalar<T>(T(0));
    for (std::size_t c = 0; c < checked.size(); ++c) {
      if (g[c].defined()) total = add(total, sum(mul(g[c], v[index[c]])));
    }
    return total;
  };
  return gradcheck<T>(first_order, inputs, options);
}

}  // namespace kexue
