// SPDX-License-Identifier: MIT
// Tests of ops/attention.hpp, sparse pattern (local tasks for |i − j| ≤ k plus strided tasks for the rest,
// merged by logsumexp): equal to dense attention with the explicit mask, forward and gradients, at lengths
// that are not multiples of k, with causal, padding, additive masks, entropy-invariant scale and dropout.
#include <limits>   // infinity
#include <utility>  // std::pair
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/attention.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/fixtures.hpp"
#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

using kexue::attention_options;
using kexue::attention_pattern;
using kexue::index_t;
using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_gradients;

namespace {

using tensors = std::vector<tensor<double>>;
using kexue::testing::inf;

struct sparse_case {
  index_t nq, nk, k;
  bool causal, entropy, additive;
};

/// Sparse attention and dense attention with the equivalent additive mask (the pattern as −inf, plus a random
/// per-head additive mask when asked), same padding: outputs, weights and the gradients of
/// sum(out ⊙ c1) + sum(weights ⊙ c2) agree.
void check_against_dense(const sparse_case& c, std::uint64_t salt) {
  CAPTURE(c.nq);
  CAPTURE(c.nk);
  CAPTURE(c.k);
  CAPTURE(c.causal);
  CAPTURE(c.entropy);
  CAPTURE(c.additive);
  kexue::generator gen(kexue_test_seed() + salt);
  const index_t B = 2, H = 2;
  const tensors x{kexue::randn<double>({B, H, c.nq, 3}, gen).requires_grad(true),
                  kexue::randn<double>({B, H, c.nk, 3}, gen).requires_grad(true),
                  kexue::randn<double>({B, H, c.nk, 2}, gen).requires_grad(true)};
  tensor<bool> pad = kexue::zeros<bool>({B, c.nk});
  pad.data()[c.nk + 2] = pad.data()[c.nk + c.nk - 1] = true;  // item 1: keys 2 and nk − 1 are padding
  tensor<double> add = kexue::zeros<double>({1, H, c.nq, c.nk});
  if (c.additive) {
    add = kexue::randn<double>({1, H, c.nq, c.nk}, gen);
    for (index_t e = 0; e < add.numel(); e += 7) add.data()[e] = -inf;
  }
  const tensor<bool> keep = kexue::attention_pattern_mask(c.nq, c.nk, attention_pattern::sparse, c.k, c.causal);
  tensor<double> explicit_mask = add.copy();
  for (index_t h = 0; h < H; ++h) {
    for (index_t e = 0; e < c.nq * c.nk; ++e) {
      if (!keep.data()[e]) explicit_mask.data()[h * c.nq * c.nk + e] = -inf;
    }
  }
  auto sparse = attention_options<double>().key_padding_mask(pad).pattern(attention_pattern::sparse, c.k);
  sparse.causal(c.causal);
  if (c.additive) sparse.attn_mask(add);
  auto dense = attention_options<double>().key_padding_mask(pad).attn_mask(explicit_mask);
  if (c.entropy) {
    sparse.entropy_invariant(3);
    dense.entropy_invariant(3);
  }
  kexue::generator cg(5);
  const auto c1 = kexue::randn<double>({B, H, c.nq, 2}, cg), c2 = kexue::randn<double>({B, H, c.nq, c.nk}, cg);
  tensors out, grads;
  for (const auto& o : {sparse, dense}) {
    const auto r = kexue::scaled_dot_product_attention_with_weights(x[0], x[1], x[2], o);
    out.push_back(r.output.detach());
    out.push_back(r.weights.detach());
    for (const auto& g : kexue::grad({kexue::sum(r.output * c1) + kexue::sum(r.weights * c2)}, x,
                                     kexue::grad_options().retain_graph(true))) {
      grads.push_back(g);
    }
    // the output alone (the sparse backward's own path, without the weights' gradient)
    for (const auto& g : kexue::grad({kexue::sum(r.output * c1)}, x)) grads.push_back(g);
  }
  check_close(out[0], out[2], 1e-12, 1e-12);
  check_close(out[1], out[3], 1e-12, 1e-12);
  for (int i = 0; i < 6; ++i) check_close(grads[i], grads[6 + i], 1e-11, 1e-11);
}

}  // namespace

