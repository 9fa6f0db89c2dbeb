#pragma once
// The table of resource types the double serves. Built-in types are listed here; custom
// resources are added at runtime from CustomResourceDefinitions (resourceTypesFromCrd).
#include "kube_double/api_status.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace carplb::kubedouble {

struct PrinterColumn {
  std::string name;
  std::string type;  // string, integer, number, boolean, date
  std::string jsonPath;
  std::string description;
  int priority = 0;  // > 0: only with -o wide
};

// What a type's Table output looks like: a built-in printer (by kind) or printer columns.
enum class Printer { Columns, Service, Node, Namespace, ConfigMap, Secret, CoreEvent, EventsEvent, EndpointSlice, Lease, Crd };

struct ResourceType {
  std::string group;  // "" for core/v1
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  std::string listKind;
  bool namespaced = true;
  std::vector<std::string> shortNames;
  std::vector<std::string> categories;
  bool hasStatus = false;           // serves PLURAL/status; main endpoint ignores .status
  bool statusKeepsMetadata = false; // Services: metadata changes through /status are kept
  bool requireRvOnUpdate = false;   // Leases and custom resources: PUT without RV -> 422
  bool hasGeneration = false;       // metadata.generation, bumped on spec change
  Printer printer = Printer::Columns;
  std::vector<PrinterColumn> columns;  // Printer::Columns (custom resources)
  std::string crdName;                 // set for custom resources

  std::string groupVersion() const { return group.empty() ? version : group + "/" + version; }
  // "services" or "virtualips.carplb.io": the resource name used in error messages.
  std::string qualifiedPlural() const { return group.empty() ? plural : plural + "." + group; }
  // Identity inside the store: group + plural (one served version per resource).
  std::string key() const { return group + "/" + plural; }
};

std::vector<ResourceType> builtinResourceTypes();

// The types a CRD object defines (one per served version). Errors name the CRD field.
ApiResult<std::vector<ResourceType>> resourceTypesFromCrd(const nlohmann::json& crd);

// Fill the CRD's server-side status (acceptedNames, Established/NamesAccepted conditions).
void setCrdStatus(nlohmann::json& crd, const std::string& now);

}  // namespace carplb::kubedouble
