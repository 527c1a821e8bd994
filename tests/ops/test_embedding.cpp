// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/embedding.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/stop_gradient.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

TEST_SUITE("ops.embedding") {
  TEST_CASE_TEMPLATE("embedding looks up one row per index", T, float, double) {
    // Table rows r0 = (0, 1), r1 = (10, 11), r2 = (20, 21); indices [[2, 0], [1, 2]] → [2, 2, 2].
    auto weight = kx::tensor<T>{{0, 1}, {10, 11}, {20, 21}};
    auto out = kx::embedding(kx::tensor<kx::index_t>{{2, 0}, {1, 2}}, weight);
    check_values(out, {2, 2, 2}, {20, 21, 0, 1, 10, 11, 20, 21});
    // A rank-0 index gives one row; no indices give [0, dim].
    check_values(kx::embedding(kx::full<kx::index_t>({}, 1), weight), {2}, {10, 11});
    CHECK(kx::embedding(kx::zeros<kx::index_t>({0}), weight).shape() == kx::shape{0, 2});
  }

  TEST_CASE("the gradient of embedding adds output gradient rows into the table") {
    // indices (1, 0, 1) with output gradient rows (1, 2), (3, 4), (5, 6): row 0 gets (3, 4), row 1 gets
    // (1, 2) + (5, 6) = (6, 8), row 2 nothing.
    auto weight = kx::zeros<double>({3, 2}).requires_grad(true);
    auto out = kx::embedding(kx::tensor<kx::index_t>{1, 0, 1}, weight);
    auto g = kx::grad({kx::sum(out * kx::tensor<double>{{1, 2}, {3, 4}, {5, 6}})}, {weight});
    check_values(g[0], {3, 2}, {3, 4, 6, 8, 0, 0});
    CHECK(std::string(out.grad_fn()->name) == "embedding");
  }

  TEST_CASE("embedding passes gradient checks of first and second order") {
    kx::generator gen(kexue_test_seed());
    auto weight = kx::randn<double>({5, 3}, gen).requires_grad(true);
    auto indices = kx::tensor<kx::index_t>{{4, 0, 4}, {2, 2, 1}};
    auto fn = [indices](const std::vector<kx::tensor<double>>& v) {
      auto e = kx::embedding(indices, v[0]);
      return kx::sin(e) * e;
    };
    kx::testing::check_gradients(fn, {weight});
    kx::testing::check_second_order(fn, {weight});
  }

  TEST_CASE("the padding row gets no gradient of any order") {
    // embedding(idx, W, pad) has the gradients of embedding(idx, W'), where W' equals W but its padding row
    // is cut from the graph: W' = W·keep + sg[W]·(1 − keep).
    kx::generator gen(kexue_test_seed() + 1);
    auto weight = kx::randn<double>({4, 3}, gen).requires_grad(true);
    auto indices = kx::tensor<kx::index_t>{{1, 3, 0}, {3, 3, 2}};
    const kx::index_t pad = 3;
    auto keep = kx::ones<double>({4, 1});
    keep(pad, 0) = 0;
    auto f = [&](const kx::tensor<double>& e) { return kx::sum(kx::sin(e) * e); };
    auto padded = kx::embedding(indices, weight, pad);
    auto reference_table = weight * keep + kx::stop_gradient(weight) * (1.0 - keep);
    auto reference = kx::embedding(indices, reference_table);
    kx::testing::check_close(padded, reference);  // the padding row is still looked up
    auto graph = kx::grad_options().create_graph(true);
    auto g = kx::grad({f(padded)}, {weight}, graph);
    auto g_ref = kx::grad({f(reference)}, {weight}, graph);
    kx::testing::check_close(g[0], g_ref[0]);
    for (kx::index_t d = 0; d < 3; ++d) CHECK(g[0](pad, d) == 0.0);
    CHECK(g[0](0, 0) != 0.0);
    auto v = kx::randn<double>({4, 3}, gen);
    auto gg = kx::grad({kx::sum(g[0] * v)}, {weight});
    auto gg_ref = kx::grad({kx::sum(g_ref[0] * v)}, {weight});
    kx::testing::check_close(gg[0], gg_ref[0]);
    for (kx::index_t d = 0; d < 3; ++d) CHECK(gg[0](pad, d) == 0.0);
  }

  TEST_CASE("embedding_rows_touched lists the rows that get a gradient") {
    auto indices = kx::tensor<kx::index_t>{{5, 1, 5}, {0, 3, 1}};
    CHECK(kx::embedding_rows_touched(indices) == std::vector<kx::index_t>{0, 1, 3, 5});
    CHECK(kx::embedding_rows_touched(indices, 1) == std::vector<kx::index_t>{0, 3, 5});
    CHECK(kx::embedding_rows_touched(indices, 2) == std::vector<kx::index_t>{0, 1, 3, 5});
    CHECK(kx::embedding_rows_touched(kx::zeros<kx::index_t>({0})).empty());
  }

  TEST_CASE("embedding names the bad index and the table size") {
    auto weight = kx::zeros<float>({5, 2});
    CHECK_THROWS_WITH_AS(kx::embedding(kx::tensor<kx::index_t>{0, 7, 1}, weight),
                         "embedding: index 7 out of range for a table of 5 rows (at flat index 1 of indices of "
                         "shape [3])",
                         kx::index_error);
    CHECK_THROWS_WITH_AS(kx::embedding(kx::tensor<kx::index_t>{{0, 1}, {2, -1}}, weight),
                         "embedding: index -1 out of range for a table of 5 rows (at flat index 3 of indices of "
                         "shape [2, 2])",
                         kx::index_error);
    CHECK_THROWS_WITH_AS(kx::embedding(kx::tensor<kx::index_t>{0}, weight, 5),
                         "embedding: padding_idx 5 out of range for a table of 5 rows (use -1 for none)",
                         kx::index_error);
    CHECK_THROWS_WITH_AS(kx::embedding(kx::tensor<kx::index_t>{0}, weight, -2),
                         "embedding: padding_idx -2 out of range for a table of 5 rows (use -1 for none)",
                         kx::index_error);
    CHECK_THROWS_WITH_AS(kx::embedding(kx::tensor<kx::index_t>{0}, kx::zeros<float>({5})),
                         "embedding: weight must have shape [num_embeddings, dim] (got [5])", kx::shape_error);
  }
}
