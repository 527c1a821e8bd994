// SPDX-License-Identifier: MIT
// io::save / io::load and io::atomic_write: round trips, damaged files, and the no-half-written-file promise.
#include <cstdio>   // std::remove
#include <fstream>  // writing damaged files
#include <string>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/io/atomic_file.hpp>
#include <kexue/io/serialize.hpp>
#include <kexue/nn/linear.hpp>

namespace kx = kexue;
using kx::index_t;
using kx::tensor;

namespace {
std::string temp_path(const char* name) { return std::string("/tmp/kexue_test_io_") + name; }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

kx::state_dict sample_state() {
  kx::state_dict s;
  s.insert("w", tensor<float>{{1.5f, -2}, {3, 4e-20f}});
  s.insert("d", tensor<double>{0.1, -1e300});
  s.insert("step", kx::scalar<index_t>(1234567890123));
  s.insert("mask", tensor<bool>{true, false, true});
  s.insert("empty", kx::zeros<float>({0, 3}));
  return s;
}
}  // namespace

TEST_SUITE("io.serialize") {
  TEST_CASE("crc32 is the IEEE checksum zlib computes") {
    const std::string check = "123456789";  // the standard check value of CRC-32/ISO-HDLC
    CHECK(kx::io::detail::crc32(reinterpret_cast<const unsigned char*>(check.data()), check.size()) == 0xCBF43926u);
  }

  TEST_CASE("every dtype, shape and value survives a round trip through bytes and through a file") {
    const auto s = sample_state();
    const auto back = kx::io::from_bytes(kx::io::to_bytes(s));
    CHECK(back.keys() == s.keys());
    CHECK(back.get<float>("w").to_vector() == s.get<float>("w").to_vector());
    CHECK(back.get<float>("w").shape() == kx::shape{2, 2});
    CHECK(back.get<double>("d").to_vector() == s.get<double>("d").to_vector());
    CHECK(back.get<index_t>("step").item() == 1234567890123);
    CHECK(back.get<bool>("mask").to_vector() == std::vector<bool>{true, false, true});
    CHECK(back.get<float>("empty").shape() == kx::shape{0, 3});
    const auto path = temp_path("roundtrip.kx");
    kx::io::save(s, path);
    CHECK(kx::io::load(path).get<double>("d").to_vector() == s.get<double>("d").to_vector());
    std::remove(path.c_str());
  }

  TEST_CASE("a module saved and loaded gives the same outputs") {
    kx::generator g1(1), g2(2);
    kx::nn::linear<float> a(3, 2, g1), b(3, 2, g2);
    const auto path = temp_path("linear.kx");
    kx::io::save(a.state_dict(), path);
    b.load_state_dict(kx::io::load(path));
    auto x = kx::randn<float>({4, 3}, 9);
    CHECK(a(x).to_vector() == b(x).to_vector());
    std::remove(path.c_str());
  }

  TEST_CASE("damaged files are clear errors") {
    const auto bytes = kx::io::to_bytes(sample_state());
    CHECK_THROWS_WITH_AS(kx::io::from_bytes(bytes.substr(0, bytes.size() - 9), "'m.kx'"),
                         "load: 'm.kx' is corrupted or truncated (checksum mismatch)", kx::io_error);
    std::string flipped = bytes;
    flipped[40] = static_cast<char>(flipped[40] ^ 1);
    CHECK_THROWS_WITH_AS(kx::io::from_bytes(flipped, "'m.kx'"),
                         "load: 'm.kx' is corrupted or truncated (checksum mismatch)", kx::io_error);
    CHECK_THROWS_WITH_AS(kx::io::from_bytes("hello, world, not a state file", "'m.kx'"),
                         "load: 'm.kx' is not a kexue state file (wrong magic or too short)", kx::io_error);
    CHECK_THROWS_WITH_AS(kx::io::load("/nonexistent/dir/m.kx"), "load: cannot open '/nonexistent/dir/m.kx'",
                         kx::io_error);
  }

  TEST_CASE("a failed save leaves the previous file and no temporary behind") {
    const auto path = temp_path("atomic.kx");
    kx::io::save(sample_state(), path);
    const std::string before = read_all(path);
    // The writer fails halfway: after some bytes are written, it throws.
    CHECK_THROWS_AS(kx::io::atomic_write(path,
                                         [](kx::io::file_writer& out) {
                                           out.write("partial", 7);
                                           throw std::runtime_error("disk full (simulated)");
                                         }),
                    std::runtime_error);
    CHECK(read_all(path) == before);
    CHECK(kx::io::load(path).size() == 5);
    std::ifstream temp(path + ".tmp." + std::to_string(static_cast<long>(::getpid())));
    CHECK(!temp.good());
    CHECK_THROWS_WITH_AS(kx::io::save(sample_state(), "/nonexistent/dir/m.kx"),
                         doctest::Contains("save: cannot create '/nonexistent/dir/m.kx.tmp."), kx::io_error);
    std::remove(path.c_str());
  }
}
