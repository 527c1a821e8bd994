// SPDX-License-Identifier: MIT
// A29 example: a small VQ-VAE (nn::vector_quantizer) on 28×28 images: synthetic by default, Fashion-MNIST by flag.
//
// What the article shows (spec A29): an autoencoder whose latent is a grid of discrete codes. The encoder's
// vectors z are snapped to their nearest codebook entry z_q; the decoder reads z + sg[z_q − z] (z_q forward,
// identity gradient backward: straight-through); the loss is
//   L = ‖x − x̂‖² + β ‖sg[z] − z_q‖² + γ ‖z − sg[z_q]‖²,   β = 1, γ = 0.25 (the reference code's weights).
//
// Model (28×28 → 7×7 codes, K = 64 codes of d = 16): the image is cut into 49 patches of 4×4 pixels; the encoder
// is a per-patch MLP 16 → 128 → relu → 16 (a convolution with a 4×4 kernel and stride 4 followed by a 1×1
// convolution), the quantiser nn::vector_quantizer(K = 64, d = 16) on each of the 7×7 vectors, the decoder the
// mirror MLP 16 → 128 → relu → 16 → sigmoid back to the patch. Adam, lr 1e-3 (the reference code's), batch 64.
// Loss: mean squared reconstruction error + vq.loss (codebook term + 0.25 × commitment term).
// Data: synthetic 28×28 images of 2-4 random filled rectangles of random grey levels (fixed seed), or with
// `--fashion-mnist [dir]` the uncompressed IDX file train-images-idx3-ubyte of Fashion-MNIST (default dir
// /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist). Compressed .gz files are not read: kexue
// has no zlib dependency, so the program asks you to gunzip them.
//
// Claims (thresholds from measured runs with margin; measured values in README.md):
//   reconstruction: test MSE at the end ≤ 0.5 × after the first step (synthetic: 0.0076 vs 0.21, ratio 0.036)
//   quantisation: the relative error ‖z − z_q‖² / ‖z‖² on the test set at the end ≤ 0.5 × after the first step
//     (encodings and codes move together; measured 0.10 vs 0.75, ratio 0.13)
//   perplexity: exp(entropy of the test set's code usage) ≥ 4 of 64 (1 = collapsed codebook; measured 6.2 and
//     still rising; it is bounded by the data: most 4×4 patches of these images are black or flat)
//   codes used: at least 48 of the 64 codes chosen during training (measured 64: no dead codes)
//   straight-through: d recon_loss / d z == d recon_loss / d (decoder input), max |difference| ≤ 1e-6 · max |grad|
//     (measured exactly 0)
// Expected output: progress lines (step, reconstruction MSE, relative quantisation error, perplexity, dead
// codes), then five
// "claim: ... PASS" lines. --full: 5× the steps (and all 60 000 Fashion-MNIST images rather than 10 000).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;

