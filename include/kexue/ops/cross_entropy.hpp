// SPDX-License-Identifier: MIT
// Fused, differentiable softmax cross-entropy from logits: class-index targets (ignore_index, label smoothing,
// class weights) and probability targets, per-row losses.
#pragma once

#include <cmath>    // std::isfinite
#include <cstdint>  // std::int64_t targets of the kernel
#include <utility>  // std::move
#include <vector>   // per-row factors

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/softmax.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/softmax.hpp>

namespace kexue {

/// Options of softmax_cross_entropy (defaults in brackets).
template <class T>
struct softmax_cross_entropy_options {
  /// Rows whose target equals this get loss 0 and gradient 0 [−100, as PyTorch]. Index targets only.
  softmax_cross_entropy_options& ignore_index(index_t v) {
    ignore_index_ = v;
    return *this;
  }
  /// Label smoothing ε in [0, 1] [0]: PyTorch's definition, the target becomes (1 − ε)·onehot + ε/C.
  softmax_cross_entropy_options& label_smoothing(T v) {
    label_smoothing_ = v;
    return *this;
  }
  /// Per-class weights w [C] [undefined: all 1]. A constant: it receives no gradient.
  softmax_cross_entropy_options& weight(const tensor<T>& v) {
    weight_ = v;
    return *this;
  }
  index_t ignore_index() const { return ignore_index_; }
  T label_smoothing() const { return label_smoothing_; }
  const tensor<T>& weight() const { return weight_; }

