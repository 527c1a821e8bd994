// SPDX-License-Identifier: MIT
#include <cmath>  // std::sqrt

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/dropout.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;

TEST_SUITE("ops.dropout") {
  TEST_CASE_TEMPLATE("dropout keeps about 1 - p of the elements", T, float, double) {
    // n = 200000 Bernoulli(1 − p) draws with p = 0.3: the kept fraction has standard deviation
    // sqrt(p(1 − p)/n) = sqrt(0.21/200000) ≈ 0.00102. The bound 0.007 is about 6.8 standard deviations,
    // so a correct generator fails it with probability below 1e-11 for any KEXUE_TEST_SEED.
    kx::generator gen(kexue_test_seed());
    const kx::index_t n = 200000;
    const double p = 0.3;
    auto out = kx::dropout(kx::ones<T>({n}), p, true, gen);
    kx::index_t kept = 0;
    for (T v : out) kept += v != T(0);
    const double fraction = static_cast<double>(kept) / n;
    CAPTURE(fraction);
    CHECK(std::abs(fraction - (1 - p)) < 0.007);
  }

  TEST_CASE_TEMPLATE("dropout scales the kept values by 1/(1 - p) and zeroes the rest", T, float, double) {
    // p = 0.75: kept values are x · 4 exactly (4 is a power of two).
    kx::generator gen(kexue_test_seed() + 1);
    auto x = kx::randn<T>({50, 8}, gen);
    auto out = kx::dropout(x, 0.75, true, gen);
    REQUIRE(out.shape() == x.shape());
    kx::index_t zeros = 0;
    for (kx::index_t i = 0; i < x.numel(); ++i) {
      const T v = out.data()[i];
      if (v == T(0)) {
        ++zeros;
      } else {
        CHECK(v == x.data()[i] * T(4));
      }
    }
    CHECK(zeros > 0);
    CHECK(zeros < x.numel());
  }

  TEST_CASE("dropout is deterministic for a given seed") {
    auto x = kx::ones<double>({4, 16});
    kx::generator a(kexue_test_seed()), b(kexue_test_seed()), c(kexue_test_seed() + 1);
    auto first = kx::dropout(x, 0.5, true, a);
    auto second = kx::dropout(x, 0.5, true, b);
    auto other = kx::dropout(x, 0.5, true, c);
    CHECK(first.to_vector() == second.to_vector());
    CHECK(first.to_vector() != other.to_vector());  // 2^-64 chance of a false failure
    // The mask consumes one uniform per element, in row-major order.
    kx::generator d(kexue_test_seed());
    auto mask = kx::dropout_mask<double>({4, 16}, 0.5, d);
    CHECK(mask.to_vector() == first.to_vector());
  }

  TEST_CASE("noise_shape broadcasts one draw over the axes of size 1 (A01)") {
    kx::generator gen(kexue_test_seed() + 2);
    const kx::index_t batch = 3, steps = 20, features = 16;
    auto x = kx::ones<float>({batch, steps, features});
    SUBCASE("[B, T, 1] drops whole time steps: one value for all features") {
      auto out = kx::dropout(x, 0.5, true, gen, {batch, steps, 1});
      int dropped_steps = 0;
      for (kx::index_t b = 0; b < batch; ++b) {
        for (kx::index_t t = 0; t < steps; ++t) {
          for (kx::index_t d = 1; d < features; ++d) CHECK(out(b, t, d) == out(b, t, 0));
          dropped_steps += out(b, t, 0) == 0.0f;
          CHECK((out(b, t, 0) == 0.0f || out(b, t, 0) == 2.0f));
        }
      }
      CHECK(dropped_steps > 0);
    }
    SUBCASE("[B, 1, D] drops a feature at every time step") {
      auto out = kx::dropout(x, 0.5, true, gen, {batch, 1, features});
      for (kx::index_t b = 0; b < batch; ++b) {
        for (kx::index_t d = 0; d < features; ++d) {
          for (kx::index_t t = 1; t < steps; ++t) CHECK(out(b, t, d) == out(b, 0, d));
        }
      }
    }
    SUBCASE("a lower-rank noise_shape aligns to the last axes, as NumPy broadcasting") {
      auto out = kx::dropout(x, 0.5, true, gen, {features});
      for (kx::index_t b = 0; b < batch; ++b) {
        for (kx::index_t t = 0; t < steps; ++t) {
          for (kx::index_t d = 0; d < features; ++d) CHECK(out(b, t, d) == out(0, 0, d));
        }
      }
    }
  }

  TEST_CASE("dropout returns x itself when not training or when p is 0") {
    kx::generator gen(kexue_test_seed());
    auto x = kx::tensor<double>{1, 2, 3}.requires_grad(true);
    auto eval = kx::dropout(x, 0.5, false, gen);
    CHECK(eval.impl() == x.impl());
    auto none = kx::dropout(x, 0.0, true, gen);
    CHECK(none.impl() == x.impl());
    // Neither drew from the stream.
    kx::generator fresh(kexue_test_seed());
    CHECK(gen.next_u64() == fresh.next_u64());
  }

  TEST_CASE("dropout with p = 1 gives zeros and a zero gradient (as PyTorch)") {
    kx::generator gen(kexue_test_seed());
    auto x = kx::tensor<double>{1, -2, 3}.requires_grad(true);
    auto out = kx::dropout(x, 1.0, true, gen);
    kx::testing::check_values(out, {3}, {0, 0, 0});
    auto g = kx::grad({kx::sum(out)}, {x});
    kx::testing::check_values(g[0], {3}, {0, 0, 0});
  }

  TEST_CASE("the gradient of dropout is g times the scaled mask") {
    // With p = 0.5 the mask holds 0 or 2; L = sum(w · dropout(x)) gives dL/dx = w · mask, and the mask is
    // recovered from the forward as out / x (x has no zeros).
    kx::generator gen(kexue_test_seed() + 3);
    auto x = kx::rand<double>({6, 7}, gen, 1.0, 2.0).requires_grad(true);
    auto w = kx::randn<double>({6, 7}, gen);
    auto out = kx::dropout(x, 0.5, true, gen, {6, 1});
    CHECK(std::string(out.grad_fn()->name) == "dropout");
    auto g = kx::grad({kx::sum(w * out)}, {x});
    for (kx::index_t i = 0; i < x.numel(); ++i) {
      const double mask = out.data()[i] / x.data()[i];
      CHECK((mask == 0.0 || mask == doctest::Approx(2.0)));
      CHECK(g[0].data()[i] == doctest::Approx(w.data()[i] * mask));
    }
  }

  TEST_CASE("dropout passes gradient checks of first and second order") {
    // A fresh generator inside fn makes every evaluation draw the same mask.
    auto fn = [](const std::vector<kx::tensor<double>>& v) {
      kx::generator gen(kexue_test_seed() + 4);
      return kx::sin(kx::dropout(v[0], 0.4, true, gen, {3, 1})) * v[0];
    };
    kx::generator gen(kexue_test_seed() + 5);
    auto x = kx::randn<double>({3, 4}, gen).requires_grad(true);
    kx::testing::check_gradients(fn, {x});
    kx::testing::check_second_order(fn, {x});
  }

  TEST_CASE("dropout rejects a bad p and a noise_shape that does not broadcast") {
    kx::generator gen(kexue_test_seed());
    auto x = kx::ones<float>({2, 3, 4});
    CHECK_THROWS_WITH_AS(kx::dropout(x, 1.5, true, gen), "dropout: p must lie in [0, 1] (got 1.5)", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::dropout(x, -0.1, false, gen), "dropout: p must lie in [0, 1] (got -0.1)", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::dropout(x, std::nan(""), true, gen), "dropout: p must lie in [0, 1] (got nan)",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(kx::dropout(x, 0.5, true, gen, {2, 3, 2}),
                         "dropout: noise_shape [2, 3, 2] does not broadcast to the input shape [2, 3, 4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::dropout(x, 0.5, false, gen, {1, 2, 3, 4}),
                         "dropout: noise_shape [1, 2, 3, 4] does not broadcast to the input shape [2, 3, 4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::dropout_mask<float>({2}, 2.0, gen), "dropout_mask: p must lie in [0, 1] (got 2)",
                         kx::value_error);
  }
}
