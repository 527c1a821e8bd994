// SPDX-License-Identifier: MIT
// Tests of loss/reduction.hpp: mean/sum/none with sample weights and masks, shape errors, gradients.
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/math.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace kl = kexue::loss;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

namespace {
struct demo_options {
  KEXUE_LOSS_ARG(double, gamma, 2.0);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};
}  // namespace

TEST_SUITE("loss.reduction") {
  TEST_CASE_TEMPLATE("mean, sum and none without weights or mask", T, float, double) {
    kx::tensor<T> l = {{1, 2}, {3, 6}};
    check_values(kl::reduce(l, kl::reduction::mean, {}, "demo"), {}, {3});  // 12 / 4
    check_values(kl::reduce(l, kl::reduction::sum, {}, "demo"), {}, {12});
    check_values(kl::reduce(l, kl::reduction::none, {}, "demo"), {2, 2}, {1, 2, 3, 6});
  }

  TEST_CASE_TEMPLATE("weights give the weighted average and masks drop entries", T, float, double) {
    kx::tensor<T> l = {{1, 2}, {3, 6}};
    kx::tensor<T> w = {{2}, {1}};  // per row, broadcast over the columns
    // none: w·l = [[2, 4], [3, 6]]; sum 15; mean 15 / (2+2+1+1) = 2.5
    check_values(kl::reduce(l, kl::reduction::none, w, "demo"), {2, 2}, {2, 4, 3, 6});
    check_values(kl::reduce(l, kl::reduction::sum, w, "demo"), {}, {15});
    check_values(kl::reduce(l, kl::reduction::mean, w, "demo"), {}, {2.5});
    kx::tensor<bool> keep = {{true, false}, {true, true}};
    // mask alone: (1 + 3 + 6) / 3 = 10/3; none zeroes the dropped entry
    check_values(kl::reduce(l, kl::reduction::mean, keep, "demo"), {}, {10.0 / 3});
    check_values(kl::reduce(l, kl::reduction::none, keep, "demo"), {2, 2}, {1, 0, 3, 6});
    // both: (2·1 + 1·3 + 1·6) / (2 + 1 + 1) = 11/4
    check_values(kl::reduce(l, kl::reduction::mean, {w, keep}, "demo"), {}, {2.75});
    check_values(kl::reduce(l, kl::reduction::sum, {w, keep}, "demo"), {}, {11});
  }

  TEST_CASE("an all-masked batch, zero weights and an empty batch give 0, not NaN") {
    kx::tensor<double> l = {1, 2};
    kx::tensor<bool> none_kept = {false, false};
    CHECK(kl::reduce(l, kl::reduction::mean, none_kept, "demo").item() == 0.0);
    CHECK(kl::reduce(l, kl::reduction::mean, kx::zeros<double>({2}), "demo").item() == 0.0);
    CHECK(kl::reduce(kx::zeros<double>({0}), kl::reduction::mean, {}, "demo").item() == 0.0);
  }

  TEST_CASE("a NaN loss propagates unless it is masked out") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    kx::tensor<double> l = {1, nan};
    CHECK(std::isnan(kl::reduce(l, kl::reduction::mean, {}, "demo").item()));
    CHECK(std::isnan(kl::reduce(l, kl::reduction::sum, kx::ones<double>({2}), "demo").item()));
    kx::tensor<bool> keep = {true, false};
    CHECK(kl::reduce(l, kl::reduction::mean, keep, "demo").item() == 1.0);
    CHECK(kl::reduce(l, kl::reduction::none, keep, "demo").data()[1] == 0.0);
  }

  TEST_CASE("weight and mask shapes are checked") {
    auto l = kx::zeros<double>({2, 4});
    CHECK_THROWS_WITH_AS(kl::reduce(l, kl::reduction::mean, kx::ones<double>({3}), "focal_loss"),
                         "focal_loss: sample_weight shape [3] does not broadcast to the per-sample loss shape [2, 4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::reduce(l, kl::reduction::mean, kx::ones<double>({1, 2, 4}), "focal_loss"),
                         "focal_loss: sample_weight shape [1, 2, 4] does not broadcast to the per-sample loss "
                         "shape [2, 4]",
                         kx::shape_error);
    kx::tensor<bool> m = {true, false};
    CHECK_THROWS_WITH_AS(kl::reduce(l, kl::reduction::sum, m, "focal_loss"),
                         "focal_loss: mask shape [2] differs from the per-sample loss shape [2, 4]", kx::shape_error);
    CHECK_NOTHROW(kl::reduce(l, kl::reduction::sum, kx::ones<double>({2, 1}), "focal_loss"));
  }

  TEST_CASE("gradients flow to the losses and to the weights, to second order") {
    kx::generator gen(5);
    auto l = kx::rand<double>({3, 2}, gen, 0.5, 2.0).requires_grad(true);
    auto w = kx::rand<double>({3, 1}, gen, 0.5, 2.0).requires_grad(true);
    kx::tensor<bool> keep = {{true, false}, {true, true}, {false, true}};
    for (auto r : {kl::reduction::mean, kl::reduction::sum, kl::reduction::none}) {
      auto fn = [r, keep](const V& v) { return kl::reduce(kx::square(v[0]), r, {v[1], keep}, "demo"); };
      check_gradients(fn, {l, w});
      check_second_order(fn, {l, w});
    }
    // the dropped entry gets exactly zero gradient
    kl::reduce(l, kl::reduction::mean, {w, keep}, "demo").backward();
    CHECK(l.grad().data()[1] == 0.0);
  }

  TEST_CASE("the options macro gives defaults and chained setters") {
    demo_options o;
    CHECK(o.gamma() == 2.0);
    CHECK(o.reduction() == kl::reduction::mean);
    o.gamma(0.5).reduction(kl::reduction::none);
    CHECK(o.gamma() == 0.5);
    CHECK(std::string(kl::reduction_name(o.reduction())) == "none");
  }
}
