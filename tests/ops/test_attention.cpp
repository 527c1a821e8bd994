// SPDX-License-Identifier: MIT
// Tests of ops/attention.hpp, forward: hand case, masks, causal, fully masked rows, scale policies, patterns
// against dense attention with the equivalent mask, weights, error texts.
#include <cmath>       // std::exp, std::log, std::sqrt
#include <functional>  // std::function
#include <limits>      // infinity
#include <utility>     // std::pair
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/attention.hpp>
#include <kexue/ops/compare.hpp>

#include "support/fixtures.hpp"
#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

using kexue::attention_options;
using kexue::attention_pattern;
using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_values;

namespace {

using kexue::testing::inf;

using visible_fn = std::function<bool(index_t b, index_t h, index_t i, index_t j)>;
using add_fn = std::function<double(index_t b, index_t h, index_t i, index_t j)>;
using scale_fn = std::function<double(index_t b, index_t h, index_t i)>;

/// Attention the slow way, in double: p_ij ∝ exp(λ_i q_i·k_j + add_ij) over the visible j, zeros for a row
/// that sees nothing.
template <class T>
tensor<T> naive_attention(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, const visible_fn& visible,
                          const add_fn& add, const scale_fn& lam) {
  const index_t B = q.size(0), H = q.size(1), nq = q.size(2), d = q.size(3), nk = k.size(2), dv = v.size(3);
  auto out = kexue::zeros<T>({B, H, nq, dv});
  for (index_t b = 0; b < B; ++b) {
    for (index_t h = 0; h < H; ++h) {
      for (index_t i = 0; i < nq; ++i) {
        std::vector<double> z(nk, -inf);
        double m = -inf;
        for (index_t j = 0; j < nk; ++j) {
          if (!visible(b, h, i, j)) continue;
          double dot = 0;
          for (index_t c = 0; c < d; ++c) dot += double(q.at({b, h, i, c})) * double(k.at({b, h, j, c}));
          z[j] = lam(b, h, i) * dot + add(b, h, i, j);
          m = std::max(m, z[j]);
        }
        if (m == -inf) continue;
        double total = 0;
        for (index_t j = 0; j < nk; ++j) total += z[j] == -inf ? 0.0 : std::exp(z[j] - m);
        for (index_t j = 0; j < nk; ++j) {
          if (z[j] == -inf) continue;
          const double p = std::exp(z[j] - m) / total;
          for (index_t c = 0; c < dv; ++c)
            out.data()[((b * H + h) * nq + i) * dv + c] += T(p * double(v.at({b, h, j, c})));
        }
      }
    }
  }
  return out;
}

const add_fn no_add = [](index_t, index_t, index_t, index_t) { return 0.0; };
const visible_fn all_visible = [](index_t, index_t, index_t, index_t) { return true; };

scale_fn constant(double lam) {
  return [lam](index_t, index_t, index_t) { return lam; };
}

template <class T>
tensor<T> random(const shape& s, kexue::generator& gen) {
  return kexue::randn<T>(s, gen);
}

/// The attn_mask (true = hidden) of a pattern: the negation of attention_pattern_mask's keep mask.
tensor<bool> hidden_by(index_t nq, index_t nk, attention_pattern p, index_t k, bool causal = false) {
  return kexue::logical_not(kexue::attention_pattern_mask(nq, nk, p, k, causal));
}

}  // namespace

