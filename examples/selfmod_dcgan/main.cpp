// SPDX-License-Identifier: MIT
// A20 example: a small DCGAN and its SELF-MOD generator (nn::self_modulated_batch_norm), with conditional BN.
//
// What the article shows (spec A20, https://kexue.fm/archives/6549): the DCGAN recipe (no pooling: strided conv
// in D, transposed conv in G; BN in both; ReLU in G with a tanh output; LeakyReLU(0.2) in D; D ends with
// Flatten → Dense(1); kernels 4×4 stride 2; N(0, 0.02) kernel init; images in [−1, 1]), and the SELF-MOD
// generator, whose every BN is modulated by the noise z itself:
//   y = BN(x) ⊙ (1 + γ(z)) + β(z),   γ(z) = W₂ relu(W₁ z + b₁) + b₂,   β(z) likewise (own weights),
// γ, β one value per (sample, channel) broadcast over H, W; the output layers of the γ, β MLPs start at zero so
// the generator starts as the plain-BN DCGAN. Conditional BN (cGANs): y = BN(x)·γ[label] + β[label].
//
// Data: 16×16 one-channel images in [−1, 1], by default synthetic (a white filled square or disc of random size
// and position on black, examples/common/imgen_images.hpp), with `--fashion-mnist [DIR]` Fashion-MNIST (the gz
// IDX files, 2×2-averaged to 14×14 plus a 1-pixel border).
// Models (z_dim 16): G = Dense(16 → 32·4·4) → reshape [32, 4, 4] → BN → relu → ConvT(32 → 16, 4, s2, p1) [8×8]
// → BN → relu → ConvT(16 → 1, 4, s2, p1) [16×16] → tanh; SELF-MOD G: the same with both BNs replaced by
// nn::self_modulated_batch_norm(hidden = z_dim, the author's width, 1 + γ form). D = Conv(1 → 16, 4, s2, p1)
// [8×8] → LeakyReLU(0.2) → Conv(16 → 32, 4, s2, p1) [4×4] → BN → LeakyReLU(0.2) → Flatten → Dense(512 → 1).
// Training: hinge loss (A18's, with D high on real), alternating 1:1, Adam(lr 1e-3, β = (0.5, 0.9)), batch 32;
// both generators start from the same weights (the SELF-MOD MLPs aside), see the same noise and data, and their
// discriminators start from the same weights. Quality: MMD² (Gaussian kernel, median bandwidth) between 256
// generated and 256 held-out real images on the features of a fixed random conv net (spec's FID proxy:
// Conv(1 → 16, 5, same) → relu → 4×4 average pool, 256 features), divided by its value at initialisation.
//
// Claims (exact maths to rounding; training thresholds from seeds 1-8 at smoke size and 1-3 at --full, on the
// synthetic data and Fashion-MNIST; each can fail):
//   shape_mismatches              G(z) is [32, 1, 16, 16] through [32, 32, 4, 4] and [32, 16, 8, 8] (ConvT k4 s2
//                                 p1 doubles H and W), D(x) is [32, 1]: 0 mismatches
//   selfmod_init_vs_plain_g       at initialisation the SELF-MOD G equals the plain-BN G on the same z and
//                                 weights: max |diff| ≤ 1e-6 (measured 0)
//   selfmod_formula_err           with random γ, β MLP weights, the layer's output equals the formula computed in
//                                 double by loops (batch mean, biased variance, ε = 1e-5): max |diff| ≤ 1e-5
//   selfmod_bias_grad_rel_err     routing: dL/db(β out) = Σ_{n,h,w} dL/dy and dL/db(γ out) = Σ_{n,h,w} dL/dy ⊙
//                                 BN(x) (relative error ≤ 1e-5), and
//   selfmod_init_hidden_grad      at initialisation the γ, β hidden layers and z get exactly zero gradient through
//                                 the layer (the zero output layers block it): max |grad| == 0
//   cbn_identity_err              conditional BN with γ = 1, β = 0 equals BN without affine: ≤ 1e-6 (spec's unit test)
//   cbn_per_class_err             with per-class γ, β: y = BN(x)·γ[label] + β[label], max |diff| ≤ 1e-5
//   mmd_ratio_plain               training lowers the plain DCGAN's MMD²: final / initial ≤ 0.6 (measured 0.035-0.38
//                                 on seeds 1-8 at smoke size, 0.016-0.024 on Fashion-MNIST, ≤ 0.003 at --full)
//   mmd_ratio_selfmod             the same for SELF-MOD: ≤ 0.3 (measured 0.008-0.059; 0.006-0.027 Fashion-MNIST)
//   selfmod_over_plain_mean_mmd_ratio   the article's "SELF-MOD converges faster", as the mean MMD² / initial over
//                                 the 8 evaluations of the first 200 steps, SELF-MOD divided by plain: ≤ 0.9
//                                 (measured 0.65-0.79 on seeds 1-8, 0.71-0.77 at --full seeds 1-3, 0.75-0.81 on
//                                 Fashion-MNIST seeds 1-3 and --full)
// Printed, not claimed: at how many of the 8 evaluations SELF-MOD is lower (5-8 of 8), the later MMD² (both
// reach the noise floor of the 256-sample estimate, about ±0.005 of the initial value, within ~400 steps).
// Not done: ResNet GANs, AdaIN/StyleGAN, conditional SELF-MOD in training, a real FID.
// Expected output: the exact checks, MMD² progress for both GANs, the "claim: ... PASS" lines.
// --full: 2000 training steps instead of 200 (and 20 000 images instead of 5 000).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "../common/example_support.hpp"
#include "../common/imgen_images.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
namespace nn = kexue::nn;
using tensor = kx::tensor<float>;
using kexue_examples::claim;

