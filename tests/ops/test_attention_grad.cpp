// SPDX-License-Identifier: MIT
// Tests of ops/attention.hpp, gradients: first order (fused backward) and second order (composed backward)
// in double for masks, causal, scale policies, patterns and dropout; the same for the differentiable attention
// weights (a loss mixing output and weights), and no weights graph when nothing needs a gradient.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/attention.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

using kexue::attention_options;
using kexue::attention_pattern;
using kexue::index_t;
using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;

namespace {

using tensors = std::vector<tensor<double>>;

/// q [B, 2, 4, 3], k [B, 2, 5, 3], v [B, 2, 5, 2], all requiring gradients.
tensors inputs(index_t batch, std::uint64_t salt) {
  kexue::generator gen(kexue_test_seed() + salt);
  return {kexue::randn<double>({batch, 2, 4, 3}, gen).requires_grad(true),
          kexue::randn<double>({batch, 2, 5, 3}, gen).requires_grad(true),
          kexue::randn<double>({batch, 2, 5, 2}, gen).requires_grad(true)};
}

/// The option sets the gradient tests run through (B = 2 where padding is used).
struct named_options {
  std::string name;
  attention_options<double> options;
};

std::vector<named_options> option_sets() {
  tensor<bool> pad = kexue::zeros<bool>({2, 5});
  pad.data()[5 + 4] = true;
  pad.data()[5 + 1] = true;
  tensor<bool> hide = kexue::zeros<bool>({4, 5});
  hide.data()[0 * 5 + 2] = true;
  hide.data()[3 * 5 + 0] = true;
  kexue::generator gen(3);
  auto additive = kexue::randn<double>({2, 1, 4, 5}, gen);
  additive.data()[7] = -std::numeric_limits<double>::infinity();
  tensor<bool> all = kexue::zeros<bool>({2, 5});
  for (index_t j = 0; j < 5; ++j) all.data()[j] = true;  // item 0: every key is padding
  using o = attention_options<double>;
  return {
      {"dense", o()},
      {"padding and boolean mask", o().key_padding_mask(pad).attn_mask(hide)},
      {"additive mask and fixed scale", o().attn_mask(additive).scale(0.8)},
      {"causal", o().causal(true)},
      {"causal with offset -1 and padding", o().causal(true, -1).key_padding_mask(pad)},
      {"entropy-invariant with padding", o().entropy_invariant(1).key_padding_mask(pad).causal(true, 1)},
      {"fully padded item", o().key_padding_mask(all)},
      {"local 1", o().pattern(attention_pattern::local, 1).key_padding_mask(pad)},
      {"atrous 2 causal", o().pattern(attention_pattern::atrous, 2).causal(true, 1)},
      {"sparse 2 entropy", o().pattern(attention_pattern::sparse, 2).entropy_invariant(2).attn_mask(hide)},
      {"sparse 1 causal, additive mask", o().pattern(attention_pattern::sparse, 1).causal(true).attn_mask(additive)},
  };
}

/// sum(out ⊙ c1) + sum(weights ⊙ c2) with fixed random c1, c2: a loss through both results.
tensor<double> mixed_loss(const kexue::attention_result<double>& r) {
  kexue::generator gen(77);
  const auto c1 = kexue::randn<double>(r.output.shape(), gen);
  const auto c2 = kexue::randn<double>(r.weights.shape(), gen);
  return kexue::sum(r.output * c1) + kexue::sum(r.weights * c2);
}

/// Gradient checks of both orders for option_sets()[begin, end).
void check_option_sets(std::size_t begin, std::size_t end) {
  const auto sets = option_sets();
  REQUIRE(sets.size() == 11);
  for (std::size_t i = begin; i < end; ++i) {
    const auto& [name, options] = sets[i];
    CAPTURE(name);
    const auto fn = [opt = options](const tensors& x) {
      return kexue::scaled_dot_product_attention(x[0], x[1], x[2], opt);
    };
    const index_t batch = options.key_padding_mask().defined() || options.additive_mask().defined() ? 2 : 1;
    check_gradients(fn, inputs(batch, 10));
    check_second_order(fn, inputs(batch, 20));
  }
}

/// Gradient checks of sum(out ⊙ c1) + sum(weights ⊙ c2) for option_sets()[i], i in `which` (second order too
/// when `second`).
void check_weight_sets(const std::vector<std::size_t>& which, bool second) {
  const auto sets = option_sets();
  for (const std::size_t i : which) {
    const auto& [name, options] = sets[i];
    CAPTURE(name);
    const auto fn = [opt = options](const tensors& x) {
      return mixed_loss(kexue::scaled_dot_product_attention_with_weights(x[0], x[1], x[2], opt));
    };
    check_gradients(fn, inputs(2, 50 + i));
    if (second) check_second_order(fn, inputs(2, 60 + i));
  }
}

}  // namespace

