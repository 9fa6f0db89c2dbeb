#pragma once
// PURE: RBAC authorization for the API server double, like kube-apiserver's RBAC authorizer.
//
//   requestAttributes()  HTTP method + path + query -> the attributes kube-apiserver's RequestInfo
//                        derives (verb get/list/watch/create/update/patch/delete/deletecollection,
//                        API group, resource, subresource, namespace, name)
//   RbacPolicy           ClusterRoles, Roles, ClusterRoleBindings and RoleBindings read from
//                        objects (e.g. the chart rendered into manifests/carplb.yaml); decides
//                        whether a user may make a request and which rules allowed it
//   forbidden()          the 403 Status kube-apiserver answers ("... cannot list resource
//                        \"services\" in API group \"\" at the cluster scope")
//   AuthzLedger          what every user asked for (allowed and denied, counted) and which of
//                        its granted rules were used at least once: least-privilege reports
//
// No I/O, no clock, no locking (the HTTP shell serialises access to the ledger).
#include "common/result.h"
#include "kube_double/api_status.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace carplb::kubedouble {

struct UserInfo {
  std::string name;
  std::vector<std::string> groups;
  bool superuser = false;  // system:masters: every request allowed, nothing recorded
};

// "system:serviceaccount:NS:NAME" gets the groups kube-apiserver gives a ServiceAccount token
// (system:serviceaccounts, system:serviceaccounts:NS, system:authenticated); other names get
// system:authenticated only.
UserInfo userFromName(const std::string& name);

struct RequestAttributes {
  std::string verb;               // resource verbs as kube-apiserver, or the lower-case method
  bool resourceRequest = false;   // false: discovery, /version, /openapi, ... (a "path")
  std::string path;               // the request path (used for non-resource requests)
  std::string apiGroup;           // "" for core/v1
  std::string apiVersion;
  std::string resource;           // plural, e.g. "services"
  std::string subresource;        // e.g. "status"
  std::string ns;                 // "" = cluster scope
  std::string name;               // "" for collections
  // "services" or "services/status", as RBAC rules name it.
  std::string combinedResource() const { return subresource.empty() ? resource : resource + "/" + subresource; }
};

// kube-apiserver's RequestInfo for METHOD PATH?QUERY (path already percent-decoded).
// GET on an object = get, on a collection = list, with watch=true|1 = watch; POST = create;
// PUT = update; PATCH = patch; DELETE on an object = delete, on a collection = deletecollection.
// /api/v1/namespaces/NS is the namespace object NS in namespace NS (as in kube-apiserver); a
// list/watch with fieldSelector metadata.name=X names X.
RequestAttributes requestAttributes(const std::string& method, const std::string& path,
                                    const std::map<std::string, std::string>& query);

struct PolicyRule {
  std::vector<std::string> apiGroups;
  std::vector<std::string> resources;
  std::vector<std::string> verbs;
  std::vector<std::string> resourceNames;
  std::vector<std::string> nonResourceURLs;
};

struct RoleObject {
  std::string kind;  // ClusterRole | Role
  std::string ns;    // Role only
  std::string name;
  std::vector<PolicyRule> rules;
  std::string id() const { return ns.empty() ? kind + "/" + name : kind + "/" + ns + "/" + name; }
};

struct Subject {
  std::string kind;  // User | Group | ServiceAccount
  std::string name;
  std::string ns;    // ServiceAccount only
};

struct BindingObject {
  std::string kind;  // ClusterRoleBinding | RoleBinding
  std::string ns;    // RoleBinding only: the namespace it grants in
  std::string name;
  std::string roleKind;  // ClusterRole | Role
  std::string roleName;
  std::vector<Subject> subjects;
  std::string id() const { return ns.empty() ? kind + "/" + name : kind + "/" + ns + "/" + name; }
};

