// SPDX-License-Identifier: MIT
// Map-style datasets (size() and get(i)), a dataset over tensors, and collation of samples into batches.
#pragma once

#include <cstdint>      // std::uint64_t
#include <cstring>      // std::memcpy
#include <tuple>        // samples with several fields
#include <type_traits>  // dataset detection, field dispatch
#include <utility>      // std::index_sequence, std::declval
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::train {

// ~~~ The dataset concept ~~~
//
// A map-style dataset is any type with
//
//     index_t size() const;          // number of samples, > 0 for a data_loader
//     Sample  get(index_t i) const;  // sample i, 0 <= i < size()
//
// and optionally `Batch get_batch(const std::vector<index_t>& indices) const`, which the data_loader then
// calls instead of get() + collate (faster for datasets that can gather rows directly, as tensor_dataset).
// A13's "process-safe generator": the loader calls get() from several threads at once, so get() must be a
// pure function of i (no shared mutable state; random augmentation draws from a generator seeded with a
// function of i and the epoch, never from a shared one). Every sample is then seen exactly once per epoch
// whatever the number of worker threads.

/// True if `Dataset` has `size()` and `get(index_t)` callable on a const object.
template <class Dataset, class = void>
struct is_dataset : std::false_type {};
template <class Dataset>
struct is_dataset<Dataset, std::void_t<decltype(std::declval<const Dataset&>().size()),
                                       decltype(std::declval<const Dataset&>().get(index_t{}))>> : std::true_type {};
template <class Dataset>
inline constexpr bool is_dataset_v = is_dataset<Dataset>::value;

/// True if `Dataset` also has `get_batch(const std::vector<index_t>&)`.
template <class Dataset, class = void>
struct has_get_batch : std::false_type {};
template <class Dataset>
struct has_get_batch<Dataset, std::void_t<decltype(std::declval<const Dataset&>().get_batch(
                                  std::declval<const std::vector<index_t>&>()))>> : std::true_type {};

// ~~~ Collation ~~~

/// Stacks samples into a batch, field by field: a tensor field of shape S becomes one tensor [B, S...]
/// (all samples must have the same shape); an arithmetic field becomes a rank-1 tensor [B] (integers as
/// int64, bool as bool, float and double as themselves); std::tuple and std::pair fields are collated
/// element by element into a tuple (pair) of batches. Errors: an empty sample list (value_error
/// "collate: no samples"), tensors of different shapes (shape_error
/// "collate: samples differ in shape (sample 0 [2], sample 3 [5])").
struct default_collate {
  template <class Sample>
  auto operator()(const std::vector<Sample>& samples) const;
};

/// @brief For A13's batch-indexed datasets, whose size() is the number of batches and get(i) returns batch
/// i already collated: use it with data_loader_options().batch_size(1), and each "sample" is passed on as
/// the batch, unchanged (shuffling then permutes whole batches). @throws value_error for any other batch
/// size ("passthrough_collate: expected batches of one sample (batch_size 1), got 4").
struct passthrough_collate {
  template <class Sample>
  Sample operator()(const std::vector<Sample>& samples) const {
    KEXUE_CHECK(samples.size() == 1, value_error, "passthrough_collate",
                "expected batches of one sample (batch_size 1), got ", samples.size());
    return samples.front();
  }
};

/// A dataset over tensors sharing their first dimension N: sample i is the tuple of row i of each tensor
/// (the rows are copies, of shape `t.shape()` without its first axis). `get_batch` gathers rows directly.
///
///     auto ds = make_tensor_dataset(features /*[N, D] float*/, labels /*[N] int64*/);
///     auto [x, y] = ds.get(3);   // x: [D], y: [] (rank 0)
///
/// Errors: no tensors or a tensor of rank 0 (shape_error "tensor_dataset: tensor 1 has rank 0, expected
/// a first (sample) axis"), different first dimensions (shape_error "tensor_dataset: tensors differ in
/// their first dimension (tensor 0 [10, 3], tensor 1 [9])"), an index out of range (index_error
/// "tensor_dataset: index 12 out of range for 10 samples").
template <class... Ts>
class tensor_dataset {
 public:
  static_assert(sizeof...(Ts) > 0, "tensor_dataset: needs at least one tensor");
  using sample_type = std::tuple<tensor<Ts>...>;

  explicit tensor_dataset(tensor<Ts>... tensors);

  index_t size() const { return size_; }
  sample_type get(index_t i) const;
  sample_type get_batch(const std::vector<index_t>& indices) const;
  /// The tensors the dataset was built from.
  const std::tuple<tensor<Ts>...>& tensors() const { return tensors_; }

 private:
  std::tuple<tensor<Ts>...> tensors_;
  index_t size_ = 0;
};

/// Builds a tensor_dataset, deducing the element types.
template <class... Ts>
tensor_dataset<Ts...> make_tensor_dataset(const tensor<Ts>&... tensors) {
  return tensor_dataset<Ts...>(tensors...);
}

// ~~~ Implementation ~~~

namespace detail {

template <class X>
struct is_tensor : std::false_type {};
template <class T>
struct is_tensor<tensor<T>> : std::true_type {};

template <class X>
struct is_tuple_like : std::false_type {};
template <class... Xs>
struct is_tuple_like<std::tuple<Xs...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};
template <class X>
struct is_pair : std::false_type {};
template <class A, class B>
struct is_pair<std::pair<A, B>> : std::true_type {};

/// Copies rows `indices` of `t` (first axis) into a new tensor [indices.size(), rest...].
template <class T>
tensor<T> gather_rows(const tensor<T>& t, const std::vector<index_t>& indices, const char* op) {
  shape out_shape = t.shape();
  const index_t n = out_shape[0];
  out_shape[0] = static_cast<index_t>(indices.size());
  const index_t row = n > 0 ? t.numel() / n : 0;
  auto out = tensor<T>::empty(out_shape);
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const index_t i = indices[k];
    KEXUE_CHECK(i >= 0 && i < n, index_error, op, "index ", i, " out of range for ", n, " samples");
    if (row > 0) {
      std::memcpy(out.data() + static_cast<index_t>(k) * row, t.data() + i * row,
                  static_cast<std::size_t>(row) * sizeof(T));
    }
  }
  return out;
}

