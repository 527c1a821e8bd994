// SPDX-License-Identifier: MIT
// Tests of nn/norm.hpp: layer_norm, rms_norm, batch_norm1d and batch_norm2d (train/eval, running statistics,
// buffers, state_dict, gradients, errors).
#include <vector>

#include <doctest/doctest.h>

#include <kexue/nn/norm.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::shape;
using kx::tensor;
using kx::testing::check_close;
using kx::testing::check_values;
using tensors = std::vector<tensor<double>>;

TEST_SUITE("nn.norm") {
  TEST_CASE("layer_norm has weight 1 and bias 0, normalises, and checks its input") {
    kx::nn::layer_norm<double> ln(kx::nn::layer_norm_options({4}));
    CHECK(ln.named_parameters().size() == 2);
    CHECK(ln.named_parameters()[0].first == "weight");
    check_values(ln.weight, {4}, {1, 1, 1, 1});
    check_values(ln.bias, {4}, {0, 0, 0, 0});
    // [1, 2, 3, 4]: μ 2.5, σ² 1.25, ε 1e-5: (x − 2.5)/√1.250010
    check_values(ln(tensor<double>{{1, 2, 3, 4}}), {1, 4},
                 {-1.3416354199689269, -0.447211806656309, 0.447211806656309, 1.3416354199689269});
    CHECK(ln.to_string() == "layer_norm(normalized_shape=[4], eps=1e-05, elementwise_affine=true)");
    CHECK_THROWS_WITH_AS(kx::nn::layer_norm<float>(kx::nn::layer_norm_options({8}))(kx::zeros<float>({4, 6})),
                         "layer_norm(normalized_shape=[8], eps=1e-05): expected input [..., 8], got [4, 6]",
                         kx::shape_error);
    kx::nn::layer_norm<float> plain(kx::nn::layer_norm_options({2, 3}).elementwise_affine(false));
    CHECK(plain.parameters().empty());
    kx::nn::layer_norm<float> no_bias(kx::nn::layer_norm_options({3}).bias(false));
    CHECK(no_bias.parameters().size() == 1);
  }

  TEST_CASE("layer_norm and rms_norm layers pass gradient checks in every parameter and round-trip state") {
    const auto x = kx::randn<double>({3, 5}, 2).requires_grad(true);
    kx::nn::layer_norm<double> ln2(kx::nn::layer_norm_options({5}).eps(1e-3));
    kx::testing::check_gradients([&](const tensors& v) { return ln2(v[0]); }, {x, ln2.weight, ln2.bias});
    kx::testing::check_second_order([&](const tensors& v) { return ln2(v[0]); }, {x, ln2.weight, ln2.bias});
    kx::nn::rms_norm<double> rms2(kx::nn::rms_norm_options({5}));
    kx::testing::check_gradients([&](const tensors& v) { return rms2(v[0]); }, {x, rms2.weight});
    check_close(rms2(x).detach(), kx::rms_norm(x, {5}, {}, 1e-6).detach());
    CHECK(rms2.to_string() == "rms_norm(normalized_shape=[5], eps=1e-06, elementwise_affine=true)");
    // state_dict round trip
    kx::nn::layer_norm<double> other(kx::nn::layer_norm_options({5}).eps(1e-3));
    ln2.weight.data()[2] = 7;
    other.load_state_dict(ln2.state_dict());
    CHECK(other.weight(2) == 7);
    check_close(other(x).detach(), ln2(x).detach());
  }

  TEST_CASE_TEMPLATE("batch_norm1d updates its running statistics in training and uses them in evaluation", T, float,
                     double) {
    kx::nn::batch_norm1d<T> bn(kx::nn::batch_norm_options(2));
    CHECK(bn.named_buffers().size() == 3);
    CHECK(bn.named_buffers()[2].first == "num_batches_tracked");
    const tensor<T> x = {{1, 0}, {2, 4}, {3, 0}, {4, 4}};  // channel μ [2.5, 2], unbiased σ² [5/3, 16/3]
    const auto y = bn(x);
    // running ← 0.9·[0, 0] + 0.1·μ = [0.25, 0.2];  0.9·[1, 1] + 0.1·σ²_unbiased
    check_values(bn.running_mean, {2}, {0.25, 0.2});
    check_values(bn.running_var, {2}, {0.9 + 1.0 / 6, 0.9 + 1.6 / 3});
    check_values(bn.num_batches_tracked, {}, {1});
    check_close(y, kx::batch_norm(x, {}, {}, {}, {}, true, T(0.1), T(1e-5)));
    bn.eval();
    // evaluation: (x − running_mean)/√(running_var + ε), the running statistics unchanged
    check_close(bn(x), kx::batch_norm(x, bn.running_mean, bn.running_var, {}, {}, false, T(0.1), T(1e-5)));
    check_values(bn.running_mean, {2}, {0.25, 0.2});
    check_values(bn.num_batches_tracked, {}, {1});
  }

  TEST_CASE("momentum none is the cumulative average; without tracking, batch statistics are used in evaluation") {
    kx::nn::batch_norm1d<double> bn(kx::nn::batch_norm_options(1).momentum(std::nullopt));
    bn(tensor<double>{{1}, {3}});  // μ 2, unbiased σ² 2: m = 1/1 → running = batch
    bn(tensor<double>{{5}, {9}});  // μ 7, σ² 8: m = 1/2 → mean (2 + 7)/2, var (2 + 8)/2
    check_values(bn.running_mean, {1}, {4.5});
    check_values(bn.running_var, {1}, {5});
    CHECK(bn.to_string() ==
          "batch_norm1d(num_features=1, eps=1e-05, momentum=none, affine=true, track_running_stats=true)");
    kx::nn::batch_norm1d<double> untracked(kx::nn::batch_norm_options(2).track_running_stats(false));
    CHECK(untracked.buffers().empty());
    untracked.eval();
    const tensor<double> x = {{1, 0}, {2, 4}, {3, 0}, {4, 4}};
    check_close(untracked(x), kx::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5));
  }

  TEST_CASE("batch_norm2d normalises [N, C, H, W] per channel and checks its input; gradients and state") {
    kx::nn::batch_norm2d<double> bn(kx::nn::batch_norm_options(3).eps(1e-3));
    const auto x = kx::randn<double>({2, 3, 2, 2}, 4).requires_grad(true);
    kx::testing::check_gradients([&](const tensors& v) { return bn(v[0]); }, {x, bn.weight, bn.bias});
    kx::testing::check_second_order([&](const tensors& v) { return bn(v[0]); }, {x, bn.weight, bn.bias});
    bn.eval();
    kx::testing::check_gradients([&](const tensors& v) { return bn(v[0]); }, {x, bn.weight, bn.bias});
    kx::nn::batch_norm2d<double> other(kx::nn::batch_norm_options(3).eps(1e-3));
    other.load_state_dict(bn.state_dict());
    other.eval();
    check_close(other.running_var, bn.running_var);
    check_close(other(x).detach(), bn(x).detach());
    CHECK_THROWS_WITH_AS(kx::nn::batch_norm2d<float>(kx::nn::batch_norm_options(4))(kx::zeros<float>({2, 4, 3})),
                         "batch_norm2d(num_features=4, eps=1e-05, momentum=0.1, affine=true, "
                         "track_running_stats=true): expected input [N, 4, H, W], got [2, 4, 3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::nn::batch_norm1d<float>(kx::nn::batch_norm_options(4))(kx::zeros<float>({2, 3})),
                         "batch_norm1d(num_features=4, eps=1e-05, momentum=0.1, affine=true, "
                         "track_running_stats=true): expected input [N, 4] or [N, 4, L], got [2, 3]",
                         kx::shape_error);
  }
}
