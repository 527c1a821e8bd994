// SPDX-License-Identifier: MIT
// Regression losses: mean squared error, L1, Huber and smooth L1, element-wise with loss::reduce.
#pragma once

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/math.hpp>

namespace kexue::loss {

// Every loss here is element-wise: input and target have the same shape (no broadcasting: a [B, 1]
// prediction against a [B] target is an error, not a [B, B] loss), the per-sample loss has that shape, and
// `reduce` (loss/reduction.hpp) applies the reduction, sample weights (broadcastable to it) and the mask
// (exactly that shape). reduction::mean is then the mean over all elements, as in PyTorch. All are composed
// of differentiable ops, so second order works (away from the kinks: |d| = 0 for L1, |d| = delta for Huber).
// Errors: shape_error "<op>: input shape [2, 3] differs from target shape [2, 4]"; those of `reduce`.

/// Options of mse.
struct mse_options {
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Squared error (x − y)², PyTorch's mse_loss.
/// @param input, target the same shape `[...]`. @return reduced; `[...]` for reduction::none.
/// Gradient: 2(x − y) to input, −2(x − y) to target.
template <class T>
tensor<T> mse(const tensor<T>& input, const tensor<T>& target, const mse_options& options = {},
              const weighting_arg<T>& weights = {});

/// Options of l1.
struct l1_options {
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Absolute error |x − y|, PyTorch's l1_loss.
/// @param input, target the same shape `[...]`. @return reduced; `[...]` for reduction::none.
/// Gradient: sign(x − y) to input (0 where x = y, as PyTorch), its negative to target.
template <class T>
tensor<T> l1(const tensor<T>& input, const tensor<T>& target, const l1_options& options = {},
             const weighting_arg<T>& weights = {});

/// Options of huber.
struct huber_options {
  /// The threshold δ > 0 between the quadratic and the linear part. Default 1.
  KEXUE_LOSS_ARG(double, delta, 1.0);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Huber loss of d = x − y, PyTorch's huber_loss: ½d² if |d| < δ, else δ(|d| − ½δ).
/// @param input, target the same shape `[...]`. @return reduced; `[...]` for reduction::none.
/// Gradient: d clipped to [−δ, δ] (continuous at |d| = δ); second derivative 1 inside, 0 outside.
/// @throws value_error "huber: delta must be positive (got 0)".
template <class T>
tensor<T> huber(const tensor<T>& input, const tensor<T>& target, const huber_options& options = {},
                const weighting_arg<T>& weights = {});

/// Options of smooth_l1.
struct smooth_l1_options {
  /// The threshold β ≥ 0; β = 0 is exactly l1. Default 1.
  KEXUE_LOSS_ARG(double, beta, 1.0);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Smooth L1 of d = x − y, PyTorch's smooth_l1_loss: ½d²/β if |d| < β, else |d| − ½β
/// (= huber with δ = β, divided by β).
/// @param input, target the same shape `[...]`. @return reduced; `[...]` for reduction::none.
/// Gradient: d/β clipped to [−1, 1]; β = 0 gives l1's sign(d).
/// @throws value_error "smooth_l1: beta must be non-negative (got -1)".
template <class T>
tensor<T> smooth_l1(const tensor<T>& input, const tensor<T>& target, const smooth_l1_options& options = {},
                    const weighting_arg<T>& weights = {});

// ~~~ Implementation ~~~

namespace detail {
/// x − y after checking that the shapes are equal (element-wise losses never broadcast).
template <class T>
tensor<T> checked_difference(const tensor<T>& input, const tensor<T>& target, const char* op) {
  static_assert(tensor<T>::is_differentiable, "regression losses need float or double tensors");
  KEXUE_CHECK(input.shape() == target.shape(), shape_error, op, "input shape ", format_shape(input.shape()),
              " differs from target shape ", format_shape(target.shape()));
  return sub(input, target);
}

/// where(|d| < t, ½d²·scale, (|d| − ½t)·t·scale): Huber with threshold t, times `scale` (1/t for smooth L1).
/// Both branches are finite everywhere, so `where` routes a clean zero gradient to the unused one.
template <class T>
tensor<T> huber_elements(const tensor<T>& d, T t, T scale) {
  const tensor<T> a = abs(d);
  const tensor<T> quadratic = mul_scalar(square(d), T(0.5) * scale);
  const tensor<T> linear = mul_scalar(add_scalar(a, T(-0.5) * t), t * scale);
  return where(less(a, t), quadratic, linear);
}
}  // namespace detail

template <class T>
tensor<T> mse(const tensor<T>& input, const tensor<T>& target, const mse_options& options,
              const weighting_arg<T>& weights) {
  const tensor<T> d = detail::checked_difference(input, target, "mse");
  return reduce(square(d), options.reduction(), weights, "mse");
}

template <class T>
tensor<T> l1(const tensor<T>& input, const tensor<T>& target, const l1_options& options,
             const weighting_arg<T>& weights) {
  const tensor<T> d = detail::checked_difference(input, target, "l1");
  return reduce(abs(d), options.reduction(), weights, "l1");
}

template <class T>
tensor<T> huber(const tensor<T>& input, const tensor<T>& target, const huber_options& options,
                const weighting_arg<T>& weights) {
  KEXUE_CHECK(options.delta() > 0, value_error, "huber", "delta must be positive (got ", options.delta(), ")");
  const tensor<T> d = detail::checked_difference(input, target, "huber");
  const T delta = static_cast<T>(options.delta());
  return reduce(detail::huber_elements(d, delta, T(1)), options.reduction(), weights, "huber");
}

template <class T>
tensor<T> smooth_l1(const tensor<T>& input, const tensor<T>& target, const smooth_l1_options& options,
                    const weighting_arg<T>& weights) {
  KEXUE_CHECK(options.beta() >= 0, value_error, "smooth_l1", "beta must be non-negative (got ", options.beta(), ")");
  const tensor<T> d = detail::checked_difference(input, target, "smooth_l1");
  const T beta = static_cast<T>(options.beta());
  // β = 0: every |d| ≥ β, the linear branch |d| − 0 (the quadratic one would divide by zero).
  const tensor<T> per = beta == T(0) ? abs(d) : detail::huber_elements(d, beta, T(1) / beta);
  return reduce(per, options.reduction(), weights, "smooth_l1");
}

}  // namespace kexue::loss
