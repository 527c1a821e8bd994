// SPDX-License-Identifier: MIT
// kexue::shape: the dimensions of a tensor, an inline small vector (no heap allocation).
#pragma once

#include <algorithm>         // std::copy, std::equal
#include <cstdint>           // std::int64_t
#include <initializer_list>  // shape{2, 3}
#include <ostream>           // operator<<
#include <string>
#include <vector>

#include <kexue/core/error.hpp>

namespace kexue {

/// Signed index type for sizes, strides and element indices (as PyTorch's int64_t).
using index_t = std::int64_t;

/// The dimensions of a tensor, outermost first. Rank is at most `shape::max_rank`.
class shape {
 public:
  static constexpr int max_rank = 8;

  shape() = default;
  shape(std::initializer_list<index_t> dims) { assign(dims.begin(), dims.end()); }
  explicit shape(const std::vector<index_t>& dims) { assign(dims.begin(), dims.end()); }
  template <class It>
  shape(It first, It last) {
    assign(first, last);
  }

  int rank() const noexcept { return rank_; }
  bool empty() const noexcept { return rank_ == 0; }
  /// Product of the dimensions (1 for a scalar of rank 0).
  index_t numel() const noexcept {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  index_t operator[](int i) const noexcept { return dims_[i]; }
  index_t& operator[](int i) noexcept { return dims_[i]; }
  /// Dimension with Python-style negative indexing, checked.
  index_t at(int axis) const { return dims_[normalize_axis(axis, rank_, "shape::at")]; }
  const index_t* begin() const noexcept { return dims_; }
  const index_t* end() const noexcept { return dims_ + rank_; }
  index_t* begin() noexcept { return dims_; }
  index_t* end() noexcept { return dims_ + rank_; }
  index_t back() const noexcept { return dims_[rank_ - 1]; }

  void push_back(index_t d) {
    KEXUE_CHECK(rank_ < max_rank, shape_error, "shape", "rank ", rank_ + 1, " exceeds the maximum rank ", max_rank);
    dims_[rank_++] = d;
  }
  void insert(int pos, index_t d) {
    push_back(0);
    for (int i = rank_ - 1; i > pos; --i) dims_[i] = dims_[i - 1];
    dims_[pos] = d;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < rank_; ++i) dims_[i] = dims_[i + 1];
    --rank_;
  }
  std::vector<index_t> to_vector() const { return std::vector<index_t>(begin(), end()); }

  /// Row-major strides (in elements) of a contiguous tensor of this shape.
  shape strides() const {
    shape s;
    s.rank_ = rank_;
    index_t acc = 1;
    for (int i = rank_ - 1; i >= 0; --i) {
      s.dims_[i] = acc;
      acc *= dims_[i];
    }
    return s;
  }

  friend bool operator==(const shape& a, const shape& b) noexcept {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const shape& a, const shape& b) noexcept { return !(a == b); }

  /// Maps an axis in [-rank, rank) to [0, rank); throws index_error naming `op` otherwise.
  static int normalize_axis(int axis, int rank, const char* op) {
    if (axis < -rank || axis >= rank) {
      KEXUE_THROW(index_error, op, "axis ", axis, " out of range for a tensor of rank ", rank);
    }
    return axis < 0 ? axis + rank : axis;
  }

 private:
  template <class It>
  void assign(It first, It last) {
    rank_ = 0;
    for (; first != last; ++first) {
      const auto d = static_cast<index_t>(*first);
      KEXUE_CHECK(d >= 0, shape_error, "shape", "negative dimension ", d);
      push_back(d);
    }
  }

  index_t dims_[max_rank] = {};
  int rank_ = 0;
};

/// Prints a shape as "[2, 3]" (the one format used in every message).
inline std::string format_shape(const shape& s) {
  std::string out = "[";
  for (int i = 0; i < s.rank(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

inline std::ostream& operator<<(std::ostream& os, const shape& s) { return os << format_shape(s); }

/// Broadcast shape of a and b by NumPy/PyTorch rules; throws shape_error naming `op` otherwise.
inline shape broadcast_shapes(const shape& a, const shape& b, const char* op) {
  const int r = std::max(a.rank(), b.rank());
  shape out;
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const index_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      KEXUE_THROW(shape_error, op, "shapes cannot be broadcast (lhs ", format_shape(a), ", rhs ", format_shape(b), ")");
    }
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

}  // namespace kexue
