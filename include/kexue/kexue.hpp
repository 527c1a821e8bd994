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
#include <kexue/core/state_dict.hpp>

#include <kexue/kernels/simd.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/vector_math.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/kernels/softmax.hpp>
#include <kexue/kernels/gemm_microkernel.hpp>
#include <kexue/kernels/gemm_pack.hpp>
#include <kexue/kernels/conv1d.hpp>

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
#include <kexue/ops/attention.hpp>
#include <kexue/ops/conv.hpp>
#include <kexue/ops/linear.hpp>
#include <kexue/ops/pool.hpp>
#include <kexue/ops/recurrent.hpp>
#include <kexue/ops/cross_entropy.hpp>
#include <kexue/ops/norm.hpp>
#include <kexue/ops/gated.hpp>

#include <kexue/nn/attention.hpp>
#include <kexue/nn/dropout.hpp>
#include <kexue/nn/embedding.hpp>
#include <kexue/nn/flatten.hpp>
#include <kexue/nn/heads.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/nn/module_list.hpp>
#include <kexue/nn/positional.hpp>
#include <kexue/nn/recurrent.hpp>
#include <kexue/nn/sequential.hpp>
#include <kexue/nn/transformer.hpp>
#include <kexue/nn/vector_quantizer.hpp>
#include <kexue/nn/conv.hpp>
#include <kexue/nn/gated_conv.hpp>
#include <kexue/nn/norm.hpp>
#include <kexue/nn/pool.hpp>

#include <kexue/loss/classification.hpp>
#include <kexue/loss/divergence.hpp>
#include <kexue/loss/f1.hpp>
#include <kexue/loss/focal.hpp>
#include <kexue/loss/gan.hpp>
#include <kexue/loss/margin_softmax.hpp>
#include <kexue/loss/ranking.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/loss/regression.hpp>
#include <kexue/loss/sampled_softmax.hpp>

#include <kexue/optim/adam.hpp>
#include <kexue/optim/ema.hpp>
#include <kexue/optim/gradient_accumulation.hpp>
#include <kexue/optim/layer_adaptation.hpp>
#include <kexue/optim/lazy.hpp>
#include <kexue/optim/lookahead.hpp>
#include <kexue/optim/optimizer.hpp>
#include <kexue/optim/piecewise_linear_lr.hpp>
#include <kexue/optim/rmsprop.hpp>
#include <kexue/optim/schedule.hpp>
#include <kexue/optim/sgd.hpp>
#include <kexue/optim/weight_decay.hpp>
#include <kexue/optim/gradient_clipping.hpp>
#include <kexue/optim/sphere.hpp>

#include <kexue/train/callbacks.hpp>
#include <kexue/train/checkpoint.hpp>
#include <kexue/train/csv_logger.hpp>
#include <kexue/train/data_loader.hpp>
#include <kexue/train/dataset.hpp>
#include <kexue/train/fit.hpp>
#include <kexue/train/metrics.hpp>
#include <kexue/train/progress.hpp>
#include <kexue/train/schedules.hpp>

#include <kexue/io/atomic_file.hpp>
#include <kexue/io/serialize.hpp>

#include <kexue/algo/mitchell.hpp>
#include <kexue/algo/span_decoding.hpp>
#include <kexue/algo/whitening.hpp>
// clang-format on
