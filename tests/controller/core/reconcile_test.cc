// reconcile(): scenarios against a tiny in-test "API server" that applies the writes, so each
// step sees the cluster the previous step left behind (and a second pass must write nothing).
#include "controller/core/reconcile.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "controller/core/reasons.h"

namespace carplb::controller::core {
namespace {

const WallTime T0 = WallTime{} + std::chrono::hours(24 * 365 * 56);

ServiceInput service(const std::string& name, std::map<std::string, std::string> annotations = {}) {
  ServiceInput s;
  s.namespace_ = "default";
  s.name = name;
  s.uid = "uid-" + name;
  s.generation = 1;
  s.type = "LoadBalancer";
  s.loadBalancerClass = "carplb.io/carp";
  s.annotations = std::move(annotations);
  s.ports = {{"TCP", 80}};
  return s;
}

NodeInput node(const std::string& name, bool ready = true) {
  NodeInput n;
  n.name = name;
  n.ready = ready;
  return n;
}

struct Cluster {
  ReconcileInput in;
  std::vector<EventWrite> events;
  int rv = 0;

  Cluster() {
    in.config.pools = {{"public", {"192.0.2.10-192.0.2.13"}, true}, {"extra", {"198.51.100.0/30"}, false}};
    in.nodes = {node("node-a"), node("node-b")};
    in.now = T0;
  }

  ServiceInput* svc(const std::string& name) {
    for (auto& s : in.services) {
      if (s.name == name) {
        return &s;
      }
    }
    return nullptr;
  }

  const VirtualIpObserved* vip(const std::string& address) const {
    for (const auto& v : in.virtualIps) {
      if (v.spec.address == address) {
        return &v;
      }
    }
    return nullptr;
  }

  const Condition* condition(const std::string& name) {
    for (const auto& c : svc(name)->conditions) {
      if (c.type == reasons::ConditionVipAssigned) {
        return &c;
      }
    }
    return nullptr;
  }

  // Applies the writes like the API server would.
  void apply(const ReconcileOutput& out) {
    for (const auto& w : out.writes) {
      if (auto* f = std::get_if<FinalizerWrite>(&w)) {
        auto* s = svc(f->service.name);
        ASSERT_NE(s, nullptr);
        std::erase(s->finalizers, std::string(reasons::LoadBalancerCleanupFinalizer));
        if (f->add) {
          s->finalizers.push_back(std::string(reasons::LoadBalancerCleanupFinalizer));
        }
      } else if (auto* st = std::get_if<ServiceStatusWrite>(&w)) {
        auto* s = svc(st->service.name);
        ASSERT_NE(s, nullptr);
        s->ingressIps = st->ingress;
        s->conditions = st->conditions;
      } else if (auto* v = std::get_if<VirtualIpWrite>(&w)) {
        auto& list = in.virtualIps;
        auto it = std::find_if(list.begin(), list.end(), [&](const auto& o) { return o.name == v->name; });
        if (v->op == VirtualIpWrite::Op::Delete) {
          ASSERT_NE(it, list.end()) << v->name;
          list.erase(it);
        } else if (v->op == VirtualIpWrite::Op::Create) {
          ASSERT_EQ(it, list.end()) << v->name;
          list.push_back(VirtualIpObserved{v->name, std::to_string(++rv), v->spec, v->status});
        } else {
          ASSERT_NE(it, list.end()) << v->name;
          EXPECT_EQ(it->resourceVersion, v->resourceVersion);
          *it = VirtualIpObserved{v->name, std::to_string(++rv), v->spec, v->status};
        }
      } else if (auto* e = std::get_if<EventWrite>(&w)) {
        events.push_back(*e);
      }
    }
    // Removing the last finalizer of a deleting object deletes it.
    std::erase_if(in.services, [](const ServiceInput& s) { return s.deleting && s.finalizers.empty(); });
  }