 private:
  index_t ignore_index_ = -100;
  T label_smoothing_ = T(0);
  tensor<T> weight_;
};

/// @brief Per-row softmax cross-entropy of logits x [N, C] against class indices t [N], as PyTorch's
///        F.cross_entropy(x, t, weight=w, ignore_index=i, label_smoothing=ε, reduction='none'):
///
///     loss_n = (1 − ε)·w_{t_n}·(−log p_{n,t_n}) + (ε/C)·Σ_c w_c·(−log p_{n,c}),   p_n = softmax(x_n)
///
/// with w = 1 when no weight is given, and loss_n = 0 for a row with t_n = ignore_index. Computed by the fused
/// row kernel (kernels::cross_entropy_rows: −log p_{n,t} = logsumexp(x_n) − x_{n,t}, stable for any logit size).
/// Returns [N]. For PyTorch's reduction='mean' divide the sum by Σ_n w_{t_n} over the rows not ignored (by their
/// count without weights); 'sum' is the plain sum.
///
/// Gradient (fused, one pass over the row: the kernel's softmax minus target, then the smoothing term):
///     d loss_n / d x_n = a_n·p_n − (1 − ε)·w_{t_n}·onehot(t_n) − (ε/C)·w,   a_n = (1 − ε)·w_{t_n} + (ε/C)·Σ_c w_c
/// and 0 for ignored rows. Second order (create_graph) through the same formula written with softmax and
/// differentiable ops. t and w get no gradient.
/// @throws shape_error "softmax_cross_entropy: expected logits [N, C] and target [N], got [2, 3] and [3]", or
///         "... weight [3], got [4]"; index_error "softmax_cross_entropy: target 5 out of range for 3 classes
///         (row 1)"; value_error "softmax_cross_entropy: label_smoothing must be in [0, 1], got 1.5".
template <class T>
tensor<T> softmax_cross_entropy(const tensor<T>& logits, const tensor<index_t>& target,
                                const softmax_cross_entropy_options<T>& options = {});

/// @brief Per-row softmax cross-entropy of logits x [N, C] against target probabilities q [N, C] (soft labels,
///        distillation), as PyTorch's F.cross_entropy(x, q, weight=w, label_smoothing=ε, reduction='none'):
///
///     loss_n = −Σ_c w_c·q'_{n,c}·log p_{n,c},   q' = (1 − ε)·q + ε/C,   p_n = softmax(x_n)
///
/// Rows of q need not sum to 1 (nothing is normalised). ignore_index is not used. Returns [N].
/// Gradients (fused): d/dx_n = s_n·p_n − w ⊙ q'_n with s_n = Σ_c w_c q'_{n,c};  d/dq_n = −(1 − ε)·w ⊙ log p_n.
/// Second order through the same formulas written with differentiable ops.
/// @throws shape_error "softmax_cross_entropy: expected logits [N, C] and target probabilities of the same shape,
///         got [2, 3] and [2, 4]"; weight and label_smoothing errors as above.
template <class T>
tensor<T> softmax_cross_entropy(const tensor<T>& logits, const tensor<T>& target_probs,
                                const softmax_cross_entropy_options<T>& options = {});

// ~~~ Implementation ~~~

namespace detail {

/// Checks weight and label_smoothing against C classes; returns the weights as a vector (all 1 when absent).
template <class T>
std::vector<T> cross_entropy_weights(const softmax_cross_entropy_options<T>& o, index_t classes) {
  const T eps = o.label_smoothing();
  KEXUE_CHECK(eps >= T(0) && eps <= T(1), value_error, "softmax_cross_entropy",
              "label_smoothing must be in [0, 1], got ", eps);
  std::vector<T> w(static_cast<std::size_t>(classes), T(1));
  if (o.weight().defined()) {
    KEXUE_CHECK(o.weight().shape() == shape{classes}, shape_error, "softmax_cross_entropy", "expected weight [",
                classes, "], got ", format_shape(o.weight().shape()));
    for (index_t c = 0; c < classes; ++c) w[c] = o.weight().data()[c];
  }
  return w;
}

/// Σ_c v_c·x_c over one row.
template <class T>
T row_dot(const T* v, const T* x, index_t n) {
  T s = T(0);
  for (index_t c = 0; c < n; ++c) s += v[c] * x[c];
  return s;
}

}  // namespace detail

template <class T>
tensor<T> softmax_cross_entropy(const tensor<T>& logits, const tensor<index_t>& target,
                                const softmax_cross_entropy_options<T>& options) {
  const char* op = "softmax_cross_entropy";
  KEXUE_CHECK(logits.rank() == 2 && target.rank() == 1 && target.size(0) == logits.size(0), shape_error, op,
              "expected logits [N, C] and target [N], got ", format_shape(logits.shape()), " and ",
              format_shape(target.shape()));
  const index_t rows = logits.size(0), classes = logits.size(1);
  const std::vector<T> w = detail::cross_entropy_weights(options, classes);
  const index_t ignore = options.ignore_index();
  const index_t* t = target.data();
  for (index_t r = 0; r < rows; ++r) {
    KEXUE_CHECK(t[r] == ignore || (t[r] >= 0 && t[r] < classes), index_error, op, "target ", t[r], " out of range for ",
                classes, " classes (row ", r, ")");
  }
  const T eps = options.label_smoothing();
  T w_sum = T(0);  // Σ_c w_c
  for (T v : w) w_sum += v;
  const T smooth = classes > 0 ? eps / static_cast<T>(classes) : T(0);  // ε/C
  // Per row: the factor on −log p_t and the softmax factor a_n of the gradient (0 for ignored rows).
  std::vector<T> target_factor(static_cast<std::size_t>(rows)), softmax_factor(static_cast<std::size_t>(rows));
  for (index_t r = 0; r < rows; ++r) {
    const bool kept = t[r] != ignore;
    target_factor[r] = kept ? (T(1) - eps) * w[t[r]] : T(0);
    softmax_factor[r] = kept ? target_factor[r] + smooth * w_sum : T(0);
  }
  cross_entropy_options<T> ko;
  ko.ignore_index = ignore;
  auto out = tensor<T>::empty({rows});
  T* loss = out.data();
  static_assert(sizeof(index_t) == sizeof(std::int64_t));
  cross_entropy_rows(logits.data(), reinterpret_cast<const std::int64_t*>(t), loss, static_cast<T*>(nullptr), rows,
                     classes, ko);
  for (index_t r = 0; r < rows; ++r) {
    if (t[r] == ignore) continue;
    const T* x = logits.data() + r * classes;
    const T nll = loss[r];  // logsumexp − x_t
    loss[r] = target_factor[r] * nll;
    // (ε/C)·Σ_c w_c (lse − x_c) = (ε/C)·(W·lse − Σ_c w_c x_c)
    if (eps != T(0)) loss[r] += smooth * (w_sum * (nll + x[t[r]]) - detail::row_dot(w.data(), x, classes));
  }
  return autograd::record<T>(op, std::move(out), {logits},
                             [logits, target, w, eps, smooth, target_factor = std::move(target_factor),
                              softmax_factor = std::move(softmax_factor), ignore](auto) {
                               return [logits, target, w, eps, smooth, target_factor, softmax_factor,
                                       ignore](const tensor<T>& g) {
                                 const index_t rows = logits.size(0), classes = logits.size(1);
                                 const index_t* t = target.data();
                                 // The constant part b = (1 − ε)·w_t·onehot(t) + (ε/C)·w per kept row, and a_n (see the
                                 // doc comment).
                                 if (is_grad_enabled()) {
                                   // Second order: dx = g_n·(a_n·softmax(x_n) − b_n), composed ([N, C] throughout; a, g
                                   // as [N, 1]).
                                   auto b = tensor<T>::empty({rows, classes});
                                   for (index_t r = 0; r < rows; ++r) {
                                     T* br = b.data() + r * classes;
                                     const bool kept = t[r] != ignore;
                                     for (index_t c = 0; c < classes; ++c) br[c] = kept ? smooth * w[c] : T(0);
                                     if (kept) br[t[r]] += target_factor[r];
                                   }
                                   const auto a = from_vector<T>(softmax_factor, {rows, 1});
                                   const auto gn = reshape(g, {rows, 1});
                                   return std::vector<tensor<T>>{mul(gn, sub(mul(a, softmax(logits, -1)), b))};
                                 }
                                 // Fused: the kernel writes (p − onehot(t))·a_n·g_n; the target entry is then corrected
                                 // to −(1 − ε)·w_t·g_n and the smoothing term −(ε/C)·w·g_n subtracted.
                                 std::vector<T> f(static_cast<std::size_t>(rows));
                                 for (index_t r = 0; r < rows; ++r) f[r] = softmax_factor[r] * g.data()[r];
                                 cross_entropy_options<T> ko;
                                 ko.ignore_index = ignore;
                                 ko.grad_row_scale = f.data();
                                 auto dx = tensor<T>::empty(logits.shape());
                                 cross_entropy_rows(logits.data(), reinterpret_cast<const std::int64_t*>(t),
                                                    static_cast<T*>(nullptr), dx.data(), rows, classes, ko);
                                 for (index_t r = 0; r < rows; ++r) {
                                   if (t[r] == ignore) continue;
                                   const T gr = g.data()[r];
                                   T* d = dx.data() + r * classes;
                                   d[t[r]] += f[r] - target_factor[r] * gr;
                                   if (eps != T(0)) {
                                     const T s = smooth * gr;
                                     for (index_t c = 0; c < classes; ++c) d[c] -= s * w[c];
                                   }
                                 }
                                 return std::vector<tensor<T>>{dx};
                               };
                             });
}

template <class T>
tensor<T> softmax_cross_entropy(const tensor<T>& logits, const tensor<T>& target_probs,
                                const softmax_cross_entropy_options<T>& options) {
  const char* op = "softmax_cross_entropy";
  KEXUE_CHECK(logits.rank() == 2 && target_probs.shape() == logits.shape(), shape_error, op,
              "expected logits [N, C] and target probabilities of the same shape, got ", format_shape(logits.shape()),
              " and ", format_shape(target_probs.shape()));
  const index_t rows = logits.size(0), classes = logits.size(1);
  const std::vector<T> w = detail::cross_entropy_weights(options, classes);
  const T eps = options.label_smoothing();
  const T smooth = classes > 0 ? eps / static_cast<T>(classes) : T(0);
  // wq = w ⊙ q' [N, C], the effective target weights; s_n = Σ_c wq_{n,c}.
  auto wq = tensor<T>::empty(logits.shape());
  std::vector<T> s(static_cast<std::size_t>(rows));
  auto out = tensor<T>::empty({rows});
  logsumexp_rows(logits.data(), out.data(), rows, classes);
  for (index_t r = 0; r < rows; ++r) {
    const T* q = target_probs.data() + r * classes;
    const T* x = logits.data() + r * classes;
    T* v = wq.data() + r * classes;
    T total = T(0), dot = T(0);
    for (index_t c = 0; c < classes; ++c) {
      v[c] = w[c] * ((T(1) - eps) * q[c] + smooth);
      total += v[c];
      dot += v[c] * x[c];
    }
    s[r] = total;
    out.data()[r] = total * out.data()[r] - dot;  // Σ_c wq_c (lse − x_c)
  }
  return autograd::record<T>(op, std::move(out), {logits, target_probs}, [logits, target_probs, w, eps, wq, s](auto) {
    return [logits, target_probs, w, eps, wq, s](const tensor<T>& g) {
      const index_t rows = logits.size(0), classes = logits.size(1);
      tensor<T> dx, dq;
      const auto gn = reshape(g, {rows, 1});
      const auto wc = from_vector<T>(w, {1, classes});
      if (is_grad_enabled()) {
        // Composed (second order): dx = g·(s·softmax(x) − w ⊙ q'), dq = −g·(1 − ε)·w ⊙ log_softmax(x).
        const auto q_eff = add_scalar(mul_scalar(target_probs, T(1) - eps), eps / static_cast<T>(classes));
        const auto w_q = mul(wc, q_eff);
        if (logits.requires_grad()) dx = mul(gn, sub(mul(sum(w_q, {1}, true), softmax(logits, -1)), w_q));
        if (target_probs.requires_grad()) dq = mul(gn, mul_scalar(mul(wc, log_softmax(logits, -1)), -(T(1) - eps)));
        return std::vector<tensor<T>>{dx, dq};
      }
      if (logits.requires_grad()) {
        dx = tensor<T>::empty(logits.shape());
        softmax_rows(logits.data(), dx.data(), rows, classes);
        for (index_t r = 0; r < rows; ++r) {
          const T gr = g.data()[r], a = gr * s[r];
          T* d = dx.data() + r * classes;
          const T* v = wq.data() + r * classes;
          for (index_t c = 0; c < classes; ++c) d[c] = a * d[c] - gr * v[c];
        }
      }
      if (target_probs.requires_grad()) {
        dq = tensor<T>::empty(logits.shape());
        log_softmax_rows(logits.data(), dq.data(), rows, classes);
        for (index_t r = 0; r < rows; ++r) {
          const T f = -(T(1) - eps) * g.data()[r];
          T* d = dq.data() + r * classes;
          for (index_t c = 0; c < classes; ++c) d[c] *= f * w[c];
        }
      }
      return std::vector<tensor<T>>{dx, dq};
    };
  });
}

}  // namespace kexue
