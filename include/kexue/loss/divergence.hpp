// SPDX-License-Identifier: MIT
// Divergences: KL of diagonal Gaussians (to N(0, I) and between two), KL from log-probabilities, the VIB/VAE objective.
#pragma once

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

namespace kexue::loss {

// Each divergence sums over the last axis (the latent dimensions, or the classes of a distribution) to a
// per-sample value of shape `[...]` (the input shape without its last axis), then `reduce` applies the
// reduction: reduction::mean is the mean over samples, i.e. the sum over latent dims averaged over the batch
// as in the author's VIB code (spec A22, Appendix C 19), and PyTorch's kl_div(reduction='batchmean').
// All are compositions of differentiable ops: second order works.

/// Options of gaussian_kl_standard and gaussian_kl.
struct gaussian_kl_options {
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief KL(N(μ, diag e^logvar) ‖ N(0, I)) = ½ Σ_k (μ_k² + e^{logvar_k} − 1 − logvar_k), summed over the last
/// axis; e^v − 1 is computed as expm1(v), exact near logvar = 0. (The spec's −½Σ(1 + logvar − μ² − e^logvar).)
/// @param mu, logvar the same shape `[..., K]` (logvar = log σ²; no clamping: clamp it yourself if your encoder
/// can produce extreme values, exp overflows beyond ~709 in double, ~88 in float).
/// @return reduced; `[...]` for reduction::none.
/// Gradient: μ to mu, ½(e^logvar − 1) to logvar.
/// @throws shape_error "gaussian_kl_standard: mu shape [2, 3] differs from logvar shape [2, 4]",
/// "gaussian_kl_standard: expected mu and logvar of rank at least 1 (the last axis is summed over), got shape []".
template <class T>
tensor<T> gaussian_kl_standard(const tensor<T>& mu, const tensor<T>& logvar, const gaussian_kl_options& options = {},
                               const weighting_arg<T>& weights = {});

/// @brief KL(N(μ_q, diag e^{lv_q}) ‖ N(μ_p, diag e^{lv_p})) summed over the last axis:
/// ½ Σ_k [ e^{r_k} − 1 − r_k + (μ_q − μ_p)_k² e^{−lv_p,k} ] with r = lv_q − lv_p (expm1 again), the closed form
/// of torch.distributions.kl_divergence between Normals, summed over the last axis.
/// @param mu_q, logvar_q, mu_p, logvar_p the same shape `[..., K]`.
/// @return reduced; `[...]` for reduction::none. Gradient: to all four.
/// @throws shape_error "gaussian_kl: mu_q [2, 3], logvar_q [2, 3], mu_p [2, 3] and logvar_p [3] must have one
/// shape of rank at least 1".
template <class T>
tensor<T> gaussian_kl(const tensor<T>& mu_q, const tensor<T>& logvar_q, const tensor<T>& mu_p,
                      const tensor<T>& logvar_p, const gaussian_kl_options& options = {},
                      const weighting_arg<T>& weights = {});

/// Options of kl_div.
struct kl_div_options {
  /// The target holds log-probabilities instead of probabilities. Default false.
  KEXUE_LOSS_ARG(bool, log_target, false);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief KL(target ‖ exp(input)) from log-probabilities, PyTorch's kl_div summed over the last axis:
/// Σ_c t_c (log t_c − x_c), with 0·log 0 = 0 (a zero target contributes nothing, not NaN); with log_target,
/// Σ_c e^{t_c} (t_c − x_c). reduction::mean is then PyTorch's reduction='batchmean' (the true KL per sample),
/// not its element mean.
/// @param input `[..., C]` log-probabilities (e.g. log_softmax); @param target the same shape.
/// @return reduced; `[...]` for reduction::none.
/// Gradient: −t to input (−e^t with log_target); log t + 1 − x to target (e^t(t − x + 1) with log_target).
/// @throws shape_error "kl_div: input shape [2, 3] differs from target shape [2, 4]"; rank 0 as
/// gaussian_kl_standard.
template <class T>
tensor<T> kl_div(const tensor<T>& input, const tensor<T>& target, const kl_div_options& options = {},
                 const weighting_arg<T>& weights = {});

/// @brief The reparameterised Gaussian sample z = μ + e^{logvar/2} ⊙ ε with ε ~ N(0, I) drawn from `gen`
/// (spec A22). Use it in training only; at inference the VIB layer outputs μ itself.
/// @param mu, logvar the same shape `[...]`. @return `[...]`.
/// Gradient: g to mu, ½ g ⊙ e^{logvar/2} ⊙ ε to logvar (ε is a constant of the graph).
/// @throws shape_error "reparameterize: mu shape [2, 3] differs from logvar shape [2, 4]".
template <class T>
tensor<T> reparameterize(const tensor<T>& mu, const tensor<T>& logvar, generator& gen);

/// Options of vib.
struct vib_options {
  /// The weight λ of the KL term. Default 1: the VAE's negative ELBO; the author's VIB demo uses 0.1.
  KEXUE_LOSS_ARG(double, kl_weight, 1.0);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief The VIB / VAE objective of spec A22: per sample, nll + λ·KL(N(μ, e^logvar) ‖ N(0, I)), where nll is
/// the sample's −log p(y|z) (VIB: a classifier's loss with reduction::none; VAE: the reconstruction loss summed
/// over the sample's elements) for z = reparameterize(mu, logvar, gen).
/// @param nll `[...]` per-sample negative log-likelihoods; @param mu, logvar `[..., K]`.
/// @return reduced; `[...]` for reduction::none. Gradient: to nll (hence the decoder), mu and logvar.
/// @throws shape_error "vib: nll shape [3] differs from the per-sample shape [4] of mu [4, 8]"; value_error
/// "vib: kl_weight must be non-negative (got -1)"; the errors of gaussian_kl_standard.
template <class T>
tensor<T> vib(const tensor<T>& nll, const tensor<T>& mu, const tensor<T>& logvar, const vib_options& options = {},
              const weighting_arg<T>& weights = {});

// ~~~ Implementation ~~~

namespace detail {
/// `[..., K]` → `[...]`.
inline shape without_last_axis(const shape& s) {
  shape out;
  for (int i = 0; i + 1 < s.rank(); ++i) out.push_back(s[i]);
  return out;
}

/// Throws unless a and b have one shape, of rank at least 1 (the axis summed over).
template <class T>
void check_same_shape_with_axis(const tensor<T>& a, const tensor<T>& b, const char* a_name, const char* b_name,
                                const char* op) {
  KEXUE_CHECK(a.shape() == b.shape(), shape_error, op, a_name, " shape ", format_shape(a.shape()), " differs from ",
              b_name, " shape ", format_shape(b.shape()));
  KEXUE_CHECK(a.rank() >= 1, shape_error, op, "expected ", a_name, " and ", b_name,
              " of rank at least 1 (the last axis is summed over), got shape []");
}

/// KL per sample to N(0, I), shapes already checked.
template <class T>
tensor<T> gaussian_kl_standard_per_sample(const tensor<T>& mu, const tensor<T>& logvar) {
  const tensor<T> terms = add(square(mu), sub(expm1(logvar), logvar));
  return mul_scalar(sum(terms, {-1}), T(0.5));
}
}  // namespace detail

template <class T>
tensor<T> gaussian_kl_standard(const tensor<T>& mu, const tensor<T>& logvar, const gaussian_kl_options& options,
                               const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "gaussian_kl_standard: inputs must be float or double tensors");
  detail::check_same_shape_with_axis(mu, logvar, "mu", "logvar", "gaussian_kl_standard");
  return reduce(detail::gaussian_kl_standard_per_sample(mu, logvar), options.reduction(), weights,
                "gaussian_kl_standard");
}

template <class T>
tensor<T> gaussian_kl(const tensor<T>& mu_q, const tensor<T>& logvar_q, const tensor<T>& mu_p,
                      const tensor<T>& logvar_p, const gaussian_kl_options& options, const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "gaussian_kl: inputs must be float or double tensors");
  const shape& s = mu_q.shape();
  KEXUE_CHECK(s.rank() >= 1 && logvar_q.shape() == s && mu_p.shape() == s && logvar_p.shape() == s, shape_error,
              "gaussian_kl", "mu_q ", format_shape(s), ", logvar_q ", format_shape(logvar_q.shape()), ", mu_p ",
              format_shape(mu_p.shape()), " and logvar_p ", format_shape(logvar_p.shape()),
              " must have one shape of rank at least 1");
  const tensor<T> r = sub(logvar_q, logvar_p);
  const tensor<T> mean_term = mul(square(sub(mu_q, mu_p)), exp(neg(logvar_p)));
  const tensor<T> per = mul_scalar(sum(add(sub(expm1(r), r), mean_term), {-1}), T(0.5));
  return reduce(per, options.reduction(), weights, "gaussian_kl");
}

template <class T>
tensor<T> kl_div(const tensor<T>& input, const tensor<T>& target, const kl_div_options& options,
                 const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "kl_div: inputs must be float or double tensors");
  detail::check_same_shape_with_axis(input, target, "input", "target", "kl_div");
  tensor<T> terms;
  if (options.log_target()) {
    terms = mul(exp(target), sub(target, input));
  } else {
    // t·(log t − x) with log 1 = 0 substituted at t = 0, so 0·log 0 is 0 in value and gradient; a negative
    // target still gives NaN (log of a negative number), as it should.
    const tensor<T> safe = where(equal(target, T(0)), T(1), target);
    terms = mul(target, sub(log(safe), input));
  }
  return reduce(sum(terms, {-1}), options.reduction(), weights, "kl_div");
}

template <class T>
tensor<T> reparameterize(const tensor<T>& mu, const tensor<T>& logvar, generator& gen) {
  static_assert(tensor<T>::is_differentiable, "reparameterize: inputs must be float or double tensors");
  KEXUE_CHECK(mu.shape() == logvar.shape(), shape_error, "reparameterize", "mu shape ", format_shape(mu.shape()),
              " differs from logvar shape ", format_shape(logvar.shape()));
  const tensor<T> eps = randn<T>(mu.shape(), gen);
  return add(mu, mul(exp(mul_scalar(logvar, T(0.5))), eps));
}

template <class T>
tensor<T> vib(const tensor<T>& nll, const tensor<T>& mu, const tensor<T>& logvar, const vib_options& options,
              const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "vib: inputs must be float or double tensors");
  detail::check_same_shape_with_axis(mu, logvar, "mu", "logvar", "vib");
  const shape per_sample = detail::without_last_axis(mu.shape());
  KEXUE_CHECK(nll.shape() == per_sample, shape_error, "vib", "nll shape ", format_shape(nll.shape()),
              " differs from the per-sample shape ", format_shape(per_sample), " of mu ", format_shape(mu.shape()));
  KEXUE_CHECK(options.kl_weight() >= 0, value_error, "vib", "kl_weight must be non-negative (got ", options.kl_weight(),
              ")");
  const tensor<T> kl = detail::gaussian_kl_standard_per_sample(mu, logvar);
  const tensor<T> per = add(nll, mul_scalar(kl, static_cast<T>(options.kl_weight())));
  return reduce(per, options.reduction(), weights, "vib");
}

}  // namespace kexue::loss