TEST_SUITE("ops.attention") {
  TEST_CASE("sparse equals dense attention with the explicit mask, T not a multiple of k") {
    std::uint64_t salt = 100;
    for (const sparse_case& c : std::vector<sparse_case>{{37, 37, 4, false, false, false},
                                                         {37, 37, 5, true, false, false},
                                                         {37, 37, 6, false, true, true},
                                                         {37, 37, 4, true, true, true},
                                                         {20, 37, 5, false, false, true},
                                                         {37, 20, 3, true, false, false},
                                                         {9, 9, 16, false, false, false},
                                                         {24, 24, 8, true, true, false}}) {
      check_against_dense(c, ++salt);
    }
  }

  TEST_CASE("sparse with causal offset, where early rows see no strided key") {
    kexue::generator gen(kexue_test_seed() + 120);
    const tensors x{kexue::randn<double>({1, 1, 30, 2}, gen), kexue::randn<double>({1, 1, 34, 2}, gen),
                    kexue::randn<double>({1, 1, 34, 2}, gen)};
    for (const index_t offset : {index_t(-3), index_t(4)}) {
      CAPTURE(offset);
      const auto a = kexue::scaled_dot_product_attention_with_weights(
          x[0], x[1], x[2], attention_options<double>().pattern(attention_pattern::sparse, 4).causal(true, offset));
      const auto b = kexue::scaled_dot_product_attention_with_weights(
          x[0], x[1], x[2],
          attention_options<double>().attn_mask(
              kexue::logical_not(kexue::attention_pattern_mask(30, 34, attention_pattern::sparse, 4, true, offset))));
      check_close(a.output, b.output, 1e-12, 1e-12);
      check_close(a.weights, b.weights, 1e-12, 1e-12);
    }
  }

  TEST_CASE("sparse gradients with dropout pass the gradient check and match the composed backward") {
    const auto fn = [](const tensors& x) {
      kexue::generator gen(8);
      return kexue::scaled_dot_product_attention(
          x[0], x[1], x[2], attention_options<double>().dropout(0.25, gen).pattern(attention_pattern::sparse, 3));
    };
    kexue::generator gen(kexue_test_seed() + 130);
    const tensors small{kexue::randn<double>({1, 1, 8, 2}, gen).requires_grad(true),
                        kexue::randn<double>({1, 1, 8, 2}, gen).requires_grad(true),
                        kexue::randn<double>({1, 1, 8, 2}, gen).requires_grad(true)};
    check_gradients(fn, small);
    const tensors x{kexue::randn<double>({2, 2, 29, 3}, gen).requires_grad(true),
                    kexue::randn<double>({2, 2, 29, 3}, gen).requires_grad(true),
                    kexue::randn<double>({2, 2, 29, 2}, gen).requires_grad(true)};
    kexue::generator cg(6);
    const auto c = kexue::randn<double>({2, 2, 29, 2}, cg);
    const auto fused = kexue::grad({kexue::sum(fn(x) * c)}, x);
    const auto composed = kexue::grad({kexue::sum(fn(x) * c)}, x, kexue::grad_options().create_graph(true));
    for (int i = 0; i < 3; ++i) check_close(composed[i].detach(), fused[i], 1e-12, 1e-12);
  }
  TEST_CASE("no query or no key: empty outputs and weights, zero gradients of both orders") {
    kexue::generator gen(kexue_test_seed() + 140);
    for (const attention_pattern p : {attention_pattern::dense, attention_pattern::sparse}) {
      for (const auto& [nq, nk] : std::vector<std::pair<index_t, index_t>>{{0, 5}, {5, 0}}) {
        CAPTURE(static_cast<int>(p));
        CAPTURE(nq);
        const tensors x{kexue::randn<double>({1, 2, nq, 3}, gen).requires_grad(true),
                        kexue::randn<double>({1, 2, nk, 3}, gen).requires_grad(true),
                        kexue::randn<double>({1, 2, nk, 2}, gen).requires_grad(true)};
        const auto r = kexue::scaled_dot_product_attention_with_weights(
            x[0], x[1], x[2], attention_options<double>().pattern(p, 3).causal(true));
        CHECK(r.weights.shape() == kexue::shape{1, 2, nq, nk});
        for (const bool create_graph : {false, true}) {
          const auto g = kexue::grad({kexue::sum(r.output) + kexue::sum(r.weights)}, x,
                                     kexue::grad_options().retain_graph(true).create_graph(create_graph));
          for (int i = 0; i < 3; ++i) check_close(g[i].detach(), kexue::zeros_like(x[i]), 0, 0);
        }
      }
    }
  }
}
