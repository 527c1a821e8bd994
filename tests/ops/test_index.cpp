// SPDX-License-Identifier: MIT
// Tests of ops/index.hpp: index_select, index_add, gather, scatter_add.
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/index.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace {
using tensors = std::vector<tensor<double>>;
}  // namespace

TEST_SUITE("ops.index") {
  TEST_CASE_TEMPLATE("index_select picks rows or columns, repeats allowed", T, float, double) {
    const tensor<T> x = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}};
    check_values(kexue::index_select(x, 0, tensor<index_t>{2, 0, 2}), {3, 3}, {7, 8, 9, 1, 2, 3, 7, 8, 9});
    check_values(kexue::index_select(x, -1, tensor<index_t>{1}), {3, 1}, {2, 5, 8});
    check_values(kexue::index_select(x, 1, tensor<index_t>::empty({0})), {3, 0}, {});
  }

  TEST_CASE_TEMPLATE("index_add accumulates rows at the indices", T, float, double) {
    const tensor<T> x = {{1, 1}, {1, 1}, {1, 1}};
    const tensor<T> src = {{1, 2}, {3, 4}, {5, 6}};
    // rows 0 and 2 of src both go to row 2: [1,1] + [1,2] + [5,6] = [7, 9]; row 1 of src to row 0
    check_values(kexue::index_add(x, 0, tensor<index_t>{2, 0, 2}, src), {3, 2}, {4, 5, 1, 1, 7, 9});
    // columns: src column k goes to column index[k]
    const auto cols = kexue::from_vector<T>({10, 20, 30}, {3, 1});
    check_values(kexue::index_add(x, 1, tensor<index_t>{1}, cols), {3, 2}, {1, 11, 1, 21, 1, 31});
    check_values(x, {3, 2}, {1, 1, 1, 1, 1, 1});  // out of place
  }

  TEST_CASE_TEMPLATE("gather follows torch.gather", T, float, double) {
    const tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    // axis 1: out[i][j] = x[i][index[i][j]]
    const tensor<index_t> cols = {{2, 0}, {1, 1}};
    check_values(kexue::gather(x, 1, cols), {2, 2}, {3, 1, 5, 5});
    // axis 0: out[i][j] = x[index[i][j]][j]; index [1, 3] is smaller than x on no axis but 0
    const tensor<index_t> rows = {{1, 0, 1}};
    check_values(kexue::gather(x, 0, rows), {1, 3}, {4, 2, 6});
    // index smaller than x off the gathered axis: only x[:1, ...] is read
    check_values(kexue::gather(x, 1, tensor<index_t>{{0, 0, 2, 1}}), {1, 4}, {1, 1, 3, 2});
    // picking one label per row, as a loss does
    const auto labels = kexue::from_vector<index_t>({2, 0}, {2, 1});
    check_values(kexue::gather(x, 1, labels), {2, 1}, {3, 4});
  }

  TEST_CASE_TEMPLATE("scatter_add adds src at the gathered positions", T, float, double) {
    const auto x = kexue::zeros<T>({2, 3});
    const tensor<index_t> index = {{2, 0, 2}, {1, 1, 0}};
    const tensor<T> src = {{1, 2, 3}, {4, 5, 6}};
    // row 0: x[0][2] += 1 + 3, x[0][0] += 2; row 1: x[1][1] += 4 + 5, x[1][0] += 6
    check_values(kexue::scatter_add(x, 1, index, src), {2, 3}, {2, 0, 4, 6, 9, 0});
    // axis 0: x[index[i][j]][j] += src[i][j]
    const tensor<index_t> rows = {{1, 0, 1}};
    check_values(kexue::scatter_add(kexue::ones<T>({2, 3}), 0, rows, tensor<T>{{1, 2, 3}}), {2, 3}, {1, 3, 1, 2, 1, 4});
  }

  TEST_CASE("index ops work on int64 tensors") {
    const tensor<index_t> x = {{1, 2}, {3, 4}, {5, 6}};
    CHECK(kexue::index_select(x, 0, tensor<index_t>{2, 2}).to_vector() == std::vector<index_t>{5, 6, 5, 6});
    CHECK(kexue::gather(x, 1, kexue::from_vector<index_t>({1, 0, 1}, {3, 1})).to_vector() ==
          std::vector<index_t>{2, 3, 6});
    CHECK(kexue::index_add(x, 0, tensor<index_t>{0}, tensor<index_t>{{10, 20}}).to_vector() ==
          std::vector<index_t>{11, 22, 3, 4, 5, 6});
    CHECK(kexue::scatter_add(x, 0, tensor<index_t>{{2, 0}}, tensor<index_t>{{100, 200}}).to_vector() ==
          std::vector<index_t>{1, 202, 3, 4, 105, 6});
    const tensor<bool> mask = {true, false};
    CHECK(kexue::index_select(mask, 0, tensor<index_t>{1, 0, 0}).to_vector() == std::vector<bool>{false, true, true});
  }

  TEST_CASE("empty indices give empty results and zero gradients") {
    auto x = kexue::randn<double>({3, 2}, 5).requires_grad(true);
    const auto y = kexue::index_select(x, 0, tensor<index_t>::empty({0}));
    CHECK(y.shape() == shape{0, 2});
    y.backward(tensor<double>::empty({0, 2}));
    check_values(x.grad(), {3, 2}, {0, 0, 0, 0, 0, 0});
    CHECK(kexue::gather(x.detach(), 1, tensor<index_t>::empty({3, 0})).shape() == shape{3, 0});
    CHECK(
        kexue::scatter_add(x.detach(), 1, tensor<index_t>::empty({3, 0}), tensor<double>::empty({3, 0})).to_vector() ==
        x.detach().to_vector());
  }

  TEST_CASE("repeated indices accumulate their gradients") {
    auto x = kexue::zeros<double>({3, 2}).requires_grad(true);
    kexue::index_select(x, 0, tensor<index_t>{1, 1, 0}).backward(tensor<double>{{1, 2}, {3, 4}, {5, 6}});
    check_values(x.grad(), {3, 2}, {5, 6, 4, 6, 0, 0});  // row 1 gets [1, 2] + [3, 4]
    auto y = kexue::zeros<double>({2, 3}).requires_grad(true);
    kexue::gather(y, 1, tensor<index_t>{{0, 0}, {2, 1}}).backward(tensor<double>{{1, 2}, {3, 4}});
    check_values(y.grad(), {2, 3}, {3, 0, 0, 0, 4, 3});
  }

  TEST_CASE("index ops pass gradcheck and second-order checks") {
    auto x = kexue::randn<double>({4, 3, 2}, 21).requires_grad(true);
    auto src = kexue::randn<double>({4, 5, 2}, 22).requires_grad(true);
    const tensor<index_t> index = {2, 0, 2, 1, 0};
    const tensor<index_t> gidx = {
        {{1, 0}, {2, 2}}, {{0, 0}, {1, 2}}, {{2, 1}, {0, 0}}};  // [3, 2, 2] within x [4, 3, 2]
    auto gsrc = kexue::randn<double>({3, 2, 2}, 23).requires_grad(true);

    const auto select_fn = [index](const tensors& v) { return kexue::index_select(v[0], 1, index); };
    const auto add_fn = [index](const tensors& v) { return kexue::index_add(v[0], 1, index, v[1]); };
    const auto gather_fn = [gidx](const tensors& v) { return kexue::gather(v[0], 1, gidx); };
    const auto scatter_fn = [gidx](const tensors& v) { return kexue::scatter_add(v[0], 1, gidx, v[1]); };
    check_gradients(select_fn, {x});
    check_gradients(add_fn, {x, src});
    check_gradients(gather_fn, {x});
    check_gradients(scatter_fn, {x, gsrc});
    // Squared, so the first-order gradient depends on the inputs and runs the adjoint op's backward.
    check_second_order([&](const tensors& v) { return select_fn(v) * select_fn(v); }, {x});
    check_second_order([&](const tensors& v) { return add_fn(v) * add_fn(v); }, {x, src});
    check_second_order([&](const tensors& v) { return gather_fn(v) * gather_fn(v); }, {x});
    check_second_order([&](const tensors& v) { return scatter_fn(v) * scatter_fn(v); }, {x, gsrc});
  }

  TEST_CASE("bad indices and shapes are reported") {
    const tensor<float> x = {{1, 2, 3}, {4, 5, 6}};
    CHECK_THROWS_WITH_AS(kexue::index_select(x, 1, tensor<index_t>{0, 3}),
                         "index_select: index 3 out of range for axis 1 of size 3", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::index_select(x, 0, tensor<index_t>{-1}),
                         "index_select: index -1 out of range for axis 0 of size 2", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::index_select(x, 2, tensor<index_t>{0}),
                         "index_select: axis 2 out of range for a tensor of rank 2", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::index_select(x, 0, tensor<index_t>{{0, 1}}),
                         "index_select: index must be 1-D (got shape [1, 2])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::index_add(x, 1, tensor<index_t>{0, 1}, tensor<float>{{1, 2, 3}, {4, 5, 6}}),
                         "index_add: source shape [2, 3] should be [2, 2] (input shape [2, 3] with axis 1 of the index "
                         "length 2)",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::index_add(x, 0, tensor<index_t>{5}, tensor<float>{{1, 2, 3}}),
                         "index_add: index 5 out of range for axis 0 of size 2", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::gather(x, 1, tensor<index_t>{{0, 7}}),
                         "gather: index 7 out of range for axis 1 of size 3", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::gather(x, 1, tensor<index_t>{0, 1}),
                         "gather: index rank 1 differs from input rank 2 (input [2, 3], index [2])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::gather(x, 1, kexue::from_vector<index_t>({0, 1, 2}, {3, 1})),
                         "gather: index shape [3, 1] exceeds input shape [2, 3] on axis 0 (indexing along axis 1)",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::gather(x, -3, kexue::from_vector<index_t>({0}, {1, 1})),
                         "gather: axis -3 out of range for a tensor of rank 2", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::scatter_add(x, 1, tensor<index_t>{{0, 1}}, tensor<float>{{1, 2, 3}}),
                         "scatter_add: source shape [1, 3] differs from index shape [1, 2]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::scatter_add(x, 0, tensor<index_t>{{2, 0}}, tensor<float>{{1, 2}}),
                         "scatter_add: index 2 out of range for axis 0 of size 2", kexue::index_error);
  }
}
