// SPDX-License-Identifier: MIT
// io::save / io::load: a state_dict to and from a file in kexue's binary format, written atomically.
#pragma once

#include <array>     // the CRC table
#include <cstdint>   // fixed-width header fields
#include <cstring>   // std::memcpy
#include <fstream>   // reading
#include <iterator>  // std::istreambuf_iterator
#include <string>
#include <type_traits>
#include <variant>

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/state_dict.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/io/atomic_file.hpp>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kexue/io/serialize.hpp: the file format is little-endian and big-endian hosts are not supported yet"
#endif

namespace kexue::io {

/// @file
/// File format (version 1, little-endian), one state_dict per file:
///
///     "KEXUESD\n"                      8-byte magic
///     u32  version (1)
///     u64  number of entries
///     per entry, in the state_dict's order:
///       u32 name length, name bytes (UTF-8, no terminator)
///       u8  dtype: 1 float32, 2 float64, 3 int64, 4 bool (one byte per element, 0 or 1)
///       u8  rank, then rank × i64 dimensions
///       the elements, row-major, raw
///     u32  CRC-32 (IEEE 802.3, as zlib's crc32) of every byte before it
///
/// Loading checks the magic, the version, every length against the bytes left, and the CRC, so a truncated
/// or corrupted file is an io_error, never a crash or silently wrong values.

namespace detail {

/// CRC-32 with the reflected IEEE polynomial 0xEDB88320 (the checksum of zlib, gzip and PNG).
inline std::uint32_t crc32(const unsigned char* data, std::size_t size, std::uint32_t crc = 0) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

constexpr char state_magic[8] = {'K', 'E', 'X', 'U', 'E', 'S', 'D', '\n'};
constexpr std::uint32_t state_version = 1;

template <class U>
constexpr std::uint8_t dtype_code() {
  if constexpr (std::is_same_v<U, float>) return 1;
  if constexpr (std::is_same_v<U, double>) return 2;
  if constexpr (std::is_same_v<U, index_t>) return 3;
  return 4;  // bool
}

/// Appends to a byte string (the whole file is built in memory, then checksummed and written at once).
inline void put(std::string& out, const void* data, std::size_t bytes) {
  out.append(static_cast<const char*>(data), bytes);
}
template <class Pod>
void put_value(std::string& out, const Pod& value) {
  put(out, &value, sizeof(Pod));
}

/// Reads from a byte string with bounds checks; `what` names the file in errors.
class byte_reader {
 public:
  byte_reader(const std::string& bytes, std::size_t end, const std::string& what)
      : bytes_(bytes), end_(end), what_(what) {}
  void read(void* out, std::size_t n, const std::string& context) {
    if (n > end_ - pos_) KEXUE_THROW(io_error, "load", what_, " is truncated (", context, ")");
    std::memcpy(out, bytes_.data() + pos_, n);
    pos_ += n;
  }
  template <class Pod>
  Pod value(const std::string& context) {
    Pod v{};
    read(&v, sizeof(Pod), context);
    return v;
  }
  std::size_t left() const { return end_ - pos_; }

