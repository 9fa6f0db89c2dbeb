#pragma once
// Errors of the API server double, shaped like Kubernetes' metav1.Status. The store and the
// HTTP shell exchange ApiResult<T>: a value or an ApiError with the HTTP code and reason the
// real kube-apiserver would answer.
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <variant>

namespace carplb::kubedouble {

struct ApiError {
  int code = 500;
  std::string reason;   // "NotFound", "Conflict", "Invalid", "Expired", ...
  std::string message;  // names the object and field
  nlohmann::json details = nlohmann::json::object();

  // The metav1.Status body for this error.
  nlohmann::json toStatus() const;
};

ApiError badRequest(std::string message);
ApiError notFound(const std::string& resource, const std::string& name);
ApiError alreadyExists(const std::string& resource, const std::string& name);
ApiError conflict(const std::string& resource, const std::string& name, const std::string& why);
ApiError invalid(const std::string& kind, const std::string& name, const std::string& message);
ApiError gone(std::string message);
ApiError methodNotAllowed(std::string message);

template <typename T>
class [[nodiscard]] ApiResult {
public:
  ApiResult(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  ApiResult(ApiError error) : v_(std::move(error)) {}     // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  const ApiError& error() const { return std::get<1>(v_); }

private:
  std::variant<T, ApiError> v_;
};

}  // namespace carplb::kubedouble
