#include "controller/kube/model/resources.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace carplb::controller::kube {
namespace {

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json fixture(const std::string& name) {
  auto text = readFile(std::filesystem::path(CARPLB_SHARED_DIR) / "kubernetes/fixtures" / name);
  auto j = parseJsonText(text, name);
  EXPECT_TRUE(j.ok()) << name;
  return j.ok() ? *j : Json{};
}

// Every fixture in ../shared/kubernetes/fixtures parses with the view for its kind, and the raw
// JSON kept in the view is the document unchanged (so nothing is lost on update).
TEST(Resources, EveryFixtureParses) {
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(CARPLB_SHARED_DIR) / "kubernetes/fixtures")) {
    if (entry.path().extension() != ".json") continue;
    ++seen;
    Json j = fixture(entry.path().filename().string());
    std::string kind = j.value("kind", "");
    bool ok = false;
    Json raw;
    if (kind == "Service") { auto r = parseService(j); ok = r.ok(); if (ok) raw = r->raw; }
    else if (kind == "Node") { auto r = parseNode(j); ok = r.ok(); if (ok) raw = r->raw; }
    else if (kind == "EndpointSlice") { auto r = parseEndpointSlice(j); ok = r.ok(); if (ok) raw = r->raw; }
    else if (kind == "Lease") { auto r = parseLease(j); ok = r.ok(); if (ok) raw = r->raw; }
    else if (kind == "Event") { auto r = parseEvent(j); ok = r.ok(); if (ok) raw = r->raw; }
    else if (kind == "ConfigMap") { auto r = parseConfigMap(j); ok = r.ok(); if (ok) raw = r->raw; }
    else if (kind == "Secret") { auto r = parseSecret(j); ok = r.ok(); if (ok) raw = r->raw; }
    else { ADD_FAILURE() << "fixture of unexpected kind " << kind << " in " << entry.path(); continue; }
    EXPECT_TRUE(ok) << entry.path();
    EXPECT_EQ(raw, j) << entry.path();
  }
  EXPECT_GE(seen, 8);
}

TEST(Resources, ServiceFixtureFields) {
  auto s = parseService(fixture("core.v1.Service.json"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->meta.name, "nameValue");
  EXPECT_EQ(s->meta.namespace_, "namespaceValue");
  EXPECT_EQ(s->meta.key(), "namespaceValue/nameValue");
  EXPECT_EQ(s->meta.generation, 7);
  EXPECT_TRUE(s->meta.deletionTimestamp.has_value());
  EXPECT_TRUE(s->meta.hasFinalizer("finalizersValue"));
  EXPECT_EQ(s->type, ServiceType::Unknown);  // "typeValue" is not a type we handle
  EXPECT_EQ(s->typeText, "typeValue");
  EXPECT_EQ(s->externalTrafficPolicy, TrafficPolicy::Unknown);
  ASSERT_EQ(s->ports.size(), 1u);
  EXPECT_EQ(s->ports[0].port, 3);
  EXPECT_EQ(s->ports[0].nodePort, 5);
  EXPECT_EQ(s->healthCheckNodePort, 12);
  EXPECT_EQ(s->loadBalancerClass.value_or(""), "loadBalancerClassValue");
  ASSERT_EQ(s->ingress.size(), 1u);
  EXPECT_EQ(s->ingress[0].ipMode, "ipModeValue");
  ASSERT_EQ(s->conditions.size(), 1u);
  EXPECT_EQ(s->conditions[0].observedGeneration, 3);
}

TEST(Resources, OtherFixtureFields) {
  auto n = parseNode(fixture("core.v1.Node.json"));
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->unschedulable);
  ASSERT_EQ(n->taints.size(), 1u);
  EXPECT_EQ(n->taints[0].effect, "effectValue");
  EXPECT_FALSE(n->ready());
  auto e = parseEndpointSlice(fixture("discovery.k8s.io.v1.EndpointSlice.json"));
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->endpoints.size(), 1u);
  EXPECT_EQ(e->endpoints[0].ready, std::optional<bool>(true));
  EXPECT_EQ(e->endpoints[0].nodeName, "nodeNameValue");
  auto l = parseLease(fixture("coordination.k8s.io.v1.Lease.json"));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->holderIdentity, "holderIdentityValue");
  EXPECT_EQ(l->leaseDurationSeconds, std::optional<int64_t>(2));
  EXPECT_EQ(l->leaseTransitions, 5);
  auto ev = parseEvent(fixture("core.v1.Event.json"));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->count, 8);
  EXPECT_EQ(ev->involvedObject.kind, "kindValue");
  EXPECT_EQ(ev->sourceComponent, "componentValue");
  auto ev2 = parseEvent(fixture("events.k8s.io.v1.Event.json"));
  ASSERT_TRUE(ev2.ok());
  EXPECT_FALSE(ev2->involvedObject.name.empty());  // "regarding"
  auto sec = parseSecret(fixture("core.v1.Secret.json"));
  ASSERT_TRUE(sec.ok());
  auto decoded = decodeBase64(sec->data.at("dataKey"));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, std::string("\x02"));
  auto cm = parseConfigMap(fixture("core.v1.ConfigMap.json"));
  ASSERT_TRUE(cm.ok());
  EXPECT_EQ(cm->data.at("dataKey"), "dataValue");
}

