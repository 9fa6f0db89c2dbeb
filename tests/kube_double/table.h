#pragma once
// meta.k8s.io/v1 Table output (what `kubectl get` prints) for built-in kinds and for custom
// resources' additionalPrinterColumns, plus the small JSONPath subset CRDs use.
#include "common/clock.h"
#include "kube_double/resource_types.h"

#include <nlohmann/json.hpp>

#include <string_view>
#include <vector>

namespace carplb::kubedouble {

// Values selected by a simple JSONPath: ".a.b", "a.b", "{.a.b}", ".a[0].b", ".a[*].b",
// ".metadata.labels.app\.kubernetes\.io/name" (escaped dots). Unsupported syntax selects nothing.
std::vector<nlohmann::json> evalJsonPath(const nlohmann::json& obj, std::string_view path);

struct TableOptions {
  bool includeObject = true;  // rows carry a PartialObjectMetadata (includeObject=Metadata)
  bool columnDefinitions = true;
};

// The column definitions of a type's table.
nlohmann::json tableColumns(const ResourceType& type);
// One row's cells.
nlohmann::json tableCells(const ResourceType& type, const nlohmann::json& obj, WallTime now);
// A full Table (metadata.resourceVersion is left for the caller).
nlohmann::json renderTable(const ResourceType& type, const std::vector<nlohmann::json>& objects, WallTime now,
                           const TableOptions& options);

}  // namespace carplb::kubedouble
