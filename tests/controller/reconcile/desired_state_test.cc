// computeDesiredState(): scenarios. A tiny in-test "cluster" applies each DesiredState the way
// the controller shell writes it (Service status, finalizer, VirtualIPs with the planned order),
// so every step sees what the previous one left behind, and a converged pass must be silent.
#include "controller/reconcile/desired_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "controller/core/reasons.h"

namespace carplb::controller::reconcile {
namespace {

namespace reasons = core::reasons;
using core::Ipv4;

Ipv4 ip(const char* text) {
  auto a = core::parseIpv4(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : Ipv4{};
}

core::ServiceInput service(const std::string& name, std::map<std::string, std::string> annotations = {}) {
  core::ServiceInput s;
  s.namespace_ = "default";
  s.name = name;
  s.uid = "uid-" + name;
  s.generation = 1;
  s.type = "LoadBalancer";
  s.loadBalancerClass = "carplb.io/carp";
  s.annotations = std::move(annotations);
  s.ports = {{"TCP", 80}};
  s.externalTrafficPolicy = "Cluster";
  return s;
}

core::NodeInput node(const std::string& name) {
  core::NodeInput n;
  n.name = name;
  n.ready = true;
  return n;
}

const char* IpsAnnotation = "carplb.io/loadBalancerIPs";

struct World {
  ReconcileConfig config;
  ClusterState cluster;
  DesiredState last;

  explicit World(std::vector<std::string> nodes = {"node-a", "node-b"},
                 std::vector<core::PoolConfig> pools = {{"default", {"192.0.2.200-192.0.2.207"}, true}}) {
    core::ControllerConfig cc;
    cc.pools = std::move(pools);
    auto rc = makeReconcileConfig(cc);
    EXPECT_TRUE(rc.ok()) << (rc.ok() ? "" : rc.error().message);
    if (rc) config = *rc;
    for (const auto& n : nodes) cluster.nodes.push_back(node(n));
  }

  core::ServiceInput& svc(const std::string& name) {
    for (auto& s : cluster.services) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no service " << name;
    static core::ServiceInput none;
    return none;
  }
  core::NodeInput& nodeRef(const std::string& name) {
    for (auto& n : cluster.nodes) {
      if (n.name == name) return n;
    }
    ADD_FAILURE() << "no node " << name;
    static core::NodeInput none;
    return none;
  }
  const ServiceDesired* desired(const std::string& name) const {
    for (const auto& d : last.services) {
      if (d.name == name) return &d;
    }
    return nullptr;
  }
  const VipDesired* vip(const char* address) const {
    auto it = last.vips.find(ip(address));
    return it == last.vips.end() ? nullptr : &it->second;
  }
  std::string masterOf(const char* address) const {
    const auto* v = vip(address);
    return v && !v->nodes.empty() ? v->nodes.front().node : "";
  }
  std::vector<EventIntent> eventsFor(const std::string& name) const {
    std::vector<EventIntent> out;
    for (const auto& e : last.events) {
      if (e.object.name == name) out.push_back(e);
    }
    return out;
  }
  std::map<std::string, int> mastersPerNode() const {
    std::map<std::string, int> out;
    for (const auto& [a, v] : last.vips) {
      if (!v.nodes.empty()) ++out[v.nodes.front().node];
    }
    return out;
  }

  // One pass: compute, then write back like the shell does.
  const DesiredState& step() {
    last = computeDesiredState(config, cluster);
    apply();
    return last;
  }

  void apply() {
    const std::string fin(reasons::LoadBalancerCleanupFinalizer);
    for (const auto& d : last.services) {
      auto it = std::find_if(cluster.services.begin(), cluster.services.end(),
                             [&](const core::ServiceInput& s) { return s.key() == d.key; });
      if (it == cluster.services.end()) continue;
      auto& s = *it;
      std::erase_if(s.conditions, [](const core::Condition& c) { return c.type == reasons::ConditionVipAssigned; });
      if (d.action == ServiceAction::Manage) {
        if (std::find(s.finalizers.begin(), s.finalizers.end(), fin) == s.finalizers.end()) s.finalizers.push_back(fin);
        s.conditions.push_back(d.condition);
        if (d.ingress) s.ingressIps = *d.ingress;
      } else {
        s.ingressIps.clear();
        std::erase(s.finalizers, fin);
      }
    }
    // A deleting Service without finalizers is gone.
    std::erase_if(cluster.services, [](const core::ServiceInput& s) { return s.deleting && s.finalizers.empty(); });
    cluster.vips.clear();
    for (const auto& [a, v] : last.vips) {
      ObservedVip o;
      o.name = v.name;
      o.address = v.address;
      o.vhid = v.vhid;
      o.services = v.services;
      o.pool = v.pool;
      for (const auto& n : v.nodes) o.order.push_back(n.node);
      cluster.vips.push_back(std::move(o));
    }
    cluster.claimVhids = last.claimVhids;  // the shell carries claims to the next pass
  }
};

bool hasEvent(const std::vector<EventIntent>& events, std::string_view type, std::string_view reason) {
  return std::any_of(events.begin(), events.end(),
                     [&](const EventIntent& e) { return e.type == type && e.reason == reason; });
}

std::vector<std::string> strings(std::initializer_list<const char*> list) { return {list.begin(), list.end()}; }

// ---- classic pair ------------------------------------------------------------------------

TEST(DesiredState, ClassicPairEachNodeMastersOneVipWithMirroredAdvskew) {
  World w;
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200,192.0.2.201"}}));
  const auto& d = w.step();

  ASSERT_EQ(d.services.size(), 1u);
  const auto& s = d.services[0];
  EXPECT_EQ(s.action, ServiceAction::Manage);
  ASSERT_TRUE(s.ingress.has_value()) << s.condition.reason << ": " << s.condition.message;
  EXPECT_EQ(*s.ingress, strings({"192.0.2.200", "192.0.2.201"}));
  EXPECT_EQ(s.condition.type, reasons::ConditionVipAssigned);
  EXPECT_EQ(s.condition.status, "True");
  EXPECT_EQ(s.condition.reason, reasons::VipAssigned);
  EXPECT_EQ(s.condition.observedGeneration, 1);

  ASSERT_EQ(d.vips.size(), 2u);
  ASSERT_EQ(d.vhids.size(), 2u);
  const auto& p0 = d.vhids[0];
  const auto& p1 = d.vhids[1];
  EXPECT_NE(p0.vhid, p1.vhid);
  ASSERT_EQ(p0.nodes.size(), 2u);
  ASSERT_EQ(p1.nodes.size(), 2u);
  // Each node masters one vhid and backs up the other: mirrored advskews.
  EXPECT_NE(p0.nodes[0].node, p1.nodes[0].node);
  EXPECT_EQ(p0.nodes[0].node, p1.nodes[1].node);
  EXPECT_EQ(p1.nodes[0].node, p0.nodes[1].node);
  EXPECT_EQ(p0.nodes[0].advskew, p1.nodes[0].advskew);
  EXPECT_EQ(p0.nodes[1].advskew, p1.nodes[1].advskew);
  EXPECT_LT(p0.nodes[0].advskew, p0.nodes[1].advskew);
  EXPECT_EQ(p0.nodes[1].advskew - p0.nodes[0].advskew, 50);  // default advskewSpacing
  EXPECT_EQ(p0.addresses.size(), 1u);
  EXPECT_EQ(p1.addresses.size(), 1u);

  // VirtualIP objects agree with the vhid plans and list the Service.
  for (const auto& plan : d.vhids) {
    const auto& v = d.vips.at(plan.addresses.front());
    EXPECT_EQ(v.vhid, plan.vhid);
    EXPECT_EQ(v.nodes, plan.nodes);
    EXPECT_EQ(v.services, strings({"default/web"}));
    EXPECT_EQ(v.pool, "default");
    EXPECT_EQ(v.name, v.address.toString());
    EXPECT_FALSE(v.unplaced.has_value());
  }
  EXPECT_EQ(w.mastersPerNode(), (std::map<std::string, int>{{"node-a", 1}, {"node-b", 1}}));

  // One Normal VipAssigned Event naming both addresses.
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].type, "Normal");
  EXPECT_EQ(d.events[0].reason, reasons::VipAssigned);
  EXPECT_EQ(d.events[0].object.kind, "Service");
  EXPECT_EQ(d.events[0].object.uid, "uid-web");
  EXPECT_NE(d.events[0].message.find("192.0.2.200"), std::string::npos);
  EXPECT_NE(d.events[0].message.find("192.0.2.201"), std::string::npos);
  EXPECT_EQ(d.nodeEligibility.at("node-a"), core::NodeEligibility::Eligible);
}

TEST(DesiredState, ConvergedPassIsSilentAndKeepsThePlan) {
  World w;
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200,192.0.2.201"}}));
  w.cluster.services.push_back(service("api"));  // from the pool
  w.step();
  auto plan = w.last.vhids;
  w.step();
  EXPECT_TRUE(w.last.events.empty());
  EXPECT_EQ(w.last.vhids, plan);
  for (const auto& s : w.last.services) {
    EXPECT_TRUE(hasCondition(w.svc(s.name), s.condition)) << s.name;
  }
}

// ---- bad input ---------------------------------------------------------------------------

TEST(DesiredState, BadAnnotationOnNewServiceGivesFalseConditionAndWarningOthersUntouched) {
  World w;
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  auto webBefore = *w.desired("web");
  auto vipsBefore = w.last.vips;

  w.cluster.services.push_back(service("bad", {{IpsAnnotation, "192.0.2.999"}}));
  const auto& d = w.step();
  const auto* bad = w.desired("bad");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->action, ServiceAction::Manage);
  EXPECT_FALSE(bad->ingress.has_value());  // nothing to publish, nothing cleared
  EXPECT_EQ(bad->condition.status, "False");
  EXPECT_EQ(bad->condition.reason, reasons::InvalidAnnotation);
  EXPECT_NE(bad->condition.message.find("carplb.io/loadBalancerIPs"), std::string::npos) << bad->condition.message;
  EXPECT_NE(bad->condition.message.find("192.0.2.999"), std::string::npos) << bad->condition.message;
  auto ev = w.eventsFor("bad");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "Warning");
  EXPECT_EQ(ev[0].reason, reasons::InvalidAnnotation);
  // The other Service and its VIP are untouched, and get no Event.
  EXPECT_TRUE(w.eventsFor("web").empty());
  EXPECT_EQ(w.desired("web")->ingress, webBefore.ingress);
  EXPECT_EQ(w.desired("web")->condition, webBefore.condition);
  ASSERT_EQ(d.vips.size(), 1u);
  EXPECT_EQ(d.vips.begin()->second.nodes, vipsBefore.begin()->second.nodes);
  EXPECT_EQ(d.vips.begin()->second.vhid, vipsBefore.begin()->second.vhid);

  // The Warning fires on the transition only.
  w.step();
  EXPECT_TRUE(w.last.events.empty());
}

