// SPDX-License-Identifier: MIT
// kexue::tensor<T>: a shape over a shared, aligned, contiguous row-major buffer, with autograd metadata.
#pragma once

#include <cstdint>           // std::uint64_t
#include <cstring>           // std::memcpy
#include <functional>        // gradient hooks
#include <initializer_list>  // nested value lists
#include <memory>            // std::shared_ptr
#include <type_traits>       // std::is_floating_point
#include <utility>           // std::move
#include <vector>

#include <kexue/core/allocator.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/fwd.hpp>

namespace kexue {

/// Name of an element type, for messages and printing.
template <class T>
constexpr const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  if constexpr (std::is_same_v<T, double>) return "float64";
  if constexpr (std::is_same_v<T, std::int64_t>) return "int64";
  if constexpr (std::is_same_v<T, bool>) return "bool";
  return "unknown";
}

namespace detail {
/// One element of a rank-1 value list. Converting a braced `{2}` to it is a user-defined conversion, which
/// ranks below the standard conversion of `{2}` to the rows' `std::initializer_list<T>`, so `{{2}, {4}}` is
/// a 2×1 tensor rather than an ambiguous call.
template <class T>
struct list_element {
  T value;
  template <class U, std::enable_if_t<std::is_arithmetic_v<U>, int> = 0>
  list_element(U v) : value(static_cast<T>(v)) {}  // NOLINT: implicit on purpose
};
}  // namespace detail

/// A contiguous, 64-byte aligned buffer of `size` elements, shared by a tensor and its views.
/// `version` counts in-place writes, so autograd can refuse to use a value that changed after it was
/// saved for the backward pass.
template <class T>
struct storage {
  T* data = nullptr;
  index_t size = 0;
  std::uint64_t version = 0;
  bool owns = true;  // false for a view of external memory (see tensor::wrap)

  explicit storage(index_t n) : size(n) {
    data = static_cast<T*>(allocate_bytes(static_cast<std::size_t>(n) * sizeof(T)));
  }
  /// A non-owning view of `n` elements at `external`; the caller keeps that memory alive.
  storage(T* external, index_t n) : data(external), size(n), owns(false) {}
  ~storage() {
    if (owns) deallocate_bytes(data, static_cast<std::size_t>(size) * sizeof(T));
  }
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;
};

/// The state behind a tensor handle. Users reach it through tensor<T>; ops and autograd read it directly.
template <class T>
struct tensor_impl {
  kexue::shape shape;
  std::shared_ptr<kexue::storage<T>> buffer;
  index_t offset = 0;  // first element of this tensor in `buffer` (views of a buffer share it)

  // Autograd metadata (only meaningful for floating-point T).
  bool requires_grad = false;
  bool retains_grad = false;                        // keep .grad on a non-leaf after backward
  std::shared_ptr<autograd::node<T>> grad_fn;       // the op that produced this tensor, null for leaves
  std::shared_ptr<tensor_impl<T>> grad;             // accumulated gradient, null until backward
  std::vector<std::function<tensor<T>(const tensor<T>&)>> hooks;  // applied to the gradient, in order

  T* data() const noexcept { return buffer->data + offset; }
};

/// An n-dimensional array of T (float, double; also int64 and bool for indices and masks, which carry no
/// gradients). A tensor is a handle: copies share the same data, as in PyTorch. Data are always
/// contiguous and row-major.
///
///     kexue::tensor<float> x = {{1, 2, 3}, {4, 5, 6}};   // shape [2, 3]
///     x(1, 2) == 6;  x.shape() == kexue::shape{2, 3};
template <class T>
class tensor {
 public:
  using value_type = T;
  static constexpr bool is_differentiable = std::is_floating_point_v<T>;

  /// An undefined tensor (no storage); `defined()` is false.
  tensor() = default;
  /// Rank-1 tensor from values: `tensor<float>{1, 2, 3}`.
  tensor(std::initializer_list<detail::list_element<T>> values) {
    init_nested(kexue::shape{static_cast<index_t>(values.size())}, values);
  }
  /// Rank-2 tensor from rows: `tensor<float>{{1, 2}, {3, 4}}`. All rows must have the same length.
  tensor(std::initializer_list<std::initializer_list<T>> rows) { init_nested(nested_shape(rows), rows); }
  /// Rank-3 tensor from nested lists.
  tensor(std::initializer_list<std::initializer_list<std::initializer_list<T>>> blocks) {
    init_nested(nested_shape(blocks), blocks);
  }

