// SPDX-License-Identifier: MIT
// optim::sphere (A21, JoSE): the hand-computed rule, tangency, unit norms, untouched rows, only, state.
#include <algorithm>  // std::copy
#include <cmath>      // std::sqrt
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/core/random.hpp>
#include <kexue/optim/adam.hpp>
#include <kexue/optim/lazy.hpp>
#include <kexue/optim/sgd.hpp>
#include <kexue/optim/sphere.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::testing::check_values;

namespace test_sphere {

double row_dot(const tensor<double>& a, index_t ra, const tensor<double>& b, index_t rb) {
  double s = 0;
  for (index_t k = 0; k < a.size(1); ++k) s += a(ra, k) * b(rb, k);
  return s;
}

/// rows × d random rows of unit norm.
tensor<double> unit_rows(index_t rows, index_t d, kx::generator& gen) {
  auto x = kx::randn<double>({rows, d}, gen);
  for (index_t r = 0; r < rows; ++r) {
    const double n = std::sqrt(row_dot(x, r, x, r));
    for (index_t k = 0; k < d; ++k) x(r, k) /= n;
  }
  return x.requires_grad(true);
}

}  // namespace test_sphere

TEST_SUITE("optim.sphere") {
  TEST_CASE("with SGD one step is JoSE's corrected rule, computed by hand") {
    // x = (0.6, 0.8), g = (1, 1): xᵀg = 1.4, ‖g‖ = √2, (I − xxᵀ)g = (1 − 0.84, 1 − 1.12) = (0.16, −0.12),
    // c = 1 + 1.4/√2. lr 0.5: u = x − 0.5·c·(0.16, −0.12), then u/‖u‖.
    const double c = 1 + 1.4 / std::sqrt(2.0);
    for (const bool corrected : {true, false}) {
      CAPTURE(corrected);
      const double f = corrected ? c : 1.0;
      auto x = tensor<double>{{0.6, 0.8}}.requires_grad(true);
      auto opt = kx::optim::sphere(kx::optim::sgd<double>({x}, kx::optim::sgd_options().lr(0.5)), {},
                                   kx::optim::sphere_options().correction(corrected));
      x.set_grad(tensor<double>{{1, 1}});
      CHECK(opt.step());
      const double u0 = 0.6 - 0.5 * f * 0.16, u1 = 0.8 + 0.5 * f * 0.12, n = std::sqrt(u0 * u0 + u1 * u1);
      check_values(x.detach(), {1, 2}, {u0 / n, u1 / n}, 1e-14, 1e-14);
      check_values(x.grad(), {1, 2}, {1, 1}, 0, 0);  // the raw gradient is given back
      CHECK(opt.name() == "sphere");
    }
  }

  TEST_CASE("the step is tangent, rows stay unit, and the factor follows the gradient's direction") {
    kx::generator gen(7063);
    const index_t rows = 6, d = 5;
    auto x = test_sphere::unit_rows(rows, d, gen);
    const auto x0 = x.detach().copy();
    const auto g = kx::randn<double>({rows, d}, gen);
    // Row 4: g = −3x + a small tangent part (−g almost along x: c ≈ 0); row 5: g = 3x + tangent (c ≈ 2).
    for (index_t k = 0; k < d; ++k) {
      g(4, k) = -3 * x0(4, k) + 0.01 * g(4, k);
      g(5, k) = 3 * x0(5, k) + 0.01 * g(5, k);
    }
    const double lr = 0.3;
    auto opt = kx::optim::sphere(kx::optim::sgd<double>({x}, kx::optim::sgd_options().lr(lr)));
    x.set_grad(g);
    opt.step();
    for (index_t r = 0; r < rows; ++r) {
      CAPTURE(r);
      const double xg = test_sphere::row_dot(x0, r, g, r), gg = std::sqrt(test_sphere::row_dot(g, r, g, r));
      const double c = 1 + xg / gg;
      // p = (I − xxᵀ)g ⟂ x, so u = x − lr·c·p has ‖u‖² = 1 + lr²c²‖p‖² and x_new = u/‖u‖.
      std::vector<double> p(d);
      double pp = 0;
      for (index_t k = 0; k < d; ++k) pp += (p[k] = g(r, k) - xg * x0(r, k)) * p[k];
      const double norm_u = std::sqrt(1 + lr * lr * c * c * pp);
      for (index_t k = 0; k < d; ++k)
        CHECK(x(r, k) == doctest::Approx((x0(r, k) - lr * c * p[k]) / norm_u).epsilon(1e-12));
      CHECK(test_sphere::row_dot(x.detach(), r, x.detach(), r) == doctest::Approx(1).epsilon(1e-14));
      // tangency: x_newᵀx_old = 1/‖u‖ exactly when the step u − x is orthogonal to x
      CHECK(test_sphere::row_dot(x.detach(), r, x0, r) == doctest::Approx(1 / norm_u).epsilon(1e-12));
      if (r == 4) CHECK(c < 0.01);
      if (r == 5) CHECK(c > 1.99);
    }
  }

  TEST_CASE("rows with a zero gradient are not moved or renormalised; only restricts the constraint") {
    auto table = tensor<double>{{3, 4}, {0.6, 0.8}, {1, 0}}.requires_grad(true);
    auto free = tensor<double>{2, 0}.requires_grad(true);
    auto opt = kx::optim::sphere(kx::optim::sgd<double>({table, free}, kx::optim::sgd_options().lr(0.1)), {table});
    table.set_grad(tensor<double>{{0, 0}, {0, 0}, {0, 1}});
    free.set_grad(tensor<double>{1, 1});
    opt.step();
    // row 0 (norm 5) and row 1 untouched; row 2: x = (1, 0), g = (0, 1) tangent, c = 1: u = (1, −0.1)
    const double n = std::sqrt(1.01);
    check_values(table.detach(), {3, 2}, {3, 4, 0.6, 0.8, 1 / n, -0.1 / n}, 1e-14, 1e-14);
    check_values(free.detach(), {2}, {1.9, -0.1}, 1e-14, 1e-14);  // plain SGD, not projected
    CHECK_THROWS_WITH_AS(kx::optim::sphere(kx::optim::sgd<double>({table}), {free}),
                         "sphere: a tensor of shape [2] is not among the optimizer's parameters", kx::value_error);
  }

  TEST_CASE("around lazy Adam, touched rows stay on the sphere over many steps and the state round-trips") {
    kx::generator gen(11);
    auto x = test_sphere::unit_rows(8, 4, gen);
    auto make = [&x] {
      return kx::optim::sphere(kx::optim::lazy(kx::optim::adam<double>({x}, kx::optim::adam_options().lr(0.05))));
    };
    auto opt = make();
    for (int t = 0; t < 20; ++t) {
      auto g = kx::randn<double>({8, 4}, gen);
      for (index_t k = 0; k < 4; ++k) g(t % 8, k) = 0;  // one row untouched per step
      x.set_grad(g);
      opt.step();
      for (index_t r = 0; r < 8; ++r)
        REQUIRE(test_sphere::row_dot(x.detach(), r, x.detach(), r) == doctest::Approx(1).epsilon(1e-12));
    }
    const auto saved = opt.save_state();
    CHECK(saved.contains("inner.inner.param.0.step"));  // sphere and lazy add no entries of their own
    auto other = make();
    other.load_state(saved);
    const auto x_before = x.detach().copy();
    const auto g = kx::randn<double>({8, 4}, gen);
    x.set_grad(g);
    opt.step();
    const auto after_first = x.detach().copy();
    std::copy(x_before.begin(), x_before.end(), x.data());
    x.bump_version();
    x.set_grad(g);
    other.step();
    kx::testing::check_close(x.detach(), after_first, 0, 0);  // same state, same step
  }
}
