// SPDX-License-Identifier: MIT
// embedding: rows of a table looked up by integer indices; its backward adds gradient rows into the table.
#pragma once

#include <algorithm>  // std::sort, std::unique, std::lower_bound, std::fill_n
#include <cstring>    // std::memcpy
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue {

/// @brief Looks up rows of an embedding table: out[..., :] = weight[indices[...], :].
/// @param indices any shape `[...]` (rank at most shape::max_rank − 1), values in [0, num_embeddings).
/// @param weight `[num_embeddings, dim]`.
/// @param padding_idx a row that receives no gradient (its value is still looked up, as in PyTorch), or −1 for
/// none. Unlike PyTorch, other negative values do not count from the end: they are an error.
/// @return `indices.shape() + [dim]`.
/// Gradient w.r.t. weight: the rows of g added into a zero `[num_embeddings, dim]` table at `indices` (repeated
/// indices accumulate; index_add), with the padding row left at zero. That backward is itself a recorded op
/// whose backward is again a row lookup, so second order works. indices get no gradient.
/// @throws shape_error if weight is not rank 2; index_error naming the first index outside
/// [0, num_embeddings) and the table size, or a padding_idx outside [−1, num_embeddings).
template <class T>
tensor<T> embedding(const tensor<index_t>& indices, const tensor<T>& weight, index_t padding_idx = -1);

/// @brief The rows of an embedding table that a lookup of `indices` reads and that therefore get a gradient:
/// sorted, unique, without padding_idx. For lazy / sparse optimizers that update only touched rows (A21).
inline std::vector<index_t> embedding_rows_touched(const tensor<index_t>& indices, index_t padding_idx = -1);

// ~~~ Implementation ~~~

namespace detail {

template <class T>
tensor<T> embedding_scatter(const tensor<index_t>& indices, const tensor<T>& g, index_t rows, index_t padding_idx);

/// out[i, :] = weight[indices[i], :] for the flat indices, in a tensor of shape `out_shape`; with
/// `zero_padding` the rows looked up at padding_idx are zeros instead. Indices are already checked.
/// Gradient: embedding_scatter of g (the padding row gets none either way).
template <class T>
tensor<T> embedding_gather(const tensor<index_t>& indices, const tensor<T>& weight, index_t padding_idx,
                           bool zero_padding, const shape& out_shape) {
  const index_t rows = weight.size(0), dim = weight.size(1), n = indices.numel();
  auto out = tensor<T>::empty(out_shape);
  const index_t* idx = indices.data();
  const T* src = weight.data();
  T* dst = out.data();
  for (index_t i = 0; i < n; ++i) {
    if (zero_padding && idx[i] == padding_idx) {
      std::fill_n(dst + i * dim, dim, T(0));
    } else if (dim > 0) {
      std::memcpy(dst + i * dim, src + idx[i] * dim, static_cast<std::size_t>(dim) * sizeof(T));
    }
  }
  return autograd::record<T>("embedding", out, {weight}, [indices, rows, padding_idx](auto) {
    // dL/dweight [rows, dim] = Σ_i e_{indices[i]} ⊗ g[i, :] over i with indices[i] ≠ padding_idx.
    return [indices, rows, padding_idx](const tensor<T>& g) {
      return std::vector<tensor<T>>{embedding_scatter(indices, g, rows, padding_idx)};
    };
  });
}

/// The backward of embedding: a zero `[rows, dim]` table with g's rows (g [..., dim], one row per index)
/// added at `indices`, skipping those equal to padding_idx. Gradient w.r.t. g: the rows of the table's
/// gradient at `indices` (zeros at padding positions), i.e. embedding_gather with zero_padding.
template <class T>
tensor<T> embedding_scatter(const tensor<index_t>& indices, const tensor<T>& g, index_t rows, index_t padding_idx) {
  const index_t dim = g.size(-1), n = indices.numel();
  auto out = tensor<T>::empty({rows, dim});
  T* dst = out.data();
  std::fill_n(dst, out.numel(), T(0));
  const index_t* idx = indices.data();
  const T* src = g.data();
  for (index_t i = 0; i < n; ++i) {
    if (idx[i] == padding_idx) continue;
    T* row = dst + idx[i] * dim;
    const T* add = src + i * dim;
    for (index_t d = 0; d < dim; ++d) row[d] += add[d];
  }
  return autograd::record<T>("embedding_backward", out, {g}, [indices, padding_idx, gs = g.shape()](auto) {
    // d/dg of Σ_{r,d} G[r, d]·out[r, d] = G[indices[i], :] for row i (0 where indices[i] is the padding row).
    return [indices, padding_idx, gs](const tensor<T>& grad_table) {
      return std::vector<tensor<T>>{embedding_gather(indices, grad_table, padding_idx, true, gs)};
    };
  });
}

}  // namespace detail

template <class T>
tensor<T> embedding(const tensor<index_t>& indices, const tensor<T>& weight, index_t padding_idx) {
  static_assert(tensor<T>::is_differentiable, "embedding: the table must be a float or double tensor");
  KEXUE_CHECK(weight.rank() == 2, shape_error, "embedding", "weight must have shape [num_embeddings, dim] (got ",
              format_shape(weight.shape()), ")");
  const index_t rows = weight.size(0);
  KEXUE_CHECK(padding_idx >= -1 && padding_idx < rows, index_error, "embedding", "padding_idx ", padding_idx,
              " out of range for a table of ", rows, " rows (use -1 for none)");
  const index_t* idx = indices.data();
  for (index_t i = 0, n = indices.numel(); i < n; ++i) {
    KEXUE_CHECK(idx[i] >= 0 && idx[i] < rows, index_error, "embedding", "index ", idx[i],
                " out of range for a table of ", rows, " rows (at flat index ", i, " of indices of shape ",
                format_shape(indices.shape()), ")");
  }
  shape out_shape = indices.shape();
  out_shape.push_back(weight.size(1));
  return detail::embedding_gather(indices, weight, padding_idx, false, out_shape);
}

inline std::vector<index_t> embedding_rows_touched(const tensor<index_t>& indices, index_t padding_idx) {
  std::vector<index_t> rows = indices.to_vector();
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  if (padding_idx >= 0) {
    const auto it = std::lower_bound(rows.begin(), rows.end(), padding_idx);
    if (it != rows.end() && *it == padding_idx) rows.erase(it);
  }
  return rows;
}

}  // namespace kexue
