#include "kube_double/patch.h"

#include "kube_double/json_util.h"

#include <algorithm>

namespace carplb::kubedouble {

namespace {

constexpr std::string_view SetElementOrderPrefix = "$setElementOrder/";
constexpr std::string_view DeleteFromPrimitivePrefix = "$deleteFromPrimitiveList/";

bool isPrimitiveMergeList(std::string_view field) { return field == "finalizers"; }

nlohmann::json stripDirectives(const nlohmann::json& v) {
  if (!v.is_object()) {
    return v;
  }
  nlohmann::json out = nlohmann::json::object();
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    if (k == "$patch" || k == "$retainKeys" || k.rfind(SetElementOrderPrefix, 0) == 0 ||
        k.rfind(DeleteFromPrimitivePrefix, 0) == 0) {
      continue;
    }
    if (it->is_null()) {
      continue;
    }
    out[k] = it->is_object() ? stripDirectives(*it) : *it;
  }
  return out;
}

nlohmann::json mergeList(const nlohmann::json& original, const nlohmann::json& patch, std::string_view field) {
  nlohmann::json sample = nlohmann::json::object();
  for (const auto& p : patch) {
    if (p.is_object() && !p.contains("$patch")) {
      sample = p;
      break;
    }
  }
  for (const auto& p : patch) {
    if (p.is_object() && stringField(p, "$patch", "") == "replace") {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& q : patch) {
        if (!(q.is_object() && q.contains("$patch"))) {
          out.push_back(stripDirectives(q));
        }
      }
      return out;
    }
  }
  if (isPrimitiveMergeList(field)) {
    nlohmann::json out = original.is_array() ? original : nlohmann::json::array();
    for (const auto& p : patch) {
      if (std::find(out.begin(), out.end(), p) == out.end()) {
        out.push_back(p);
      }
    }
    return out;
  }
  const std::string key = mergeKeyFor(field, sample);
  if (key.empty() || !original.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : patch) {
      if (!(p.is_object() && stringField(p, "$patch", "") == "delete")) {
        out.push_back(stripDirectives(p));
      }
    }
    return out;
  }
  nlohmann::json out = original;
  for (const auto& p : patch) {
    if (!p.is_object() || !p.contains(key)) {
      out.push_back(p);
      continue;
    }
    auto same = [&](const nlohmann::json& e) { return e.is_object() && e.contains(key) && e[key] == p[key]; };
    if (stringField(p, "$patch", "") == "delete") {
      nlohmann::json kept = nlohmann::json::array();
      for (const auto& e : out) {
        if (!same(e)) {
          kept.push_back(e);
        }
      }
      out = std::move(kept);
      continue;
    }
    auto it = std::find_if(out.begin(), out.end(), same);
    if (it != out.end()) {
      *it = strategicMerge(*it, p);
    } else {
      out.push_back(stripDirectives(p));
    }
  }
  return out;
}

}  // namespace

std::string mergeKeyFor(std::string_view field, const nlohmann::json& sample) {
  if (field == "ports") {
    return sample.is_object() && sample.contains("containerPort") ? "containerPort" : "port";
  }
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" || field == "env" ||
      field == "volumes" || field == "imagePullSecrets") {
    return "name";
  }
  if (field == "volumeMounts") {
    return "mountPath";
  }
  if (field == "conditions" || field == "addresses") {
    return "type";
  }
  if (field == "taints") {
    return "key";
  }
  if (field == "ownerReferences") {
    return "uid";
  }
  return "";
}

nlohmann::json strategicMerge(const nlohmann::json& original, const nlohmann::json& patch) {
  if (!patch.is_object()) {
    return patch;
  }
  const std::string directive = stringField(patch, "$patch", "");
  if (directive == "replace") {
    return stripDirectives(patch);
  }
  if (directive == "delete") {
    return nullptr;
  }
  nlohmann::json result = original.is_object() ? original : nlohmann::json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    if (k == "$patch" || k == "$retainKeys" || k.rfind(SetElementOrderPrefix, 0) == 0) {
      continue;
    }
    if (k.rfind(DeleteFromPrimitivePrefix, 0) == 0) {
      const std::string field = k.substr(DeleteFromPrimitivePrefix.size());
      if (result.contains(field) && result[field].is_array() && it->is_array()) {
        nlohmann::json kept = nlohmann::json::array();
        for (const auto& e : result[field]) {
          if (std::find(it->begin(), it->end(), e) == it->end()) {
            kept.push_back(e);
          }
        }
        result[field] = std::move(kept);
      }
      continue;
    }
    if (it->is_null()) {
      result.erase(k);
    } else if (it->is_object()) {
      nlohmann::json merged = strategicMerge(result.contains(k) ? result[k] : nlohmann::json::object(), *it);
      if (merged.is_null()) {
        result.erase(k);
      } else {
        result[k] = std::move(merged);
      }
    } else if (it->is_array()) {
      result[k] = mergeList(result.contains(k) ? result[k] : nlohmann::json(), *it, k);
    } else {
      result[k] = *it;
    }
  }
  if (patch.contains("$retainKeys") && patch["$retainKeys"].is_array()) {
    const auto& keep = patch["$retainKeys"];
    for (auto it = result.begin(); it != result.end();) {
      if (std::find(keep.begin(), keep.end(), it.key()) == keep.end()) {
        it = result.erase(it);
      } else {
        ++it;
      }
    }
  }
  return result;
}

ApiResult<PatchType> patchTypeFromContentType(std::string_view contentType) {
  std::string_view base = contentType.substr(0, contentType.find(';'));
  while (!base.empty() && base.back() == ' ') {
    base.remove_suffix(1);
  }
  if (base == "application/merge-patch+json") {
    return PatchType::Merge;
  }
  if (base == "application/strategic-merge-patch+json") {
    return PatchType::StrategicMerge;
  }
  if (base == "application/json-patch+json") {
    return PatchType::Json;
  }
  return ApiError{415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types "
                  "include: application/json-patch+json, application/merge-patch+json, "
                  "application/strategic-merge-patch+json (got \"" + std::string(base) + "\")", {}};
}

ApiResult<nlohmann::json> applyPatch(const nlohmann::json& original, const nlohmann::json& patch, PatchType type) {
  switch (type) {
    case PatchType::Merge: {
      nlohmann::json out = original;
      out.merge_patch(patch);
      return out;
    }
    case PatchType::StrategicMerge:
      if (!patch.is_object()) {
        return badRequest("strategic merge patch: body must be a JSON object");
      }
      return strategicMerge(original, patch);
    case PatchType::Json:
      if (!patch.is_array()) {
        return badRequest("json patch: body must be a JSON array of operations");
      }
      try {
        return original.patch(patch);
      } catch (const nlohmann::json::exception& e) {
        return ApiError{422, "Invalid", std::string("json patch: ") + e.what(), {}};
      }
  }
  return badRequest("unknown patch type");
}

}  // namespace carplb::kubedouble
