#pragma once
// API errors: the meta/v1 Status body every error response carries, and the classification
// of an HTTP status into what the caller must do (kubernetes-api.md "Errors").
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace carplb::controller::kube {

enum class ApiErrorKind {
  None,             // 2xx
  BadRequest,       // 400: our bug
  Unauthorized,     // 401: re-read the token, retry once
  Forbidden,        // 403: log, slow requeue
  NotFound,         // 404: gone
  Conflict,         // 409: re-read, recompute, retry
  Gone,             // 410: relist (expired resourceVersion / continue token)
  Invalid,          // 422: our bug (Warning Event, no tight loop)
  TooManyRequests,  // 429: honour Retry-After
  ServerError,      // 5xx: back off
  Transport,        // no HTTP answer (connect/TLS/timeout/dropped)
  Other,            // anything else
};

std::string_view toString(ApiErrorKind k);
ApiErrorKind classifyHttpStatus(int httpStatus);
// Retrying the same request later can succeed (429, 5xx, transport).
bool isRetryable(ApiErrorKind k);

struct ApiStatus {
  int code = 0;            // Status.code (may differ from the HTTP status, e.g. watch ERROR 410)
  std::string status;      // "Success" | "Failure"
  std::string reason;      // "Expired", "Conflict", "NotFound", ...
  std::string message;
  std::optional<int64_t> retryAfterSeconds;  // details.retryAfterSeconds
};

// A Status object from JSON; nullopt unless it looks like one (kind Status or a code/reason).
std::optional<ApiStatus> parseApiStatus(const nlohmann::json& j);
// Same from body text; tolerant of garbage (returns nullopt).
std::optional<ApiStatus> parseApiStatusText(std::string_view body);

}  // namespace carplb::controller::kube
