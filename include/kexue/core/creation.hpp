// SPDX-License-Identifier: MIT
// Factory functions: zeros, ones, full, arange, linspace, eye, from_vector, scalar and random draws.
#pragma once

#include <algorithm>  // std::fill
#include <cmath>      // std::ceil
#include <cstdint>    // std::uint64_t
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue {

/// Tensor of shape `s` filled with `value`.
template <class T>
tensor<T> full(const shape& s, T value) {
  auto t = tensor<T>::empty(s);
  std::fill(t.begin(), t.end(), value);
  return t;
}
/// Tensor of zeros.
template <class T>
tensor<T> zeros(const shape& s) {
  return full<T>(s, T(0));
}
/// Tensor of ones.
template <class T>
tensor<T> ones(const shape& s) {
  return full<T>(s, T(1));
}
/// Zeros with the shape of `like`.
template <class T>
tensor<T> zeros_like(const tensor<T>& like) {
  return zeros<T>(like.shape());
}
/// Ones with the shape of `like`.
template <class T>
tensor<T> ones_like(const tensor<T>& like) {
  return ones<T>(like.shape());
}
/// A rank-0 tensor holding `value`.
template <class T>
tensor<T> scalar(T value) {
  return full<T>(shape{}, value);
}
/// Tensor of shape `s` holding a copy of `values` (row-major). Sizes must agree.
template <class T>
tensor<T> from_vector(const std::vector<T>& values, const shape& s) {
  KEXUE_CHECK(static_cast<index_t>(values.size()) == s.numel(), shape_error, "from_vector", values.size(),
              " values do not fill shape ", format_shape(s), " (", s.numel(), " elements)");
  auto t = tensor<T>::empty(s);
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}
/// 1-D tensor of shape [values.size()].
template <class T>
tensor<T> from_vector(const std::vector<T>& values) {
  return from_vector(values, shape{static_cast<index_t>(values.size())});
}

/// Values start, start + step, ... below `end` (above it for a negative step), as numpy.arange.
template <class T>
tensor<T> arange(T start, T end, T step = T(1)) {
  KEXUE_CHECK(step != T(0), value_error, "arange", "step must not be zero");
  const double count = std::ceil((static_cast<double>(end) - static_cast<double>(start)) / static_cast<double>(step));
  const index_t n = count > 0 ? static_cast<index_t>(count) : 0;
  auto t = tensor<T>::empty(shape{n});
  for (index_t i = 0; i < n; ++i) t.data()[i] = static_cast<T>(start + static_cast<T>(i) * step);
  return t;
}
/// Values 0, 1, ..., end - 1.
template <class T>
tensor<T> arange(T end) {
  return arange<T>(T(0), end, T(1));
}
/// `steps` evenly spaced values from start to end inclusive.
template <class T>
tensor<T> linspace(T start, T end, index_t steps) {
  KEXUE_CHECK(steps >= 0, value_error, "linspace", "steps must be non-negative (got ", steps, ")");
  auto t = tensor<T>::empty(shape{steps});
  const double step = steps > 1 ? (static_cast<double>(end) - start) / static_cast<double>(steps - 1) : 0.0;
  for (index_t i = 0; i < steps; ++i) t.data()[i] = static_cast<T>(start + step * static_cast<double>(i));
  if (steps > 1) t.data()[steps - 1] = end;
  return t;
}
/// n×m matrix with ones on the diagonal (m defaults to n).
template <class T>
tensor<T> eye(index_t n, index_t m = -1) {
  if (m < 0) m = n;
  KEXUE_CHECK(n >= 0, value_error, "eye", "size must be non-negative (got ", n, ")");
  auto t = zeros<T>(shape{n, m});
  for (index_t i = 0; i < std::min(n, m); ++i) t.data()[i * m + i] = T(1);
  return t;
}

// ~~~ Random draws (all take an explicit generator; the seed overloads make a fresh one) ~~~

/// Uniform in [low, high).
template <class T>
tensor<T> rand(const shape& s, generator& gen, T low = T(0), T high = T(1)) {
  auto t = tensor<T>::empty(s);
  for (auto& v : t) v = static_cast<T>(gen.uniform(low, high));
  return t;
}
template <class T>
tensor<T> rand(const shape& s, std::uint64_t seed) {
  generator gen(seed);
  return rand<T>(s, gen);
}
/// Normal with the given mean and standard deviation.
template <class T>
tensor<T> randn(const shape& s, generator& gen, T mean = T(0), T stddev = T(1)) {
  KEXUE_CHECK(stddev >= T(0), value_error, "randn", "stddev must be non-negative (got ", stddev, ")");
  auto t = tensor<T>::empty(s);
  for (auto& v : t) v = static_cast<T>(mean + stddev * gen.normal());
  return t;
}
template <class T>
tensor<T> randn(const shape& s, std::uint64_t seed) {
  generator gen(seed);
  return randn<T>(s, gen);
}
/// Uniform integers in [low, high) as an int64 tensor.
inline tensor<index_t> randint(index_t low, index_t high, const shape& s, generator& gen) {
  KEXUE_CHECK(high > low, value_error, "randint", "high must exceed low (got low ", low, ", high ", high, ")");
  auto t = tensor<index_t>::empty(s);
  const auto range = static_cast<std::uint64_t>(high - low);
  for (auto& v : t) v = low + static_cast<index_t>(gen.below(range));
  return t;
}
inline tensor<index_t> randint(index_t low, index_t high, const shape& s, std::uint64_t seed) {
  generator gen(seed);
  return randint(low, high, s, gen);
}
/// 1 with probability p, else 0.
template <class T>
tensor<T> bernoulli(const shape& s, double p, generator& gen) {
  KEXUE_CHECK(p >= 0.0 && p <= 1.0, value_error, "bernoulli", "probability must lie in [0, 1] (got ", p, ")");
  auto t = tensor<T>::empty(s);
  for (auto& v : t) v = gen.uniform() < p ? T(1) : T(0);
  return t;
}
template <class T>
tensor<T> bernoulli(const shape& s, double p, std::uint64_t seed) {
  generator gen(seed);
  return bernoulli<T>(s, p, gen);
}

}  // namespace kexue
