// SPDX-License-Identifier: MIT
// nn::vector_quantizer (A29): nearest codes, straight-through gradient, the two losses, EMA, usage statistics.
#include <cmath>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/vector_quantizer.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::testing::tensors;

namespace {
/// A 3-code, 2-d quantizer with the codebook e0 = (0, 0), e1 = (1, 0), e2 = (0, 2).
kx::nn::vector_quantizer<double> three_codes(kx::nn::vector_quantizer_options options = {3, 2}) {
  kx::nn::vector_quantizer<double> vq(options);
  const double values[] = {0, 0, 1, 0, 0, 2};
  for (int i = 0; i < 6; ++i) vq.codebook.data()[i] = values[i];
  return vq;
}
}  // namespace

TEST_SUITE("nn.vector_quantizer") {
  TEST_CASE("each vector maps to its nearest code and the output takes the code's value") {
    auto vq = three_codes();
    // (0.9, 0.1): distances² to e0, e1, e2 = 0.82, 0.02, 3.62 -> 1; (0.1, 1.5): 2.26, 3.06, 0.26 -> 2;
    // (−1, −1): 2, 5, 10 -> 0.
    const tensor<double> z = {{0.9, 0.1}, {0.1, 1.5}, {-1, -1}};
    const auto out = vq(z);
    CHECK(out.codes.to_vector() == std::vector<index_t>{1, 2, 0});
    kx::testing::check_values(out.quantized, {3, 2}, {1, 0, 0, 2, 0, 0});
    // codebook_loss = commitment_loss = mean of (z − z_q)² = (0.01 + 0.01 + 0.01 + 0.25 + 1 + 1) / 6.
    CHECK(out.codebook_loss.item() == doctest::Approx(2.28 / 6).epsilon(1e-12));
    CHECK(out.commitment_loss.item() == doctest::Approx(2.28 / 6).epsilon(1e-12));
    CHECK(out.loss.item() == doctest::Approx(1.25 * 2.28 / 6).epsilon(1e-12));
    // Usage: one vector per code; perplexity exp(ln 3) = 3.
    CHECK(vq.perplexity() == doctest::Approx(3));
    CHECK(vq.dead_codes() == 0);
    const auto rank3 = vq(kx::reshape(z, {3, 1, 2}));
    CHECK(rank3.codes.shape() == kx::shape{3, 1});
  }

  TEST_CASE("straight-through: d loss / d encoder output equals d loss / d decoder input") {
    auto vq = three_codes();
    const auto z = tensor<double>{{0.9, 0.1}, {0.1, 1.5}, {-1, -1}}.requires_grad(true);
    const auto out = vq(z);
    // A "decoder" and reconstruction loss: sum(sin(q) · c) with a fixed c.
    const tensor<double> c = {{1, 2}, {3, 4}, {5, 6}};
    const auto reconstruction = kx::sum(kx::mul(kx::sin(out.quantized), c));
    const auto g = kx::grad({reconstruction}, {z, out.quantized}, kx::grad_options().retain_graph(true));
    kx::testing::check_close(g[0], g[1]);
    const auto codebook_grad = kx::grad({reconstruction}, {vq.codebook}, kx::grad_options().allow_unused(true));
    CHECK(!codebook_grad[0].defined());  // the reconstruction never reaches the codebook
  }

  TEST_CASE("the codebook loss moves only codes, the commitment loss only encodings") {
    auto vq = three_codes();
    const auto z = tensor<double>{{0.9, 0.1}, {0.1, 1.5}, {-1, -1}}.requires_grad(true);
    const auto out = vq(z);
    const auto gc =
        kx::grad({out.codebook_loss}, {z, vq.codebook}, kx::grad_options().allow_unused(true).retain_graph(true));
    CHECK(!gc[0].defined());
    // d/de_k mean((z − e_k)²) = 2(e_k − z)/6 for the vector assigned to e_k.
    kx::testing::check_values(
        gc[1], {3, 2},
        {2.0 * (0 + 1) / 6, 2.0 * (0 + 1) / 6, 2.0 * 0.1 / 6, 2.0 * -0.1 / 6, 2.0 * -0.1 / 6, 2.0 * 0.5 / 6});
    const auto gm = kx::grad({out.commitment_loss}, {z, vq.codebook}, kx::grad_options().allow_unused(true));
    CHECK(!gm[1].defined());
    kx::testing::check_values(gm[0], {3, 2},
                              {2 * -0.1 / 6, 2 * 0.1 / 6, 2 * 0.1 / 6, 2 * -0.5 / 6, 2 * -1.0 / 6, 2 * -1.0 / 6});
    // Finite differences (assignments stay fixed under tiny perturbations). Each loss is checked only in the
    // input it is meant to train: finite differences see through stop_gradient, by design.
    kx::testing::check_gradients([&](const tensors& v) { return vq(v[0]).commitment_loss; }, {z});
    const auto z_fixed = z.detach().copy();
    kx::testing::check_gradients([&](const tensors&) { return vq(z_fixed).codebook_loss; }, {vq.codebook});
  }

  TEST_CASE("EMA updates set used codes to their (smoothed) centroids and leave unused codes alone") {
    auto vq = three_codes(kx::nn::vector_quantizer_options(3, 2).ema_decay(0.9).ema_epsilon(1e-5));
    CHECK(vq.parameters().empty());                                  // the codebook is a buffer
    const tensor<double> z = {{0.9, 0.1}, {1.1, -0.1}, {0.1, 1.5}};  // codes 1, 1, 2; code 0 unused
    vq(z);
    // After one update (bias-corrected): N̂ = (0, 2, 1), m̂_1 = (2, 0), m̂_2 = (0.1, 1.5); Ñ_k = (N̂_k + ε)/(3 + 3ε)·3.
    const double eps = 1e-5, n1 = (2 + eps) / (3 + 3 * eps) * 3, n2 = (1 + eps) / (3 + 3 * eps) * 3;
    kx::testing::check_values(vq.codebook, {3, 2}, {0, 0, 2 / n1, 0, 0.1 / n2, 1.5 / n2});
    CHECK(vq.dead_codes() == 1);
    CHECK(vq.perplexity() == doctest::Approx(std::exp(-(2.0 / 3) * std::log(2.0 / 3) - (1.0 / 3) * std::log(1.0 / 3))));
    vq.eval();  // evaluation changes nothing
    const auto before = vq.codebook.to_vector();
    vq(z);
    CHECK(vq.codebook.to_vector() == before);
    CHECK(vq.usage().to_vector() == std::vector<double>{0, 2, 1});
    vq.reset_usage();
    CHECK(vq.dead_codes() == 3);
  }

  TEST_CASE("state round trip and errors") {
    auto a = three_codes(kx::nn::vector_quantizer_options(3, 2).ema_decay(0.99));
    CHECK(a.state_dict().keys() == std::vector<std::string>{"codebook", "ema_count", "ema_sum", "ema_steps", "usage"});
    kx::nn::vector_quantizer<double> b(kx::nn::vector_quantizer_options(3, 2).ema_decay(0.99));
    b.load_state_dict(a.state_dict());
    CHECK(b.codebook.to_vector() == a.codebook.to_vector());
    CHECK_THROWS_WITH_AS(a(kx::zeros<double>({4, 3})),
                         "vector_quantizer(num_codes=3, code_dim=2, codebook_weight=1, commitment_weight=0.25, "
                         "ema_decay=0.99): expected input [..., 2], got [4, 3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::nn::vector_quantizer<float>(kx::nn::vector_quantizer_options(0, 2)),
                         "vector_quantizer: num_codes and code_dim must be positive, got 0 and 2", kx::value_error);
  }
}