TEST_SUITE("ops.attention") {
  // First and second order per option set; batch 2 only where a mask differs between the batch items.
  TEST_CASE("gradients pass first- and second-order checks with masks and a fixed scale") { check_option_sets(0, 3); }

  TEST_CASE("gradients pass first- and second-order checks with causal, entropy-invariant scale, full padding") {
    check_option_sets(3, 7);
  }

  TEST_CASE("gradients pass first- and second-order checks with local, atrous and sparse patterns") {
    check_option_sets(7, 11);
  }

  TEST_CASE("dropout gradients use the forward's mask") {
    const auto fn = [](const tensors& x) {
      kexue::generator gen(5);  // the same mask at every evaluation
      return kexue::scaled_dot_product_attention(x[0], x[1], x[2], attention_options<double>().dropout(0.3, gen));
    };
    check_gradients(fn, inputs(1, 30));
    check_second_order(fn, inputs(1, 31));
    const auto local = [](const tensors& x) {
      kexue::generator gen(6);
      return kexue::scaled_dot_product_attention(
          x[0], x[1], x[2], attention_options<double>().dropout(0.3, gen).pattern(attention_pattern::local, 1));
    };
    check_gradients(local, inputs(1, 32));
    check_second_order(local, inputs(1, 33));
  }

  TEST_CASE("the fused and composed backward agree, and only inputs that need a gradient get one") {
    for (const auto& [name, options] : option_sets()) {
      CAPTURE(name);
      const tensors x = inputs(2, 40);
      auto fused_out = kexue::scaled_dot_product_attention(x[0], x[1], x[2], options);
      const auto fused = kexue::grad({kexue::sum(kexue::square(fused_out))}, {x[0], x[1], x[2]});
      auto composed_out = kexue::scaled_dot_product_attention(x[0], x[1], x[2], options);
      const auto composed = kexue::grad({kexue::sum(kexue::square(composed_out))}, {x[0], x[1], x[2]},
                                        kexue::grad_options().create_graph(true));
      for (int i = 0; i < 3; ++i) check_close(composed[i].detach(), fused[i], 1e-12, 1e-12);
    }
    // Several tiles of query rows (the fused backward accumulates dK and dV over them).
    kexue::generator gen(kexue_test_seed() + 42);
    const tensors y{kexue::randn<double>({1, 2, 150, 3}, gen).requires_grad(true),
                    kexue::randn<double>({1, 2, 150, 3}, gen).requires_grad(true),
                    kexue::randn<double>({1, 2, 150, 2}, gen).requires_grad(true)};
    kexue::generator drop_a(9), drop_b(9);
    const auto long_fused = kexue::grad(
        {kexue::sum(kexue::square(kexue::scaled_dot_product_attention(
            y[0], y[1], y[2], attention_options<double>().causal(true, 5).entropy_invariant().dropout(0.2, drop_a))))},
        {y[0], y[1], y[2]});
    const auto long_composed = kexue::grad(
        {kexue::sum(kexue::square(kexue::scaled_dot_product_attention(
            y[0], y[1], y[2], attention_options<double>().causal(true, 5).entropy_invariant().dropout(0.2, drop_b))))},
        {y[0], y[1], y[2]}, kexue::grad_options().create_graph(true));
    for (int i = 0; i < 3; ++i) check_close(long_composed[i].detach(), long_fused[i], 1e-12, 1e-12);
    const tensors x = inputs(1, 41);
    const tensor<double> q = x[0].detach();
    auto out = kexue::scaled_dot_product_attention(q, x[1], x[2], attention_options<double>().causal(true));
    kexue::sum(out).backward();
    CHECK_FALSE(q.grad().defined());
    CHECK(x[1].grad().defined());
    CHECK(x[2].grad().defined());
  }

  TEST_CASE("weights carry gradients of both orders with masks and a fixed scale") { check_weight_sets({1, 2}, true); }

  TEST_CASE("weights carry gradients of both orders with causal, entropy-invariant scale, full padding") {
    check_weight_sets({4, 5, 6}, true);
  }

  TEST_CASE("weights carry gradients with local, atrous and sparse patterns") {
    check_weight_sets({0, 3, 7, 8, 10}, false);
    check_weight_sets({9}, true);
  }

  TEST_CASE("weights with dropout carry gradients through the kept entries") {
    for (const attention_pattern p : {attention_pattern::dense, attention_pattern::sparse}) {
      CAPTURE(static_cast<int>(p));
      const auto fn = [p](const tensors& x) {
        kexue::generator gen(5);  // the same dropout mask at every evaluation
        return mixed_loss(kexue::scaled_dot_product_attention_with_weights(
            x[0], x[1], x[2], attention_options<double>().dropout(0.3, gen).pattern(p, 2)));
      };
      check_gradients(fn, inputs(1, 80));
      check_second_order(fn, inputs(1, 81));
    }
  }

  TEST_CASE("the weights' fused and composed gradients agree") {
    for (const auto& [name, options] : option_sets()) {
      CAPTURE(name);
      const tensors x = inputs(2, 90);
      const auto fused =
          kexue::grad({mixed_loss(kexue::scaled_dot_product_attention_with_weights(x[0], x[1], x[2], options))},
                      {x[0], x[1], x[2]});
      const auto composed =
          kexue::grad({mixed_loss(kexue::scaled_dot_product_attention_with_weights(x[0], x[1], x[2], options))},
                      {x[0], x[1], x[2]}, kexue::grad_options().create_graph(true));
      for (int i = 0; i < 3; ++i) check_close(composed[i].detach(), fused[i], 1e-12, 1e-12);
    }
  }

  TEST_CASE("weights record no graph unless q or k needs a gradient under grad mode") {
    const tensors x = inputs(1, 95);
    const tensor<double> q = x[0].detach(), k = x[1].detach(), v = x[2].detach();
    CHECK_FALSE(kexue::scaled_dot_product_attention_with_weights(q, k, v).weights.requires_grad());
    // v alone: the output needs a gradient, the weights (independent of v) do not.
    const auto only_v = kexue::scaled_dot_product_attention_with_weights(q, k, x[2]);
    CHECK(only_v.output.requires_grad());
    CHECK_FALSE(only_v.weights.requires_grad());
    {
      kexue::no_grad_guard guard;
      CHECK_FALSE(kexue::scaled_dot_product_attention_with_weights(x[0], x[1], x[2]).weights.requires_grad());
    }
    // k alone: the weights' gradient reaches k only.
    const auto only_k = kexue::scaled_dot_product_attention_with_weights(q, x[1], v);
    REQUIRE(only_k.weights.requires_grad());
    kexue::sum(kexue::square(only_k.weights)).backward();
    CHECK(x[1].grad().defined());
    CHECK_FALSE(q.grad().defined());
  }
}