TEST_SUITE("ops.attention") {
  TEST_CASE_TEMPLATE("one query over two keys matches the hand computation", T, float, double) {
    // q = [1, 0], k = [[1, 0], [0, 1]], v = [[1, 2], [3, 4]], d = 2: logits [1/√2, 0],
    // p0 = e^0.70711 / (e^0.70711 + 1) = 0.6697615, out = p0·[1, 2] + (1 − p0)·[3, 4] = [1.6604769, 2.6604769].
    tensor<T> q = kexue::reshape(tensor<T>{1, 0}, {1, 1, 1, 2});
    tensor<T> k = kexue::reshape(tensor<T>{{1, 0}, {0, 1}}, {1, 1, 2, 2});
    tensor<T> v = kexue::reshape(tensor<T>{{1, 2}, {3, 4}}, {1, 1, 2, 2});
    check_values(kexue::scaled_dot_product_attention(q, k, v), {1, 1, 1, 2}, {1.6604769013466862, 2.6604769013466862},
                 1e-6, 1e-6);
  }

  TEST_CASE_TEMPLATE("masks and causal give the naive masked attention", T, float, double) {
    kexue::generator gen(kexue_test_seed());
    const index_t B = 2, H = 2, nq = 5, nk = 6, d = 3, dv = 4;
    auto q = random<T>({B, H, nq, d}, gen), k = random<T>({B, H, nk, d}, gen), v = random<T>({B, H, nk, dv}, gen);
    // padding: item 0 has 6 real keys, item 1 has 4.
    tensor<bool> pad = kexue::zeros<bool>({B, nk});
    pad.data()[nk + 4] = pad.data()[nk + 5] = true;
    // boolean mask per head [H, 1, nk]... as [1, H, nq, nk]: head 1 hides key 0 for every query.
    tensor<bool> hide = kexue::zeros<bool>({1, H, nq, nk});
    for (index_t i = 0; i < nq; ++i) hide.data()[(nq + i) * nk] = true;
    const double lam = 1 / std::sqrt(3.0);
    const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    for (int variant = 0; variant < 4; ++variant) {
      const bool causal = variant > 0;
      const index_t offset = variant == 2 ? 1 : variant == 3 ? -2 : 0;
      CAPTURE(causal);
      CAPTURE(offset);
      auto opt = attention_options<T>().key_padding_mask(pad).attn_mask(hide).causal(causal, offset);
      const visible_fn vis = [&](index_t b, index_t h, index_t i, index_t j) {
        return !pad.data()[b * nk + j] && !(h == 1 && j == 0) && (!causal || j <= i + offset);
      };
      check_close(kexue::scaled_dot_product_attention(q, k, v, opt),
                  naive_attention(q, k, v, vis, no_add, constant(lam)), tolerance, tolerance);
    }
  }

  TEST_CASE_TEMPLATE("sequences longer than one tile of queries give the naive result", T, float, double) {
    kexue::generator gen(kexue_test_seed() + 7);
    const index_t nq = 150, nk = 140, d = 4;  // three tiles of up to 64 query rows
    auto q = random<T>({1, 2, nq, d}, gen), k = random<T>({1, 2, nk, d}, gen), v = random<T>({1, 2, nk, 3}, gen);
    tensor<bool> pad = kexue::zeros<bool>({1, nk});
    pad.data()[70] = pad.data()[139] = true;
    auto add = random<T>({2, 1, nk}, gen);  // per head, broadcast over queries
    const add_fn af = [&](index_t, index_t h, index_t, index_t j) { return double(add.data()[h * nk + j]); };
    const double tolerance = std::is_same_v<T, float> ? 2e-5 : 1e-12;
    for (const index_t offset : {0, -10, 20}) {
      CAPTURE(offset);
      const visible_fn vis = [&](index_t, index_t, index_t i, index_t j) { return !pad.data()[j] && j <= i + offset; };
      const auto opt = attention_options<T>().key_padding_mask(pad).attn_mask(add).causal(true, offset);
      check_close(kexue::scaled_dot_product_attention(q, k, v, opt), naive_attention(q, k, v, vis, af, constant(0.5)),
                  tolerance, tolerance);
    }
  }

  TEST_CASE_TEMPLATE("an additive mask is added to the scaled logits", T, float, double) {
    kexue::generator gen(kexue_test_seed() + 1);
    const index_t B = 1, H = 2, nq = 3, nk = 4, d = 2;
    auto q = random<T>({B, H, nq, d}, gen), k = random<T>({B, H, nk, d}, gen), v = random<T>({B, H, nk, d}, gen);
    auto add = random<T>({nq, nk}, gen);  // broadcast over batch and heads
    add.data()[1 * nk + 2] = -std::numeric_limits<T>::infinity();
    const add_fn af = [&](index_t, index_t, index_t i, index_t j) { return double(add.data()[i * nk + j]); };
    const visible_fn vis = [&](index_t, index_t, index_t i, index_t j) { return !(i == 1 && j == 2); };
    const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    check_close(kexue::scaled_dot_product_attention(q, k, v, attention_options<T>().attn_mask(add).scale(0.7)),
                naive_attention(q, k, v, vis, af, constant(0.7)), tolerance, tolerance);
  }

  TEST_CASE_TEMPLATE("rows that see no key give zeros, never NaN", T, float, double) {
    kexue::generator gen(kexue_test_seed() + 2);
    auto q = random<T>({1, 1, 3, 2}, gen), k = random<T>({1, 1, 3, 2}, gen), v = random<T>({1, 1, 3, 2}, gen);
    tensor<bool> pad{{true, true, true}};
    const auto out = kexue::scaled_dot_product_attention(q, k, v, attention_options<T>().key_padding_mask(pad));
    check_values(out, {1, 1, 3, 2}, {0, 0, 0, 0, 0, 0});
    // causal with offset −1: query 0 sees nothing, query 1 sees key 0 only (its output is v_0).
    const auto c = kexue::scaled_dot_product_attention(q, k, v, attention_options<T>().causal(true, -1));
    CHECK(c.data()[0] == 0);
    CHECK(c.data()[1] == 0);
    CHECK(c.data()[2] == doctest::Approx(double(v.data()[0])));
    CHECK(c.data()[3] == doctest::Approx(double(v.data()[1])));
    // The same through the pattern engine.
    const auto l = kexue::scaled_dot_product_attention(
        q, k, v, attention_options<T>().key_padding_mask(pad).pattern(attention_pattern::local, 1));
    check_values(l, {1, 1, 3, 2}, {0, 0, 0, 0, 0, 0});
  }

  TEST_CASE_TEMPLATE("local, atrous and sparse equal dense attention with the pattern as a mask", T, float, double) {
    kexue::generator gen(kexue_test_seed() + 3);
    const index_t B = 2, H = 2, d = 3;
    const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    for (const auto& [nq, nk] : std::vector<std::pair<index_t, index_t>>{{11, 11}, {7, 13}, {13, 7}}) {
      for (const attention_pattern p :
           {attention_pattern::local, attention_pattern::atrous, attention_pattern::sparse}) {
        for (const index_t size : {1, 2, 3}) {
          for (int variant = 0; variant < 4; ++variant) {
            const bool causal = variant % 2 == 1, entropy = variant >= 2;
            CAPTURE(nq);
            CAPTURE(nk);
            CAPTURE(static_cast<int>(p));
            CAPTURE(size);
            CAPTURE(causal);
            CAPTURE(entropy);
            auto q = random<T>({B, H, nq, d}, gen), k = random<T>({B, H, nk, d}, gen);
            auto v = random<T>({B, H, nk, 2}, gen);
            tensor<bool> pad = kexue::zeros<bool>({B, nk});
            pad.data()[nk + 3] = true;  // item 1: key 3 is padding
            auto patterned = attention_options<T>().key_padding_mask(pad).pattern(p, size).causal(causal);
            auto masked = attention_options<T>().key_padding_mask(pad).attn_mask(hidden_by(nq, nk, p, size, causal));
            if (entropy) {
              patterned.entropy_invariant(1);
              masked.entropy_invariant(1);
            }
            const auto a = kexue::scaled_dot_product_attention_with_weights(q, k, v, patterned);
            const auto b = kexue::scaled_dot_product_attention_with_weights(q, k, v, masked);
            check_close(a.output, b.output, tolerance, tolerance);
            check_close(a.weights, b.weights, tolerance, tolerance);
          }
        }
      }
    }
  }

  TEST_CASE("pattern masks count the keys of the article's example") {
    // T = 1024, k = 32, interior query 512 (non-causal): atrous 32 keys, local 65, sparse 65 + 32 − 3 = 94.
    auto count = [](attention_pattern p) {
      const auto m = kexue::attention_pattern_mask(1024, 1024, p, 32);
      index_t n = 0;
      for (index_t j = 0; j < 1024; ++j) n += m.data()[512 * 1024 + j] ? 1 : 0;
      return n;
    };
    CHECK(count(attention_pattern::atrous) == 32);
    CHECK(count(attention_pattern::local) == 65);
    CHECK(count(attention_pattern::sparse) == 94);
  }

  TEST_CASE_TEMPLATE("the entropy-invariant scale is log_512(n)/sqrt(d) per row", T, float, double) {
    kexue::generator gen(kexue_test_seed() + 4);
    const double tolerance = std::is_same_v<T, float> ? 2e-5 : 1e-12;
    SUBCASE("it equals the standard scale at n = 512") {
      auto q = random<T>({1, 1, 2, 4}, gen), k = random<T>({1, 1, 512, 4}, gen), v = random<T>({1, 1, 512, 2}, gen);
      check_close(kexue::scaled_dot_product_attention(q, k, v, attention_options<T>().entropy_invariant()),
                  kexue::scaled_dot_product_attention(q, k, v), tolerance, tolerance);
    }
    SUBCASE("n below min_keys is clamped (16 by default), above it follows ln n / ln 512") {
      auto q = random<T>({1, 2, 3, 4}, gen), k = random<T>({1, 2, 5, 4}, gen), v = random<T>({1, 2, 5, 2}, gen);
      // n = 5 keys, d = 4: default λ = ln 16 / ln 512 / 2 = 0.4444444 / 2; with min_keys 1, ln 5 / ln 512 / 2.
      check_close(kexue::scaled_dot_product_attention(q, k, v, attention_options<T>().entropy_invariant()),
                  kexue::scaled_dot_product_attention(q, k, v, attention_options<T>().scale(0.4444444444444444 / 2)),
                  tolerance, tolerance);
      check_close(kexue::scaled_dot_product_attention(q, k, v, attention_options<T>().entropy_invariant(1)),
                  kexue::scaled_dot_product_attention(q, k, v, attention_options<T>().scale(0.2579920105430403 / 2)),
                  tolerance, tolerance);
    }
    SUBCASE("n counts the keys each query sees after padding and causal masking") {
      const index_t nq = 6, nk = 6, d = 4;
      auto q = random<T>({2, 1, nq, d}, gen), k = random<T>({2, 1, nk, d}, gen), v = random<T>({2, 1, nk, 3}, gen);
      tensor<bool> pad = kexue::zeros<bool>({2, nk});
      pad.data()[nk + 1] = true;
      const auto out = kexue::scaled_dot_product_attention(
          q, k, v, attention_options<T>().key_padding_mask(pad).causal(true).entropy_invariant(1));
      const visible_fn vis = [&](index_t b, index_t, index_t i, index_t j) {
        return j <= i && !pad.data()[b * nk + j];
      };
      const scale_fn lam = [&](index_t b, index_t, index_t i) {
        const index_t n = (i + 1) - (b == 1 && i >= 1 ? 1 : 0);
        return std::log(double(n)) / std::log(512.0) / 2.0;
      };
      check_close(out, naive_attention(q, k, v, vis, no_add, lam), tolerance, tolerance);
    }
  }

  TEST_CASE_TEMPLATE("weights are the softmax rows after masking", T, float, double) {
    kexue::generator gen(kexue_test_seed() + 5);
    auto q = random<T>({1, 2, 3, 2}, gen), k = random<T>({1, 2, 4, 2}, gen), v = random<T>({1, 2, 4, 2}, gen);
    const auto r = kexue::scaled_dot_product_attention_with_weights(q, k, v, attention_options<T>().causal(true));
    CHECK_FALSE(r.weights.requires_grad());
    for (index_t row = 0; row < 6; ++row) {
      const index_t i = row % 3;
      double total = 0;
      for (index_t j = 0; j < 4; ++j) {
        const double w = r.weights.data()[row * 4 + j];
        if (j > i) CHECK(w == 0);
        total += w;
      }
      CHECK(total == doctest::Approx(1.0));
    }
    // output = weights · v
    check_close(r.output, kexue::matmul(r.weights, v), 1e-5, 1e-5);
  }

  TEST_CASE("dropout zeroes weights and rescales the others by 1/(1 - p)") {
    kexue::generator gen(kexue_test_seed() + 6);
    auto q = random<double>({1, 1, 64, 4}, gen), k = random<double>({1, 1, 64, 4}, gen);
    auto v = random<double>({1, 1, 64, 2}, gen);
    kexue::generator a(7), b(7);
    const auto plain = kexue::scaled_dot_product_attention_with_weights(q, k, v);
    const auto dropped =
        kexue::scaled_dot_product_attention_with_weights(q, k, v, attention_options<double>().dropout(0.25, a));
    index_t zeros = 0;
    for (index_t e = 0; e < 64 * 64; ++e) {
      const double w = dropped.weights.data()[e];
      if (w == 0) {
        ++zeros;
      } else {
        CHECK(w == doctest::Approx(plain.weights.data()[e] / 0.75));
      }
    }
    CHECK(zeros > 64 * 64 / 8);  // about a quarter
    CHECK(zeros < 64 * 64 * 3 / 8);
    check_close(dropped.output, kexue::matmul(dropped.weights, v), 1e-12, 1e-12);
    // the same generator state gives the same mask
    const auto again =
        kexue::scaled_dot_product_attention_with_weights(q, k, v, attention_options<double>().dropout(0.25, b));
    check_close(again.weights, dropped.weights, 0, 0);
  }

  TEST_CASE("bad arguments are rejected with messages naming the shapes") {
    auto q = kexue::zeros<float>({1, 2, 3, 4}), k = kexue::zeros<float>({1, 2, 5, 4}),
         v = kexue::zeros<float>({1, 2, 5, 6});
    CHECK_THROWS_WITH_AS(kexue::scaled_dot_product_attention(q, kexue::zeros<float>({1, 2, 5, 3}), v),
                         "scaled_dot_product_attention: expected q [B, H, Nq, d], k [B, H, Nk, d], v [B, H, Nk, dv] "
                         "with d >= 1, got q [1, 2, 3, 4], k [1, 2, 5, 3], v [1, 2, 5, 6]",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::scaled_dot_product_attention(kexue::zeros<float>({2, 3, 4}), k, v),
                         "scaled_dot_product_attention: expected q [B, H, Nq, d], k [B, H, Nk, d], v [B, H, Nk, dv] "
                         "with d >= 1, got q [2, 3, 4], k [1, 2, 5, 4], v [1, 2, 5, 6]",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::scaled_dot_product_attention(
                             q, k, v, attention_options<float>().key_padding_mask(kexue::zeros<bool>({1, 4}))),
                         "scaled_dot_product_attention: key_padding_mask must be [B, Nk] = [1, 5], got [1, 4]",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(
        kexue::scaled_dot_product_attention(q, k, v, attention_options<float>().attn_mask(kexue::zeros<bool>({3, 4}))),
        "scaled_dot_product_attention: attn_mask shape [3, 4] does not broadcast to [B, H, Nq, Nk] = [1, 2, 3, 5]",
        kexue::shape_error);
    CHECK_THROWS_WITH_AS(
        kexue::scaled_dot_product_attention(q, k, v, attention_options<float>().pattern(attention_pattern::atrous, 0)),
        "scaled_dot_product_attention: the atrous rate k must be >= 1 (got 0)", kexue::value_error);
    CHECK_THROWS_WITH_AS(
        kexue::scaled_dot_product_attention(q, k, v, attention_options<float>().pattern(attention_pattern::local, -1)),
        "scaled_dot_product_attention: the local window k must be >= 0 (got -1)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::scaled_dot_product_attention(q, k, v, attention_options<float>().entropy_invariant(0)),
                         "scaled_dot_product_attention: min_keys must be >= 1 (got 0)", kexue::value_error);
    kexue::generator gen(1);
    CHECK_THROWS_WITH_AS(kexue::scaled_dot_product_attention(q, k, v, attention_options<float>().dropout(1.0, gen)),
                         "scaled_dot_product_attention: dropout p must lie in [0, 1) (got 1)", kexue::value_error);
    auto add = kexue::zeros<float>({3, 5}).requires_grad(true);
    CHECK_THROWS_WITH_AS(kexue::scaled_dot_product_attention(q, k, v, attention_options<float>().attn_mask(add)),
                         "scaled_dot_product_attention: the additive attn_mask requires a gradient, which is not "
                         "supported (the mask is a constant; detach it)",
                         kexue::value_error);
  }
}
