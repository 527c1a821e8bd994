// SPDX-License-Identifier: MIT
// Tests of ops/softmax.hpp's routing through kernels/softmax.hpp: every broadcast pattern of a mask over the last
// axis (periodic rows, outer groups, the materialised fallback), the padded lane path of non-last axes, and the
// zero gradient of log_softmax at hidden keys.
#include <cmath>   // std::isnan
#include <limits>  // std::numeric_limits
#include <vector>

#include <doctest/doctest.h>

#include <kexue/ops/permute.hpp>
#include <kexue/ops/softmax.hpp>

#include "support/fixtures.hpp"
#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_values;

namespace {

using kexue::testing::logits;

/// A keep mask of shape s with about a third of the entries excluded.
tensor<bool> keep_mask(const shape& s, std::uint64_t seed = 3) {
  return kexue::greater(kexue::rand<float>(s, seed), 0.33f);
}

}  // namespace

TEST_SUITE("ops.softmax") {
  TEST_CASE_TEMPLATE("every mask broadcast pattern over the last axis equals masking x first", T, float, double) {
    // x [2, 3, 4, 5]; masks from a full one to one row, with groups ([2, 1, 1, 5]), periods ([4, 5]), both
    // ([2, 1, 4, 5]), interleaved broadcasts ([2, 3, 1, 5], [1, 3, 1, 5]) and the fallback of a broadcast last
    // axis ([2, 3, 4, 1]).
    const auto x = logits<T>({2, 3, 4, 5});
    const T minus_inf = -std::numeric_limits<T>::infinity();
    for (const shape& ms : {shape{2, 3, 4, 5}, shape{5}, shape{1, 5}, shape{4, 5}, shape{2, 1, 1, 5}, shape{2, 1, 4, 5},
                            shape{2, 3, 1, 5}, shape{1, 3, 1, 5}, shape{3, 4, 5}, shape{2, 3, 4, 1}, shape{1}}) {
      CAPTURE(ms);
      const auto keep = keep_mask(ms);
      const auto z = kexue::where(keep, x, minus_inf);  // [2, 3, 4, 5]
      check_close(kexue::softmax(x, keep), kexue::softmax(z));
      check_close(kexue::log_softmax(x, keep), kexue::log_softmax(z));
      const auto additive = logits<T>(ms, 5);
      check_close(kexue::softmax(x, additive), kexue::softmax(kexue::add(x, additive)));
      check_close(kexue::log_softmax(x, additive), kexue::log_softmax(kexue::add(x, additive)));
    }
  }

  TEST_CASE_TEMPLATE("lanes of 1 KiB along a non-last axis take the padded path", T, float, double) {
    // 1024 bytes: 256 floats or 128 doubles along axis 0, 20 lanes (a block of 16 and a tail of 4).
    const index_t n = static_cast<index_t>(1024 / sizeof(T));
    const auto x = logits<T>({n, 20});
    const auto y = kexue::softmax(x, 0);
    check_close(y, kexue::permute(kexue::softmax(kexue::permute(x, {1, 0})), {1, 0}));
    check_values(kexue::sum(y, {0}), {20}, std::vector<double>(20, 1.0));
    const auto g = logits<T>({n, 20}, 9);
    check_close(kexue::softmax_backward(y, g, 0),
                kexue::permute(kexue::softmax_backward(kexue::permute(y, {1, 0}), kexue::permute(g, {1, 0})), {1, 0}));
  }

  TEST_CASE("log_softmax's gradient is exactly 0 at keys hidden by a keep mask, on every axis") {
    // dx = g − p·Σg at kept keys and 0 at hidden ones (the kernel alone leaves g there).
    // Hand case: x = [0, 0, 9], keep = [1, 1, 0], g = [1, 0, 5]: p = [½, ½, 0], Σg = 6, dx = [−2, −3, 0].
    auto x = tensor<double>{0, 0, 9}.requires_grad(true);
    kexue::log_softmax(x, tensor<bool>{true, true, false}).backward(tensor<double>{1, 0, 5});
    check_values(x.grad(), {3}, {-2, -3, 0});
    for (int axis : {0, 1, 2}) {
      CAPTURE(axis);
      auto v = logits<double>({3, 4, 5}).requires_grad(true);
      const auto keep = keep_mask({3, 4, 5});
      kexue::log_softmax(v, keep, axis).backward(logits<double>({3, 4, 5}, 11));
      for (index_t i = 0; i < v.numel(); ++i) {
        CHECK_FALSE(std::isnan(v.grad().data()[i]));
        if (!keep.data()[i]) CHECK(v.grad().data()[i] == 0);
      }
    }
  }

  TEST_CASE("non-last axes give the same values on 1 and 2 threads") {
    // [64, 40, 33]: 33 lanes of 64 (two blocks of 16 and one of 1) per outer index, 40 outer indices.
    const auto x = logits<float>({64, 40, 33});
    const auto g = logits<float>({64, 40, 33}, 9);
    const int before = kexue::get_num_threads();
    std::vector<tensor<float>> runs;
    for (int threads : {1, 2}) {
      kexue::set_num_threads(threads);
      const auto y = kexue::softmax(x, 1);
      runs.push_back(y);
      runs.push_back(kexue::softmax_backward(y, g, 1));
      runs.push_back(kexue::log_softmax_backward(kexue::log_softmax(x, 0), g, 0));
    }
    kexue::set_num_threads(before);
    for (std::size_t i = 0; i < 3; ++i) check_close(runs[i], runs[i + 3], 0, 0);
  }

  TEST_CASE("softmax over 0-sized leading axes and masks with 0-sized groups is empty") {
    CHECK(kexue::softmax(kexue::zeros<float>({0, 4}), kexue::full<bool>({0, 4}, true)).shape() == shape{0, 4});
    CHECK(kexue::log_softmax(kexue::zeros<float>({2, 0, 4}), kexue::zeros<float>({2, 1, 4})).shape() == shape{2, 0, 4});
    CHECK(kexue::logsumexp(kexue::zeros<float>({0, 3}), {1}).shape() == shape{0});
  }
}
