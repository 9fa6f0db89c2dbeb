// Unit tests of the double's RBAC authorizer: kube-apiserver's verb mapping, rule matching
// (groups, resources, subresources, resourceNames, wildcards), namespaced Role vs ClusterRole,
// subjects (ServiceAccount, User, Group), the 403 Status and the least-privilege ledger.
#include "kube_double/authorizer.h"

#include <gtest/gtest.h>

namespace carplb::kubedouble {
namespace {

using nlohmann::json;

const std::string Controller = "system:serviceaccount:carplb-system:carplb-controller";

// The shape of the chart's controller RBAC (charts/carplb/templates/controller-rbac.yaml), plus
// a Group binding and a second namespace to test scoping.
std::vector<json> fixture() {
  return json::parse(R"([
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "carplb-controller", "namespace": "carplb-system"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "carplb-controller"},
     "rules": [
       {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch", "patch"]},
       {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch"]},
       {"apiGroups": ["carplb.io"], "resources": ["virtualips"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
       {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "carplb-controller"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "carplb-controller"},
     "subjects": [{"kind": "ServiceAccount", "name": "carplb-controller", "namespace": "carplb-system"}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "carplb-controller-leader-election", "namespace": "carplb-system"},
     "rules": [
       {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
       {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["carplb-controller"],
        "verbs": ["get", "update"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "carplb-controller-leader-election", "namespace": "carplb-system"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "carplb-controller-leader-election"},
     "subjects": [{"kind": "ServiceAccount", "name": "carplb-controller", "namespace": "carplb-system"}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "node-reader"},
     "rules": [{"apiGroups": [""], "resources": ["nodes", "*/status"], "verbs": ["get"]},
               {"nonResourceURLs": ["/metrics", "/debug/*"], "verbs": ["get"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "readers", "namespace": "team-a"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "carplb-controller"},
     "subjects": [{"kind": "Group", "name": "readers"}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "alice-nodes"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-reader"},
     "subjects": [{"kind": "User", "name": "alice"}]}
  ])").get<std::vector<json>>();
}

class AuthorizerTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto p = RbacPolicy::fromObjects(fixture());
    ASSERT_TRUE(p.ok()) << p.error().message;
    policy = std::move(p).value();
  }
  Decision ask(const UserInfo& u, const std::string& method, const std::string& path,
               std::map<std::string, std::string> query = {}) {
    return policy.authorize(u, requestAttributes(method, path, query));
  }
  bool allowed(const UserInfo& u, const std::string& method, const std::string& path,
               std::map<std::string, std::string> query = {}) {
    return ask(u, method, path, std::move(query)).allowed;
  }
  RbacPolicy policy;
  UserInfo controller = userFromName(Controller);
};

TEST(RequestAttributes, VerbsLikeKubeApiserver) {
  struct Case {
    std::string method, path;
    std::map<std::string, std::string> query;
    std::string verb, group, resource, sub, ns, name;
  };
  const std::vector<Case> cases = {
      {"GET", "/api/v1/services", {}, "list", "", "services", "", "", ""},
      {"GET", "/api/v1/services", {{"watch", "true"}}, "watch", "", "services", "", "", ""},
      {"GET", "/api/v1/namespaces/default/services", {{"watch", "1"}}, "watch", "", "services", "", "default", ""},
      {"GET", "/api/v1/namespaces/default/services/web", {}, "get", "", "services", "", "default", "web"},
      {"GET", "/api/v1/namespaces/default/services", {{"watch", "false"}}, "list", "", "services", "", "default", ""},
      {"POST", "/api/v1/namespaces/default/events", {}, "create", "", "events", "", "default", ""},
      {"PUT", "/apis/carplb.io/v1alpha1/virtualips/vip-1/status", {}, "update", "carplb.io", "virtualips", "status", "", "vip-1"},
      {"PATCH", "/api/v1/namespaces/default/services/web/status", {}, "patch", "", "services", "status", "default", "web"},
      {"DELETE", "/apis/carplb.io/v1alpha1/virtualips/vip-1", {}, "delete", "carplb.io", "virtualips", "", "", "vip-1"},
      {"DELETE", "/api/v1/namespaces/default/configmaps", {}, "deletecollection", "", "configmaps", "", "default", ""},
      {"GET", "/apis/coordination.k8s.io/v1/namespaces/carplb-system/leases/carplb-controller", {}, "get",
       "coordination.k8s.io", "leases", "", "carplb-system", "carplb-controller"},
      // The namespace object: its namespace is its name.
      {"GET", "/api/v1/namespaces/team-a", {}, "get", "", "namespaces", "", "team-a", "team-a"},
      {"PUT", "/api/v1/namespaces/team-a/status", {}, "update", "", "namespaces", "status", "team-a", "team-a"},
      {"GET", "/api/v1/namespaces", {}, "list", "", "namespaces", "", "", ""},
      // A list by metadata.name is authorized for that name.
      {"GET", "/api/v1/nodes", {{"fieldSelector", "metadata.name=node-a"}}, "list", "", "nodes", "", "", "node-a"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path);
    auto a = requestAttributes(c.method, c.path, c.query);
    EXPECT_TRUE(a.resourceRequest);
    EXPECT_EQ(a.verb, c.verb);
    EXPECT_EQ(a.apiGroup, c.group);
    EXPECT_EQ(a.resource, c.resource);
    EXPECT_EQ(a.subresource, c.sub);
    EXPECT_EQ(a.ns, c.ns);
    EXPECT_EQ(a.name, c.name);
  }
  for (const char* p : {"/api", "/apis", "/apis/carplb.io", "/api/v1", "/apis/carplb.io/v1alpha1", "/version", "/openapi/v2"}) {
    auto a = requestAttributes("GET", p, {});
    EXPECT_FALSE(a.resourceRequest) << p;
    EXPECT_EQ(a.verb, "get") << p;
    EXPECT_EQ(a.path, p);
  }
}

TEST(RbacPolicyParse, ErrorsNameTheObjectAndField) {
  auto err = [](const std::string& text) {
    auto p = RbacPolicy::fromObjects({json::parse(text)});
    return p.ok() ? std::string("(accepted)") : p.error().message;
  };
  EXPECT_EQ(err(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"x"},
                    "rules":[{"apiGroups":[""],"resources":["services"],"verbs":"get"}]})"),
            "ClusterRole/x: rules[0].verbs: must be a list of strings");
  EXPECT_EQ(err(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"x"},
                    "rules":[{"apiGroups":[""],"resources":["services"],"verbs":["get", 3]}]})"),
            "ClusterRole/x: rules[0].verbs[1]: must be a string, got 3");
  EXPECT_EQ(err(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"x"},"rules":[]})"),
            "Role/x: metadata.namespace: required for a Role");
  EXPECT_EQ(err(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"b"},
                    "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r"}})"),
            "ClusterRoleBinding/b: roleRef.kind: a ClusterRoleBinding can only reference a ClusterRole");
  EXPECT_EQ(err(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"b","namespace":"n"},
                    "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r"},
                    "subjects":[{"kind":"ServiceAccount","name":"sa"}]})"),
            "RoleBinding/n/b: subjects[0].namespace: required for a ServiceAccount");
  EXPECT_EQ(err(R"({"apiVersion":"rbac.authorization.k8s.io/v1beta1","kind":"ClusterRole","metadata":{"name":"x"}})"),
            "ClusterRole/x: apiVersion: expected rbac.authorization.k8s.io/v1, got \"rbac.authorization.k8s.io/v1beta1\"");
  EXPECT_EQ(err(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"x"},
                    "rules":[{"resources":["services"],"verbs":["get"]}]})"),
            "ClusterRole/x: rules[0].apiGroups: required with resources");
  EXPECT_EQ(err(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ignored"}})"), "(accepted)");
  EXPECT_EQ(err(R"("not an object")"), "(accepted)");
}

