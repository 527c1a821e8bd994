// SPDX-License-Identifier: MIT
// Reader of the PyTorch reference data in tests/reference/data/ (written by tests/reference/make_reference.py).
#pragma once

#include <cmath>    // std::nearbyint
#include <cstdlib>  // std::strtod, std::strtoll, std::getenv
#include <fstream>  // std::ifstream
#include <map>
#include <sstream>  // line splitting
#include <string>
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::testing {

/// Directory holding the data files: $KEXUE_REFERENCE_DIR when set, otherwise `data/` beside this header,
/// found from __FILE__ (absolute in CMake builds; relative to the compiler's working directory in a hand
/// build, which is then also where the test must run).
inline std::string reference_data_dir() {
  if (const char* env = std::getenv("KEXUE_REFERENCE_DIR"); env != nullptr && *env != '\0') return env;
  const std::string here = __FILE__;
  const auto slash = here.find_last_of("/\\");
  return (slash == std::string::npos ? std::string(".") : here.substr(0, slash)) + "/data";
}

/// One data file, `<reference_data_dir()>/<family>.txt`, read whole. Each line
/// `<name> shape=[2,3] dtype=float64 values=v0 v1 ...` is one tensor (row-major; dtype float64, int64 or
/// bool as 0/1); lines starting with '#' are comments. Every accessor returns a fresh tensor, so a test can
/// mark it requires_grad without affecting other reads. Errors: io_error for a missing or malformed file,
/// value_error for an unknown name or a dtype that does not match the accessor.
class reference_file {
 public:
  explicit reference_file(const std::string& family) : path_(reference_data_dir() + "/" + family + ".txt") {
    std::ifstream in(path_);
    KEXUE_CHECK(in.good(), io_error, "reference data", "cannot open '", path_,
                "' (generate it with tests/reference/make_reference.py, or point KEXUE_REFERENCE_DIR at the "
                "data directory)");
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.empty() || line[0] == '#') continue;
      parse_line(line, number);
    }
    KEXUE_CHECK(!entries_.empty(), io_error, "reference data", "'", path_, "' holds no tensors");
  }

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return entries_.count(name) != 0; }

  /// A float64 tensor; int64 and bool entries (indices, masks, argmax results) are converted to double,
  /// so any entry can serve as an expected value.
  tensor<double> get(const std::string& name) const {
    const entry& e = find(name);
    auto t = tensor<double>::empty(e.dims);
    for (index_t i = 0; i < e.dims.numel(); ++i) t.data()[i] = e.values[static_cast<std::size_t>(i)];
    return t;
  }
  /// An int64 entry (indices).
  tensor<index_t> indices(const std::string& name) const {
    const entry& e = find(name, "int64");
    auto t = tensor<index_t>::empty(e.dims);
    for (index_t i = 0; i < e.dims.numel(); ++i)
      t.data()[i] = static_cast<index_t>(e.values[static_cast<std::size_t>(i)]);
    return t;
  }
  /// A bool entry (masks).
  tensor<bool> mask(const std::string& name) const {
    const entry& e = find(name, "bool");
    auto t = tensor<bool>::empty(e.dims);
    for (index_t i = 0; i < e.dims.numel(); ++i) t.data()[i] = e.values[static_cast<std::size_t>(i)] != 0;
    return t;
  }

 private:
  struct entry {
    shape dims;
    std::string dtype;
    std::vector<double> values;
  };

  const entry& find(const std::string& name, const char* dtype = nullptr) const {
    const auto it = entries_.find(name);
    KEXUE_CHECK(it != entries_.end(), value_error, "reference data", "no tensor '", name, "' in '", path_, "'");
    KEXUE_CHECK(dtype == nullptr || it->second.dtype == dtype, value_error, "reference data", "tensor '", name,
                "' in '", path_, "' is ", it->second.dtype, ", not ", dtype);
    return it->second;
  }

  [[noreturn]] void malformed(int number, const std::string& what) const {
    KEXUE_THROW(io_error, "reference data", path_, ":", number, ": ", what);
  }

  /// Reads `name shape=[..] dtype=.. values=..` into entries_.
  void parse_line(const std::string& line, int number) {
    std::istringstream words(line);
    std::string name, shape_word, dtype_word, first_value;
    words >> name >> shape_word >> dtype_word >> first_value;
    const auto starts = [](const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; };
    if (!starts(shape_word, "shape=[") || shape_word.back() != ']') malformed(number, "expected shape=[..]");
    if (!starts(dtype_word, "dtype=")) malformed(number, "expected dtype=..");
    if (!starts(first_value, "values=")) malformed(number, "expected values=..");
    entry e;
    e.dtype = dtype_word.substr(6);
    if (e.dtype != "float64" && e.dtype != "int64" && e.dtype != "bool") malformed(number, "unknown " + dtype_word);

    const std::string dims = shape_word.substr(7, shape_word.size() - 8);  // between the brackets
    std::istringstream dim_words(dims);
    for (std::string d; std::getline(dim_words, d, ',');) {
      char* end = nullptr;
      const long long v = std::strtoll(d.c_str(), &end, 10);
      if (d.empty() || *end != '\0' || v < 0) malformed(number, "bad dimension '" + d + "'");
      e.dims.push_back(static_cast<index_t>(v));
    }

    std::string word = first_value.substr(7);
    do {
      if (word.empty()) continue;  // "values=" of an empty tensor
      char* end = nullptr;
      const double v = std::strtod(word.c_str(), &end);  // exact for repr() text; also reads inf, -inf, nan
      if (*end != '\0') malformed(number, "bad value '" + word + "' in " + name);
      if (e.dtype != "float64" && v != std::nearbyint(v)) malformed(number, "non-integer '" + word + "' in " + name);
      e.values.push_back(v);
    } while (words >> word);

    if (static_cast<index_t>(e.values.size()) != e.dims.numel()) {
      malformed(number, name + " has " + std::to_string(e.values.size()) + " values for shape " + format_shape(e.dims));
    }
    if (!entries_.emplace(name, std::move(e)).second) malformed(number, "tensor " + name + " defined twice");
  }

  std::string path_;
  std::map<std::string, entry> entries_;
};

}  // namespace kexue::testing
