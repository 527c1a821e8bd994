// SPDX-License-Identifier: MIT
// Views that share storage: reshape (view), flatten, squeeze, unsqueeze.
#pragma once

#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue {

/// x with a new shape of the same number of elements, sharing x's storage. One dimension may be −1 and is
/// inferred. Gradient: reshape(g, x.shape()).
template <class T>
tensor<T> reshape(const tensor<T>& x, const shape& new_shape) {
  shape target = new_shape;
  int infer = -1;
  index_t known = 1;
  for (int i = 0; i < target.rank(); ++i) {
    if (target[i] == -1) {
      KEXUE_CHECK(infer < 0, shape_error, "reshape", "only one dimension can be -1 (got ", format_shape(new_shape), ")");
      infer = i;
    } else {
      known *= target[i];
    }
  }
  if (infer >= 0) {
    KEXUE_CHECK(known > 0 && x.numel() % known == 0, shape_error, "reshape", "cannot reshape ",
                format_shape(x.shape()), " into ", format_shape(new_shape));
    target[infer] = x.numel() / known;
  }
  KEXUE_CHECK(target.numel() == x.numel(), shape_error, "reshape", "cannot reshape ", format_shape(x.shape()), " (",
              x.numel(), " elements) into ", format_shape(new_shape), " (", target.numel(), " elements)");
  auto out = tensor<T>::view_of(x.buffer(), x.impl()->offset, target);
  if constexpr (tensor<T>::is_differentiable) {
    return autograd::record<T>("reshape", out, {x}, [s = x.shape()](auto) {
      return [s](const tensor<T>& g) { return std::vector<tensor<T>>{reshape(g, s)}; };
    });
  }
  return out;
}

// shape's constructor is templated on iterators; this overload lets `reshape(x, {2, -1})` pick the
// initializer list (whose −1 the shape class would reject as a negative dimension).
template <class T>
tensor<T> reshape(const tensor<T>& x, std::initializer_list<index_t> dims) {
  shape s;
  for (index_t d : dims) s.push_back(d);
  return reshape(x, s);
}

/// Same as reshape (kexue tensors are always contiguous, so every reshape is a view).
template <class T>
tensor<T> view(const tensor<T>& x, std::initializer_list<index_t> dims) {
  return reshape(x, dims);
}

/// Merges axes start..end (inclusive, negative counted from the end) into one.
template <class T>
tensor<T> flatten(const tensor<T>& x, int start = 0, int end = -1) {
  const int r = x.rank();
  if (r == 0) return reshape(x, shape{1});
  start = shape::normalize_axis(start, r, "flatten");
  end = shape::normalize_axis(end, r, "flatten");
  KEXUE_CHECK(start <= end, index_error, "flatten", "start axis ", start, " is after end axis ", end);
  shape s;
  for (int i = 0; i < start; ++i) s.push_back(x.size(i));
  index_t merged = 1;
  for (int i = start; i <= end; ++i) merged *= x.size(i);
  s.push_back(merged);
  for (int i = end + 1; i < r; ++i) s.push_back(x.size(i));
  return reshape(x, s);
}

/// Removes `axis`, which must have size 1.
template <class T>
tensor<T> squeeze(const tensor<T>& x, int axis) {
  const int a = shape::normalize_axis(axis, x.rank(), "squeeze");
  KEXUE_CHECK(x.size(a) == 1, shape_error, "squeeze", "axis ", axis, " has size ", x.size(a),
              ", expected 1 (shape ", format_shape(x.shape()), ")");
  shape s = x.shape();
  s.erase(a);
  return reshape(x, s);
}
/// Removes every axis of size 1.
template <class T>
tensor<T> squeeze(const tensor<T>& x) {
  shape s;
  for (index_t d : x.shape()) {
    if (d != 1) s.push_back(d);
  }
  return reshape(x, s);
}
/// Inserts an axis of size 1 at `axis` (in [−rank−1, rank]).
template <class T>
tensor<T> unsqueeze(const tensor<T>& x, int axis) {
  const int a = shape::normalize_axis(axis, x.rank() + 1, "unsqueeze");
  shape s = x.shape();
  s.insert(a, 1);
  return reshape(x, s);
}

}  // namespace kexue