// One rule of one role, reached through one binding.
struct RuleRef {
  std::string binding;  // BindingObject::id()
  std::string role;     // RoleObject::id()
  size_t rule = 0;      // index in the role's rules
  bool operator<(const RuleRef& o) const {
    return std::tie(binding, role, rule) < std::tie(o.binding, o.role, o.rule);
  }
  bool operator==(const RuleRef& o) const = default;
  std::string toString() const { return role + " rules[" + std::to_string(rule) + "] via " + binding; }
};

struct Decision {
  bool allowed = false;
  std::vector<RuleRef> matched;  // every rule that allows the request (empty when denied)
  std::string reason;            // why (superuser, discovery, first matching rule, or "no rule")
};

// One (apiGroup, resource, verb) a rule grants a user, and where.
struct Grant {
  RuleRef ref;
  std::string apiGroup;
  std::string resource;
  std::string verb;
  std::vector<std::string> resourceNames;
  std::string scope;  // "cluster" (ClusterRoleBinding) or "namespace NS" (RoleBinding)
};

class RbacPolicy {
public:
  RbacPolicy() = default;
  // Reads every rbac.authorization.k8s.io/v1 ClusterRole, Role, ClusterRoleBinding and
  // RoleBinding among `objects`; other kinds are ignored. Errors name the object and field
  // ("ClusterRole/x: rules[1].verbs: must be a list of strings").
  static Result<RbacPolicy> fromObjects(const std::vector<nlohmann::json>& objects);

  Decision authorize(const UserInfo& user, const RequestAttributes& attrs) const;
  // Every (apiGroup, resource, verb) granted to `user` (rules expanded; wildcards stay "*").
  std::vector<Grant> grantsOf(const UserInfo& user) const;

  const std::vector<RoleObject>& roles() const { return roles_; }
  const std::vector<BindingObject>& bindings() const { return bindings_; }

private:
  const RoleObject* findRole(const BindingObject& b) const;
  static bool subjectMatches(const Subject& s, const UserInfo& user);

  std::vector<RoleObject> roles_;
  std::vector<BindingObject> bindings_;
};

// The message kube-apiserver gives a denied request: 'User "U" cannot VERB resource "R" in API
// group "G" at the cluster scope' (or 'in the namespace "NS"'; 'cannot VERB path "P"').
std::string forbiddenMessage(const UserInfo& user, const RequestAttributes& attrs);
// 403, reason Forbidden, message 'services is forbidden: User ...' (with the object name and
// group-qualified resource like kube-apiserver), details {group, kind: resource, name}.
ApiError forbidden(const UserInfo& user, const RequestAttributes& attrs);

// Records decisions per user: requests aggregated by (allowed, verb, group, resource,
// namespace) with counts and up to a few example names. Not thread-safe.
class AuthzLedger {
public:
  void record(const UserInfo& user, const RequestAttributes& attrs, const Decision& decision);
  uint64_t deniedCount() const { return denied_; }
  // {"users":[{"user", "requests":[{allowed, verb, apiGroup, resource, namespace, count, names,
  //   rules | message}], "grants":[{role, rule, binding, scope, apiGroup, resource, verb,
  //   resourceNames, used}], "unusedGrants": n, "denied": n}]}
  // for every user in `users` and every user seen (superusers are never recorded).
  nlohmann::json report(const RbacPolicy& policy, const std::vector<UserInfo>& users) const;

private:
  struct Key {
    std::string user;
    bool allowed;
    std::string verb, apiGroup, resource, ns, path;
    bool operator<(const Key& o) const {
      return std::tie(user, allowed, verb, apiGroup, resource, ns, path) <
             std::tie(o.user, o.allowed, o.verb, o.apiGroup, o.resource, o.ns, o.path);
    }
  };
  struct Entry {
    uint64_t count = 0;
    std::vector<std::string> names;  // first few distinct object names
    std::vector<RuleRef> rules;      // union of matching rules
    std::string message;             // the first denial's message
  };
  std::map<Key, Entry> entries_;
  std::map<std::string, UserInfo> users_;
  uint64_t denied_ = 0;
};

}  // namespace carplb::kubedouble
