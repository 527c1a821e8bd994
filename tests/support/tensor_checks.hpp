// SPDX-License-Identifier: MIT
// Test helpers shared by the op, layer and loss tests: value comparison and gradient checks.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/gradcheck.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::testing {

/// Relative tolerance per element type, defined once: float keeps ~6 significant digits through a few
/// ops, double ~12.
template <class T>
constexpr double value_tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;

/// Checks shape equality and every element within atol + rtol·|expected| (NaN matches NaN).
template <class T>
void check_close(const tensor<T>& actual, const tensor<T>& expected, double rtol = value_tol<T>,
                 double atol = value_tol<T>) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), "shape ", format_shape(actual.shape()), " vs expected ",
                  format_shape(expected.shape()));
  for (index_t i = 0; i < actual.numel(); ++i) {
    const double a = static_cast<double>(actual.data()[i]);
    const double e = static_cast<double>(expected.data()[i]);
    if (std::isnan(e)) {
      CHECK_MESSAGE(std::isnan(a), "element ", i, ": got ", a, ", expected NaN");
      continue;
    }
    if (std::isinf(e)) {
      CHECK_MESSAGE(a == e, "element ", i, ": got ", a, ", expected ", e);
      continue;
    }
    CHECK_MESSAGE(std::abs(a - e) <= atol + rtol * std::abs(e), "element ", i, " of shape ",
                  format_shape(actual.shape()), ": got ", a, ", expected ", e);
  }
}

/// Checks values against a flat list (row-major), with the given shape.
template <class T>
void check_values(const tensor<T>& actual, const shape& s, const std::vector<double>& expected,
                  double rtol = value_tol<T>, double atol = value_tol<T>) {
  auto e = tensor<T>::empty(s);
  REQUIRE(static_cast<index_t>(expected.size()) == s.numel());
  for (index_t i = 0; i < s.numel(); ++i) e.data()[i] = static_cast<T>(expected[i]);
  check_close(actual, e, rtol, atol);
}

/// A list of double tensors: gradcheck inputs, reference-case inputs and outputs.
using tensors = std::vector<tensor<double>>;
using double_fn = std::function<tensor<double>(const tensors&)>;

/// First-order gradient check in double; fails the test with the checker's log.
inline void check_gradients(const double_fn& fn, const std::vector<tensor<double>>& inputs,
                            const gradcheck_options& options = {}) {
  const auto r = gradcheck<double>(fn, inputs, options);
  CHECK_MESSAGE(r.passed, r.log);
}

/// Second-order gradient check in double.
inline void check_second_order(const double_fn& fn, const std::vector<tensor<double>>& inputs,
                               const gradcheck_options& options = {}) {
  const auto r = gradgradcheck<double>(fn, inputs, options);
  CHECK_MESSAGE(r.passed, r.log);
}

}  // namespace kexue::testing
