// SPDX-License-Identifier: MIT
// Tests of ops/activation.hpp: forward values, kinks, extreme inputs, first- and second-order gradients.
#include <cmath>  // std::log, std::isfinite
#include <functional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/ops/activation.hpp>

#include "support/tensor_checks.hpp"

using kexue::gelu_approximation;
using kexue::index_t;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace {

using tensors = std::vector<tensor<double>>;
using activation_fn = std::function<tensor<double>(const tensor<double>&)>;

/// Inputs for gradient checks: spread over [−3, 3], none within 0.1 of 0 (the kink of relu-like ops).
tensor<double> smooth_points() { return tensor<double>{{-2.7, -1.3, -0.45, -0.2}, {0.15, 0.6, 1.4, 2.9}}; }

/// The gradient of sum(f(x)) at x, in T.
template <class T, class F>
tensor<T> gradient_of_sum(F f, tensor<T> x) {
  x.requires_grad(true);
  kexue::sum(f(x)).backward();
  return x.grad();
}

/// Every activation under test, by name, in double (for the gradient checks).
std::vector<std::pair<std::string, activation_fn>> all_activations() {
  return {
      {"relu", [](const tensor<double>& x) { return kexue::relu(x); }},
      {"leaky_relu", [](const tensor<double>& x) { return kexue::leaky_relu(x, 0.2); }},
      {"elu", [](const tensor<double>& x) { return kexue::elu(x, 0.7); }},
      {"gelu", [](const tensor<double>& x) { return kexue::gelu(x); }},
      {"gelu tanh", [](const tensor<double>& x) { return kexue::gelu(x, gelu_approximation::tanh); }},
      {"swish", [](const tensor<double>& x) { return kexue::swish(x, 1.7); }},
      {"silu", [](const tensor<double>& x) { return kexue::silu(x); }},
      {"sigmoid", [](const tensor<double>& x) { return kexue::sigmoid(x); }},
      {"tanh", [](const tensor<double>& x) { return kexue::tanh(x); }},
      {"softplus", [](const tensor<double>& x) { return kexue::softplus(x); }},
      {"softplus beta 2 threshold 3", [](const tensor<double>& x) { return kexue::softplus(x, 2.0, 3.0); }},
      {"log_sigmoid", [](const tensor<double>& x) { return kexue::log_sigmoid(x); }},
      {"softsign", [](const tensor<double>& x) { return kexue::softsign(x); }},
      {"mish", [](const tensor<double>& x) { return kexue::mish(x); }},
  };
}

}  // namespace

