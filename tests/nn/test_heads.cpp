// SPDX-License-Identifier: MIT
// nn::gather_positions, nn::attention_pooling, nn::pointer_head (A02, A26).
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/heads.hpp>
#include <kexue/ops/math.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::testing::tensors;

TEST_SUITE("nn.heads") {
  TEST_CASE("gather_positions takes one token vector per example, with gradients back to it") {
    const auto h = kx::reshape(kx::arange<double>(12), {2, 3, 2}).requires_grad(true);
    const tensor<index_t> pos = {2, 0};
    kx::testing::check_values(kx::nn::gather_positions(h, pos), {2, 2}, {4, 5, 6, 7});
    kx::testing::check_gradients([&](const tensors& v) { return kx::square(kx::nn::gather_positions(v[0], pos)); },
                                 {h});
    CHECK_THROWS_WITH_AS(kx::nn::gather_positions(h, tensor<index_t>{3, 0}),
                         "gather_positions: position 3 of example 0 is outside [0, 3)", kx::index_error);
  }

  TEST_CASE("attention pooling is a softmax-weighted mean that ignores padded positions") {
    kx::generator gen(1);
    kx::nn::attention_pooling<double> pool(kx::nn::attention_pooling_options(3).hidden(4), gen);
    const auto h = kx::randn<double>({2, 4, 3}, 2).requires_grad(true);
    const tensor<bool> mask = {{true, true, false, false}, {true, true, true, true}};
    const auto out = pool(h, mask);
    CHECK(out.shape() == kx::shape{2, 3});
    const auto w = pool.weights(h, mask);
    CHECK(w(0, 2) == 0.0);
    CHECK(w(0, 0) + w(0, 1) == doctest::Approx(1.0));
    // out[0] = w00 h[0,0] + w01 h[0,1]: padded positions do not contribute.
    for (index_t j = 0; j < 3; ++j) {
      CHECK(out(0, j) == doctest::Approx(w(0, 0) * h(0, 0, j) + w(0, 1) * h(0, 1, j)).epsilon(1e-12));
    }
    // Changing a padded vector changes nothing.
    auto h2 = h.detach().copy();
    h2(0, 3, 1) = 100;
    kx::testing::check_close(pool(h2, mask).detach(), out.detach());
    auto params = pool.parameters();
    tensors inputs{h};
    inputs.insert(inputs.end(), params.begin(), params.end());
    kx::testing::check_gradients([&](const tensors& v) { return pool(v[0], mask); }, inputs);
    kx::nn::attention_pooling<double> swish_pool(
        kx::nn::attention_pooling_options(3).activation(kx::nn::pooling_activation::swish), gen);
    kx::testing::check_gradients([&](const tensors& v) { return swish_pool(v[0]); }, {h});
  }

  TEST_CASE("a tagging pointer head gives gated sigmoids, zero at padding") {
    kx::generator gen(3);
    kx::nn::pointer_head<double> head(kx::nn::pointer_head_options(3).pairs(2), gen);
    const auto h = kx::randn<double>({2, 4, 3}, 4).requires_grad(true);
    const tensor<bool> mask = {{true, true, true, false}, {true, true, true, true}};
    const tensor<double> gate = {0.5, 1.0};
    const auto out = head(h, mask, gate);
    CHECK(out.start.shape() == kx::shape{2, 4, 2});
    const auto logits = head.proj->forward(h);
    CHECK(out.start(0, 1, 1) == doctest::Approx(0.5 / (1 + std::exp(-logits(0, 1, 1)))).epsilon(1e-12));
    CHECK(out.end(1, 2, 0) == doctest::Approx(1.0 / (1 + std::exp(-logits(1, 2, 2)))).epsilon(1e-12));
    CHECK(out.start(0, 3, 0) == 0.0);
    kx::testing::check_gradients([&](const tensors& v) { return head(v[0], mask, v[1]).end; },
                                 {h, gate.copy().requires_grad(true), head.proj->weight});
  }

  TEST_CASE("a softmax pointer head puts all its mass on real positions") {
    kx::generator gen(5);
    kx::nn::pointer_head<double> head(kx::nn::pointer_head_options(3).mode(kx::nn::pointer_mode::softmax).bias(false),
                                      gen);
    const auto h = kx::randn<double>({1, 5, 3}, 6).requires_grad(true);
    const tensor<bool> mask = {{true, true, true, false, false}};
    const auto out = head(h, mask);
    double total = 0;
    for (index_t t = 0; t < 5; ++t) total += out.start(0, t, 0);
    CHECK(total == doctest::Approx(1.0));
    CHECK(out.start(0, 4, 0) == 0.0);
    CHECK(out.start_logits(0, 4, 0) == -1e12);
    kx::testing::check_gradients([&](const tensors& v) { return head(v[0], mask).start; }, {h});
    CHECK_THROWS_WITH_AS(head(h, tensor<bool>{{true, true}}),
                         "pointer_head(dim=3, pairs=1, mode=softmax): mask [1, 2] does not match the sequence "
                         "[1, 5, 3] (expected [1, 5])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(head(h, mask, tensor<double>{1.0}),
                         "pointer_head(dim=3, pairs=1, mode=softmax): a gate applies to tagging mode only",
                         kx::value_error);
  }
}