TEST(Resources, WrongTypesAreIgnoredNotThrown) {
  Json j = Json::parse(R"({"metadata":{"name":"web","namespace":7,"labels":{"a":1,"b":"x"},"finalizers":"nope",
    "generation":"seven"},"spec":{"type":5,"ports":[1,"x",{"port":"80"},{"port":80}],"ipFamilies":{"a":1},
    "loadBalancerClass":null},"status":[]})");
  auto s = parseService(j);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->meta.namespace_, "");
  EXPECT_EQ(s->meta.labels.size(), 1u);
  EXPECT_TRUE(s->meta.finalizers.empty());
  EXPECT_EQ(s->meta.generation, 0);
  EXPECT_EQ(s->type, ServiceType::ClusterIP);  // wrong type == absent == API default
  ASSERT_EQ(s->ports.size(), 2u);
  EXPECT_EQ(s->ports[0].port, 0);
  EXPECT_EQ(s->ports[1].port, 80);
  EXPECT_FALSE(s->loadBalancerClass.has_value());
  EXPECT_TRUE(s->ingress.empty());
}

TEST(Resources, MissingNameOrNotObjectIsAnError) {
  auto a = parseService(Json::array());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message, "Service: not a JSON object");
  auto b = parseNode(Json::parse(R"({"metadata":{"name":""}})"));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message, "Node.metadata.name: missing or not a string");
  EXPECT_FALSE(parseVirtualIP(Json::parse(R"({"spec":{}})")).ok());
}

TEST(Resources, VirtualIPView) {
  auto v = parseVirtualIP(Json::parse(R"({"apiVersion":"carplb.io/v1alpha1","kind":"VirtualIP",
    "metadata":{"name":"vip-192-0-2-10"},"spec":{"address":"192.0.2.10","vhid":7,"services":["default/web"]},
    "status":{"master":"node-a","masterAdvskew":0,"backups":[{"node":"node-b","advskew":100}],
    "nodes":[{"node":"node-a","state":"MASTER"}],"futureField":{"x":1}}})"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->meta.key(), "vip-192-0-2-10");
  EXPECT_EQ(v->vhid, 7);
  EXPECT_EQ(v->address, "192.0.2.10");
  ASSERT_EQ(v->backups.size(), 1u);
  EXPECT_EQ(v->backups[0].advskew, 100);
  EXPECT_EQ(v->nodes[0].state, "MASTER");
  EXPECT_EQ(v->masterAdvskew, std::optional<int64_t>(0));
}

// Unknown fields survive: change only what we own on the raw copy, the rest is intact.
TEST(Resources, UnknownFieldsPreservedOnRoundTrip) {
  Json j = fixture("core.v1.Service.json");
  j["spec"]["someFutureField"] = {{"nested", {1, 2, 3}}};
  auto s = parseService(j);
  ASSERT_TRUE(s.ok());
  Json updated = s->raw;
  updated["status"]["loadBalancer"]["ingress"] = Json::array({{{"ip", "192.0.2.10"}, {"ipMode", "VIP"}}});
  auto again = parseService(Json::parse(updated.dump()));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->raw["spec"]["someFutureField"], j["spec"]["someFutureField"]);
  EXPECT_EQ(again->raw["metadata"]["managedFields"], j["metadata"]["managedFields"]);
  ASSERT_EQ(again->ingress.size(), 1u);
  EXPECT_EQ(again->ingress[0].ip, "192.0.2.10");
}

TEST(Resources, MergePatchTurnsFromIntoTo) {
  Json from = Json::parse(R"({"metadata":{"name":"a","labels":{"x":"1","y":"2"}},"spec":{"ports":[1,2]},"gone":true})");
  Json to = Json::parse(R"({"metadata":{"name":"a","labels":{"x":"1","z":"3"}},"spec":{"ports":[2]}})");
  Json patch = createMergePatch(from, to);
  EXPECT_EQ(patch, Json::parse(R"({"gone":null,"metadata":{"labels":{"y":null,"z":"3"}},"spec":{"ports":[2]}})"));
  Json applied = from;
  applied.merge_patch(patch);
  EXPECT_EQ(applied, to);
  EXPECT_EQ(createMergePatch(to, to), Json::object());
}

TEST(Resources, Base64) {
  EXPECT_EQ(decodeBase64("aGVsbG8=").value(), "hello");
  EXPECT_EQ(decodeBase64("aGVsbG8").value(), "hello");
  EXPECT_EQ(decodeBase64("").value(), "");
  EXPECT_FALSE(decodeBase64("a$bc").ok());
  EXPECT_FALSE(decodeBase64("a").ok());
}

}  // namespace
}  // namespace carplb::controller::kube
