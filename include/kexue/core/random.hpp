// SPDX-License-Identifier: MIT
// kexue::generator: a seeded pseudo-random generator whose streams are identical on every platform.
#pragma once

#include <array>    // state()
#include <cmath>    // std::log, std::sqrt, std::cos, std::sin
#include <cstdint>  // std::uint64_t
#include <cstring>  // std::memcpy of the cached normal

#include <kexue/core/error.hpp>

namespace kexue {
namespace detail {
__extension__ typedef unsigned __int128 uint128;  // GCC/Clang builtin; __extension__ silences -Wpedantic
}  // namespace detail

/// xoshiro256** seeded through splitmix64 (Blackman & Vigna). Every draw is defined here bit for bit,
/// so the same seed gives the same numbers with any compiler and standard library. Normal draws use the
/// Box–Muller transform with std::log/std::sqrt/std::cos (sqrt is exact in IEEE-754; log and cos are
/// faithfully rounded by every mainstream libm, so results agree in practice to the last bit).
class generator {
 public:
  /// Default seed used by functions that are not given a generator.
  static constexpr std::uint64_t default_seed = 5489;

  explicit generator(std::uint64_t seed = default_seed) { this->seed(seed); }

  /// Restarts the stream from `seed`.
  void seed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : state_) s = splitmix64(x);
    has_spare_normal_ = false;
  }

  /// The full state (the four xoshiro words, then the cached normal draw as its bit pattern and a 0/1 flag),
  /// for checkpoints: `g.set_state(g.state())` resumes the stream exactly.
  std::array<std::uint64_t, 6> state() const {
    std::uint64_t spare = 0;
    std::memcpy(&spare, &spare_normal_, sizeof spare);
    return {state_[0], state_[1], state_[2], state_[3], spare, has_spare_normal_ ? 1u : 0u};
  }
  /// Restores a state returned by state(). @throws value_error for an all-zero xoshiro state (never produced
  /// by seeding; the generator would only ever return zeros).
  void set_state(const std::array<std::uint64_t, 6>& s) {
    KEXUE_CHECK(s[0] != 0 || s[1] != 0 || s[2] != 0 || s[3] != 0, value_error, "generator::set_state",
                "the xoshiro256** state must not be all zeros");
    for (int i = 0; i < 4; ++i) state_[i] = s[static_cast<std::size_t>(i)];
    std::memcpy(&spare_normal_, &s[4], sizeof spare_normal_);
    has_spare_normal_ = s[5] != 0;
  }

  /// 64 uniformly distributed bits.
  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  /// Uniform double in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }

  /// Standard normal draw (Box–Muller; the second value of each pair is kept for the next call).
  double normal() {
    if (has_spare_normal_) {
      has_spare_normal_ = false;
      return spare_normal_;
    }
    double u1 = 0;
    do {
      u1 = uniform();
    } while (u1 <= 0.0);
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    constexpr double two_pi = 6.283185307179586476925286766559;
    spare_normal_ = r * std::sin(two_pi * u2);
    has_spare_normal_ = true;
    return r * std::cos(two_pi * u2);
  }

  /// Uniform integer in [0, n), without modulo bias (Lemire's multiply-and-reject). Requires n > 0.
  std::uint64_t below(std::uint64_t n) {
    KEXUE_CHECK(n > 0, value_error, "generator::below", "n must be positive (got ", n, ")");
    std::uint64_t x = next_u64();
    detail::uint128 m = static_cast<detail::uint128>(x) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        x = next_u64();
        m = static_cast<detail::uint128>(x) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  std::uint64_t state_[4] = {};
  double spare_normal_ = 0;
  bool has_spare_normal_ = false;
};

/// @brief The process-wide generator, used where no generator is passed (layer initialisation:
/// `nn::linear<float> fc(opts)` draws its weights from it). It starts from generator::default_seed, so a
/// program that builds its model the same way gets the same weights on every run and platform.
/// Not synchronised: seed it and draw from it on one thread (where models are built); pass an explicit
/// generator to code that runs on several threads.
inline generator& default_generator() {
  static generator gen;
  return gen;
}

/// Restarts the process-wide generator from `seed` (as torch.manual_seed).
inline void manual_seed(std::uint64_t seed) { default_generator().seed(seed); }

}  // namespace kexue
