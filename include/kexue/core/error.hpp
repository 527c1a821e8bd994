// SPDX-License-Identifier: MIT
// Exception types and the checking macros used at every public boundary.
#pragma once

#include <cstdio>     // std::fputs
#include <cstdlib>    // std::abort
#include <sstream>    // message building
#include <stdexcept>  // base exception types
#include <string>

#include <kexue/config.hpp>

namespace kexue {

/// Shapes that do not fit an operation: wrong rank, mismatched or non-broadcastable dimensions.
class shape_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A value that is out of its domain: a negative learning rate, an unknown option, a NaN loss.
class value_error : public std::domain_error {
 public:
  using std::domain_error::domain_error;
};

/// An index out of range: an axis, an element, a class label, an embedding row.
class index_error : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

/// Reading or writing a file failed, or a file is not in the expected format.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// Concatenates any streamable values into one string (the message is built only on failure).
template <class... Args>
std::string concat_message(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

/// Throws (or, with KEXUE_NO_EXCEPTIONS, prints and aborts). Out of line and [[noreturn]] so the
/// checking call sites stay small on the hot path; do not inline.
template <class Error>
[[noreturn]] void throw_error(const std::string& message) {
#ifdef KEXUE_NO_EXCEPTIONS
  std::fputs(message.c_str(), stderr);
  std::fputs("\n", stderr);
  std::abort();
#else
  throw Error(message);
#endif
}

}  // namespace detail
}  // namespace kexue

/// Throws `type` with the message `op + ": " + parts...`.
#define KEXUE_THROW(type, op, ...) \
  ::kexue::detail::throw_error<type>(::kexue::detail::concat_message(op, ": ", __VA_ARGS__))

/// Always-on check for public boundaries: `KEXUE_CHECK(cond, shape_error, "matmul", "inner ...", x)`.
#define KEXUE_CHECK(cond, type, op, ...)  \
  do {                                    \
    if (!(cond)) {                        \
      KEXUE_THROW(type, op, __VA_ARGS__); \
    }                                     \
  } while (false)

/// Debug-only check for inner loops (on when NDEBUG is not defined or KEXUE_ENABLE_ASSERT is set).
#ifdef KEXUE_ENABLE_ASSERT
#define KEXUE_ASSERT(cond)                                                                 \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      ::kexue::detail::throw_error<std::logic_error>(                                      \
          ::kexue::detail::concat_message("kexue internal assertion failed: ", #cond, " (", \
                                          __FILE__, ":", __LINE__, ")"));                  \
    }                                                                                      \
  } while (false)
#else
#define KEXUE_ASSERT(cond) ((void)0)
#endif
