// SPDX-License-Identifier: MIT
// nn/positional.hpp: learned, sinusoidal and rotary position encodings; rotate_pairs.
#include <cmath>  // std::sin, std::cos, std::pow

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/nn/positional.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reshape.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::testing::tensors;

TEST_SUITE("nn.positional") {
  TEST_CASE("rotate_pairs turns each pair by 90 degrees in both pairings") {
    const tensor<double> x{1, 2, 3, 4};
    // interleaved: (1, 2) → (−2, 1), (3, 4) → (−4, 3); half split: (x0, x2) = (1, 3) → (−3, 1), (2, 4) → (−4, 2).
    kx::testing::check_values(kx::rotate_pairs(x, true), {4}, {-2, 1, -4, 3});
    kx::testing::check_values(kx::rotate_pairs(x, false), {4}, {-3, -4, 1, 2});
    const auto y = kx::randn<double>({2, 6}, 1).requires_grad(true);
    kx::testing::check_gradients([](const tensors& v) { return kx::rotate_pairs(v[0], true); }, {y});
    kx::testing::check_second_order([](const tensors& v) { return kx::rotate_pairs(v[0] * v[0], false); }, {y});
    CHECK_THROWS_WITH_AS(kx::rotate_pairs(kx::zeros<double>({2, 3}), true),
                         "rotate_pairs: the last axis must have even length, got [2, 3]", kx::shape_error);
  }

  TEST_CASE("rotary embedding rotates pair i at position m by m * base^(-2i/dim)") {
    kx::nn::rotary_embedding<double> rope(kx::nn::rotary_embedding_options(4));
    // x at position 2 (offset 2, one position): pair 0 angle 2, pair 1 angle 2/100.
    const tensor<double> x = kx::reshape(tensor<double>{1, 0, 0, 1}, {1, 4});
    const double a = 2.0, b = 2.0 / 100.0;
    kx::testing::check_values(rope.forward(x, 2), {1, 4}, {std::cos(a), std::sin(a), -std::sin(b), std::cos(b)});
    CHECK(rope.to_string() == "rotary_embedding(dim=4, base=10000, interleaved=true)");
  }

  TEST_CASE("rotary queries and keys have dot products that depend only on the relative position") {
    for (bool interleaved : {true, false}) {
      kx::nn::rotary_embedding<double> rope(kx::nn::rotary_embedding_options(8).interleaved(interleaved));
      const auto q = kx::randn<double>({1, 8}, 2), k = kx::randn<double>({1, 8}, 3);
      auto dot = [&](index_t m, index_t n) {
        return kx::matmul(rope.forward(q, m), rope.forward(k, n), false, true).item();
      };
      CHECK(dot(5, 2) == doctest::Approx(dot(3, 0)));
      CHECK(dot(9, 7) == doctest::Approx(dot(2, 0)));
      CHECK(dot(1, 4) == doctest::Approx(dot(0, 3)));
    }
    CHECK_THROWS_WITH_AS(kx::nn::rotary_embedding<float>(kx::nn::rotary_embedding_options(5)),
                         "rotary_embedding: dim must be even and >= 0 and base > 0, got dim=5, base=10000",
                         kx::value_error);
  }

  TEST_CASE("sinusoidal encoding adds sin and cos of position / base^(2i/dim)") {
    kx::nn::sinusoidal_positional_encoding<double> pe(4);
    const auto x = kx::zeros<double>({1, 2, 4});
    // position 1: [sin 1, cos 1, sin 0.01, cos 0.01]
    kx::testing::check_values(pe.forward(x), {1, 2, 4},
                              {0, 1, 0, 1, std::sin(1.0), std::cos(1.0), std::sin(0.01), std::cos(0.01)});
    CHECK(pe.parameters().empty());
    CHECK_THROWS_WITH_AS(pe.forward(kx::zeros<double>({2, 3, 5})),
                         "sinusoidal_positional_encoding(dim=4, base=10000): expected input [..., N, 4], got [2, 3, 5]",
                         kx::shape_error);
  }

  TEST_CASE("learned positions add rows offset .. offset + N - 1 of the table and train it") {
    kx::generator gen(4);
    kx::nn::learned_positional_embedding<double> pe(kx::nn::learned_positional_embedding_options(8, 4), gen);
    CHECK(pe.weight.shape() == kx::shape{8, 4});
    const auto x = kx::randn<double>({2, 3, 4}, gen).requires_grad(true);
    const auto y = pe.forward(x, 2);
    for (index_t i = 0; i < 3 * 4; ++i) CHECK(y.data()[12 + i] == x.data()[12 + i] + pe.weight.data()[8 + i]);
    kx::testing::check_gradients([&](const tensors& v) { return pe.forward(v[0], 1); }, {x, pe.weight});
    CHECK_THROWS_WITH_AS(pe.forward(kx::zeros<double>({2, 9, 4})),
                         "learned_positional_embedding(max_length=8, dim=4): expected input [..., N <= 8, 4] (offset "
                         "0), got [2, 9, 4]",
                         kx::shape_error);
  }
}
