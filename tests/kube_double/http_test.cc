// Integration tests of carplb-kube-double over loopback HTTP: discovery, CRUD status codes,
// watch semantics (order, bookmarks, timeout, 410), finalizers, selectors, auth and faults.
#include "kube_double/double_process.h"
#include "kube_double/http_test_client.h"

#include <gtest/gtest.h>

#include <fstream>

namespace carplb::kubedouble {
namespace {

using nlohmann::json;
using testing::HttpConnection;
using testing::HttpResponse;
using testing::httpRequest;
using namespace std::chrono_literals;

class HttpTest : public ::testing::Test {
protected:
  void startDouble(std::vector<std::string> args = {}) {
    auto d = DoubleProcess::start(CARPLB_KUBE_DOUBLE_BIN, args);
    ASSERT_TRUE(d.ok()) << d.error().message;
    double_ = std::move(d).value();
  }
  int port() const { return double_->port(); }
  HttpResponse call(const std::string& method, const std::string& path, const json& body = nullptr,
                    std::map<std::string, std::string> headers = {}) {
    return httpRequest(port(), method, path, body.is_null() ? "" : body.dump(), headers);
  }
  json configMap(const std::string& name, json labels = json::object()) {
    return json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}, {"labels", labels}}},
                {"data", {{"k", "v"}}}};
  }
  std::string createCm(const std::string& name, json labels = json::object()) {
    auto r = call("POST", "/api/v1/namespaces/default/configmaps", configMap(name, labels));
    EXPECT_EQ(r.code, 201) << r.body;
    return r.json()["metadata"].value("resourceVersion", "");
  }
  std::unique_ptr<DoubleProcess> double_;
};

