// Unit tests of the pure parts of the API server double: store semantics (RVs, 409, 410,
// finalizers, selectors, watch replay), patches, selectors, Table output and JSONPath.
#include "fakes/fake_clock.h"
#include "kube_double/patch.h"
#include "kube_double/selectors.h"
#include "kube_double/store.h"
#include "kube_double/table.h"
#include "kube_double/time_format.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace carplb::kubedouble {
namespace {

using nlohmann::json;

class RecordingSink : public WatchSink {
public:
  bool send(const WatchEvent& e) override {
    events.push_back(e);
    return open;
  }
  void close() override { closed = true; }
  std::vector<WatchEvent> events;
  bool open = true;
  bool closed = false;
};

class StoreTest : public ::testing::Test {
protected:
  ResourceType type(const std::string& group, const std::string& plural) {
    auto t = store.findType(group, group.empty() ? "v1" : (group == "carplb.io" ? "v1alpha1" : "v1"), plural);
    EXPECT_TRUE(t.has_value()) << plural;
    return t.value_or(ResourceType{});
  }
  json svc(const std::string& name, json labels = json::object()) {
    return json{{"metadata", {{"name", name}, {"labels", labels}}},
                {"spec", {{"type", "LoadBalancer"}, {"ports", json::array({{{"port", 80}}})}}}};
  }
  testing::FakeClock clock;
  SystemRandom random{42};
  Store store{clock, random, StoreOptions{4, "198.51.100."}};
};

TEST_F(StoreTest, CreateSetsServerFieldsAndServiceDefaults) {
  auto created = store.create(type("", "services"), "default", svc("web"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  const json& o = created.value();
  EXPECT_EQ(o["kind"], "Service");
  EXPECT_EQ(o["apiVersion"], "v1");
  EXPECT_EQ(o["metadata"]["namespace"], "default");
  EXPECT_EQ(o["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(o["metadata"]["generation"], 1);
  EXPECT_EQ(o["metadata"]["creationTimestamp"], formatRfc3339(clock.wallNow()));
  EXPECT_EQ(o["spec"]["clusterIP"], "198.51.100.10");
  EXPECT_EQ(o["spec"]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(o["spec"]["ports"][0]["targetPort"], 80);
  EXPECT_EQ(o["spec"]["ports"][0]["nodePort"], 30000);
  EXPECT_EQ(o["spec"]["externalTrafficPolicy"], "Cluster");
  EXPECT_EQ(std::to_string(store.currentRv()), o["metadata"]["resourceVersion"].get<std::string>());

  auto again = store.create(type("", "services"), "default", svc("web"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, 409);
  EXPECT_EQ(again.error().reason, "AlreadyExists");

  auto noNs = store.create(type("", "services"), "nope", svc("web"));
  ASSERT_FALSE(noNs.ok());
  EXPECT_EQ(noNs.error().code, 404);

  json bad = svc("bad");
  bad["spec"]["type"] = "typeValue";
  auto invalidType = store.create(type("", "services"), "default", bad);
  ASSERT_FALSE(invalidType.ok());
  EXPECT_EQ(invalidType.error().code, 422);
  EXPECT_NE(invalidType.error().message.find("spec.type"), std::string::npos);
}

TEST_F(StoreTest, StaleUpdateIsConflictAndNoOpKeepsResourceVersion) {
  auto t = type("", "services");
  json o = store.create(t, "default", svc("web")).value();
  json newer = o;
  newer["metadata"]["labels"]["x"] = "1";
  auto u1 = store.update(t, "default", "web", newer, Subresource::None);
  ASSERT_TRUE(u1.ok()) << u1.error().message;
  EXPECT_NE(u1.value()["metadata"]["resourceVersion"], o["metadata"]["resourceVersion"]);
  auto stale = store.update(t, "default", "web", newer, Subresource::None);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, 409);
  EXPECT_EQ(stale.error().reason, "Conflict");
  uint64_t rv = store.currentRv();
  auto same = store.update(t, "default", "web", u1.value(), Subresource::None);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(store.currentRv(), rv);
  EXPECT_EQ(same.value()["metadata"]["generation"], 1);
  json specChange = u1.value();
  specChange["spec"]["ports"][0]["port"] = 81;
  auto u2 = store.update(t, "default", "web", specChange, Subresource::None);
  ASSERT_TRUE(u2.ok());
  EXPECT_EQ(u2.value()["metadata"]["generation"], 2);
}

TEST_F(StoreTest, LeaseUpdateWithoutResourceVersionIsInvalid) {
  auto t = type("coordination.k8s.io", "leases");
  json lease = {{"metadata", {{"name", "l"}}}, {"spec", {{"holderIdentity", "a"}, {"leaseDurationSeconds", 15}}}};
  ASSERT_TRUE(store.create(t, "default", lease).ok());
  auto r = store.update(t, "default", "l", lease, Subresource::None);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  EXPECT_NE(r.error().message.find("metadata.resourceVersion"), std::string::npos);
}

TEST_F(StoreTest, StatusSubresourceSeparatesSpecAndStatus) {
  auto t = type("", "services");
  json o = store.create(t, "default", svc("web")).value();
  json withStatus = o;
  withStatus["status"]["loadBalancer"]["ingress"] = json::array({{{"ip", "192.0.2.10"}}});
  withStatus["spec"]["ports"][0]["port"] = 99;
  withStatus["metadata"]["finalizers"] = json::array({"service.kubernetes.io/load-balancer-cleanup"});
  auto s = store.update(t, "default", "web", withStatus, Subresource::Status);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s.value()["status"]["loadBalancer"]["ingress"][0]["ipMode"], "VIP");
  EXPECT_EQ(s.value()["spec"]["ports"][0]["port"], 80) << "spec ignored through /status";
  EXPECT_EQ(s.value()["metadata"]["finalizers"].size(), 1u) << "Services keep metadata through /status";
  json main = s.value();
  main["status"] = json::object();
  auto m = store.update(t, "default", "web", main, Subresource::None);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.value()["status"]["loadBalancer"]["ingress"].size(), 1u) << "status ignored on the main endpoint";
}

TEST_F(StoreTest, FinalizersDelayDeletionUntilRemoved) {
  auto t = type("", "services");
  json o = svc("web");
  o["metadata"]["finalizers"] = json::array({"a/b"});
  ASSERT_TRUE(store.create(t, "default", o).ok());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(store.watch(t, WatchRequest{{}, std::to_string(store.currentRv()), false, TimePoint::max()}, sink).ok());
  auto d = store.remove(t, "default", "web", json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d.value()["metadata"].contains("deletionTimestamp"));
  ASSERT_TRUE(store.get(t, "default", "web").ok());
  auto p = store.patch(t, "default", "web", json{{"metadata", {{"finalizers", nullptr}}}}, PatchType::Merge,
                       Subresource::None);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_FALSE(store.get(t, "default", "web").ok());
  ASSERT_EQ(sink->events.size(), 2u);
  EXPECT_EQ(sink->events[0].type, "MODIFIED");
  EXPECT_EQ(sink->events[1].type, "DELETED");
}

TEST_F(StoreTest, WatchReplaysFromResourceVersionAndExpiresOldOnes) {
  auto t = type("", "configmaps");
  uint64_t start = store.currentRv();
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(store.create(t, "default", json{{"metadata", {{"name", "cm" + std::to_string(i)}}}}).ok());
  }
  // Window is 4 events: the first two creations are forgotten.
  auto old = store.watch(t, WatchRequest{{}, std::to_string(start + 1), false, TimePoint::max()},
                         std::make_shared<RecordingSink>());
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code, 410);
  EXPECT_EQ(old.error().reason, "Expired");
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(store.watch(t, WatchRequest{{}, std::to_string(start + 4), false, TimePoint::max()}, sink).ok());
  ASSERT_EQ(sink->events.size(), 2u);
  EXPECT_EQ(sink->events[0].object["metadata"]["name"], "cm4");
  auto fresh = std::make_shared<RecordingSink>();
  ASSERT_TRUE(store.watch(t, WatchRequest{{}, "", true, TimePoint::max()}, fresh).ok());
  EXPECT_EQ(fresh->events.size(), 6u);
  store.sendBookmarks();
  EXPECT_EQ(fresh->events.back().type, "BOOKMARK");
  EXPECT_EQ(fresh->events.back().object["metadata"]["resourceVersion"], std::to_string(store.currentRv()));
  EXPECT_EQ(sink->events.size(), 2u) << "no bookmarks unless asked";
  store.compact();
  auto afterCompact = store.watch(t, WatchRequest{{}, std::to_string(store.currentRv() - 1), false, TimePoint::max()},
                                  std::make_shared<RecordingSink>());
  EXPECT_FALSE(afterCompact.ok());
  EXPECT_EQ(store.closeAllWatches(), 2u);
  EXPECT_TRUE(sink->closed);
}

TEST_F(StoreTest, WatchWithSelectorTurnsLabelChangesIntoAddedAndDeleted) {
  auto t = type("", "services");
  auto sel = Selector::parseLabels("app=web");
  ASSERT_TRUE(sel.ok());
  auto sink = std::make_shared<RecordingSink>();
  WatchRequest req;
  req.filter.labels = sel.value();
  req.resourceVersion = std::to_string(store.currentRv());
  ASSERT_TRUE(store.watch(t, req, sink).ok());
  ASSERT_TRUE(store.create(t, "default", svc("a", {{"app", "db"}})).ok());
  ASSERT_TRUE(store.patch(t, "default", "a", json{{"metadata", {{"labels", {{"app", "web"}}}}}}, PatchType::Merge,
                          Subresource::None).ok());
  ASSERT_TRUE(store.patch(t, "default", "a", json{{"metadata", {{"labels", {{"app", "x"}}}}}}, PatchType::Merge,
                          Subresource::None).ok());
  ASSERT_EQ(sink->events.size(), 2u);
  EXPECT_EQ(sink->events[0].type, "ADDED");
  EXPECT_EQ(sink->events[1].type, "DELETED");
  ListRequest lr;
  lr.filter.fields = Selector::parseFields("metadata.name=a").value();
  auto l = store.list(t, lr);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->items.size(), 1u);
  EXPECT_EQ(l->items[0]["metadata"]["name"], "a");
}

TEST_F(StoreTest, ListPagesWithContinueTokens) {
  auto t = type("", "configmaps");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store.create(t, "default", json{{"metadata", {{"name", "cm" + std::to_string(i)}}}}).ok());
  }
  ListRequest lr;
  lr.limit = 2;
  std::vector<std::string> names;
  for (int page = 0; page < 5; ++page) {
    auto l = store.list(t, lr);
    ASSERT_TRUE(l.ok());
    for (const auto& o : l->items) {
      names.push_back(o["metadata"]["name"]);
    }
    if (l->continueToken.empty()) {
      break;
    }
    lr.continueToken = l->continueToken;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"cm0", "cm1", "cm2", "cm3", "cm4"}));
}