namespace {

constexpr kx::index_t z_dim = 16, batch = 32, c_top = 32, c_mid = 16, side = kexue_examples::imgen_side;

/// DCGAN's kernel initialisation N(0, 0.02) for a convolution's weight (biases are zeroed).
template <class Layer>
void dcgan_init(Layer& layer, kx::generator& gen) {
  kx::no_grad_guard no_grad;
  for (auto& v : layer.weight) v = static_cast<float>(0.02 * gen.normal());
  if (layer.bias.defined())
    for (auto& v : layer.bias) v = 0.0f;
}

/// The DCGAN generator, with plain BN (affine, the DCGAN recipe) or SELF-MOD BN.
struct generator_net : nn::module<float> {
  bool self_mod;
  std::shared_ptr<nn::linear<float>> dense;
  std::shared_ptr<nn::batch_norm2d<float>> bn0, bn1;
  std::shared_ptr<nn::self_modulated_batch_norm<float>> sm0, sm1;
  std::shared_ptr<nn::conv_transpose2d<float>> up0, up1;

  generator_net(bool self_modulated, kx::generator& gen) : self_mod(self_modulated) {
    dense = register_module("dense", std::make_shared<nn::linear<float>>(z_dim, c_top * 4 * 4, gen));
    const auto up = [&](kx::index_t in, kx::index_t out) {
      return std::make_shared<nn::conv_transpose2d<float>>(
          nn::conv_transpose2d_options(in, out, 4).stride(2).padding(1), gen);
    };
    up0 = register_module("up0", up(c_top, c_mid));
    up1 = register_module("up1", up(c_mid, 1));
    dcgan_init(*up0, gen);
    dcgan_init(*up1, gen);
    if (self_mod) {
      const auto sm = [&](kx::index_t c) {
        return std::make_shared<nn::self_modulated_batch_norm<float>>(
            nn::self_modulated_batch_norm_options(c, z_dim).hidden(z_dim), gen);
      };
      sm0 = register_module("sm0", sm(c_top));
      sm1 = register_module("sm1", sm(c_mid));
    } else {
      bn0 = register_module("bn0", std::make_shared<nn::batch_norm2d<float>>(nn::batch_norm_options(c_top), gen));
      bn1 = register_module("bn1", std::make_shared<nn::batch_norm2d<float>>(nn::batch_norm_options(c_mid), gen));
    }
  }
  tensor norm(int level, const tensor& x, const tensor& z) const {
    if (self_mod) return (level == 0 ? sm0 : sm1)->forward(x, z);
    return (*(level == 0 ? bn0 : bn1))(x);
  }
  /// z [B, 16] → images [B, 1, 16, 16]; `shapes` receives the intermediate shapes when given.
  tensor forward(const tensor& z, std::vector<kx::shape>* shapes = nullptr) const {
    const tensor h0 = kx::relu(norm(0, kx::reshape((*dense)(z), {z.size(0), c_top, 4, 4}), z));
    const tensor h1 = kx::relu(norm(1, (*up0)(h0), z));
    const tensor out = kx::tanh((*up1)(h1));
    if (shapes) *shapes = {h0.shape(), h1.shape(), out.shape()};
    return out;
  }
};

/// The DCGAN discriminator (first conv without BN, then conv + BN + LeakyReLU down to 4×4, Flatten → Dense(1)).
struct discriminator_net : nn::module<float> {
  std::shared_ptr<nn::conv2d<float>> conv0, conv1;
  std::shared_ptr<nn::batch_norm2d<float>> bn1;
  std::shared_ptr<nn::linear<float>> dense;

