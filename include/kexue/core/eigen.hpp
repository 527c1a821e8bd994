// SPDX-License-Identifier: MIT
// Zero-copy interop with Eigen: tensors seen as Eigen maps, and Eigen data wrapped or copied into tensors.
#pragma once

#include <Eigen/Core>

#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue {

template <class T>
using eigen_array_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using eigen_row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using eigen_matrix_map = Eigen::Map<eigen_row_matrix<T>>;

/// The elements of `t` as a flat Eigen array (no copy; writes go to the tensor).
template <class T>
eigen_array_map<T> as_array(const tensor<T>& t) {
  return eigen_array_map<T>(t.data(), t.numel());
}

/// A rank-2 tensor as a row-major Eigen matrix map (no copy). A rank-1 tensor maps as one row;
/// higher ranks map as [product of leading axes, last axis].
template <class T>
eigen_matrix_map<T> as_matrix(const tensor<T>& t) {
  const index_t cols = t.rank() == 0 ? 1 : t.shape().back();
  const index_t rows = cols == 0 ? 0 : t.numel() / cols;
  return eigen_matrix_map<T>(t.data(), rows, cols);
}

/// A tensor that copies an Eigen matrix or array expression (row-major order, shape [rows, cols]).
template <class Derived>
auto from_eigen(const Eigen::DenseBase<Derived>& m) {
  using T = typename Derived::Scalar;
  auto t = tensor<T>::empty(shape{m.rows(), m.cols()});
  eigen_matrix_map<T>(t.data(), m.rows(), m.cols()) = m;
  return t;
}

/// A tensor viewing the memory of a row-major Eigen matrix (no copy; the matrix must outlive the tensor).
template <class T, int Rows, int Cols, int Options>
tensor<T> wrap_eigen(Eigen::Matrix<T, Rows, Cols, Options>& m) {
  static_assert((Options & Eigen::RowMajor) || Rows == 1 || Cols == 1,
                "wrap_eigen: the matrix must be row-major (or a vector) to be viewed as a row-major tensor");
  return tensor<T>::wrap(m.data(), shape{m.rows(), m.cols()});
}

}  // namespace kexue