TEST_F(HttpTest, DiscoveryListsBuiltinsAndCustomResources) {
  startDouble();
  auto v = call("GET", "/version");
  EXPECT_EQ(v.code, 200);
  EXPECT_EQ(v.json()["major"], "1");
  EXPECT_EQ(v.headers["content-type"], "application/json");
  auto core = call("GET", "/api/v1").json();
  std::vector<std::string> names;
  for (const auto& r : core["resources"]) {
    names.push_back(r["name"]);
  }
  for (const char* want : {"services", "services/status", "nodes", "events", "configmaps", "secrets", "namespaces"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  auto groups = call("GET", "/apis").json();
  std::string all = groups.dump();
  for (const char* g : {"discovery.k8s.io", "coordination.k8s.io", "events.k8s.io", "apiextensions.k8s.io"}) {
    EXPECT_NE(all.find(g), std::string::npos) << g;
  }
  EXPECT_EQ(call("GET", "/apis/carplb.io/v1alpha1").code, 404);
  json crd = {{"apiVersion", "apiextensions.k8s.io/v1"}, {"kind", "CustomResourceDefinition"},
              {"metadata", {{"name", "virtualips.carplb.io"}}},
              {"spec", {{"group", "carplb.io"}, {"scope", "Cluster"},
                        {"names", {{"plural", "virtualips"}, {"kind", "VirtualIP"}, {"shortNames", {"vip"}}}},
                        {"versions", json::array({{{"name", "v1alpha1"}, {"served", true}, {"storage", true},
                                                   {"subresources", {{"status", json::object()}}}}})}}}};
  auto created = call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  ASSERT_EQ(created.code, 201) << created.body;
  auto list = call("GET", "/apis/carplb.io/v1alpha1").json();
  EXPECT_EQ(list["resources"][0]["name"], "virtualips");
  EXPECT_EQ(list["resources"][0]["shortNames"][0], "vip");
  EXPECT_EQ(list["resources"][1]["name"], "virtualips/status");
  auto vip = call("POST", "/apis/carplb.io/v1alpha1/virtualips",
                  json{{"metadata", {{"name", "v1"}}}, {"spec", {{"address", "192.0.2.10"}, {"vhid", 10}}}});
  ASSERT_EQ(vip.code, 201) << vip.body;
  json withStatus = vip.json();
  withStatus["status"] = {{"master", "node-a"}};
  withStatus["spec"]["vhid"] = 99;
  auto st = call("PUT", "/apis/carplb.io/v1alpha1/virtualips/v1/status", withStatus);
  ASSERT_EQ(st.code, 200) << st.body;
  EXPECT_EQ(st.json()["status"]["master"], "node-a");
  EXPECT_EQ(st.json()["spec"]["vhid"], 10) << "/status keeps only .status";
  auto noRv = call("PUT", "/apis/carplb.io/v1alpha1/virtualips/v1",
                   json{{"metadata", {{"name", "v1"}}}, {"spec", {{"address", "192.0.2.10"}, {"vhid", 10}}}});
  EXPECT_EQ(noRv.code, 422) << noRv.body;
}

TEST_F(HttpTest, ErrorsAreStatusObjectsWithTheRightCodes) {
  startDouble();
  auto missing = call("GET", "/api/v1/namespaces/default/services/nope");
  EXPECT_EQ(missing.code, 404);
  EXPECT_EQ(missing.json()["kind"], "Status");
  EXPECT_EQ(missing.json()["reason"], "NotFound");
  EXPECT_EQ(call("GET", "/api/v1/widgets").code, 404);
  EXPECT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", nullptr, {}).code, 422);
  auto bad = httpRequest(port(), "POST", "/api/v1/namespaces/default/configmaps", "{not json");
  EXPECT_EQ(bad.code, 400);
  createCm("a");
  auto cur = call("GET", "/api/v1/namespaces/default/configmaps/a").json();
  json upd = cur;
  upd["data"]["k"] = "v2";
  EXPECT_EQ(call("PUT", "/api/v1/namespaces/default/configmaps/a", upd).code, 200);
  auto stale = call("PUT", "/api/v1/namespaces/default/configmaps/a", upd);
  EXPECT_EQ(stale.code, 409);
  EXPECT_EQ(stale.json()["reason"], "Conflict");
  json stalePatch = {{"metadata", {{"resourceVersion", cur["metadata"]["resourceVersion"]}}}, {"data", {{"k", "x"}}}};
  EXPECT_EQ(call("PATCH", "/api/v1/namespaces/default/configmaps/a", stalePatch,
                 {{"Content-Type", "application/merge-patch+json"}}).code, 409);
  EXPECT_EQ(call("PATCH", "/api/v1/namespaces/default/configmaps/a", json{{"data", {{"k", "x"}}}},
                 {{"Content-Type", "text/plain"}}).code, 415);
  auto ok = call("PATCH", "/api/v1/namespaces/default/configmaps/a", json{{"data", {{"k", "x"}}}},
                 {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(ok.code, 200);
  EXPECT_EQ(ok.json()["data"]["k"], "x");
}

TEST_F(HttpTest, WatchDeliversEventsInOrderWithBookmarksAndEndsOnTimeout) {
  startDouble({"--bookmark-interval", "1"});
  const std::string rv = createCm("a");
  HttpConnection w(port(), "GET",
                   "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=" + rv);
  HttpResponse head;
  ASSERT_TRUE(w.readHead(head, 5s));
  EXPECT_EQ(head.code, 200);
  EXPECT_NE(head.headers["transfer-encoding"].find("chunked"), std::string::npos);
  createCm("b");
  call("PATCH", "/api/v1/namespaces/default/configmaps/b", json{{"data", {{"k", "2"}}}},
       {{"Content-Type", "application/strategic-merge-patch+json"}});
  call("DELETE", "/api/v1/namespaces/default/configmaps/b");
  std::vector<std::string> types;
  std::string lastRv;
  bool sawBookmark = false;
  bool ended = false;
  for (int i = 0; i < 20 && !ended; ++i) {
    auto e = w.nextEvent(5s);
    ASSERT_TRUE(e.has_value()) << "watch stalled";
    if (e->contains("eof")) {
      ended = true;
    } else if ((*e)["type"] == "BOOKMARK") {
      sawBookmark = true;
      EXPECT_FALSE((*e)["object"]["metadata"]["resourceVersion"].get<std::string>().empty());
    } else {
      types.push_back((*e)["type"]);
      EXPECT_EQ((*e)["object"]["metadata"]["name"], "b");
      std::string evRv = (*e)["object"]["metadata"]["resourceVersion"];
      EXPECT_NE(evRv, lastRv);
      lastRv = evRv;
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));
  EXPECT_TRUE(sawBookmark);
  EXPECT_TRUE(ended) << "timeoutSeconds=3 must end the stream";
}

TEST_F(HttpTest, TooOldResourceVersionGets410) {
  startDouble({"--history-window", "2"});
  const std::string first = createCm("a");
  createCm("b");
  createCm("c");
  createCm("d");
  HttpConnection w(port(), "GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + first);
  HttpResponse head;
  ASSERT_TRUE(w.readHead(head, 5s));
  EXPECT_EQ(head.code, 200);
  auto e = w.nextEvent(5s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["code"], 410);
  EXPECT_EQ((*e)["object"]["reason"], "Expired");
  auto end = w.nextEvent(5s);
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->contains("eof"));
  // A list continue token from before a compaction is too old as well.
  auto page = call("GET", "/api/v1/namespaces/default/configmaps?limit=1").json();
  std::string token = page["metadata"]["continue"];
  ASSERT_FALSE(token.empty());
  createCm("e");
  ASSERT_EQ(call("POST", "/_double/compact").code, 200);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps?limit=1&continue=" + testing::urlEscape(token)).code, 410);
  const std::string now = call("GET", "/api/v1/namespaces/default/configmaps").json()["metadata"]["resourceVersion"];
  HttpConnection fresh(port(), "GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + now);
  ASSERT_TRUE(fresh.readHead(head, 5s));
  createCm("f");
  auto ev = fresh.nextEvent(5s);
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ((*ev)["type"], "ADDED");
}

TEST_F(HttpTest, FinalizersHoldDeletionUntilTheLastOneIsRemoved) {
  startDouble();
  json svc = {{"metadata", {{"name", "web"}, {"finalizers", {"service.kubernetes.io/load-balancer-cleanup"}}}},
              {"spec", {{"type", "LoadBalancer"}, {"ports", json::array({{{"port", 80}}})}}}};
  auto c = call("POST", "/api/v1/namespaces/default/services", svc);
  ASSERT_EQ(c.code, 201) << c.body;
  std::string rv = c.json()["metadata"]["resourceVersion"];
  HttpConnection w(port(), "GET", "/api/v1/namespaces/default/services?watch=true&resourceVersion=" + rv);
  HttpResponse head;
  ASSERT_TRUE(w.readHead(head, 5s));
  auto d = call("DELETE", "/api/v1/namespaces/default/services/web");
  EXPECT_EQ(d.code, 200);
  EXPECT_TRUE(d.json()["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/services/web").code, 200);
  auto p = call("PATCH", "/api/v1/namespaces/default/services/web/status",
                json{{"metadata", {{"finalizers", nullptr}}}}, {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(p.code, 200) << p.body;
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/services/web").code, 404);
  auto e1 = w.nextEvent(5s);
  auto e2 = w.nextEvent(5s);
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ((*e1)["type"], "MODIFIED");
  EXPECT_EQ((*e2)["type"], "DELETED");
}

TEST_F(HttpTest, LabelAndFieldSelectors) {
  startDouble();
  createCm("a", json{{"app", "web"}});
  createCm("b", json{{"app", "db"}});
  createCm("c");
  auto names = [&](const std::string& query) {
    std::vector<std::string> out;
    const json list = call("GET", "/api/v1/namespaces/default/configmaps?" + query).json();
    for (const auto& i : list["items"]) {
      out.push_back(i["metadata"]["name"]);
    }
    return out;
  };
  EXPECT_EQ(names("labelSelector=app%3Dweb"), std::vector<std::string>{"a"});
  EXPECT_EQ(names("labelSelector=app%20in%20(web,db)"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names("labelSelector=!app"), std::vector<std::string>{"c"});
  EXPECT_EQ(names("fieldSelector=metadata.name%3Db"), std::vector<std::string>{"b"});
  EXPECT_EQ(names("fieldSelector=metadata.name!%3Db&labelSelector=app"), std::vector<std::string>{"a"});
  EXPECT_EQ(call("GET", "/api/v1/configmaps?labelSelector=app%20in%20(web").code, 400);
  EXPECT_EQ(call("GET", "/api/v1/configmaps").json()["items"].size(), 3u) << "all namespaces";
}

TEST_F(HttpTest, TableOutputForKubectl) {
  startDouble();
  auto t = call("GET", "/api/v1/namespaces/default/services", nullptr,
                {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}}).json();
  EXPECT_EQ(t["kind"], "Table");
  std::vector<std::string> cols;
  for (const auto& c : t["columnDefinitions"]) {
    cols.push_back(c["name"]);
  }
  EXPECT_EQ(cols, (std::vector<std::string>{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"}));
  EXPECT_EQ(t["rows"][0]["cells"][0], "kubernetes");
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

TEST_F(HttpTest, BearerTokenIsRequiredWhenConfigured) {
  startDouble({"--token", "s3cret"});
  EXPECT_EQ(call("GET", "/api/v1/namespaces").code, 401);
  EXPECT_EQ(call("GET", "/api/v1/namespaces", nullptr, {{"Authorization", "Bearer wrong"}}).code, 401);
  EXPECT_EQ(call("GET", "/api/v1/namespaces", nullptr, {{"Authorization", "Bearer s3cret"}}).code, 200);
  EXPECT_EQ(call("GET", "/healthz").code, 200);
}

TEST_F(HttpTest, InjectedFailuresLatencyWatchDropsAndRestart) {
  startDouble();
  auto f = call("POST", "/_double/faults", json{{"failNext", {{"code", 429}, {"count", 2}, {"retryAfter", 1}}}});
  ASSERT_EQ(f.code, 200) << f.body;
  auto r1 = call("GET", "/api/v1/namespaces");
  EXPECT_EQ(r1.code, 429);
  EXPECT_EQ(r1.headers["retry-after"], "1");
  EXPECT_EQ(r1.json()["reason"], "TooManyRequests");
  EXPECT_EQ(call("GET", "/api/v1/namespaces").code, 429);
  EXPECT_EQ(call("GET", "/api/v1/namespaces").code, 200);
  call("POST", "/_double/faults", json{{"failNext", {{"code", 500}, {"count", 1}, {"pathPrefix", "/api/v1/nodes"}}}});
  EXPECT_EQ(call("GET", "/api/v1/namespaces").code, 200);
  EXPECT_EQ(call("GET", "/api/v1/nodes").code, 500);

  call("POST", "/_double/faults", json{{"latencyMs", 300}});
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(call("GET", "/api/v1/namespaces").code, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  call("POST", "/_double/faults", json{{"latencyMs", 0}});

  const std::string rv = createCm("a");
  HttpConnection w(port(), "GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv);
  HttpResponse head;
  ASSERT_TRUE(w.readHead(head, 5s));
  EXPECT_EQ(call("GET", "/_double/state").json()["watchers"], 1);
  auto dropped = call("POST", "/_double/faults", json{{"dropWatchesNow", true}}).json();
  EXPECT_EQ(dropped["droppedWatches"], 1);
  auto eof = w.nextEvent(5s);
  ASSERT_TRUE(eof.has_value());
  EXPECT_TRUE(eof->contains("eof"));

  createCm("b");
  HttpConnection w2(port(), "GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(w2.readHead(head, 5s));
  EXPECT_EQ(call("POST", "/_double/restart", json{{"forgetHistory", true}}).code, 202);
  auto replayed = w2.nextEvent(5s);
  ASSERT_TRUE(replayed.has_value());
  EXPECT_EQ((*replayed)["object"]["metadata"]["name"], "b");
  auto end2 = w2.nextEvent(5s);
  ASSERT_TRUE(end2.has_value());
  EXPECT_TRUE(end2->contains("eof")) << "restart ends every watch";
  bool restarted = false;
  for (int i = 0; i < 100 && !restarted; ++i) {  // the listener reopens on the same port
    json st = call("GET", "/_double/state").json();
    restarted = st.is_object() && st.value("restarts", 0) == 1;
    if (!restarted) {
      std::this_thread::sleep_for(50ms);
    }
  }
  ASSERT_TRUE(restarted) << double_->log();
  HttpResponse after = call("GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_EQ(after.code, 200);
  EXPECT_EQ(after.json()["items"].size(), 2u) << "objects survive a restart";
  HttpConnection old(port(), "GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(old.readHead(head, 5s));
  auto err = old.nextEvent(5s);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ((*err)["object"]["code"], 410) << "history was forgotten: watchers must relist";
}

// --authorize with the chart's rendered RBAC (manifests/carplb.yaml): the controller's token is
// its ServiceAccount; what the chart does not grant is a 403 Status like kube-apiserver's, logged
// by the double and counted in /_double/authz; the administrator (no token here) is not limited.
TEST_F(HttpTest, AuthorizeEnforcesTheChartsRbacForTokenUsers) {
  const std::string user = "system:serviceaccount:carplb-system:carplb-controller";
  startDouble({"--authorize", CARPLB_SOURCE_DIR "/manifests/carplb.yaml", "--authorize-token", "ctl-t0k=en==" "=" + user,
               "--authorize-token", "other=system:serviceaccount:default:someone"});
  const std::map<std::string, std::string> ctl = {{"Authorization", "Bearer ctl-t0k=en=="}};
  const std::map<std::string, std::string> other = {{"Authorization", "Bearer other"}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces", json{{"metadata", {{"name", "carplb-system"}}}}).code, 201);

  // Allowed by the ClusterRole: list and watch Services everywhere, discovery.
  EXPECT_EQ(call("GET", "/api/v1/services", nullptr, ctl).code, 200);
  EXPECT_EQ(call("GET", "/apis", nullptr, ctl).code, 200);
  EXPECT_EQ(call("GET", "/api/v1", nullptr, ctl).code, 200);
  // Not granted: Secrets, and anything for a user without bindings.
  HttpResponse r = call("GET", "/api/v1/namespaces/carplb-system/secrets", nullptr, ctl);
  EXPECT_EQ(r.code, 403);
  json st = r.json();
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["reason"], "Forbidden");
  EXPECT_EQ(st["code"], 403);
  EXPECT_EQ(st["message"], "secrets is forbidden: User \"" + user +
                               "\" cannot list resource \"secrets\" in API group \"\" in the namespace \"carplb-system\"");
  EXPECT_EQ(call("GET", "/api/v1/services", nullptr, other).code, 403);
  // Leases: create in the release namespace, get/update only the chart's Lease by name.
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/carplb-system/leases";
  json lease = {{"metadata", {{"name", "carplb-controller"}}}, {"spec", {{"holderIdentity", "a"}}}};
  EXPECT_EQ(call("POST", leases, lease, ctl).code, 201);
  EXPECT_EQ(call("GET", leases + "/carplb-controller", nullptr, ctl).code, 200);
  EXPECT_EQ(call("GET", leases + "/another", nullptr, ctl).code, 403);
  EXPECT_EQ(call("DELETE", leases + "/carplb-controller", nullptr, ctl).code, 403);
  EXPECT_EQ(call("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease, ctl).code, 403);
  // The administrator is not limited; a token user cannot reach the control endpoint; an
  // unknown token is 401.
  EXPECT_EQ(call("GET", "/api/v1/namespaces/carplb-system/secrets").code, 200);
  EXPECT_EQ(call("GET", "/_double/authz", nullptr, ctl).code, 403);
  EXPECT_EQ(call("GET", "/api/v1/services", nullptr, {{"Authorization", "Bearer nope"}}).code, 401);

  json authz = call("GET", "/_double/authz").json();
  ASSERT_TRUE(authz.is_object()) << authz;
  EXPECT_EQ(authz["denied"], 5);  // 4 for the controller, 1 for the user without bindings
  json ctlReport;
  for (const auto& u : authz["users"]) {
    if (u["user"] == user) ctlReport = u;
  }
  ASSERT_TRUE(ctlReport.is_object()) << authz.dump(2);
  EXPECT_EQ(ctlReport["denied"], 4);
  bool sawSecrets = false;
  for (const auto& q : ctlReport["requests"]) {
    if (q.value("resource", "") == "secrets") {
      sawSecrets = true;
      EXPECT_FALSE(q["allowed"].get<bool>());
      EXPECT_EQ(q["verb"], "list");
    }
  }
  EXPECT_TRUE(sawSecrets) << ctlReport.dump(2);
  uint64_t listServices = 0;
  for (const auto& g : ctlReport["grants"]) {
    if (g["verb"] == "list" && g["resource"] == "services") listServices += g["used"].get<uint64_t>();
  }
  EXPECT_EQ(listServices, 1u);
  // Every denial is in the double's log.
  const std::string log = double_->log();
  EXPECT_NE(log.find("msg=forbidden"), std::string::npos) << log;
  EXPECT_NE(log.find("cannot list resource \\\"secrets\\\""), std::string::npos) << log;
}

TEST_F(HttpTest, AuthorizeRejectsBadFlagsAndPolicies) {
  auto d = DoubleProcess::start(CARPLB_KUBE_DOUBLE_BIN, {"--authorize-token", "t=alice"});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("--authorize-token needs --authorize FILE"), std::string::npos) << d.error().message;
  const std::string bad = ::testing::TempDir() + "/carplb-bad-rbac.yaml";
  std::ofstream(bad) << "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: x\n"
                        "rules:\n  - apiGroups: ['']\n    resources: [services]\n    verbs: get\n";
  d = DoubleProcess::start(CARPLB_KUBE_DOUBLE_BIN, {"--authorize", bad});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("ClusterRole/x: rules[0].verbs: must be a list of strings"), std::string::npos)
      << d.error().message;
}

}  // namespace
}  // namespace carplb::kubedouble
