// SPDX-License-Identifier: MIT
// Decoding of pointer-head outputs into answer spans, and the answer voting of A02 / A26.
#pragma once

#include <algorithm>  // std::sort
#include <map>        // answer aggregation by string
#include <string>
#include <utility>  // std::pair
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::algo {

/// A candidate answer span [start, end] (inclusive token positions) and its score.
struct scored_span {
  index_t start = 0, end = 0;
  double score = 0;
  bool operator==(const scored_span& o) const { return start == o.start && end == o.end && score == o.score; }
};

/// @brief Every span start ≤ end < start + max_length whose start and end probabilities both pass
/// `threshold`, scored by the product p_start · p_end (A02: the product beat the geometric mean), best first
/// (ties: earlier start, then shorter).
/// @param p_start, p_end `[T]` probabilities of one passage (one pointer pair).
/// @throws shape_error when the two are not rank-1 of equal length; value_error for max_length < 1.
template <class T>
std::vector<scored_span> decode_spans(const tensor<T>& p_start, const tensor<T>& p_end, index_t max_length,
                                      double threshold = 0.0) {
  KEXUE_CHECK(p_start.rank() == 1 && p_start.shape() == p_end.shape(), shape_error, "decode_spans",
              "expected two [T] probability vectors, got ", format_shape(p_start.shape()), " and ",
              format_shape(p_end.shape()));
  KEXUE_CHECK(max_length >= 1, value_error, "decode_spans", "max_length must be at least 1, got ", max_length);
  std::vector<scored_span> spans;
  const index_t n = p_start.size(0);
  for (index_t i = 0; i < n; ++i) {
    const double ps = static_cast<double>(p_start.data()[i]);
    if (!(ps > threshold)) continue;
    for (index_t j = i; j < n && j < i + max_length; ++j) {
      const double pe = static_cast<double>(p_end.data()[j]);
      if (pe > threshold) spans.push_back({i, j, ps * pe});
    }
  }
  std::sort(spans.begin(), spans.end(), [](const scored_span& a, const scored_span& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.start != b.start) return a.start < b.start;
    return a.end < b.end;
  });
  return spans;
}

/// @brief A26's subject/object pairing: each position whose start probability exceeds `start_threshold` is
/// paired with the nearest position at or after it whose end probability exceeds `end_threshold` (A26
/// defaults 0.6 and 0.5); starts without such an end give nothing. Score: p_start · p_end.
template <class T>
std::vector<scored_span> pair_nearest_ends(const tensor<T>& p_start, const tensor<T>& p_end,
                                           double start_threshold = 0.6, double end_threshold = 0.5) {
  KEXUE_CHECK(p_start.rank() == 1 && p_start.shape() == p_end.shape(), shape_error, "pair_nearest_ends",
              "expected two [T] probability vectors, got ", format_shape(p_start.shape()), " and ",
              format_shape(p_end.shape()));
  std::vector<scored_span> spans;
  const index_t n = p_start.size(0);
  for (index_t i = 0; i < n; ++i) {
    const double ps = static_cast<double>(p_start.data()[i]);
    if (!(ps > start_threshold)) continue;
    for (index_t j = i; j < n; ++j) {
      const double pe = static_cast<double>(p_end.data()[j]);
      if (pe > end_threshold) {
        spans.push_back({i, j, ps * pe});
        break;
      }
    }
  }
  return spans;
}

/// @brief A02's vote across passages: answers with scores s_{a,i} (one per passage where answer a was found;
/// within a passage keep the max before calling) get s_a = Σ_i s_{a,i}² / (1 + Σ_i s_{a,i}); squares up-weight
/// confident "experts" and the +1 penalises answers backed by few low scores. Returns (answer, s_a), best
/// first (ties: alphabetical).
inline std::vector<std::pair<std::string, double>> vote_answers(
    const std::vector<std::pair<std::string, double>>& scored) {
  std::map<std::string, std::pair<double, double>> sums;  // answer -> (Σ s², Σ s)
  for (const auto& [answer, s] : scored) {
    auto& acc = sums[answer];
    acc.first += s * s;
    acc.second += s;
  }
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [answer, acc] : sums) out.emplace_back(answer, acc.first / (1 + acc.second));
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

}  // namespace kexue::algo
