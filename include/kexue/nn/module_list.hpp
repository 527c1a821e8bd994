// SPDX-License-Identifier: MIT
// nn::module_list: an indexed list of child modules (layers of a stack), as torch.nn.ModuleList.
#pragma once

#include <memory>  // std::shared_ptr
#include <string>
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/nn/module.hpp>

namespace kexue::nn {

/// @brief Child modules registered as "0", "1", ... with no forward of its own: the owner iterates over
/// them (`for (auto& layer : blocks) h = layer->forward(h);` with `blocks.at<block<T>>(i)` for the type).
template <class T = float>
class module_list : public module<T> {
 public:
  module_list() = default;

  /// Appends `layer` (registered under its index).
  template <class M>
  module_list& push_back(std::shared_ptr<M> layer) {
    static_assert(std::is_base_of_v<module<T>, M>, "module_list::push_back: the layer must derive from nn::module<T>");
    this->register_module(std::to_string(items_.size()), layer);
    items_.push_back(std::move(layer));
    return *this;
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  /// The i-th module. @throws index_error when out of range.
  const std::shared_ptr<module<T>>& operator[](std::size_t i) const {
    KEXUE_CHECK(i < items_.size(), index_error, "module_list", "index ", i, " out of range for ", items_.size(),
                " modules");
    return items_[i];
  }
  /// The i-th module as its own type. @throws value_error if it is not an M.
  template <class M>
  std::shared_ptr<M> at(std::size_t i) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[i]);
    KEXUE_CHECK(typed != nullptr, value_error, "module_list", "module ", i, " is a ", (*this)[i]->type_name());
    return typed;
  }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

  /// Deep copy: every module cloned (one module pushed twice stays shared between its two entries).
  std::shared_ptr<module<T>> clone() const override {
    auto copy = std::make_shared<module_list>();
    std::vector<std::pair<const module<T>*, std::shared_ptr<module<T>>>> cloned;
    for (const auto& item : items_) {
      std::shared_ptr<module<T>> c;
      for (const auto& done : cloned) {
        if (done.first == item.get()) c = done.second;
      }
      if (!c) {
        c = item->clone();
        cloned.emplace_back(item.get(), c);
      }
      copy->push_back(c);
    }
    copy->train(this->is_training());
    return copy;
  }
  std::string type_name() const override { return "module_list"; }

 private:
  std::vector<std::shared_ptr<module<T>>> items_;
};

}  // namespace kexue::nn
