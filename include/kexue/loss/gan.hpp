// SPDX-License-Identifier: MIT
// GAN losses: WGAN critic/generator (author's sign), gradient penalties (double backprop), single-loss GAN, IMLE, GLO.
#pragma once

#include <cmath>       // std::sqrt
#include <functional>  // critics and feature extractors as std::function
#include <limits>      // the running minimum of the nearest-neighbour search
#include <vector>

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/normalize.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/stop_gradient.hpp>

namespace kexue::loss {

/// A critic (discriminator) D as a function of a batch: `[B, ...]` → `[B]` or `[B, 1]`, one score per
/// sample, each depending on its own sample only (no batch norm: the gradient penalty differentiates each
/// score w.r.t. its own input). Its parameters are whatever tensors the function captures; every op it uses
/// must support second order for the gradient penalty (all of kexue's differentiable ops do).
template <class T>
using critic_fn = std::function<tensor<T>(const tensor<T>&)>;

// ~~~ WGAN ~~~

/// Which way the critic's scores point.
enum class critic_sign {
  low_on_real,   ///< the author's convention (spec A11, A18): D is low on real samples, high on fakes
  high_on_real,  ///< Arjovsky/Gulrajani et al.: D is high on real samples
};

/// Options of wgan_critic and wgan_generator.
struct wgan_options {
  /// The sign convention of the scores. Default critic_sign::low_on_real (the author's).
  KEXUE_LOSS_ARG(::kexue::loss::critic_sign, sign, ::kexue::loss::critic_sign::low_on_real);
};

/// @brief The WGAN critic loss (before any penalty): mean D(real) − mean D(fake) with the author's sign
/// (minimised, it pushes D down on real and up on fakes; its value tracks sample quality, smaller = better),
/// mean D(fake) − mean D(real) with critic_sign::high_on_real.
/// @param d_real `[B_real, ...]`, d_fake `[B_fake, ...]` critic scores (batch sizes may differ).
/// @return a scalar. Gradient: ±1/numel to each score.
/// @throws shape_error "wgan_critic: d_real is empty (shape [0])" (likewise d_fake).
template <class T>
tensor<T> wgan_critic(const tensor<T>& d_real, const tensor<T>& d_fake, const wgan_options& options = {});

/// @brief The WGAN generator loss: mean D(fake) with the author's sign, −mean D(fake) with high_on_real.
/// @param d_fake `[B, ...]` critic scores of generated samples (with the graph to the generator).
/// @return a scalar. @throws shape_error "wgan_generator: d_fake is empty (shape [0])".
template <class T>
tensor<T> wgan_generator(const tensor<T>& d_fake, const wgan_options& options = {});

// ~~~ Gradient penalty ~~~

/// The form of a Lipschitz penalty on a gradient norm n (spec A11, Appendix C 5).
enum class penalty_kind {
  one_sided,  ///< relu(n − 1): the author's (gradient-equivalent to his max(n, 1)); 0 while n ≤ 1
  two_sided,  ///< (n − 1)²: Gulrajani et al.'s WGAN-GP
};

/// Options of gradient_penalty and finite_difference_penalty.
struct gradient_penalty_options {
  /// The weight λ multiplying the penalty. Default 10.
  KEXUE_LOSS_ARG(double, weight, 10.0);
  /// one_sided (default, the author's) or two_sided.
  KEXUE_LOSS_ARG(::kexue::loss::penalty_kind, kind, ::kexue::loss::penalty_kind::one_sided);
  /// ε in n = √(Σ g² + ε): keeps the norm's gradient finite at g = 0 (spec A11 (c)). Default 1e-12.
  KEXUE_LOSS_ARG(double, norm_eps, 1e-12);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Random points on the segments between real and fake samples, ŷ_i = ε_i·fake_i + (1 − ε_i)·real_i with
/// one ε_i ~ U[0, 1) per sample drawn from `gen` (spec A11).
/// @param real, fake the same shape `[B, ...]`. @return `[B, ...]`, detached: real and fake are constants here,
/// so the penalty trains the critic only (as in WGAN-GP).
/// @throws shape_error "random_interpolates: real shape [4, 2] differs from fake shape [3, 2]" (also rank 0).
template <class T>
tensor<T> random_interpolates(const tensor<T>& real, const tensor<T>& fake, generator& gen);

/// @brief The gradient penalty λ·reduce(p(‖∇_x D(x_i)‖)) at `points`, p = relu(n − 1) (one_sided) or (n − 1)²
/// (two_sided), n = √(Σ g² + norm_eps) over all of a sample's input dimensions.
/// ∇_x D is computed with kexue::grad(create_graph = true), so the penalty is differentiable w.r.t. the
/// critic's parameters (double backprop), and w.r.t. `points` too when they require a gradient (otherwise a
/// leaf copy is differentiated). Under a no_grad_guard the value is computed without a graph.
/// @param critic see critic_fn; @param points `[B, ...]` (usually random_interpolates(real, fake, gen)).
/// @return reduced; `[B]` for reduction::none.
/// @throws shape_error "gradient_penalty: points must have a batch axis (got shape [])", "gradient_penalty: the
/// critic's output shape [4, 2] is not one value per sample (expected [4] or [4, 1])"; value_error
/// "gradient_penalty: weight must be non-negative (got -1)".
template <class T>
tensor<T> gradient_penalty(const kexue::detail::non_deduced_t<critic_fn<T>>& critic, const tensor<T>& points,
                           const gradient_penalty_options& options = {}, const weighting_arg<T>& weights = {});

/// @brief gradient_penalty(critic, random_interpolates(real, fake, gen), options, weights).
template <class T>
tensor<T> gradient_penalty(const kexue::detail::non_deduced_t<critic_fn<T>>& critic, const tensor<T>& real,
                           const tensor<T>& fake, generator& gen, const gradient_penalty_options& options = {},
                           const weighting_arg<T>& weights = {});

/// @brief The finite-difference Lipschitz penalty of spec A11, needing only first-order autodiff: for each
/// pair, two interpolates y₁, y₂ with fresh ε each (random_interpolates twice) and
/// r_i = |D(y₁) − D(y₂)| / √(‖y₁ − y₂‖² + norm_eps), then λ·reduce(p(r_i)) with p as in gradient_penalty.
/// @param real, fake `[B, ...]`. @return reduced; `[B]` for reduction::none. Gradient: to the critic's parameters.
/// @throws as random_interpolates and gradient_penalty.
template <class T>
tensor<T> finite_difference_penalty(const kexue::detail::non_deduced_t<critic_fn<T>>& critic, const tensor<T>& real,
                                    const tensor<T>& fake, generator& gen, const gradient_penalty_options& options = {},
                                    const weighting_arg<T>& weights = {});

// ~~~ Single-loss GAN (spec A18) ~~~

/// The adversarial objective of single_loss_gan (both in the author's sign: D low on real).
enum class gan_objective {
  hinge,        ///< D: E max(0, 1 + D(real)) + E max(0, 1 − D(fake)); G: E D(fake)
  wasserstein,  ///< D: E D(real) − E D(fake) (add a penalty yourself); G: E D(fake)
};

/// Options of single_loss_gan.
struct single_loss_gan_options {
  /// λ, the generator's share: with plain SGD it acts as the learning-rate ratio D : G = 1 : λ. Default 1.
  KEXUE_LOSS_ARG(double, generator_weight, 1.0);
  /// hinge (default, the article's) or wasserstein.
  KEXUE_LOSS_ARG(::kexue::loss::gan_objective, objective, ::kexue::loss::gan_objective::hinge);
  /// Evaluate the critic once on the fake batch (spec A18 (c), for critics with dropout or batch norm): see
  /// single_loss_gan. Default false (the article's construction, three critic evaluations).
  KEXUE_LOSS_ARG(bool, single_forward, false);
};

/// @brief One scalar whose gradient trains both networks in one step (spec A18): with G_ng = sg[fake],
///   L = D_loss(D(real), D(G_ng)) + λ·(mean D(fake) − mean D(G_ng)).
/// The last term is 0 in value (bit for bit: both means are computed from equal numbers), but its gradient
/// is λ∇_G mean D(G(z)) for the generator and exactly 0 for the critic. So ∇_D L = ∇_D D_loss and
/// ∇_G L = λ ∇_G G_loss, and the value of L is D_loss (the tracked critic loss).
/// By default the critic is evaluated three times (real, sg[fake], fake): it must then be deterministic between
/// the calls (same dropout mask, batch norm in eval mode or absent), otherwise the critic's gradients do not
/// cancel. With single_forward(true) it is evaluated once on real and once on the fake batch x = sg[fake]; the
/// generator's term becomes λ·Σ v ⊙ (fake − sg[fake]) with v = ∂ mean D(x)/∂x taken from that same forward
/// (kexue::grad, a constant): again 0 in value, λ∇_G mean D(G(z)) for the generator, nothing for the critic,
/// whatever randomness the critic's forward used. It costs one backward pass of D to its input instead of a
/// third forward; the generator's part is first-order only (v carries no graph).
/// @param critic see critic_fn; @param real `[B, ...]`; @param fake `[B', ...]` = G(z) with its graph.
/// @return a scalar. @throws value_error "single_loss_gan: generator_weight must be non-negative (got -1)";
/// the critic's own errors.
template <class T>
tensor<T> single_loss_gan(const kexue::detail::non_deduced_t<critic_fn<T>>& critic, const tensor<T>& real,
                          const tensor<T>& fake, const single_loss_gan_options& options = {});

// ~~~ IMLE and GLO (spec A19) ~~~

/// @brief For each query q_i, the squared distance to its nearest candidate: min_j ‖q_i − c_j‖² over all of a
/// sample's dimensions. The nearest index is searched with one matmul (‖q‖² + ‖c‖² − 2q·c; exact ties go to the
/// lowest j, candidates closer than that form's rounding may be swapped), then the distance to it is recomputed
/// exactly from differences with differentiable ops.
/// @param queries `[M, ...]`, candidates `[N, ...]` with the same shape after the batch axis, N ≥ 1.
/// @return `[M]`. Gradient: 2(q_i − c_j*) to q_i, and its negative to the nearest candidate c_j* only (the
/// subgradient of min); second order works.
/// @throws shape_error "nearest_squared_distance: queries [4, 3] and candidates [5, 2] must have the same
/// shape after the batch axis", "nearest_squared_distance: no candidates (shape [0, 3])".
template <class T>
tensor<T> nearest_squared_distance(const tensor<T>& queries, const tensor<T>& candidates);

/// Options of imle.
struct imle_options {
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief IMLE (spec A19): every real sample pulls its nearest generated sample,
/// per real sample min_j ‖x_i − G(z_j)‖² (the σ → 0 limit of Gaussian-smoothed maximum likelihood).
/// @param real `[M, ...]`, fake `[N, ...]` = G(z). @return reduced; `[M]` for reduction::none.
/// Gradient: to the nearest fake of each real sample (and to real, should it require one).
/// @throws as nearest_squared_distance (with op name "imle").
template <class T>
tensor<T> imle(const tensor<T>& real, const tensor<T>& fake, const imle_options& options = {},
               const weighting_arg<T>& weights = {});

/// Options of imle_repulsive.
struct imle_repulsive_options {
  /// A margin m > 0 bounds the repulsion: relu(m − min ‖·‖²) instead of −min ‖·‖². Default 0 (unbounded).
  KEXUE_LOSS_ARG(double, margin, 0.0);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief The author's IMLE extension from KL(q‖p) (spec A19, with the sign of its description): per generated
/// sample f_i, min_j ‖f_i − x_j‖² − min_j′ ‖f_i − f′_j′‖² (pull towards the nearest real sample, push away
/// from the nearest sample of an independent fake batch), or with a margin
/// min_j ‖f_i − x_j‖² + relu(m − min_j′ ‖f_i − f′_j′‖²).
/// @param fake `[N, ...]`, real `[M, ...]`, fake2 `[K, ...]` (a second, independent generated batch).
/// @return reduced; `[N]` for reduction::none. Gradient: to fake, fake2 (their nearest rows) and real.
/// @throws as nearest_squared_distance; value_error "imle_repulsive: margin must be non-negative (got -1)".
template <class T>
tensor<T> imle_repulsive(const tensor<T>& fake, const tensor<T>& real, const tensor<T>& fake2,
                         const imle_repulsive_options& options = {}, const weighting_arg<T>& weights = {});

/// Feature maps of a batch for a perceptual distance: each `[B, ...]` (e.g. activations of a fixed network).
template <class T>
using feature_fn = std::function<std::vector<tensor<T>>(const tensor<T>&)>;

/// Options of glo.
struct glo_options {
  /// Weight of the pixel-space squared distance. Default 1 (0 with `features`: a purely perceptual loss).
  KEXUE_LOSS_ARG(double, pixel_weight, 1.0);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief The GLO reconstruction loss (spec A19): per sample pixel_weight·‖x_i − G(ẑ_i)‖² + Σ_l ‖φ_l(x_i) −
/// φ_l(G(ẑ_i))‖², the sums running over all of a sample's dimensions, φ_l the maps returned by `features`
/// (none by default). Keep the codes on the unit sphere with glo_codes (in the forward pass) or
/// project_rows_to_unit_sphere (after each optimizer step).
/// @param target `[B, ...]`, reconstruction the same shape. @return reduced; `[B]` for reduction::none.
/// @throws shape_error "glo: target shape [2, 3] differs from reconstruction shape [2, 4]", "glo: feature 1
/// has shape [3, 5] for the target and [3, 4] for the reconstruction, or no batch axis of size 3".
template <class T>
tensor<T> glo(const tensor<T>& target, const tensor<T>& reconstruction, const glo_options& options = {},
              const weighting_arg<T>& weights = {}, const kexue::detail::non_deduced_t<feature_fn<T>>& features = {});

/// @brief GLO's constrained latent codes ẑ = z/‖z‖ per row (l2_normalize over the last axis): codes `[M, K]` →
/// `[M, K]` with unit rows, differentiable (the gradient is projected onto each row's tangent space).
template <class T>
tensor<T> glo_codes(const tensor<T>& codes);

/// @brief Divides each row (last axis) of `codes` by its norm, in place and outside the graph: the projection
/// back to the unit sphere after an optimizer step (spec A19 (c), also A21's retraction). Zero rows stay zero.
/// Bumps the tensor's version. @throws shape_error "project_rows_to_unit_sphere: expected rank at least 1 (got
/// shape [])".
template <class T>
void project_rows_to_unit_sphere(const tensor<T>& codes);

// ~~~ Implementation ~~~

namespace detail {
/// Throws unless t holds at least one element.
template <class T>
void check_nonempty(const tensor<T>& t, const char* name, const char* op) {
  KEXUE_CHECK(t.numel() > 0, shape_error, op, name, " is empty (shape ", format_shape(t.shape()), ")");
}

/// Σ over every axis but the first: `[B, ...]` → `[B]` (rank 1 stays as it is).
template <class T>
tensor<T> sum_per_sample(const tensor<T>& x) {
  if (x.rank() == 1) return x;
  axes_t axes;
  for (int a = 1; a < x.rank(); ++a) axes.push_back(a);
  return sum(x, axes);
}

/// relu(n − 1) or (n − 1)², times λ.
template <class T>
tensor<T> lipschitz_penalty(const tensor<T>& n, const gradient_penalty_options& options) {
  const tensor<T> excess = add_scalar(n, T(-1));
  const tensor<T> p = options.kind() == penalty_kind::one_sided ? relu(excess) : square(excess);
  return mul_scalar(p, static_cast<T>(options.weight()));
}

/// The critic's scores as `[B]`, after checking they are one per sample.
template <class T>
tensor<T> scores_per_sample(const tensor<T>& d, index_t batch, const char* op) {
  const bool ok = (d.rank() == 1 && d.size(0) == batch) || (d.rank() == 2 && d.size(0) == batch && d.size(1) == 1);
  KEXUE_CHECK(ok, shape_error, op, "the critic's output shape ", format_shape(d.shape()),
              " is not one value per sample (expected [", batch, "] or [", batch, ", 1])");
  return d.rank() == 1 ? d : reshape(d, {batch});
}

/// Throws unless a and b are batches of samples of the same shape.
inline void check_same_sample_shape(const shape& a, const shape& b, const char* a_name, const char* b_name,
                                    const char* op) {
  bool ok = a.rank() >= 1 && a.rank() == b.rank();
  for (int i = 1; ok && i < a.rank(); ++i) ok = a[i] == b[i];
  KEXUE_CHECK(ok, shape_error, op, a_name, " ", format_shape(a), " and ", b_name, " ", format_shape(b),
              " must have the same shape after the batch axis");
}

/// nearest_squared_distance with the error messages of `op`.
template <class T>
tensor<T> nearest_squared_distance(const tensor<T>& queries, const tensor<T>& candidates, const char* q_name,
                                   const char* c_name, const char* op) {
  static_assert(tensor<T>::is_differentiable, "nearest_squared_distance: inputs must be float or double tensors");
  check_same_sample_shape(queries.shape(), candidates.shape(), q_name, c_name, op);
  const index_t m = queries.size(0);
  const index_t n = candidates.size(0);
  KEXUE_CHECK(n > 0, shape_error, op, "no ", c_name, " (shape ", format_shape(candidates.shape()), ")");
  const index_t dim = m == 0 ? 0 : queries.numel() / m;
  // The nearest candidate of each query from the GEMM form ‖q‖² + ‖c‖² − 2 q·c (one matmul: the search is
  // M·N·dim work); only the choice comes from it, the returned distance is recomputed exactly below.
  auto nearest = tensor<index_t>::empty({m});
  if (m > 0) {
    no_grad_guard search;
    const tensor<T> q = reshape(queries.detach(), {m, dim});
    const tensor<T> c = reshape(candidates.detach(), {n, dim});
    const tensor<T> qc = matmul(q, c, false, true);  // [M, N]
    const tensor<T> qn = sum(square(q), {1});        // [M]
    const tensor<T> cn = sum(square(c), {1});        // [N]
    for (index_t i = 0; i < m; ++i) {
      index_t best = 0;
      T best_d = std::numeric_limits<T>::infinity();
      for (index_t j = 0; j < n; ++j) {
        const T d = qn.data()[i] + cn.data()[j] - T(2) * qc.data()[i * n + j];
        if (d < best_d) best_d = d, best = j;  // NaN never wins; all-NaN rows keep j = 0 (and give NaN below)
      }
      nearest.data()[i] = best;
    }
  }
  return sum_per_sample(square(sub(queries, index_select(candidates, 0, nearest))));
}
}  // namespace detail

template <class T>
tensor<T> wgan_critic(const tensor<T>& d_real, const tensor<T>& d_fake, const wgan_options& options) {
  detail::check_nonempty(d_real, "d_real", "wgan_critic");
  detail::check_nonempty(d_fake, "d_fake", "wgan_critic");
  const tensor<T> low_on_real = sub(mean(d_real), mean(d_fake));
  return options.sign() == critic_sign::low_on_real ? low_on_real : neg(low_on_real);
}

template <class T>
tensor<T> wgan_generator(const tensor<T>& d_fake, const wgan_options& options) {
  detail::check_nonempty(d_fake, "d_fake", "wgan_generator");
  const tensor<T> m = mean(d_fake);
  return options.sign() == critic_sign::low_on_real ? m : neg(m);
}

template <class T>
tensor<T> random_interpolates(const tensor<T>& real, const tensor<T>& fake, generator& gen) {
  static_assert(tensor<T>::is_differentiable, "random_interpolates: inputs must be float or double tensors");
  KEXUE_CHECK(real.shape() == fake.shape() && real.rank() >= 1, shape_error, "random_interpolates", "real shape ",
              format_shape(real.shape()), " differs from fake shape ", format_shape(fake.shape()),
              real.rank() == 0 ? " or has no batch axis" : "");
  shape per_sample{real.size(0)};
  for (int a = 1; a < real.rank(); ++a) per_sample.push_back(1);
  const tensor<T> eps = rand<T>(per_sample, gen);  // [B, 1, ..., 1], U[0, 1)
  no_grad_guard constant;
  const tensor<T> r = real.detach();
  return add(r, mul(eps, sub(fake.detach(), r)));  // ε·fake + (1 − ε)·real
}

template <class T>
tensor<T> gradient_penalty(const kexue::detail::non_deduced_t<critic_fn<T>>& critic, const tensor<T>& points,
                           const gradient_penalty_options& options, const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "gradient_penalty: points must be a float or double tensor");
  KEXUE_CHECK(points.rank() >= 1, shape_error, "gradient_penalty", "points must have a batch axis (got shape ",
              format_shape(points.shape()), ")");
  KEXUE_CHECK(options.weight() >= 0, value_error, "gradient_penalty", "weight must be non-negative (got ",
              options.weight(), ")");
  const bool build = is_grad_enabled();  // build the double-backprop graph unless under no_grad
  tensor<T> x = points;
  if (!x.requires_grad()) {
    x = points.detach();
    x.requires_grad(true);
  }
  tensor<T> g;
  {
    enable_grad_guard record;  // ∇_x D needs D's graph even under no_grad
    const tensor<T> d = detail::scores_per_sample(critic(x), points.size(0), "gradient_penalty");
    // retain_graph: the returned gradient's graph reuses D's forward nodes, and points' own history must survive.
    g = grad<T>({sum(d)}, {x}, grad_options().create_graph(build).retain_graph(true).allow_unused(true))[0];
  }
  if (!g.defined()) g = zeros<T>(points.shape());  // D does not depend on its input: ∇ = 0
  const tensor<T> n = sqrt(add_scalar(detail::sum_per_sample(square(g)), static_cast<T>(options.norm_eps())));
  return reduce(detail::lipschitz_penalty(n, options), options.reduction(), weights, "gradient_penalty");
}

template <class T>
tensor<T> gradient_penalty(const kexue::detail::non_deduced_t<critic_fn<T>>& critic, const tensor<T>& real,
                           const tensor<T>& fake, generator& gen, const gradient_penalty_options& options,
                           const weighting_arg<T>& weights) {
  return gradient_penalty<T>(critic, random_interpolates(real, fake, gen), options, weights);
}

template <class T>
tensor<T> finite_difference_penalty(const kexue::detail::non_deduced_t<critic_fn<T>>& critic, const tensor<T>& real,
                                    const tensor<T>& fake, generator& gen, const gradient_penalty_options& options,
                                    const weighting_arg<T>& weights) {
  KEXUE_CHECK(options.weight() >= 0, value_error, "finite_difference_penalty", "weight must be non-negative (got ",
              options.weight(), ")");
  const tensor<T> y1 = random_interpolates(real, fake, gen);
  const tensor<T> y2 = random_interpolates(real, fake, gen);
  const index_t batch = real.size(0);
  const tensor<T> d1 = detail::scores_per_sample(critic(y1), batch, "finite_difference_penalty");
  const tensor<T> d2 = detail::scores_per_sample(critic(y2), batch, "finite_difference_penalty");
  const tensor<T> distance =
      sqrt(add_scalar(detail::sum_per_sample(square(sub(y1, y2))), static_cast<T>(options.norm_eps())));
  const tensor<T> ratio = div(abs(sub(d1, d2)), distance);
  return reduce(detail::lipschitz_penalty(ratio, options), options.reduction(), weights, "finite_difference_penalty");
}

template <class T>
tensor<T> single_loss_gan(const kexue::detail::non_deduced_t<critic_fn<T>>& critic, const tensor<T>& real,
                          const tensor<T>& fake, const single_loss_gan_options& options) {
  static_assert(tensor<T>::is_differentiable, "single_loss_gan: inputs must be float or double tensors");
  KEXUE_CHECK(options.generator_weight() >= 0, value_error, "single_loss_gan",
              "generator_weight must be non-negative (got ", options.generator_weight(), ")");
  detail::check_nonempty(real, "real", "single_loss_gan");
  detail::check_nonempty(fake, "fake", "single_loss_gan");
  const tensor<T> d_real = critic(real);
  tensor<T> x = stop_gradient(fake);
  if (options.single_forward() && is_grad_enabled()) x.requires_grad(true);  // a private leaf: v = ∂ mean D/∂x
  const tensor<T> d_fake_ng = critic(x);                                     // the critic's gradient only
  tensor<T> d_loss;
  if (options.objective() == gan_objective::hinge) {
    d_loss = add(mean(relu(add_scalar(d_real, T(1)))), mean(relu(add_scalar(neg(d_fake_ng), T(1)))));
  } else {
    d_loss = sub(mean(d_real), mean(d_fake_ng));
  }
  const T lambda = static_cast<T>(options.generator_weight());
  if (!options.single_forward()) {
    const tensor<T> d_fake = critic(fake);  // the generator's gradient (and one cancelling d_fake_ng's)
    const tensor<T> routed = sub(mean(d_fake), mean(d_fake_ng));  // exactly 0
    return add(d_loss, mul_scalar(routed, lambda));
  }
  if (!x.requires_grad()) return d_loss;  // no graph: the routed term is 0 and has nothing to route
  const tensor<T> v = grad<T>({mean(d_fake_ng)}, {x}, grad_options().retain_graph(true).allow_unused(true))[0];
  if (!v.defined()) return d_loss;                                       // D ignores its input: no gradient for G
  const tensor<T> routed = sum(mul(v, sub(fake, stop_gradient(fake))));  // exactly 0; gradient v to fake
  return add(d_loss, mul_scalar(routed, lambda));
}

template <class T>
tensor<T> nearest_squared_distance(const tensor<T>& queries, const tensor<T>& candidates) {
  return detail::nearest_squared_distance(queries, candidates, "queries", "candidates", "nearest_squared_distance");
}

template <class T>
tensor<T> imle(const tensor<T>& real, const tensor<T>& fake, const imle_options& options,
               const weighting_arg<T>& weights) {
  return reduce(detail::nearest_squared_distance(real, fake, "real", "fake", "imle"), options.reduction(), weights,
                "imle");
}

template <class T>
tensor<T> imle_repulsive(const tensor<T>& fake, const tensor<T>& real, const tensor<T>& fake2,
                         const imle_repulsive_options& options, const weighting_arg<T>& weights) {
  KEXUE_CHECK(options.margin() >= 0, value_error, "imle_repulsive", "margin must be non-negative (got ",
              options.margin(), ")");
  const tensor<T> pull = detail::nearest_squared_distance(fake, real, "fake", "real", "imle_repulsive");
  const tensor<T> apart = detail::nearest_squared_distance(fake, fake2, "fake", "fake2", "imle_repulsive");
  const tensor<T> push =
      options.margin() > 0 ? relu(add_scalar(neg(apart), static_cast<T>(options.margin()))) : neg(apart);
  return reduce(add(pull, push), options.reduction(), weights, "imle_repulsive");
}

template <class T>
tensor<T> glo(const tensor<T>& target, const tensor<T>& reconstruction, const glo_options& options,
              const weighting_arg<T>& weights, const kexue::detail::non_deduced_t<feature_fn<T>>& features) {
  static_assert(tensor<T>::is_differentiable, "glo: inputs must be float or double tensors");
  KEXUE_CHECK(target.shape() == reconstruction.shape() && target.rank() >= 1, shape_error, "glo", "target shape ",
              format_shape(target.shape()), " differs from reconstruction shape ", format_shape(reconstruction.shape()),
              target.rank() == 0 ? " or has no batch axis" : "");
  const index_t batch = target.size(0);
  tensor<T> per =
      mul_scalar(detail::sum_per_sample(square(sub(target, reconstruction))), static_cast<T>(options.pixel_weight()));
  if (features) {
    const auto ft = features(target);
    const auto fr = features(reconstruction);
    KEXUE_CHECK(ft.size() == fr.size(), shape_error, "glo", "the feature function returned ", ft.size(),
                " maps for the target and ", fr.size(), " for the reconstruction");
    for (std::size_t l = 0; l < ft.size(); ++l) {
      KEXUE_CHECK(ft[l].shape() == fr[l].shape() && ft[l].rank() >= 1 && ft[l].size(0) == batch, shape_error, "glo",
                  "feature ", l, " has shape ", format_shape(ft[l].shape()), " for the target and ",
                  format_shape(fr[l].shape()), " for the reconstruction, or no batch axis of size ", batch);
      per = add(per, detail::sum_per_sample(square(sub(ft[l], fr[l]))));
    }
  }
  return reduce(per, options.reduction(), weights, "glo");
}

template <class T>
tensor<T> glo_codes(const tensor<T>& codes) {
  return l2_normalize(codes, -1);
}

template <class T>
void project_rows_to_unit_sphere(const tensor<T>& codes) {
  KEXUE_CHECK(codes.rank() >= 1, shape_error, "project_rows_to_unit_sphere", "expected rank at least 1 (got shape ",
              format_shape(codes.shape()), ")");
  const index_t width = codes.size(-1);
  const index_t rows = width == 0 ? 0 : codes.numel() / width;
  T* p = codes.data();
  for (index_t r = 0; r < rows; ++r) {
    T s = 0;
    for (index_t k = 0; k < width; ++k) s += p[r * width + k] * p[r * width + k];
    if (s == T(0)) continue;
    const T inv = T(1) / std::sqrt(s);
    for (index_t k = 0; k < width; ++k) p[r * width + k] *= inv;
  }
  codes.bump_version();
}

}  // namespace kexue::loss
