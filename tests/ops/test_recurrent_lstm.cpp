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

/// Random LSTM arguments {x, h0, c0, w_ih, w_hh, b_ih, b_hh}, all requiring gradients.
template <class T>
std::vector<kx::tensor<T>> lstm_arguments(kx::index_t B, kx::index_t TT, kx::index_t I, kx::index_t H,
                                          std::uint64_t seed) {
  kx::generator gen(seed);
  std::vector<kx::tensor<T>> v{kx::randn<T>({B, TT, I}, gen),
                               kx::randn<T>({B, H}, gen),
                               kx::randn<T>({B, H}, gen),
                               kx::randn<T>({4 * H, I}, gen) * T(0.5),
                               kx::randn<T>({4 * H, H}, gen) * T(0.5),
                               kx::randn<T>({4 * H}, gen) * T(0.5),
                               kx::randn<T>({4 * H}, gen) * T(0.5)};
  for (auto& t : v) t.requires_grad(true);
  return v;
}

}  // namespace

TEST_SUITE("ops.recurrent") {
  TEST_CASE_TEMPLATE("lstm_sequence follows the LSTM equations on a hand-computed case", T, float, double) {
    // H = I = 1, B = 1, T = 1, x = 1, h0 = 0, c0 = 0.5; W_ih = (0, 0, 1, 0) (only g sees x), rest 0.
    // i = f = o = σ(0) = 0.5, g = tanh(1) = 0.76159415596; c1 = 0.5·0.5 + 0.5·0.76159415596 = 0.63079707798;
    // h1 = 0.5·tanh(0.63079707798) = 0.5·0.55860082156 = 0.27930041078.
    auto x = kx::ones<T>({1, 1, 1});
    auto w_ih = kx::tensor<T>{{0}, {0}, {1}, {0}};
    auto out = kx::lstm_sequence(x, kx::zeros<T>({1, 1}), kx::full<T>({1, 1}, T(0.5)), w_ih, kx::zeros<T>({4, 1}));
    kx::testing::check_values(out, {1, 1, 2, 1}, {0.27930041077890644, 0.6307970779778824});
  }

  TEST_CASE_TEMPLATE("lstm_sequence equals its composed twin, values and gradients", T, float, double) {
    const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
    for (bool reverse : {false, true}) {
      for (bool masked : {false, true}) {
        CAPTURE(reverse);
        CAPTURE(masked);
        auto v = lstm_arguments<T>(3, 5, 4, 6, kexue_test_seed() + 10);
        const kx::tensor<bool> mask = masked ? kx::lengths_to_mask({5, 2, 0}, 5) : kx::tensor<bool>();
        auto fused = kx::lstm_sequence(v[0], v[1], v[2], v[3], v[4], v[5], v[6], mask, reverse);
        auto composed = kx::lstm_sequence_reference(v[0], v[1], v[2], v[3], v[4], v[5], v[6], mask, reverse);
        kx::testing::check_close(fused, composed, tol, tol);
        auto weights = kx::randn<T>(fused.shape(), kexue_test_seed() + 11);
        auto gf = kx::grad({kx::sum(fused * weights)}, v);
        auto gc = kx::grad({kx::sum(composed * weights)}, v);
        for (std::size_t i = 0; i < v.size(); ++i) {
          CAPTURE(i);
          kx::testing::check_close(gf[i], gc[i], 10 * tol, 10 * tol);
        }
      }
    }
  }

  TEST_CASE("lstm_sequence gradients match finite differences, with a mask and in reverse") {
    for (bool reverse : {false, true}) {
      CAPTURE(reverse);
      auto v = lstm_arguments<double>(2, 3, 2, 3, kexue_test_seed() + 12);
      const auto mask = kx::lengths_to_mask({3, 2}, 3);
      kx::testing::check_gradients(
          [&](const std::vector<kx::tensor<double>>& a) {
            return kx::lstm_sequence(a[0], a[1], a[2], a[3], a[4], a[5], a[6], mask, reverse);
          },
          v);
    }
  }

  TEST_CASE("lstm_sequence second-order gradients go through the composed twin") {
    auto v = lstm_arguments<double>(2, 2, 2, 2, kexue_test_seed() + 13);
    const auto mask = kx::lengths_to_mask({2, 1}, 2);
    kx::testing::check_second_order(
        [&](const std::vector<kx::tensor<double>>& a) {
          return kx::lstm_sequence(a[0], a[1], a[2], a[3], a[4], a[5], a[6], mask);
        },
        v);
  }

  TEST_CASE("lstm_cell is one step of lstm_sequence") {
    auto v = lstm_arguments<double>(2, 1, 3, 4, kexue_test_seed() + 14);
    auto seq = kx::lstm_sequence(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    auto [h, c] = kx::lstm_cell(kx::select(v[0], 1, 0), v[1], v[2], v[3], v[4], v[5], v[6]);
    kx::testing::check_close(kx::select(kx::select(seq, 1, 0), 1, 0), h);
    kx::testing::check_close(kx::select(kx::select(seq, 1, 0), 1, 1), c);
  }

  TEST_CASE("lstm_sequence names the expected and received shapes") {
    auto v = lstm_arguments<double>(2, 3, 2, 3, kexue_test_seed());
    CHECK_THROWS_WITH_AS(kx::lstm_sequence(v[0], v[1], v[2], v[3], kx::zeros<double>({9, 3})),
                         "lstm_sequence: weight_hh must be [4 * hidden_size, hidden_size], got [9, 3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::lstm_sequence(v[0], v[1], kx::zeros<double>({2, 4}), v[3], v[4]),
                         "lstm_sequence: c0 must be [2, 3] (batch of x [2, 3, 2], hidden_size 3), got [2, 4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::lstm_sequence(v[0], v[1], v[2], v[3], v[4], v[5], kx::zeros<double>({3})),
                         "lstm_sequence: bias_hh must be [12], got [3]", kx::shape_error);
  }
}