  explicit discriminator_net(kx::generator& gen) {
    const auto conv = [&](kx::index_t in, kx::index_t out) {
      return std::make_shared<nn::conv2d<float>>(nn::conv2d_options(in, out, 4).stride(2).padding(1), gen);
    };
    conv0 = register_module("conv0", conv(1, c_mid));
    conv1 = register_module("conv1", conv(c_mid, c_top));
    dcgan_init(*conv0, gen);
    dcgan_init(*conv1, gen);
    bn1 = register_module("bn1", std::make_shared<nn::batch_norm2d<float>>(nn::batch_norm_options(c_top), gen));
    dense = register_module("dense", std::make_shared<nn::linear<float>>(c_top * 4 * 4, 1, gen));
  }
  tensor forward(const tensor& x) const {
    const tensor h0 = kx::leaky_relu((*conv0)(x), 0.2);
    const tensor h1 = kx::leaky_relu((*bn1)((*conv1)(h0)), 0.2);
    return (*dense)(kx::flatten(h1, 1));
  }
};

/// Copies every parameter of `from` into the parameter of the same name in `to` (no graph).
void copy_shared_parameters(const nn::module<float>& from, nn::module<float>& to) {
  kx::no_grad_guard no_grad;
  const auto theirs = from.named_parameters();
  for (auto& [name, p] : to.named_parameters())
    for (const auto& [other_name, q] : theirs)
      if (name == other_name) std::copy(q.data(), q.data() + q.numel(), p.data());
}

double max_abs_diff(const tensor& a, const tensor& b) {
  double m = 0;
  for (kx::index_t i = 0; i < a.numel(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(a.data()[i] - b.data()[i])));
  return a.shape() == b.shape() ? m : 1e30;
}

double max_abs(const tensor& a) {
  double m = 0;
  for (kx::index_t i = 0; i < a.numel(); ++i) m = std::max(m, static_cast<double>(std::fabs(a.data()[i])));
  return m;
}

/// BN(x) without affine, in double by loops: per channel c, (x − μ_c)/√(σ²_c + ε), biased variance over N, H, W.
std::vector<double> reference_bn(const tensor& x, double eps = 1e-5) {
  const kx::index_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  std::vector<double> y(static_cast<std::size_t>(x.numel()));
  for (kx::index_t ch = 0; ch < c; ++ch) {
    double mean = 0, var = 0;
    for (kx::index_t i = 0; i < n; ++i)
      for (kx::index_t p = 0; p < hw; ++p) mean += x.data()[(i * c + ch) * hw + p];
    mean /= static_cast<double>(n * hw);
    for (kx::index_t i = 0; i < n; ++i)
      for (kx::index_t p = 0; p < hw; ++p) var += std::pow(x.data()[(i * c + ch) * hw + p] - mean, 2);
    var /= static_cast<double>(n * hw);
    for (kx::index_t i = 0; i < n; ++i)
      for (kx::index_t p = 0; p < hw; ++p) {
        const auto at = static_cast<std::size_t>((i * c + ch) * hw + p);
        y[at] = (x.data()[at] - mean) / std::sqrt(var + eps);
      }
  }
  return y;
}

/// out_j = b_j + Σ_k W_jk in_k for one sample (nn::linear's weight [out, in]), in double.
std::vector<double> reference_dense(const nn::linear<float>& l, const std::vector<double>& in) {
  const kx::index_t out = l.weight.size(0), width = l.weight.size(1);
  std::vector<double> y(static_cast<std::size_t>(out));
  for (kx::index_t j = 0; j < out; ++j) {
    double s = l.bias.data()[j];
    for (kx::index_t k = 0; k < width; ++k) s += static_cast<double>(l.weight.data()[j * width + k]) * in[k];
    y[j] = s;
  }
  return y;
}

struct selfmod_checks {
  double init_hidden_grad, formula_err, beta_bias_err, gamma_bias_err;
};

/// The SELF-MOD layer against its formula, and where its gradients go.
selfmod_checks check_self_modulation(kx::generator& gen) {
  constexpr kx::index_t n = 8, c = 4, h = 3, w = 5;
  nn::self_modulated_batch_norm<float> layer(nn::self_modulated_batch_norm_options(c, z_dim).hidden(z_dim), gen);
  const tensor x = kx::randn<float>({n, c, h, w}, gen, 0.5f, 2.0f);
  tensor z = kx::randn<float>({n, z_dim}, gen);
  z.requires_grad(true);
  const tensor weights = kx::randn<float>({n, c, h, w}, gen);  // L = Σ weights ⊙ y
  selfmod_checks r{};

  // At initialisation the output layers are zero: nothing reaches the hidden layers or z.
  tensor y = layer.forward(x, z);
  kx::sum(kx::mul(y, weights)).backward();
  r.init_hidden_grad = std::max(
      {max_abs(layer.gamma_hidden->weight.grad()), max_abs(layer.beta_hidden->weight.grad()), max_abs(z.grad())});

  // Random output layers: compare with the formula in double.
  {
    kx::no_grad_guard no_grad;
    for (const auto& l : {layer.gamma_out, layer.beta_out}) {
      for (auto& v : l->weight) v = static_cast<float>(0.3 * gen.normal());
      for (auto& v : l->bias) v = static_cast<float>(0.3 * gen.normal());
    }
  }
  layer.zero_grad();
  z.zero_grad();
  y = layer.forward(x, z);
  kx::sum(kx::mul(y, weights)).backward();
  const std::vector<double> xn = reference_bn(x);
  std::vector<double> grad_beta_bias(static_cast<std::size_t>(c)), grad_gamma_bias(static_cast<std::size_t>(c));
  for (kx::index_t i = 0; i < n; ++i) {
    std::vector<double> zi(z.data() + i * z_dim, z.data() + (i + 1) * z_dim);
    const auto mlp = [&](const nn::linear<float>& hidden, const nn::linear<float>& out) {
      auto a = reference_dense(hidden, zi);
      for (auto& v : a) v = std::max(v, 0.0);
      return reference_dense(out, a);
    };
    const auto gamma = mlp(*layer.gamma_hidden, *layer.gamma_out), beta = mlp(*layer.beta_hidden, *layer.beta_out);
    for (kx::index_t ch = 0; ch < c; ++ch)
      for (kx::index_t p = 0; p < h * w; ++p) {
        const auto at = static_cast<std::size_t>((i * c + ch) * h * w + p);
        const double expected = xn[at] * (1 + gamma[ch]) + beta[ch];
        r.formula_err = std::max(r.formula_err, std::fabs(y.data()[at] - expected));
        grad_beta_bias[ch] += weights.data()[at];  // dL/dy = weights
        grad_gamma_bias[ch] += weights.data()[at] * xn[at];
      }
  }
  for (kx::index_t ch = 0; ch < c; ++ch) {
    const auto rel = [](double got, double want) { return std::fabs(got - want) / std::max(1.0, std::fabs(want)); };
    r.beta_bias_err = std::max(r.beta_bias_err, rel(layer.beta_out->bias.grad().data()[ch], grad_beta_bias[ch]));
    r.gamma_bias_err = std::max(r.gamma_bias_err, rel(layer.gamma_out->bias.grad().data()[ch], grad_gamma_bias[ch]));
  }
  return r;
}

/// Conditional BN: γ = 1, β = 0 is BN without affine; with per-class rows, y = BN(x)·γ[label] + β[label].
void check_conditional_bn(kx::generator& gen, double& identity_err, double& per_class_err) {
  constexpr kx::index_t n = 10, c = 3, classes = 4;
  nn::conditional_batch_norm<float> cbn(nn::conditional_batch_norm_options(c, classes), gen);
  nn::batch_norm2d<float> plain(nn::batch_norm_options(c).affine(false), gen);
  const tensor x = kx::randn<float>({n, c, 4, 4}, gen, -1.0f, 3.0f);
  auto labels = kx::tensor<kx::index_t>::empty({n});
  for (kx::index_t i = 0; i < n; ++i) labels.data()[i] = static_cast<kx::index_t>(gen.below(classes));
  kx::no_grad_guard no_grad;
  identity_err = max_abs_diff(cbn.forward(x, labels), plain(x));
  for (auto& v : cbn.gamma) v = static_cast<float>(1 + gen.normal());
  for (auto& v : cbn.beta) v = static_cast<float>(gen.normal());
  const tensor y = cbn.forward(x, labels);
  const std::vector<double> xn = reference_bn(x);
  per_class_err = 0;
  for (kx::index_t i = 0; i < n; ++i)
    for (kx::index_t ch = 0; ch < c; ++ch)
      for (kx::index_t p = 0; p < 16; ++p) {
        const auto at = static_cast<std::size_t>((i * c + ch) * 16 + p);
        const auto k = labels.data()[i];
        const double expected = xn[at] * cbn.gamma.data()[k * c + ch] + cbn.beta.data()[k * c + ch];
        per_class_err = std::max(per_class_err, std::fabs(y.data()[at] - expected));
      }
}

/// The fixed random feature net of the quality proxy: Conv(1 → 16, 5, same) → relu → 4×4 average pool, flattened.
struct feature_net {
  nn::conv2d<float> conv;
  explicit feature_net(kx::generator& gen) : conv(nn::conv2d_options(1, 16, 5).padding(kx::padding_mode::same), gen) {}
  tensor operator()(const tensor& x) const {
    kx::no_grad_guard no_grad;
    return kx::flatten(kx::avg_pool2d(kx::relu(conv(x)), 4), 1);  // [B, 256]
  }
};

/// Squared distances between the rows of a [M, D] and b [N, D]: [M, N].
std::vector<double> pairwise_sq(const tensor& a, const tensor& b) {
  const tensor ab = kx::matmul(a, b, false, true);
  const kx::index_t m = a.size(0), n = b.size(0), d = a.size(1);
  std::vector<double> na(static_cast<std::size_t>(m)), nb(static_cast<std::size_t>(n)), out;
  for (kx::index_t i = 0; i < m; ++i)
    for (kx::index_t k = 0; k < d; ++k) na[i] += std::pow(a.data()[i * d + k], 2);
  for (kx::index_t j = 0; j < n; ++j)
    for (kx::index_t k = 0; k < d; ++k) nb[j] += std::pow(b.data()[j * d + k], 2);
  for (kx::index_t i = 0; i < m; ++i)
    for (kx::index_t j = 0; j < n; ++j) out.push_back(std::max(0.0, na[i] + nb[j] - 2.0 * ab.data()[i * n + j]));
  return out;
}

/// Unbiased MMD² with k(a, b) = exp(−‖a − b‖² / (2h²)) between feature sets x [M, D] and y [N, D].
double mmd2(const tensor& x, const tensor& y, double bandwidth) {
  const auto mean_k = [&](const tensor& a, const tensor& b, bool same) {
    const auto d = pairwise_sq(a, b);
    const kx::index_t m = a.size(0), n = b.size(0);
    double s = 0;
    for (kx::index_t i = 0; i < m; ++i)
      for (kx::index_t j = 0; j < n; ++j)
        if (!same || i != j) s += std::exp(-d[static_cast<std::size_t>(i * n + j)] / (2 * bandwidth * bandwidth));
    return s / static_cast<double>(same ? m * (m - 1) : m * n);
  };
  return mean_k(x, x, true) + mean_k(y, y, true) - 2 * mean_k(x, y, false);
}

/// Median pairwise distance of the rows of x (the kernel bandwidth).
double median_distance(const tensor& x) {
  auto d = pairwise_sq(x, x);
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
  return std::sqrt(d[d.size() / 2]);
}

/// One GAN: its generator, discriminator and optimizers.
struct gan {
  std::unique_ptr<generator_net> g;
  std::unique_ptr<discriminator_net> d;
  std::unique_ptr<kx::optim::adam<float>> opt_g, opt_d;