  ReconcileOutput step() {
    auto out = reconcile(in);
    EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message);
    apply(out.value());
    return std::move(out.value());
  }

  // The cluster is settled: one more pass writes nothing.
  void expectSteady(const std::string& ctx) {
    auto out = reconcile(in).value();
    EXPECT_TRUE(out.writes.empty()) << ctx << ": " << out.writes.size() << " writes, first kind "
                                    << (out.writes.empty() ? -1 : static_cast<int>(out.writes.front().index()));
  }

  size_t countEvents(std::string_view type, std::string_view reason) const {
    return static_cast<size_t>(std::count_if(events.begin(), events.end(), [&](const EventWrite& e) {
      return e.type == type && e.reason == reason;
    }));
  }
};

TEST(ReconcileTest, AssignsAVipAndSettles) {
  Cluster c;
  c.in.services = {service("web")};
  auto out = c.step();
  // Finalizer first, then the VirtualIP, then the status, then Events.
  ASSERT_GE(out.writes.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<FinalizerWrite>(out.writes[0]));
  EXPECT_TRUE(std::holds_alternative<VirtualIpWrite>(out.writes[1]));
  EXPECT_TRUE(std::holds_alternative<ServiceStatusWrite>(out.writes[2]));
  EXPECT_TRUE(std::holds_alternative<EventWrite>(out.writes.back()));
  EXPECT_EQ(c.svc("web")->ingressIps, std::vector<std::string>{"192.0.2.10"});
  ASSERT_NE(c.condition("web"), nullptr);
  EXPECT_EQ(c.condition("web")->status, "True");
  EXPECT_EQ(c.condition("web")->reason, reasons::VipAssigned);
  EXPECT_EQ(c.condition("web")->observedGeneration, 1);
  const auto* v = c.vip("192.0.2.10");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->name, "192-0-2-10");
  EXPECT_EQ(v->spec.vhid, 1);
  EXPECT_EQ(v->spec.pool, "public");
  EXPECT_EQ(v->spec.services, std::vector<std::string>{"default/web"});
  EXPECT_EQ(v->status.masterAdvskew, 0);
  ASSERT_EQ(v->status.backups.size(), 1u);
  EXPECT_EQ(v->status.backups[0].advskew, 50);
  EXPECT_NE(v->status.master, v->status.backups[0].node);
  EXPECT_EQ(v->status.serviceSummary, "default/web");
  EXPECT_EQ(c.countEvents("Normal", reasons::VipAssigned), 1u);
  EXPECT_EQ(out.services.at("default/web").addresses, std::vector<std::string>{"192.0.2.10"});
  EXPECT_EQ(out.plan.vhids.size(), 1u);
  c.expectSteady("after assignment");
}

TEST(ReconcileTest, ClassicPairFromAddressCount) {
  Cluster c;
  c.in.services = {service("web", {{"carplb.io/address-count", "2"}})};
  c.step();
  const auto* a = c.vip("192.0.2.10");
  const auto* b = c.vip("192.0.2.11");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->spec.vhid, b->spec.vhid);
  EXPECT_EQ(a->status.master, b->status.backups.at(0).node);
  EXPECT_EQ(b->status.master, a->status.backups.at(0).node);
  EXPECT_EQ(c.svc("web")->ingressIps.size(), 2u);
  c.expectSteady("pair");
}

TEST(ReconcileTest, RestartRebuildsTheSamePlan) {
  Cluster c;
  c.in.nodes = {node("n1"), node("n2"), node("n3"), node("n4")};
  for (int i = 0; i < 3; ++i) {
    c.in.services.push_back(service("s" + std::to_string(i), {{"carplb.io/address-count", "all-nodes"}}));
  }
  c.in.config.pools = {{"public", {"192.0.2.0/24"}, true}};
  c.step();
  EXPECT_EQ(c.in.virtualIps.size(), 12u);
  // A new controller process sees the same cluster (in another order): nothing to write.
  std::reverse(c.in.services.begin(), c.in.services.end());
  std::reverse(c.in.virtualIps.begin(), c.in.virtualIps.end());
  std::reverse(c.in.nodes.begin(), c.in.nodes.end());
  c.expectSteady("restart");
}

