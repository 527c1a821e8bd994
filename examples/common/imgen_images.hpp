// SPDX-License-Identifier: MIT
// The small images of the image-generation examples (A20 selfmod_dcgan, A19 imle_glo_generation): synthetic
// 16×16 shapes generated in the program, or Fashion-MNIST (the gz IDX files of Debian's dataset-fashion-mnist)
// reduced to 16×16; pixels in [−1, 1] as the DCGAN recipe asks (x/255·2 − 1).
#pragma once

#include <algorithm>  // std::min
#include <cstdint>    // std::uint32_t
#include <cstdio>     // popen, pclose, std::fread (gzip -dc through a pipe)
#include <cstdlib>    // std::strtoull
#include <fstream>    // uncompressed IDX files
#include <iterator>   // std::istreambuf_iterator
#include <string>
#include <vector>

#include <kexue/kexue.hpp>

namespace kexue_examples {

/// Side of the example images: 16×16 keeps conv2d on a CPU fast (a smoke run of a few seconds).
constexpr kexue::index_t imgen_side = 16;

/// `n` synthetic images [n, 1, 16, 16] in [−1, 1]: on a black (−1) background, one white (+1) shape, a filled
/// square (side 4-9) or a filled disc (radius 2-4.5), at a uniformly random position entirely inside the image.
/// Two families of modes with a continuum of sizes and positions: a generator must place a sharp shape.
inline kexue::tensor<float> imgen_synthetic_shapes(kexue::index_t n, kexue::generator& gen) {
  constexpr kexue::index_t s = imgen_side;
  auto x = kexue::full<float>({n, 1, s, s}, -1.0f);
  for (kexue::index_t i = 0; i < n; ++i) {
    float* img = x.data() + i * s * s;
    if (gen.below(2) == 0) {
      const auto w = static_cast<kexue::index_t>(4 + gen.below(6));
      const auto r0 = static_cast<kexue::index_t>(gen.below(static_cast<std::uint64_t>(s - w + 1)));
      const auto c0 = static_cast<kexue::index_t>(gen.below(static_cast<std::uint64_t>(s - w + 1)));
      for (kexue::index_t r = r0; r < r0 + w; ++r)
        for (kexue::index_t c = c0; c < c0 + w; ++c) img[r * s + c] = 1.0f;
    } else {
      const double radius = 2.0 + 2.5 * gen.uniform();
      const double cy = radius + (static_cast<double>(s) - 2 * radius) * gen.uniform();
      const double cx = radius + (static_cast<double>(s) - 2 * radius) * gen.uniform();
      for (kexue::index_t r = 0; r < s; ++r)
        for (kexue::index_t c = 0; c < s; ++c) {
          const double dy = static_cast<double>(r) + 0.5 - cy, dx = static_cast<double>(c) + 0.5 - cx;
          if (dy * dy + dx * dx <= radius * radius) img[r * s + c] = 1.0f;
        }
    }
  }
  return x;
}

/// The bytes of `path` (a gzip file is decompressed by `gzip -dc` through a pipe: kexue has no zlib dependency;
/// an uncompressed file of the same name without ".gz" is read directly when present).
inline std::vector<unsigned char> imgen_read_maybe_gz(const std::string& path) {
  std::vector<unsigned char> bytes;
  std::string plain = path;
  if (plain.size() > 3 && plain.compare(plain.size() - 3, 3, ".gz") == 0) plain.resize(plain.size() - 3);
  if (std::ifstream in{plain, std::ios::binary}) {
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return bytes;
  }
  KEXUE_CHECK(std::ifstream(path).good(), kexue::io_error, "imgen_read_maybe_gz", "no file ", path, " (nor ", plain,
              "); install Debian's dataset-fashion-mnist or pass the directory holding the IDX files");
  const std::string command = "gzip -dc '" + path + "'";
  FILE* pipe = popen(command.c_str(), "r");
  KEXUE_CHECK(pipe != nullptr, kexue::io_error, "imgen_read_maybe_gz", "cannot run ", command);
  unsigned char buffer[1 << 16];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    bytes.insert(bytes.end(), buffer, buffer + got);
  const int status = pclose(pipe);
  KEXUE_CHECK(status == 0 && !bytes.empty(), kexue::io_error, "imgen_read_maybe_gz", command, " failed");
  return bytes;
}

/// The first `limit` training images of Fashion-MNIST in `dir` (train-images-idx3-ubyte[.gz]), 28×28 reduced to
/// 16×16 (2×2 average → 14×14, one pixel of black border around) and scaled to [−1, 1]: [n, 1, 16, 16].
inline kexue::tensor<float> imgen_fashion_mnist(const std::string& dir, kexue::index_t limit) {
  const std::string path = dir + "/train-images-idx3-ubyte.gz";
  const std::vector<unsigned char> bytes = imgen_read_maybe_gz(path);
  const auto be32 = [&](std::size_t at) {
    return (std::uint32_t(bytes[at]) << 24) | (std::uint32_t(bytes[at + 1]) << 16) |
           (std::uint32_t(bytes[at + 2]) << 8) | std::uint32_t(bytes[at + 3]);
  };
  constexpr kexue::index_t in_side = 28, s = imgen_side;
  KEXUE_CHECK(bytes.size() >= 16 && be32(0) == 2051 && be32(8) == in_side && be32(12) == in_side, kexue::io_error,
              "imgen_fashion_mnist", path, " is not an IDX3 file of 28x28 images");
  const kexue::index_t n = std::min<kexue::index_t>(limit, static_cast<kexue::index_t>(be32(4)));
  KEXUE_CHECK(bytes.size() >= 16 + static_cast<std::size_t>(n * in_side * in_side), kexue::io_error,
              "imgen_fashion_mnist", path, " is truncated");
  auto x = kexue::full<float>({n, 1, s, s}, -1.0f);
  for (kexue::index_t i = 0; i < n; ++i) {
    const unsigned char* src = bytes.data() + 16 + i * in_side * in_side;
    for (kexue::index_t r = 0; r < in_side / 2; ++r)
      for (kexue::index_t c = 0; c < in_side / 2; ++c) {
        const double sum = src[2 * r * in_side + 2 * c] + src[2 * r * in_side + 2 * c + 1] +
                           src[(2 * r + 1) * in_side + 2 * c] + src[(2 * r + 1) * in_side + 2 * c + 1];
        x.data()[(i * s + r + 1) * s + c + 1] = static_cast<float>(sum / 4.0 / 255.0 * 2.0 - 1.0);
      }
  }
  return x;
}

/// A batch of `count` rows of `images` drawn uniformly with replacement: [count, ...].
inline kexue::tensor<float> imgen_random_batch(const kexue::tensor<float>& images, kexue::index_t count,
                                               kexue::generator& gen) {
  auto index = kexue::tensor<kexue::index_t>::empty({count});
  for (auto& v : index) v = static_cast<kexue::index_t>(gen.below(static_cast<std::uint64_t>(images.size(0))));
  return kexue::index_select(images, 0, index);
}

/// Parses [--full] [--seed N] [--fashion-mnist [DIR]] (default DIR /usr/share/datasets/fashion-mnist); false after
/// printing the usage for anything else.
struct imgen_options {
  bool full = false, fashion = false;
  std::uint64_t seed = 1;
  std::string dir = "/usr/share/datasets/fashion-mnist";
};
inline bool imgen_parse_options(int argc, char** argv, imgen_options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--full") {
      o.full = true;
    } else if (a == "--seed" && i + 1 < argc) {
      o.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--fashion-mnist") {
      o.fashion = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') o.dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--full] [--seed N] [--fashion-mnist [DIR]]\n", argv[0]);
      return false;
    }
  }
  return true;
}

}  // namespace kexue_examples
