// SPDX-License-Identifier: MIT
// Tests of ops/repeat.hpp: repeat, tile, repeat_interleave.
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/repeat.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace {

using tensors = std::vector<tensor<double>>;

/// repeat by the definition: out[i] = x[i mod x.shape] (x read with leading size-1 axes).
template <class T>
tensor<T> repeat_reference(const tensor<T>& x, const std::vector<index_t>& repeats) {
  const int r = static_cast<int>(repeats.size());
  shape in, out_shape;
  for (int i = 0; i < r; ++i) in.push_back(i < r - x.rank() ? 1 : x.size(i - (r - x.rank())));
  for (int i = 0; i < r; ++i) out_shape.push_back(in[i] * repeats[i]);
  auto out = tensor<T>::empty(out_shape);
  const shape in_strides = in.strides();
  for (index_t flat = 0; flat < out.numel(); ++flat) {
    index_t rest = flat, offset = 0;
    for (int k = r - 1; k >= 0; --k) {
      offset += ((rest % out_shape[k]) % in[k]) * in_strides[k];
      rest /= out_shape[k];
    }
    out.data()[flat] = x.data()[offset];
  }
  return out;
}

}  // namespace

TEST_SUITE("ops.repeat") {
  TEST_CASE_TEMPLATE("repeat tiles like torch.Tensor.repeat", T, float, double) {
    const tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    // {2, 1}: the two rows twice
    check_values(kexue::repeat(x, {2, 1}), {4, 3}, {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6});
    // {1, 2}: each row twice side by side
    check_values(kexue::repeat(x, {1, 2}), {2, 6}, {1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6});
    // {2, 1, 2}: a new leading axis of 2 copies of the {1, 2} result
    check_values(kexue::repeat(x, {2, 1, 2}), {2, 2, 6},
                 {1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6});
    check_values(kexue::repeat(tensor<T>{7, 8}, {3}), {6}, {7, 8, 7, 8, 7, 8});
    check_values(kexue::repeat(kexue::scalar<T>(5), {2, 1}), {2, 1}, {5, 5});
  }

  TEST_CASE_TEMPLATE("tile pads short lists with leading ones", T, float, double) {
    const tensor<T> x = {{1, 2}, {3, 4}};
    check_values(kexue::tile(x, {2}), {2, 4}, {1, 2, 1, 2, 3, 4, 3, 4});
    check_values(kexue::tile(x, {2, 1}), {4, 2}, {1, 2, 3, 4, 1, 2, 3, 4});
  }

  TEST_CASE_TEMPLATE("repeat_interleave repeats each element in place", T, float, double) {
    const tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    check_values(kexue::repeat_interleave(x, 2, 1), {2, 6}, {1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6});
    check_values(kexue::repeat_interleave(x, 2, 0), {4, 3}, {1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6});
    check_values(kexue::repeat_interleave(x, 0, -1), {2, 0}, {});
  }

  TEST_CASE("repeat agrees with the definition for many axes") {
    const auto x = kexue::randn<double>({2, 1, 3, 2}, 41);
    for (const auto& reps : std::vector<std::vector<index_t>>{
             {1, 1, 1, 1}, {2, 3, 1, 2}, {1, 2, 2, 1, 1}, {2, 1, 1, 1, 3}, {2, 2, 2, 2, 2, 2}, {1, 0, 2, 1}}) {
      CAPTURE(reps.size());
      const auto got = kexue::repeat(x, reps);
      const auto want = repeat_reference(x, reps);
      REQUIRE(got.shape() == want.shape());
      CHECK(got.to_vector() == want.to_vector());
    }
    // Eight repeated axes need 16 broadcast axes at once: repeated one axis at a time instead.
    const auto y = kexue::randn<double>({2, 1, 2, 1, 1, 2, 1, 1}, 42);
    const std::vector<index_t> all = {2, 2, 1, 2, 2, 1, 2, 2};
    CHECK(kexue::repeat(y, all).to_vector() == repeat_reference(y, all).to_vector());
  }

  TEST_CASE("repeat works on int64 and bool tensors") {
    const tensor<index_t> ids = {1, 2};
    CHECK(kexue::repeat(ids, {2, 2}).to_vector() == std::vector<index_t>{1, 2, 1, 2, 1, 2, 1, 2});
    CHECK(kexue::repeat_interleave(ids, 3, 0).to_vector() == std::vector<index_t>{1, 1, 1, 2, 2, 2});
    const tensor<bool> m = {true, false};
    CHECK(kexue::repeat(m, {2}).to_vector() == std::vector<bool>{true, false, true, false});
  }

  TEST_CASE("the gradient of repeat sums over the copies") {
    auto x = kexue::zeros<double>({2}).requires_grad(true);
    kexue::repeat(x, {3}).backward(tensor<double>{1, 2, 3, 4, 5, 6});
    check_values(x.grad(), {2}, {1 + 3 + 5, 2 + 4 + 6});
    auto y = kexue::zeros<double>({2}).requires_grad(true);
    kexue::repeat_interleave(y, 3, 0).backward(tensor<double>{1, 2, 3, 4, 5, 6});
    check_values(y.grad(), {2}, {1 + 2 + 3, 4 + 5 + 6});
    auto z = kexue::zeros<double>({2}).requires_grad(true);
    kexue::repeat(z, {0}).backward(tensor<double>::empty({0}));
    check_values(z.grad(), {2}, {0, 0});
  }

  TEST_CASE("repeat ops pass gradcheck and second-order checks") {
    auto x = kexue::randn<double>({2, 3}, 43).requires_grad(true);
    const auto repeat_fn = [](const tensors& v) { return kexue::repeat(v[0], {2, 1, 2}); };
    const auto interleave_fn = [](const tensors& v) { return kexue::repeat_interleave(v[0], 2, 1); };
    check_gradients(repeat_fn, {x});
    check_gradients(interleave_fn, {x});
    check_second_order([&](const tensors& v) { return repeat_fn(v) * repeat_fn(v); }, {x});
    check_second_order([&](const tensors& v) { return interleave_fn(v) * interleave_fn(v); }, {x});
  }

  TEST_CASE("bad repeat counts are reported") {
    const tensor<float> x = {{1, 2, 3}, {4, 5, 6}};
    CHECK_THROWS_WITH_AS(kexue::repeat(x, {2}),
                         "repeat: 1 repeat counts given for a tensor of rank 2 (shape [2, 3]); need at least 2",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::repeat(x, {1, -2}), "repeat: repeat count -2 for axis 1 is negative",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::repeat(x, {1, 1, 1, 1, 1, 1, 1, 1, 1}),
                         "repeat: 9 repeat counts exceed the maximum rank 8", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::tile(x, {-1}), "tile: repeat count -1 for axis 1 is negative", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::repeat_interleave(x, -1, 0), "repeat_interleave: repeat count -1 is negative",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::repeat_interleave(x, 2, 2),
                         "repeat_interleave: axis 2 out of range for a tensor of rank 2", kexue::index_error);
  }
}
