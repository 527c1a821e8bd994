// SPDX-License-Identifier: MIT
// Forward declarations of kexue's main types, for headers that only name them.
#pragma once

namespace kexue {
template <class T>
class tensor;
template <class T>
struct tensor_impl;
template <class T>
struct storage;
class shape;
class generator;
/// Element-wise sum with broadcasting (ops/elementwise.hpp). Declared here because the autograd engine
/// accumulates gradients with it; every recorded op includes its definition.
template <class T>
tensor<T> add(const tensor<T>& a, const tensor<T>& b);
namespace autograd {
template <class T>
struct node;
}  // namespace autograd
}  // namespace kexue