TEST(ReconcileTest, BadAnnotationWarnsAndChangesNothingElse) {
  Cluster c;
  c.in.services = {service("web"), service("api")};
  c.step();
  const auto before = c.in.virtualIps;
  const auto ingressBefore = c.svc("web")->ingressIps;
  c.svc("web")->annotations["carplb.io/failback"] = "sometimes";
  c.svc("web")->generation = 2;
  auto out = c.step();
  for (const auto& w : out.writes) {
    EXPECT_FALSE(std::holds_alternative<VirtualIpWrite>(w)) << "a VirtualIP changed";
    if (auto* st = std::get_if<ServiceStatusWrite>(&w)) {
      EXPECT_EQ(st->service.name, "web");
    }
  }
  EXPECT_EQ(c.svc("web")->ingressIps, ingressBefore);
  ASSERT_NE(c.condition("web"), nullptr);
  EXPECT_EQ(c.condition("web")->status, "False");
  EXPECT_EQ(c.condition("web")->reason, reasons::InvalidAnnotation);
  EXPECT_NE(c.condition("web")->message.find("carplb.io/failback"), std::string::npos);
  EXPECT_EQ(c.condition("web")->observedGeneration, 2);
  EXPECT_EQ(c.countEvents("Warning", reasons::InvalidAnnotation), 1u);
  c.expectSteady("bad annotation");  // no Warning storm on resync
  // Fixed: back to True, one Normal event.
  c.svc("web")->annotations["carplb.io/failback"] = "never";
  c.step();
  EXPECT_EQ(c.condition("web")->status, "True");
  EXPECT_EQ(c.in.virtualIps.size(), before.size());
  c.expectSteady("fixed");
}

TEST(ReconcileTest, EveryBadInputGetsItsReason) {
  struct Case {
    std::string name;
    std::map<std::string, std::string> annotations;
    std::string_view reason;
  };
  const std::vector<Case> cases = {
      {"not an IP", {{"carplb.io/loadBalancerIPs", "nope"}}, reasons::InvalidAnnotation},
      {"outside every pool", {{"carplb.io/loadBalancerIPs", "203.0.113.9"}}, reasons::AddressNotInPool},
      {"IPv6", {{"carplb.io/loadBalancerIPs", "2001:db8::9"}}, reasons::UnsupportedFamily},
      {"duplicate", {{"carplb.io/loadBalancerIPs", "192.0.2.10,192.0.2.10"}}, reasons::InvalidAnnotation},
      {"failback", {{"carplb.io/failback", "maybe"}}, reasons::InvalidAnnotation},
      {"unknown pool", {{"carplb.io/address-pool", "nope"}}, reasons::NoPool},
      {"pool too small", {{"carplb.io/address-count", "9"}}, reasons::PoolExhausted},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    Cluster c;
    c.in.services = {service("ok"), service("bad", k.annotations)};
    c.step();
    ASSERT_NE(c.condition("bad"), nullptr);
    EXPECT_EQ(c.condition("bad")->status, "False");
    EXPECT_EQ(c.condition("bad")->reason, k.reason);
    EXPECT_TRUE(c.svc("bad")->ingressIps.empty());
    EXPECT_EQ(c.countEvents("Warning", k.reason), 1u);
    EXPECT_EQ(c.condition("ok")->status, "True");  // the other Service is unaffected
    c.expectSteady(k.name);
  }
}

