// SPDX-License-Identifier: MIT
// Printing tensors as PyTorch does: operator<<, to_string and global print_options.
#pragma once

#include <algorithm>  // std::max, std::min
#include <cmath>      // std::isfinite, std::isnan, std::ceil, std::floor, std::abs
#include <cstdio>     // std::snprintf
#include <optional>   // print_options::sci_mode
#include <ostream>    // operator<<
#include <string>
#include <type_traits>  // std::is_floating_point_v, std::is_same_v
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue {

/// How tensors print; the fields and defaults of torch.set_printoptions.
struct print_options {
  int precision = 4;             ///< digits after the decimal point of floating-point values
  index_t threshold = 1000;      ///< tensors with more elements are summarised with "..."
  index_t edgeitems = 3;         ///< elements kept at each end of every axis when summarising
  int linewidth = 80;            ///< characters per line before a row of values wraps
  std::optional<bool> sci_mode;  ///< force (true) or forbid (false) scientific notation; unset: automatic

  print_options& with_precision(int v) {
    precision = v;
    return *this;
  }
  print_options& with_threshold(index_t v) {
    threshold = v;
    return *this;
  }
  print_options& with_edgeitems(index_t v) {
    edgeitems = v;
    return *this;
  }
  print_options& with_linewidth(int v) {
    linewidth = v;
    return *this;
  }
  print_options& with_sci_mode(std::optional<bool> v) {
    sci_mode = v;
    return *this;
  }
};

/// Sets the options used by operator<< and to_string(t) in this program (as torch.set_printoptions).
/// `set_print_options({})` restores the defaults. Not synchronised: set it before printing from threads.
/// @throws value_error if precision, threshold or edgeitems is negative or linewidth is not positive.
inline void set_print_options(const print_options& options);
/// The options currently in effect.
inline print_options get_print_options();

/// @brief The text PyTorch 1.13 prints for the same tensor, with kexue's names:
///
///     tensor([[1.0000, 2.5000],
///             [3.0000, 4.0000]])
///
/// Floating-point values: integer-valued tensors print as `1.`; others with `precision` decimals; scientific
/// notation when the non-zero finite magnitudes span more than a factor 1000, exceed 1e8 or (non-integers)
/// fall below 1e-4; nan, inf and -inf by name. int64 prints its values; bool prints `true`/`false` (PyTorch:
/// True/False). Tensors of more than `threshold` elements show `edgeitems` at each end of each axis around
/// `...`. Suffixes: `dtype=float64` for double (float, int64 and bool are unmarked, except that an empty
/// tensor names any type but float), `size=[0, 3]` for empty tensors not of rank 1, then `grad_fn=<op>`
/// (the recording op's name) or `requires_grad=true`. An undefined tensor prints `tensor(undefined)`.
/// Printing a tensor with a grad_fn needs kexue/autograd/node.hpp, which every op includes.
template <class T>
std::string to_string(const tensor<T>& t, const print_options& options);
/// to_string with the global options (get_print_options()).
template <class T>
std::string to_string(const tensor<T>& t);
/// Writes to_string(t).
template <class T>
std::ostream& operator<<(std::ostream& os, const tensor<T>& t);

// ~~~ Implementation ~~~

namespace detail {

inline print_options& global_print_options() {
  static print_options options;
  return options;
}

/// printf-style formatting of one double into a std::string ("%.*f", "%*.*e").
inline std::string format_number(bool scientific, int width, int precision, double v) {
  if (std::isnan(v)) return std::string(static_cast<std::size_t>(std::max(width - 3, 0)), ' ') + "nan";
  const char* spec = scientific ? "%*.*e" : "%*.*f";
  const int n = std::snprintf(nullptr, 0, spec, width, precision, v);
  std::string out(static_cast<std::size_t>(n), '\0');
  std::snprintf(out.data(), out.size() + 1, spec, width, precision, v);
  return out;
}

/// PyTorch's _Formatter: decides the notation and the common width from the values that will be shown.
template <class T>
class value_formatter {
 public:
  value_formatter(const std::vector<T>& shown, const print_options& options) : precision_(options.precision) {
    if constexpr (std::is_floating_point_v<T>) {
      double lo = 0, hi = 0;
      bool any = false;
      for (T v : shown) {
        if (!std::isfinite(v) || v == T(0)) continue;
        const double a = std::abs(static_cast<double>(v));
        lo = any ? std::min(lo, a) : a;
        hi = any ? std::max(hi, a) : a;
        any = true;
        if (v != std::ceil(v)) int_mode_ = false;
      }
      if (any) {
        const bool wide = hi / lo > 1000.0 || hi > 1e8;
        sci_ = int_mode_ ? wide : wide || lo < 1e-4;
        for (T v : shown) {
          if (!std::isfinite(v) || v == T(0)) continue;
          const double d = static_cast<double>(v);
          const std::size_t len = sci_        ? format_number(true, 0, precision_, d).size()
                                  : int_mode_ ? format_number(false, 0, 0, d).size() + 1
                                              : format_number(false, 0, precision_, d).size();
          width_ = std::max(width_, static_cast<int>(len));
        }
      }
      if (options.sci_mode) sci_ = *options.sci_mode;
    } else {
      for (T v : shown) width_ = std::max(width_, static_cast<int>(raw(v).size()));
    }
  }

  int width() const { return width_; }

  /// One value, right-aligned to the common width.
  std::string format(T v) const {
    std::string s;
    if constexpr (std::is_floating_point_v<T>) {
      const double d = static_cast<double>(v);
      if (sci_) {
        s = format_number(true, width_, precision_, d);
      } else if (int_mode_) {
        s = format_number(false, 0, 0, d);
        if (std::isfinite(d)) s += '.';
      } else {
        s = format_number(false, 0, precision_, d);
      }
    } else {
      s = raw(v);
    }
    if (static_cast<int>(s.size()) < width_) s.insert(0, static_cast<std::size_t>(width_) - s.size(), ' ');
    return s;
  }

 private:
  static std::string raw(T v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v ? "true" : "false";
    } else {
      return std::to_string(v);
    }
  }

  int precision_;
  int width_ = 1;
  bool int_mode_ = true;
  bool sci_ = false;
};

/// The indices of one axis that are printed: all, or the first and last `edge` when summarising.
inline std::vector<index_t> shown_indices(index_t size, bool summarize, index_t edge) {
  std::vector<index_t> out;
  if (summarize && size > 2 * edge) {
    for (index_t i = 0; i < edge; ++i) out.push_back(i);
    for (index_t i = size - edge; i < size; ++i) out.push_back(i);
  } else {
    for (index_t i = 0; i < size; ++i) out.push_back(i);
  }
  return out;
}

template <class T>
class tensor_printer {
 public:
  tensor_printer(const tensor<T>& t, const print_options& options)
      : data_(t.data()),
        shape_(t.shape()),
        strides_(t.shape().strides()),
        options_(options),
        summarize_(t.numel() > options.threshold),
        formatter_(collect(0, 0, {}), options) {}

  /// The body between "tensor(" and the suffixes; `indent` is the column of the opening bracket.
  std::string body(int indent) const { return shape_.rank() == 0 ? formatter_.format(data_[0]) : block(0, 0, indent); }

 private:
  /// The values that will be printed (get_summarized_data), for the formatter.
  std::vector<T> collect(int axis, index_t offset, std::vector<T> acc) const {
    if (axis == shape_.rank()) {
      acc.push_back(data_[offset]);
      return acc;
    }
    for (index_t i : shown_indices(shape_[axis], summarize_, options_.edgeitems)) {
      acc = collect(axis + 1, offset + i * strides_[axis], std::move(acc));
    }
    return acc;
  }

  /// The bracketed text of the sub-tensor at `offset` spanning axes axis..rank−1.
  std::string block(int axis, index_t offset, int indent) const {
    const index_t size = shape_[axis];
    const bool cut = summarize_ && size > 2 * options_.edgeitems;
    const int rest = shape_.rank() - axis;
    std::vector<std::string> items;
    for (index_t i : shown_indices(size, summarize_, options_.edgeitems)) {
      if (cut && i == size - options_.edgeitems) items.push_back(rest == 1 ? " ..." : "...");
      const index_t at = offset + i * strides_[axis];
      items.push_back(rest == 1 ? formatter_.format(data_[at]) : block(axis + 1, at, indent + 1));
    }
    if (cut && options_.edgeitems == 0) items.push_back(rest == 1 ? " ..." : "...");
    std::string out = "[";
    if (rest == 1) {
      // Values per line: as many elements of width + ", " as fit in linewidth − indent, at least one.
      const double fit = std::floor(static_cast<double>(options_.linewidth - indent) / (formatter_.width() + 2));
      const std::size_t per_line = static_cast<std::size_t>(std::max(1.0, fit));
      const std::string line_break = ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' ');
      for (std::size_t k = 0; k < items.size(); ++k) {
        if (k > 0) out += k % per_line == 0 ? line_break : ", ";
        out += items[k];
      }
    } else {
      const std::string separator = "," + std::string(static_cast<std::size_t>(rest - 1), '\n') +
                                    std::string(static_cast<std::size_t>(indent + 1), ' ');
      for (std::size_t k = 0; k < items.size(); ++k) {
        if (k > 0) out += separator;
        out += items[k];
      }
    }
    return out + "]";
  }

  const T* data_;
  shape shape_;
  shape strides_;
  print_options options_;
  bool summarize_;
  value_formatter<T> formatter_;
};

