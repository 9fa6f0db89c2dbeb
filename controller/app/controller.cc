#include "controller/app/controller.h"

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "controller/app/convert.h"
#include "controller/core/reasons.h"
#include "controller/kube/model/resources.h"
#include "controller/kube/model/time_format.h"
#include "controller/observe/observations.h"
#include "controller/observe/status.h"
#include "controller/reconcile/desired_state.h"
#include "controller/reconcile/retire.h"

namespace carplb::controller::app {

using Json = nlohmann::json;
namespace reasons = core::reasons;

namespace {

constexpr const char* SyncKey = "sync";
constexpr const char* VipApiPath = "/apis/carplb.io/v1alpha1/virtualips";

std::string servicePath(const std::string& ns, const std::string& name) {
  return "/api/v1/namespaces/" + ns + "/services/" + name;
}

std::string rfc3339(WallTime t) { return kube::formatTime(t); }

// Pokes the controller on every informer event; the worker reads the cache (keys, not objects).
class PokeHandler final : public kube::InformerHandler {
public:
  explicit PokeHandler(std::function<void()> poke) : poke_(std::move(poke)) {}
  void onAdd(const kube::ObjectPtr&) override { poke_(); }
  void onUpdate(const kube::ObjectPtr&, const kube::ObjectPtr&) override { poke_(); }
  void onDelete(const kube::ObjectPtr&) override { poke_(); }
  void onSynced() override { poke_(); }
  void onResync() override { poke_(); }

private:
  std::function<void()> poke_;
};

Json conditionJson(const core::Condition& c, const std::string& lastTransition) {
  return Json{{"type", c.type},
              {"status", c.status},
              {"reason", c.reason},
              {"message", c.message},
              {"observedGeneration", c.observedGeneration},
              {"lastTransitionTime", lastTransition}};
}

}  // namespace

struct Controller::Impl {
  kube::RestClient& client;
  rpc::PlanServer* planServer;
  ControllerOptions options;
  const Clock& clock;
  Logger log;
  Registry& metrics;
  reconcile::ReconcileConfig rc;

  kube::WorkQueue queue;
  PokeHandler handler;
  std::unique_ptr<kube::Informer> services, nodes, slices, vips;
  kube::EventRecorder recorder;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread worker;

  // What agents reported (worker thread only).
  observe::AgentObservations observations;
  std::set<int> foreignVhidsSeen;  // sticky: a vhid someone else speaks on is never reused
  // vhid -> (VIP addresses, Services) as planned BEFORE the current pass: agents report on the
  // plan they ran, and a pass may re-plan (e.g. move a group off a foreign speaker's vhid).
  struct VhidMembers {
    std::vector<std::string> addresses;
    std::set<std::string> services;
  };
  std::map<int, VhidMembers> previousVhids;
  // DesiredState::claimVhids of the last pass: vhids this process allocated that no agent has
  // reported running yet (reconcile carries them; Vhost.claim for their planned master).
  std::set<int> claimVhids;
  // Ordered retirement of vhids that left the plan (controller/reconcile/retire.h): the vhid
  // plans of the last pass, and per node the Vhosts it was sent (a retiring master keeps its
  // Vhost unchanged while the backups drop theirs).
  reconcile::VhidRetirements retirements;
  std::vector<core::VhidPlan> previousPlans;
  std::map<std::string, std::map<int, v1::Vhost>> lastVhosts;

  // Agent health bookkeeping (worker thread only).
  TimePoint leadingSince{};
  std::map<std::string, TimePoint> lastHealthy;
  std::atomic<bool>* leading = nullptr;

  // For /state (guarded by stateMu).
  mutable std::mutex stateMu;
  Json lastState = Json::object();

  MetricFamily& syncs;
  MetricFamily& writes;
  MetricFamily& vipGauge;
  MetricFamily& mastersGauge;
  MetricFamily& retireSteps;

  Impl(kube::RestClient& c, rpc::PlanServer* ps, ControllerOptions o, const Clock& clk, Logger l, Registry& m,
       reconcile::ReconcileConfig cfg)
      : client(c),
        planServer(ps),
        options(std::move(o)),
        clock(clk),
        log(std::move(l)),
        metrics(m),
        rc(std::move(cfg)),
        queue(clk),
        handler([this] { pokeQueue(); }),
        recorder(c, kube::EventCorrelator::Options{options.component, {}, 25, std::chrono::minutes(5), 4096, 1024},
                 log.child("events")),
        syncs(m.counter("carplb_controller_syncs_total", "Reconcile passes, by result")),
        writes(m.counter("carplb_controller_api_writes_total", "API writes, by kind and result")),
        vipGauge(m.gauge("carplb_controller_vips", "VIPs by state (planned, unplaced)")),
        mastersGauge(m.gauge("carplb_controller_node_masters", "VIPs planned to be mastered by each node")),
        retireSteps(m.counter("carplb_controller_vhid_retirements_total",
                              "Steps of ordered vhid retirements (backups first, then the master), by reason")) {}

