// SPDX-License-Identifier: MIT
// Small deterministic inputs shared by several test files. Test files of a suite are compiled together in
// unity batches (tests/CMakeLists.txt), so a helper used by more than one file lives here, once, instead of
// in each file's anonymous namespace, where two copies would collide.
#pragma once

#include <cstdint>           // std::uint64_t
#include <initializer_list>  // leaf({...})
#include <limits>            // infinity
#include <vector>            // from_vector's argument

#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/arithmetic.hpp>

namespace kexue::testing {

/// +∞ as a double, for masks and expected values.
inline constexpr double inf = std::numeric_limits<double>::infinity();

/// A 1-D double leaf [v.size()] with the given values that requires a gradient (an optimizer's parameter).
inline tensor<double> leaf(std::initializer_list<double> v) {
  return from_vector<double>(std::vector<double>(v)).requires_grad(true);
}

/// Deterministic logits in [−3, 3) of shape s: uniform draws from the given seed, scaled.
template <class T>
tensor<T> logits(const shape& s, std::uint64_t seed = 7) {
  return kexue::rand<T>(s, seed) * T(6) - T(3);
}

}  // namespace kexue::testing