/// PyTorch's _add_suffixes: ", suffix" on the last line while it fits in linewidth, else on a new line.
inline std::string add_suffixes(std::string text, const std::vector<std::string>& suffixes, int indent, int linewidth) {
  const std::size_t newline = text.rfind('\n');
  // PyTorch counts len − rfind + 1, which is the line length + 2 (the ", " before the first suffix).
  std::size_t last_line = newline == std::string::npos ? text.size() + 2 : text.size() - newline + 1;
  for (const auto& suffix : suffixes) {
    if (last_line + suffix.size() + 2 > static_cast<std::size_t>(linewidth)) {
      text += ",\n" + std::string(static_cast<std::size_t>(indent), ' ') + suffix;
      last_line = static_cast<std::size_t>(indent) + suffix.size();
    } else {
      text += ", " + suffix;
      last_line += suffix.size() + 2;
    }
  }
  return text + ")";
}

/// The name of the op that recorded a node (deferred to instantiation, so node.hpp need not be included here).
template <class Node>
const char* recorded_op_name(const Node& n) {
  return n.name;
}

}  // namespace detail

inline void set_print_options(const print_options& options) {
  KEXUE_CHECK(options.precision >= 0, value_error, "set_print_options", "precision must be non-negative (got ",
              options.precision, ")");
  KEXUE_CHECK(options.threshold >= 0, value_error, "set_print_options", "threshold must be non-negative (got ",
              options.threshold, ")");
  KEXUE_CHECK(options.edgeitems >= 0, value_error, "set_print_options", "edgeitems must be non-negative (got ",
              options.edgeitems, ")");
  KEXUE_CHECK(options.linewidth > 0, value_error, "set_print_options", "linewidth must be positive (got ",
              options.linewidth, ")");
  detail::global_print_options() = options;
}