TEST(ReconcileTest, SharedAddressNeedsKeyAndFreePorts) {
  Cluster c;
  auto a = service("a", {{"carplb.io/loadBalancerIPs", "192.0.2.12"}, {"carplb.io/allow-shared-ip", "k"}});
  auto b = service("b", {{"carplb.io/loadBalancerIPs", "192.0.2.12"}, {"carplb.io/allow-shared-ip", "k"}});
  b.ports = {{"TCP", 443}};
  auto thief = service("thief", {{"carplb.io/loadBalancerIPs", "192.0.2.12"}});
  c.in.services = {a, b, thief};
  c.step();
  const auto* v = c.vip("192.0.2.12");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->spec.services, (std::vector<std::string>{"default/a", "default/b"}));
  EXPECT_EQ(c.in.virtualIps.size(), 1u);
  EXPECT_EQ(c.svc("a")->ingressIps, c.svc("b")->ingressIps);
  EXPECT_EQ(c.condition("thief")->reason, reasons::AddressConflict);
  EXPECT_NE(c.condition("thief")->message.find("192.0.2.12"), std::string::npos);
  EXPECT_EQ(c.countEvents("Warning", reasons::AddressConflict), 1u);
  c.expectSteady("shared");
}

TEST(ReconcileTest, FailedNodeMovesVipWithReasonAndEvents) {
  Cluster c;
  c.in.services = {service("web")};
  c.step();
  const std::string master = c.vip("192.0.2.10")->status.master;
  const std::string backup = c.vip("192.0.2.10")->status.backups.at(0).node;
  for (auto& n : c.in.nodes) {
    n.ready = n.name != master;
  }
  c.in.now = T0 + std::chrono::seconds(30);
  c.step();
  const auto* v = c.vip("192.0.2.10");
  EXPECT_EQ(v->status.master, backup);  // the first backup, as CARP itself did
  EXPECT_EQ(v->spec.vhid, 1);
  ASSERT_TRUE(v->status.lastFailover.has_value());
  EXPECT_EQ(v->status.lastFailover->from, master);
  EXPECT_EQ(v->status.lastFailover->to, backup);
  EXPECT_EQ(v->status.lastFailover->reason, reasons::MoveNodeNotReady);
  EXPECT_EQ(v->status.lastFailover->time, T0 + std::chrono::seconds(30));
  EXPECT_EQ(c.countEvents("Normal", reasons::VipMoved), 2u);  // on the VirtualIP and on the Service
  c.expectSteady("moved");
  // The node comes back: the VIP stays (one VIP, nothing to balance), its backup list regrows.
  for (auto& n : c.in.nodes) {
    n.ready = true;
  }
  c.step();
  EXPECT_EQ(c.vip("192.0.2.10")->status.master, backup);
  EXPECT_EQ(c.vip("192.0.2.10")->status.backups.size(), 1u);
  c.expectSteady("node back");
}

TEST(ReconcileTest, NoEligibleNodeKeepsAddressAndSaysWhy) {
  Cluster c;
  c.in.nodes = {node("n1", false)};
  c.in.services = {service("web")};
  c.step();
  EXPECT_EQ(c.svc("web")->ingressIps, std::vector<std::string>{"192.0.2.10"});
  EXPECT_EQ(c.condition("web")->status, "False");
  EXPECT_EQ(c.condition("web")->reason, "NoEligibleNodes");
  const auto* v = c.vip("192.0.2.10");
  ASSERT_NE(v, nullptr);  // keeps its vhid
  EXPECT_TRUE(v->status.master.empty());
  EXPECT_EQ(v->status.conditions.at(0).status, "False");
  c.expectSteady("no nodes");
  c.in.nodes[0].ready = true;
  c.step();
  EXPECT_EQ(c.vip("192.0.2.10")->status.master, "n1");
  EXPECT_EQ(c.condition("web")->status, "True");
}

