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
#include <kexue/core/format.hpp>

#include <kexue/kernels/simd.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/vector_math.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/kernels/softmax.hpp>
#include <kexue/kernels/gemm_microkernel.hpp>
#include <kexue/kernels/gemm_pack.hpp>

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
#include <kexue/ops/compare.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/softmax.hpp>
#include <kexue/ops/reduce_minmax.hpp>
#include <kexue/ops/reduce_stats.hpp>
#include <kexue/ops/cumsum.hpp>
#include <kexue/ops/topk.hpp>
#include <kexue/ops/linalg.hpp>
#include <kexue/ops/permute.hpp>
#include <kexue/ops/slice.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/repeat.hpp>
#include <kexue/ops/stop_gradient.hpp>
#include <kexue/ops/normalize.hpp>
#include <kexue/ops/one_hot.hpp>
#include <kexue/ops/dropout.hpp>
#include <kexue/ops/embedding.hpp>
// clang-format on