inline print_options get_print_options() { return detail::global_print_options(); }

template <class T>
std::string to_string(const tensor<T>& t, const print_options& options) {
  if (!t.defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  const int indent = static_cast<int>(prefix.size());
  std::vector<std::string> suffixes;
  std::string text;
  if (t.numel() == 0) {
    if (t.rank() != 1) suffixes.push_back("size=" + format_shape(t.shape()));
    if (!std::is_same_v<T, float>) suffixes.push_back(std::string("dtype=") + dtype_name<T>());
    text = prefix + "[]";
  } else {
    if (std::is_same_v<T, double>) suffixes.push_back(std::string("dtype=") + dtype_name<T>());
    text = prefix + detail::tensor_printer<T>(t, options).body(indent);
  }
  if constexpr (tensor<T>::is_differentiable) {
    if (t.grad_fn()) {
      suffixes.push_back(std::string("grad_fn=<") + detail::recorded_op_name(*t.grad_fn()) + ">");
    } else if (t.requires_grad()) {
      suffixes.push_back("requires_grad=true");
    }
  }
  return detail::add_suffixes(std::move(text), suffixes, indent, options.linewidth);
}

template <class T>
std::string to_string(const tensor<T>& t) {
  return to_string(t, get_print_options());
}

template <class T>
std::ostream& operator<<(std::ostream& os, const tensor<T>& t) {
  return os << to_string(t);
}

}  // namespace kexue
