// SPDX-License-Identifier: MIT
// kexue::state_dict: an insertion-ordered collection of named tensors (float, double, int64, bool).
#pragma once

#include <cstddef>  // std::size_t
#include <string>
#include <unordered_map>  // name -> position
#include <utility>        // std::pair, std::move
#include <variant>        // the element types an entry may hold
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue {

/// A tensor of any element type kexue stores: float, double, int64 (index_t) or bool.
using any_tensor = std::variant<tensor<float>, tensor<double>, tensor<index_t>, tensor<bool>>;

/// Element type name of an any_tensor ("float32", "float64", "int64", "bool").
inline const char* dtype_name(const any_tensor& t) {
  return std::visit([](const auto& v) { return dtype_name<typename std::decay_t<decltype(v)>::value_type>(); }, t);
}

/// Shape of an any_tensor.
inline const shape& shape_of(const any_tensor& t) {
  return std::visit([](const auto& v) -> const shape& { return v.shape(); }, t);
}

/// @brief Named tensors in insertion order: the state of a model (`module::state_dict()`), of an optimizer
/// stack, or of a whole training run, and the unit that `io/` writes to and reads from files.
///
/// Names are dotted paths (`encoder.0.weight`, `optimizer.inner.exp_avg.3`); scalars are stored as
/// one-element tensors (a step count as `tensor<index_t>`). Entries are handles: the tensors share data with
/// whoever inserted them, exactly as `tensor` copies do (call `copy()` for an independent snapshot).
///
///     kexue::state_dict s;
///     s.insert("weight", w);                  // tensor<float>
///     s.insert("step", kexue::scalar<kexue::index_t>(10));
///     auto w2 = s.get<float>("weight");       // value_error if absent or not float32
class state_dict {
 public:
  using entry = std::pair<std::string, any_tensor>;
  using const_iterator = std::vector<entry>::const_iterator;

  /// Adds `value` under `name`. @throws value_error if `name` is empty or already present, or the tensor is
  /// undefined.
  template <class U>
  void insert(const std::string& name, const tensor<U>& value) {
    insert_any(name, any_tensor(value));
  }
  void insert_any(const std::string& name, any_tensor value) {
    KEXUE_CHECK(!name.empty(), value_error, "state_dict::insert", "entry names must not be empty");
    KEXUE_CHECK(index_.find(name) == index_.end(), value_error, "state_dict::insert", "duplicate entry '", name, "'");
    const bool defined = std::visit([](const auto& v) { return v.defined(); }, value);
    KEXUE_CHECK(defined, value_error, "state_dict::insert", "entry '", name, "' is an undefined tensor");
    index_.emplace(name, entries_.size());
    entries_.emplace_back(name, std::move(value));
  }

  /// Replaces the value of an existing entry, or inserts it (keeping the original position when it exists).
  template <class U>
  void set(const std::string& name, const tensor<U>& value) {
    const auto it = index_.find(name);
    if (it == index_.end()) {
      insert(name, value);
    } else {
      entries_[it->second].second = any_tensor(value);
    }
  }

  bool contains(const std::string& name) const { return index_.find(name) != index_.end(); }

  /// The entry `name` as a tensor of element type U.
  /// @throws value_error naming the key and the available keys when absent, or both dtypes on a mismatch.
  template <class U>
  tensor<U> get(const std::string& name) const {
    const any_tensor& v = at(name);
    const auto* t = std::get_if<tensor<U>>(&v);
    KEXUE_CHECK(t != nullptr, value_error, "state_dict::get", "entry '", name, "' holds ", dtype_name(v),
                ", requested ", dtype_name<U>());
    return *t;
  }

  /// The entry `name`, whatever its type. @throws value_error naming the key and listing those present.
  const any_tensor& at(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end()) KEXUE_THROW(value_error, "state_dict", "no entry '", name, "' (", describe_keys(), ")");
    return entries_[it->second].second;
  }

  /// The entries whose names start with `prefix` + ".", with that prefix removed, in order.
  state_dict sub(const std::string& prefix) const {
    state_dict out;
    const std::string head = prefix + ".";
    for (const auto& [name, value] : entries_) {
      if (name.size() > head.size() && name.compare(0, head.size(), head) == 0) {
        out.insert_any(name.substr(head.size()), value);
      }
    }
    return out;
  }

  /// Inserts every entry of `other` as `prefix.name` (or `name` when prefix is empty).
  void merge(const std::string& prefix, const state_dict& other) {
    for (const auto& [name, value] : other.entries_) insert_any(prefix.empty() ? name : prefix + "." + name, value);
  }

  /// Entry names in order.
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) out.push_back(e.first);
    return out;
  }

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  const_iterator begin() const noexcept { return entries_.begin(); }
  const_iterator end() const noexcept { return entries_.end(); }

 private:
  std::string describe_keys() const {
    if (entries_.empty()) return "the state_dict is empty";
    std::string s = "entries: ";
    const std::size_t shown = entries_.size() < 8 ? entries_.size() : 8;
    for (std::size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + entries_[i].first;
    if (shown < entries_.size()) s += ", ... (" + std::to_string(entries_.size()) + " in all)";
    return s;
  }

  std::vector<entry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace kexue
