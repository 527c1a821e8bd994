// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/one_hot.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

TEST_SUITE("ops.one_hot") {
  TEST_CASE_TEMPLATE("one_hot puts a single one at each label", T, float, double) {
    // labels (2, 0, 1) with 3 classes: rows e2, e0, e1.
    auto out = kx::one_hot<T>(kx::tensor<kx::index_t>{2, 0, 1}, 3);
    check_values(out, {3, 3}, {0, 0, 1, 1, 0, 0, 0, 1, 0});
    CHECK_FALSE(out.requires_grad());
  }

  TEST_CASE("one_hot appends the class axis to any label shape") {
    auto labels = kx::tensor<kx::index_t>{{0, 3}, {1, 1}};
    auto out = kx::one_hot<double>(labels, 4);
    check_values(out, {2, 2, 4}, {1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0});
    // A rank-0 label gives a plain vector; no labels give an empty [0, C] tensor.
    auto single = kx::one_hot<float>(kx::full<kx::index_t>({}, 1), 2);
    check_values(single, {2}, {0, 1});
    CHECK(kx::one_hot<float>(kx::zeros<kx::index_t>({0}), 5).shape() == kx::shape{0, 5});
  }

  TEST_CASE("one_hot also builds integer and boolean indicators") {
    auto as_int = kx::one_hot<kx::index_t>(kx::tensor<kx::index_t>{1, 0}, 2);
    CHECK(as_int.to_vector() == std::vector<kx::index_t>{0, 1, 1, 0});
    auto as_bool = kx::one_hot<bool>(kx::tensor<kx::index_t>{1}, 3);
    CHECK(as_bool.shape() == kx::shape{1, 3});
    CHECK_FALSE(as_bool(0, 0));
    CHECK(as_bool(0, 1));
    CHECK_FALSE(as_bool(0, 2));
  }

  TEST_CASE("one_hot rejects labels outside [0, num_classes)") {
    CHECK_THROWS_WITH_AS(kx::one_hot<float>(kx::tensor<kx::index_t>{0, 3, 1}, 3),
                         "one_hot: label 3 out of range for num_classes 3 (at flat index 1 of labels of shape [3])",
                         kx::index_error);
    CHECK_THROWS_WITH_AS(kx::one_hot<float>(kx::tensor<kx::index_t>{{0, 1}, {-1, 0}}, 2),
                         "one_hot: label -1 out of range for num_classes 2 (at flat index 2 of labels of shape "
                         "[2, 2])",
                         kx::index_error);
    CHECK_THROWS_WITH_AS(kx::one_hot<float>(kx::tensor<kx::index_t>{0}, -2),
                         "one_hot: num_classes must be non-negative (got -2)", kx::value_error);
  }
}
