// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/gradcheck.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

TEST_SUITE("autograd.backward") {
  TEST_CASE_TEMPLATE("backward accumulates into leaves across passes", T, float, double) {
    kx::tensor<T> x = {1, 2, 3};
    x.requires_grad(true);
    // y = sum(x²) → dy/dx = 2x
    kx::sum(x * x).backward();
    check_values(x.grad(), {3}, {2, 4, 6});
    kx::sum(x * x).backward();  // accumulates: 4x
    check_values(x.grad(), {3}, {4, 8, 12});
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
  }

  TEST_CASE("a tensor used twice gets both gradient contributions") {
    kx::tensor<double> x = {3};
    x.requires_grad(true);
    auto y = x * x + x * 2.0;  // dy/dx = 2x + 2 = 8
    kx::sum(y).backward();
    check_values(x.grad(), {1}, {8});
  }

  TEST_CASE("gradients of broadcast operands are summed over the broadcast axes") {
    auto a = kx::ones<double>({2, 3}).requires_grad(true);
    kx::tensor<double> b = {1, 2, 3};
    b.requires_grad(true);
    kx::sum(a * b).backward();
    check_values(a.grad(), {2, 3}, {1, 2, 3, 1, 2, 3});
    check_values(b.grad(), {3}, {2, 2, 2});
  }

  TEST_CASE("backward with an explicit output gradient") {
    kx::tensor<double> x = {1, 2};
    x.requires_grad(true);
    auto y = x * 3.0;
    y.backward(kx::tensor<double>{10, 100});
    check_values(x.grad(), {2}, {30, 300});
  }

  TEST_CASE("backward refuses non-scalar outputs without a gradient and mismatched gradients") {
    auto x = kx::ones<double>({2}).requires_grad(true);
    auto y = x * 2.0;
    CHECK_THROWS_WITH_AS(y.backward(),
                         "backward: a gradient can be created implicitly only for a one-element output (got shape "
                         "[2]); pass the output gradient explicitly",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(y.backward(kx::ones<double>({3})),
                         "backward: gradient shape [3] differs from output shape [2]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::ones<double>({1}).backward(),
                         "backward: output 0 does not require a gradient and has no grad_fn (shape [1])",
                         kx::value_error);
  }

  TEST_CASE("a freed graph gives a clear error, retain_graph allows a second pass") {
    auto x = kx::ones<double>({2}).requires_grad(true);
    auto y = kx::sum(kx::exp(x));
    y.backward(kx::tensor<double>(), /*retain_graph=*/true);
    y.backward();
    check_values(x.grad(), {2}, {2 * std::exp(1.0), 2 * std::exp(1.0)});
    CHECK_THROWS_WITH_AS(y.backward(),
                         "backward: the graph through 'reshape' was freed by an earlier backward pass; pass "
                         "retain_graph = true to the first backward to go through the graph twice",
                         kx::value_error);
  }

  TEST_CASE("changing a saved input in place before backward is an error") {
    auto w = kx::ones<double>({2}).requires_grad(true);
    kx::tensor<double> x = {1, 2};
    auto y = kx::sum(w * x);
    x(0) = 5;
    x.bump_version();  // what in-place ops do
    CHECK_THROWS_WITH_AS(y.backward(),
                         "backward: an input of 'mul' was modified in place after it was used (its version is 1, "
                         "it was 0 when recorded)",
                         kx::value_error);
  }

  TEST_CASE("no_grad_guard stops recording and restores the mode") {
    auto x = kx::ones<double>({2}).requires_grad(true);
    {
      kx::no_grad_guard guard;
      auto y = x * 2.0;
      CHECK_FALSE(y.requires_grad());
      CHECK(y.grad_fn() == nullptr);
      {
        kx::enable_grad_guard on;
        CHECK((x * 2.0).requires_grad());
      }
      CHECK_FALSE(kx::is_grad_enabled());
    }
    CHECK(kx::is_grad_enabled());
  }

  TEST_CASE("detach cuts the graph and shares the data") {
    auto x = kx::ones<double>({2}).requires_grad(true);
    auto y = x * 2.0;
    auto d = y.detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.shares_storage_with(y));
    kx::sum(d * x).backward();
    check_values(x.grad(), {2}, {2, 2});  // d is a constant 2
  }

  TEST_CASE("retain_grad keeps the gradient of a non-leaf") {
    auto x = kx::ones<double>({2}).requires_grad(true);
    auto h = x * 3.0;
    h.retain_grad();
    auto z = kx::sum(h * h);  // dz/dh = 2h = 6
    z.backward();
    check_values(h.grad(), {2}, {6, 6});
    check_values(x.grad(), {2}, {18, 18});
    auto h2 = x * 3.0;
    kx::sum(h2).backward();
    CHECK_FALSE(h2.grad().defined());  // not retained
  }

  TEST_CASE("hooks see and may replace gradients") {
    auto x = kx::ones<double>({2}).requires_grad(true);
    int calls = 0;
    x.register_hook([&](const kx::tensor<double>& g) {
      ++calls;
      return g * 10.0;
    });
    auto h = x * 2.0;
    h.register_hook([&](const kx::tensor<double>& g) {
      check_values(g, {2}, {1, 1});
      return kx::tensor<double>();  // keep unchanged
    });
    kx::sum(h).backward();
    CHECK(calls == 1);
    check_values(x.grad(), {2}, {20, 20});
  }

  TEST_CASE("grad returns gradients without touching .grad") {
    kx::tensor<double> x = {2};
    x.requires_grad(true);
    auto y = kx::sum(x * x * x);
    auto g = kx::grad({y}, {x});
    check_values(g[0], {1}, {12});
    CHECK_FALSE(x.grad().defined());
  }

  TEST_CASE("grad with respect to an intermediate tensor") {
    kx::tensor<double> x = {1, 2};
    x.requires_grad(true);
    auto h = x * 2.0;
    auto y = kx::sum(h * h);
    auto g = kx::grad({y}, {h});
    check_values(g[0], {2}, {4, 8});  // 2h
  }

  TEST_CASE("grad reports unused inputs unless allowed") {
    auto x = kx::ones<double>({2}).requires_grad(true);
    auto u = kx::ones<double>({3}).requires_grad(true);
    auto y = kx::sum(x * 2.0);
    CHECK_THROWS_WITH_AS(kx::grad({y}, {x, u}, kx::grad_options().retain_graph(true)),
                         "grad: input 1 (shape [3]) was not used to compute the outputs; pass "
                         "grad_options().allow_unused(true) to get an undefined gradient instead",
                         kx::value_error);
    auto g = kx::grad({y}, {x, u}, kx::grad_options().allow_unused(true));
    CHECK(g[0].defined());
    CHECK_FALSE(g[1].defined());
  }

  TEST_CASE("higher-order gradients: third derivative of x⁴") {
    kx::tensor<double> x = {1.5};
    x.requires_grad(true);
    auto y = kx::sum(kx::pow(x, 4.0));
    auto g1 = kx::grad({y}, {x}, kx::grad_options().create_graph(true));      // 4x³ = 13.5
    auto g2 = kx::grad({kx::sum(g1[0])}, {x}, kx::grad_options().create_graph(true));  // 12x² = 27
    auto g3 = kx::grad({kx::sum(g2[0])}, {x});                                  // 24x = 36
    check_values(g1[0], {1}, {13.5});
    check_values(g2[0], {1}, {27});
    check_values(g3[0], {1}, {36});
  }

  TEST_CASE("WGAN-GP: the gradient penalty differentiates through the critic's weights") {
    // Critic D(x) = sum(sin(x·W1) · w2); penalty = (‖∇ₓD(x̂)‖ − 1)², x̂ a fixed interpolate.
    // The penalty's gradient with respect to W1 and w2 needs double backprop; it is compared with finite
    // differences of the penalty (which only needs first-order gradients).
    kx::generator gen(3);
    auto x_hat = kx::randn<double>({4, 3}, gen);
    auto w1 = kx::randn<double>({3, 5}, gen).requires_grad(true);
    auto w2 = kx::randn<double>({5}, gen).requires_grad(true);
    auto penalty = [x_hat](const std::vector<kx::tensor<double>>& p) {
      auto xi = x_hat.detach().copy().requires_grad(true);
      kx::enable_grad_guard on;
      auto critic = kx::sum(kx::sin(kx::matmul(xi, p[0])) * p[1]);
      auto gx = kx::grad({critic}, {xi}, kx::grad_options().create_graph(true))[0];
      auto norms = kx::sqrt(kx::sum(gx * gx, {1}));  // per-sample gradient norm [4]
      return kx::mean(kx::square(norms - 1.0));
    };
    const auto r = kx::gradcheck<double>(penalty, {w1, w2});
    CHECK_MESSAGE(r.passed, r.log);
    // And the penalty actually depends on the weights through the second-order path.
    auto p = penalty({w1, w2});
    p.backward();
    CHECK(w1.grad().defined());
    double norm = 0;
    for (double v : w1.grad()) norm += v * v;
    CHECK(norm > 1e-6);
  }
}