TEST(ReconcileTest, LocalTrafficOnlyOnNodesWithEndpoints) {
  Cluster c;
  c.in.nodes = {node("n1"), node("n2"), node("n3")};
  auto s = service("web");
  s.externalTrafficPolicy = "Local";
  c.in.services = {s};
  c.in.endpoints = {{"default/web", {"n3"}}};
  c.step();
  const auto* v = c.vip("192.0.2.10");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->status.master, "n3");
  EXPECT_TRUE(v->status.backups.empty());
  c.in.endpoints = {{"default/web", {"n1", "n3"}}};
  c.step();
  EXPECT_EQ(c.vip("192.0.2.10")->status.master, "n3");  // stays; n1 becomes its backup
  EXPECT_EQ(c.vip("192.0.2.10")->status.backups.at(0).node, "n1");
  c.in.endpoints = {{"default/web", {"n1"}}};
  c.step();
  EXPECT_EQ(c.vip("192.0.2.10")->status.master, "n1");
  EXPECT_EQ(c.vip("192.0.2.10")->status.lastFailover->reason, reasons::MoveNoLocalEndpoints);
}

TEST(ReconcileTest, DeletionTypeAndClassChangesReleaseEverything) {
  for (const std::string how : {"delete", "type", "class"}) {
    SCOPED_TRACE(how);
    Cluster c;
    c.in.services = {service("web"), service("api")};
    c.step();
    ASSERT_EQ(c.in.virtualIps.size(), 2u);
    auto* s = c.svc("web");
    if (how == "delete") {
      s->deleting = true;
    } else if (how == "type") {
      s->type = "ClusterIP";
    } else {
      s->loadBalancerClass = "other.io/lb";
    }
    auto out = c.step();
    EXPECT_EQ(c.in.virtualIps.size(), 1u);
    EXPECT_EQ(c.countEvents("Normal", reasons::VipReleased), 1u);
    // Order: VirtualIP delete, status cleared, finalizer removed last.
    std::vector<size_t> kinds;
    for (const auto& w : out.writes) {
      kinds.push_back(w.index());
    }
    auto pos = [&](size_t kind) { return std::find(kinds.begin(), kinds.end(), kind) - kinds.begin(); };
    EXPECT_LT(pos(1), pos(2));
    EXPECT_LT(pos(2), pos(0));
    if (how == "delete") {
      EXPECT_EQ(c.svc("web"), nullptr);  // finalizer gone -> object gone
    } else {
      EXPECT_TRUE(c.svc("web")->ingressIps.empty());
      EXPECT_TRUE(c.svc("web")->finalizers.empty());
      EXPECT_EQ(c.condition("web"), nullptr);
    }
    EXPECT_EQ(c.condition("api")->status, "True");
    c.expectSteady(how);
  }
}

TEST(ReconcileTest, IgnoresForeignServicesAndJunk) {
  Cluster c;
  auto other = service("metallb");
  other.loadBalancerClass = "metallb.io/metallb";
  other.ingressIps = {"203.0.113.1"};
  auto noClass = service("noclass");
  noClass.loadBalancerClass.reset();
  auto junk = service("junk");
  junk.type = "typeValue";
  auto nameless = service("");
  c.in.services = {other, noClass, junk, nameless, service("web"), service("web")};
  c.in.virtualIps = {VirtualIpObserved{"garbage", "7", VirtualIpSpec{"not-an-ip", 9, "", {}}, {}},
                     VirtualIpObserved{"203-0-113-50", "8", VirtualIpSpec{"203.0.113.50", 0, "", {}}, {}}};
  auto out = c.step();
  size_t deletes = 0;
  for (const auto& w : out.writes) {
    if (auto* v = std::get_if<VirtualIpWrite>(&w)) {
      deletes += v->op == VirtualIpWrite::Op::Delete ? 1 : 0;
    }
    if (auto* st = std::get_if<ServiceStatusWrite>(&w)) {
      EXPECT_EQ(st->service.name, "web");
    }
  }
  EXPECT_EQ(deletes, 2u);  // garbage and the unowned one
  EXPECT_EQ(c.in.virtualIps.size(), 1u);
  EXPECT_EQ(out.services.size(), 1u);
  c.expectSteady("junk");
  // As the default implementation, class-less Services are ours too.
  c.in.config.defaultClass = true;
  c.step();
  EXPECT_EQ(c.condition("noclass")->status, "True");
}