  gan(bool self_mod, kx::generator& gen) {
    g = std::make_unique<generator_net>(self_mod, gen);
    d = std::make_unique<discriminator_net>(gen);
  }
  void make_optimizers() {
    const auto o = kx::optim::adam_options().lr(1e-3).betas(0.5, 0.9);
    opt_g = std::make_unique<kx::optim::adam<float>>(g->parameters(), o);
    opt_d = std::make_unique<kx::optim::adam<float>>(d->parameters(), o);
  }
  /// One alternating hinge step (D high on real): D: E relu(1 − D(x)) + E relu(1 + D(G(z))); G: −E D(G(z)).
  void step(const tensor& real, const tensor& z) {
    tensor fake;
    {
      kx::no_grad_guard no_grad;
      fake = g->forward(z);
    }
    const tensor d_loss = kx::add(kx::mean(kx::relu(kx::add_scalar(kx::neg(d->forward(real)), 1.0f))),
                                  kx::mean(kx::relu(kx::add_scalar(d->forward(fake), 1.0f))));
    opt_d->zero_grad();
    d_loss.backward();
    opt_d->step();
    const tensor g_loss = kx::neg(kx::mean(d->forward(g->forward(z))));
    opt_g->zero_grad();
    g_loss.backward();
    opt_g->step();
  }
  /// MMD² of generated samples against the held-out real features. The generator stays in training mode (batch
  /// statistics, as the GAN was trained; its running statistics are not used anywhere here).
  double quality(const tensor& z_eval, const feature_net& phi, const tensor& real_features, double bandwidth) const {
    kx::no_grad_guard no_grad;
    return mmd2(phi(g->forward(z_eval)), real_features, bandwidth);
  }
};

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::imgen_options options;
  if (!kexue_examples::imgen_parse_options(argc, argv, options)) return 2;
  kx::set_num_threads(1);  // many small ops: one thread is faster on a loaded 2-core machine
  kx::generator gen(options.seed);
  bool pass = true;