 private:
  const std::string& bytes_;
  std::size_t end_;
  std::size_t pos_ = 0;
  const std::string& what_;
};

template <class U>
any_tensor read_elements(byte_reader& in, const shape& s, const std::string& context) {
  const std::size_t bytes = static_cast<std::size_t>(s.numel()) * sizeof(U);
  if (bytes > in.left()) in.read(nullptr, bytes, context);  // throws "truncated" before allocating
  auto t = tensor<U>::empty(s);
  in.read(t.data(), bytes, context);
  return any_tensor(t);
}

}  // namespace detail

/// The bytes of `state` in kexue's format (what save() writes).
inline std::string to_bytes(const state_dict& state) {
  std::string out(detail::state_magic, sizeof(detail::state_magic));
  detail::put_value(out, detail::state_version);
  detail::put_value(out, static_cast<std::uint64_t>(state.size()));
  for (const auto& [name, value] : state) {
    detail::put_value(out, static_cast<std::uint32_t>(name.size()));
    detail::put(out, name.data(), name.size());
    std::visit(
        [&out](const auto& t) {
          using U = typename std::decay_t<decltype(t)>::value_type;
          detail::put_value(out, detail::dtype_code<U>());
          detail::put_value(out, static_cast<std::uint8_t>(t.rank()));
          for (index_t d : t.shape()) detail::put_value(out, static_cast<std::int64_t>(d));
          detail::put(out, t.data(), static_cast<std::size_t>(t.numel()) * sizeof(U));
        },
        value);
  }
  const std::uint32_t crc = detail::crc32(reinterpret_cast<const unsigned char*>(out.data()), out.size());
  detail::put_value(out, crc);
  return out;
}

/// Parses bytes written by to_bytes()/save(). `what` names the source in errors.
/// @throws io_error for a wrong magic or version, a truncated or corrupted (CRC mismatch) input, or an
/// unknown dtype or rank.
inline state_dict from_bytes(const std::string& bytes, const std::string& what = "input") {
  KEXUE_CHECK(bytes.size() >= sizeof(detail::state_magic) + 4 + 8 + 4 &&
                  std::memcmp(bytes.data(), detail::state_magic, sizeof(detail::state_magic)) == 0,
              io_error, "load", what, " is not a kexue state file (wrong magic or too short)");
  const std::size_t body = bytes.size() - 4;
  std::uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + body, 4);
  const std::uint32_t actual = detail::crc32(reinterpret_cast<const unsigned char*>(bytes.data()), body);
  KEXUE_CHECK(stored == actual, io_error, "load", what, " is corrupted or truncated (checksum mismatch)");
  detail::byte_reader in(bytes, body, what);
  char magic[sizeof(detail::state_magic)];
  in.read(magic, sizeof(magic), "magic");
  const auto version = in.value<std::uint32_t>("version");
  KEXUE_CHECK(version == detail::state_version, io_error, "load", what, " has format version ", version,
              ", this kexue reads version ", detail::state_version);
  const auto count = in.value<std::uint64_t>("entry count");
  state_dict out;
  for (std::uint64_t e = 0; e < count; ++e) {
    const std::string entry = "entry " + std::to_string(e);
    const auto length = in.value<std::uint32_t>(entry);
    std::string name(length, '\0');
    in.read(name.data(), length, entry + " name");
    const std::string context = entry + " '" + name + "'";
    const auto dtype = in.value<std::uint8_t>(context);
    const auto rank = in.value<std::uint8_t>(context);
    KEXUE_CHECK(rank <= shape::max_rank, io_error, "load", what, ": ", context, " has rank ", int(rank), " (at most ",
                shape::max_rank, ")");
    shape s;
    for (int d = 0; d < rank; ++d) {
      const auto dim = in.value<std::int64_t>(context);
      KEXUE_CHECK(dim >= 0, io_error, "load", what, ": ", context, " has a negative dimension ", dim);
      s.push_back(static_cast<index_t>(dim));
    }
    switch (dtype) {
      case 1:
        out.insert_any(name, detail::read_elements<float>(in, s, context));
        break;
      case 2:
        out.insert_any(name, detail::read_elements<double>(in, s, context));
        break;
      case 3:
        out.insert_any(name, detail::read_elements<index_t>(in, s, context));
        break;
      case 4:
        out.insert_any(name, detail::read_elements<bool>(in, s, context));
        break;
      default:
        KEXUE_THROW(io_error, "load", what, ": ", context, " has unknown dtype code ", int(dtype));
    }
  }
  KEXUE_CHECK(in.left() == 0, io_error, "load", what, " has ", in.left(), " unexpected bytes after the last entry");
  return out;
}

/// @brief Writes `state` to `path` atomically (io::atomic_write): the previous file stays intact if
/// anything fails. Use with modules: `io::save(model.state_dict(), "model.kx")`.
/// @throws io_error naming the file and the reason.
inline void save(const state_dict& state, const std::string& path) {
  const std::string bytes = to_bytes(state);
  atomic_write(path, [&bytes](file_writer& out) { out.write(bytes.data(), bytes.size()); });
}

/// @brief Reads a state_dict written by save(): `model.load_state_dict(io::load("model.kx"))`.
/// @throws io_error for a missing, unreadable, truncated or corrupted file, naming it.
inline state_dict load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KEXUE_CHECK(in.good(), io_error, "load", "cannot open '", path, "'");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  KEXUE_CHECK(!in.bad(), io_error, "load", "cannot read '", path, "'");
  return from_bytes(bytes, "'" + path + "'");
}

}  // namespace kexue::io
