// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/core/shape.hpp>

using kexue::shape;

TEST_SUITE("core.shape") {
  TEST_CASE("shape reports rank, numel and row-major strides") {
    const shape s{2, 3, 4};
    CHECK(s.rank() == 3);
    CHECK(s.numel() == 24);
    CHECK(s.strides() == shape{12, 4, 1});
    CHECK(shape{}.numel() == 1);  // a scalar has one element
    CHECK(shape{3, 0}.numel() == 0);
    CHECK(s.at(-1) == 4);
  }

  TEST_CASE("shapes print in brackets") {
    CHECK(kexue::format_shape(shape{2, 3}) == "[2, 3]");
    CHECK(kexue::format_shape(shape{}) == "[]");
  }

  TEST_CASE("broadcast follows numpy rules") {
    CHECK(kexue::broadcast_shapes(shape{2, 1, 4}, shape{3, 1}, "add") == shape{2, 3, 4});
    CHECK(kexue::broadcast_shapes(shape{}, shape{5}, "add") == shape{5});
    CHECK_THROWS_WITH_AS(kexue::broadcast_shapes(shape{2, 3}, shape{4, 5}, "add"),
                         "add: shapes cannot be broadcast (lhs [2, 3], rhs [4, 5])", kexue::shape_error);
  }

  TEST_CASE("invalid shapes and axes are rejected with their values") {
    CHECK_THROWS_WITH_AS(shape({2, -1}), "shape: negative dimension -1", kexue::shape_error);
    CHECK_THROWS_WITH_AS(shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), "shape: rank 9 exceeds the maximum rank 8",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(shape::normalize_axis(2, 2, "softmax"), "softmax: axis 2 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK(shape::normalize_axis(-1, 3, "x") == 2);
  }

  TEST_CASE("insert and erase edit the dimensions") {
    shape s{2, 3};
    s.insert(1, 7);
    CHECK(s == shape{2, 7, 3});
    s.erase(0);
    CHECK(s == shape{7, 3});
  }
}