  // 1. Exact checks of the building blocks.
  const selfmod_checks sm = check_self_modulation(gen);
  double cbn_identity = 0, cbn_per_class = 0;
  check_conditional_bn(gen, cbn_identity, cbn_per_class);
  std::printf(
      "SELF-MOD layer: init grad to hidden layers and z %.3g, |y - formula| %.3g, bias-gradient errors "
      "beta %.3g gamma %.3g\nconditional BN: |CBN(γ=1,β=0) - BN| %.3g, |y - BN·γ[label] - β[label]| %.3g\n",
      sm.init_hidden_grad, sm.formula_err, sm.beta_bias_err, sm.gamma_bias_err, cbn_identity, cbn_per_class);

  // 2. The two GANs from the same weights.
  kx::generator init_plain(options.seed + 100), init_selfmod(options.seed + 200);
  gan plain(false, init_plain), selfmod(true, init_selfmod);
  copy_shared_parameters(*plain.g, *selfmod.g);
  copy_shared_parameters(*plain.d, *selfmod.d);
  plain.make_optimizers();
  selfmod.make_optimizers();

  const tensor z_check = kx::randn<float>({batch, z_dim}, gen);
  std::vector<kx::shape> shapes;
  double init_gap = 0;
  kx::index_t shape_mismatches = 0;
  {
    kx::no_grad_guard no_grad;
    const tensor a = plain.g->forward(z_check, &shapes), b = selfmod.g->forward(z_check);
    init_gap = max_abs_diff(a, b);
    const std::vector<kx::shape> want = {{batch, c_top, 4, 4}, {batch, c_mid, 8, 8}, {batch, 1, side, side}};
    for (std::size_t i = 0; i < want.size(); ++i) shape_mismatches += shapes[i] == want[i] ? 0 : 1;
    shape_mismatches += plain.d->forward(a).shape() == kx::shape{batch, 1} ? 0 : 1;
    std::printf("G: z [%lld, %lld] -> %s -> %s -> %s; D -> %s; SELF-MOD G vs plain G at init: max |diff| %.3g\n",
                static_cast<long long>(batch), static_cast<long long>(z_dim), kx::format_shape(shapes[0]).c_str(),
                kx::format_shape(shapes[1]).c_str(), kx::format_shape(shapes[2]).c_str(),
                kx::format_shape(plain.d->forward(a).shape()).c_str(), init_gap);
  }

