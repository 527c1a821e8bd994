// SPDX-License-Identifier: MIT
// The 2-D toy data of the GAN examples (A11 wgan_gp_toy2d, A18 gan_single_loss): 8 Gaussians (σ = 0.05) on a
// ring of radius 2, and how well a batch of generated points covers them.
#pragma once

#include <cmath>   // std::cos, std::sin, std::hypot
#include <vector>  // per-mode counts

#include <kexue/kexue.hpp>

namespace kexue_examples {

struct gaussian_ring {
  static constexpr int modes = 8;
  static constexpr double radius = 2.0;
  static constexpr double sigma = 0.05;
  static constexpr double near_mode = 0.2;  ///< a point within 4σ of a centre is "near" that mode

  /// The centre of mode m: radius · (cos 2πm/8, sin 2πm/8).
  static double centre_x(int m) { return radius * std::cos(2 * std::acos(-1.0) * m / modes); }
  static double centre_y(int m) { return radius * std::sin(2 * std::acos(-1.0) * m / modes); }

  /// n points [n, 2]: a uniformly chosen mode plus N(0, σ²) noise on each coordinate.
  template <class T>
  static kexue::tensor<T> sample(kexue::index_t n, kexue::generator& gen) {
    auto x = kexue::tensor<T>::empty({n, 2});
    for (kexue::index_t i = 0; i < n; ++i) {
      const int m = static_cast<int>(gen.below(modes));
      x(i, 0) = static_cast<T>(centre_x(m) + sigma * gen.normal());
      x(i, 1) = static_cast<T>(centre_y(m) + sigma * gen.normal());
    }
    return x;
  }

  struct coverage {
    int modes_hit = 0;  ///< modes holding at least 2% of the points (counting only points near a mode)
    double near = 0;    ///< fraction of the points within near_mode of their closest centre
  };

  /// Coverage of the points x [n, 2].
  template <class T>
  static coverage measure(const kexue::tensor<T>& x) {
    std::vector<int> counts(modes, 0);
    int near = 0;
    const kexue::index_t n = x.size(0);
    for (kexue::index_t i = 0; i < n; ++i) {
      int best = 0;
      double best_d = 1e30;
      for (int m = 0; m < modes; ++m) {
        const double d = std::hypot(x(i, 0) - centre_x(m), x(i, 1) - centre_y(m));
        if (d < best_d) best_d = d, best = m;
      }
      if (best_d <= near_mode) ++counts[static_cast<std::size_t>(best)], ++near;
    }
    coverage c;
    for (int m = 0; m < modes; ++m) c.modes_hit += counts[static_cast<std::size_t>(m)] >= 0.02 * n;
    c.near = static_cast<double>(near) / static_cast<double>(n);
    return c;
  }
};

}  // namespace kexue_examples
