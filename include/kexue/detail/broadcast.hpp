// SPDX-License-Identifier: MIT
// Iteration over broadcast operands: calls a kernel on runs of the innermost (coalesced) axis.
#pragma once

#include <kexue/core/shape.hpp>

namespace kexue::detail {

/// Element strides of an operand of shape `in` read in the index space of `out` (0 on broadcast axes).
/// `in` must broadcast to `out` (checked by the caller).
inline shape broadcast_strides(const shape& in, const shape& out) {
  shape strides;
  const shape dense = in.strides();
  const int lead = out.rank() - in.rank();
  for (int i = 0; i < out.rank(); ++i) {
    const int j = i - lead;
    strides.push_back(j < 0 || in[j] == 1 ? 0 : dense[j]);
  }
  return strides;
}

/// Visits the elements of `out` together with operands whose strides (in `out`'s index space) are given,
/// as runs along the innermost axis after merging axes that are contiguous for every operand:
/// `run(out_offset, offsets[N], length, inner_strides[N])`. N operands, N ≤ 3.
template <int N, class Run>
void for_each_run(const shape& out, const shape (&operand_strides)[N], Run&& run) {
  // Coalesce: merge axis i into i+1 when every operand steps over axis i exactly by a whole run of axis i+1.
  index_t dims[shape::max_rank];
  index_t strides[N][shape::max_rank];
  int rank = 0;
  for (int i = 0; i < out.rank(); ++i) {
    if (out[i] == 1) continue;  // size-1 axes contribute nothing
    if (rank > 0) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k) mergeable = mergeable && strides[k][rank - 1] == operand_strides[k][i] * out[i];
      if (mergeable) {
        dims[rank - 1] *= out[i];
        for (int k = 0; k < N; ++k) strides[k][rank - 1] = operand_strides[k][i];
        continue;
      }
    }
    dims[rank] = out[i];
    for (int k = 0; k < N; ++k) strides[k][rank] = operand_strides[k][i];
    ++rank;
  }
  index_t offsets[N] = {};
  index_t inner_strides[N];
  if (rank == 0) {
    for (int k = 0; k < N; ++k) inner_strides[k] = 0;
    if (out.numel() > 0) run(index_t(0), offsets, index_t(1), inner_strides);
    return;
  }
  const index_t length = dims[rank - 1];
  for (int k = 0; k < N; ++k) inner_strides[k] = strides[k][rank - 1];
  index_t outer = 1;
  for (int i = 0; i < rank - 1; ++i) outer *= dims[i];
  if (outer == 0 || length == 0) return;
  index_t counter[shape::max_rank] = {};
  for (index_t o = 0; o < outer; ++o) {
    run(o * length, offsets, length, inner_strides);
    // Advance the multi-index over the outer axes (odometer), updating operand offsets incrementally.
    for (int i = rank - 2; i >= 0; --i) {
      if (++counter[i] < dims[i]) {
        for (int k = 0; k < N; ++k) offsets[k] += strides[k][i];
        break;
      }
      for (int k = 0; k < N; ++k) offsets[k] -= strides[k][i] * (dims[i] - 1);
      counter[i] = 0;
    }
  }
}

}  // namespace kexue::detail