TEST(DesiredState, BadAnnotationOnHolderKeepsItsAddressAndIngress) {
  World w;
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  int vhid = w.vip("192.0.2.200")->vhid;
  std::string master = w.masterOf("192.0.2.200");

  w.svc("web").annotations[IpsAnnotation] = "not-an-ip";
  w.svc("web").generation = 2;
  w.step();
  const auto* d = w.desired("web");
  ASSERT_NE(d, nullptr);
  EXPECT_FALSE(d->ingress.has_value());
  EXPECT_EQ(d->condition.status, "False");
  EXPECT_EQ(d->condition.reason, reasons::InvalidAnnotation);
  EXPECT_EQ(d->condition.observedGeneration, 2);
  EXPECT_TRUE(hasEvent(w.eventsFor("web"), "Warning", reasons::InvalidAnnotation));
  // Still served: same VirtualIP, vhid and master; status ingress unchanged.
  ASSERT_NE(w.vip("192.0.2.200"), nullptr);
  EXPECT_EQ(w.vip("192.0.2.200")->vhid, vhid);
  EXPECT_EQ(w.masterOf("192.0.2.200"), master);
  EXPECT_EQ(w.svc("web").ingressIps, strings({"192.0.2.200"}));

  // Fixing the annotation back: True again, no second Warning.
  w.svc("web").annotations[IpsAnnotation] = "192.0.2.200";
  w.svc("web").generation = 3;
  w.step();
  EXPECT_EQ(w.desired("web")->condition.status, "True");
  EXPECT_FALSE(hasEvent(w.last.events, "Warning", reasons::InvalidAnnotation));
}

