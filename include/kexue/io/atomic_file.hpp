// SPDX-License-Identifier: MIT
// io::atomic_write: replace a file with new contents all at once, or not at all.
#pragma once

#include <cerrno>      // errno
#include <cstdio>      // std::FILE, std::fopen, std::rename, std::remove
#include <cstring>     // std::strerror
#include <functional>  // the writer callback
#include <string>

#include <kexue/core/error.hpp>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // fsync, getpid
#define KEXUE_IO_HAVE_FSYNC 1
#endif

namespace kexue::io {

/// Appends bytes to a file opened by atomic_write; every failure becomes an io_error naming the file.
class file_writer {
 public:
  file_writer(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  void write(const void* data, std::size_t bytes) {
    if (bytes == 0) return;
    if (std::fwrite(data, 1, bytes, file_) != bytes) {
      KEXUE_THROW(io_error, "save", "cannot write '", path_, "': ", std::strerror(errno));
    }
  }
  template <class Pod>
  void write_value(const Pod& value) {
    write(&value, sizeof(Pod));
  }
  const std::string& path() const { return path_; }

 private:
  std::FILE* file_;
  std::string path_;
};

/// @brief Writes a file atomically: `write(writer)` fills a temporary file beside `path` (same directory,
/// so the final rename does not cross file systems), which is flushed, synced to disk (fsync on POSIX) and
/// then renamed over `path`. If anything fails or throws (including `write` itself), the temporary file is
/// removed and `path` keeps its previous contents: a crash mid-save never leaves a half-written file in
/// place of a good one.
/// @throws io_error naming the file and the system's reason; exceptions from `write` propagate unchanged.
inline void atomic_write(const std::string& path, const std::function<void(file_writer&)>& write) {
#ifdef KEXUE_IO_HAVE_FSYNC
  const std::string temp = path + ".tmp." + std::to_string(static_cast<long>(::getpid()));
#else
  const std::string temp = path + ".tmp";
#endif
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) {
    KEXUE_THROW(io_error, "save", "cannot create '", temp, "' (for '", path, "'): ", std::strerror(errno));
  }
  const auto abandon = [&] {
    if (file != nullptr) std::fclose(file);
    file = nullptr;
    std::remove(temp.c_str());
  };
  try {
    file_writer writer(file, path);
    write(writer);
    if (std::fflush(file) != 0) KEXUE_THROW(io_error, "save", "cannot write '", path, "': ", std::strerror(errno));
#ifdef KEXUE_IO_HAVE_FSYNC
    if (::fsync(::fileno(file)) != 0) {
      KEXUE_THROW(io_error, "save", "cannot sync '", path, "' to disk: ", std::strerror(errno));
    }
#endif
    const int closed = std::fclose(file);
    file = nullptr;
    if (closed != 0) KEXUE_THROW(io_error, "save", "cannot close '", temp, "': ", std::strerror(errno));
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
      KEXUE_THROW(io_error, "save", "cannot rename '", temp, "' to '", path, "': ", std::strerror(errno));
    }
  } catch (...) {
    abandon();
    throw;
  }
}

}  // namespace kexue::io
