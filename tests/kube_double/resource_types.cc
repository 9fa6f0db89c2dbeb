#include "kube_double/resource_types.h"

#include "kube_double/json_util.h"

#include <tuple>

namespace carplb::kubedouble {

namespace {

ResourceType core(std::string plural, std::string singular, std::string kind, bool namespaced, Printer printer) {
  ResourceType t;
  t.group = "";
  t.version = "v1";
  t.plural = std::move(plural);
  t.singular = std::move(singular);
  t.kind = std::move(kind);
  t.listKind = t.kind + "List";
  t.namespaced = namespaced;
  t.printer = printer;
  return t;
}

ResourceType grouped(std::string group, std::string version, std::string plural, std::string singular,
                     std::string kind, Printer printer) {
  ResourceType t = core(std::move(plural), std::move(singular), std::move(kind), true, printer);
  t.group = std::move(group);
  t.version = std::move(version);
  return t;
}

std::string stringAt(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return (it != obj.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

std::vector<ResourceType> builtinResourceTypes() {
  std::vector<ResourceType> out;
  ResourceType svc = core("services", "service", "Service", true, Printer::Service);
  svc.shortNames = {"svc"};
  svc.categories = {"all"};
  svc.hasStatus = true;
  svc.statusKeepsMetadata = true;
  svc.hasGeneration = true;
  out.push_back(svc);
  ResourceType node = core("nodes", "node", "Node", false, Printer::Node);
  node.shortNames = {"no"};
  node.hasStatus = true;
  out.push_back(node);
  ResourceType ns = core("namespaces", "namespace", "Namespace", false, Printer::Namespace);
  ns.shortNames = {"ns"};
  ns.hasStatus = true;
  out.push_back(ns);
  ResourceType cm = core("configmaps", "configmap", "ConfigMap", true, Printer::ConfigMap);
  cm.shortNames = {"cm"};
  out.push_back(cm);
  out.push_back(core("secrets", "secret", "Secret", true, Printer::Secret));
  ResourceType ev = core("events", "event", "Event", true, Printer::CoreEvent);
  ev.shortNames = {"ev"};
  out.push_back(ev);
  out.push_back(grouped("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice",
                        Printer::EndpointSlice));
  ResourceType lease = grouped("coordination.k8s.io", "v1", "leases", "lease", "Lease", Printer::Lease);
  lease.requireRvOnUpdate = true;
  out.push_back(lease);
  ResourceType ev2 = grouped("events.k8s.io", "v1", "events", "event", "Event", Printer::EventsEvent);
  ev2.shortNames = {"ev"};
  out.push_back(ev2);
  // Plain storage (no controllers behind them) so `kubectl apply -f manifests/` and `helm
  // install` of the chart work against the double: NAME/AGE columns only.
  ResourceType sa = core("serviceaccounts", "serviceaccount", "ServiceAccount", true, Printer::Columns);
  sa.shortNames = {"sa"};
  out.push_back(sa);
  for (auto [plural, singular, kind, shortName] :
       {std::tuple{"deployments", "deployment", "Deployment", "deploy"}, {"daemonsets", "daemonset", "DaemonSet", "ds"}}) {
    ResourceType t = grouped("apps", "v1", plural, singular, kind, Printer::Columns);
    t.shortNames = {shortName};
    t.categories = {"all"};
    t.hasStatus = true;
    t.hasGeneration = true;
    out.push_back(t);
  }
  for (auto [plural, singular, kind, namespaced] :
       {std::tuple{"roles", "role", "Role", true}, {"rolebindings", "rolebinding", "RoleBinding", true},
        {"clusterroles", "clusterrole", "ClusterRole", false},
        {"clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false}}) {
    ResourceType t = grouped("rbac.authorization.k8s.io", "v1", plural, singular, kind, Printer::Columns);
    t.namespaced = namespaced;
    out.push_back(t);
  }
  ResourceType pdb = grouped("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget",
                             Printer::Columns);
  pdb.shortNames = {"pdb"};
  pdb.hasStatus = true;
  pdb.hasGeneration = true;
  out.push_back(pdb);
  ResourceType crd = grouped("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                             "customresourcedefinition", "CustomResourceDefinition", Printer::Crd);
  crd.namespaced = false;
  crd.shortNames = {"crd", "crds"};
  crd.hasStatus = true;
  crd.hasGeneration = true;
  out.push_back(crd);
  return out;
}

ApiResult<std::vector<ResourceType>> resourceTypesFromCrd(const nlohmann::json& crd) {
  const std::string crdName = crd.contains("metadata") && crd["metadata"].is_object()
                                  ? stringAt(crd["metadata"], "name")
                                  : std::string();
  auto bad = [&](const std::string& field, const std::string& what) {
    return invalid("CustomResourceDefinition", crdName, field + ": " + what);
  };
  if (!crd.contains("spec") || !crd["spec"].is_object()) {
    return bad("spec", "Required value");
  }
  const auto& spec = crd["spec"];
  const std::string group = stringAt(spec, "group");
  if (group.empty()) {
    return bad("spec.group", "Required value");
  }
  if (!spec.contains("names") || !spec["names"].is_object()) {
    return bad("spec.names", "Required value");
  }
  const auto& names = spec["names"];
  ResourceType base;
  base.group = group;
  base.plural = stringAt(names, "plural");
  base.kind = stringAt(names, "kind");
  base.singular = stringAt(names, "singular");
  base.listKind = stringAt(names, "listKind");
  if (base.plural.empty()) {
    return bad("spec.names.plural", "Required value");
  }
  if (base.kind.empty()) {
    return bad("spec.names.kind", "Required value");
  }
  if (crdName != base.plural + "." + group) {
    return bad("metadata.name", "must be spec.names.plural+\".\"+spec.group (\"" + base.plural + "." + group + "\")");
  }
  if (base.singular.empty()) {
    base.singular = base.kind;
    for (auto& c : base.singular) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (base.listKind.empty()) {
    base.listKind = base.kind + "List";
  }
  for (const char* field : {"shortNames", "categories"}) {
    if (names.contains(field)) {
      if (!names[field].is_array()) {
        return bad(std::string("spec.names.") + field, "must be a list of strings");
      }
      for (const auto& s : names[field]) {
        if (!s.is_string()) {
          return bad(std::string("spec.names.") + field, "must be a list of strings");
        }
        (std::string(field) == "shortNames" ? base.shortNames : base.categories).push_back(s.get<std::string>());
      }
    }
  }
  const std::string scope = stringAt(spec, "scope");
  if (scope != "Namespaced" && scope != "Cluster") {
    return bad("spec.scope", "Unsupported value: \"" + scope + "\": supported values: \"Cluster\", \"Namespaced\"");
  }
  base.namespaced = scope == "Namespaced";
  base.requireRvOnUpdate = true;
  base.hasGeneration = true;
  base.crdName = crdName;
  base.printer = Printer::Columns;
  if (!spec.contains("versions") || !spec["versions"].is_array() || spec["versions"].empty()) {
    return bad("spec.versions", "must have exactly one version marked as storage version");
  }
  std::vector<ResourceType> out;
  for (size_t i = 0; i < spec["versions"].size(); ++i) {
    const auto& v = spec["versions"][i];
    const std::string at = "spec.versions[" + std::to_string(i) + "]";
    if (!v.is_object()) {
      return bad(at, "must be an object");
    }
    ResourceType t = base;
    t.version = stringAt(v, "name");
    if (t.version.empty()) {
      return bad(at + ".name", "Required value");
    }
    if (v.contains("served") && v["served"].is_boolean() && !v["served"].get<bool>()) {
      continue;
    }
    t.hasStatus = v.contains("subresources") && v["subresources"].is_object() && v["subresources"].contains("status");
    if (v.contains("additionalPrinterColumns")) {
      const auto& cols = v["additionalPrinterColumns"];
      if (!cols.is_array()) {
        return bad(at + ".additionalPrinterColumns", "must be a list");
      }
      for (size_t c = 0; c < cols.size(); ++c) {
        const std::string cat = at + ".additionalPrinterColumns[" + std::to_string(c) + "]";
        if (!cols[c].is_object()) {
          return bad(cat, "must be an object");
        }
        PrinterColumn pc;
        pc.name = stringAt(cols[c], "name");
        pc.type = stringAt(cols[c], "type");
        pc.jsonPath = stringAt(cols[c], "jsonPath");
        pc.description = stringAt(cols[c], "description");
        if (cols[c].contains("priority") && cols[c]["priority"].is_number_integer()) {
          pc.priority = cols[c]["priority"].get<int>();
        }
        if (pc.name.empty()) {
          return bad(cat + ".name", "Required value");
        }
        if (pc.jsonPath.empty()) {
          return bad(cat + ".jsonPath", "Required value");
        }
        t.columns.push_back(pc);
      }
    } else {
      t.columns.push_back(PrinterColumn{"Age", "date", ".metadata.creationTimestamp", "", 0});
    }
    out.push_back(std::move(t));
  }
  if (out.empty()) {
    return bad("spec.versions", "at least one version must be served");
  }
  return out;
}

void setCrdStatus(nlohmann::json& crd, const std::string& now) {
  nlohmann::json& status = crd["status"];
  status["acceptedNames"] = crd["spec"]["names"];
  status["storedVersions"] = nlohmann::json::array();
  for (const auto& v : crd["spec"]["versions"]) {
    if (boolField(v, "storage", false)) {
      status["storedVersions"].push_back(v["name"]);
    }
  }
  status["conditions"] = nlohmann::json::array(
      {{{"type", "NamesAccepted"}, {"status", "True"}, {"reason", "NoConflicts"},
        {"message", "no conflicts found"}, {"lastTransitionTime", now}},
       {{"type", "Established"}, {"status", "True"}, {"reason", "InitialNamesAccepted"},
        {"message", "the initial names have been accepted"}, {"lastTransitionTime", now}}});
}

}  // namespace carplb::kubedouble
