// SPDX-License-Identifier: MIT
// Tests of ops/attention.hpp, gradients: first order (fused backward) and second order (composed backward)
// in double for masks, causal, scale policies, patterns and dropout.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
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
  };
}

/// Gradient checks of both orders for option_sets()[begin, end).
void check_option_sets(std::size_t begin, std::size_t end) {
  const auto sets = option_sets();
  REQUIRE(sets.size() == 10);
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

}  // namespace

TEST_SUITE("ops.attention") {
  // First and second order per option set; batch 2 only where a mask differs between the batch items.
  TEST_CASE("gradients pass first- and second-order checks with masks and a fixed scale") { check_option_sets(0, 3); }

  TEST_CASE("gradients pass first- and second-order checks with causal, entropy-invariant scale, full padding") {
    check_option_sets(3, 7);
  }

  TEST_CASE("gradients pass first- and second-order checks with local, atrous and sparse patterns") {
    check_option_sets(7, 10);
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
}
