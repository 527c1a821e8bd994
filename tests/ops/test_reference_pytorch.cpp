// SPDX-License-Identifier: MIT
// kexue against PyTorch: forward values, gradients and second-order gradients in float64, compared with the
// committed reference data of tests/reference/data/ (regenerate with tests/reference/make_reference.py).
#include <functional>  // case functions
#include <string>
#include <vector>

#include "reference/reference_check.hpp"
#include "reference/reference_data.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/cumsum.hpp>
#include <kexue/ops/embedding.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/linalg.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/normalize.hpp>
#include <kexue/ops/one_hot.hpp>
#include <kexue/ops/permute.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reduce_minmax.hpp>
#include <kexue/ops/reduce_stats.hpp>
#include <kexue/ops/repeat.hpp>
#include <kexue/ops/slice.hpp>
#include <kexue/ops/softmax.hpp>
#include <kexue/ops/topk.hpp>

#include "support/tensor_checks.hpp"

namespace {

using kexue::tensor;
using kexue::testing::case_function;
using kexue::testing::check_case;
using kexue::testing::reference_file;
using kexue::testing::reference_tol;
using kexue::testing::tensors;

/// A one-output case function from a unary op.
template <class F>
case_function unary(F f) {
  return [f](const tensors& v) { return tensors{f(v[0])}; };
}
/// A one-output case function from a binary op.
template <class F>
case_function binary(F f) {
  return [f](const tensors& v) { return tensors{f(v[0], v[1])}; };
}
/// A case function returning a list of outputs (split, chunk, unbind).
template <class F>
case_function listed(F f) {
  return [f](const tensors& v) { return f(v[0]); };
}
/// The output names "out.0", ..., "out.<n-1>".
std::vector<std::string> numbered_outputs(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("out." + std::to_string(i));
  return names;
}
/// A values/indices pair (max_with_indices, topk) as the outputs "out.values", "out.indices".
template <class F>
case_function values_and_indices(F f) {
  return [f](const tensors& v) {
    const auto r = f(v[0]);
    return tensors{r.values, r.indices.template to<double>()};
  };
}
const std::vector<std::string> values_indices_outputs = {"out.values", "out.indices"};

}  // namespace

