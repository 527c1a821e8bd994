// SPDX-License-Identifier: MIT
// kexue umbrella header: includes every public header, nothing else.
#pragma once

// clang-format off
#include <kexue/version.hpp>
#include <kexue/config.hpp>
#include <kexue/fwd.hpp>

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/allocator.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/eigen.hpp>

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/autograd/node.hpp>
#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/gradcheck.hpp>

#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/matmul.hpp>
// clang-format on
