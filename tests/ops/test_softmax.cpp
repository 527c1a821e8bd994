// SPDX-License-Identifier: MIT
// Tests of ops/softmax.hpp: softmax, log_softmax, logsumexp, masks, non-last axes and the backward ops.
#include <cmath>   // std::exp, std::log, INFINITY
#include <limits>  // std::numeric_limits
#include <vector>

#include <doctest/doctest.h>

#include <kexue/ops/softmax.hpp>

#include "support/fixtures.hpp"
#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace {

using tensors = std::vector<tensor<double>>;
using kexue::testing::inf;

/// Softmax (or log_softmax) along `axis` the slow way: one lane at a time, with plain index arithmetic.
template <class T>
tensor<T> reference_softmax(const tensor<T>& x, int axis, bool log) {
  const shape& s = x.shape();
  index_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
  const index_t n = s[axis];
  auto out = tensor<T>::empty(s);
  for (index_t o = 0; o < outer; ++o) {
    for (index_t j = 0; j < inner; ++j) {
      auto at = [&](index_t i) { return o * n * inner + i * inner + j; };
      double m = -inf, total = 0;
      for (index_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(x.data()[at(i)]));
      for (index_t i = 0; i < n; ++i) total += std::exp(x.data()[at(i)] - m);
      for (index_t i = 0; i < n; ++i) {
        const double v = x.data()[at(i)] - m;
        out.data()[at(i)] = static_cast<T>(log ? v - std::log(total) : std::exp(v) / total);
      }
    }
  }
  return out;
}

using kexue::testing::logits;

/// A keep mask [2, 1, 5] (broadcast over axis 1) whose second batch row excludes everything but entry 3, and
/// a [3, 5] mask with a fully excluded row.
tensor<bool> keep_with_empty_row() {
  return kexue::from_vector<bool>(
      {true, false, true, true, false, false, false, false, false, false, true, true, true, true, true}, {3, 5});
}

}  // namespace

