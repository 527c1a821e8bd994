// SPDX-License-Identifier: MIT
// nn::conv1d, nn::conv2d, nn::conv_transpose2d: padding modes, masking, PyTorch layout/init/values, gradients,
// state round trip, errors.
#include <algorithm>
#include <cmath>

#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/conv.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reduce_minmax.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace nn = kexue::nn;
using kx::tensor;
using kx::testing::tensors;

namespace {
/// Copies `value` into the parameter `param` (same shape).
template <class T>
void assign(tensor<T>& param, const tensor<double>& value) {
  REQUIRE(param.shape() == value.shape());
  for (kx::index_t i = 0; i < value.numel(); ++i) param.data()[i] = static_cast<T>(value.data()[i]);
  param.bump_version();
}
}  // namespace

TEST_SUITE("nn.conv") {
  TEST_CASE_TEMPLATE("conv1d's padding modes give the documented lengths", T, float, double) {
    kx::generator gen(kexue_test_seed());
    auto x = kx::randn<T>({2, 3, 10}, gen);
    for (kx::index_t d : {1, 2, 4}) {
      CAPTURE(d);
      nn::conv1d<T> valid(nn::conv1d_options(3, 5, 3).dilation(d), gen);
      nn::conv1d<T> same(nn::conv1d_options(3, 5, 3).dilation(d).padding(nn::padding_mode::same), gen);
      nn::conv1d<T> causal(nn::conv1d_options(3, 5, 3).dilation(d).padding(nn::padding_mode::causal), gen);
      CHECK(valid(x).shape() == kx::shape{2, 5, 10 - 2 * d});
      CHECK(same(x).shape() == kx::shape{2, 5, 10});
      CHECK(causal(x).shape() == kx::shape{2, 5, 10});
      CHECK(same.padding_for(10).left == d);
      CHECK(causal.padding_for(10).left == 2 * d);
    }
    // same with stride 2: ceil(10 / 2) = 5 outputs; total padding (5 − 1)·2 + 2 + 1 − 10 = 1 → (0, 1).
    nn::conv1d<T> strided(nn::conv1d_options(3, 4, 3).stride(2).padding(nn::padding_mode::same), gen);
    CHECK(strided(x).shape() == kx::shape{2, 4, 5});
    CHECK(strided.padding_for(10).left == 0);
    CHECK(strided.padding_for(10).right == 1);
    // even kernel, same: total 3, left 1, right 2 (PyTorch and Keras put the extra zero on the right).
    nn::conv1d<T> even(nn::conv1d_options(3, 4, 4).padding(nn::padding_mode::same), gen);
    CHECK(even.padding_for(10).left == 1);
    CHECK(even.padding_for(10).right == 2);
  }

  TEST_CASE("a causal conv1d's output at t does not depend on inputs after t") {
    kx::generator gen(kexue_test_seed() + 1);
    nn::conv1d<double> causal(nn::conv1d_options(2, 3, 3).dilation(2).padding(nn::padding_mode::causal), gen);
    auto x = kx::randn<double>({1, 2, 9}, gen).requires_grad(true);
    auto y = causal(x);
    // d y[:, :, 4] / d x is zero at positions 5.. and not at 0, 2, 4 (the taps at dilation 2).
    auto g = kx::grad({kx::sum(kx::narrow(y, 2, 4, 1))}, {x})[0];
    for (kx::index_t t = 5; t < 9; ++t) CHECK(g(0, 0, t) == 0);
    CHECK(g(0, 0, 4) != 0);
    CHECK(g(0, 0, 0) != 0);
    CHECK(g(0, 0, 1) == 0);
  }

  TEST_CASE("conv1d with same padding equals PyTorch's padding='same' at dilations 1, 2 and 4") {
    const kx::testing::reference_file file("conv");
    for (const char* name : {"conv1d_same_d1", "conv1d_same_d2", "conv1d_same_d4"}) {
      CAPTURE(name);
      const std::string n(name);
      auto w = file.get(n + ".w");
      nn::conv1d<double> layer(nn::conv1d_options(4, 6, 3).dilation(n.back() - '0').padding(nn::padding_mode::same));
      assign(layer.weight, w);
      assign(layer.bias, file.get(n + ".b"));
      kx::testing::check_close(layer(file.get(n + ".x")), file.get(n + ".out"), 1e-10, 1e-10);
    }
  }

  TEST_CASE("conv1d's mask zeroes padded positions of the input and of the output") {
    kx::generator gen(kexue_test_seed() + 2);
    nn::conv1d<double> layer(nn::conv1d_options(2, 3, 3).padding(nn::padding_mode::same), gen);
    auto x = kx::randn<double>({2, 2, 5}, gen);
    auto mask = kx::tensor<bool>{{true, true, true, false, false}, {true, true, true, true, true}};
    auto y = layer(x, mask);
    // Row 0: equals the convolution of x with its last two positions zeroed, then zeroed there itself.
    auto x0 = x.copy();
    for (kx::index_t c = 0; c < 2; ++c) x0(0, c, 3) = x0(0, c, 4) = 0;
    auto ref = layer(x0);
    for (kx::index_t o = 0; o < 3; ++o) {
      for (kx::index_t t = 0; t < 3; ++t) CHECK(y(0, o, t) == doctest::Approx(ref(0, o, t)));
      CHECK(y(0, o, 3) == 0);
      CHECK(y(0, o, 4) == 0);
      for (kx::index_t t = 0; t < 5; ++t) CHECK(y(1, o, t) == doctest::Approx(layer(x)(1, o, t)));
    }
    // A 0/1 mask of the element type gives the same result; a valid conv masks only its input.
    kx::testing::check_close(layer(x, mask.to<double>()), y);
    nn::conv1d<double> valid(nn::conv1d_options(2, 3, 3), gen);
    kx::testing::check_close(valid(x, mask), valid(x * kx::unsqueeze(mask.to<double>(), 1)));
  }

  TEST_CASE("conv layers have PyTorch's layout and initialisation bounds") {
    kx::generator gen(kexue_test_seed() + 3);
    nn::conv1d<float> c1(nn::conv1d_options(8, 6, 5).groups(2), gen);
    CHECK(c1.weight.shape() == kx::shape{6, 4, 5});
    CHECK(c1.bias.shape() == kx::shape{6});
    const float b1 = 1.0f / std::sqrt(20.0f);  // fan_in = 8 / 2 · 5
    CHECK(kx::max(kx::abs(c1.weight)).item() <= b1);
    CHECK(kx::max(kx::abs(c1.weight)).item() > 0.8f * b1);
    CHECK(kx::max(kx::abs(c1.bias)).item() <= b1);
    nn::conv2d<float> c2(nn::conv2d_options(3, 8, {3, 2}).bias(false), gen);
    CHECK(c2.weight.shape() == kx::shape{8, 3, 3, 2});
    CHECK(!c2.bias.defined());
    CHECK(c2.parameters().size() == 1);
    CHECK(kx::max(kx::abs(c2.weight)).item() <= 1.0f / std::sqrt(18.0f));
    nn::conv_transpose2d<float> t2(nn::conv_transpose2d_options(8, 4, 4).stride(2).padding(1), gen);
    CHECK(t2.weight.shape() == kx::shape{8, 4, 4, 4});
    CHECK(kx::max(kx::abs(t2.weight)).item() <= 1.0f / std::sqrt(64.0f));  // fan_in = 4 · 4 · 4
    CHECK(t2(kx::zeros<float>({2, 8, 5, 7})).shape() == kx::shape{2, 4, 10, 14});
    CHECK(c1.extra_repr() == "in_channels=8, out_channels=6, kernel_size=5, groups=2, padding=valid, bias=true");
    CHECK(t2.extra_repr() ==
          "in_channels=8, out_channels=4, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=true");
  }

  TEST_CASE("conv layers pass gradient checks for every parameter and the input") {
    kx::generator gen(kexue_test_seed() + 4);
    nn::conv1d<double> c1(nn::conv1d_options(2, 2, 3).dilation(2).padding(nn::padding_mode::same), gen);
    auto x1 = kx::randn<double>({2, 2, 5}, gen).requires_grad(true);
    auto mask = kx::tensor<bool>{{true, true, true, true, false}, {true, true, false, false, false}};
    auto f1 = [&](const tensors& v) {
      c1.weight = v[1];
      c1.bias = v[2];
      return kx::square(c1.forward(v[0], mask));
    };
    kx::testing::check_gradients(f1, {x1, c1.weight, c1.bias});
    kx::testing::check_second_order(f1, {x1, c1.weight, c1.bias});
    nn::conv2d<double> c2(nn::conv2d_options(2, 2, 2).padding(1), gen);
    auto x2 = kx::randn<double>({1, 2, 3, 3}, gen).requires_grad(true);
    auto f2 = [&](const tensors& v) {
      c2.weight = v[1];
      c2.bias = v[2];
      return kx::square(c2.forward(v[0]));
    };
    kx::testing::check_gradients(f2, {x2, c2.weight, c2.bias});
    kx::testing::check_second_order(f2, {x2, c2.weight, c2.bias});
    nn::conv_transpose2d<double> t2(nn::conv_transpose2d_options(2, 2, 3).stride(2).padding(1).output_padding(1), gen);
    auto x3 = kx::randn<double>({1, 2, 2, 2}, gen).requires_grad(true);
    auto f3 = [&](const tensors& v) {
      t2.weight = v[1];
      t2.bias = v[2];
      return kx::square(t2.forward(v[0]));
    };
    kx::testing::check_gradients(f3, {x3, t2.weight, t2.bias});
    kx::testing::check_second_order(f3, {x3, t2.weight, t2.bias});
  }

  TEST_CASE("conv layers round-trip their state") {
    kx::generator gen(kexue_test_seed() + 5);
    nn::conv1d<float> a(nn::conv1d_options(3, 4, 3), gen), b(nn::conv1d_options(3, 4, 3), gen);
    CHECK(a.state_dict().keys() == std::vector<std::string>{"weight", "bias"});
    b.load_state_dict(a.state_dict());
    auto x = kx::randn<float>({2, 3, 6}, gen);
    kx::testing::check_close(b(x), a(x));
    auto c = a.clone_as();
    kx::testing::check_close((*c)(x), a(x));
  }

  TEST_CASE("conv layers reject bad options and inputs with messages naming their configuration") {
    CHECK_THROWS_WITH_AS(nn::conv1d<float>(nn::conv1d_options(6, 4, 3).groups(4)),
                         "conv1d: groups must divide in_channels and out_channels, got in_channels=6, out_channels=4, "
                         "kernel_size=3, groups=4, padding=valid, bias=true",
                         kx::value_error);
    nn::conv1d<float> layer(nn::conv1d_options(16, 32, 3).padding(nn::padding_mode::same));
    CHECK_THROWS_WITH_AS(layer(kx::zeros<float>({8, 12, 100})),
                         "conv1d(in_channels=16, out_channels=32, kernel_size=3, padding=same, bias=true): expected "
                         "input [batch, 16, length], got [8, 12, 100]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(layer(kx::zeros<float>({8, 16, 10}), kx::ones<float>({8, 11})),
                         "conv1d(in_channels=16, out_channels=32, kernel_size=3, padding=same, bias=true): expected "
                         "mask [8, 10] for input [8, 16, 10], got [8, 11]",
                         kx::shape_error);
    nn::conv1d<float> valid(nn::conv1d_options(1, 1, 5));
    CHECK_THROWS_WITH_AS(valid(kx::zeros<float>({1, 1, 4})),
                         "conv1d(in_channels=1, out_channels=1, kernel_size=5, padding=valid, bias=true): input length "
                         "4 is shorter than the dilated kernel 5 (input [1, 1, 4])",
                         kx::shape_error);
    nn::conv2d<float> c2(nn::conv2d_options(3, 4, 3));
    CHECK_THROWS_WITH_AS(c2(kx::zeros<float>({1, 2, 5, 5})),
                         "conv2d(in_channels=3, out_channels=4, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), "
                         "bias=true): expected input [batch, 3, height, width], got [1, 2, 5, 5]",
                         kx::shape_error);
    CHECK_THROWS_AS(nn::conv_transpose2d<float>(nn::conv_transpose2d_options(2, 2, 3).stride(2).output_padding(2)),
                    kx::value_error);
  }
}