TEST_SUITE("ops.reference_pytorch") {
  TEST_CASE("arithmetic matches pytorch, with broadcasting") {
    const reference_file file("arithmetic");
    const auto add = binary([](auto a, auto b) { return kexue::add(a, b); });
    check_case(file, "add_broadcast", {"a", "b"}, add);
    check_case(file, "add_same_shape", {"a", "b"}, add);
    check_case(file, "sub_broadcast", {"a", "b"}, binary([](auto a, auto b) { return kexue::sub(a, b); }));
    check_case(file, "mul_broadcast", {"a", "b"}, binary([](auto a, auto b) { return kexue::mul(a, b); }));
    check_case(file, "mul_scalar_tensor", {"a", "b"}, binary([](auto a, auto b) { return a * b; }));
    check_case(file, "div_broadcast", {"a", "b"}, binary([](auto a, auto b) { return kexue::div(a, b); }));
    check_case(file, "neg", {"x"}, unary([](auto x) { return kexue::neg(x); }));
    check_case(file, "add_scalar", {"x"}, unary([](auto x) { return x + 1.5; }));
    check_case(file, "mul_scalar", {"x"}, unary([](auto x) { return x * -0.75; }));
    check_case(file, "rdiv_scalar", {"x"}, unary([](auto x) { return kexue::rdiv_scalar(2.0, x); }));
    check_case(file, "pow_scalar", {"x"}, unary([](auto x) { return kexue::pow(x, 2.5); }));
    check_case(file, "pow_square", {"x"}, unary([](auto x) { return kexue::pow(x, 2.0); }));
    check_case(file, "pow_negative", {"x"}, unary([](auto x) { return kexue::pow(x, -1.5); }));
    check_case(file, "pow_tensor", {"a", "b"}, binary([](auto a, auto b) { return kexue::pow(a, b); }));
  }

  TEST_CASE("unary math functions match pytorch") {
    const reference_file file("math");
    check_case(file, "exp", {"x"}, unary([](auto x) { return kexue::exp(x); }));
    check_case(file, "log", {"x"}, unary([](auto x) { return kexue::log(x); }));
    check_case(file, "log1p", {"x"}, unary([](auto x) { return kexue::log1p(x); }));
    check_case(file, "expm1", {"x"}, unary([](auto x) { return kexue::expm1(x); }));
    check_case(file, "sqrt", {"x"}, unary([](auto x) { return kexue::sqrt(x); }));
    check_case(file, "rsqrt", {"x"}, unary([](auto x) { return kexue::rsqrt(x); }));
    check_case(file, "square", {"x"}, unary([](auto x) { return kexue::square(x); }));
    check_case(file, "abs", {"x"}, unary([](auto x) { return kexue::abs(x); }));
    check_case(file, "sign", {"x"}, unary([](auto x) { return kexue::sign(x); }));
    check_case(file, "sin", {"x"}, unary([](auto x) { return kexue::sin(x); }));
    check_case(file, "cos", {"x"}, unary([](auto x) { return kexue::cos(x); }));
    check_case(file, "erf", {"x"}, unary([](auto x) { return kexue::erf(x); }));
  }

  TEST_CASE("expand and sum_to match pytorch") {
    const reference_file file("broadcast");
    check_case(file, "expand", {"x"}, unary([](auto x) { return kexue::expand(x, {2, 3, 4}); }));
    check_case(file, "sum_to", {"x"}, unary([](auto x) { return kexue::sum_to(x, {3, 1}); }));
  }

  TEST_CASE("sum and mean over axes match pytorch") {
    const reference_file file("reduce");
    check_case(file, "sum_all", {"x"}, unary([](auto x) { return kexue::sum(x); }));
    check_case(file, "sum_axis1_keepdim", {"x"}, unary([](auto x) { return kexue::sum(x, {1}, true); }));
    check_case(file, "sum_axes02", {"x"}, unary([](auto x) { return kexue::sum(x, {0, 2}); }));
    check_case(file, "sum_axis_neg1", {"x"}, unary([](auto x) { return kexue::sum(x, {-1}); }));
    check_case(file, "mean_all", {"x"}, unary([](auto x) { return kexue::mean(x); }));
    check_case(file, "mean_axis_neg1_keepdim", {"x"}, unary([](auto x) { return kexue::mean(x, {-1}, true); }));
    check_case(file, "mean_axes01", {"x"}, unary([](auto x) { return kexue::mean(x, {0, 1}); }));
  }

  TEST_CASE("matmul matches pytorch for 2-D, batched and transposed operands") {
    const reference_file file("matmul");
    const auto mm = [](bool ta, bool tb) {
      return binary([ta, tb](auto a, auto b) { return kexue::matmul(a, b, ta, tb); });
    };
    check_case(file, "matmul_2d", {"a", "b"}, mm(false, false));
    check_case(file, "matmul_trans_a", {"a", "b"}, mm(true, false));
    check_case(file, "matmul_trans_b", {"a", "b"}, mm(false, true));
    check_case(file, "matmul_trans_ab", {"a", "b"}, mm(true, true));
    check_case(file, "matmul_batched", {"a", "b"}, mm(false, false));
    check_case(file, "matmul_batch_broadcast", {"a", "b"}, mm(false, false));
    check_case(file, "matmul_batch_broadcast_2d", {"a", "b"}, mm(false, false));
    check_case(file, "matmul_batched_trans_b", {"a", "b"}, mm(false, true));
    check_case(file, "matmul_vector_matrix", {"a", "b"}, mm(false, false));
    check_case(file, "matmul_matrix_vector", {"a", "b"}, mm(false, false));
  }

  TEST_CASE("maximum, minimum, where, clamp and comparisons match pytorch") {
    const reference_file file("compare");
    check_case(file, "maximum_broadcast", {"a", "b"}, binary([](auto a, auto b) { return kexue::maximum(a, b); }));
    check_case(file, "minimum_broadcast", {"a", "b"}, binary([](auto a, auto b) { return kexue::minimum(a, b); }));
    const auto cond = file.mask("where_broadcast.cond");
    check_case(file, "where_broadcast", {"a", "b"},
               binary([cond](auto a, auto b) { return kexue::where(cond, a, b); }));
    check_case(file, "clamp_scalar", {"x"}, unary([](auto x) { return kexue::clamp(x, -0.5, 0.8); }));
    check_case(file, "clamp_min_only", {"x"}, unary([](auto x) { return kexue::clamp_min(x, 0.1); }));
    check_case(file, "clamp_tensor_bounds", {"x", "lo", "hi"},
               [](const tensors& v) { return tensors{kexue::clamp(v[0], v[1], v[2])}; });
    check_case(file, "greater", {"a", "b"},
               binary([](auto a, auto b) { return kexue::greater(a, b).template to<double>(); }));
    check_case(file, "less_equal", {"a", "b"},
               binary([](auto a, auto b) { return kexue::less_equal(a, b).template to<double>(); }));
  }

  TEST_CASE("max, min, argmax and argmin over axes match pytorch") {
    const reference_file file("reduce_minmax");
    check_case(file, "max_all", {"x"}, unary([](auto x) { return kexue::max(x); }));
    check_case(file, "max_axes02", {"x"}, unary([](auto x) { return kexue::max(x, {0, 2}); }));
    check_case(file, "max_axis1_keepdim", {"x"}, unary([](auto x) { return kexue::max(x, {1}, true); }));
    check_case(file, "min_axis_neg1", {"x"}, unary([](auto x) { return kexue::min(x, {-1}); }));
    check_case(file, "min_axes01_keepdim", {"x"}, unary([](auto x) { return kexue::min(x, {0, 1}, true); }));
    check_case(file, "max_with_indices_axis1", {"x"},
               values_and_indices([](auto x) { return kexue::max_with_indices(x, 1); }), values_indices_outputs);
    check_case(file, "min_with_indices_axis0_keepdim", {"x"},
               values_and_indices([](auto x) { return kexue::min_with_indices(x, 0, true); }), values_indices_outputs);
    check_case(file, "argmax_axis_neg1", {"x"},
               unary([](auto x) { return kexue::argmax(x, -1).template to<double>(); }));
    check_case(file, "argmax_axis0_keepdim", {"x"},
               unary([](auto x) { return kexue::argmax(x, 0, true).template to<double>(); }));
    check_case(file, "argmin_axis1", {"x"}, unary([](auto x) { return kexue::argmin(x, 1).template to<double>(); }));
  }

  TEST_CASE("var, stddev and norm match pytorch") {
    const reference_file file("reduce_stats");
    check_case(file, "var_all_unbiased", {"x"}, unary([](auto x) { return kexue::var(x, {}, true); }));
    check_case(file, "var_axis1_biased", {"x"}, unary([](auto x) { return kexue::var(x, {1}, false); }));
    check_case(file, "var_axes02_unbiased_keepdim", {"x"}, unary([](auto x) {
                 return kexue::var(x, {0, 2}, true, true);
               }));
    check_case(file, "std_axis_neg1_unbiased", {"x"}, unary([](auto x) { return kexue::stddev(x, {-1}, true); }));
    check_case(file, "std_all_biased", {"x"}, unary([](auto x) { return kexue::stddev(x, {}, false); }));
    check_case(file, "std_axis0_biased_keepdim", {"x"},
               unary([](auto x) { return kexue::stddev(x, {0}, false, true); }));
    check_case(file, "norm_all", {"x"}, unary([](auto x) { return kexue::norm(x); }));
    check_case(file, "norm_axis_neg1", {"x"}, unary([](auto x) { return kexue::norm(x, 2, {-1}); }));
    check_case(file, "norm_axes01_keepdim", {"x"}, unary([](auto x) { return kexue::norm(x, 2, {0, 1}, true); }));
    check_case(file, "norm_p1_axis1", {"x"}, unary([](auto x) { return kexue::norm(x, 1, {1}); }));
    check_case(file, "norm_p3_axis_neg1", {"x"}, unary([](auto x) { return kexue::norm(x, 3, {-1}); }));
  }

  TEST_CASE("cumsum matches pytorch") {
    const reference_file file("cumsum");
    check_case(file, "cumsum_axis1", {"x"}, unary([](auto x) { return kexue::cumsum(x, 1); }));
    check_case(file, "cumsum_axis0", {"x"}, unary([](auto x) { return kexue::cumsum(x, 0); }));
    check_case(file, "cumsum_axis_neg2_rank3", {"x"}, unary([](auto x) { return kexue::cumsum(x, -2); }));
  }

  TEST_CASE("topk matches pytorch") {
    const reference_file file("topk");
    check_case(file, "topk_largest_last", {"x"}, values_and_indices([](auto x) { return kexue::topk(x, 2, -1); }),
               values_indices_outputs);
    check_case(file, "topk_smallest_axis0", {"x"},
               values_and_indices([](auto x) { return kexue::topk(x, 3, 0, false); }), values_indices_outputs);
    check_case(file, "topk_rank3_axis1", {"x"}, values_and_indices([](auto x) { return kexue::topk(x, 2, 1); }),
               values_indices_outputs);
  }

  TEST_CASE("permute and transpose match pytorch") {
    const reference_file file("permute");
    check_case(file, "permute_201", {"x"}, unary([](auto x) { return kexue::permute(x, {2, 0, 1}); }));
    check_case(file, "permute_021", {"x"}, unary([](auto x) { return kexue::permute(x, {0, 2, 1}); }));
    check_case(file, "transpose_0_2", {"x"}, unary([](auto x) { return kexue::transpose(x, 0, 2); }));
    check_case(file, "transpose_2d", {"x"}, unary([](auto x) { return kexue::transpose(x); }));
  }

  TEST_CASE("narrow, slice, select, flip and pad match pytorch") {
    const reference_file file("slice");
    check_case(file, "narrow_axis1", {"x"}, unary([](auto x) { return kexue::narrow(x, 1, 1, 2); }));
    check_case(file, "narrow_axis_neg1", {"x"}, unary([](auto x) { return kexue::narrow(x, -1, 2, 3); }));
    check_case(file, "slice_step", {"x"}, unary([](auto x) { return kexue::slice(x, 1, 1, 5, 2); }));
    check_case(file, "select_axis1", {"x"}, unary([](auto x) { return kexue::select(x, 1, 2); }));
    check_case(file, "flip_axes02", {"x"}, unary([](auto x) { return kexue::flip(x, {0, 2}); }));
    check_case(file, "pad_axis0", {"x"}, unary([](auto x) { return kexue::pad(x, 0, 1, 2, 0.5); }));
  }

  TEST_CASE("index_select, index_add, gather and scatter_add match pytorch") {
    const reference_file file("index");
    for (const char* name : {"index_select_axis0", "index_select_axis1"}) {
      const auto index = file.indices(std::string(name) + ".index");
      const int axis = std::string(name) == "index_select_axis0" ? 0 : 1;
      check_case(file, name, {"x"}, unary([index, axis](auto x) { return kexue::index_select(x, axis, index); }));
    }
    const auto add_index = file.indices("index_add_axis0.index");
    check_case(file, "index_add_axis0", {"x", "src"},
               binary([add_index](auto x, auto src) { return kexue::index_add(x, 0, add_index, src); }));
    for (int axis : {0, 1}) {
      const std::string gather = "gather_axis" + std::to_string(axis);
      const auto gather_index = file.indices(gather + ".index");
      check_case(file, gather, {"x"},
                 unary([gather_index, axis](auto x) { return kexue::gather(x, axis, gather_index); }));
      const std::string scatter = "scatter_add_axis" + std::to_string(axis);
      const auto scatter_index = file.indices(scatter + ".index");
      check_case(file, scatter, {"base", "src"}, binary([scatter_index, axis](auto base, auto src) {
                   return kexue::scatter_add(base, axis, scatter_index, src);
                 }));
    }
  }

  TEST_CASE("one_hot matches pytorch") {
    const reference_file file("one_hot");
    CHECK(!file.has("one_hot.grad_out"));
    kexue::testing::check_close(kexue::one_hot<double>(file.indices("one_hot.index"), 5), file.get("one_hot.out"));
  }

  TEST_CASE("concat, stack, split, chunk and unbind match pytorch") {
    const reference_file file("join");
    check_case(file, "concat_axis1", {"a", "b", "c"}, [](const tensors& v) { return tensors{kexue::concat(v, 1)}; });
    check_case(file, "concat_axis0", {"a", "b"}, [](const tensors& v) { return tensors{kexue::concat(v, 0)}; });
    check_case(file, "stack_axis0", {"a", "b"}, [](const tensors& v) { return tensors{kexue::stack(v, 0)}; });
    check_case(file, "stack_axis_neg1", {"a", "b", "c"}, [](const tensors& v) { return tensors{kexue::stack(v, -1)}; });
    check_case(file, "split_sizes", {"x"}, listed([](auto x) {
                 return kexue::split(x, {1, 3}, 1);
               }),
               numbered_outputs(2));
    check_case(file, "chunk_3", {"x"}, listed([](auto x) { return kexue::chunk(x, 3, 0); }), numbered_outputs(3));
    check_case(file, "split_equal", {"x"}, listed([](auto x) { return kexue::split(x, 2, -1); }), numbered_outputs(3));
    check_case(file, "unbind_axis1", {"x"}, listed([](auto x) { return kexue::unbind(x, 1); }), numbered_outputs(3));
  }

  TEST_CASE("repeat, tile and repeat_interleave match pytorch") {
    const reference_file file("repeat");
    check_case(file, "repeat_2d", {"x"}, unary([](auto x) { return kexue::repeat(x, {2, 3}); }));
    check_case(file, "repeat_rank3", {"x"}, unary([](auto x) { return kexue::repeat(x, {1, 2, 2}); }));
    check_case(file, "tile_short_reps", {"x"}, unary([](auto x) { return kexue::tile(x, {2}); }));
    check_case(file, "repeat_interleave_axis1", {"x"}, unary([](auto x) { return kexue::repeat_interleave(x, 2, 1); }));
    check_case(file, "repeat_new_axes", {"x"}, unary([](auto x) { return kexue::repeat(x, {2, 1, 2}); }));
  }

  TEST_CASE("det, logdet, inverse, trace, matrix_exp, singular values and eigenvalues match pytorch") {
    // Eigen's LU, SVD and symmetric eigensolver are not LAPACK's, but on these well-conditioned inputs
    // (condition numbers below ~10, separated singular values and eigenvalues) they agree to 1e-10 too.
    const reference_file file("linalg");
    const auto det = unary([](auto x) { return kexue::det(x); });
    check_case(file, "det_3x3", {"x"}, det);
    check_case(file, "det_batched", {"x"}, det);
    const auto logdet = unary([](auto x) { return kexue::logdet(x); });
    check_case(file, "logdet_spd", {"x"}, logdet);
    check_case(file, "logdet_general", {"x"}, logdet);
    check_case(file, "slogdet", {"x"},
               [](const tensors& v) {
                 const auto r = kexue::slogdet(v[0]);
                 return tensors{r.sign, r.logabsdet};
               },
               {"out.sign", "out.logabsdet"});
    const auto inverse = unary([](auto x) { return kexue::inverse(x); });
    check_case(file, "inverse_3x3", {"x"}, inverse);
    check_case(file, "inverse_batched", {"x"}, inverse);
    const auto trace = unary([](auto x) { return kexue::trace(x); });
    check_case(file, "trace", {"x"}, trace);
    check_case(file, "trace_rectangular", {"x"}, trace);
    const auto matrix_exp = unary([](auto x) { return kexue::matrix_exp(x); });
    check_case(file, "matrix_exp", {"x"}, matrix_exp);
    check_case(file, "matrix_exp_batched", {"x"}, matrix_exp);
    const auto singular_values = unary([](auto x) { return kexue::svd(x).S; });
    check_case(file, "svd_values", {"x"}, singular_values);
    check_case(file, "svd_values_wide", {"x"}, singular_values);
    check_case(file, "eigh_values", {"x"}, unary([](auto x) { return kexue::eigh(x).eigenvalues; }));
  }

  TEST_CASE("activations match pytorch, including saturated inputs") {
    const reference_file file("activation");
    check_case(file, "relu", {"x"}, unary([](auto x) { return kexue::relu(x); }));
    check_case(file, "leaky_relu", {"x"}, unary([](auto x) { return kexue::leaky_relu(x, 0.2); }));
    check_case(file, "elu", {"x"}, unary([](auto x) { return kexue::elu(x, 1.0); }));
    check_case(file, "elu_alpha", {"x"}, unary([](auto x) { return kexue::elu(x, 0.5); }));
    check_case(file, "gelu_erf", {"x"}, unary([](auto x) { return kexue::gelu(x); }));
    check_case(file, "gelu_tanh", {"x"}, unary([](auto x) { return kexue::gelu(x, kexue::gelu_approximation::tanh); }));
    check_case(file, "silu", {"x"}, unary([](auto x) { return kexue::silu(x); }));
    check_case(file, "sigmoid", {"x"}, unary([](auto x) { return kexue::sigmoid(x); }));
    check_case(file, "tanh", {"x"}, unary([](auto x) { return kexue::tanh(x); }));
    check_case(file, "softplus", {"x"}, unary([](auto x) { return kexue::softplus(x); }));
    check_case(file, "log_sigmoid", {"x"}, unary([](auto x) { return kexue::log_sigmoid(x); }));
    check_case(file, "softsign", {"x"}, unary([](auto x) { return kexue::softsign(x); }));
    check_case(file, "mish", {"x"}, unary([](auto x) { return kexue::mish(x); }));
  }

  TEST_CASE("softmax, log_softmax and logsumexp match pytorch, with masks") {
    const reference_file file("softmax");
    check_case(file, "softmax_last", {"x"}, unary([](auto x) { return kexue::softmax(x, -1); }));
    check_case(file, "softmax_axis0", {"x"}, unary([](auto x) { return kexue::softmax(x, 0); }));
    check_case(file, "softmax_axis1_rank3", {"x"}, unary([](auto x) { return kexue::softmax(x, 1); }));
    check_case(file, "log_softmax_last", {"x"}, unary([](auto x) { return kexue::log_softmax(x, -1); }));
    check_case(file, "log_softmax_axis1_rank3", {"x"}, unary([](auto x) { return kexue::log_softmax(x, 1); }));
    check_case(file, "logsumexp_last", {"x"}, unary([](auto x) { return kexue::logsumexp(x, {-1}); }));
    check_case(file, "logsumexp_axes02_keepdim", {"x"}, unary([](auto x) {
                 return kexue::logsumexp(x, {0, 2}, true);
               }));
    check_case(file, "logsumexp_all", {"x"}, unary([](auto x) { return kexue::logsumexp(x); }));
    check_case(file, "logsumexp_large", {"x"}, unary([](auto x) { return kexue::logsumexp(x, {-1}); }));
    for (const char* name : {"softmax_bool_mask", "log_softmax_bool_mask", "logsumexp_bool_mask"}) {
      const std::string op = name;
      const auto keep = file.mask(op + ".keep");
      check_case(file, name, {"x"}, unary([keep, op](auto x) {
                   if (op == "softmax_bool_mask") return kexue::softmax(x, keep, -1);
                   if (op == "log_softmax_bool_mask") return kexue::log_softmax(x, keep, -1);
                   return kexue::logsumexp(x, keep, {-1});
                 }));
    }
    // The additive mask is an input without a gradient in the data (a constant, as masks are in practice).
    check_case(file, "softmax_additive_mask", {"x", "mask"},
               binary([](auto x, auto mask) { return kexue::softmax(x, mask, -1); }));
  }

  TEST_CASE("l2_normalize and cosine_similarity match pytorch") {
    const reference_file file("normalize");
    check_case(file, "l2_normalize_last", {"x"}, unary([](auto x) { return kexue::l2_normalize(x, -1); }));
    check_case(file, "l2_normalize_axis0", {"x"}, unary([](auto x) { return kexue::l2_normalize(x, 0); }));
    const auto cosine = binary([](auto a, auto b) { return kexue::cosine_similarity(a, b, -1); });
    check_case(file, "cosine_similarity_last", {"a", "b"}, cosine);
    check_case(file, "cosine_similarity_broadcast", {"a", "b"}, cosine);
  }

  TEST_CASE("embedding matches pytorch, repeated indices accumulating") {
    const reference_file file("embedding");
    for (const char* name : {"embedding_2d_index", "embedding_1d_index"}) {
      const auto index = file.indices(std::string(name) + ".index");
      check_case(file, name, {"weight"}, unary([index](auto weight) { return kexue::embedding(index, weight); }));
    }
  }
}