  /// A new, uninitialised tensor of the given shape (values are whatever the allocator returns).
  static tensor empty(const kexue::shape& s) {
    tensor t;
    t.impl_ = std::make_shared<tensor_impl<T>>();
    t.impl_->shape = s;
    t.impl_->buffer = std::make_shared<kexue::storage<T>>(s.numel());
    return t;
  }
  /// A tensor viewing `buffer` from `offset` with shape `s` (no copy). Internal to views and ops.
  static tensor view_of(std::shared_ptr<kexue::storage<T>> buffer, index_t offset, const kexue::shape& s) {
    tensor t;
    t.impl_ = std::make_shared<tensor_impl<T>>();
    t.impl_->shape = s;
    t.impl_->buffer = std::move(buffer);
    t.impl_->offset = offset;
    return t;
  }
  /// A tensor over external memory (no copy): `data` must hold shape.numel() elements, row-major, and stay
  /// alive as long as the tensor and its views. Used for zero-copy interop (see core/eigen.hpp).
  static tensor wrap(T* data, const kexue::shape& s) {
    return view_of(std::make_shared<kexue::storage<T>>(data, s.numel()), 0, s);
  }
  /// Wraps an impl (internal).
  explicit tensor(std::shared_ptr<tensor_impl<T>> impl) : impl_(std::move(impl)) {}

  // ~~~ Shape and data ~~~

  bool defined() const noexcept { return impl_ != nullptr; }
  const kexue::shape& shape() const { return checked_impl().shape; }
  int rank() const { return shape().rank(); }
  /// Size of one axis, with negative axes counted from the end.
  index_t size(int axis) const { return shape().at(axis); }
  index_t numel() const { return shape().numel(); }
  /// Pointer to the first element. The tensor is a handle: data are writable through a const handle.
  T* data() const { return checked_impl().data(); }
  T* begin() const { return data(); }
  T* end() const { return data() + numel(); }
  /// The shared buffer (views of one buffer compare equal here).
  const std::shared_ptr<kexue::storage<T>>& buffer() const { return checked_impl().buffer; }
  /// True if both handles view the same buffer.
  bool shares_storage_with(const tensor& other) const { return buffer() == other.buffer(); }

  /// Element access by one index per axis, unchecked in release builds: `x(i, j)`.
  template <class... Index>
  T& operator()(Index... index) const {
    static_assert((std::is_integral_v<Index> && ...), "tensor::operator(): indices must be integers");
    KEXUE_ASSERT(static_cast<int>(sizeof...(Index)) == rank());
    const index_t idx[] = {static_cast<index_t>(index)..., 0};
    const auto& s = shape();
    index_t flat = 0;
    for (int i = 0; i < static_cast<int>(sizeof...(Index)); ++i) {
      KEXUE_ASSERT(idx[i] >= 0 && idx[i] < s[i]);
      flat = flat * s[i] + idx[i];
    }
    return data()[flat];
  }
  /// Element access with bounds checks; negative indices count from the end of their axis.
  T& at(std::initializer_list<index_t> index) const {
    const auto& s = shape();
    KEXUE_CHECK(static_cast<int>(index.size()) == s.rank(), index_error, "tensor::at", index.size(),
                " indices given for a tensor of shape ", format_shape(s));
    index_t flat = 0;
    int axis = 0;
    for (index_t i : index) {
      const index_t n = s[axis];
      KEXUE_CHECK(i >= -n && i < n, index_error, "tensor::at", "index ", i, " out of range for axis ", axis,
                  " of size ", n, " (shape ", format_shape(s), ")");
      flat = flat * n + (i < 0 ? i + n : i);
      ++axis;
    }
    return data()[flat];
  }
  /// The value of a one-element tensor.
  T item() const {
    KEXUE_CHECK(numel() == 1, value_error, "tensor::item", "tensor of shape ", format_shape(shape()),
                " has ", numel(), " elements, expected exactly one");
    return data()[0];
  }
  /// A copy of the values, row-major.
  std::vector<T> to_vector() const { return std::vector<T>(data(), data() + numel()); }

  // ~~~ Autograd ~~~

