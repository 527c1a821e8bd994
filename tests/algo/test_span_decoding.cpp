// SPDX-License-Identifier: MIT
// algo::decode_spans, pair_nearest_ends and vote_answers (A02, A26).
#include <doctest/doctest.h>

#include <kexue/algo/span_decoding.hpp>

namespace kx = kexue;
using kx::tensor;
using kx::algo::scored_span;

TEST_SUITE("algo.span_decoding") {
  TEST_CASE("spans are scored by the product of their end-point probabilities, best first") {
    const tensor<double> start = {0.9, 0.1, 0.6, 0.0};
    const tensor<double> end = {0.2, 0.8, 0.7, 0.5};
    const auto spans = kx::algo::decode_spans(start, end, 2, 0.05);
    // Candidates with length <= 2 and both probabilities > 0.05: (0,0) .18, (0,1) .72, (1,1) .08, (1,2) .07,
    // (2,2) .42, (2,3) .30.
    REQUIRE(spans.size() == 6);
    CHECK(spans[0].start == 0);
    CHECK(spans[0].end == 1);
    CHECK(spans[0].score == doctest::Approx(0.72));
    CHECK(spans[1].score == doctest::Approx(0.42));
    CHECK(spans[5].score == doctest::Approx(0.07));
    CHECK(kx::algo::decode_spans(start, end, 1, 0.65).size() == 0);  // (0,0) fails the end threshold
    CHECK_THROWS_WITH_AS(kx::algo::decode_spans(start, tensor<double>{1, 2}, 2),
                         "decode_spans: expected two [T] probability vectors, got [4] and [2]", kx::shape_error);
  }

  TEST_CASE("starts pair with the nearest end at or after them") {
    const tensor<float> start = {0.7f, 0.1f, 0.9f, 0.0f, 0.95f};
    const tensor<float> end = {0.1f, 0.6f, 0.9f, 0.0f, 0.0f};
    const auto spans = kx::algo::pair_nearest_ends(start, end);
    REQUIRE(spans.size() == 2);  // start 4 finds no end
    CHECK(spans[0].start == 0);
    CHECK(spans[0].end == 1);
    CHECK(spans[1].start == 2);
    CHECK(spans[1].end == 2);
  }

  TEST_CASE("the vote prefers one confident answer over several weak ones (A02's example)") {
    // (A, 0.7): 0.49 / 1.7 = 0.288; four (B, 0.2): 0.16 / 1.8 = 0.089.
    const auto ranked = kx::algo::vote_answers({{"A", 0.7}, {"B", 0.2}, {"B", 0.2}, {"B", 0.2}, {"B", 0.2}});
    REQUIRE(ranked.size() == 2);
    CHECK(ranked[0].first == "A");
    CHECK(ranked[0].second == doctest::Approx(0.49 / 1.7));
    CHECK(ranked[1].second == doctest::Approx(0.16 / 1.8));
  }
}
