#include "controller/kube/model/api_status.h"

#include "controller/kube/model/json_access.h"

namespace carplb::controller::kube {

using namespace json_access;

std::string_view toString(ApiErrorKind k) {
  switch (k) {
    case ApiErrorKind::None: return "None";
    case ApiErrorKind::BadRequest: return "BadRequest";
    case ApiErrorKind::Unauthorized: return "Unauthorized";
    case ApiErrorKind::Forbidden: return "Forbidden";
    case ApiErrorKind::NotFound: return "NotFound";
    case ApiErrorKind::Conflict: return "Conflict";
    case ApiErrorKind::Gone: return "Gone";
    case ApiErrorKind::Invalid: return "Invalid";
    case ApiErrorKind::TooManyRequests: return "TooManyRequests";
    case ApiErrorKind::ServerError: return "ServerError";
    case ApiErrorKind::Transport: return "Transport";
    case ApiErrorKind::Other: break;
  }
  return "Other";
}

ApiErrorKind classifyHttpStatus(int s) {
  if (s >= 200 && s < 300) return ApiErrorKind::None;
  switch (s) {
    case 400: return ApiErrorKind::BadRequest;
    case 401: return ApiErrorKind::Unauthorized;
    case 403: return ApiErrorKind::Forbidden;
    case 404: return ApiErrorKind::NotFound;
    case 409: return ApiErrorKind::Conflict;
    case 410: return ApiErrorKind::Gone;
    case 422: return ApiErrorKind::Invalid;
    case 429: return ApiErrorKind::TooManyRequests;
    default: break;
  }
  if (s >= 500 && s < 600) return ApiErrorKind::ServerError;
  return ApiErrorKind::Other;
}

bool isRetryable(ApiErrorKind k) {
  return k == ApiErrorKind::TooManyRequests || k == ApiErrorKind::ServerError || k == ApiErrorKind::Transport;
}

std::optional<ApiStatus> parseApiStatus(const nlohmann::json& j) {
  if (!j.is_object()) {
    return std::nullopt;
  }
  bool isStatusKind = str(j, "kind") == "Status";
  auto code = optInt(j, "code");
  if (!isStatusKind && !code && !field(j, "reason")) {
    return std::nullopt;
  }
  ApiStatus s;
  s.code = code && *code >= 0 && *code < 1000 ? static_cast<int>(*code) : 0;
  s.status = str(j, "status");
  s.reason = str(j, "reason");
  s.message = str(j, "message");
  if (const nlohmann::json* d = objectField(j, "details")) {
    s.retryAfterSeconds = optInt(*d, "retryAfterSeconds");
  }
  return s;
}

std::optional<ApiStatus> parseApiStatusText(std::string_view body) {
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) {
    return std::nullopt;
  }
  return parseApiStatus(j);
}

}  // namespace carplb::controller::kube