/// The element type a collated arithmetic field gets.
template <class X>
using collated_scalar_t = std::conditional_t<
    std::is_same_v<X, bool>, bool,
    std::conditional_t<std::is_integral_v<X>, index_t, std::conditional_t<std::is_same_v<X, float>, float, double>>>;

template <class Sample, class Project>
auto collate_field(const std::vector<Sample>& samples, const Project& project);

template <class Sample, class Project, std::size_t... I>
auto collate_tuple(const std::vector<Sample>& samples, const Project& project, std::index_sequence<I...>) {
  using field = std::decay_t<decltype(project(samples[0]))>;
  auto parts = std::make_tuple(
      collate_field(samples, [&project](const Sample& s) -> decltype(auto) { return std::get<I>(project(s)); })...);
  if constexpr (is_pair<field>::value) {
    return std::make_pair(std::move(std::get<0>(parts)), std::move(std::get<1>(parts)));
  } else {
    return parts;
  }
}

/// Collates the field `project(sample)` of every sample (see default_collate).
template <class Sample, class Project>
auto collate_field(const std::vector<Sample>& samples, const Project& project) {
  using field = std::decay_t<decltype(project(samples[0]))>;
  const auto count = static_cast<index_t>(samples.size());
  if constexpr (is_tensor<field>::value) {
    using T = typename field::value_type;
    const tensor<T>& first = project(samples[0]);
    shape out_shape = first.shape();
    out_shape.insert(0, count);
    const index_t row = first.numel();
    auto out = tensor<T>::empty(out_shape);
    for (index_t k = 0; k < count; ++k) {
      const tensor<T>& t = project(samples[static_cast<std::size_t>(k)]);
      KEXUE_CHECK(t.shape() == first.shape(), shape_error, "collate", "samples differ in shape (sample 0 ",
                  format_shape(first.shape()), ", sample ", k, " ", format_shape(t.shape()), ")");
      if (row > 0) std::memcpy(out.data() + k * row, t.data(), static_cast<std::size_t>(row) * sizeof(T));
    }
    return out;
  } else if constexpr (std::is_arithmetic_v<field>) {
    using T = collated_scalar_t<field>;
    auto out = tensor<T>::empty(shape{count});
    for (index_t k = 0; k < count; ++k) out.data()[k] = static_cast<T>(project(samples[static_cast<std::size_t>(k)]));
    return out;
  } else if constexpr (is_tuple_like<field>::value) {
    return collate_tuple(samples, project, std::make_index_sequence<std::tuple_size_v<field>>{});
  } else {
    static_assert(is_tensor<field>::value,
                  "default_collate: a sample field must be a tensor, an arithmetic value, a std::tuple or a "
                  "std::pair; pass a collate function to the data_loader for other types");
  }
}

}  // namespace detail

template <class Sample>
auto default_collate::operator()(const std::vector<Sample>& samples) const {
  KEXUE_CHECK(!samples.empty(), value_error, "collate", "no samples");
  return detail::collate_field(samples, [](const Sample& s) -> const Sample& { return s; });
}

template <class... Ts>
tensor_dataset<Ts...>::tensor_dataset(tensor<Ts>... tensors) : tensors_(std::move(tensors)...) {
  const shape* first = nullptr;
  int k = 0;
  auto check = [&](const auto& t) {
    KEXUE_CHECK(t.defined(), shape_error, "tensor_dataset", "tensor ", k, " is undefined");
    KEXUE_CHECK(t.rank() > 0, shape_error, "tensor_dataset", "tensor ", k,
                " has rank 0, expected a first (sample) axis");
    if (first == nullptr) {
      first = &t.shape();
    } else {
      KEXUE_CHECK(t.size(0) == (*first)[0], shape_error, "tensor_dataset",
                  "tensors differ in their first dimension (tensor 0 ", format_shape(*first), ", tensor ", k, " ",
                  format_shape(t.shape()), ")");
    }
    ++k;
  };
  std::apply([&](const auto&... t) { (check(t), ...); }, tensors_);
  size_ = (*first)[0];
}

template <class... Ts>
typename tensor_dataset<Ts...>::sample_type tensor_dataset<Ts...>::get(index_t i) const {
  KEXUE_CHECK(i >= 0 && i < size_, index_error, "tensor_dataset", "index ", i, " out of range for ", size_, " samples");
  auto row = [i](const auto& t) {
    using T = typename std::decay_t<decltype(t)>::value_type;
    shape s = t.shape();
    s.erase(0);
    auto out = tensor<T>::empty(s);
    const index_t n = out.numel();
    if (n > 0) std::memcpy(out.data(), t.data() + i * n, static_cast<std::size_t>(n) * sizeof(T));
    return out;
  };
  return std::apply([&](const auto&... t) { return sample_type(row(t)...); }, tensors_);
}

template <class... Ts>
typename tensor_dataset<Ts...>::sample_type tensor_dataset<Ts...>::get_batch(
    const std::vector<index_t>& indices) const {
  KEXUE_CHECK(!indices.empty(), value_error, "tensor_dataset", "get_batch needs at least one index");
  return std::apply([&](const auto&... t) { return sample_type(detail::gather_rows(t, indices, "tensor_dataset")...); },
                    tensors_);
}

}  // namespace kexue::train
