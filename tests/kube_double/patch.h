#pragma once
// The three PATCH flavours kubectl and controllers send:
//   application/merge-patch+json           RFC 7386 (kubectl annotate/label, controllers)
//   application/strategic-merge-patch+json kubectl apply/edit/cordon: lists with a known merge
//                                          key are merged by that key, $patch/$retainKeys/
//                                          $deleteFromPrimitiveList directives are honoured,
//                                          $setElementOrder is accepted and ignored
//   application/json-patch+json            RFC 6902
// Merge keys come from a fixed table of field names (see mergeKeyFor), not from OpenAPI.
#include "kube_double/api_status.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace carplb::kubedouble {

enum class PatchType { Merge, StrategicMerge, Json };

// From a Content-Type header (parameters ignored); BadRequest-like 415 when unknown.
ApiResult<PatchType> patchTypeFromContentType(std::string_view contentType);

ApiResult<nlohmann::json> applyPatch(const nlohmann::json& original, const nlohmann::json& patch, PatchType type);

nlohmann::json strategicMerge(const nlohmann::json& original, const nlohmann::json& patch);

// The merge key of a list field ("containers" -> "name"), empty when the list is atomic.
// `sample` is an element of the patch list (used to tell Service ports from container ports).
std::string mergeKeyFor(std::string_view field, const nlohmann::json& sample);

}  // namespace carplb::kubedouble
