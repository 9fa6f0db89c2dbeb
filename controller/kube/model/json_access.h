#pragma once
// Tolerant field access for API JSON. Kubernetes objects come from the network, so a field
// of the wrong type is treated like a missing one (ignored), never thrown into a caller.
// Internal helpers of the model library; typed views are the public surface.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace carplb::controller::kube::json_access {

using Json = nlohmann::json;

inline const Json* field(const Json& obj, std::string_view key) {
  if (!obj.is_object()) {
    return nullptr;
  }
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

inline const Json* objectField(const Json& obj, std::string_view key) {
  const Json* f = field(obj, key);
  return f != nullptr && f->is_object() ? f : nullptr;
}

inline const Json* arrayField(const Json& obj, std::string_view key) {
  const Json* f = field(obj, key);
  return f != nullptr && f->is_array() ? f : nullptr;
}

inline std::string str(const Json& obj, std::string_view key) {
  const Json* f = field(obj, key);
  return f != nullptr && f->is_string() ? f->get<std::string>() : std::string{};
}

inline std::optional<std::string> optStr(const Json& obj, std::string_view key) {
  const Json* f = field(obj, key);
  if (f != nullptr && f->is_string()) {
    return f->get<std::string>();
  }
  return std::nullopt;
}

inline std::optional<int64_t> optInt(const Json& obj, std::string_view key) {
  const Json* f = field(obj, key);
  if (f == nullptr) {
    return std::nullopt;
  }
  if (f->is_number_integer()) {
    return f->get<int64_t>();
  }
  if (f->is_number_unsigned()) {
    uint64_t u = f->get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) {
      return static_cast<int64_t>(u);
    }
  }
  return std::nullopt;
}

inline int64_t integer(const Json& obj, std::string_view key, int64_t dflt = 0) {
  return optInt(obj, key).value_or(dflt);
}

inline std::optional<bool> optBool(const Json& obj, std::string_view key) {
  const Json* f = field(obj, key);
  if (f != nullptr && f->is_boolean()) {
    return f->get<bool>();
  }
  return std::nullopt;
}

inline std::vector<std::string> strList(const Json& obj, std::string_view key) {
  std::vector<std::string> out;
  if (const Json* a = arrayField(obj, key)) {
    for (const auto& e : *a) {
      if (e.is_string()) {
        out.push_back(e.get<std::string>());
      }
    }
  }
  return out;
}

inline std::map<std::string, std::string> strMap(const Json& obj, std::string_view key) {
  std::map<std::string, std::string> out;
  if (const Json* m = objectField(obj, key)) {
    for (const auto& [k, v] : m->items()) {
      if (v.is_string()) {
        out.emplace(k, v.get<std::string>());
      }
    }
  }
  return out;
}

}  // namespace carplb::controller::kube::json_access
