// SPDX-License-Identifier: MIT
// Per-dtype tolerances for floating-point comparisons in the tests, defined once (R15):
//   CHECK(got == doctest::Approx(expected).epsilon(tol<T>));
// Loosen a tolerance only locally, with a comment naming the case that failed.
#pragma once

namespace kexue_test_detail {
template <class T>
constexpr double no_tolerance_for() {
  static_assert(sizeof(T) == 0, "tol<T>: no tolerance defined for this type (float and double are)");
  return 0.0;
}
}  // namespace kexue_test_detail

/// Relative tolerance for comparing values of type T computed in two different ways.
template <class T>
inline constexpr double tol = kexue_test_detail::no_tolerance_for<T>();
template <>
inline constexpr double tol<float> = 1e-5;
template <>
inline constexpr double tol<double> = 1e-12;
