// SPDX-License-Identifier: MIT
#include <cmath>  // std::tanh

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/recurrent.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/slice.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;

namespace {

/// Random GRU arguments {x, h0, w_ih, w_hh, b_ih, b_hh} for B, T, I, H, all requiring gradients.
template <class T>
std::vector<kx::tensor<T>> gru_arguments(kx::index_t B, kx::index_t TT, kx::index_t I, kx::index_t H,
                                         std::uint64_t seed) {
  kx::generator gen(seed);
  std::vector<kx::tensor<T>> v{kx::randn<T>({B, TT, I}, gen),          kx::randn<T>({B, H}, gen),
                               kx::randn<T>({3 * H, I}, gen) * T(0.5), kx::randn<T>({3 * H, H}, gen) * T(0.5),
                               kx::randn<T>({3 * H}, gen) * T(0.5),    kx::randn<T>({3 * H}, gen) * T(0.5)};
  for (auto& t : v) t.requires_grad(true);
  return v;
}

}  // namespace

TEST_SUITE("ops.recurrent") {
  TEST_CASE_TEMPLATE("gru_sequence follows the GRU equations on a hand-computed case", T, float, double) {
    // H = I = 1, B = 1, T = 2, x = 0.5 at both steps, h0 = 0; only W_in = 1, everything else 0.
    // Step 1: r = z = σ(0) = 0.5, n = tanh(0.5 + 0.5·0) = 0.46211715726, h1 = 0.5·n + 0.5·0 = 0.23105857863.
    // Step 2: n = tanh(0.5) again, h2 = 0.5·0.46211715726 + 0.5·0.23105857863 = 0.34658786795.
    auto x = kx::full<T>({1, 2, 1}, T(0.5));
    auto w_ih = kx::tensor<T>{{0}, {0}, {1}};
    auto w_hh = kx::zeros<T>({3, 1});
    auto out = kx::gru_sequence(x, kx::zeros<T>({1, 1}), w_ih, w_hh);
    kx::testing::check_values(out, {1, 2, 1}, {0.23105857863000487, 0.34658786794500731});
    // Reversed, the same steps run from t = 1 to t = 0: out[0, 1] is the first state, out[0, 0] the second.
    auto rev = kx::gru_sequence(x, kx::tensor<T>(), w_ih, w_hh, {}, {}, {}, true);
    kx::testing::check_values(rev, {1, 2, 1}, {0.34658786794500731, 0.23105857863000487});
  }

  TEST_CASE_TEMPLATE("gru_sequence equals its composed twin, values and gradients", T, float, double) {
    const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
    for (bool reverse : {false, true}) {
      for (bool masked : {false, true}) {
        CAPTURE(reverse);
        CAPTURE(masked);
        auto v = gru_arguments<T>(3, 5, 4, 6, kexue_test_seed());
        const kx::tensor<bool> mask = masked ? kx::lengths_to_mask({5, 2, 0}, 5) : kx::tensor<bool>();
        auto fused = kx::gru_sequence(v[0], v[1], v[2], v[3], v[4], v[5], mask, reverse);
        auto composed = kx::gru_sequence_reference(v[0], v[1], v[2], v[3], v[4], v[5], mask, reverse);
        kx::testing::check_close(fused, composed, tol, tol);
        auto weights = kx::randn<T>(fused.shape(), kexue_test_seed() + 7);
        auto gf = kx::grad({kx::sum(fused * weights)}, v);
        auto gc = kx::grad({kx::sum(composed * weights)}, v);
        for (std::size_t i = 0; i < v.size(); ++i) {
          CAPTURE(i);
          kx::testing::check_close(gf[i], gc[i], 10 * tol, 10 * tol);
        }
      }
    }
  }

  TEST_CASE("gru_sequence gradients match finite differences, with a mask and in reverse") {
    // B = 2, T = 3, I = 2, H = 3; row 1 has length 2 (its last step is padding).
    for (bool reverse : {false, true}) {
      CAPTURE(reverse);
      auto v = gru_arguments<double>(2, 3, 2, 3, kexue_test_seed() + 1);
      const auto mask = kx::lengths_to_mask({3, 2}, 3);
      kx::testing::check_gradients(
          [&](const std::vector<kx::tensor<double>>& a) {
            return kx::gru_sequence(a[0], a[1], a[2], a[3], a[4], a[5], mask, reverse);
          },
          v);
    }
  }

  TEST_CASE("gru_sequence second-order gradients go through the composed twin") {
    auto v = gru_arguments<double>(2, 2, 2, 2, kexue_test_seed() + 2);
    const auto mask = kx::lengths_to_mask({2, 1}, 2);
    kx::testing::check_second_order(
        [&](const std::vector<kx::tensor<double>>& a) {
          return kx::gru_sequence(a[0], a[1], a[2], a[3], a[4], a[5], mask, true);
        },
        v);
  }

  TEST_CASE("gru_sequence carries the state through padding and reverses each sequence within its length") {
    // Row 0 has length 2 of T = 4. Forward: out[0, 2] = out[0, 3] = out[0, 1]. Reverse: steps 3 and 2 are
    // padding (h0 kept), then steps 1, 0 are the reversed prefix, equal to running the flipped prefix.
    auto v = gru_arguments<double>(1, 4, 2, 3, kexue_test_seed() + 3);
    const auto mask = kx::lengths_to_mask({2}, 4);
    auto fwd = kx::gru_sequence(v[0], v[1], v[2], v[3], v[4], v[5], mask);
    kx::testing::check_close(kx::select(fwd, 1, 3), kx::select(fwd, 1, 1));
    kx::testing::check_close(kx::select(fwd, 1, 2), kx::select(fwd, 1, 1));
    auto prefix = kx::gru_sequence(kx::narrow(v[0], 1, 0, 2), v[1], v[2], v[3], v[4], v[5]);
    kx::testing::check_close(kx::narrow(fwd, 1, 0, 2), prefix);

    auto rev = kx::gru_sequence(v[0], v[1], v[2], v[3], v[4], v[5], mask, true);
    kx::testing::check_close(kx::select(rev, 1, 3), v[1]);
    kx::testing::check_close(kx::select(rev, 1, 2), v[1]);
    auto flipped = kx::gru_sequence(kx::flip(kx::narrow(v[0], 1, 0, 2), {1}), v[1], v[2], v[3], v[4], v[5]);
    kx::testing::check_close(kx::narrow(rev, 1, 0, 2), kx::flip(flipped, {1}));
  }

  TEST_CASE("gru_sequence without biases or h0 equals zero biases and zero h0") {
    auto v = gru_arguments<double>(2, 3, 2, 3, kexue_test_seed() + 4);
    auto none = kx::gru_sequence(v[0], kx::tensor<double>(), v[2], v[3]);
    auto zero =
        kx::gru_sequence(v[0], kx::zeros<double>({2, 3}), v[2], v[3], kx::zeros<double>({9}), kx::zeros<double>({9}));
    kx::testing::check_close(none, zero);
    auto g = kx::grad({kx::sum(none)}, {v[0], v[2], v[3]});
    CHECK(g[0].shape() == kx::shape{2, 3, 2});
  }

  TEST_CASE("gru_cell is one step of gru_sequence") {
    auto v = gru_arguments<double>(2, 1, 3, 4, kexue_test_seed() + 5);
    auto seq = kx::gru_sequence(v[0], v[1], v[2], v[3], v[4], v[5]);
    auto cell = kx::gru_cell(kx::select(v[0], 1, 0), v[1], v[2], v[3], v[4], v[5]);
    kx::testing::check_close(kx::select(seq, 1, 0), cell);
  }

  TEST_CASE("gru_sequence and gru_cell name the expected and received shapes") {
    auto v = gru_arguments<double>(2, 3, 2, 3, kexue_test_seed());
    CHECK_THROWS_WITH_AS(kx::gru_sequence(kx::zeros<double>({2, 2}), v[1], v[2], v[3]),
                         "gru_sequence: x must be [batch, time, input_size], got [2, 2]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::gru_sequence(v[0], v[1], v[2], kx::zeros<double>({8, 3})),
                         "gru_sequence: weight_hh must be [3 * hidden_size, hidden_size], got [8, 3]", kx::shape_error);
    CHECK_THROWS_WITH_AS(
        kx::gru_sequence(v[0], v[1], kx::zeros<double>({9, 5}), v[3]),
        "gru_sequence: weight_ih must be [9, 2] (3 * hidden_size 3, input_size of x [2, 3, 2]), got [9, 5]",
        kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::gru_sequence(v[0], v[1], v[2], v[3], kx::zeros<double>({6})),
                         "gru_sequence: bias_ih must be [9], got [6]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::gru_sequence(v[0], kx::zeros<double>({1, 3}), v[2], v[3]),
                         "gru_sequence: h0 must be [2, 3] (batch of x [2, 3, 2], hidden_size 3), got [1, 3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::gru_sequence(v[0], v[1], v[2], v[3], v[4], v[5], kx::lengths_to_mask({1, 1}, 4)),
                         "gru_sequence: mask must be [2, 3] (batch and time of x [2, 3, 2]), got [2, 4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::gru_cell(kx::zeros<double>({2, 2}), kx::zeros<double>({2, 4}), v[2], v[3]),
                         "gru_cell: h must be [2, 3] (batch of x [2, 2], hidden_size 3), got [2, 4]", kx::shape_error);
  }
}