TEST_F(StoreTest, CrdServesCustomResourceWithStatusAndColumns) {
  auto crdType = type("apiextensions.k8s.io", "customresourcedefinitions");
  json crd = {
      {"metadata", {{"name", "widgets.example.com"}}},
      {"spec",
       {{"group", "example.com"},
        {"scope", "Cluster"},
        {"names", {{"plural", "widgets"}, {"kind", "Widget"}, {"shortNames", {"wd"}}}},
        {"versions", json::array({{{"name", "v1"}, {"served", true}, {"storage", true},
                                   {"subresources", {{"status", json::object()}}},
                                   {"additionalPrinterColumns",
                                    json::array({{{"name", "Size"}, {"type", "integer"}, {"jsonPath", ".spec.size"}}})}}})}}}};
  auto c = store.create(crdType, "", crd);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c.value()["status"]["conditions"][1]["type"], "Established");
  auto wt = store.findType("example.com", "v1", "widgets");
  ASSERT_TRUE(wt.has_value());
  EXPECT_TRUE(wt->hasStatus);
  auto w = store.create(*wt, "", json{{"metadata", {{"name", "w1"}}}, {"spec", {{"size", 3}}}});
  ASSERT_TRUE(w.ok());
  json table = renderTable(*wt, {w.value()}, clock.wallNow(), TableOptions{});
  ASSERT_EQ(table["columnDefinitions"].size(), 2u);
  EXPECT_EQ(table["rows"][0]["cells"], json::array({"w1", 3}));
  ASSERT_TRUE(store.remove(crdType, "", "widgets.example.com", json::object()).ok());
  EXPECT_FALSE(store.findType("example.com", "v1", "widgets").has_value());
  json badCrd = crd;
  badCrd["metadata"]["name"] = "wrong.example.com";
  auto bad = store.create(crdType, "", badCrd);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("metadata.name"), std::string::npos);
}