TEST_F(AuthorizerTest, ClusterRoleBindingGrantsExactlyItsVerbsEverywhere) {
  EXPECT_TRUE(allowed(controller, "GET", "/api/v1/services"));
  EXPECT_TRUE(allowed(controller, "GET", "/api/v1/services", {{"watch", "true"}}));
  EXPECT_TRUE(allowed(controller, "PATCH", "/api/v1/namespaces/default/services/web"));
  EXPECT_TRUE(allowed(controller, "PATCH", "/api/v1/namespaces/other/services/web"));
  // Verbs not granted.
  EXPECT_FALSE(allowed(controller, "GET", "/api/v1/namespaces/default/services/web"));
  EXPECT_FALSE(allowed(controller, "PUT", "/api/v1/namespaces/default/services/web"));
  EXPECT_FALSE(allowed(controller, "DELETE", "/api/v1/namespaces/default/services/web"));
  EXPECT_FALSE(allowed(controller, "POST", "/api/v1/namespaces/default/services"));
  // Resources not granted.
  EXPECT_FALSE(allowed(controller, "GET", "/api/v1/secrets"));
  EXPECT_FALSE(allowed(controller, "GET", "/api/v1/namespaces/carplb-system/secrets/carplb-carp"));
  EXPECT_FALSE(allowed(controller, "GET", "/api/v1/nodes"));
  // A different group with the same resource name.
  EXPECT_FALSE(allowed(controller, "POST", "/apis/events.k8s.io/v1/namespaces/default/events"));
  EXPECT_TRUE(allowed(controller, "POST", "/api/v1/namespaces/default/events"));
  auto d = ask(controller, "GET", "/apis/carplb.io/v1alpha1/virtualips");
  ASSERT_TRUE(d.allowed);
  ASSERT_EQ(d.matched.size(), 1u);
  EXPECT_EQ(d.matched[0].toString(), "ClusterRole/carplb-controller rules[2] via ClusterRoleBinding/carplb-controller");
}

