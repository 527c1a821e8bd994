// SPDX-License-Identifier: MIT
// ops/gated.hpp: glu and gated_residual against hand-computed values, PyTorch 1.13 (tests/reference/data/gated.txt,
// written by tests/reference/make_reference_gated.py), gradcheck in double, and the composed ops on tensors large
// enough for several blocks and threads.
#include <cmath>
#include <string>

#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/gated.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/slice.hpp>

#include "support/tensor_checks.hpp"

using kexue::tensor;
using kexue::testing::check_case;
using kexue::testing::check_close;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using kexue::testing::reference_file;
using kexue::testing::tensors;

TEST_SUITE("ops.gated") {
  TEST_CASE_TEMPLATE("glu and gated_residual give the hand-computed values", T, float, double) {
    // h = [a | b] along the last axis: a = (3, −2), b = (0, ln 3) → σ(b) = (1/2, 3/4).
    const tensor<T> h{{T(3), T(-2), T(0), T(std::log(3.0))}};
    const tensor<T> x{{T(1), T(2)}};
    // glu: a·σ(b) = (3/2, −3/2).
    check_values(kexue::glu(h), {1, 2}, {1.5, -1.5});
    // x + (a − x)·σ(b) = (1 + 2·1/2, 2 + (−4)·3/4) = (2, −1).
    check_values(kexue::gated_residual(x, h), {1, 2}, {2.0, -1.0});
    // Saturated gates give exactly x or a, never NaN.
    const tensor<T> hs{{T(3), T(-2), T(-200), T(200)}};
    check_values(kexue::gated_residual(x, hs), {1, 2}, {1.0, -2.0});
  }

  TEST_CASE("glu and gated_residual equal PyTorch, values and gradients of both orders") {
    const reference_file file("gated");
    for (const std::string tag : {"", "_fused"}) {
      check_case(file, "glu_last" + tag, {"h"}, [](const tensors& v) { return tensors{kexue::glu(v[0], -1)}; });
      check_case(file, "glu_middle" + tag, {"h"}, [](const tensors& v) { return tensors{kexue::glu(v[0], 1)}; });
      check_case(file, "gated_residual_channels" + tag, {"x", "h"},
                 [](const tensors& v) { return tensors{kexue::gated_residual(v[0], v[1], 1)}; });
      check_case(file, "gated_residual_first" + tag, {"x", "h"},
                 [](const tensors& v) { return tensors{kexue::gated_residual(v[0], v[1], 0)}; });
    }
  }

  TEST_CASE("glu and gated_residual pass gradcheck and gradgradcheck in double") {
    kexue::generator gen(11);
    const auto h = kexue::randn<double>({2, 4, 3}, gen).requires_grad(true);
    const auto x = kexue::randn<double>({2, 2, 3}, gen).requires_grad(true);
    check_gradients([](const tensors& v) { return kexue::glu(v[0], 1); }, {h});
    check_second_order([](const tensors& v) { return kexue::glu(v[0], 1); }, {h});
    check_gradients([](const tensors& v) { return kexue::gated_residual(v[0], v[1], 1); }, {x, h});
    check_second_order([](const tensors& v) { return kexue::gated_residual(v[0], v[1], 1); }, {x, h});
  }

  TEST_CASE("the fused passes equal the composed ops over many blocks, on 1 and 2 threads") {
    // [3, 2·700, 5]: each half-run is 3500 elements, so a row spans two blocks of 2048 with a ragged tail.
    kexue::generator gen(12);
    const auto h0 = kexue::randn<float>({3, 1400, 5}, gen, 0.0f, 2.0f);
    const auto x0 = kexue::randn<float>({3, 700, 5}, gen);
    const auto g = kexue::randn<float>({3, 700, 5}, gen);
    const int before = kexue::get_num_threads();
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      kexue::set_num_threads(threads);
      const auto h = h0.detach().requires_grad(true);
      const auto x = x0.detach().requires_grad(true);
      const auto a = kexue::narrow(h, 1, 0, 700);
      const auto s = kexue::sigmoid(kexue::narrow(h, 1, 700, 700));
      const auto composed = kexue::add(x, kexue::mul(kexue::sub(a, x), s));
      const auto dc = kexue::grad({kexue::sum(kexue::mul(composed, g))}, {x, h});
      const auto fused = kexue::gated_residual(x, h, 1);
      const auto df = kexue::grad({kexue::sum(kexue::mul(fused, g))}, {x, h});
      check_close(fused.detach(), composed.detach(), 1e-5, 1e-6);
      check_close(df[0], dc[0], 1e-5, 1e-6);
      check_close(df[1], dc[1], 1e-5, 1e-6);

      const auto glu_composed =  // the graph above was freed by grad: build it again
          kexue::mul(kexue::narrow(h, 1, 0, 700), kexue::sigmoid(kexue::narrow(h, 1, 700, 700)));
      const auto dgc = kexue::grad({kexue::sum(kexue::mul(glu_composed, g))}, {h});
      const auto glu_fused = kexue::glu(h, 1);
      const auto dgf = kexue::grad({kexue::sum(kexue::mul(glu_fused, g))}, {h});
      check_close(glu_fused.detach(), glu_composed.detach(), 1e-5, 1e-6);
      check_close(dgf[0], dgc[0], 1e-5, 1e-6);
    }
    kexue::set_num_threads(before);
  }

  TEST_CASE("x that needs no gradient gets none, and h still does") {
    const tensor<double> x{{1.0, 2.0}};
    const auto h = tensor<double>{{3.0, -2.0, 0.0, 0.0}}.requires_grad(true);
    const auto y = kexue::gated_residual(x, h);
    const auto dh = kexue::grad({kexue::sum(y)}, {h});
    // σ(0) = 1/2: da = 1/2, db = (a − x)·1/4 = (2/4, −4/4).
    check_values(dh[0], {1, 4}, {0.5, 0.5, 0.5, -1.0});
  }

  TEST_CASE("bad shapes are named in the error") {
    const auto h = kexue::zeros<float>({2, 3});
    CHECK_THROWS_WITH_AS(kexue::glu(h), "glu: expected an even size along axis 1, got [2, 3]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::gated_residual(kexue::zeros<float>({2, 3, 4}), kexue::zeros<float>({2, 5, 4}), 1),
                         "gated_residual: expected h with twice x's size along axis 1 and x's other sizes, got x "
                         "[2, 3, 4] and h [2, 5, 4]",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::gated_residual(kexue::zeros<float>({2, 3}), kexue::zeros<float>({2, 3, 2}), 1),
                         "gated_residual: expected h with twice x's size along axis 1 and x's other sizes, got x "
                         "[2, 3] and h [2, 3, 2]",
                         kexue::shape_error);
  }
}