  void pokeQueue() {
    queue.add(SyncKey);
    cv.notify_all();
  }

  kube::InformerOptions informerOptions(const std::string& resource, const std::string& path) const {
    kube::InformerOptions o;
    o.resource = resource;
    o.collectionPath = path;
    o.resyncPeriod = options.resyncPeriod;
    return o;
  }

  bool allSynced() const {
    return services && services->hasSynced() && nodes->hasSynced() && slices->hasSynced() && vips->hasSynced();
  }

  void run() {
    while (true) {
      std::optional<std::string> key;
      {
        std::unique_lock<std::mutex> lock(mu);
        while (!stopping) {
          key = queue.tryGet();
          if (key) break;
          auto next = queue.nextDelayedAt();
          if (next) {
            cv.wait_for(lock, std::max<Duration>(std::chrono::milliseconds(1), *next - clock.now()));
          } else {
            cv.wait_for(lock, std::chrono::seconds(1));
          }
        }
        if (stopping) return;
      }
      bool ok = true;
      if (leading->load() && allSynced()) {
        ok = syncOnce();
      }
      if (ok) {
        queue.forget(*key);
      } else {
        queue.addRateLimited(*key);
      }
      queue.done(*key);
    }
  }

  // ---- agent reports -------------------------------------------------------------------
  static observe::CarpState carpState(v1::CarpState s) {
    switch (s) {
      case v1::CARP_STATE_INIT: return observe::CarpState::Init;
      case v1::CARP_STATE_BACKUP: return observe::CarpState::Backup;
      case v1::CARP_STATE_MASTER: return observe::CarpState::Master;
      default: return observe::CarpState::Unknown;
    }
  }

  static WallTime wallOf(const google::protobuf::Timestamp& t) {
    return WallTime{} + std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos());
  }

  void drainAgentEvents() {
    if (!planServer) return;
    for (const auto& ev : planServer->drainEvents()) {
      std::optional<observe::AgentReport> report;
      const auto& m = ev.report;
      switch (ev.kind) {
        case rpc::AgentEventKind::Connected: report = observe::Connected{ev.node}; break;
        case rpc::AgentEventKind::Disconnected: report = observe::Disconnected{ev.node, ev.detail}; break;
        case rpc::AgentEventKind::Acked: break;
        case rpc::AgentEventKind::StateChange:
          report = observe::StateChange{ev.node,
                                        static_cast<int>(m.state_change().vhid()),
                                        carpState(m.state_change().from()),
                                        carpState(m.state_change().to()),
                                        m.state_change().reason(),
                                        wallOf(m.state_change().time())};
          break;
        case rpc::AgentEventKind::ForeignSpeaker: {
          const auto& f = m.foreign_speaker();
          report = observe::ForeignSpeaker{ev.node,
                                           static_cast<int>(f.vhid()),
                                           f.interface(),
                                           f.source_address(),
                                           f.protocol() == v1::FOREIGN_PROTOCOL_VRRP ? observe::ForeignProtocol::Vrrp
                                                                                     : observe::ForeignProtocol::Carp,
                                           static_cast<int>(f.advbase()),
                                           static_cast<int>(f.advskew()),
                                           wallOf(f.time())};
          break;
        }
        case rpc::AgentEventKind::ApplyError:
          report = observe::ApplyError{ev.node, m.apply_error().controller_epoch(), m.apply_error().generation(),
                                       static_cast<int>(m.apply_error().vhid()), m.apply_error().message()};
          break;
      }
      if (!report) continue;
      if (auto r = observations.apply(*report, ev.receivedAt); !r) {
        log.debug("agent report ignored", {{"node", ev.node}, {"error", r.error().message}});
      }
    }
  }

