#include "kube_double/authorizer.h"

#include "kube_double/json_util.h"

#include <algorithm>

namespace carplb::kubedouble {

namespace {

using nlohmann::json;

constexpr const char* RbacApiVersion = "rbac.authorization.k8s.io/v1";
constexpr size_t MaxExampleNames = 3;

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Paths every authenticated user may GET in a real cluster (the system:discovery and
// system:public-info-viewer ClusterRoles, bound to system:authenticated by default).
bool isDiscoveryPath(const std::string& path) {
  for (const char* exact : {"/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi/v2", "/openapi/v3"}) {
    if (path == exact || path == std::string(exact) + "/") return true;
  }
  for (const char* prefix : {"/api/", "/apis/", "/openapi/v3/", "/healthz/", "/livez/", "/readyz/"}) {
    if (path.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::string objectId(const json& obj) {
  std::string kind = stringField(obj, "kind");
  const json md = obj.is_object() && obj.contains("metadata") ? obj["metadata"] : json::object();
  std::string ns = stringField(md, "namespace");
  std::string name = stringField(md, "name");
  return ns.empty() ? kind + "/" + name : kind + "/" + ns + "/" + name;
}

Result<std::vector<std::string>> stringList(const json& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return out;
  const json& v = obj[key];
  if (!v.is_array()) return makeError(where + "." + key + ": must be a list of strings");
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) {
      return makeError(where + "." + key + "[" + std::to_string(i) + "]: must be a string, got " + v[i].dump());
    }
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

// kind, metadata.name and (for the namespaced kind) metadata.namespace of an RBAC object,
// each required; `id` names the object in errors.
struct RbacMeta {
  std::string kind, name, ns, id;
};

Result<RbacMeta> rbacMeta(const json& obj, const std::string& namespacedKind) {
  RbacMeta m;
  m.kind = stringField(obj, "kind");
  const json md = obj.contains("metadata") ? obj["metadata"] : json::object();
  m.name = stringField(md, "name");
  m.ns = m.kind == namespacedKind ? stringField(md, "namespace") : "";
  m.id = objectId(obj);
  if (m.name.empty()) return makeError(m.id + ": metadata.name: required");
  if (m.kind == namespacedKind && m.ns.empty()) {
    return makeError(m.id + ": metadata.namespace: required for a " + namespacedKind);
  }
  return m;
}

Result<RoleObject> parseRole(const json& obj) {
  auto meta = rbacMeta(obj, "Role");
  if (!meta) return meta.error();
  RoleObject r;
  r.kind = meta->kind;
  r.name = meta->name;
  r.ns = meta->ns;
  const std::string& id = meta->id;
  if (obj.contains("aggregationRule") && !obj["aggregationRule"].is_null()) {
    return makeError(id + ": aggregationRule: not supported by carplb-kube-double");
  }
  if (!obj.contains("rules") || obj["rules"].is_null()) return r;
  if (!obj["rules"].is_array()) return makeError(id + ": rules: must be a list");
  for (size_t i = 0; i < obj["rules"].size(); ++i) {
    const json& jr = obj["rules"][i];
    const std::string where = id + ": rules[" + std::to_string(i) + "]";
    if (!jr.is_object()) return makeError(where + ": must be an object");
    PolicyRule rule;
    for (auto [key, out] : {std::pair{"apiGroups", &rule.apiGroups}, {"resources", &rule.resources},
                            {"verbs", &rule.verbs}, {"resourceNames", &rule.resourceNames},
                            {"nonResourceURLs", &rule.nonResourceURLs}}) {
      auto l = stringList(jr, key, where);
      if (!l) return l.error();
      *out = std::move(l).value();
    }
    if (rule.verbs.empty()) return makeError(where + ".verbs: required");
    if (rule.nonResourceURLs.empty() && rule.resources.empty()) {
      return makeError(where + ": resources or nonResourceURLs required");
    }
    if (!rule.nonResourceURLs.empty() && (!rule.resources.empty() || !rule.apiGroups.empty())) {
      return makeError(where + ": nonResourceURLs cannot be combined with apiGroups/resources");
    }
    if (!rule.nonResourceURLs.empty() && r.kind == "Role") {
      return makeError(where + ".nonResourceURLs: only a ClusterRole may grant non-resource URLs");
    }
    if (!rule.resources.empty() && !obj["rules"][i].contains("apiGroups")) {
      return makeError(where + ".apiGroups: required with resources");
    }
    r.rules.push_back(std::move(rule));
  }
  return r;
}

Result<BindingObject> parseBinding(const json& obj) {
  auto meta = rbacMeta(obj, "RoleBinding");
  if (!meta) return meta.error();
  BindingObject b;
  b.kind = meta->kind;
  b.name = meta->name;
  b.ns = meta->ns;
  const std::string& id = meta->id;
  const json ref = obj.contains("roleRef") ? obj["roleRef"] : json();
  if (!ref.is_object()) return makeError(id + ": roleRef: required");
  b.roleKind = stringField(ref, "kind");
  b.roleName = stringField(ref, "name");
  if (b.roleKind != "ClusterRole" && b.roleKind != "Role") {
    return makeError(id + ": roleRef.kind: must be ClusterRole or Role, got \"" + b.roleKind + "\"");
  }
  if (b.kind == "ClusterRoleBinding" && b.roleKind != "ClusterRole") {
    return makeError(id + ": roleRef.kind: a ClusterRoleBinding can only reference a ClusterRole");
  }
  if (b.roleName.empty()) return makeError(id + ": roleRef.name: required");
  if (stringField(ref, "apiGroup") != "rbac.authorization.k8s.io") {
    return makeError(id + ": roleRef.apiGroup: must be rbac.authorization.k8s.io");
  }
  if (obj.contains("subjects") && !obj["subjects"].is_null()) {
    if (!obj["subjects"].is_array()) return makeError(id + ": subjects: must be a list");
    for (size_t i = 0; i < obj["subjects"].size(); ++i) {
      const json& js = obj["subjects"][i];
      const std::string where = id + ": subjects[" + std::to_string(i) + "]";
      Subject s{stringField(js, "kind"), stringField(js, "name"), stringField(js, "namespace")};
      if (s.kind != "User" && s.kind != "Group" && s.kind != "ServiceAccount") {
        return makeError(where + ".kind: must be User, Group or ServiceAccount, got \"" + s.kind + "\"");
      }
      if (s.name.empty()) return makeError(where + ".name: required");
      if (s.kind == "ServiceAccount" && s.ns.empty()) return makeError(where + ".namespace: required for a ServiceAccount");
      b.subjects.push_back(std::move(s));
    }
  }
  return b;
}

bool verbMatches(const PolicyRule& r, const std::string& verb) { return contains(r.verbs, "*") || contains(r.verbs, verb); }

bool groupMatches(const PolicyRule& r, const std::string& group) {
  return contains(r.apiGroups, "*") || contains(r.apiGroups, group);
}

// rbac/v1 ResourceMatches: "*", the exact "resource/subresource", or "*/subresource".
bool resourceMatches(const PolicyRule& r, const std::string& combined, const std::string& subresource) {
  for (const auto& rr : r.resources) {
    if (rr == "*" || rr == combined) return true;
    if (!subresource.empty() && rr == "*/" + subresource) return true;
  }
  return false;
}

bool nameMatches(const PolicyRule& r, const std::string& name) {
  return r.resourceNames.empty() || (!name.empty() && contains(r.resourceNames, name));
}

// One nonResourceURLs entry: exact, "*", or a prefix ending in "*".
bool urlMatches(const std::string& u, const std::string& path) {
  if (u == "*" || u == path) return true;
  return u.size() > 1 && u.back() == '*' && path.rfind(u.substr(0, u.size() - 1), 0) == 0;
}

bool nonResourceMatches(const PolicyRule& r, const std::string& path) {
  return std::any_of(r.nonResourceURLs.begin(), r.nonResourceURLs.end(),
                     [&](const std::string& u) { return urlMatches(u, path); });
}

bool ruleAllows(const PolicyRule& r, const RequestAttributes& a) {
  if (!verbMatches(r, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceMatches(r, a.path);
  return !r.resources.empty() && groupMatches(r, a.apiGroup) && resourceMatches(r, a.combinedResource(), a.subresource) &&
         nameMatches(r, a.name);
}

// A grant token matches a concrete request value.
bool tokenMatches(const std::string& token, const std::string& value, const std::string& subresource = "") {
  if (token == "*" || token == value) return true;
  return !subresource.empty() && token == "*/" + subresource;
}

}  // namespace

UserInfo userFromName(const std::string& name) {
  UserInfo u;
  u.name = name;
  const std::string saPrefix = "system:serviceaccount:";
  if (name.rfind(saPrefix, 0) == 0) {
    std::string rest = name.substr(saPrefix.size());
    size_t colon = rest.find(':');
    if (colon != std::string::npos && colon > 0) {
      u.groups = {"system:serviceaccounts", "system:serviceaccounts:" + rest.substr(0, colon)};
    }
  }
  u.groups.push_back("system:authenticated");
  return u;
}

RequestAttributes requestAttributes(const std::string& method, const std::string& path,
                                    const std::map<std::string, std::string>& query) {
  RequestAttributes a;
  a.path = path;
  std::string lower = method;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  a.verb = lower;
  auto segs = splitPath(path);
  size_t i = 0;
  if (segs.size() >= 2 && segs[0] == "api") {
    a.apiVersion = segs[1];
    i = 2;
  } else if (segs.size() >= 3 && segs[0] == "apis") {
    a.apiGroup = segs[1];
    a.apiVersion = segs[2];
    i = 3;
  } else {
    a.apiGroup.clear();
    return a;  // /api, /apis, /apis/GROUP, /version, /openapi/..., /_double/...: non-resource
  }
  std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
  if (rest.empty()) {
    a.apiGroup.clear();
    a.apiVersion.clear();
    return a;  // /api/v1, /apis/GROUP/VERSION: discovery
  }
  a.resourceRequest = true;
  if (rest[0] == "namespaces" && rest.size() > 1) {
    a.ns = rest[1];
    // /namespaces/NS/RESOURCE/...: a namespaced resource; /namespaces/NS[/status|/finalize]:
    // the namespace object itself (its namespace is its name).
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") {
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  a.resource = rest[0];
  if (rest.size() >= 2) a.name = rest[1];
  if (rest.size() >= 3) {
    a.subresource = rest[2];
    for (size_t k = 3; k < rest.size(); ++k) a.subresource += "/" + rest[k];
  }
  auto q = [&](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  if (lower == "get" || lower == "head") {
    const std::string watch = q("watch");
    if (watch == "true" || watch == "1") {
      a.verb = "watch";
    } else {
      a.verb = a.name.empty() ? "list" : "get";
    }
  } else if (lower == "post") {
    a.verb = "create";
  } else if (lower == "put") {
    a.verb = "update";
  } else if (lower == "patch") {
    a.verb = "patch";
  } else if (lower == "delete") {
    a.verb = a.name.empty() ? "deletecollection" : "delete";
  }
  if ((a.verb == "list" || a.verb == "watch") && a.name.empty()) {
    // kube-apiserver: a list/watch selecting one object by name is authorized for that name.
    const std::string fs = q("fieldSelector");
    const std::string prefix = "metadata.name=";
    if (fs.rfind(prefix, 0) == 0 && fs.find(',') == std::string::npos) {
      std::string n = fs.substr(prefix.size());
      if (!n.empty() && n[0] == '=') n = n.substr(1);  // metadata.name==X
      a.name = n;
    }
  }
  return a;
}

Result<RbacPolicy> RbacPolicy::fromObjects(const std::vector<json>& objects) {
  RbacPolicy p;
  for (size_t i = 0; i < objects.size(); ++i) {
    const json& o = objects[i];
    if (!o.is_object()) continue;
    const std::string kind = stringField(o, "kind");
    const bool rbacKind = kind == "ClusterRole" || kind == "Role" || kind == "ClusterRoleBinding" || kind == "RoleBinding";
    if (!rbacKind) continue;
    if (stringField(o, "apiVersion") != RbacApiVersion) {
      return makeError(objectId(o) + ": apiVersion: expected " + RbacApiVersion + ", got \"" +
                       stringField(o, "apiVersion") + "\"");
    }
    if (kind == "ClusterRole" || kind == "Role") {
      auto r = parseRole(o);
      if (!r) return r.error();
      for (const auto& have : p.roles_) {
        if (have.id() == r->id()) return makeError(r->id() + ": defined twice");
      }
      p.roles_.push_back(std::move(r).value());
    } else {
      auto b = parseBinding(o);
      if (!b) return b.error();
      for (const auto& have : p.bindings_) {
        if (have.id() == b->id()) return makeError(b->id() + ": defined twice");
      }
      p.bindings_.push_back(std::move(b).value());
    }
  }
  return p;
}

const RoleObject* RbacPolicy::findRole(const BindingObject& b) const {
  for (const auto& r : roles_) {
    if (r.kind == b.roleKind && r.name == b.roleName && (b.roleKind == "ClusterRole" || r.ns == b.ns)) return &r;
  }
  return nullptr;
}

bool RbacPolicy::subjectMatches(const Subject& s, const UserInfo& user) {
  if (s.kind == "User") return s.name == user.name;
  if (s.kind == "Group") return contains(user.groups, s.name);
  return user.name == "system:serviceaccount:" + s.ns + ":" + s.name;
}

Decision RbacPolicy::authorize(const UserInfo& user, const RequestAttributes& attrs) const {
  Decision d;
  if (user.superuser) {
    d.allowed = true;
    d.reason = "superuser";
    return d;
  }
  if (!attrs.resourceRequest && (attrs.verb == "get" || attrs.verb == "head") && isDiscoveryPath(attrs.path) &&
      contains(user.groups, "system:authenticated")) {
    d.allowed = true;
    d.reason = "discovery (system:discovery, system:public-info-viewer)";
    return d;
  }
  for (const auto& b : bindings_) {
    // A RoleBinding grants only inside its namespace; cluster-scoped requests never match it.
    if (b.kind == "RoleBinding" && (attrs.ns != b.ns || !attrs.resourceRequest)) continue;
    if (std::none_of(b.subjects.begin(), b.subjects.end(), [&](const Subject& s) { return subjectMatches(s, user); })) {
      continue;
    }
    const RoleObject* role = findRole(b);
    if (!role) continue;  // kube-apiserver: the binding grants nothing until the role exists
    for (size_t i = 0; i < role->rules.size(); ++i) {
      if (ruleAllows(role->rules[i], attrs)) d.matched.push_back(RuleRef{b.id(), role->id(), i});
    }
  }
  d.allowed = !d.matched.empty();
  d.reason = d.allowed ? d.matched.front().toString() : "no RBAC rule allows it";
  return d;
}

std::vector<Grant> RbacPolicy::grantsOf(const UserInfo& user) const {
  std::vector<Grant> out;
  for (const auto& b : bindings_) {
    if (std::none_of(b.subjects.begin(), b.subjects.end(), [&](const Subject& s) { return subjectMatches(s, user); })) {
      continue;
    }
    const RoleObject* role = findRole(b);
    if (!role) continue;
    const std::string scope = b.kind == "RoleBinding" ? "namespace " + b.ns : "cluster";
    for (size_t i = 0; i < role->rules.size(); ++i) {
      const PolicyRule& r = role->rules[i];
      for (const auto& v : r.verbs) {
        for (const auto& u : r.nonResourceURLs) {
          out.push_back(Grant{RuleRef{b.id(), role->id(), i}, "", u, v, {}, scope});
        }
        for (const auto& g : r.apiGroups) {
          for (const auto& res : r.resources) {
            out.push_back(Grant{RuleRef{b.id(), role->id(), i}, g, res, v, r.resourceNames, scope});
          }
        }
      }
    }
  }
  return out;
}

std::string forbiddenMessage(const UserInfo& user, const RequestAttributes& a) {
  if (!a.resourceRequest) {
    return "User \"" + user.name + "\" cannot " + a.verb + " path \"" + a.path + "\"";
  }
  std::string m = "User \"" + user.name + "\" cannot " + a.verb + " resource \"" + a.combinedResource() +
                  "\" in API group \"" + a.apiGroup + "\"";
  return m + (a.ns.empty() ? " at the cluster scope" : " in the namespace \"" + a.ns + "\"");
}

ApiError forbidden(const UserInfo& user, const RequestAttributes& a) {
  const std::string msg = forbiddenMessage(user, a);
  ApiError e{403, "Forbidden", "", json::object()};
  if (!a.resourceRequest) {
    e.message = "forbidden: " + msg;
    return e;
  }
  const std::string qualified = a.apiGroup.empty() ? a.resource : a.resource + "." + a.apiGroup;
  e.message = a.name.empty() ? qualified + " is forbidden: " + msg : qualified + " \"" + a.name + "\" is forbidden: " + msg;
  e.details = {{"group", a.apiGroup}, {"kind", a.resource}};
  if (!a.name.empty()) e.details["name"] = a.name;
  return e;
}

void AuthzLedger::record(const UserInfo& user, const RequestAttributes& a, const Decision& d) {
  if (user.superuser) return;
  users_.emplace(user.name, user);
  Key k{user.name, d.allowed, a.verb, a.apiGroup, a.resourceRequest ? a.combinedResource() : "", a.ns,
        a.resourceRequest ? "" : a.path};
  Entry& e = entries_[k];
  ++e.count;
  if (!a.name.empty() && e.names.size() < MaxExampleNames && !contains(e.names, a.name)) e.names.push_back(a.name);
  for (const auto& r : d.matched) {
    if (std::find(e.rules.begin(), e.rules.end(), r) == e.rules.end()) e.rules.push_back(r);
  }
  if (!d.allowed) {
    ++denied_;
    if (e.message.empty()) e.message = forbidden(user, a).message;
  }
}

json AuthzLedger::report(const RbacPolicy& policy, const std::vector<UserInfo>& users) const {
  std::map<std::string, UserInfo> all = users_;
  for (const auto& u : users) all.emplace(u.name, u);
  json out = json::array();
  for (const auto& [name, user] : all) {
    if (user.superuser) continue;
    json requests = json::array();
    uint64_t denied = 0;
    for (const auto& [k, e] : entries_) {
      if (k.user != name) continue;
      json r = {{"allowed", k.allowed}, {"verb", k.verb}, {"count", e.count}};
      if (!k.path.empty()) {
        r["path"] = k.path;
      } else {
        r["apiGroup"] = k.apiGroup;
        r["resource"] = k.resource;
        r["namespace"] = k.ns;
      }
      if (!e.names.empty()) r["names"] = e.names;
      if (k.allowed) {
        json rules = json::array();
        for (const auto& ref : e.rules) rules.push_back(ref.toString());
        r["rules"] = rules;
      } else {
        r["message"] = e.message;
        denied += e.count;
      }
      requests.push_back(std::move(r));
    }
    json grants = json::array();
    size_t unused = 0;
    for (const auto& g : policy.grantsOf(user)) {
      uint64_t used = 0;
      for (const auto& [k, e] : entries_) {
        if (k.user != name || !k.allowed || std::find(e.rules.begin(), e.rules.end(), g.ref) == e.rules.end()) continue;
        const std::string sub = k.resource.find('/') == std::string::npos ? "" : k.resource.substr(k.resource.find('/') + 1);
        const bool match = k.path.empty() ? tokenMatches(g.apiGroup, k.apiGroup) && tokenMatches(g.resource, k.resource, sub)
                                          : urlMatches(g.resource, k.path);
        if (match && tokenMatches(g.verb, k.verb)) used += e.count;
      }
      if (used == 0) ++unused;
      grants.push_back({{"role", g.ref.role}, {"rule", g.ref.rule}, {"binding", g.ref.binding}, {"scope", g.scope},
                        {"apiGroup", g.apiGroup}, {"resource", g.resource}, {"verb", g.verb},
                        {"resourceNames", g.resourceNames}, {"used", used}});
    }
    out.push_back({{"user", name}, {"groups", user.groups}, {"requests", requests}, {"grants", grants},
                   {"unusedGrants", unused}, {"denied", denied}});
  }
  return json{{"users", out}};
}

}  // namespace carplb::kubedouble