TEST_F(StoreTest, TheProjectCrdParses) {
  // The chart's CRD is YAML; this pure test checks the JSON-side rules with its key values.
  json crd = {{"metadata", {{"name", "virtualips.carplb.io"}}},
              {"spec", {{"group", "carplb.io"}, {"scope", "Cluster"},
                        {"names", {{"plural", "virtualips"}, {"singular", "virtualip"}, {"kind", "VirtualIP"},
                                   {"shortNames", {"vip"}}}},
                        {"versions", json::array({{{"name", "v1alpha1"}, {"served", true}, {"storage", true},
                                                   {"additionalPrinterColumns",
                                                    json::array({{{"name", "Age"}, {"type", "date"},
                                                                  {"jsonPath", ".metadata.creationTimestamp"}}})}}})}}}};
  auto types = resourceTypesFromCrd(crd);
  ASSERT_TRUE(types.ok()) << types.error().message;
  EXPECT_EQ(types->at(0).shortNames, std::vector<std::string>{"vip"});
  EXPECT_FALSE(types->at(0).namespaced);
}

TEST_F(StoreTest, WrongTypesInUntrustedBodiesAreErrorsNotCrashes) {
  const std::vector<json> bodies = {
      json::parse(R"({"metadata":{"name":"a"},"spec":{"type":7}})"),
      json::parse(R"({"metadata":{"name":"b"},"spec":{"ports":"80"}})"),
      json::parse(R"({"metadata":{"name":"c"},"spec":{"ports":[{"port":"80"}]}})"),
      json::parse(R"({"metadata":{"name":"d"},"spec":{"clusterIP":5,"allocateLoadBalancerNodePorts":"no","type":"LoadBalancer","ports":[{"port":80}]},"status":{"loadBalancer":"x"}})"),
      json::parse(R"({"metadata":"oops"})"),
      json::parse(R"([1,2,3])"),
      json::parse(R"({"metadata":{"name":"Bad_Name"}})")};
  for (const auto& b : bodies) {
    EXPECT_NO_THROW({
      auto r = store.create(type("", "services"), "default", b);
      (void)r;
    }) << b.dump();
  }
  auto crdType = type("apiextensions.k8s.io", "customresourcedefinitions");
  const std::vector<json> crds = {
      json::parse(R"({"metadata":{"name":"x.y"},"spec":"no"})"),
      json::parse(R"({"metadata":{"name":"xs.y"},"spec":{"group":"y","scope":"Cluster","names":{"plural":"xs","kind":"X","shortNames":"x"},"versions":[]}})"),
      json::parse(R"({"metadata":{"name":"xs.y"},"spec":{"group":"y","scope":"Cluster","names":{"plural":"xs","kind":"X"},"versions":[{"name":"v1","served":true,"storage":"yes","additionalPrinterColumns":[{"name":"A","jsonPath":".spec.a","priority":"high"}]}]}})")};
  for (const auto& c : crds) {
    EXPECT_NO_THROW({
      auto r = store.create(crdType, "", c);
      (void)r;
    }) << c.dump();
  }
  EXPECT_NO_THROW({
    auto r = applyPatch(json::object(), json::parse(R"({"spec":{"$patch":5,"ports":[{"port":1,"$patch":[]}]}})"),
                        PatchType::StrategicMerge);
    (void)r;
  });
}