  // Notices -> Events on the Services of the vhid's VIPs (or on the Node).
  void recordNotices(const reconcile::DesiredState& desired) {
    std::set<int> planned;
    for (const auto& p : desired.vhids) planned.insert(p.vhid);
    auto all = observations.takeNotices(clock.wallNow());
    auto notices = observe::withoutUnplannedTakeovers(all, planned);
    if (notices.size() != all.size()) {
      log.debug("takeover notices of retiring vhids dropped", {{"count", static_cast<int>(all.size() - notices.size())}});
    }
    for (const auto& n : notices) {
      if (n.subject == observe::NoticeSubject::Node) {
        kube::ObjectReference ref;
        ref.apiVersion = "v1";
        ref.kind = "Node";
        ref.name = n.node;
        recorder.record(ref, n.type == observe::NoticeType::Warning ? "Warning" : "Normal", std::string(n.reason),
                        observe::renderMessage(n));
        continue;
      }
      std::vector<std::string> addresses;
      std::set<std::string> services;
      if (auto prev = previousVhids.find(n.vhid); prev != previousVhids.end()) {
        addresses = prev->second.addresses;
        services = prev->second.services;
      } else {
        for (const auto& [a, v] : desired.vips) {
          if (v.vhid != n.vhid) continue;
          addresses.push_back(v.name);
          services.insert(v.services.begin(), v.services.end());
        }
      }
      std::string msg = observe::renderMessage(n, addresses);
      log.info("agent notice", {{"reason", std::string(n.reason)}, {"vhid", n.vhid}, {"message", msg}});
      for (const auto& key : services) {
        auto slash = key.find('/');
        kube::ObjectReference ref;
        ref.apiVersion = "v1";
        ref.kind = "Service";
        ref.namespace_ = key.substr(0, slash);
        ref.name = key.substr(slash + 1);
        recorder.record(ref, n.type == observe::NoticeType::Warning ? "Warning" : "Normal", std::string(n.reason), msg);
      }
    }
    previousVhids.clear();
    for (const auto& [a, v] : desired.vips) {
      if (v.vhid <= 0) continue;
      auto& m = previousVhids[v.vhid];
      m.addresses.push_back(v.name);
      m.services.insert(v.services.begin(), v.services.end());
    }
    if (auto next = observations.nextDeadline()) {
      auto delay = std::chrono::duration_cast<Duration>(*next - clock.wallNow());
      queue.addAfter(SyncKey, std::max<Duration>(delay, std::chrono::milliseconds(10)));
      cv.notify_all();
    }
  }

  // ---- inputs --------------------------------------------------------------------------
  reconcile::ClusterState gather(std::vector<kube::Service>& svcViews, std::vector<kube::VirtualIP>& vipViews) {
    reconcile::ClusterState cs;
    for (const auto& obj : services->list()) {
      auto s = kube::parseService(*obj);
      if (!s) continue;
      cs.services.push_back(toServiceInput(*s));
      svcViews.push_back(std::move(*s));
    }
    for (const auto& obj : nodes->list()) {
      auto n = kube::parseNode(*obj);
      if (n) cs.nodes.push_back(toNodeInput(*n));
    }
    std::map<std::string, std::vector<std::string>> ready;
    for (const auto& obj : slices->list()) {
      auto sl = kube::parseEndpointSlice(*obj);
      if (!sl || sl->serviceName.empty()) continue;
      auto& v = ready[sl->meta.namespace_ + "/" + sl->serviceName];
      auto r = readyNodesOf(*sl);
      v.insert(v.end(), r.begin(), r.end());
    }
    for (auto& [k, v] : ready) cs.endpoints.push_back(core::EndpointInput{k, v});
    for (const auto& obj : vips->list()) {
      auto v = kube::parseVirtualIP(*obj);
      if (!v) continue;
      auto addr = core::parseIpv4(v->address);
      if (!addr) continue;
      reconcile::ObservedVip o;
      o.name = v->meta.name;
      o.address = *addr;
      o.vhid = static_cast<int>(v->vhid);
      o.services = v->services;
      o.pool = v->pool;
      if (!v->master.empty()) {
        o.order.push_back(v->master);
        for (const auto& b : v->backups) o.order.push_back(b.node);
      }
      cs.vips.push_back(std::move(o));
      vipViews.push_back(std::move(*v));
    }
    if (planServer) {
      auto now = clock.now();
      for (const auto& n : cs.nodes) {
        if (planServer->agentHealthy(n.name)) {
          lastHealthy[n.name] = now;
          continue;
        }
        TimePoint since = leadingSince;
        if (auto it = lastHealthy.find(n.name); it != lastHealthy.end()) since = std::max(since, it->second);
        if (now - since >= options.agentGracePeriod) cs.nodesWithoutAgent.insert(n.name);
      }
    }
    return cs;
  }

  // ---- writes --------------------------------------------------------------------------
  bool record(const char* kind, bool ok, const std::string& what, const std::string& error = {}) {
    writes.inc({{"kind", kind}, {"result", ok ? "ok" : "error"}});
    if (!ok) log.warn("API write failed", {{"kind", kind}, {"object", what}, {"error", error}});
    return ok;
  }

