// SPDX-License-Identifier: MIT
#include <cmath>  // std::isnan, std::sqrt

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/normalize.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

TEST_SUITE("ops.normalize") {
  TEST_CASE_TEMPLATE("l2_normalize scales each vector to unit length", T, float, double) {
    // Rows: (3, 4)/5 = (0.6, 0.8); (0, 0) stays (0, 0) (norm clamped at eps); (1e-13, 0) has norm below
    // eps = 1e-12, so it is divided by eps: (0.1, 0) (torch.nn.functional.normalize gives the same).
    auto x = kx::tensor<T>{{3, 4}, {0, 0}, {T(1e-13), 0}};
    check_values(kx::l2_normalize(x), {3, 2}, {0.6, 0.8, 0, 0, 0.1, 0});
    // Along axis 0: columns (3, 0, 1e-13) and (4, 0, 0) have norms 3 (to 1e-27 relative) and 4.
    check_values(kx::l2_normalize(x, 0), {3, 2}, {1, 1, 0, 0, 1e-13 / 3, 0});
  }

  TEST_CASE("l2_normalize uses eps as given and propagates NaN over the vector") {
    // Norm of (0.3, 0.4) is 0.5 < eps = 2: divided by 2.
    check_values(kx::l2_normalize(kx::tensor<double>{0.3, 0.4}, -1, 2.0), {2}, {0.15, 0.2});
    auto out = kx::l2_normalize(kx::tensor<float>{{1, NAN, 2}, {0, 3, 4}});
    for (int j = 0; j < 3; ++j) CHECK(std::isnan(out(0, j)));
    CHECK(out(1, 1) == doctest::Approx(0.6));
    CHECK(out(1, 2) == doctest::Approx(0.8));
  }

  TEST_CASE("l2_normalize passes gradient checks of first and second order") {
    kx::generator gen(kexue_test_seed());
    auto x = kx::randn<double>({3, 4}, gen).requires_grad(true);
    for (int axis : {-1, 0}) {
      CAPTURE(axis);
      auto fn = [axis](const std::vector<kx::tensor<double>>& v) { return kx::l2_normalize(v[0], axis); };
      kx::testing::check_gradients(fn, {x});
      kx::testing::check_second_order(fn, {x});
    }
  }

  TEST_CASE("l2_normalize gives a zero vector the finite gradient g / eps") {
    // Below eps the norm is the constant eps, so d(x/eps)/dx = 1/eps (PyTorch 1.13 agrees; a plain
    // sqrt would give 0/0 = NaN here).
    auto x = kx::tensor<double>{{0, 0}, {1e-13, 0}}.requires_grad(true);
    auto w = kx::tensor<double>{{1, 2}, {3, 4}};
    auto g = kx::grad({kx::sum(kx::l2_normalize(x) * w)}, {x});
    check_values(g[0], {2, 2}, {1e12, 2e12, 3e12, 4e12});
  }

  TEST_CASE_TEMPLATE("cosine_similarity of broadcast vectors", T, float, double) {
    // a [2, 1, 3], b [4, 3] → [2, 4]. (1,2,2)·(2,1,2) = 8 over norms 3·3: 8/9; (1,2,2)·(1,0,0)/3 = 1/3;
    // with a zero vector 0 (its norm is clamped at eps); (1,2,2)·(−1,−2,−2)/9 = −1. Second row (0,3,−4)
    // (norm 5): (0+3−8)/15 = −1/3; 0; 0; (0−6+8)/15 = 2/15. Values agree with PyTorch 1.13.
    auto a = kx::tensor<T>{{{1, 2, 2}}, {{0, 3, -4}}};
    auto b = kx::tensor<T>{{2, 1, 2}, {1, 0, 0}, {0, 0, 0}, {-1, -2, -2}};
    check_values(kx::cosine_similarity(a, b), {2, 4}, {8.0 / 9, 1.0 / 3, 0, -1, -1.0 / 3, 0, 0, 2.0 / 15});
  }

  TEST_CASE("cosine_similarity expands an input broadcast along the axis before its norm") {
    // a [2, 1] is repeated to (1, 1, 1) and (−2, −2, −2) along axis 1, as PyTorch does:
    // 5/(√3·3) and −14/(2√3·5).
    auto a = kx::from_vector<double>({1, -2}, {2, 1});
    auto b = kx::tensor<double>{{1, 2, 2}, {0, 3, 4}};
    check_values(kx::cosine_similarity(a, b, 1), {2}, {5 / (std::sqrt(3.0) * 3), -14 / (2 * std::sqrt(3.0) * 5)});
    // A 1-D input beside a 2-D one, along axis 0 (which only b has): a is expanded to [3, 2].
    auto col = kx::cosine_similarity(kx::tensor<double>{1, 1}, kx::tensor<double>{{1, 0}, {1, 0}, {1, 0}}, 0);
    check_values(col, {2}, {1, 0});
    // 1-D inputs give a rank-0 result.
    auto single = kx::cosine_similarity(kx::tensor<double>{1, 0}, kx::tensor<double>{1, 1});
    check_values(single, {}, {1 / std::sqrt(2.0)});
  }

  TEST_CASE("cosine_similarity normalises each vector first, as PyTorch 1.13") {
    // a = b = (1e-5, 0) with eps = 1e-3: each is divided by eps, giving (0.01, 0)·(0.01, 0) = 1e-4 (PyTorch
    // 1.13 prints 1.0000e-04; the older w12/√max(w1·w2, eps²) gave 1e-7).
    auto a = kx::tensor<double>{1e-5, 0};
    check_values(kx::cosine_similarity(a, a, -1, 1e-3), {}, {1e-4});
  }

  TEST_CASE("cosine_similarity passes gradient checks of first and second order") {
    kx::generator gen(kexue_test_seed() + 1);
    auto a = kx::randn<double>({3, 1, 4}, gen).requires_grad(true);
    auto b = kx::randn<double>({2, 4}, gen).requires_grad(true);
    auto fn = [](const std::vector<kx::tensor<double>>& v) { return kx::cosine_similarity(v[0], v[1]); };
    kx::testing::check_gradients(fn, {a, b});
    kx::testing::check_second_order(fn, {a, b});
    auto c = kx::randn<double>({2, 1}, gen).requires_grad(true);
    auto d = kx::randn<double>({2, 3}, gen).requires_grad(true);
    auto along = [](const std::vector<kx::tensor<double>>& v) { return kx::cosine_similarity(v[0], v[1], 1); };
    kx::testing::check_gradients(along, {c, d});
  }

  TEST_CASE("normalize ops name themselves in errors") {
    auto x = kx::zeros<float>({2, 3});
    CHECK_THROWS_WITH_AS(kx::l2_normalize(x, 2), "l2_normalize: axis 2 out of range for a tensor of rank 2",
                         kx::index_error);
    CHECK_THROWS_WITH_AS(kx::cosine_similarity(x, kx::zeros<float>({4})),
                         "cosine_similarity: shapes cannot be broadcast (lhs [2, 3], rhs [4])", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::cosine_similarity(x, x, -3),
                         "cosine_similarity: axis -3 out of range for a tensor of rank 2", kx::index_error);
  }
}