TEST(PatchTest, StrategicMergeMergesListsByKeyAndHonoursDirectives) {
  json orig = {{"spec", {{"ports", json::array({{{"port", 80}, {"name", "http"}}, {{"port", 443}, {"name", "https"}}})},
                         {"unschedulable", false}}},
               {"metadata", {{"finalizers", {"a"}}, {"labels", {{"x", "1"}, {"y", "2"}}}}}};
  json patch = {{"$setElementOrder/ports", json::array({{{"port", 80}}, {{"port", 8080}}})},
                {"spec", {{"ports", json::array({{{"port", 80}, {"name", "web"}}, {{"port", 8080}},
                                                 {{"port", 443}, {"$patch", "delete"}}})},
                          {"unschedulable", true}}},
                {"metadata", {{"finalizers", {"b"}}, {"labels", {{"y", nullptr}}},
                              {"$deleteFromPrimitiveList/finalizers", {"a"}}}}};
  auto r = applyPatch(orig, patch, PatchType::StrategicMerge);
  ASSERT_TRUE(r.ok());
  const json& o = r.value();
  EXPECT_EQ(o["spec"]["ports"], json::parse(R"([{"port":80,"name":"web"},{"port":8080}])"));
  EXPECT_EQ(o["spec"]["unschedulable"], true);
  EXPECT_EQ(o["metadata"]["finalizers"], json::array({"b"}));
  EXPECT_EQ(o["metadata"]["labels"], json({{"x", "1"}}));
  EXPECT_FALSE(o.contains("$setElementOrder/ports"));
  json replace = {{"spec", {{"$patch", "replace"}, {"type", "ClusterIP"}}}};
  EXPECT_EQ(applyPatch(orig, replace, PatchType::StrategicMerge).value()["spec"], json({{"type", "ClusterIP"}}));
}