  bool writeService(const reconcile::ServiceDesired& d, const kube::Service& view, const core::ServiceInput& in) {
    const std::string path = servicePath(d.namespace_, d.name);
    const std::string fin(reasons::LoadBalancerCleanupFinalizer);
    bool ok = true;
    const bool hasFin = view.meta.hasFinalizer(fin);

    // Status: our condition (others kept), ingress.
    Json conditions = Json::array();
    bool conditionChanged = false;
    if (const Json* st = view.raw.contains("status") ? &view.raw["status"] : nullptr;
        st && st->contains("conditions") && (*st)["conditions"].is_array()) {
      for (const auto& c : (*st)["conditions"]) {
        if (c.is_object() && c.value("type", "") == reasons::ConditionVipAssigned) continue;
        conditions.push_back(c);
      }
    }
    if (d.action == reconcile::ServiceAction::Manage) {
      std::string lastTransition = rfc3339(clock.wallNow());
      for (const auto& c : in.conditions) {
        if (c.type == d.condition.type && c.status == d.condition.status) {
          for (const auto& rc2 : view.conditions) {
            if (rc2.type == c.type) lastTransition = rc2.lastTransitionTime;
          }
        }
      }
      conditions.push_back(conditionJson(d.condition, lastTransition));
      conditionChanged = !reconcile::hasCondition(in, d.condition);
    } else {
      conditionChanged = std::any_of(in.conditions.begin(), in.conditions.end(),
                                     [](const core::Condition& c) { return c.type == reasons::ConditionVipAssigned; });
    }

    if (d.action == reconcile::ServiceAction::Manage && !hasFin) {
      Json fins = view.meta.finalizers;
      fins.push_back(fin);
      Json patch = {{"metadata", {{"finalizers", fins}, {"resourceVersion", view.meta.resourceVersion}}}};
      auto r = client.mergePatch(path, patch);
      ok &= record("service_finalizer", r.ok(), d.key, r.ok() ? "" : r.error().message);
      if (!r.ok()) return false;  // never publish an address without the finalizer
    }

    std::vector<std::string> observed = in.ingressIps;
    std::sort(observed.begin(), observed.end());
    bool ingressChanged = false;
    Json ingress = Json::array();
    if (d.action == reconcile::ServiceAction::Manage && d.ingress) {
      for (const auto& ip : *d.ingress) ingress.push_back({{"ip", ip}, {"ipMode", "VIP"}});
      ingressChanged = observed != *d.ingress;
    } else if (d.action == reconcile::ServiceAction::Release) {
      ingressChanged = !observed.empty();
    }
    if (conditionChanged || ingressChanged) {
      Json status = {{"conditions", conditions}};
      if (d.action == reconcile::ServiceAction::Release) {
        status["loadBalancer"] = Json::object({{"ingress", nullptr}});
      } else if (d.ingress) {
        status["loadBalancer"] = {{"ingress", ingress}};
      }
      auto r = client.mergePatch(path + "/status", Json{{"status", status}});
      ok &= record("service_status", r.ok(), d.key, r.ok() ? "" : r.error().message);
      if (r.ok()) {
        log.info("service status", {{"service", d.key},
                                    {"ingress", d.ingress ? Json(*d.ingress).dump() : std::string("(kept)")},
                                    {"condition", d.condition.status},
                                    {"reason", d.condition.reason}});
      }
    }
    if (d.action == reconcile::ServiceAction::Release && hasFin) {
      if (!ok) return false;  // clear the status first, then let the Service go
      Json fins = Json::array();
      for (const auto& f : view.meta.finalizers) {
        if (f != fin) fins.push_back(f);
      }
      Json patch = {{"metadata", {{"finalizers", fins}, {"resourceVersion", view.meta.resourceVersion}}}};
      auto r = client.mergePatch(path, patch);
      ok &= record("service_finalizer_remove", r.ok() || r.kind() == kube::ApiErrorKind::NotFound, d.key,
                   r.ok() ? "" : r.error().message);
      if (r.ok()) log.info("released service", {{"service", d.key}});
    }
    return ok;
  }

  Json vipSpec(const reconcile::VipDesired& v) const {
    Json spec = {{"address", v.address.toString()}, {"vhid", v.vhid}, {"services", v.services}};
    if (!v.pool.empty()) spec["pool"] = v.pool;
    return spec;
  }