TEST_F(AuthorizerTest, SubresourcesAreSeparateResources) {
  EXPECT_TRUE(allowed(controller, "PATCH", "/api/v1/namespaces/default/services/web/status"));
  EXPECT_FALSE(allowed(controller, "PUT", "/api/v1/namespaces/default/services/web/status"));
  // virtualips does not grant virtualips/status.
  EXPECT_FALSE(allowed(controller, "PATCH", "/apis/carplb.io/v1alpha1/virtualips/vip-1/status"));
  EXPECT_TRUE(allowed(controller, "PATCH", "/apis/carplb.io/v1alpha1/virtualips/vip-1"));
  // "*/status" grants the status of any resource, and not the resource itself.
  UserInfo alice = userFromName("alice");
  EXPECT_TRUE(allowed(alice, "GET", "/api/v1/nodes/node-a/status"));
  EXPECT_TRUE(allowed(alice, "GET", "/api/v1/namespaces/default/services/web/status"));
  EXPECT_FALSE(allowed(alice, "GET", "/api/v1/namespaces/default/services/web"));
  EXPECT_TRUE(allowed(alice, "GET", "/api/v1/nodes/node-a"));
  EXPECT_FALSE(allowed(alice, "GET", "/api/v1/nodes"));  // get does not imply list
}