  // 3. Training.
  kx::generator data_gen(options.seed + 300);
  const kx::index_t eval_n = 256;
  tensor data = options.fashion ? kexue_examples::imgen_fashion_mnist(options.dir, options.full ? 20000 : 5000)
                                : kexue_examples::imgen_synthetic_shapes(options.full ? 20000 : 5000, data_gen);
  const kx::index_t train_n = data.size(0) - eval_n;
  const tensor train = kx::narrow(data, 0, 0, train_n), held_out = kx::narrow(data, 0, train_n, eval_n);
  kx::generator phi_gen(options.seed + 400);
  const feature_net phi(phi_gen);
  const tensor real_features = phi(held_out);
  const double bandwidth = median_distance(real_features);
  const tensor z_eval = kx::randn<float>({eval_n, z_dim}, gen);
  // Quality every 25 steps; the speed comparison averages the MMD² ratios of the first 200 steps (8 evaluations):
  // later the 256-sample MMD² estimate reaches its noise floor (±0.005 of the initial value) for both GANs.
  const int steps = options.full ? 2000 : 200, eval_every = 25, early_steps = 200,
            print_every = options.full ? 250 : 50;
  std::printf("data: %s, %lld train / %lld held-out 16x16 images; %d steps of batch %lld\n",
              options.fashion ? "Fashion-MNIST" : "synthetic squares and discs", static_cast<long long>(train_n),
              static_cast<long long>(eval_n), steps, static_cast<long long>(batch));