  Json vipStatus(const reconcile::VipDesired& v, const kube::VirtualIP* observed) const {
    Json st = Json::object();
    std::string backupSummary;
    Json backups = Json::array();
    for (size_t i = 1; i < v.nodes.size(); ++i) {
      backups.push_back({{"node", v.nodes[i].node}, {"advskew", v.nodes[i].advskew + rc2Base()}});
      backupSummary += (backupSummary.empty() ? "" : ",") + v.nodes[i].node + "(" +
                       std::to_string(v.nodes[i].advskew + rc2Base()) + ")";
    }
    std::string serviceSummary;
    for (const auto& s : v.services) serviceSummary += (serviceSummary.empty() ? "" : ",") + s;
    st["master"] = v.nodes.empty() ? "" : v.nodes.front().node;
    if (!v.nodes.empty()) st["masterAdvskew"] = v.nodes.front().advskew + rc2Base();
    st["backups"] = backups;
    st["backupSummary"] = backupSummary;
    st["serviceSummary"] = serviceSummary;
    core::Condition planned;
    planned.type = std::string(reasons::ConditionPlanned);
    if (v.nodes.empty()) {
      planned.status = "False";
      planned.reason = v.unplaced == core::Unplaced::VhidsExhausted ? std::string(reasons::VhidsExhausted)
                                                                     : std::string(reasons::NoEligibleNodes);
      planned.message = "no node can master " + v.address.toString();
    } else {
      planned.status = "True";
      planned.reason = std::string(reasons::Planned);
      planned.message = "master " + v.nodes.front().node + ", vhid " + std::to_string(v.vhid);
    }
    std::string lastTransition = rfc3339(clock.wallNow());
    Json conditions = Json::array();
    if (observed) {
      for (const auto& c : observed->conditions) {
        if (c.type == planned.type) {
          if (c.status == planned.status) lastTransition = c.lastTransitionTime;
          continue;
        }
        conditions.push_back({{"type", c.type}, {"status", c.status}, {"reason", c.reason}, {"message", c.message},
                              {"lastTransitionTime", c.lastTransitionTime}});
      }
    }
    conditions.push_back(conditionJson(planned, lastTransition));
    st["conditions"] = conditions;
    if (auto view = observations.vhidView(v.vhid); view && v.vhid > 0) {
      Json frag = observe::statusFragment(*view);
      for (const char* k : {"actualMaster", "nodes", "lastFailover"}) {
        if (frag.contains(k)) st[k] = frag[k];
      }
      if (frag.contains("conditions")) st["conditions"] = observe::mergeConditions(st["conditions"], frag["conditions"]);
    }
    return st;
  }
  int rc2Base() const { return options.config.timers.advskewBase; }

  static bool sameStatus(const Json& want, const Json& have) {
    for (const auto& [k, v] : want.items()) {
      if (k == "conditions") {
        if (!have.contains(k) || !have[k].is_array() || have[k].size() != v.size()) return false;
        for (size_t i = 0; i < v.size(); ++i) {
          for (const char* f : {"type", "status", "reason", "message"}) {
            if (v[i].value(f, "") != have[k][i].value(f, "")) return false;
          }
        }
        continue;
      }
      if (!have.contains(k) || have[k] != v) return false;
    }
    return true;
  }

  bool writeVips(const reconcile::DesiredState& desired, const std::vector<kube::VirtualIP>& observed) {
    bool ok = true;
    std::map<std::string, const kube::VirtualIP*> byName;
    for (const auto& v : observed) byName[v.meta.name] = &v;
    // Deletes first: a released VIP's vhid may be reused by a new one in the same pass, and two
    // VirtualIPs must never show the same vhid (nor survive a crash between the two writes).
    for (const auto& v : observed) {
      auto addr = core::parseIpv4(v.address);
      bool managedByUs = v.meta.labels.count("app.kubernetes.io/managed-by") &&
                         v.meta.labels.at("app.kubernetes.io/managed-by") == "carplb";
      if (!managedByUs) continue;
      if (addr && desired.vips.count(*addr)) continue;
      auto r = client.remove(std::string(VipApiPath) + "/" + v.meta.name);
      ok &= record("virtualip_delete", r.ok() || r.kind() == kube::ApiErrorKind::NotFound, v.meta.name,
                   r.ok() ? "" : r.error().message);
      if (r.ok()) log.info("virtualip deleted", {{"vip", v.meta.name}});
    }
    for (const auto& [addr, v] : desired.vips) {
      auto it = byName.find(v.name);
      const kube::VirtualIP* have = it == byName.end() ? nullptr : it->second;
      std::optional<kube::VirtualIP> fresh;
      Json spec = vipSpec(v);
      Json status = vipStatus(v, have);
      if (!have) {
        Json obj = {{"apiVersion", "carplb.io/v1alpha1"},
                    {"kind", "VirtualIP"},
                    {"metadata", {{"name", v.name}, {"labels", {{"app.kubernetes.io/managed-by", "carplb"}}}}},
                    {"spec", spec}};
        auto r = client.create(VipApiPath, obj);
        if (r.ok()) {
          record("virtualip_create", true, v.name);
          log.info("virtualip created", {{"vip", v.name}, {"vhid", v.vhid}});
          Json created = *r;
          created["status"] = status;
          auto s = client.update(std::string(VipApiPath) + "/" + v.name + "/status", created);
          ok &= record("virtualip_status", s.ok(), v.name, s.ok() ? "" : s.error().message);
          continue;
        }
        if (r.kind() != kube::ApiErrorKind::Conflict) {
          ok &= record("virtualip_create", false, v.name, r.error().message);
          continue;
        }
        // AlreadyExists: the informer cache is behind (its watch is down). Without this the
        // object would keep its old spec (services, vhid) until the cache recovers: read it
        // and update it like any observed VirtualIP.
        auto cur = client.get(std::string(VipApiPath) + "/" + v.name);
        Result<kube::VirtualIP> parsed = cur.ok() ? kube::parseVirtualIP(*cur)
                                                  : Result<kube::VirtualIP>(makeError(cur.error().message));
        if (!parsed) {
          ok &= record("virtualip_create", false, v.name, r.error().message + "; re-read: " + parsed.error().message);
          continue;
        }
        log.info("virtualip exists but not in cache, updating it", {{"vip", v.name}});
        fresh = std::move(*parsed);
        have = &*fresh;
        status = vipStatus(v, have);
      }
      const Json& haveSpec = have->raw.contains("spec") ? have->raw["spec"] : Json::object();
      if (haveSpec.value("address", "") != spec["address"] || haveSpec.value("vhid", 0) != v.vhid ||
          haveSpec.value("services", Json::array()) != spec["services"] || haveSpec.value("pool", "") != v.pool) {
        auto r = client.mergePatch(std::string(VipApiPath) + "/" + v.name,
                                   Json{{"spec", spec}, {"metadata", {{"resourceVersion", have->meta.resourceVersion}}}});
        ok &= record("virtualip_spec", r.ok(), v.name, r.ok() ? "" : r.error().message);
        if (!r.ok()) continue;
      }
      const Json& haveStatus = have->raw.contains("status") ? have->raw["status"] : Json::object();
      if (!sameStatus(status, haveStatus)) {
        auto r = client.mergePatch(std::string(VipApiPath) + "/" + v.name + "/status", Json{{"status", status}});
        ok &= record("virtualip_status", r.ok(), v.name, r.ok() ? "" : r.error().message);
        if (r.ok() && haveStatus.value("master", "") != status.value("master", "")) {
          log.info("virtualip master planned", {{"vip", v.name},
                                                {"from", haveStatus.value("master", "")},
                                                {"to", status.value("master", "")}});
        }
      }
    }
    return ok;
  }