TEST_F(AuthorizerTest, RoleBindingGrantsOnlyInItsNamespaceAndResourceNamesLimitTheObject) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/carplb-system/leases";
  EXPECT_TRUE(allowed(controller, "POST", leases));
  EXPECT_TRUE(allowed(controller, "GET", leases + "/carplb-controller"));
  EXPECT_TRUE(allowed(controller, "PUT", leases + "/carplb-controller"));
  EXPECT_FALSE(allowed(controller, "GET", leases + "/someone-else"));
  EXPECT_FALSE(allowed(controller, "PUT", leases + "/someone-else"));
  EXPECT_FALSE(allowed(controller, "DELETE", leases + "/carplb-controller"));
  EXPECT_FALSE(allowed(controller, "GET", leases));  // list: resourceNames rules need a name
  // A list by name is still the verb list, which the Role does not grant.
  EXPECT_FALSE(allowed(controller, "GET", leases, {{"fieldSelector", "metadata.name=carplb-controller"}}));
  // Same Lease name in another namespace.
  EXPECT_FALSE(allowed(controller, "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/carplb-controller"));
  EXPECT_FALSE(allowed(controller, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases"));
  // Cluster-wide lease list never matches a RoleBinding.
  EXPECT_FALSE(allowed(controller, "GET", "/apis/coordination.k8s.io/v1/leases"));
}

TEST_F(AuthorizerTest, ClusterRoleThroughRoleBindingAndGroupSubjects) {
  UserInfo bob{"bob", {"readers", "system:authenticated"}, false};
  EXPECT_TRUE(allowed(bob, "GET", "/api/v1/namespaces/team-a/services"));
  EXPECT_FALSE(allowed(bob, "GET", "/api/v1/namespaces/team-b/services"));
  EXPECT_FALSE(allowed(bob, "GET", "/api/v1/services"));  // all namespaces = cluster scope
  // virtualips are cluster-scoped: a RoleBinding never grants them.
  EXPECT_FALSE(allowed(bob, "GET", "/apis/carplb.io/v1alpha1/virtualips"));
  UserInfo carol = userFromName("carol");
  EXPECT_FALSE(allowed(carol, "GET", "/api/v1/namespaces/team-a/services"));
  // A ServiceAccount subject matches only its exact namespace and name.
  EXPECT_FALSE(allowed(userFromName("system:serviceaccount:default:carplb-controller"), "GET", "/api/v1/services"));
  EXPECT_FALSE(allowed(userFromName("carplb-controller"), "GET", "/api/v1/services"));
}

TEST_F(AuthorizerTest, DiscoveryForAuthenticatedUsersNonResourceUrlsAndSuperuser) {
  for (const char* p : {"/api", "/api/v1", "/apis", "/apis/carplb.io/v1alpha1", "/version", "/openapi/v2"}) {
    EXPECT_TRUE(allowed(controller, "GET", p)) << p;
  }
  EXPECT_FALSE(allowed(controller, "GET", "/metrics"));
  UserInfo alice = userFromName("alice");
  EXPECT_TRUE(allowed(alice, "GET", "/metrics"));
  EXPECT_TRUE(allowed(alice, "GET", "/debug/pprof"));
  EXPECT_FALSE(allowed(alice, "POST", "/metrics"));
  UserInfo anonymous{"system:anonymous", {"system:unauthenticated"}, false};
  EXPECT_FALSE(allowed(anonymous, "GET", "/apis"));
  UserInfo admin{"admin", {"system:masters"}, true};
  EXPECT_TRUE(allowed(admin, "DELETE", "/api/v1/namespaces/kube-system/secrets"));
}

TEST_F(AuthorizerTest, ForbiddenStatusLikeKubeApiserver) {
  auto e = forbidden(controller, requestAttributes("GET", "/api/v1/secrets", {}));
  EXPECT_EQ(e.code, 403);
  EXPECT_EQ(e.reason, "Forbidden");
  EXPECT_EQ(e.message,
            "secrets is forbidden: User \"system:serviceaccount:carplb-system:carplb-controller\" cannot list resource "
            "\"secrets\" in API group \"\" at the cluster scope");
  json st = e.toStatus();
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["status"], "Failure");
  EXPECT_EQ(st["code"], 403);
  EXPECT_EQ(st["details"], (json{{"group", ""}, {"kind", "secrets"}}));

  e = forbidden(controller, requestAttributes("PUT", "/api/v1/namespaces/default/services/web/status", {}));
  EXPECT_EQ(e.message,
            "services \"web\" is forbidden: User \"system:serviceaccount:carplb-system:carplb-controller\" cannot update "
            "resource \"services/status\" in API group \"\" in the namespace \"default\"");
  EXPECT_EQ(e.details, (json{{"group", ""}, {"kind", "services"}, {"name", "web"}}));

  e = forbidden(controller, requestAttributes("DELETE", "/apis/coordination.k8s.io/v1/namespaces/carplb-system/leases/x", {}));
  EXPECT_EQ(e.message,
            "leases.coordination.k8s.io \"x\" is forbidden: User \"system:serviceaccount:carplb-system:carplb-controller\" "
            "cannot delete resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"carplb-system\"");

  e = forbidden(controller, requestAttributes("GET", "/metrics", {}));
  EXPECT_EQ(e.message, "forbidden: User \"system:serviceaccount:carplb-system:carplb-controller\" cannot get path \"/metrics\"");
}

TEST(UserFromName, ServiceAccountGroups) {
  auto u = userFromName(Controller);
  EXPECT_EQ(u.groups, (std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:carplb-system",
                                                "system:authenticated"}));
  EXPECT_FALSE(u.superuser);
  EXPECT_EQ(userFromName("alice").groups, std::vector<std::string>{"system:authenticated"});
}

