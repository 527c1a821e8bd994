// SPDX-License-Identifier: MIT
// ops::linear and nn::linear: hand-computed values, gradients of every order, PyTorch data, shapes and errors.
#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/ops/linear.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::tensor;
using kx::testing::tensors;

TEST_SUITE("nn.linear") {
  TEST_CASE_TEMPLATE("linear computes x·Wᵀ + b over every leading axis", T, float, double) {
    const tensor<T> x = {{1, 2}, {3, 4}, {-1, 0}};      // [3, 2]
    const tensor<T> w = {{1, 0}, {2, -1}, {0.5, 0.5}};  // [3 out, 2 in]
    const tensor<T> b = {10, 20, 30};
    // Row 0: (1·1 + 2·0, 1·2 − 2, 0.5 + 1) + b = (11, 20, 31.5); row 1: (3, 2, 3.5) + b; row 2: (−1, −2, −0.5) + b.
    kx::testing::check_values(kx::linear(x, w, b), {3, 3}, {11, 20, 31.5, 13, 22, 33.5, 9, 18, 29.5});
    kx::testing::check_values(kx::linear(x, w), {3, 3}, {1, 0, 1.5, 3, 2, 3.5, -1, -2, -0.5});
    const auto x3 = kx::reshape(kx::arange<T>(12), {2, 3, 2});
    kx::testing::check_close(kx::linear(x3, w, b), kx::reshape(kx::linear(kx::reshape(x3, {6, 2}), w, b), {2, 3, 3}));
  }

  TEST_CASE("linear's gradients pass first- and second-order checks") {
    const auto x = kx::randn<double>({2, 3, 4}, 1).requires_grad(true);
    const auto w = kx::randn<double>({5, 4}, 2).requires_grad(true);
    const auto b = kx::randn<double>({5}, 3).requires_grad(true);
    const auto fn = [](const tensors& v) { return kx::square(kx::linear(v[0], v[1], v[2])); };
    kx::testing::check_gradients(fn, {x, w, b});
    kx::testing::check_second_order(fn, {x, w, b});
    kx::testing::check_gradients([](const tensors& v) { return kx::linear(v[0], v[1]); }, {x, w});
  }

  TEST_CASE("linear equals PyTorch's F.linear, values and gradients of both orders") {
    const kx::testing::reference_file file("linear");
    const auto with_bias = [](const tensors& v) { return tensors{kx::linear(v[0], v[1], v[2])}; };
    kx::testing::check_case(file, "linear_2d_bias", {"x", "w", "b"}, with_bias);
    kx::testing::check_case(file, "linear_3d_bias", {"x", "w", "b"}, with_bias);
    kx::testing::check_case(file, "linear_1d_nobias", {"x", "w"},
                            [](const tensors& v) { return tensors{kx::linear(v[0], v[1])}; });
  }

  TEST_CASE("the layer has PyTorch's layout and initialisation bounds, and trains its parameters") {
    kx::generator gen(7);
    kx::nn::linear<double> layer(kx::nn::linear_options(16, 3), gen);
    CHECK(layer.weight.shape() == kx::shape{3, 16});
    CHECK(layer.bias.shape() == kx::shape{3});
    for (double v : layer.weight.to_vector()) CHECK(std::abs(v) <= 0.25);  // 1/√16
    for (double v : layer.bias.to_vector()) CHECK(std::abs(v) <= 0.25);
    kx::nn::linear<float> no_bias(kx::nn::linear_options(4, 2).bias(false));
    CHECK(!no_bias.bias.defined());
    CHECK(no_bias.parameters().size() == 1);
    CHECK(no_bias.to_string() == "linear(in_features=4, out_features=2, bias=false)");
    const auto x = kx::randn<double>({5, 16}, 8).requires_grad(true);
    // The checker perturbs the inputs in place, so passing the layer's own parameters checks its forward.
    kx::testing::check_gradients([&](const tensors& v) { return layer(v[0]); }, {x, layer.weight, layer.bias});
    kx::testing::check_close(layer(x).detach(), kx::add(kx::matmul(x, layer.weight, false, true), layer.bias).detach());
  }

  TEST_CASE("wrong shapes name the layer's configuration and the shape received") {
    kx::nn::linear<float> layer(kx::nn::linear_options(128, 64));
    CHECK_THROWS_WITH_AS(layer(kx::zeros<float>({4, 100})),
                         "linear(in_features=128, out_features=64, bias=true): expected input [..., 128], got [4, 100]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::linear(kx::zeros<float>({2, 3}), kx::zeros<float>({4, 5})),
                         "linear: input [2, 3] does not end in 5 (weight [4, 5])", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::linear(kx::zeros<float>({2, 3}), kx::zeros<float>({4, 3}), kx::zeros<float>({3})),
                         "linear: bias [3] must be [4] (weight [4, 3])", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::nn::linear<float>(-1, 2),
                         "linear: feature counts must be non-negative, got in_features=-1, out_features=2",
                         kx::value_error);
  }
}
