// SPDX-License-Identifier: MIT
// one_hot: integer class labels to indicator vectors.
#pragma once

#include <algorithm>  // std::fill_n

#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue {

/// @brief Indicator vectors of integer labels: out[..., c] = 1 if labels[...] == c, else 0.
/// @param labels any shape `[...]` (rank at most shape::max_rank − 1), values in [0, num_classes).
/// @param num_classes the length of each indicator vector (≥ 0).
/// @return tensor<T> of shape `labels.shape() + [num_classes]` (T: float, double, index_t or bool). Not
/// differentiable (the labels are integers). Example: `one_hot<float>(tensor<index_t>{2, 0}, 3)` gives
/// `[[0, 0, 1], [1, 0, 0]]`.
/// @throws value_error if num_classes is negative; index_error naming the first label outside
/// [0, num_classes).
template <class T>
tensor<T> one_hot(const tensor<index_t>& labels, index_t num_classes);

// ~~~ Implementation ~~~

template <class T>
tensor<T> one_hot(const tensor<index_t>& labels, index_t num_classes) {
  KEXUE_CHECK(num_classes >= 0, value_error, "one_hot", "num_classes must be non-negative (got ", num_classes, ")");
  const index_t* src = labels.data();
  const index_t n = labels.numel();
  for (index_t i = 0; i < n; ++i) {
    KEXUE_CHECK(src[i] >= 0 && src[i] < num_classes, index_error, "one_hot", "label ", src[i],
                " out of range for num_classes ", num_classes, " (at flat index ", i, " of labels of shape ",
                format_shape(labels.shape()), ")");
  }
  shape out_shape = labels.shape();
  out_shape.push_back(num_classes);
  auto out = tensor<T>::empty(out_shape);
  T* dst = out.data();
  std::fill_n(dst, out.numel(), T(0));
  for (index_t i = 0; i < n; ++i) dst[i * num_classes + src[i]] = T(1);
  return out;
}

}  // namespace kexue