  /// Whether gradients flow to this tensor.
  bool requires_grad() const { return defined() && impl_->requires_grad; }
  /// Marks a leaf tensor as a parameter whose gradient backward() computes. Returns *this for chaining:
  /// `auto w = randn<float>({3, 4}, gen).requires_grad(true);`
  tensor& requires_grad(bool on) {
    static_assert(is_differentiable, "requires_grad: only float and double tensors carry gradients");
    auto& impl = checked_impl();
    KEXUE_CHECK(impl.grad_fn == nullptr || on, value_error, "requires_grad",
                "cannot turn off gradients of a non-leaf tensor; use detach()");
    impl.requires_grad = on;
    return *this;
  }
  /// True for tensors not produced by a recorded op (user-created tensors and parameters).
  bool is_leaf() const { return checked_impl().grad_fn == nullptr; }
  /// The accumulated gradient (undefined until a backward pass reaches this tensor).
  tensor grad() const {
    const auto& g = checked_impl().grad;
    return g ? tensor(g) : tensor();
  }
  /// Replaces the gradient (an undefined tensor clears it). Shapes must match.
  void set_grad(const tensor& g) {
    auto& impl = checked_impl();
    if (g.defined()) {
      KEXUE_CHECK(g.shape() == impl.shape, shape_error, "set_grad", "gradient shape ", format_shape(g.shape()),
                  " differs from tensor shape ", format_shape(impl.shape));
    }
    impl.grad = g.impl_;
  }
  /// Clears the accumulated gradient (sets it to undefined, as PyTorch's set_to_none).
  void zero_grad() { checked_impl().grad.reset(); }
  /// Keeps the gradient of a non-leaf tensor after backward (leaves always keep theirs).
  tensor& retain_grad() {
    checked_impl().retains_grad = true;
    return *this;
  }
  /// The op that produced this tensor (null for leaves).
  const std::shared_ptr<autograd::node<T>>& grad_fn() const { return checked_impl().grad_fn; }
  /// A tensor sharing the data but cut from the graph: no grad_fn, requires_grad false.
  tensor detach() const { return view_of(buffer(), impl_->offset, shape()); }
  /// Adds a function applied to this tensor's gradient during backward; it returns the gradient to use
  /// (or an undefined tensor to keep it unchanged).
  void register_hook(std::function<tensor(const tensor&)> hook) {
    checked_impl().hooks.push_back(std::move(hook));
  }
  /// Runs the backward pass from this tensor. Without `gradient` the tensor must hold one element; with
  /// it, `gradient` has this tensor's shape. Defined in autograd/backward.hpp.
  void backward(const tensor& gradient = tensor(), bool retain_graph = false, bool create_graph = false) const;

  // ~~~ Conversion ~~~

  /// A copy converted to element type U (float <-> double, masks to float, ...). Not recorded by
  /// autograd: converting a tensor that requires a gradient throws (detach() first).
  template <class U>
  tensor<U> to() const {
    if constexpr (std::is_same_v<U, T>) {
      return *this;
    } else {
      KEXUE_CHECK(!requires_grad(), value_error, "tensor::to",
                  "conversion between element types is not differentiable; detach() the ", dtype_name<T>(),
                  " tensor before converting it to ", dtype_name<U>());
      auto out = tensor<U>::empty(shape());
      const T* src = data();
      U* dst = out.data();
      const index_t n = numel();
      for (index_t i = 0; i < n; ++i) dst[i] = static_cast<U>(src[i]);
      return out;
    }
  }
  /// A new tensor with a copy of the data (not recorded by autograd; use kexue::clone for that).
  tensor copy() const {
    auto out = empty(shape());
    if (numel() > 0) std::memcpy(out.data(), data(), static_cast<std::size_t>(numel()) * sizeof(T));
    return out;
  }

  // ~~~ Internals ~~~

  const std::shared_ptr<tensor_impl<T>>& impl() const noexcept { return impl_; }
  tensor_impl<T>& checked_impl() const {
    KEXUE_CHECK(impl_ != nullptr, value_error, "tensor", "use of an undefined tensor");
    return *impl_;
  }
  /// Marks the data as changed in place (invalidates values saved for backward).
  void bump_version() const { ++checked_impl().buffer->version; }
  std::uint64_t version() const { return checked_impl().buffer->version; }

 private:
  template <class List>
  static constexpr bool is_innermost_list = std::is_same_v<List, std::initializer_list<T>> ||
                                            std::is_same_v<List, std::initializer_list<detail::list_element<T>>>;
  template <class List>
  static kexue::shape nested_shape(const List& list) {
    kexue::shape s{static_cast<index_t>(list.size())};
    if constexpr (!is_innermost_list<List>) {
      KEXUE_CHECK(list.size() > 0, shape_error, "tensor", "nested value lists must not be empty");
      const auto inner = nested_shape(*list.begin());
      for (const auto& sub : list) {
        KEXUE_CHECK(nested_shape(sub) == inner, shape_error, "tensor",
                    "nested value lists are ragged (sublist of shape ", format_shape(nested_shape(sub)),
                    " beside one of shape ", format_shape(inner), ")");
      }
      for (index_t d : inner) s.push_back(d);
    }
    return s;
  }
  template <class List>
  static void copy_nested(const List& list, T*& out) {
    for (const auto& v : list) {
      if constexpr (std::is_same_v<List, std::initializer_list<detail::list_element<T>>>) {
        *out++ = v.value;
      } else if constexpr (std::is_same_v<List, std::initializer_list<T>>) {
        *out++ = v;
      } else {
        copy_nested(v, out);
      }
    }
  }
  template <class List>
  void init_nested(const kexue::shape& s, const List& list) {
    *this = empty(s);
    T* out = data();
    copy_nested(list, out);
  }

  std::shared_ptr<tensor_impl<T>> impl_;
};

}  // namespace kexue