TEST_F(AuthorizerTest, LedgerCountsRequestsAndFindsUnusedGrants) {
  AuthzLedger ledger;
  auto rec = [&](const UserInfo& u, const std::string& m, const std::string& p, std::map<std::string, std::string> q = {}) {
    auto a = requestAttributes(m, p, q);
    ledger.record(u, a, policy.authorize(u, a));
  };
  rec(controller, "GET", "/api/v1/services");
  rec(controller, "GET", "/api/v1/services");
  rec(controller, "GET", "/api/v1/services", {{"watch", "true"}});
  rec(controller, "PATCH", "/api/v1/namespaces/default/services/web");
  rec(controller, "PATCH", "/api/v1/namespaces/default/services/web/status");
  rec(controller, "PUT", "/apis/coordination.k8s.io/v1/namespaces/carplb-system/leases/carplb-controller");
  rec(controller, "GET", "/api/v1/nodes");  // denied
  rec(controller, "GET", "/api/v1/nodes");  // denied
  rec(UserInfo{"admin", {"system:masters"}, true}, "DELETE", "/api/v1/nodes/node-a");  // not recorded
  EXPECT_EQ(ledger.deniedCount(), 2u);

  json report = ledger.report(policy, {controller, userFromName("alice")});
  ASSERT_EQ(report["users"].size(), 2u);
  json alice = report["users"][0];
  json ctl = report["users"][1];
  ASSERT_EQ(ctl["user"], Controller);
  EXPECT_EQ(alice["user"], "alice");
  EXPECT_TRUE(alice["requests"].empty());
  EXPECT_EQ(ctl["denied"], 2);

  auto request = [&](const std::string& verb, const std::string& resource, bool allowed) {
    for (const auto& r : ctl["requests"]) {
      if (r["verb"] == verb && r.value("resource", "") == resource && r["allowed"] == allowed) return r;
    }
    return json();
  };
  EXPECT_EQ(request("list", "services", true)["count"], 2);
  EXPECT_EQ(request("watch", "services", true)["count"], 1);
  EXPECT_EQ(request("patch", "services/status", true)["rules"],
            json::array({"ClusterRole/carplb-controller rules[1] via ClusterRoleBinding/carplb-controller"}));
  json denied = request("list", "nodes", false);
  EXPECT_EQ(denied["count"], 2);
  EXPECT_EQ(denied["message"],
            "nodes is forbidden: User \"system:serviceaccount:carplb-system:carplb-controller\" cannot list resource "
            "\"nodes\" in API group \"\" at the cluster scope");

  std::map<std::string, uint64_t> used;  // "verb group/resource" -> count
  for (const auto& g : ctl["grants"]) {
    used[g["verb"].get<std::string>() + " " + g["apiGroup"].get<std::string>() + "/" + g["resource"].get<std::string>()] =
        g["used"].get<uint64_t>();
  }
  EXPECT_EQ(used.size(), 15u);  // 3 + 1 + 6 + 2 (ClusterRole) + 1 + 2 (Role); no Group/User bindings
  EXPECT_EQ(used["list /services"], 2u);
  EXPECT_EQ(used["watch /services"], 1u);
  EXPECT_EQ(used["patch /services"], 1u);
  EXPECT_EQ(used["patch /services/status"], 1u);
  EXPECT_EQ(used["update coordination.k8s.io/leases"], 1u);
  EXPECT_EQ(used["get coordination.k8s.io/leases"], 0u);
  EXPECT_EQ(used["create carplb.io/virtualips"], 0u);
  EXPECT_EQ(ctl["unusedGrants"], 15 - 5);

  // Non-resource grants: a prefix rule counts the paths under it.
  UserInfo aliceUser = userFromName("alice");
  rec(aliceUser, "GET", "/debug/pprof/heap");
  rec(aliceUser, "GET", "/debug/vars");
  json ar = ledger.report(policy, {aliceUser})["users"][0];
  ASSERT_EQ(ar["user"], "alice");
  std::map<std::string, uint64_t> aliceUsed;
  for (const auto& g : ar["grants"]) aliceUsed[g["verb"].get<std::string>() + " " + g["resource"].get<std::string>()] = g["used"];
  EXPECT_EQ(aliceUsed["get /debug/*"], 2u);
  EXPECT_EQ(aliceUsed["get /metrics"], 0u);
  EXPECT_EQ(aliceUsed["get nodes"], 0u);
}

}  // namespace
}  // namespace carplb::kubedouble
