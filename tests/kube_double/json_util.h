#pragma once
// Type-tolerant field reads: untrusted JSON may hold any type anywhere, and nlohmann's
// value() throws on a type mismatch. These return the default instead.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace carplb::kubedouble {

inline std::string stringField(const nlohmann::json& obj, const char* key, const std::string& dflt = "") {
  if (!obj.is_object()) {
    return dflt;
  }
  auto it = obj.find(key);
  return (it != obj.end() && it->is_string()) ? it->get<std::string>() : dflt;
}

inline bool boolField(const nlohmann::json& obj, const char* key, bool dflt) {
  if (!obj.is_object()) {
    return dflt;
  }
  auto it = obj.find(key);
  return (it != obj.end() && it->is_boolean()) ? it->get<bool>() : dflt;
}

inline int64_t intField(const nlohmann::json& obj, const char* key, int64_t dflt) {
  if (!obj.is_object()) {
    return dflt;
  }
  auto it = obj.find(key);
  return (it != obj.end() && it->is_number_integer()) ? it->get<int64_t>() : dflt;
}

}  // namespace carplb::kubedouble