  // Returns the generation each node got (for the retirements).
  std::map<std::string, uint64_t> publishPlans(const reconcile::DesiredState& desired, const reconcile::ClusterState& cs,
                                               const std::vector<reconcile::KeptVhid>& keep) {
    std::map<std::string, uint64_t> generations;
    if (!planServer) return generations;
    std::map<std::string, std::vector<v1::Vhost>> perNode;
    for (const auto& n : cs.nodes) perNode[n.name];
    std::map<core::Ipv4, const reconcile::VipDesired*> vipByAddr;
    for (const auto& [a, v] : desired.vips) vipByAddr[a] = &v;
    for (const auto& plan : desired.vhids) {
      std::set<std::string> services;
      for (const auto& a : plan.addresses) {
        if (auto it = vipByAddr.find(a); it != vipByAddr.end()) services.insert(it->second->services.begin(), it->second->services.end());
      }
      const bool claim = desired.claimVhids.count(plan.vhid) > 0;
      for (size_t i = 0; i < plan.nodes.size(); ++i) {
        const auto& slot = plan.nodes[i];
        v1::Vhost vh;
        vh.set_vhid(static_cast<uint32_t>(plan.vhid));
        vh.set_claim(claim && i == 0);  // the planned master only; backups never claim
        for (const auto& a : plan.addresses) vh.add_vips(a.toString());
        vh.set_advbase(static_cast<uint32_t>(options.config.timers.advbase));
        vh.set_advskew(static_cast<uint32_t>(slot.advskew + options.config.timers.advskewBase));
        vh.set_preempt(plan.failback.preempt());
        if (plan.failback.mode == core::FailbackMode::Delay) {
          vh.set_preempt_delay_seconds(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::seconds>(plan.failback.delay + std::chrono::milliseconds(999)).count()));
        }
        for (const auto& s : services) vh.add_services(s);
        perNode[slot.node].push_back(std::move(vh));
      }
    }
    for (const auto& k : keep) {
      auto node = perNode.find(k.node);
      if (node == perNode.end()) continue;  // the node left the cluster
      auto last = lastVhosts.find(k.node);
      if (last == lastVhosts.end()) continue;
      if (auto vh = last->second.find(k.vhid); vh != last->second.end()) node->second.push_back(vh->second);
    }
    lastVhosts.clear();
    for (const auto& [node, vhosts] : perNode) {
      auto& m = lastVhosts[node];
      for (const auto& vh : vhosts) m[static_cast<int>(vh.vhid())] = vh;
    }
    for (auto& [node, vhosts] : perNode) {
      if (auto s = rpc::fillVhidKeys(vhosts, options.carpSecret); !s) {
        log.error("cannot derive vhid keys", {{"node", node}, {"error", s.error().message}});
        continue;
      }
      bool draining = false;
      if (auto e = desired.nodeEligibility.find(node); e != desired.nodeEligibility.end()) {
        draining = e->second == core::NodeEligibility::Draining;
      }
      generations[node] = planServer->publish(node, std::move(vhosts), draining);
    }
    return generations;
  }

  // One step of the ordered retirements (before publishing): logs and counts what happened.
  reconcile::RetireStep stepRetirements(const reconcile::DesiredState& desired) {
    if (!planServer) return {};
    reconcile::RetireInputs in;
    in.previous = previousPlans;
    in.desired = desired.vhids;
    for (int vhid : observations.vhids()) {
      auto view = observations.vhidView(vhid);
      if (view && !view->actualMaster.empty()) in.actualMasters[vhid] = view->actualMaster;
    }
    for (const auto& a : planServer->agents()) in.agents[a.node] = reconcile::AgentAck{a.connected, a.ackedGeneration};
    in.now = clock.now();
    auto step = retirements.step(in);
    for (const auto& e : step.events) {
      retireSteps.inc({{"reason", std::string(reconcile::toString(e.reason))}});
      std::string waiting;
      for (const auto& n : e.waiting) waiting += (waiting.empty() ? "" : ",") + n;
      LogFields f{{"vhid", e.vhid}, {"reason", std::string(reconcile::toString(e.reason))}, {"node", e.master}};
      if (!waiting.empty()) f.emplace_back("waiting", waiting);
      if (e.reason == reconcile::RetireReason::BackupsTimeout || e.reason == reconcile::RetireReason::MasterTimeout) {
        log.warn("vhid retirement: agents did not ack in time", f);
      } else {
        log.info(e.retired ? "vhid retired" : "vhid retiring", f);
      }
    }
    return step;
  }

  bool syncOnce() {
    std::vector<kube::Service> svcViews;
    std::vector<kube::VirtualIP> vipViews;
    drainAgentEvents();
    auto cs = gather(svcViews, vipViews);
    for (int vhid : observations.vhids()) {
      auto view = observations.vhidView(vhid);
      if (!view) continue;
      for (const auto& n : view->nodes) {
        if (n.state == observe::CarpState::Backup || n.state == observe::CarpState::Master) {
          cs.runningVhids.insert(vhid);
          break;
        }
      }
    }
    cs.claimVhids = claimVhids;
    auto foreign = observations.foreignVhids();
    foreignVhidsSeen.insert(foreign.begin(), foreign.end());
    // Vhids someone else speaks on, and vhids being retired, are not planned.
    std::set<int> excluded = foreignVhidsSeen;
    if (planServer) {
      auto retiring = retirements.active();
      excluded.insert(retiring.begin(), retiring.end());
    }
    auto compute = [&] {
      if (excluded.empty()) return reconcile::computeDesiredState(rc, cs);
      reconcile::ReconcileConfig withExcluded = rc;
      withExcluded.planner.excludedVhids.insert(excluded.begin(), excluded.end());
      return reconcile::computeDesiredState(withExcluded, cs);
    };
    reconcile::DesiredState desired = compute();
    if (planServer) {
      // A vhid that left the plan in this pass must retire before it carries other addresses.
      auto reused = reconcile::reusedVhids(previousPlans, desired.vhids);
      if (!reused.empty()) {
        excluded.insert(reused.begin(), reused.end());
        desired = compute();
      }
    }
    claimVhids = desired.claimVhids;
    auto retireStep = stepRetirements(desired);
    // Agents first: the plan does not depend on the API writes below, and those may wait for
    // the client's rate limiter (--kube-api-qps) or a slow API server; an annotated Service
    // must not wait for its own status write before its VIP comes up (docs/benchmarks/annotate.md).
    auto generations = publishPlans(desired, cs, retireStep.keep);
    retirements.published(generations);
    for (const auto& e : retireStep.events) {
      if (e.retired) observations.forgetVhid(e.vhid);
    }
    if (planServer) previousPlans = desired.vhids;
    recordNotices(desired);
    if (auto next = retirements.nextDeadline()) {
      queue.addAfter(SyncKey, std::max<Duration>(*next - clock.now(), std::chrono::milliseconds(10)));
      cv.notify_all();
    }

    std::map<std::string, size_t> svcIndex;
    for (size_t i = 0; i < cs.services.size(); ++i) svcIndex[cs.services[i].key()] = i;
    bool ok = true;
    for (const auto& d : desired.services) {
      auto it = svcIndex.find(d.key);
      if (it == svcIndex.end()) continue;
      ok &= writeService(d, svcViews[it->second], cs.services[it->second]);
    }
    ok &= writeVips(desired, vipViews);
    for (const auto& e : desired.events) {
      kube::ObjectReference ref;
      ref.apiVersion = e.object.kind == "VirtualIP" ? "carplb.io/v1alpha1" : "v1";
      ref.kind = e.object.kind;
      ref.namespace_ = e.object.namespace_;
      ref.name = e.object.name;
      ref.uid = e.object.uid;
      recorder.record(ref, e.type, e.reason, e.message);
    }

    size_t placed = 0, unplaced = 0;
    std::map<std::string, size_t> masters;
    for (const auto& [a, v] : desired.vips) {
      if (v.nodes.empty()) {
        ++unplaced;
      } else {
        ++placed;
        ++masters[v.nodes.front().node];
      }
    }
    vipGauge.set({{"state", "planned"}}, static_cast<double>(placed));
    vipGauge.set({{"state", "unplaced"}}, static_cast<double>(unplaced));
    mastersGauge.clear();
    for (const auto& n : cs.nodes) mastersGauge.set({{"node", n.name}}, static_cast<double>(masters[n.name]));
    syncs.inc({{"result", ok ? "ok" : "error"}});

    Json state = {{"services", cs.services.size()}, {"nodes", cs.nodes.size()}, {"vips", Json::array()}};
    for (const auto& [a, v] : desired.vips) {
      Json nodesJ = Json::array();
      for (const auto& s : v.nodes) nodesJ.push_back({{"node", s.node}, {"advskew", s.advskew + rc2Base()}});
      state["vips"].push_back({{"address", v.name}, {"vhid", v.vhid}, {"nodes", nodesJ}, {"services", v.services}});
    }
    std::lock_guard<std::mutex> l(stateMu);
    lastState = std::move(state);
    return ok;
  }
};

