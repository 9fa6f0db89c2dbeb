#pragma once
// Result<T>: a value or an Error (C++20 has no std::expected). Used wherever
// untrusted input or the environment can fail; never throws into a core.
#include <string>
#include <utility>
#include <variant>

namespace carplb {

struct Error {
  std::string message;     // human text naming the object and field, e.g. "vhids[2].advskew: must be 0..254"
  bool retryable = false;  // transient (retry with backoff) vs permanent (report, do not loop)
};

template <typename T>
class [[nodiscard]] Result {
public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}        // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
struct Ok {};
using Status = Result<Ok>;
inline Status okStatus() { return Ok{}; }

inline Error makeError(std::string message, bool retryable = false) { return Error{std::move(message), retryable}; }

}  // namespace carplb