TEST(PatchTest, MergeAndJsonPatch) {
  json orig = {{"a", {{"b", 1}, {"c", 2}}}, {"l", {1, 2}}};
  EXPECT_EQ(applyPatch(orig, json{{"a", {{"b", nullptr}}}, {"l", {3}}}, PatchType::Merge).value(),
            json({{"a", {{"c", 2}}}, {"l", {3}}}));
  auto jp = applyPatch(orig, json::parse(R"([{"op":"replace","path":"/a/b","value":5}])"), PatchType::Json);
  ASSERT_TRUE(jp.ok());
  EXPECT_EQ(jp.value()["a"]["b"], 5);
  auto bad = applyPatch(orig, json::parse(R"([{"op":"remove","path":"/nope"}])"), PatchType::Json);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 422);
  EXPECT_FALSE(patchTypeFromContentType("text/plain").ok());
  EXPECT_EQ(patchTypeFromContentType("application/merge-patch+json; charset=utf-8").value(), PatchType::Merge);
}

TEST(SelectorTest, LabelSelectorGrammar) {
  json obj = {{"metadata", {{"labels", {{"app", "web"}, {"tier", "front"}}}}}};
  auto match = [&](const char* text) {
    auto s = Selector::parseLabels(text);
    EXPECT_TRUE(s.ok()) << text;
    return s.ok() && s->matchesLabels(obj);
  };
  EXPECT_TRUE(match("app=web"));
  EXPECT_TRUE(match("app==web,tier"));
  EXPECT_FALSE(match("app!=web"));
  EXPECT_TRUE(match("app in (db, web)"));
  EXPECT_FALSE(match("app notin (web)"));
  EXPECT_TRUE(match("!missing"));
  EXPECT_FALSE(match("missing"));
  EXPECT_TRUE(match(""));
  EXPECT_FALSE(Selector::parseLabels("app in (web").ok());
  EXPECT_FALSE(Selector::parseLabels("a b c").ok());
  EXPECT_FALSE(Selector::parseFields("nonsense").ok());
}