TEST_SUITE("ops.activation") {
  TEST_CASE_TEMPLATE("relu, leaky_relu and elu compute their piecewise forms", T, float, double) {
    const tensor<T> x = {-2, -0.5, 0, 1.5};
    check_values(kexue::relu(x), {4}, {0, 0, 0, 1.5});
    // slope 0.1: −2·0.1 = −0.2, −0.5·0.1 = −0.05
    check_values(kexue::leaky_relu(x, 0.1), {4}, {-0.2, -0.05, 0, 1.5});
    check_values(kexue::leaky_relu(x), {4}, {-0.02, -0.005, 0, 1.5});
    // alpha 2: 2·(e^−ln2 − 1) = 2·(0.5 − 1) = −1
    const tensor<T> y = {T(-std::log(2.0)), 0, 1.5};
    check_values(kexue::elu(y, 2.0), {3}, {-1, 0, 1.5});
    check_values(kexue::elu(tensor<T>{-1}), {1}, {std::expm1(-1.0)});
  }

  TEST_CASE("relu-like gradients at the kink follow PyTorch") {
    // torch 1.13 at x = [−1, 0, 1]: relu' [0, 0, 1]; leaky_relu(0.1)' [0.1, 0.1, 1]; elu(alpha 2)' [2e⁻¹, 2, 1].
    const tensor<double> x = {-1, 0, 1};
    check_values(gradient_of_sum([](const tensor<double>& v) { return kexue::relu(v); }, x.copy()), {3}, {0, 0, 1});
    check_values(gradient_of_sum([](const tensor<double>& v) { return kexue::leaky_relu(v, 0.1); }, x.copy()), {3},
                 {0.1, 0.1, 1});
    check_values(gradient_of_sum([](const tensor<double>& v) { return kexue::elu(v, 2.0); }, x.copy()), {3},
                 {2 * std::exp(-1.0), 2, 1});
  }

  TEST_CASE("relu keeps NaN") {
    const auto y = kexue::relu(tensor<double>{NAN, -1});
    CHECK(std::isnan(y.data()[0]));
    CHECK(y.data()[1] == 0);
  }

  TEST_CASE("relu's backward zeroes the gradient where x <= 0, even an infinite one, as threshold_backward") {
    const auto x = tensor<double>{-1, 0, 2}.requires_grad(true);
    const auto y = kexue::relu(x);
    const std::vector<tensor<double>> seed{tensor<double>{INFINITY, NAN, 3}};
    const auto g = kexue::grad<double>({y}, {x}, kexue::grad_options(), seed);
    check_values(g[0], {3}, {0, 0, 3});  // torch 1.13: relu(x).backward(tensor([inf, nan, 3])) gives [0, 0, 3]
  }

  TEST_CASE_TEMPLATE("gelu matches the erf form and the tanh approximation", T, float, double) {
    const tensor<T> x = {-1, 1, 2};
    // x·Φ(x): Φ(1) = 0.841344746068543, Φ(−1) = 1 − Φ(1), Φ(2) = 0.977249868051821 (so 2·Φ(2)).
    check_values(kexue::gelu(x), {3}, {-0.15865525393145702, 0.841344746068543, 1.9544997361036416});
    // ½x(1 + tanh(√(2/π)(x + 0.044715x³))): at 1, tanh(0.7978846·1.044715) = tanh(0.833562) = 0.682384.
    check_values(kexue::gelu(x, gelu_approximation::tanh), {3},
                 {-0.15880800939172324, 0.8411919906082768, 1.954597694087775});
  }

  TEST_CASE_TEMPLATE("swish and silu scale x by a sigmoid", T, float, double) {
    const double l3 = std::log(3.0);  // σ(ln 3) = 3/4, σ(−ln 3) = 1/4
    const tensor<T> x = {T(l3), T(-l3), 0};
    check_values(kexue::silu(x), {3}, {0.75 * l3, -0.25 * l3, 0});
    // beta 2 at x = ln3/2: σ(ln 3) = 3/4, so x·3/4
    check_values(kexue::swish(tensor<T>{T(l3 / 2)}, 2.0), {1}, {0.375 * l3});
    check_values(kexue::swish(x, 1.0), {3}, {0.75 * l3, -0.25 * l3, 0});
  }

  TEST_CASE_TEMPLATE("sigmoid and tanh take their closed forms", T, float, double) {
    const double l2 = std::log(2.0), l3 = std::log(3.0);
    // σ(0) = 1/2, σ(ln 3) = 1/(1 + 1/3) = 3/4, σ(−ln 3) = 1/4
    check_values(kexue::sigmoid(tensor<T>{0, T(l3), T(-l3)}), {3}, {0.5, 0.75, 0.25});
    // tanh(ln 2) = (2 − 1/2)/(2 + 1/2) = 0.6
    check_values(kexue::tanh(tensor<T>{0, T(l2), T(-l2)}), {3}, {0, 0.6, -0.6});
  }

  TEST_CASE_TEMPLATE("softplus, log_sigmoid, softsign and mish take their closed forms", T, float, double) {
    const double l3 = std::log(3.0);
    // softplus(ln 3) = ln(1 + 3) = ln 4; softplus(0) = ln 2
    check_values(kexue::softplus(tensor<T>{T(l3), 0}), {2}, {std::log(4.0), std::log(2.0)});
    // beta 2, threshold 20: ln(1 + e^(2·ln3/2))/2 = ln4/2; 2·11 = 22 > 20 gives x itself;
    // 2·9 = 18 ≤ 20 gives ln(1 + e¹⁸)/2 = 9 + log1p(e^−18)/2 = 9.00000000761499
    check_values(kexue::softplus(tensor<T>{T(l3 / 2), 11, 9}, 2.0), {3}, {std::log(4.0) / 2, 11, 9.00000000761499});
    // log σ(ln 3) = ln(3/4), log σ(−ln 3) = ln(1/4)
    check_values(kexue::log_sigmoid(tensor<T>{T(l3), T(-l3)}), {2}, {std::log(0.75), std::log(0.25)});
    // 1/(1 + 1) = 0.5, −3/(1 + 3) = −0.75
    check_values(kexue::softsign(tensor<T>{1, -3, 0}), {3}, {0.5, -0.75, 0});
    // mish(ln 3) = ln3·tanh(ln 4) = ln3·(4 − 1/4)/(4 + 1/4) = ln3·15/17;
    // mish(−ln 3) = −ln3·tanh(ln(4/3)) = −ln3·(16/9 − 1)/(16/9 + 1) = −ln3·7/25
    check_values(kexue::mish(tensor<T>{T(l3), T(-l3)}), {2}, {l3 * 15 / 17, -l3 * 7 / 25});
  }

  TEST_CASE_TEMPLATE("activations stay finite and correct at extreme inputs", T, float, double) {
    // Expected values from torch 1.13 (float64); where the exact value is below T's smallest normal number
    // (e.g. σ(−100) = 3.7e-44) any value within the absolute tolerance is accepted.
    const tensor<T> x = {-1e4, -100, 100, 1e4};
    const auto check_finite = [](const tensor<T>& y, const char* name) {
      for (index_t i = 0; i < y.numel(); ++i) CHECK_MESSAGE(std::isfinite(y.data()[i]), name, " element ", i);
    };
    const std::vector<std::pair<const char*, std::function<tensor<T>(const tensor<T>&)>>> cases = {
        {"relu", [](const tensor<T>& v) { return kexue::relu(v); }},
        {"leaky_relu", [](const tensor<T>& v) { return kexue::leaky_relu(v); }},
        {"elu", [](const tensor<T>& v) { return kexue::elu(v); }},
        {"gelu", [](const tensor<T>& v) { return kexue::gelu(v); }},
        {"gelu tanh", [](const tensor<T>& v) { return kexue::gelu(v, gelu_approximation::tanh); }},
        {"silu", [](const tensor<T>& v) { return kexue::silu(v); }},
        {"sigmoid", [](const tensor<T>& v) { return kexue::sigmoid(v); }},
        {"tanh", [](const tensor<T>& v) { return kexue::tanh(v); }},
        {"softplus", [](const tensor<T>& v) { return kexue::softplus(v); }},
        {"log_sigmoid", [](const tensor<T>& v) { return kexue::log_sigmoid(v); }},
        {"softsign", [](const tensor<T>& v) { return kexue::softsign(v); }},
        {"mish", [](const tensor<T>& v) { return kexue::mish(v); }},
    };
    const std::vector<std::vector<double>> values = {
        {0, 0, 100, 1e4},                                                                    // relu
        {-100, -1, 100, 1e4},                                                                // leaky_relu
        {-1, -1, 100, 1e4},                                                                  // elu
        {0, 0, 100, 1e4},                                                                    // gelu
        {0, 0, 100, 1e4},                                                                    // gelu tanh
        {0, 0, 100, 1e4},                                                                    // silu
        {0, 3.7200759760208356e-44, 1, 1},                                                   // sigmoid
        {-1, -1, 1, 1},                                                                      // tanh
        {0, 3.720075976020836e-44, 100, 1e4},                                                // softplus
        {-1e4, -100, -3.720075976020836e-44, 0},                                             // log_sigmoid
        {-0.9999000099990001, -0.9900990099009901, 0.9900990099009901, 0.9999000099990001},  // softsign
        {0, -3.720075976020836e-42, 100, 1e4},                                               // mish
    };
    // Gradients of the sum: 0 or 1 in the saturated tails, except leaky_relu (slope) and softsign.
    const std::vector<std::vector<double>> grads = {
        {0, 0, 1, 1},                                                                                  // relu
        {0.01, 0.01, 1, 1},                                                                            // leaky_relu
        {0, 3.7200759760208356e-44, 1, 1},                                                             // elu
        {0, 0, 1, 1},                                                                                  // gelu
        {0, 0, 1, 1},                                                                                  // gelu tanh
        {0, 0, 1, 1},                                                                                  // silu
        {0, 0, 0, 0},                                                                                  // sigmoid
        {0, 0, 0, 0},                                                                                  // tanh
        {0, 3.7200759760208356e-44, 1, 1},                                                             // softplus
        {1, 1, 3.7200759760208356e-44, 0},                                                             // log_sigmoid
        {9.998000299960006e-09, 9.802960494069208e-05, 9.802960494069208e-05, 9.998000299960006e-09},  // softsign
        {0, 0, 1, 1},                                                                                  // mish
    };
    for (std::size_t c = 0; c < cases.size(); ++c) {
      CAPTURE(cases[c].first);
      const auto y = cases[c].second(x);
      check_finite(y, cases[c].first);
      check_values(y, {4}, values[c]);
      const auto g = gradient_of_sum(cases[c].second, x.copy());
      check_finite(g, cases[c].first);
      check_values(g, {4}, grads[c]);
    }
  }

  TEST_CASE("every activation passes the gradient check") {
    for (const auto& [name, f] : all_activations()) {
      CAPTURE(name);
      check_gradients([f = f](const tensors& v) { return f(v[0]); }, {smooth_points().requires_grad(true)});
    }
  }

  TEST_CASE("every activation passes the second-order check") {
    for (const auto& [name, f] : all_activations()) {
      CAPTURE(name);
      // f(x)·x makes the second derivative involve both f' and f'' (relu-like ops have f'' = 0).
      check_second_order([f = f](const tensors& v) { return kexue::mul(f(v[0]), v[0]); },
                         {smooth_points().requires_grad(true)});
    }
  }

  TEST_CASE("third-order gradients compose through the recorded derivatives") {
    // gelu'' comes from the recorded gelu_derivative op; its gradient (f''' = φ(x)·(x³ − 4x)) is checked
    // against finite differences of f''.
    const auto second = [](const tensors& v) {
      kexue::enable_grad_guard on;  // gradcheck evaluates fn under no_grad; the inner gradients need a graph
      auto g1 = kexue::grad<double>({kexue::sum(kexue::gelu(v[0]))}, {v[0]}, kexue::grad_options().create_graph(true));
      return kexue::grad<double>({kexue::sum(g1[0])}, {v[0]}, kexue::grad_options().create_graph(true))[0];
    };
    check_gradients(second, {smooth_points().requires_grad(true)});
  }

  TEST_CASE("softplus rejects a non-positive beta") {
    CHECK_THROWS_WITH_AS(kexue::softplus(tensor<float>{1}, 0.0), "softplus: beta must be positive (got 0)",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::softplus(tensor<float>{1}, -1.5), "softplus: beta must be positive (got -1.5)",
                         kexue::value_error);
  }
}