  const double start_plain = plain.quality(z_eval, phi, real_features, bandwidth);
  const double start_selfmod = selfmod.quality(z_eval, phi, real_features, bandwidth);
  std::printf("step     0  MMD^2 plain %.5f  SELF-MOD %.5f\n", start_plain, start_selfmod);
  double end_plain = 1, end_selfmod = 1, area_plain = 0, area_selfmod = 0;
  int wins = 0, early_evals = 0;
  for (int step = 1; step <= steps; ++step) {
    const tensor real = kexue_examples::imgen_random_batch(train, batch, data_gen);
    const tensor z = kx::randn<float>({batch, z_dim}, gen);
    plain.step(real, z);
    selfmod.step(real, z);
    if (step % eval_every == 0) {
      end_plain = plain.quality(z_eval, phi, real_features, bandwidth) / start_plain;
      end_selfmod = selfmod.quality(z_eval, phi, real_features, bandwidth) / start_selfmod;
      if (step <= early_steps) {
        area_plain += end_plain, area_selfmod += end_selfmod, ++early_evals;
        wins += end_selfmod < end_plain ? 1 : 0;
      }
      if (step % print_every == 0)
        std::printf("step %5d  MMD^2 / initial: plain %.4f  SELF-MOD %.4f\n", step, end_plain, end_selfmod);
    }
  }
  std::printf(
      "first %d steps: mean MMD^2 / initial over %d evaluations: plain %.4f, SELF-MOD %.4f; SELF-MOD lower "
      "at %d of %d\n",
      early_steps, early_evals, area_plain / early_evals, area_selfmod / early_evals, wins, early_evals);

  pass &= claim("shape_mismatches", static_cast<double>(shape_mismatches), "== 0", shape_mismatches == 0);
  pass &= claim("selfmod_init_vs_plain_g", init_gap, "<= 1e-6", init_gap <= 1e-6);
  pass &= claim("selfmod_formula_err", sm.formula_err, "<= 1e-5", sm.formula_err <= 1e-5);
  const double bias_err = std::max(sm.beta_bias_err, sm.gamma_bias_err);
  pass &= claim("selfmod_bias_grad_rel_err", bias_err, "<= 1e-5", bias_err <= 1e-5);
  pass &= claim("selfmod_init_hidden_grad", sm.init_hidden_grad, "== 0", sm.init_hidden_grad == 0);
  pass &= claim("cbn_identity_err", cbn_identity, "<= 1e-6", cbn_identity <= 1e-6);
  pass &= claim("cbn_per_class_err", cbn_per_class, "<= 1e-5", cbn_per_class <= 1e-5);
  pass &= claim("mmd_ratio_plain", end_plain, "<= 0.6", end_plain <= 0.6);
  pass &= claim("mmd_ratio_selfmod", end_selfmod, "<= 0.3", end_selfmod <= 0.3);
  const double speed = area_selfmod / area_plain;
  pass &= claim("selfmod_over_plain_mean_mmd_ratio", speed, "<= 0.9", speed <= 0.9);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
