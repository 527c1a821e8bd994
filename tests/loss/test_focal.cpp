// SPDX-License-Identifier: MIT
// Tests of loss/focal.hpp: hand-computed values, the identities of spec A08, truncation, pⁿ, errors.
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/focal.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace kl = kexue::loss;
using kx::index_t;
using kx::testing::check_close;
using kx::testing::check_values;

namespace {
constexpr auto none = kl::reduction::none;
}

TEST_SUITE("loss.focal") {
  TEST_CASE_TEMPLATE("sigmoid and softmax focal loss by hand", T, float, double) {
    const double l2 = std::log(2.0), l4 = std::log(4.0), l43 = std::log(4.0 / 3);
    // x = 0, y = 1: p = 1/2, ce = ln 2, (1 − p)² = 1/4, α = 1/4: ln 2 / 16
    // x = ln 3, y = 0: p = 3/4, ce = ln 4, p² = 9/16, 1 − α = 3/4: (27/64) ln 4
    kx::tensor<T> x = {0, T(std::log(3.0))};
    kx::tensor<T> y = {1, 0};
    check_values(kl::sigmoid_focal_loss(x, y, kl::sigmoid_focal_options().reduction(none)), {2},
                 {l2 / 16, 27.0 / 64 * l4});
    // α < 0 switches α off; γ = 0 leaves BCE
    check_values(kl::sigmoid_focal_loss(x, y, kl::sigmoid_focal_options().alpha(-1).gamma(0).reduction(none)), {2},
                 {l2, l4});
    // softmax: logits [0, ln 3], t = 1: p_t = 3/4, (1/4)²·ln(4/3); α_1 = 0.5 halves it
    kx::tensor<T> z = {{0, T(std::log(3.0))}};
    kx::tensor<index_t> t = {1};
    check_values(kl::softmax_focal_loss(z, t), {}, {l43 / 16});
    check_values(kl::softmax_focal_loss(z, t, kl::softmax_focal_options().alpha({1, 0.5})), {}, {l43 / 32});
    check_values(kl::softmax_focal_loss(z, t, kl::softmax_focal_options().gamma(0)), {}, {l43});
  }

  TEST_CASE_TEMPLATE("margin-truncated and hard-truncated BCE by hand", T, float, double) {
    // m = 0.6: y=1 at ŷ = 3/4 > m: 0; y=1 at ŷ = 1/2: ln 2; y=0 at ŷ = 1/4 < 0.4: 0; y=0 at ŷ = 0.45: −ln 0.55
    kx::tensor<T> x = {T(std::log(3.0)), 0, T(-std::log(3.0)), T(std::log(0.45 / 0.55))};
    kx::tensor<T> y = {1, 1, 0, 0};
    check_values(kl::margin_truncated_bce_with_logits(x, y, kl::margin_truncated_options().reduction(none)), {4},
                 {0, std::log(2.0), 0, -std::log(0.55)});
    // the probability form adds ε = 1e-8 inside the logs: −ln(0.5 + 1e-8), −ln(0.55 + 1e-8)
    kx::tensor<T> p = {0.75, 0.5, 0.25, 0.45};
    check_values(kl::margin_truncated_bce(p, y, kl::margin_truncated_options().reduction(none)), {4},
                 {0, -std::log(0.5 + 1e-8), 0, -std::log(0.55 + 1e-8)});
    // hard truncation (m = 0.5): x = 0 is a tie, θ(0) = ½: ½ ln 2; x = 0.1 (y=1) is right: 0; x = −0.1: softplus(0.1)
    kx::tensor<T> h = {0, T(0.1), T(-0.1)};
    kx::tensor<T> hy = {1, 1, 1};
    check_values(kl::hard_truncated_bce_with_logits(h, hy, kl::margin_truncated_options().reduction(none)), {3},
                 {0.5 * std::log(2.0), 0, std::log1p(std::exp(0.1))}, 1e-5);
  }

  TEST_CASE("the multi-class margin-truncated loss stops at p_t > m") {
    // logits [0, ln 3]: p = [1/4, 3/4]; t = 1: p_t = 0.75 > 0.6: 0; t = 0: p_t = 0.25: −ln(1/4) = ln 4; ignored: 0
    kx::tensor<double> x = {{0, std::log(3.0)}, {0, std::log(3.0)}, {0, std::log(3.0)}};
    kx::tensor<index_t> t = {1, 0, -100};
    check_values(kl::margin_truncated_cross_entropy(x, t, kl::margin_truncated_options().reduction(none)), {3},
                 {0, std::log(4.0), 0});
    check_values(kl::margin_truncated_cross_entropy(x, t), {}, {std::log(4.0) / 2});
    check_values(kl::margin_truncated_cross_entropy(x, t, kl::margin_truncated_options().margin(0.8)), {},
                 {(std::log(4.0 / 3) + std::log(4.0)) / 2});
  }

  TEST_CASE("the truncation weight carries no gradient, and truncated examples get none") {
    kx::tensor<double> x = {std::log(3.0), 0.0};
    x.requires_grad(true);
    kl::margin_truncated_bce_with_logits(x, kx::tensor<double>{1, 1},
                                         kl::margin_truncated_options().reduction(kl::reduction::sum))
        .backward();
    CHECK(x.grad().data()[0] == 0.0);
    CHECK(x.grad().data()[1] == doctest::Approx(-0.5));  // d/dx softplus(−x) = −σ(−x) = −1/2
  }

  TEST_CASE("the softened loss with K = 1 equals focal loss with gamma = 1 and no alpha (A08)") {
    kx::generator gen(3);
    auto x = kx::randn<double>({3, 4}, gen);
    auto y = kx::bernoulli<double>({3, 4}, 0.5, gen);
    check_close(kl::softened_bce_with_logits(x, y, kl::softened_options().reduction(none)),
                kl::sigmoid_focal_loss(x, y, kl::sigmoid_focal_options().gamma(1).alpha(-1).reduction(none)));
    // two classes: softmax(−x)_t = 1 − p_t, so the multi-class softened loss is softmax focal with γ = 1
    auto z = kx::randn<double>({5, 2}, gen);
    kx::tensor<index_t> t = {0, 1, 1, 0, 1};
    check_close(kl::softened_cross_entropy(z, t, kl::softened_options().reduction(none)),
                kl::softmax_focal_loss(z, t, kl::softmax_focal_options().gamma(1).reduction(none)));
    // by hand: logits [0, ln 3], t = 1, K = 1: softmax([0, −ln 3])_1 = 1/4, times ln(4/3)
    kx::tensor<double> h = {{0, std::log(3.0)}};
    check_values(kl::softened_cross_entropy(h, kx::tensor<index_t>{1}), {}, {std::log(4.0 / 3) / 4});
    // larger K approaches the hard truncation: x = 3, y = 1 is almost weightless at K = 10
    CHECK(kl::softened_bce_with_logits(kx::tensor<double>{3}, kx::tensor<double>{1}, kl::softened_options().k(10))
              .item() < 1e-13);
  }

  TEST_CASE_TEMPLATE("the p^n trick by hand and at extreme logits", T, float, double) {
    // n = 2: x = 0, y = 1: −ln(1/4) = 2 ln 2; x = 0, y = 0: −ln(1 − 1/4) = ln(4/3)
    kx::tensor<T> x = {0, 0};
    kx::tensor<T> y = {1, 0};
    check_values(kl::power_bce_with_logits(x, y, kl::power_bce_options().reduction(none)), {2},
                 {2 * std::log(2.0), std::log(4.0 / 3)});
    // n = 1 is plain BCE
    kx::tensor<T> w = {-2, 0.5};
    check_close(kl::power_bce_with_logits(w, y, kl::power_bce_options().n(1).reduction(none)),
                kl::binary_cross_entropy_with_logits(w, y, kl::bce_options().reduction(none)));
    // x = 30, y = 0: 1 − σ(x)² ≈ 2e^{−30}, so the loss ≈ 30 − ln 2 (a naive log(1 − p²) gives inf in float)
    kx::tensor<T> big = {30};
    check_values(kl::power_bce_with_logits(big, kx::tensor<T>{0}), {}, {30 - std::log(2.0)}, 1e-5);
    kx::tensor<T> very_negative = {-60};
    check_values(kl::power_bce_with_logits(very_negative, kx::tensor<T>{1}), {}, {120}, 1e-5);
  }

  TEST_CASE("NaN propagates and errors are named") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    kx::tensor<double> x = {0, nan};
    kx::tensor<double> y = {1, 0};
    CHECK(std::isnan(kl::sigmoid_focal_loss(x, y).item()));
    CHECK(std::isnan(kl::power_bce_with_logits(x, y).item()));
    CHECK(std::isnan(kl::softened_bce_with_logits(x, y).item()));
    auto two = kx::zeros<double>({2, 3});
    CHECK_THROWS_WITH_AS(kl::sigmoid_focal_loss(two, y),
                         "sigmoid_focal_loss: target shape [2] differs from logits shape [2, 3]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::sigmoid_focal_loss(x, y, kl::sigmoid_focal_options().gamma(-1)),
                         "sigmoid_focal_loss: gamma must be ≥ 0 (got -1)", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::sigmoid_focal_loss(x, y, kl::sigmoid_focal_options().alpha(1.5)),
                         "sigmoid_focal_loss: alpha must be ≤ 1 (got 1.5)", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::margin_truncated_bce_with_logits(x, y, kl::margin_truncated_options().margin(0.3)),
                         "margin_truncated_bce_with_logits: margin must be in [0.5, 1] (got 0.3)", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::softened_bce_with_logits(x, y, kl::softened_options().k(0)),
                         "softened_bce_with_logits: k must be positive (got 0)", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::power_bce_with_logits(x, y, kl::power_bce_options().n(0)),
                         "power_bce_with_logits: n must be positive (got 0)", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::softmax_focal_loss(two, kx::tensor<index_t>{0, 7}),
                         "softmax_focal_loss: label 7 is out of range for 3 classes", kx::index_error);
    CHECK_THROWS_WITH_AS(kl::softmax_focal_loss(two, kx::tensor<index_t>{0, 1}, kl::softmax_focal_options().alpha({1})),
                         "softmax_focal_loss: alpha has 1 entries, expected one per class (3)", kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::softened_cross_entropy(two, kx::tensor<index_t>{0}),
                         "softened_cross_entropy: target shape [1] does not match logits shape [2, 3] (expected [2])",
                         kx::shape_error);
  }
}