TEST(DesiredState, UnknownCarplbAnnotationIsInvalid) {
  World w;
  w.cluster.services.push_back(service("web", {{"carplb.io/loadbalancerips", "192.0.2.200"}}));
  w.step();
  EXPECT_EQ(w.desired("web")->condition.reason, reasons::InvalidAnnotation);
  EXPECT_TRUE(w.last.vips.empty());
}

// ---- conflicts and sharing ---------------------------------------------------------------

TEST(DesiredState, AddressConflictHolderKeepsNewcomerRefused) {
  World w;
  // The newcomer sorts first by name: order must come from holding, not from the name.
  w.cluster.services.push_back(service("zeta", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  w.cluster.services.push_back(service("alpha", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  EXPECT_EQ(w.desired("zeta")->condition.status, "True");
  EXPECT_EQ(w.desired("zeta")->ingress, strings({"192.0.2.200"}));
  const auto* a = w.desired("alpha");
  EXPECT_EQ(a->condition.status, "False");
  EXPECT_EQ(a->condition.reason, reasons::AddressConflict);
  EXPECT_NE(a->condition.message.find("default/zeta"), std::string::npos) << a->condition.message;
  EXPECT_FALSE(a->ingress.has_value());
  auto ev = w.eventsFor("alpha");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "Warning");
  EXPECT_EQ(ev[0].reason, reasons::AddressConflict);
  EXPECT_EQ(w.vip("192.0.2.200")->services, strings({"default/zeta"}));

  // Once the holder is gone, the newcomer gets the address.
  w.svc("zeta").deleting = true;
  w.step();
  w.step();
  EXPECT_EQ(w.desired("alpha")->condition.status, "True");
  EXPECT_EQ(w.vip("192.0.2.200")->services, strings({"default/alpha"}));
}

TEST(DesiredState, HolderChangingToAnAddressAnotherHolderHasIsRefused) {
  World w;
  w.cluster.services.push_back(service("alpha", {{IpsAnnotation, "192.0.2.200"}}));
  w.cluster.services.push_back(service("beta", {{IpsAnnotation, "192.0.2.201"}}));
  w.step();
  // alpha (first by name) now asks for beta's address: beta keeps it, alpha keeps its own.
  w.svc("alpha").annotations[IpsAnnotation] = "192.0.2.201";
  w.svc("alpha").generation = 2;
  w.step();
  EXPECT_EQ(w.desired("beta")->condition.status, "True");
  EXPECT_EQ(w.vip("192.0.2.201")->services, strings({"default/beta"}));
  EXPECT_EQ(w.svc("beta").ingressIps, strings({"192.0.2.201"}));
  EXPECT_EQ(w.desired("alpha")->condition.reason, reasons::AddressConflict);
  ASSERT_NE(w.vip("192.0.2.200"), nullptr);
  EXPECT_EQ(w.vip("192.0.2.200")->services, strings({"default/alpha"}));
  EXPECT_TRUE(w.eventsFor("beta").empty());
}

TEST(DesiredState, AllowSharedIpServicesShareOneVip) {
  World w;
  auto a = service("dns-tcp", {{IpsAnnotation, "192.0.2.203"}, {"carplb.io/allow-shared-ip", "dns"}});
  a.ports = {{"TCP", 53}};
  auto b = service("dns-udp", {{IpsAnnotation, "192.0.2.203"}, {"carplb.io/allow-shared-ip", "dns"}});
  b.ports = {{"UDP", 53}};
  w.cluster.services = {a, b};
  w.step();
  ASSERT_EQ(w.last.vips.size(), 1u);
  EXPECT_EQ(w.vip("192.0.2.203")->services, strings({"default/dns-tcp", "default/dns-udp"}));
  EXPECT_EQ(w.desired("dns-tcp")->condition.status, "True");
  EXPECT_EQ(w.desired("dns-udp")->condition.status, "True");
  EXPECT_EQ(w.last.vhids.size(), 1u);

  // A third Service with the key from the pool joins the shared address.
  auto c = service("dns-web", {{"carplb.io/allow-shared-ip", "dns"}});
  w.cluster.services.push_back(c);
  w.step();
  EXPECT_EQ(w.desired("dns-web")->ingress, strings({"192.0.2.203"}));
  EXPECT_EQ(w.vip("192.0.2.203")->services, strings({"default/dns-tcp", "default/dns-udp", "default/dns-web"}));

  // Same key but clashing ports: refused.
  auto d = service("dns-tcp2", {{IpsAnnotation, "192.0.2.203"}, {"carplb.io/allow-shared-ip", "dns"}});
  d.ports = {{"TCP", 53}};
  w.cluster.services.push_back(d);
  w.step();
  EXPECT_EQ(w.desired("dns-tcp2")->condition.reason, reasons::AddressConflict);
  EXPECT_NE(w.desired("dns-tcp2")->condition.message.find("clash"), std::string::npos);

  // Different key: refused.
  auto e = service("other", {{IpsAnnotation, "192.0.2.203"}, {"carplb.io/allow-shared-ip", "other"}});
  e.ports = {{"TCP", 8080}};
  w.cluster.services.push_back(e);
  w.step();
  EXPECT_EQ(w.desired("other")->condition.reason, reasons::AddressConflict);
}

// ---- pools -------------------------------------------------------------------------------

TEST(DesiredState, PoolAllocationLowestFreeThenPoolExhausted) {
  World w({"node-a", "node-b"}, {{"small", {"192.0.2.200-192.0.2.201"}, true}});
  w.cluster.services.push_back(service("a"));
  w.cluster.services.push_back(service("b"));
  w.step();
  EXPECT_EQ(w.desired("a")->ingress, strings({"192.0.2.200"}));
  EXPECT_EQ(w.desired("b")->ingress, strings({"192.0.2.201"}));
  EXPECT_EQ(w.vip("192.0.2.200")->pool, "small");

  w.cluster.services.push_back(service("c"));
  w.step();
  const auto* c = w.desired("c");
  EXPECT_EQ(c->condition.status, "False");
  EXPECT_EQ(c->condition.reason, reasons::PoolExhausted);
  EXPECT_NE(c->condition.message.find("small"), std::string::npos) << c->condition.message;
  EXPECT_TRUE(hasEvent(w.eventsFor("c"), "Warning", reasons::PoolExhausted));
  EXPECT_TRUE(w.eventsFor("a").empty());
  // Holders keep their addresses regardless of name order.
  EXPECT_EQ(w.desired("a")->ingress, strings({"192.0.2.200"}));
  EXPECT_EQ(w.desired("b")->ingress, strings({"192.0.2.201"}));

  // Freeing one address lets the waiting Service in.
  w.svc("a").type = "ClusterIP";
  w.step();
  w.step();
  EXPECT_EQ(w.desired("c")->ingress, strings({"192.0.2.200"}));
  EXPECT_EQ(w.desired("c")->condition.status, "True");
}

TEST(DesiredState, PoolAllocationNeverTakesAnAddressAnotherNewServiceNames) {
  World w;
  // "a-pool" sorts first and takes from the pool; "b-web" names the pool's lowest address.
  w.cluster.services.push_back(service("a-pool"));
  w.cluster.services.push_back(service("b-web", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  ASSERT_NE(w.desired("b-web"), nullptr);
  ASSERT_TRUE(w.desired("b-web")->ingress.has_value());
  EXPECT_EQ(*w.desired("b-web")->ingress, strings({"192.0.2.200"}));
  ASSERT_NE(w.desired("a-pool"), nullptr);
  ASSERT_TRUE(w.desired("a-pool")->ingress.has_value());
  EXPECT_EQ(*w.desired("a-pool")->ingress, strings({"192.0.2.201"}));
}

TEST(DesiredState, UnknownPoolAndAddressOutsidePools) {
  World w;
  w.cluster.services.push_back(service("p", {{"carplb.io/address-pool", "nope"}}));
  w.cluster.services.push_back(service("q", {{IpsAnnotation, "203.0.113.5"}}));
  w.step();
  EXPECT_EQ(w.desired("p")->condition.reason, reasons::NoPool);
  EXPECT_EQ(w.desired("q")->condition.reason, reasons::AddressNotInPool);
  EXPECT_TRUE(w.last.vips.empty());
}

// ---- release -----------------------------------------------------------------------------

TEST(DesiredState, ClassChangeTypeChangeAndDeletionRelease) {
  World w;
  w.cluster.services.push_back(service("cls", {{IpsAnnotation, "192.0.2.200"}}));
  w.cluster.services.push_back(service("typ", {{IpsAnnotation, "192.0.2.201"}}));
  w.cluster.services.push_back(service("del", {{IpsAnnotation, "192.0.2.202"}}));
  w.step();
  ASSERT_EQ(w.last.vips.size(), 3u);

  w.svc("cls").loadBalancerClass = "example.com/other";
  w.svc("typ").type = "NodePort";
  w.svc("del").deleting = true;
  w.last = computeDesiredState(w.config, w.cluster);
  for (const char* name : {"cls", "typ", "del"}) {
    const auto* d = w.desired(name);
    ASSERT_NE(d, nullptr) << name;
    EXPECT_EQ(d->action, ServiceAction::Release) << name;
    auto ev = w.eventsFor(name);
    ASSERT_EQ(ev.size(), 1u) << name;
    EXPECT_EQ(ev[0].type, "Normal");
    EXPECT_EQ(ev[0].reason, reasons::VipReleased);
  }
  EXPECT_NE(w.eventsFor("del")[0].message.find("deleted"), std::string::npos);
  EXPECT_NE(w.eventsFor("cls")[0].message.find("OtherClass"), std::string::npos);
  EXPECT_TRUE(w.last.vips.empty());
  EXPECT_TRUE(w.last.vhids.empty());
  w.apply();
  // The deleted Service is gone; the others no longer carry anything of ours.
  EXPECT_EQ(w.cluster.services.size(), 2u);
  for (const auto& s : w.cluster.services) {
    EXPECT_TRUE(s.finalizers.empty()) << s.name;
    EXPECT_TRUE(s.ingressIps.empty()) << s.name;
    EXPECT_TRUE(s.conditions.empty()) << s.name;
  }
  // Nothing more to do, nothing to say.
  w.step();
  EXPECT_TRUE(w.last.services.empty());
  EXPECT_TRUE(w.last.events.empty());
}

TEST(DesiredState, OtherImplementationsServicesAreNeverTouched) {
  World w;
  // Another LoadBalancer implementation uses the same well-known finalizer and writes ingress.
  auto s = service("theirs");
  s.loadBalancerClass = "example.com/other";
  s.finalizers = {std::string(reasons::LoadBalancerCleanupFinalizer)};
  s.ingressIps = {"203.0.113.7"};
  w.cluster.services.push_back(s);
  auto noClass = service("noclass");
  noClass.loadBalancerClass.reset();  // not ours: defaultClass is false
  noClass.finalizers = {std::string(reasons::LoadBalancerCleanupFinalizer)};
  w.cluster.services.push_back(noClass);
  auto plain = service("plain");
  plain.type = "ClusterIP";
  w.cluster.services.push_back(plain);
  w.step();
  EXPECT_TRUE(w.last.services.empty());
  EXPECT_TRUE(w.last.events.empty());
  EXPECT_TRUE(w.last.vips.empty());
}

// ---- nodes -------------------------------------------------------------------------------

struct NodeChange {
  const char* name;
  void (*change)(core::NodeInput&);
  std::string_view reason;
};

class NodeLoss : public ::testing::TestWithParam<NodeChange> {};

TEST_P(NodeLoss, MastersMoveBalancedWithVipMovedEventsNamingTheReason) {
  World w({"node-a", "node-b", "node-c"});
  w.cluster.services.push_back(
      service("web", {{IpsAnnotation, "192.0.2.200,192.0.2.201,192.0.2.202,192.0.2.203,192.0.2.204,192.0.2.205"}}));
  w.step();
  EXPECT_EQ(w.mastersPerNode(), (std::map<std::string, int>{{"node-a", 2}, {"node-b", 2}, {"node-c", 2}}));
  std::map<Ipv4, std::string> before;
  for (const auto& [a, v] : w.last.vips) before[a] = v.nodes.front().node;
  std::map<Ipv4, int> vhidsBefore;
  for (const auto& [a, v] : w.last.vips) vhidsBefore[a] = v.vhid;

  GetParam().change(w.nodeRef("node-b"));
  w.step();
  auto m = w.mastersPerNode();
  EXPECT_EQ(m.count("node-b"), 0u);
  EXPECT_EQ(m["node-a"], 3);
  EXPECT_EQ(m["node-c"], 3);
  int moved = 0;
  for (const auto& [a, v] : w.last.vips) {
    EXPECT_EQ(v.vhid, vhidsBefore[a]) << a.toString();  // vhids never change on a move
    for (const auto& slot : v.nodes) EXPECT_NE(slot.node, "node-b") << a.toString();
    if (before[a] == "node-b") {
      ++moved;
    } else {
      EXPECT_EQ(v.nodes.front().node, before[a]) << a.toString() << " moved without need";
    }
  }
  EXPECT_EQ(moved, 2);
  int movedEvents = 0;
  for (const auto& e : w.last.events) {
    ASSERT_EQ(e.reason, reasons::VipMoved) << e.message;
    EXPECT_EQ(e.type, "Normal");
    EXPECT_NE(e.message.find("node-b ->"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("(" + std::string(GetParam().reason) + ")"), std::string::npos) << e.message;
    ++movedEvents;
  }
  EXPECT_EQ(movedEvents, 2);
  EXPECT_NE(w.last.nodeEligibility.at("node-b"), core::NodeEligibility::Eligible);
  // Service status stays True (the addresses are still served).
  EXPECT_EQ(w.desired("web")->condition.status, "True");

  // Stable afterwards.
  w.step();
  EXPECT_TRUE(w.last.events.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Reasons, NodeLoss,
    ::testing::Values(NodeChange{"NotReady", [](core::NodeInput& n) { n.ready = false; }, reasons::MoveNodeNotReady},
                      NodeChange{"Cordoned", [](core::NodeInput& n) { n.unschedulable = true; },
                                 reasons::MoveNodeUnschedulable},
                      NodeChange{"Draining", [](core::NodeInput& n) { n.draining = true; }, reasons::MoveNodeDraining},
                      NodeChange{"Excluded",
                                 [](core::NodeInput& n) {
                                   n.labels["node.kubernetes.io/exclude-from-external-load-balancers"] = "";
                                 },
                                 reasons::MoveNodeExcluded}),
    [](const ::testing::TestParamInfo<NodeChange>& p) { return std::string(p.param.name); });

TEST(DesiredState, NodeRemovedMovesItsMastersWithNodeGone) {
  World w({"node-a", "node-b"});
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200,192.0.2.201"}}));
  w.step();
  std::erase_if(w.cluster.nodes, [](const core::NodeInput& n) { return n.name == "node-b"; });
  w.step();
  EXPECT_EQ(w.mastersPerNode(), (std::map<std::string, int>{{"node-a", 2}}));
  ASSERT_EQ(w.last.events.size(), 1u);
  EXPECT_NE(w.last.events[0].message.find("(" + std::string(reasons::MoveNodeGone) + ")"), std::string::npos);
}

TEST(DesiredState, NodesWithoutAgentGetNoMasters) {
  World w({"node-a", "node-b", "node-c"});
  w.cluster.nodesWithoutAgent = {"node-c"};
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200,192.0.2.201,192.0.2.202,192.0.2.203"}}));
  w.step();
  for (const auto& [a, v] : w.last.vips) {
    for (const auto& slot : v.nodes) EXPECT_NE(slot.node, "node-c") << a.toString();
  }
  EXPECT_EQ(w.mastersPerNode(), (std::map<std::string, int>{{"node-a", 2}, {"node-b", 2}}));
  // It is still an Eligible node as far as Kubernetes goes.
  EXPECT_EQ(w.last.nodeEligibility.at("node-c"), core::NodeEligibility::Eligible);

  // The agent comes back: balance brings it some masters, the rest stays.
  w.cluster.nodesWithoutAgent.clear();
  w.step();
  auto m = w.mastersPerNode();
  EXPECT_GE(m["node-c"], 1);
  EXPECT_LE(std::max({m["node-a"], m["node-b"], m["node-c"]}) - std::min({m["node-a"], m["node-b"], m["node-c"]}), 1);
  EXPECT_TRUE(hasEvent(w.last.events, "Normal", reasons::VipMoved));

  // An agent of a master node goes away: reason AgentGone.
  std::string victim = w.masterOf("192.0.2.200");
  w.cluster.nodesWithoutAgent = {victim};
  w.step();
  EXPECT_NE(w.masterOf("192.0.2.200"), victim);
  bool found = false;
  for (const auto& e : w.last.events) {
    if (e.message.find("192.0.2.200 master " + victim) != std::string::npos) {
      found = true;
      EXPECT_NE(e.message.find("(AgentGone)"), std::string::npos) << e.message;
    }
  }
  EXPECT_TRUE(found);
}

TEST(DesiredState, NoEligibleNodesIsAFalseConditionWithEmptyIngress) {
  World w({"node-a"});
  w.nodeRef("node-a").ready = false;
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  const auto* d = w.desired("web");
  EXPECT_EQ(d->condition.status, "False");
  EXPECT_EQ(d->condition.reason, reasons::NoEligibleNodes);
  ASSERT_TRUE(d->ingress.has_value());
  EXPECT_TRUE(d->ingress->empty());
  ASSERT_NE(w.vip("192.0.2.200"), nullptr);  // the address stays reserved
  EXPECT_TRUE(w.vip("192.0.2.200")->nodes.empty());
  EXPECT_EQ(w.vip("192.0.2.200")->unplaced, core::Unplaced::NoEligibleNodes);
  EXPECT_TRUE(hasEvent(w.eventsFor("web"), "Warning", reasons::NoEligibleNodes));
  w.step();
  EXPECT_TRUE(w.last.events.empty());

  w.nodeRef("node-a").ready = true;
  w.step();
  EXPECT_EQ(w.desired("web")->condition.status, "True");
  EXPECT_EQ(w.masterOf("192.0.2.200"), "node-a");
  EXPECT_TRUE(hasEvent(w.eventsFor("web"), "Normal", reasons::VipAssigned));
}

TEST(DesiredState, PartlyPlacedServiceGetsTheWarningAsWellAsTheAssignedEvent) {
  World w({"node-a", "node-b"});
  // .200 is shared with a Local-policy Service that has no ready endpoint: no node may hold
  // it. .201 is placed. "web" is partly served: ingress .201, condition False.
  auto web = service("web", {{IpsAnnotation, "192.0.2.200,192.0.2.201"}, {"carplb.io/allow-shared-ip", "k"}});
  auto loc = service("loc", {{IpsAnnotation, "192.0.2.200"}, {"carplb.io/allow-shared-ip", "k"}});
  loc.ports = {{"TCP", 8080}};
  loc.externalTrafficPolicy = "Local";
  w.cluster.services = {web, loc};
  w.step();
  const auto* d = w.desired("web");
  ASSERT_TRUE(d->ingress.has_value());
  EXPECT_EQ(*d->ingress, strings({"192.0.2.201"}));
  EXPECT_EQ(d->condition.status, "False");
  EXPECT_EQ(d->condition.reason, reasons::NoEligibleNodes);
  auto ev = w.eventsFor("web");
  EXPECT_TRUE(hasEvent(ev, "Normal", reasons::VipAssigned));
  EXPECT_TRUE(hasEvent(ev, "Warning", reasons::NoEligibleNodes));
  EXPECT_TRUE(w.vip("192.0.2.200")->nodes.empty());
  EXPECT_FALSE(w.vip("192.0.2.201")->nodes.empty());
  w.step();
  EXPECT_TRUE(w.last.events.empty());
}

// ---- restart stability -------------------------------------------------------------------

TEST(DesiredState, RestartFromObservedVirtualIpsGivesTheSamePlanAndNoEvents) {
  World w({"node-a", "node-b", "node-c"});
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200,192.0.2.201,192.0.2.202"}}));
  w.cluster.services.push_back(service("api"));
  auto dns = service("dns", {{"carplb.io/allow-shared-ip", "k"}});
  w.cluster.services.push_back(dns);
  w.step();
  // Churn: a node leaves and comes back, so the placement is no longer the "fresh" one.
  w.nodeRef("node-a").ready = false;
  w.step();
  w.nodeRef("node-a").ready = true;
  w.step();
  auto plan = w.last.vhids;
  auto vips = w.last.vips;

  // A new controller process: only the cluster (Services with status, VirtualIPs) survives.
  // Feed the VirtualIPs in a different order to make sure order does not matter.
  std::reverse(w.cluster.vips.begin(), w.cluster.vips.end());
  std::reverse(w.cluster.services.begin(), w.cluster.services.end());
  auto d = computeDesiredState(w.config, w.cluster);
  EXPECT_EQ(d.vhids, plan);
  ASSERT_EQ(d.vips.size(), vips.size());
  for (const auto& [a, v] : vips) {
    EXPECT_EQ(d.vips.at(a).nodes, v.nodes) << a.toString();
    EXPECT_EQ(d.vips.at(a).vhid, v.vhid) << a.toString();
  }
  EXPECT_TRUE(d.events.empty()) << d.events.front().reason << ": " << d.events.front().message;
}

TEST(DesiredState, RestartWithVirtualIpsOnlyKeepsVhidsAndMasters) {
  // Even if Service status was lost (e.g. restored from a backup without status), the
  // VirtualIPs alone keep the addresses and the placement.
  World w({"node-a", "node-b", "node-c"});
  w.cluster.services.push_back(service("api", {{"carplb.io/address-count", "3"}}));
  w.step();
  auto plan = w.last.vhids;
  auto ingress = *w.desired("api")->ingress;
  w.svc("api").ingressIps.clear();
  w.svc("api").conditions.clear();
  w.step();
  EXPECT_EQ(w.last.vhids, plan);
  EXPECT_EQ(*w.desired("api")->ingress, ingress);
}

// ---- externalTrafficPolicy: Local ----------------------------------------------------------

TEST(DesiredState, LocalTrafficPolicyOnlyUsesNodesWithReadyEndpoints) {
  World w({"node-a", "node-b", "node-c"});
  auto s = service("loc", {{IpsAnnotation, "192.0.2.200,192.0.2.201"}});
  s.externalTrafficPolicy = "Local";
  w.cluster.services.push_back(s);
  w.cluster.endpoints = {{"default/loc", {"node-b", "node-c", "node-c"}}, {"default/other", {"node-a"}}};
  w.step();
  for (const auto& [a, v] : w.last.vips) {
    ASSERT_FALSE(v.nodes.empty()) << a.toString();
    for (const auto& slot : v.nodes) EXPECT_NE(slot.node, "node-a") << a.toString();
  }
  EXPECT_EQ(w.mastersPerNode(), (std::map<std::string, int>{{"node-b", 1}, {"node-c", 1}}));

  // The endpoint leaves node-b: its VIP moves to node-c, reason Rebalanced-or-local.
  w.cluster.endpoints = {{"default/loc", {"node-c"}}};
  w.step();
  EXPECT_EQ(w.mastersPerNode(), (std::map<std::string, int>{{"node-c", 2}}));
  EXPECT_TRUE(hasEvent(w.last.events, "Normal", reasons::VipMoved));

  // No ready endpoint anywhere: nothing can hold the VIPs.
  w.cluster.endpoints.clear();
  w.step();
  EXPECT_TRUE(w.mastersPerNode().empty());
  EXPECT_EQ(w.desired("loc")->condition.reason, reasons::NoEligibleNodes);
  EXPECT_NE(w.desired("loc")->condition.message.find("ready local endpoint"), std::string::npos);

  // Cluster policy ignores endpoints.
  w.svc("loc").externalTrafficPolicy = "Cluster";
  w.step();
  EXPECT_EQ(w.desired("loc")->condition.status, "True");
  EXPECT_EQ(w.mastersPerNode().size(), 2u);
}

TEST(DesiredState, InvalidConfigIsRefusedNamingTheKey) {
  core::ControllerConfig cc;
  cc.pools = {{"default", {"192.0.2.0/33"}, true}};
  auto rc = makeReconcileConfig(cc);
  ASSERT_FALSE(rc.ok());
  EXPECT_NE(rc.error().message.find("pools[0]"), std::string::npos) << rc.error().message;
  core::ControllerConfig cc2;
  cc2.vhidMin = 0;
  auto rc2 = makeReconcileConfig(cc2);
  ASSERT_FALSE(rc2.ok());
  EXPECT_NE(rc2.error().message.find("vhidMin"), std::string::npos) << rc2.error().message;
}

// ---- claims (Vhost.claim): the planned master of a vhid nobody runs yet may go MASTER at once --

int vhidOf(const World& w, const char* address) {
  const auto* v = w.vip(address);
  return v ? v->vhid : 0;
}

TEST(DesiredStateClaims, ANewVipsVhidIsClaimableUntilAnAgentReportsItRunning) {
  World w({"node-a", "node-b", "node-c"});
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  const int vhid = vhidOf(w, "192.0.2.200");
  ASSERT_GT(vhid, 0);
  EXPECT_EQ(w.last.claimVhids, std::set<int>{vhid}) << "just allocated, nobody runs it";
  // The next pass sees the VirtualIP (with this vhid) it wrote: the claim is carried over.
  w.step();
  EXPECT_EQ(w.last.claimVhids, std::set<int>{vhid});
  // The planned master reports BACKUP or MASTER: claims end, and never come back.
  w.cluster.runningVhids = {vhid};
  w.step();
  EXPECT_TRUE(w.last.claimVhids.empty());
  w.cluster.runningVhids.clear();  // e.g. every agent reports INIT (links down)
  w.step();
  EXPECT_TRUE(w.last.claimVhids.empty()) << "a vhid that ran once is never claimed again";

  // A second Service: only its own new vhid is claimable.
  w.cluster.services.push_back(service("api", {{IpsAnnotation, "192.0.2.201"}}));
  w.step();
  const int second = vhidOf(w, "192.0.2.201");
  ASSERT_GT(second, 0);
  ASSERT_NE(second, vhid);
  EXPECT_EQ(w.last.claimVhids, std::set<int>{second});
}

TEST(DesiredStateClaims, AControllerRestartClaimsNothingItFindsInVirtualIps) {
  World w({"node-a", "node-b"});
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200,192.0.2.201"}}));
  w.step();
  EXPECT_EQ(w.last.claimVhids.size(), 2u);
  // New process: the VirtualIPs survive, the carried set and the agents' reports do not.
  w.cluster.claimVhids.clear();
  w.cluster.runningVhids.clear();
  auto d = computeDesiredState(w.config, w.cluster);
  EXPECT_TRUE(d.claimVhids.empty());
}

TEST(DesiredStateClaims, AVipMovedToAnotherVhidIsClaimableOnTheNewOne) {
  World w({"node-a", "node-b"});
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  const int before = vhidOf(w, "192.0.2.200");
  w.cluster.runningVhids = {before};
  w.step();
  ASSERT_TRUE(w.last.claimVhids.empty());
  // A foreign speaker turns up on that vhid: the planner moves the VIP to a free one.
  w.config.planner.excludedVhids.insert(before);
  w.step();
  const int after = vhidOf(w, "192.0.2.200");
  ASSERT_GT(after, 0);
  ASSERT_NE(after, before);
  EXPECT_EQ(w.last.claimVhids, std::set<int>{after});
}

TEST(DesiredStateClaims, NodeLossOrDrainKeepsTheVhidSoNothingIsClaimed) {
  World w({"node-a", "node-b", "node-c"});
  w.cluster.services.push_back(service("web", {{IpsAnnotation, "192.0.2.200"}}));
  w.step();
  const int vhid = vhidOf(w, "192.0.2.200");
  const std::string master = w.masterOf("192.0.2.200");
  w.cluster.runningVhids = {vhid};
  w.step();
  w.nodeRef(master).draining = true;
  w.step();
  EXPECT_EQ(vhidOf(w, "192.0.2.200"), vhid) << "a drain moves the master, not the vhid";
  EXPECT_NE(w.masterOf("192.0.2.200"), master);
  EXPECT_TRUE(w.last.claimVhids.empty()) << "the backups already run it: CARP hands over (bow-out)";
}

TEST(DesiredStateClaims, UnplacedVhidsAreNeverClaimable) {
  World w({"node-a"});
  auto s = service("loc", {{IpsAnnotation, "192.0.2.200"}});
  s.externalTrafficPolicy = "Local";  // no ready endpoint anywhere: no node may hold it
  w.cluster.services.push_back(s);
  w.step();
  EXPECT_TRUE(w.masterOf("192.0.2.200").empty());
  EXPECT_TRUE(w.last.claimVhids.empty());
}

}  // namespace
}  // namespace carplb::controller::reconcile
