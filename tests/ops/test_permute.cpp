// SPDX-License-Identifier: MIT
// Tests of ops/permute.hpp: permute and transpose (general and blocked paths), gradients, errors.
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/permute.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace {

using tensors = std::vector<tensor<double>>;

/// permute by the definition, element by element: out[i] = x[j] with j[dims[k]] = i[k].
template <class T>
tensor<T> permute_reference(const tensor<T>& x, const std::vector<int>& dims) {
  const shape& s = x.shape();
  shape out_shape;
  for (int d : dims) out_shape.push_back(s[d]);
  auto out = tensor<T>::empty(out_shape);
  const shape in_strides = s.strides();
  for (index_t flat = 0; flat < out.numel(); ++flat) {
    index_t rest = flat, offset = 0;
    for (int k = out_shape.rank() - 1; k >= 0; --k) {
      offset += (rest % out_shape[k]) * in_strides[dims[k]];
      rest /= out_shape[k];
    }
    out.data()[flat] = x.data()[offset];
  }
  return out;
}

}  // namespace

TEST_SUITE("ops.permute") {
  TEST_CASE_TEMPLATE("transpose of a matrix swaps rows and columns", T, float, double) {
    const tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    // [[1, 2, 3], [4, 5, 6]]ᵀ = [[1, 4], [2, 5], [3, 6]]
    check_values(kexue::transpose(x), {3, 2}, {1, 4, 2, 5, 3, 6});
    check_values(kexue::transpose(x, 0, 1), {3, 2}, {1, 4, 2, 5, 3, 6});
    check_values(kexue::transpose(x, -1, -2), {3, 2}, {1, 4, 2, 5, 3, 6});
    CHECK_FALSE(kexue::transpose(x).shares_storage_with(x));
  }

  TEST_CASE_TEMPLATE("permute reorders the axes of a rank-3 tensor", T, float, double) {
    const tensor<T> x = {{{0, 1, 2}, {3, 4, 5}}, {{6, 7, 8}, {9, 10, 11}}};  // [2, 2, 3], x[i,j,k] = 6i + 3j + k
    // out[k, i, j] = x[i, j, k] = 6i + 3j + k: row k of out is [k, 3+k, 6+k, 9+k] as (i, j) runs over
    // (0,0),(0,1),(1,0),(1,1)
    check_values(kexue::permute(x, {2, 0, 1}), {3, 2, 2}, {0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11});
    // out[j, k, i] = x[i, j, k]; negative axes count from the end
    check_values(kexue::permute(x, {-2, -1, 0}), {2, 3, 2}, {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11});
  }

  TEST_CASE("the identity permutation returns the tensor itself") {
    const tensor<float> x = {{1, 2}, {3, 4}};
    CHECK(kexue::permute(x, {0, 1}).shares_storage_with(x));
    CHECK(kexue::transpose(x, 1, 1).shares_storage_with(x));
    const tensor<float> v = {1, 2, 3};
    CHECK(kexue::transpose(v).shares_storage_with(v));  // torch.t of a vector is the vector
  }

  TEST_CASE("blocked and general paths agree with the definition") {
    auto x = kexue::randn<double>({3, 37, 41}, 7);
    for (const auto& dims : std::vector<std::vector<int>>{{0, 2, 1}, {2, 1, 0}, {1, 0, 2}, {2, 0, 1}, {1, 2, 0}}) {
      CAPTURE(dims.size());
      const auto got = kexue::permute(x, dims);
      const auto want = permute_reference(x, dims);
      REQUIRE(got.shape() == want.shape());
      CHECK(got.to_vector() == want.to_vector());
    }
    // NCHW → NHWC and back (a batch of matrix transposes after merging H and W), and size-1 axes.
    auto images = kexue::randn<double>({2, 5, 1, 33, 7}, 8);
    for (const auto& dims : std::vector<std::vector<int>>{{0, 2, 3, 4, 1}, {0, 4, 1, 2, 3}, {2, 0, 1, 4, 3}}) {
      CHECK(kexue::permute(images, dims).to_vector() == permute_reference(images, dims).to_vector());
    }
    auto matrix = kexue::randn<double>({65, 70}, 9);
    CHECK(kexue::transpose(matrix).to_vector() == permute_reference(matrix, {1, 0}).to_vector());
  }

  TEST_CASE("permute works on int64 and bool tensors") {
    const tensor<index_t> ids = {{1, 2, 3}, {4, 5, 6}};
    CHECK(kexue::transpose(ids).to_vector() == std::vector<index_t>{1, 4, 2, 5, 3, 6});
    const tensor<bool> mask = {{true, false}, {false, false}};
    const auto t = kexue::transpose(mask);
    CHECK(t(0, 1) == false);
    CHECK(t(1, 0) == false);
    CHECK(t(0, 0) == true);
  }

  TEST_CASE("permute of an empty tensor is empty") {
    const auto x = tensor<float>::empty({2, 0, 3});
    const auto y = kexue::permute(x, {2, 0, 1});
    CHECK(y.shape() == shape{3, 2, 0});
    CHECK(y.numel() == 0);
  }

  TEST_CASE("permute and transpose pass gradcheck and second-order checks") {
    auto x = kexue::randn<double>({2, 3, 4}, 1).requires_grad(true);
    const auto perm = [](const tensors& v) { return kexue::permute(v[0], {1, 2, 0}); };
    const auto perm_sq = [](const tensors& v) {
      const auto y = kexue::permute(v[0], {1, 2, 0});
      return y * y;
    };
    const auto trans_sq = [](const tensors& v) {
      const auto y = kexue::transpose(v[0], 0, 2);
      return y * y;
    };
    check_gradients(perm, {x});
    check_gradients(trans_sq, {x});
    check_second_order(perm_sq, {x});
    check_second_order(trans_sq, {x});
  }

  TEST_CASE("the gradient of permute is the inverse permutation") {
    auto x = kexue::zeros<double>({2, 3, 4}).requires_grad(true);
    auto w = kexue::arange<double>(24.0);  // weights 0..23 in the layout of the output [3, 4, 2]
    const auto y = kexue::permute(x, {1, 2, 0});
    (y * kexue::reshape(w, {3, 4, 2})).backward(kexue::ones<double>({3, 4, 2}));
    // d/dx[i, j, k] = w[j, k, i] = 8j + 2k + i
    CHECK(x.grad().to_vector() == permute_reference(kexue::reshape(w, {3, 4, 2}), {2, 0, 1}).to_vector());
  }

  TEST_CASE("bad axes are reported") {
    const tensor<float> x = {{1, 2, 3}, {4, 5, 6}};
    CHECK_THROWS_WITH_AS(kexue::permute(x, {0}), "permute: 1 axes given for a tensor of rank 2 (shape [2, 3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::permute(x, {0, 2}), "permute: axis 2 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::permute(x, {1, -1}), "permute: axis -1 appears twice in the permutation",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::transpose(x, 0, 3), "transpose: axis 3 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::transpose(tensor<float>::empty({2, 3, 4})),
                         "transpose: without axes, expects a tensor of rank at most 2 (got shape [2, 3, 4]); pass "
                         "the two axes to swap",
                         kexue::shape_error);
  }
}