TEST(ReconcileTest, ForeignVhidMovesTheVipToAnotherVhidOnly) {
  Cluster c;
  c.in.services = {service("web")};
  c.step();
  const auto before = *c.vip("192.0.2.10");
  ASSERT_EQ(before.spec.vhid, 1);
  c.in.config.excludedVhids = {1};  // a VRRP router on the segment uses vhid 1
  c.step();
  const auto* after = c.vip("192.0.2.10");
  EXPECT_EQ(after->spec.vhid, 2);
  EXPECT_EQ(after->status.master, before.status.master);
  EXPECT_EQ(after->status.backups, before.status.backups);
  c.expectSteady("re-vhid");
}

TEST(ReconcileTest, InvalidConfigIsAnErrorNamingTheField) {
  ReconcileInput in;
  in.config.pools = {{"p", {"192.0.2.0/33"}, true}};
  auto r = reconcile(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pools[0].ranges[0]"), std::string::npos);
  in.config.pools.clear();
  in.config.vhidMax = 300;
  EXPECT_NE(reconcile(in).error().message.find("vhidMax"), std::string::npos);
}

TEST(ReconcileTest, JsonBodiesMatchTheContract) {
  Cluster c;
  c.in.services = {service("web")};
  auto out = c.step();
  const VirtualIpWrite* vw = nullptr;
  const ServiceStatusWrite* sw = nullptr;
  for (const auto& w : out.writes) {
    if (auto* v = std::get_if<VirtualIpWrite>(&w)) {
      vw = v;
    }
    if (auto* s = std::get_if<ServiceStatusWrite>(&w)) {
      sw = s;
    }
  }
  ASSERT_TRUE(vw && sw);
  auto obj = virtualIpObject(*vw);
  EXPECT_EQ(obj["apiVersion"], "carplb.io/v1alpha1");
  EXPECT_EQ(obj["kind"], "VirtualIP");
  EXPECT_EQ(obj["metadata"]["name"], "192-0-2-10");
  EXPECT_EQ(obj["spec"]["address"], "192.0.2.10");
  EXPECT_EQ(obj["spec"]["vhid"], 1);
  EXPECT_EQ(obj["spec"]["services"][0], "default/web");
  auto st = virtualIpStatusPatch(*vw)["status"];
  EXPECT_EQ(st["masterAdvskew"], 0);
  EXPECT_EQ(st["backups"][0]["advskew"], 50);
  EXPECT_EQ(st["conditions"][0]["type"], "Planned");
  EXPECT_EQ(st["conditions"][0]["status"], "True");
  EXPECT_FALSE(st.contains("nodes"));  // the agents' field is never written here
  auto patch = serviceStatusPatch(*sw);
  EXPECT_EQ(patch["status"]["loadBalancer"]["ingress"][0]["ip"], "192.0.2.10");
  EXPECT_EQ(patch["status"]["loadBalancer"]["ingress"][0]["ipMode"], "VIP");
  EXPECT_EQ(patch["status"]["conditions"][0]["type"], "carplb.io/VipAssigned");
  EXPECT_EQ(patch["status"]["conditions"][0]["lastTransitionTime"], formatRfc3339(T0));
  EXPECT_TRUE(serviceStatusPatch(ServiceStatusWrite{{}, {}, {}})["status"]["loadBalancer"]["ingress"].is_null());
  EXPECT_EQ(formatRfc3339(WallTime{} + std::chrono::seconds(86400 + 61)), "1970-01-02T00:01:01Z");
}

}  // namespace
}  // namespace carplb::controller::core
