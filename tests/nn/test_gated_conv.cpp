// SPDX-License-Identifier: MIT
// nn::gated_conv1d (DGCNN block, spec A02): the gate formula, identity at closed gates, (2) ≡ (3), masking,
// gate noise, projection, gradients, state, errors.
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/gated_conv.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce_minmax.hpp>
#include <kexue/ops/slice.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace nn = kexue::nn;
using kx::tensor;
using kx::testing::tensors;

TEST_SUITE("nn.gated_conv") {
  TEST_CASE_TEMPLATE("gated_conv1d computes X(1 - s) + V s from one convolution with 2C outputs", T, float, double) {
    kx::generator gen(kexue_test_seed());
    nn::gated_conv1d<T> block(nn::gated_conv1d_options(3).dilation(2), gen);
    CHECK(block.conv->weight.shape() == kx::shape{6, 3, 3});
    CHECK(block.proj == nullptr);
    auto x = kx::randn<T>({2, 3, 7}, gen);
    auto h = kx::conv1d(x, block.conv->weight, block.conv->bias, 1, 2, 2);  // same padding at dilation 2
    auto v = kx::narrow(h, 1, 0, 3);
    auto s = kx::sigmoid(kx::narrow(h, 1, 3, 3));
    kx::testing::check_close(block(x), x * (kx::ones_like(s) - s) + v * s, 1e-5, 1e-6);
    // Without the residual: the gated linear unit V s.
    nn::gated_conv1d<T> glu(nn::gated_conv1d_options(3).residual(false), gen);
    auto hg = kx::conv1d(x, glu.conv->weight, glu.conv->bias, 1, 1);
    kx::testing::check_close(glu(x), kx::narrow(hg, 1, 0, 3) * kx::sigmoid(kx::narrow(hg, 1, 3, 3)), 1e-5, 1e-6);
  }

  TEST_CASE("with gate logits at -infinity the residual block is the identity") {
    kx::generator gen(kexue_test_seed() + 1);
    nn::gated_conv1d<double> block(nn::gated_conv1d_options(2), gen);
    // Zero weights on the gate half and a bias of -1e4: s = σ(-1e4) = 0 exactly in double, so Y = X.
    for (kx::index_t i = 2 * 2 * 3; i < block.conv->weight.numel(); ++i) block.conv->weight.data()[i] = 0;
    block.conv->bias.data()[2] = block.conv->bias.data()[3] = -1e4;
    auto x = kx::randn<double>({1, 2, 6}, gen);
    kx::testing::check_close(block(x), x);
  }

  TEST_CASE("forms (2) and (3) agree: X + (V - X) s with V' = V - X is X + V' s") {
    // (3) with conv_1 = V equals (2) with conv_1' = V − X: both give X + (V − X)·s; checked on the layer's output.
    kx::generator gen(kexue_test_seed() + 2);
    nn::gated_conv1d<double> block(nn::gated_conv1d_options(2).kernel_size(3), gen);
    auto x = kx::randn<double>({1, 2, 5}, gen);
    auto h = kx::conv1d(x, block.conv->weight, block.conv->bias, 1, 1);
    auto s = kx::sigmoid(kx::narrow(h, 1, 2, 2));
    auto form2 = x + (kx::narrow(h, 1, 0, 2) - x) * s;
    kx::testing::check_close(block(x), form2);
  }

  TEST_CASE("gated_conv1d masks its input before and its output after the convolution") {
    kx::generator gen(kexue_test_seed() + 3);
    nn::gated_conv1d<double> block(nn::gated_conv1d_options(2, 4).dilation(2), gen);
    REQUIRE(block.proj != nullptr);  // 2 → 4 channels: 1×1 residual projection
    auto x = kx::randn<double>({2, 2, 6}, gen);
    auto mask = kx::tensor<bool>{{true, true, true, true, false, false}, {true, true, true, true, true, true}};
    auto m = kx::unsqueeze(mask.to<double>(), 1);
    auto y = block(x, mask);
    CHECK(y.shape() == kx::shape{2, 4, 6});
    kx::testing::check_close(y, block(x * m) * m);
    CHECK(y(0, 3, 5) == 0);
    CHECK(y(0, 3, 3) != 0);
  }

  TEST_CASE("gate noise and gate dropout act in training only") {
    kx::generator gen(kexue_test_seed() + 4);
    nn::gated_conv1d<double> noisy(nn::gated_conv1d_options(2).gate_noise(0.1).gate_dropout(0.1), gen);
    auto x = kx::randn<double>({2, 2, 8}, gen);
    noisy.eval();
    auto clean = noisy(x);
    kx::testing::check_close(noisy(x), clean);
    noisy.train();
    auto a = noisy(x), b = noisy(x);
    double diff_ab = kx::max(kx::abs(a - b)).item(), diff_clean = kx::max(kx::abs(a - clean)).item();
    CHECK(diff_ab > 0);
    CHECK(diff_clean > 0);
  }

  TEST_CASE("gated_conv1d passes gradient checks for its parameters and input") {
    kx::generator gen(kexue_test_seed() + 5);
    nn::gated_conv1d<double> block(nn::gated_conv1d_options(2, 3).dilation(2), gen);
    auto x = kx::randn<double>({1, 2, 5}, gen).requires_grad(true);
    auto mask = kx::tensor<bool>{{true, true, true, true, false}};
    auto fn = [&](const tensors& v) {
      block.conv->weight = v[1];
      block.conv->bias = v[2];
      block.proj->weight = v[3];
      return block.forward(v[0], mask);
    };
    kx::testing::check_gradients(fn, {x, block.conv->weight, block.conv->bias, block.proj->weight});
    kx::testing::check_second_order(fn, {x, block.conv->weight, block.conv->bias, block.proj->weight});
  }

  TEST_CASE("gated_conv1d's state round-trips and its errors name the configuration") {
    kx::generator gen(kexue_test_seed() + 6);
    nn::gated_conv1d<float> a(nn::gated_conv1d_options(2, 3), gen), b(nn::gated_conv1d_options(2, 3), gen);
    CHECK(a.state_dict().keys() == std::vector<std::string>{"conv.weight", "conv.bias", "proj.weight", "proj.bias"});
    b.load_state_dict(a.state_dict());
    auto x = kx::randn<float>({1, 2, 4}, gen);
    kx::testing::check_close(b(x), a(x));
    CHECK_THROWS_WITH_AS(a(kx::zeros<float>({1, 3, 4})),
                         "gated_conv1d(in_channels=2, out_channels=3, kernel_size=3, dilation=1, padding=same, "
                         "residual=true): expected input [batch, 2, length], got [1, 3, 4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(
        nn::gated_conv1d<float>(nn::gated_conv1d_options(2).padding(nn::padding_mode::valid)),
        "gated_conv1d: padding must be same or causal (the output keeps the input's length), got valid",
        kx::value_error);
  }
}