TEST_SUITE("ops.softmax") {
  TEST_CASE_TEMPLATE("softmax, log_softmax and logsumexp of [1, 2, 3]", T, float, double) {
    const tensor<T> x = {1, 2, 3};
    // Σ e^(x − 3) = e⁻² + e⁻¹ + 1 = 0.1353353 + 0.3678794 + 1 = 1.5032147; logsumexp = 3 + ln 1.5032147 = 3.4076059
    // softmax = [0.1353353, 0.3678794, 1]/1.5032147 = [0.0900306, 0.2447285, 0.6652410]
    check_values(kexue::softmax(x), {3}, {0.09003057317038046, 0.24472847105479764, 0.6652409557748219});
    check_values(kexue::log_softmax(x), {3}, {-2.4076059644443806, -1.4076059644443806, -0.4076059644443805});
    check_values(kexue::logsumexp(x), {}, {3.4076059644443806});
    check_values(kexue::logsumexp(x, {0}, true), {1}, {3.4076059644443806});
  }

  TEST_CASE_TEMPLATE("softmax rows sum to one and match the lane-by-lane reference", T, float, double) {
    const auto x = logits<T>({4, 7});
    const auto y = kexue::softmax(x);
    check_close(y, reference_softmax(x, 1, false));
    check_values(kexue::sum(y, {1}), {4}, {1, 1, 1, 1});
    check_close(kexue::log_softmax(x), reference_softmax(x, 1, true));
  }

  TEST_CASE_TEMPLATE("softmax along a non-last axis works for every axis and lane block size", T, float, double) {
    // inner sizes 1, 3, 20 (a block of 16 lanes and a tail of 4) and 35.
    for (const shape& s : {shape{5, 4}, shape{2, 6, 3}, shape{3, 4, 20}, shape{2, 3, 5, 7}}) {
      const auto x = logits<T>(s);
      for (int axis = 0; axis < s.rank(); ++axis) {
        CAPTURE(s);
        CAPTURE(axis);
        check_close(kexue::softmax(x, axis), reference_softmax(x, axis, false));
        check_close(kexue::log_softmax(x, axis), reference_softmax(x, axis, true));
        check_close(kexue::softmax(x, axis - s.rank()), reference_softmax(x, axis, false));
      }
    }
  }

  TEST_CASE_TEMPLATE("large logits neither overflow nor lose precision", T, float, double) {
    // Shifting by the max: softmax([1000, 1001, 1002]) = softmax([0, 1, 2]) = [0.0900306, 0.2447285, 0.6652410].
    const tensor<T> x = {1000, 1001, 1002};
    check_values(kexue::softmax(x), {3}, {0.09003057317038046, 0.24472847105479764, 0.6652409557748219});
    check_values(kexue::log_softmax(x), {3}, {-2.4076059644443806, -1.4076059644443806, -0.4076059644443805});
    check_values(kexue::logsumexp(x), {}, {1002.4076059644444});
    // ±1e4: one entry takes all the mass; e^(−2e4) underflows to 0.
    const tensor<T> y = {-1e4, 1e4, 0};
    check_values(kexue::softmax(y), {3}, {0, 1, 0});
    check_values(kexue::log_softmax(y), {3}, {-2e4, 0, -1e4});
    check_values(kexue::logsumexp(tensor<T>{-1e4, -1e4}), {}, {-1e4 + std::log(2.0)});
  }

  TEST_CASE_TEMPLATE("a boolean keep mask excludes entries and broadcasts", T, float, double) {
    const tensor<T> x = {{1, 2, 3, 4}, {0, 0, 0, 0}};
    const auto keep = kexue::from_vector<bool>({true, true, true, false}, {1, 4});  // [1, 4] for both rows
    // Row 0 is softmax([1, 2, 3]) then 0; row 1 is uniform over three entries.
    check_values(kexue::softmax(x, keep), {2, 4},
                 {0.09003057317038046, 0.24472847105479764, 0.6652409557748219, 0, 1. / 3, 1. / 3, 1. / 3, 0});
    check_values(kexue::log_softmax(x, keep), {2, 4},
                 {-2.4076059644443806, -1.4076059644443806, -0.4076059644443805, -inf, -std::log(3.0), -std::log(3.0),
                  -std::log(3.0), -inf});
    check_values(kexue::logsumexp(x, keep, {1}), {2}, {3.4076059644443806, std::log(3.0)});
  }

  TEST_CASE_TEMPLATE("an additive mask adds to the logits, -inf excludes", T, float, double) {
    const tensor<T> x = {{1, 2, 3, 4}, {0, 0, 0, 0}};
    const auto mask = kexue::from_vector<T>({0, 0, 0, -INFINITY}, {1, 4});
    check_values(kexue::softmax(x, mask), {2, 4},
                 {0.09003057317038046, 0.24472847105479764, 0.6652409557748219, 0, 1. / 3, 1. / 3, 1. / 3, 0});
    check_values(kexue::log_softmax(x, mask), {2, 4},
                 {-2.4076059644443806, -1.4076059644443806, -0.4076059644443805, -inf, -std::log(3.0), -std::log(3.0),
                  -std::log(3.0), -inf});
    check_values(kexue::logsumexp(x, mask, {1}, true), {2, 1}, {3.4076059644443806, std::log(3.0)});
    // A finite mask only shifts: adding ln 2 to entry 0 of [0, 0] gives [2/3, 1/3].
    check_values(kexue::softmax(tensor<T>{0, 0}, tensor<T>{T(std::log(2.0)), 0}), {2}, {2. / 3, 1. / 3});
  }

  TEST_CASE_TEMPLATE("fully masked rows give zeros, -inf and no NaN", T, float, double) {
    const auto x = logits<T>({3, 5});
    const auto keep = keep_with_empty_row();  // row 1 excluded entirely
    const auto additive = kexue::where(keep, T(0), -std::numeric_limits<T>::infinity());
    for (const auto& y : {kexue::softmax(x, keep), kexue::softmax(x, additive)}) {
      for (index_t j = 0; j < 5; ++j) CHECK(y(1, j) == 0);
      check_values(kexue::sum(y, {1}), {3}, {1, 0, 1});
    }
    for (const auto& y : {kexue::log_softmax(x, keep), kexue::log_softmax(x, additive)}) {
      for (index_t j = 0; j < 5; ++j) CHECK(y(1, j) == -std::numeric_limits<T>::infinity());
      for (index_t j = 0; j < 5; ++j) CHECK_FALSE(std::isnan(y(0, j)));
    }
    const auto lse = kexue::logsumexp(x, keep, {1});
    CHECK(lse(1) == -std::numeric_limits<T>::infinity());
    CHECK(std::isfinite(lse(0)));
    CHECK(std::isfinite(lse(2)));
  }

  TEST_CASE("masked and fully masked entries get zero gradient") {
    auto x = logits<double>({3, 5}).requires_grad(true);
    const auto keep = keep_with_empty_row();
    const auto additive = kexue::where(keep, 0.0, -inf);
    const auto w = logits<double>({3, 5}, 11);  // upstream gradient, nonzero everywhere
    const auto check_zero_where_excluded = [&](const tensor<double>& g) {
      for (index_t i = 0; i < 3; ++i) {
        for (index_t j = 0; j < 5; ++j) {
          if (!keep(i, j)) CHECK(g(i, j) == 0);
          CHECK_FALSE(std::isnan(g(i, j)));
        }
      }
    };
    kexue::softmax(x, keep).backward(w);
    check_zero_where_excluded(x.grad());
    x.zero_grad();
    kexue::softmax(x, additive).backward(w);
    check_zero_where_excluded(x.grad());
    x.zero_grad();
    kexue::log_softmax(x, keep).backward(w);
    check_zero_where_excluded(x.grad());
    x.zero_grad();
    kexue::log_softmax(x, additive).backward(w);
    check_zero_where_excluded(x.grad());
    x.zero_grad();
    kexue::logsumexp(x, keep, {1}).backward(tensor<double>{1, 2, 3});
    check_zero_where_excluded(x.grad());
  }

  TEST_CASE("log_softmax with a keep mask matches torch's masked_fill composition") {
    // torch: log_softmax(x.masked_fill(~keep, -inf)) gives kept entries g − p·Σg (Σ over every entry of g)
    // and masked entries 0. Hand case: x = [0, 0, 5], keep = [1, 1, 0], g = [1, 0, 2]: p = [½, ½, 0], Σg = 3,
    // dx = [1 − 1.5, 0 − 1.5, 0] = [−0.5, −1.5, 0].
    auto x = tensor<double>{0, 0, 5}.requires_grad(true);
    kexue::log_softmax(x, tensor<bool>{true, true, false}).backward(tensor<double>{1, 0, 2});
    check_values(x.grad(), {3}, {-0.5, -1.5, 0});
  }

  TEST_CASE("softmax and log_softmax pass gradient and second-order checks on every axis") {
    const auto x = logits<double>({2, 3, 4}).requires_grad(true);
    const auto w = logits<double>({2, 3, 4}, 3);
    for (int axis : {0, 1, 2, -1}) {
      CAPTURE(axis);
      // Weighting by w (and by x for log_softmax) makes second derivatives non-trivial.
      const auto f = [axis, w](const tensors& v) { return kexue::mul(kexue::softmax(v[0], axis), w); };
      const auto g = [axis](const tensors& v) { return kexue::mul(kexue::log_softmax(v[0], axis), v[0]); };
      check_gradients(f, {x});
      check_gradients(g, {x});
      check_second_order(f, {x});
      check_second_order(g, {x});
    }
  }

  TEST_CASE("masked softmax and log_softmax pass gradient and second-order checks") {
    const auto x = logits<double>({3, 5}).requires_grad(true);
    const auto keep = keep_with_empty_row();
    // The additive mask is finite here (−inf would make finite differences meaningless) and gets gradients.
    const auto mask = (kexue::rand<double>({1, 5}, 5) - 0.5).requires_grad(true);
    const auto sm_keep = [keep](const tensors& v) { return kexue::mul(kexue::softmax(v[0], keep), v[0]); };
    // −inf outputs are replaced by 0 so the finite differences stay finite.
    const auto lsm_keep = [keep](const tensors& v) {
      return kexue::mul(kexue::where(keep, kexue::log_softmax(v[0], keep), 0.0), v[0]);
    };
    const auto sm_add = [](const tensors& v) { return kexue::mul(kexue::softmax(v[0], v[1]), v[0]); };
    const auto lsm_add = [](const tensors& v) { return kexue::mul(kexue::log_softmax(v[0], v[1], 0), v[1]); };
    check_gradients(sm_keep, {x});
    check_gradients(lsm_keep, {x});
    check_gradients(sm_add, {x, mask});
    check_gradients(lsm_add, {x, mask});
    check_second_order(sm_keep, {x});
    check_second_order(lsm_keep, {x});
    check_second_order(sm_add, {x, mask});
    check_second_order(lsm_add, {x, mask});
  }

  TEST_CASE("softmax_backward and log_softmax_backward pass their own gradient checks") {
    // As functions of independent y and g (second order of softmax differentiates through them).
    const auto y = kexue::rand<double>({3, 4}, 21).requires_grad(true);
    const auto g = logits<double>({3, 4}, 22).requires_grad(true);
    for (int axis : {0, 1}) {
      CAPTURE(axis);
      const auto sb = [axis](const tensors& v) { return kexue::softmax_backward(v[0], v[1], axis); };
      const auto lb = [axis](const tensors& v) { return kexue::log_softmax_backward(v[0], v[1], axis); };
      check_gradients(sb, {y, g});
      check_gradients(lb, {y, g});
      check_second_order(sb, {y, g});
      check_second_order(lb, {y, g});
    }
    // Hand case: y = [0.25, 0.75], g = [1, 3]: Σg·y = 2.5, dx = [0.25·(1 − 2.5), 0.75·(3 − 2.5)] = [−0.375, 0.375];
    // log form with y = [ln 0.25, ln 0.75]: dx = g − p·Σg = [1 − 0.25·4, 3 − 0.75·4] = [0, 0].
    check_values(kexue::softmax_backward(tensor<double>{0.25, 0.75}, tensor<double>{1, 3}), {2}, {-0.375, 0.375});
    check_values(kexue::log_softmax_backward(tensor<double>{std::log(0.25), std::log(0.75)}, tensor<double>{1, 3}), {2},
                 {0, 0});
  }

  TEST_CASE_TEMPLATE("logsumexp reduces any set of axes", T, float, double) {
    const auto x = logits<T>({2, 3, 4});
    // Reference: log of the sum of exp over axes 0 and 2, in double.
    std::vector<double> expected(3, 0.0);
    for (index_t i = 0; i < 2; ++i) {
      for (index_t j = 0; j < 3; ++j) {
        for (index_t k = 0; k < 4; ++k) expected[j] += std::exp(static_cast<double>(x(i, j, k)));
      }
    }
    for (double& e : expected) e = std::log(e);
    check_values(kexue::logsumexp(x, {0, 2}), {3}, expected);
    check_values(kexue::logsumexp(x, {2, 0}, true), {1, 3, 1}, expected);
    check_values(kexue::logsumexp(x, {-1, 0}), {3}, expected);
    double all = 0;
    for (double e : expected) all += std::exp(e);
    check_values(kexue::logsumexp(x), {}, {std::log(all)});
    check_values(kexue::logsumexp(x, {}, true), {1, 1, 1}, {std::log(all)});
    // Single axes: a leading axis (runs that cross slices) and a middle one.
    std::vector<double> axis0(12, 0.0), axis1(8, 0.0);
    for (index_t i = 0; i < 2; ++i) {
      for (index_t j = 0; j < 3; ++j) {
        for (index_t k = 0; k < 4; ++k) {
          axis0[j * 4 + k] += std::exp(static_cast<double>(x(i, j, k)));
          axis1[i * 4 + k] += std::exp(static_cast<double>(x(i, j, k)));
        }
      }
    }
    for (double& e : axis0) e = std::log(e);
    for (double& e : axis1) e = std::log(e);
    check_values(kexue::logsumexp(x, {0}), {3, 4}, axis0);
    check_values(kexue::logsumexp(x, {1}, true), {2, 1, 4}, axis1);
  }

  TEST_CASE_TEMPLATE("logsumexp of infinite, NaN and empty slices", T, float, double) {
    const T i = std::numeric_limits<T>::infinity();
    const tensor<T> x = {{-i, -i}, {i, 1}, {NAN, 1}, {-i, 2}};
    check_values(kexue::logsumexp(x, {1}), {4}, {-inf, inf, NAN, 2});
    check_values(kexue::logsumexp(kexue::zeros<T>({2, 0}), {1}), {2}, {-inf, -inf});
  }

  TEST_CASE("logsumexp passes gradient and second-order checks") {
    const auto x = logits<double>({2, 3, 4}).requires_grad(true);
    const auto keep = keep_with_empty_row();  // [3, 5]
    const auto y = logits<double>({3, 5}).requires_grad(true);
    const auto axes02 = [](const tensors& v) { return kexue::logsumexp(v[0], {0, 2}, true); };
    const auto all = [](const tensors& v) { return kexue::logsumexp(v[0]); };
    // The fully excluded row gives −inf; replaced by 0 so that finite differences stay finite.
    const auto masked = [keep](const tensors& v) {
      const auto lse = kexue::logsumexp(v[0], keep, {1});
      return kexue::where(kexue::greater(lse, -inf), lse, 0.0);
    };
    const auto additive = [](const tensors& v) { return kexue::logsumexp(v[0], v[1], {0}); };
    check_gradients(axes02, {x});
    check_gradients(all, {x});
    check_gradients(masked, {y});
    check_gradients(additive, {y, logits<double>({1, 5}, 9).requires_grad(true)});
    check_second_order(axes02, {x});
    check_second_order(all, {x});
    check_second_order(masked, {y});
  }

  TEST_CASE("empty tensors pass through") {
    CHECK(kexue::softmax(kexue::zeros<float>({0, 3})).shape() == shape{0, 3});
    CHECK(kexue::log_softmax(kexue::zeros<float>({3, 0})).shape() == shape{3, 0});
    CHECK(kexue::softmax(kexue::zeros<float>({2, 0, 3}), 0).shape() == shape{2, 0, 3});
  }

  TEST_CASE("bad axes and mask shapes are reported with the op name") {
    const auto x = kexue::zeros<float>({2, 4});
    CHECK_THROWS_WITH_AS(kexue::softmax(x, 2), "softmax: axis 2 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::log_softmax(x, -3), "log_softmax: axis -3 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::softmax(kexue::scalar<float>(1)),
                         "softmax: axis -1 out of range for a tensor of rank 0", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::logsumexp(x, {3}), "logsumexp: axis 3 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::logsumexp(x, {1, -1}), "logsumexp: an axis is repeated", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::softmax(x, kexue::zeros<float>({3})),
                         "softmax: mask shape [3] does not broadcast to input shape [2, 4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::log_softmax(x, kexue::full<bool>({3, 2, 4}, true)),
                         "log_softmax: mask shape [3, 2, 4] does not broadcast to input shape [2, 4]",
                         kexue::shape_error);
    // The mask may not enlarge x: [2, 4] against an input [1, 4] is refused (a broadcast would give [2, 4]).
    CHECK_THROWS_WITH_AS(kexue::softmax(kexue::zeros<float>({1, 4}), kexue::full<bool>({2, 4}, true)),
                         "softmax: mask shape [2, 4] does not broadcast to input shape [1, 4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::logsumexp(x, kexue::full<bool>({4, 1}, true), {1}),
                         "logsumexp: mask shape [4, 1] does not broadcast to input shape [2, 4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::softmax_backward(x, kexue::zeros<float>({2, 3})),
                         "softmax_backward: gradient shape [2, 3] differs from output shape [2, 4]",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::log_softmax_backward(x, x, 5),
                         "log_softmax_backward: axis 5 out of range for a tensor of rank 2", kexue::index_error);
  }
}
