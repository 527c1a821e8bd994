// SPDX-License-Identifier: MIT
// Tests of xminexp in ops/activation.hpp: x·min(1, eˣ) (spec A12), values, overflow safety, gradients to third order.
#include <algorithm>  // std::min
#include <cmath>      // std::exp, std::log, std::isfinite
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace test_activation_xminexp {

using tensors = std::vector<tensor<double>>;

/// The gradient of sum(xminexp(x)) at x.
template <class T>
tensor<T> xminexp_gradient(tensor<T> x) {
  x.requires_grad(true);
  kexue::sum(kexue::xminexp(x)).backward();
  return x.grad();
}

/// Gradient-check points on both sides of 0, none within 0.1 of the kink of f''.
tensor<double> points() { return tensor<double>{{-3.1, -1.2, -0.5, -0.15}, {0.2, 0.7, 1.6, 2.4}}; }

}  // namespace test_activation_xminexp

TEST_SUITE("ops.activation") {
  TEST_CASE_TEMPLATE("xminexp is x for x >= 0 and x*e^x below, with derivative (1 + x)e^x", T, float, double) {
    using namespace test_activation_xminexp;
    const double l2 = std::log(2.0);
    const tensor<T> x = {-2, -1, T(-l2), 0, 0.5, 3};
    // −2e⁻², −e⁻¹, −ln2·e^−ln2 = −ln2/2, 0, 0.5, 3
    check_values(kexue::xminexp(x), {6}, {-2 * std::exp(-2.0), -std::exp(-1.0), -l2 / 2, 0, 0.5, 3});
    // (1 + x)eˣ: −e⁻², 0 (the minimum of x·eˣ is at −1), (1 − ln2)/2; 1 at 0 (both sides agree); 1 above
    check_values(xminexp_gradient(x.copy()), {6}, {-std::exp(-2.0), 0, (1 - l2) / 2, 1, 1, 1});
  }

  TEST_CASE_TEMPLATE("xminexp equals the naive x*min(1, e^x) where e^x does not overflow", T, float, double) {
    const auto x = kexue::linspace<T>(-30, 30, 121);
    const auto y = kexue::xminexp(x);
    for (index_t i = 0; i < x.numel(); ++i) {
      const double v = x.data()[i];
      CHECK(y.data()[i] == doctest::Approx(v * std::min(1.0, std::exp(v))).epsilon(1e-6).scale(1e-30));
    }
  }

  TEST_CASE_TEMPLATE("xminexp and its gradient stay finite at large |x|", T, float, double) {
    using namespace test_activation_xminexp;
    // e^1e4 overflows in both types; the naive form would give 1e4·min(1, inf) = 1e4 but a NaN gradient.
    const tensor<T> x = {-1e30, -1e4, -100, 100, 1e4, 1e30};
    const auto y = kexue::xminexp(x);
    const auto g = xminexp_gradient(x.copy());
    for (index_t i = 0; i < x.numel(); ++i) {
      CHECK(std::isfinite(y.data()[i]));
      CHECK(std::isfinite(g.data()[i]));
    }
    // −100·e⁻¹⁰⁰ = −3.7e-42 (subnormal or 0 in float: inside the absolute tolerance)
    check_values(y, {6}, {0, 0, -100 * std::exp(-100.0), 100, 1e4, 1e30});
    check_values(g, {6}, {0, 0, -99 * std::exp(-100.0), 1, 1, 1});
  }

  TEST_CASE("xminexp passes the first-, second- and third-order gradient checks") {
    using namespace test_activation_xminexp;
    check_gradients([](const tensors& v) { return kexue::xminexp(v[0]); }, {points().requires_grad(true)});
    // xminexp(x)·x involves f' and f'' = (2 + x)eˣ in its second derivative.
    check_second_order([](const tensors& v) { return kexue::mul(kexue::xminexp(v[0]), v[0]); },
                       {points().requires_grad(true)});
    // f'' from the recorded xminexp_derivative op, checked against finite differences of f' (f''' = (3 + x)eˣ).
    const auto second = [](const tensors& v) {
      kexue::enable_grad_guard on;  // gradcheck evaluates fn under no_grad; the inner gradients need a graph
      const auto options = kexue::grad_options().create_graph(true);
      auto g1 = kexue::grad<double>({kexue::sum(kexue::xminexp(v[0]))}, {v[0]}, options);
      return kexue::grad<double>({kexue::sum(g1[0])}, {v[0]}, options)[0];
    };
    check_gradients(second, {points().requires_grad(true)});
  }

  TEST_CASE("xminexp's second derivative is (2 + x)e^x below 0 and 0 above") {
    tensor<double> x = {-2, -0.5, 0.5, 3};
    x.requires_grad(true);
    const auto options = kexue::grad_options().create_graph(true);
    auto g1 = kexue::grad<double>({kexue::sum(kexue::xminexp(x))}, {x}, options);
    auto g2 = kexue::grad<double>({kexue::sum(g1[0])}, {x}, options);
    // (2 − 2)e⁻² = 0, 1.5·e^−0.5, 0, 0
    check_values(g2[0], {4}, {0, 1.5 * std::exp(-0.5), 0, 0});
  }
}