Controller::Controller(kube::RestClient& client, rpc::PlanServer* planServer, ControllerOptions options,
                       const Clock& clock, Logger log, Registry& metrics) {
  auto rc = reconcile::makeReconcileConfig(options.config.core);
  if (!rc) {
    // main validates the config first; an invalid one here is a programming error.
    log.error("invalid controller config", {{"error", rc.error().message}});
    rc = reconcile::makeReconcileConfig(core::ControllerConfig{});
  }
  impl_ = std::make_unique<Impl>(client, planServer, std::move(options), clock, std::move(log), metrics, std::move(*rc));
  impl_->leading = &leading_;
  impl_->services = std::make_unique<kube::Informer>(client, impl_->informerOptions("services", "/api/v1/services"),
                                                     impl_->handler, impl_->log.child("informer"));
  impl_->nodes = std::make_unique<kube::Informer>(client, impl_->informerOptions("nodes", "/api/v1/nodes"),
                                                  impl_->handler, impl_->log.child("informer"));
  impl_->slices = std::make_unique<kube::Informer>(
      client, impl_->informerOptions("endpointslices", "/apis/discovery.k8s.io/v1/endpointslices"), impl_->handler,
      impl_->log.child("informer"));
  impl_->vips = std::make_unique<kube::Informer>(client, impl_->informerOptions("virtualips", VipApiPath),
                                                 impl_->handler, impl_->log.child("informer"));
}

