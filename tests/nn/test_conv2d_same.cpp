// SPDX-License-Identifier: MIT
// nn::conv2d with padding_mode::same: PyTorch's padding='same' (values in float64), gradients, state round trip,
// repr and errors.
#include <vector>

#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/nn/conv.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace nn = kexue::nn;

namespace {
/// Copies `value` into the parameter `param` (same shape).
void assign(kx::tensor<double>& param, const kx::tensor<double>& value) {
  REQUIRE(param.shape() == value.shape());
  for (kx::index_t i = 0; i < value.numel(); ++i) param.data()[i] = value.data()[i];
  param.bump_version();
}
}  // namespace

TEST_SUITE("nn.conv") {
  TEST_CASE("conv2d with same padding equals PyTorch's padding='same'") {
    // Case conv2d_same of tests/reference/make_reference_conv.py: F.conv2d(x, w, b, padding='same', groups=2)
    // with kernel (2, 4), i.e. nn.Conv2d(4, 6, (2, 4), padding='same', groups=2).
    const kx::testing::reference_file file("conv");
    nn::conv2d<double> layer(nn::conv2d_options(4, 6, {2, 4}).groups(2).padding(nn::padding_mode::same));
    assign(layer.weight, file.get("conv2d_same.w"));
    assign(layer.bias, file.get("conv2d_same.b"));
    const auto x = file.get("conv2d_same.x");
    kx::testing::check_close(layer(x), file.get("conv2d_same.out"), 1e-10, 1e-10);
    CHECK(layer.extra_repr() ==
          "in_channels=4, out_channels=6, kernel_size=(2, 4), stride=(1, 1), padding=same, "
          "groups=2, bias=true");
    CHECK(layer.options().padding_same());
    // The last padding(...) call wins: explicit sizes switch same off again.
    CHECK_FALSE(nn::conv2d_options(1, 1, 3).padding(nn::padding_mode::same).padding(1).padding_same());
  }

  TEST_CASE("conv2d with same padding passes gradient checks and round-trips its state") {
    kx::generator gen(kexue_test_seed() + 21);
    nn::conv2d<double> layer(nn::conv2d_options(2, 3, {3, 2}).dilation({1, 2}).padding(nn::padding_mode::same), gen);
    auto x = kx::randn<double>({2, 2, 4, 3}, gen).requires_grad(true);
    auto fn = [&layer](const std::vector<kx::tensor<double>>& v) { return layer(v[0]); };
    CHECK(fn({x}).shape() == kx::shape{2, 3, 4, 3});
    kx::testing::check_gradients(fn, {x, layer.weight, layer.bias});
    nn::conv2d<double> other(nn::conv2d_options(2, 3, {3, 2}).dilation({1, 2}).padding(nn::padding_mode::same), gen);
    other.load_state_dict(layer.state_dict());
    kx::testing::check_close(other(x), layer(x));
  }

  TEST_CASE("conv2d rejects same padding with a stride, and causal padding") {
    CHECK_THROWS_WITH_AS(nn::conv2d<float>(nn::conv2d_options(3, 4, 3).stride(2).padding(nn::padding_mode::same)),
                         "conv2d: padding same needs stride 1, got in_channels=3, out_channels=4, kernel_size=(3, 3), "
                         "stride=(2, 2), padding=same, bias=true",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(nn::conv2d<float>(nn::conv2d_options(3, 4, 3).padding(nn::padding_mode::causal)),
                         "conv2d: padding causal is defined for conv1d only, got in_channels=3, out_channels=4, "
                         "kernel_size=(3, 3), stride=(1, 1), padding=causal, bias=true",
                         kx::value_error);
  }
}