namespace {

constexpr kx::index_t side = 28, patch = 4, grid = side / patch, patch_pixels = patch * patch;
constexpr kx::index_t codes = 64, code_dim = 16, hidden = 128, batch = 64;

/// `n` images [n, 28, 28] of 2-4 random axis-aligned filled rectangles, each of a random grey level in [0.2, 1]
/// (overlaps keep the brighter one), on black.
tensor synthetic_images(kx::index_t n, kx::generator& gen) {
  tensor x = kx::zeros<float>({n, side, side});
  for (kx::index_t i = 0; i < n; ++i) {
    const auto shapes = 2 + static_cast<int>(gen.below(3));
    for (int s = 0; s < shapes; ++s) {
      const auto level = static_cast<float>(0.2 + 0.8 * gen.uniform());
      const auto h = static_cast<kx::index_t>(2 + gen.below(12)), w = static_cast<kx::index_t>(2 + gen.below(12));
      const auto r0 = static_cast<kx::index_t>(gen.below(static_cast<std::uint64_t>(side - h + 1)));
      const auto c0 = static_cast<kx::index_t>(gen.below(static_cast<std::uint64_t>(side - w + 1)));
      for (kx::index_t r = r0; r < r0 + h; ++r)
        for (kx::index_t c = c0; c < c0 + w; ++c) {
          float& v = x.data()[(i * side + r) * side + c];
          v = std::max(v, level);
        }
    }
  }
  return x;
}

std::uint32_t read_be32(std::ifstream& in) {
  unsigned char b[4];
  in.read(reinterpret_cast<char*>(b), 4);
  return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

/// The first `limit` images of an uncompressed IDX3 file, scaled to [0, 1]: [n, 28, 28].
tensor read_idx_images(const std::string& dir, kx::index_t limit) {
  const std::string path = dir + "/train-images-idx3-ubyte";
  if (!file_exists(path)) {
    if (file_exists(path + ".gz")) {
      KEXUE_THROW(kx::io_error, "vqvae_mnist", path,
                  ".gz is gzip-compressed and this example reads only uncompressed IDX files (kexue has no zlib "
                  "dependency); run: gunzip -k ",
                  path, ".gz (into a writable copy of the directory if needed) and pass that directory");
    }
    KEXUE_THROW(kx::io_error, "vqvae_mnist", "no Fashion-MNIST file ", path,
                " (install Debian's dataset-fashion-mnist or pass the directory holding train-images-idx3-ubyte)");
  }
  std::ifstream in(path, std::ios::binary);
  const std::uint32_t magic = read_be32(in), count = read_be32(in), rows = read_be32(in), cols = read_be32(in);
  KEXUE_CHECK(magic == 2051 && rows == side && cols == side, kx::io_error, "vqvae_mnist", path,
              " is not an IDX3 file of 28x28 images (magic ", magic, ", ", rows, "x", cols, ")");
  const kx::index_t n = std::min<kx::index_t>(limit, static_cast<kx::index_t>(count));
  std::vector<unsigned char> bytes(static_cast<std::size_t>(n * side * side));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  KEXUE_CHECK(in.good(), kx::io_error, "vqvae_mnist", path, " is truncated");
  tensor x = tensor::empty({n, side, side});
  for (std::size_t i = 0; i < bytes.size(); ++i) x.data()[i] = static_cast<float>(bytes[i]) / 255.0f;
  return x;
}

/// [B, 28, 28] → [B, 7, 7, 16] (the 4×4 patches as vectors) and back.
tensor to_patches(const tensor& images) {
  const kx::index_t b = images.size(0);
  return kx::reshape(kx::permute(kx::reshape(images, {b, grid, patch, grid, patch}), {0, 1, 3, 2, 4}),
                     {b, grid, grid, patch_pixels});
}
tensor from_patches(const tensor& patches) {
  const kx::index_t b = patches.size(0);
  return kx::reshape(kx::permute(kx::reshape(patches, {b, grid, grid, patch, patch}), {0, 1, 3, 2, 4}),
                     {b, side, side});
}

std::shared_ptr<kx::nn::sequential<float>> mlp(kx::index_t in, kx::index_t out, bool sigmoid_out, kx::generator& gen) {
  auto m = std::make_shared<kx::nn::sequential<float>>();
  m->push_back(std::make_shared<kx::nn::linear<float>>(in, hidden, gen))
      .push_back("relu", [](const tensor& h) { return kx::relu(h); })
      .push_back(std::make_shared<kx::nn::linear<float>>(hidden, out, gen));
  if (sigmoid_out) m->push_back("sigmoid", [](const tensor& h) { return kx::sigmoid(h); });
  return m;
}

struct vqvae {
  std::shared_ptr<kx::nn::sequential<float>> encoder, decoder;
  std::shared_ptr<kx::nn::vector_quantizer<float>> quantizer;

  struct result {
    tensor z, decoder_input, reconstruction, recon_loss, loss;
    kx::nn::vq_output<float> vq;
  };

  result run(const tensor& images) const {
    result r;
    r.z = (*encoder)(to_patches(images));  // [B, 7, 7, d]
    r.vq = quantizer->forward(r.z);
    r.decoder_input = r.vq.quantized;  // z + sg[z_q − z]
    r.reconstruction = from_patches((*decoder)(r.decoder_input));
    r.recon_loss = kx::mean(kx::square(kx::sub(r.reconstruction, images)));
    r.loss = kx::add(r.recon_loss, r.vq.loss);
    return r;
  }
};

tensor rows(const tensor& x, kx::index_t start, kx::index_t count) { return kx::narrow(x, 0, start, count); }

using kexue_examples::claim;

}  // namespace

int main(int argc, char** argv) try {
  bool full = false, fashion = false;
  std::string dir = "/usr/share/datasets/fashion-mnist";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--full") == 0) {
      full = true;
    } else if (std::strcmp(argv[i], "--fashion-mnist") == 0) {
      fashion = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--full] [--fashion-mnist [dir]]\n", argv[0]);
      return 2;
    }
  }
  kx::set_num_threads(1);  // small tensors: one thread is faster on a loaded 2-core machine
  kx::generator gen(29);
  const kx::index_t test_n = 512;
  tensor data;
  if (fashion) {
    data = read_idx_images(dir, full ? 60000 : 10000);
  } else {
    data = synthetic_images(full ? 20000 : 4096, gen);
  }
  const kx::index_t train_n = data.size(0) - test_n;
  const tensor train = rows(data, 0, train_n), test = rows(data, train_n, test_n);
  const int steps = full ? 3000 : 600;
  std::printf(
      "vqvae_mnist: %s, %lld train / %lld test images 28x28 -> 7x7 codes, K = %lld, d = %lld; %d Adam steps, "
      "batch %lld\n",
      fashion ? "Fashion-MNIST" : "synthetic rectangles", static_cast<long long>(train_n),
      static_cast<long long>(test_n), static_cast<long long>(codes), static_cast<long long>(code_dim), steps,
      static_cast<long long>(batch));

  vqvae model{
      mlp(patch_pixels, code_dim, false, gen), mlp(code_dim, patch_pixels, true, gen),
      std::make_shared<kx::nn::vector_quantizer<float>>(kx::nn::vector_quantizer_options(codes, code_dim), gen)};
  std::vector<kx::tensor<float>> params = model.encoder->parameters();
  for (const auto& p : model.decoder->parameters()) params.push_back(p);
  for (const auto& p : model.quantizer->parameters()) params.push_back(p);
  kx::optim::adam<float> opt(params, kx::optim::adam_options().lr(1e-3));

  const auto evaluate = [&](double& recon, double& commit, double& perplexity) {
    kx::no_grad_guard no_grad;
    model.quantizer->eval();
    const auto r = model.run(test);
    model.quantizer->train();
    recon = r.recon_loss.item();
    commit = r.vq.commitment_loss.item() / kx::mean(kx::square(r.z)).item();  // ‖z − z_q‖² / ‖z‖²
    perplexity = model.quantizer->perplexity();
  };

  double first_recon = 0, first_commit = 0, recon = 0, commit = 0, perplexity = 0;
  for (int step = 1; step <= steps; ++step) {
    const kx::index_t start = ((step - 1) * batch) % (train_n - batch + 1);
    const auto r = model.run(rows(train, start, batch));
    opt.zero_grad();
    r.loss.backward();
    opt.step();
    if (step == 1 || step % (steps / 6) == 0) {
      evaluate(recon, commit, perplexity);
      if (step == 1) first_recon = recon, first_commit = commit;
      std::printf("step %5d  test recon MSE %.5f  |z - z_q|^2/|z|^2 %.4f  perplexity %6.2f  dead codes %lld\n", step,
                  recon, commit, perplexity, static_cast<long long>(model.quantizer->dead_codes()));
    }
  }

  // Straight-through: the gradient of the reconstruction loss reaching the encoder output equals the one at the
  // decoder input (the quantiser passes it through unchanged).
  const auto r = model.run(rows(test, 0, batch));
  const auto g = kx::grad({r.recon_loss}, {r.z, r.decoder_input});
  double max_diff = 0, max_grad = 0;
  for (kx::index_t i = 0; i < g[0].numel(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(g[0].data()[i] - g[1].data()[i])));
    max_grad = std::max(max_grad, static_cast<double>(std::fabs(g[1].data()[i])));
  }
  std::printf("straight-through: max |dL/dz - dL/d(decoder input)| = %.3g, max |dL/d(decoder input)| = %.3g\n",
              max_diff, max_grad);

  bool pass = true;
  pass &= claim("recon_mse_final_over_first", recon / first_recon, "<= 0.5", recon <= 0.5 * first_recon);
  pass &= claim("relative_quantisation_error_final_over_first", commit / first_commit, "<= 0.5",
                commit <= 0.5 * first_commit);
  pass &= claim("codebook_perplexity", perplexity, ">= 4 of 64", perplexity >= 4);
  const auto used = static_cast<double>(codes - model.quantizer->dead_codes());
  pass &= claim("codes_used_in_training", used, ">= 48 of 64", used >= 48);
  pass &= claim("straight_through_max_grad_diff", max_diff, "<= 1e-6 * max|grad|",
                max_grad > 0 && max_diff <= 1e-6 * max_grad);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
