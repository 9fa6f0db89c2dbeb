#include "kube_double/api_status.h"

namespace carplb::kubedouble {

nlohmann::json ApiError::toStatus() const {
  nlohmann::json s = {{"kind", "Status"},      {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                      {"status", "Failure"},   {"message", message}, {"reason", reason},
                      {"code", code}};
  if (!details.empty()) {
    s["details"] = details;
  }
  return s;
}

ApiError badRequest(std::string message) { return ApiError{400, "BadRequest", std::move(message), {}}; }

ApiError notFound(const std::string& resource, const std::string& name) {
  return ApiError{404, "NotFound", resource + " \"" + name + "\" not found", {{"name", name}, {"kind", resource}}};
}

ApiError alreadyExists(const std::string& resource, const std::string& name) {
  return ApiError{409, "AlreadyExists", resource + " \"" + name + "\" already exists",
                  {{"name", name}, {"kind", resource}}};
}

ApiError conflict(const std::string& resource, const std::string& name, const std::string& why) {
  return ApiError{409, "Conflict", "Operation cannot be fulfilled on " + resource + " \"" + name + "\": " + why,
                  {{"name", name}, {"kind", resource}}};
}

ApiError invalid(const std::string& kind, const std::string& name, const std::string& message) {
  return ApiError{422, "Invalid", kind + " \"" + name + "\" is invalid: " + message, {{"name", name}, {"kind", kind}}};
}

ApiError gone(std::string message) { return ApiError{410, "Expired", std::move(message), {}}; }

ApiError methodNotAllowed(std::string message) { return ApiError{405, "MethodNotAllowed", std::move(message), {}}; }

}  // namespace carplb::kubedouble