TEST(TableTest, ServiceAndNodeColumns) {
  testing::FakeClock clock;
  auto types = builtinResourceTypes();
  auto find = [&](const std::string& kind) {
    for (const auto& t : types) {
      if (t.kind == kind && t.group.empty()) {
        return t;
      }
    }
    return ResourceType{};
  };
  json svc = {{"metadata", {{"name", "web"}, {"creationTimestamp", formatRfc3339(clock.wallNow() - std::chrono::seconds(200))}}},
              {"spec", {{"type", "LoadBalancer"}, {"clusterIP", "198.51.100.10"},
                        {"ports", json::array({{{"port", 80}, {"nodePort", 30080}, {"protocol", "TCP"}}})}}},
              {"status", {{"loadBalancer", json::object()}}}};
  json cells = tableCells(find("Service"), svc, clock.wallNow());
  EXPECT_EQ(cells, json::array({"web", "LoadBalancer", "198.51.100.10", "<pending>", "80:30080/TCP", "3m20s", "<none>"}));
  json node = {{"metadata", {{"name", "n1"}, {"labels", {{"node-role.kubernetes.io/control-plane", ""}}}}},
               {"spec", {{"unschedulable", true}}},
               {"status", {{"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})},
                           {"nodeInfo", {{"kubeletVersion", "v1.36.0"}}}}}};
  json ncells = tableCells(find("Node"), node, clock.wallNow());
  EXPECT_EQ(ncells[1], "Ready,SchedulingDisabled");
  EXPECT_EQ(ncells[2], "control-plane");
  EXPECT_EQ(ncells[4], "v1.36.0");
}

TEST(JsonPathTest, SimplePaths) {
  json o = {{"a", {{"b", json::array({{{"c", 1}}, {{"c", 2}}})}, {"x.y", "dot"}}}};
  EXPECT_EQ(evalJsonPath(o, ".a.b[1].c"), std::vector<json>{2});
  EXPECT_EQ(evalJsonPath(o, "{.a.b[*].c}"), (std::vector<json>{1, 2}));
  EXPECT_EQ(evalJsonPath(o, ".a.x\\.y"), std::vector<json>{"dot"});
  EXPECT_TRUE(evalJsonPath(o, ".a.missing").empty());
  EXPECT_TRUE(evalJsonPath(o, ".a.b[").empty());
}

TEST(TimeFormatTest, RoundTripAndHumanDurations) {
  auto t = parseRfc3339("2026-03-04T05:06:07Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(formatRfc3339(*t), "2026-03-04T05:06:07Z");
  EXPECT_EQ(formatRfc3339Micro(*t + std::chrono::microseconds(12)), "2026-03-04T05:06:07.000012Z");
  EXPECT_EQ(parseRfc3339("2026-03-04T07:06:07+02:00"), t);
  EXPECT_FALSE(parseRfc3339("yesterday").has_value());
  EXPECT_EQ(humanDuration(std::chrono::seconds(45)), "45s");
  EXPECT_EQ(humanDuration(std::chrono::seconds(200)), "3m20s");
  EXPECT_EQ(humanDuration(std::chrono::hours(5)), "5h");
  EXPECT_EQ(humanDuration(std::chrono::hours(24 * 3 + 2)), "3d2h");
}

}  // namespace
}  // namespace carplb::kubedouble
