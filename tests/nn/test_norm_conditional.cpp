// SPDX-License-Identifier: MIT
// Tests of nn/norm.hpp's conditional layers: conditional_layer_norm (A26), conditional_batch_norm and
// self_modulated_batch_norm (A20).
#include <algorithm>  // std::copy
#include <vector>

#include <doctest/doctest.h>

#include <kexue/nn/norm.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::testing::check_close;
using kx::testing::check_values;
using tensors = std::vector<tensor<double>>;

namespace {

/// Writes src's values into the parameter dst in place (the layer keeps the same handle).
void assign(const tensor<double>& dst, const tensor<double>& src) {
  REQUIRE(dst.shape() == src.shape());
  std::copy(src.data(), src.data() + src.numel(), dst.data());
  dst.bump_version();
}

}  // namespace

TEST_SUITE("nn.norm") {
  TEST_CASE("conditional_layer_norm starts as layer norm and follows (γ + W_γ c)·x̂ + (β + W_β c)") {
    kx::nn::conditional_layer_norm<double> cln(kx::nn::conditional_layer_norm_options(4, 3));
    const auto x = kx::randn<double>({2, 5, 4}, 1).requires_grad(true);
    const auto c = kx::randn<double>({2, 3}, 2).requires_grad(true);  // one condition per sequence
    // Zero-initialised projections: exactly a plain layer norm.
    check_values(cln.gamma_dense->weight, {4, 3}, std::vector<double>(12, 0.0));
    check_close(cln(x, c).detach(), kx::layer_norm(x, {4}).detach(), 0, 0);
    // With W_γ, W_β set: y[b, t] = (γ + W_γ c_b) ⊙ x̂[b, t] + (β + W_β c_b).
    for (index_t i = 0; i < 12; ++i) {
      cln.gamma_dense->weight.data()[i] = 0.1 * static_cast<double>(i);
      cln.beta_dense->weight.data()[i] = -0.05 * static_cast<double>(i);
    }
    cln.weight.data()[1] = 2;
    const auto xhat = kx::layer_norm(x, {4}).detach();
    const auto y = cln(x, c).detach();
    for (index_t b = 0; b < 2; ++b) {
      for (index_t d = 0; d < 4; ++d) {
        double wg = cln.weight(d), wb = cln.bias(d);
        for (index_t k = 0; k < 3; ++k) {
          wg += cln.gamma_dense->weight(d, k) * c(b, k);
          wb += cln.beta_dense->weight(d, k) * c(b, k);
        }
        for (index_t t = 0; t < 5; ++t) CHECK(y.at({b, t, d}) == doctest::Approx(wg * xhat.at({b, t, d}) + wb));
      }
    }
    kx::testing::check_gradients([&](const tensors& v) { return cln(v[0], v[1]); },
                                 {x, c, cln.weight, cln.bias, cln.gamma_dense->weight, cln.beta_dense->weight});
    kx::testing::check_second_order([&](const tensors& v) { return cln(v[0], v[1]); }, {x, c, cln.weight});
    // A per-token condition [2, 5, 3] works too.
    CHECK(cln(x, kx::randn<double>({2, 5, 3}, 3)).shape() == kx::shape{2, 5, 4});
    CHECK(cln.extra_repr() == "normalized_size=4, condition_size=3, eps=1e-05");
    CHECK_THROWS_WITH_AS(cln(x, kx::zeros<double>({3, 3})),
                         "conditional_layer_norm(normalized_size=4, condition_size=3, eps=1e-05): expected input "
                         "[..., 4] and condition [..., 3] whose leading axes broadcast to the input's, got [2, 5, 4] "
                         "and [3, 3]",
                         kx::shape_error);
    kx::nn::conditional_layer_norm<double> copy(kx::nn::conditional_layer_norm_options(4, 3));
    copy.load_state_dict(cln.state_dict());
    check_close(copy(x, c).detach(), cln(x, c).detach());
  }

  TEST_CASE("conditional_batch_norm with γ = 1, β = 0 equals batch norm without affine; labels pick the rows") {
    kx::nn::conditional_batch_norm<double> cbn(kx::nn::conditional_batch_norm_options(3, 4));
    const auto x = kx::randn<double>({4, 3, 2}, 5).requires_grad(true);
    const tensor<index_t> labels = {0, 3, 3, 1};
    check_close(cbn(x, labels).detach(), kx::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5).detach());
    check_values(cbn.running_mean, {3}, kx::mul_scalar(kx::mean(x, {0, 2}), 0.1).detach().to_vector());
    cbn.gamma.data()[3 * 3 + 1] = 2;  // class 3, channel 1
    cbn.beta.data()[3 * 3 + 1] = -1;
    const auto plain = kx::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5).detach();
    const auto y = cbn(x, labels).detach();
    for (index_t n = 0; n < 4; ++n) {
      for (index_t l = 0; l < 2; ++l) {
        const bool hit = labels(n) == 3;
        CHECK(y.at({n, 1, l}) == doctest::Approx(hit ? 2 * plain.at({n, 1, l}) - 1 : plain.at({n, 1, l})));
        CHECK(y.at({n, 0, l}) == doctest::Approx(plain.at({n, 0, l})));
      }
    }
    kx::testing::check_gradients([&](const tensors& v) { return cbn(v[0], labels); }, {x, cbn.gamma, cbn.beta});
    cbn.eval();
    kx::testing::check_second_order([&](const tensors& v) { return cbn(v[0], labels); }, {x, cbn.gamma});
    CHECK_THROWS_WITH_AS(cbn(x, tensor<index_t>{0, 1}),
                         "conditional_batch_norm(num_features=3, num_classes=4): expected input [N, 3, ...] and "
                         "labels [N], got [4, 3, 2] and [2]",
                         kx::shape_error);
  }

  TEST_CASE("self_modulated_batch_norm starts as batch norm, then modulates by MLPs of z") {
    kx::generator gen(7);
    kx::nn::self_modulated_batch_norm<double> sm(kx::nn::self_modulated_batch_norm_options(3, 5).hidden(4), gen);
    const auto x = kx::randn<double>({4, 3, 2, 2}, 6).requires_grad(true);
    const auto z = kx::randn<double>({4, 5}, 7).requires_grad(true);
    check_close(sm(x, z).detach(), kx::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5).detach(), 1e-12, 1e-12);
    CHECK(sm.named_parameters().size() == 8);  // 4 linear layers with bias
    // Give the output layers values: y = BN(x)·(1 + γ(z)) + β(z), γ(z) = W2 relu(W1 z + b1) + b2.
    assign(sm.gamma_out->weight, kx::randn<double>({3, 4}, 8));
    assign(sm.beta_out->bias, tensor<double>{0.5, -0.5, 1});
    const auto bn = kx::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5).detach();
    const auto g = kx::add_scalar((*sm.gamma_out)(kx::relu((*sm.gamma_hidden)(z))), 1.0).detach();  // [4, 3]
    const auto b = (*sm.beta_out)(kx::relu((*sm.beta_hidden)(z))).detach();
    const auto y = sm(x, z).detach();
    for (index_t n = 0; n < 4; ++n)
      for (index_t c = 0; c < 3; ++c)
        CHECK(y.at({n, c, 1, 0}) == doctest::Approx(bn.at({n, c, 1, 0}) * g(n, c) + b(n, c)));
    kx::testing::check_gradients([&](const tensors& v) { return sm(v[0], v[1]); },
                                 {x, z, sm.gamma_out->weight, sm.gamma_hidden->weight, sm.beta_out->bias});
    kx::testing::check_second_order([&](const tensors& v) { return sm(v[0], v[1]); }, {x, z});
    CHECK_THROWS_WITH_AS(sm(x, kx::zeros<double>({4, 4})),
                         "self_modulated_batch_norm(num_features=3, z_dim=5, hidden=4): expected input [N, 3, ...] "
                         "and z [N, 5], got [4, 3, 2, 2] and [4, 4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(sm(x, z, tensor<index_t>{0, 1, 0, 1}),
                         "self_modulated_batch_norm(num_features=3, z_dim=5, hidden=4): labels given but num_classes "
                         "is 0",
                         kx::value_error);
  }

  TEST_CASE("conditional SELF-MOD feeds z + E(c) + E'(c)·z to the MLPs; without one_plus_gamma γ starts at 1") {
    kx::nn::self_modulated_batch_norm<double> sm(
        kx::nn::self_modulated_batch_norm_options(2, 3).hidden(4).num_classes(2).one_plus_gamma(false));
    const auto x = kx::randn<double>({3, 2}, 1).requires_grad(true);
    const auto z = kx::randn<double>({3, 3}, 2).requires_grad(true);
    const tensor<index_t> labels = {1, 0, 1};
    check_close(sm(x, z, labels).detach(), kx::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5).detach(), 1e-12, 1e-12);
    assign(sm.gamma_out->weight, kx::randn<double>({2, 4}, 3));
    assign(sm.class_shift, kx::randn<double>({2, 3}, 4));
    assign(sm.class_scale, kx::randn<double>({2, 3}, 5));
    // z' for row 0 (class 1) = z0 + E1 + E'1 ⊙ z0; the output depends on z' only.
    const auto zp =
        kx::add(kx::add(z, kx::embedding(labels, sm.class_shift)), kx::mul(kx::embedding(labels, sm.class_scale), z))
            .detach();
    kx::nn::self_modulated_batch_norm<double> plain(
        kx::nn::self_modulated_batch_norm_options(2, 3).hidden(4).one_plus_gamma(false));
    for (const auto& [name, t] : plain.named_parameters()) assign(t, sm.state_dict().get<double>(name));
    check_close(sm(x, z, labels).detach(), plain(x, zp).detach(), 1e-12, 1e-12);
    kx::testing::check_gradients([&](const tensors& v) { return sm(v[0], v[1], labels); },
                                 {x, z, sm.class_shift, sm.class_scale});
    CHECK_THROWS_WITH_AS(sm(x, z),
                         "self_modulated_batch_norm(num_features=2, z_dim=3, hidden=4, one_plus_gamma=false, "
                         "num_classes=2): labels are required when num_classes > 0",
                         kx::value_error);
  }
}