Controller::~Controller() { stop(); }

void Controller::start() {
  impl_->recorder.start();
  impl_->services->start();
  impl_->nodes->start();
  impl_->slices->start();
  impl_->vips->start();
  impl_->worker = std::thread([this] { impl_->run(); });
}

void Controller::stop() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
  impl_->services->stop();
  impl_->nodes->stop();
  impl_->slices->stop();
  impl_->vips->stop();
  impl_->recorder.stop();
}

void Controller::setLeading(bool leading) {
  if (leading && !leading_.load()) {
    impl_->leadingSince = impl_->clock.now();
  }
  leading_.store(leading);
  poke();
}

bool Controller::synced() const { return impl_->allSynced(); }

void Controller::poke() { impl_->pokeQueue(); }

std::string Controller::stateJson() const {
  Json s;
  {
    std::lock_guard<std::mutex> l(impl_->stateMu);
    s = impl_->lastState;
  }
  s["leading"] = leading_.load();
  s["synced"] = synced();
  if (impl_->planServer) {
    Json agents = Json::array();
    for (const auto& a : impl_->planServer->agents()) {
      agents.push_back({{"node", a.node},
                        {"connected", a.connected},
                        {"peer", a.peer},
                        {"generation", a.publishedGeneration},
                        {"acked", a.ackedGeneration ? Json(*a.ackedGeneration) : Json(nullptr)}});
    }
    s["agents"] = agents;
  }
  return s.dump(2);
}

}  // namespace carplb::controller::app
