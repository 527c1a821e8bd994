// SPDX-License-Identifier: MIT
// nn::flatten: merges a range of axes into one (a view), as torch.nn.Flatten.
#pragma once

#include <string>

#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue::nn {

/// @brief Flattens axes start..end (inclusive) into one, as torch.nn.Flatten (defaults 1 and −1: keep the
/// batch axis). A view: no copy.
template <class T = float>
class flatten : public cloneable<flatten<T>, T> {
 public:
  explicit flatten(int start_axis = 1, int end_axis = -1) : start_(start_axis), end_(end_axis) {}
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const { return kexue::flatten(x, start_, end_); }
  std::string type_name() const override { return "flatten"; }
  std::string extra_repr() const override {
    return "start_axis=" + std::to_string(start_) + ", end_axis=" + std::to_string(end_);
  }

 private:
  int start_, end_;
};

}  // namespace kexue::nn
