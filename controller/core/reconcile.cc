#include "controller/core/reconcile.h"

#include <algorithm>
#include <ctime>
#include <set>

#include "controller/core/annotations.h"
#include "controller/core/eligibility.h"
#include "controller/core/pools.h"
#include "controller/core/reasons.h"

namespace carplb::controller::core {
namespace {

ObjectRef serviceRef(const ServiceInput& s) { return ObjectRef{"Service", s.namespace_, s.name, s.uid}; }
ObjectRef vipRef(const std::string& name) { return ObjectRef{"VirtualIP", "", name, ""}; }

bool hasFinalizer(const ServiceInput& s) {
  return std::find(s.finalizers.begin(), s.finalizers.end(), reasons::LoadBalancerCleanupFinalizer) !=
         s.finalizers.end();
}

const Condition* findCondition(const std::vector<Condition>& cs, std::string_view type) {
  for (const auto& c : cs) {
    if (c.type == type) {
      return &c;
    }
  }
  return nullptr;
}

bool sameCondition(const Condition* a, const Condition& b) {
  return a != nullptr && a->status == b.status && a->reason == b.reason && a->message == b.message;
}

// `desired` with lastTransitionTime kept from the observed condition when the status did not change.
Condition withTransitionTime(Condition desired, const Condition* observed, WallTime now) {
  desired.lastTransitionTime =
      (observed != nullptr && observed->status == desired.status && observed->lastTransitionTime)
          ? observed->lastTransitionTime
          : std::optional<WallTime>(now);
  return desired;
}

std::vector<Condition> replaceCondition(std::vector<Condition> cs, const Condition& c) {
  std::erase_if(cs, [&](const Condition& x) { return x.type == c.type; });
  cs.push_back(c);
  return cs;
}

std::string joinNames(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += (out.empty() ? "" : ",") + s;
  }
  return out;
}

// Everything one managed Service needs across the passes.
struct ServiceWork {
  const ServiceInput* svc = nullptr;
  IntentResult intent;
  std::vector<Ipv4> previous;  // addresses the cluster says it holds (observed VirtualIPs)
  std::optional<Allocation> allocation;
  std::string failReason;
  std::string failMessage;
};

class Reconciler {
public:
  Reconciler(const ReconcileInput& in, std::vector<Pool> pools, PlannerConfig pc)
      : in_(in), book_(std::move(pools)), plannerConfig_(std::move(pc)) {}

  ReconcileOutput run() {
    collectNodes();
    collectObserved();
    selectServices();
    allocate();
    plan();
    writeVirtualIps();
    writeServices();
    ReconcileOutput out;
    for (auto* list : {&finalizerAdds_, &vipWrites_, &statusWrites_, &finalizerRemoves_, &events_}) {
      for (auto& w : *list) {
        out.writes.push_back(std::move(w));
      }
    }
    out.plan = std::move(plan_);
    out.services = std::move(outcomes_);
    return out;
  }

private:
  void collectNodes() {
    for (const auto& n : in_.nodes) {
      auto e = nodeEligibility(n, in_.config);
      nodeState_[n.name] = e;
      if (e == NodeEligibility::Eligible && !n.name.empty()) {
        eligible_.push_back(n.name);
      }
    }
    for (const auto& e : in_.endpoints) {
      endpoints_[e.serviceKey].insert(e.readyNodes.begin(), e.readyNodes.end());
    }
  }

  void collectObserved() {
    for (const auto& v : in_.virtualIps) {
      auto ip = parseIpv4(v.spec.address);
      // Ours are named after their address; anything else (garbage, duplicates) goes away.
      if (!ip || v.name != virtualIpName(v.spec.address) || observed_.count(*ip)) {
        vipWrites_.push_back(VirtualIpWrite{VirtualIpWrite::Op::Delete, v.name, v.resourceVersion, v.spec, v.status});
        continue;
      }
      observed_[*ip] = &v;
      for (const auto& s : v.spec.services) {
        heldBy_[s].push_back(*ip);
      }
    }
  }

  void selectServices() {
    std::vector<const ServiceInput*> sorted;
    for (const auto& s : in_.services) {
      sorted.push_back(&s);
    }
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
    for (const ServiceInput* s : sorted) {
      if (s->name.empty() || seen_.count(s->key())) {
        continue;  // tolerate junk and duplicates from the cache
      }
      seen_.insert(s->key());
      if (selectService(*s, in_.config) != ServiceSelection::Managed) {
        release(*s);
        continue;
      }
      ServiceWork w;
      w.svc = s;
      w.intent = parseServiceIntent(*s);
      if (auto it = heldBy_.find(s->key()); it != heldBy_.end()) {
        w.previous = it->second;
      }
      for (const auto& ip : s->ingressIps) {  // what we wrote last time, if no VirtualIP says so
        auto a = parseIpv4(ip);
        if (a && std::find(w.previous.begin(), w.previous.end(), *a) == w.previous.end()) {
          w.previous.push_back(*a);
        }
      }
      workIndex_[s->key()] = work_.size();
      work_.push_back(std::move(w));
    }
  }

  uint32_t allNodesCount(const ServiceWork& w) const {
    if (!w.intent.intent.localTraffic) {
      return static_cast<uint32_t>(std::max<size_t>(1, eligible_.size()));
    }
    size_t n = 0;
    if (auto it = endpoints_.find(w.svc->key()); it != endpoints_.end()) {
      for (const auto& node : it->second) {
        n += nodeState_.count(node) && nodeState_.at(node) == NodeEligibility::Eligible ? 1 : 0;
      }
    }
    return static_cast<uint32_t>(std::clamp<size_t>(n, 1, MaxAddressesPerService));
  }

  // Keep what the Service holds today (bad input changes nothing).
  void keepPrevious(ServiceWork& w) {
    if (w.previous.empty()) {
      return;
    }
    ServiceIntent keep = w.intent.intent;
    keep.key = w.svc->key();
    keep.source = AddressSource::Annotation;
    keep.requested = w.previous;
    keep.pool.reset();
    if (auto got = book_.claim({&keep, static_cast<uint32_t>(w.previous.size()), w.previous})) {
      w.allocation = std::move(*got);
    }
  }

  void allocate() {
    // Services that hold addresses first, so a newcomer cannot take them (work_ stays sorted).
    std::vector<ServiceWork*> order;
    for (auto& w : work_) {
      order.push_back(&w);
    }
    std::stable_partition(order.begin(), order.end(), [](const ServiceWork* w) { return !w->previous.empty(); });
    for (ServiceWork* wp : order) {
      ServiceWork& w = *wp;
      if (!w.intent.ok()) {
        keepPrevious(w);
        continue;
      }
      const auto& intent = w.intent.intent;
      const uint32_t count = intent.allNodes ? allNodesCount(w) : intent.count;
      auto got = book_.claim({&intent, count, w.previous});
      if (got) {
        w.allocation = std::move(*got);
        continue;
      }
      w.failReason = std::string(book_.lastFailure() ? book_.lastFailure()->reason : reasons::AddressConflict);
      w.failMessage = got.error().message;
      keepPrevious(w);
    }
  }

  VipSpec specFor(Ipv4 address, const std::vector<AddressHolder>& holders) {
    VipSpec spec;
    spec.address = address;
    std::vector<std::string> keys;
    for (const auto& h : holders) {
      keys.push_back(h.serviceKey);
    }
    std::sort(keys.begin(), keys.end());
    spec.spreadKey = keys.front();
    std::optional<std::set<std::string>> allowed;
    for (const auto& key : keys) {
      const ServiceWork* w = workFor(key);
      if (w == nullptr) {
        continue;
      }
      if (key == keys.front()) {
        spec.failback = w->intent.intent.failback;
      }
      if (w->intent.intent.localTraffic) {  // Local: only nodes with a ready endpoint (of every sharer)
        std::set<std::string> eps;
        if (auto it = endpoints_.find(key); it != endpoints_.end()) {
          eps = it->second;
        }
        if (allowed) {
          std::erase_if(*allowed, [&](const std::string& n) { return !eps.count(n); });
        } else {
          allowed = std::move(eps);
        }
      }
    }
    if (allowed) {
      spec.allowedNodes = std::vector<std::string>(allowed->begin(), allowed->end());
    }
    if (auto it = observed_.find(address); it != observed_.end() && it->second->spec.vhid > 0) {
      spec.previousVhid = it->second->spec.vhid;
      if (!it->second->status.master.empty()) {
        spec.previousOrder.push_back(it->second->status.master);
        for (const auto& b : it->second->status.backups) {
          spec.previousOrder.push_back(b.node);
        }
      }
    }
    return spec;
  }

  const ServiceWork* workFor(const std::string& key) const {
    auto it = workIndex_.find(key);
    return it == workIndex_.end() ? nullptr : &work_[it->second];
  }

  void plan() {
    std::vector<VipSpec> specs;
    for (const auto& w : work_) {
      if (!w.allocation) {
        continue;
      }
      for (Ipv4 a : w.allocation->addresses) {
        if (specs_.count(a)) {
          continue;
        }
        const auto* holders = book_.holders(a);
        specs_[a] = specFor(a, *holders);
        pools_[a] = w.allocation->pool;
        specs.push_back(specs_[a]);
      }
    }
    plan_ = computePlan(plannerConfig_, eligible_, specs);
  }

  std::string moveReasonFor(const std::string& node, const VipSpec& spec) const {
    auto it = nodeState_.find(node);
    if (it == nodeState_.end()) {
      return std::string(reasons::MoveNodeGone);
    }
    if (it->second != NodeEligibility::Eligible) {
      return std::string(moveReason(it->second));
    }
    if (spec.allowedNodes &&
        std::find(spec.allowedNodes->begin(), spec.allowedNodes->end(), node) == spec.allowedNodes->end()) {
      return std::string(reasons::MoveNoLocalEndpoints);
    }
    return std::string(reasons::MoveRebalanced);
  }

  void writeVirtualIps();
  void writeVirtualIp(Ipv4 address, const VipSpec& spec);
  void writeServices();
  void writeService(const ServiceWork& w);
  void release(const ServiceInput& s);
  Condition serviceCondition(const ServiceWork& w, ServiceOutcome& outcome) const;
  void event(ObjectRef ref, std::string_view type, std::string_view reason, std::string message) {
    events_.push_back(EventWrite{std::move(ref), std::string(type), std::string(reason), std::move(message)});
  }

  const ReconcileInput& in_;
  AddressBook book_;
  PlannerConfig plannerConfig_;
  std::map<std::string, NodeEligibility> nodeState_;
  std::vector<std::string> eligible_;
  std::map<std::string, std::set<std::string>> endpoints_;     // service key -> nodes with ready endpoints
  std::map<Ipv4, const VirtualIpObserved*> observed_;          // address -> observed VirtualIP
  std::map<std::string, std::vector<Ipv4>> heldBy_;            // service key -> addresses (observed)
  std::set<std::string> seen_;
  std::vector<ServiceWork> work_;                              // managed Services, sorted by key
  std::map<std::string, size_t> workIndex_;                    // service key -> index in work_
  std::map<Ipv4, VipSpec> specs_;                              // desired VIPs
  std::map<Ipv4, std::string> pools_;                          // desired VIP -> pool
  PlanResult plan_;
  std::map<std::string, ServiceOutcome> outcomes_;
  std::vector<Write> finalizerAdds_, vipWrites_, statusWrites_, finalizerRemoves_, events_;
};

void Reconciler::writeVirtualIps() {
  for (const auto& [address, spec] : specs_) {
    writeVirtualIp(address, spec);
  }
  for (const auto& [address, obs] : observed_) {
    const bool desired = specs_.count(address) &&
                         (plan_.placements.count(address) || plan_.unplacedVhids.count(address));
    if (!desired) {
      vipWrites_.push_back(VirtualIpWrite{VirtualIpWrite::Op::Delete, obs->name, obs->resourceVersion, obs->spec,
                                          obs->status});
    }
  }
}

void Reconciler::writeVirtualIp(Ipv4 address, const VipSpec& spec) {
  const std::string name = virtualIpName(address.toString());
  const auto placed = plan_.placements.find(address);
  int vhid = 0;
  if (placed != plan_.placements.end()) {
    vhid = placed->second.vhid;
  } else if (auto u = plan_.unplacedVhids.find(address); u != plan_.unplacedVhids.end()) {
    vhid = u->second;
  } else {
    return;  // no vhid at all (VhidsExhausted): nothing valid to write; the Service says why
  }
  const auto obsIt = observed_.find(address);
  const VirtualIpObserved* obs = obsIt == observed_.end() ? nullptr : obsIt->second;

  VirtualIpWrite w;
  w.op = obs == nullptr ? VirtualIpWrite::Op::Create : VirtualIpWrite::Op::Update;
  w.name = name;
  w.resourceVersion = obs == nullptr ? "" : obs->resourceVersion;
  w.spec = VirtualIpSpec{address.toString(), vhid, pools_[address], {}};
  for (const auto& h : *book_.holders(address)) {
    w.spec.services.push_back(h.serviceKey);
  }
  std::sort(w.spec.services.begin(), w.spec.services.end());
  w.status.serviceSummary = joinNames(w.spec.services);
  Condition planned{std::string(reasons::ConditionPlanned), "False", std::string(reasons::NoEligibleNodes),
                    "no eligible node can hold " + address.toString(), 0, std::nullopt};
  if (placed != plan_.placements.end()) {
    const auto& nodes = placed->second.nodes;
    w.status.master = nodes.front().node;
    w.status.masterAdvskew = nodes.front().advskew;
    w.status.backups.assign(nodes.begin() + 1, nodes.end());
    std::vector<std::string> parts;
    for (const auto& b : w.status.backups) {
      parts.push_back(b.node + "(" + std::to_string(b.advskew) + ")");
    }
    w.status.backupSummary = joinNames(parts);
    planned = Condition{std::string(reasons::ConditionPlanned), "True", std::string(reasons::Planned),
                        "master " + w.status.master + ", " + std::to_string(w.status.backups.size()) +
                            " backup(s), vhid " + std::to_string(vhid) + " carries " +
                            std::to_string(placed->second.groupSize) + " address(es), failback " +
                            toString(placed->second.failback),
                        0, std::nullopt};
  }
  const Condition* obsPlanned = obs ? findCondition(obs->status.conditions, reasons::ConditionPlanned) : nullptr;
  w.status.conditions = replaceCondition(obs ? obs->status.conditions : std::vector<Condition>{},
                                         withTransitionTime(planned, obsPlanned, in_.now));
  w.status.lastFailover = obs ? obs->status.lastFailover : std::nullopt;
  if (obs != nullptr && !obs->status.master.empty() && !w.status.master.empty() &&
      obs->status.master != w.status.master) {
    const std::string why = moveReasonFor(obs->status.master, spec);
    w.status.lastFailover = LastFailover{in_.now, obs->status.master, w.status.master, why};
    const std::string msg = address.toString() + " (vhid " + std::to_string(vhid) + ") moved from " +
                            obs->status.master + " to " + w.status.master + " (" + why + ")";
    event(vipRef(name), "Normal", reasons::VipMoved, msg);
    for (const auto& key : w.spec.services) {
      if (const ServiceWork* sw = workFor(key)) {
        event(serviceRef(*sw->svc), "Normal", reasons::VipMoved, msg);
      }
    }
  }
  if (obs != nullptr && obs->spec == w.spec && obs->status == w.status) {
    return;
  }
  vipWrites_.push_back(std::move(w));
}

Condition Reconciler::serviceCondition(const ServiceWork& w, ServiceOutcome& outcome) const {
  Condition c{std::string(reasons::ConditionVipAssigned), "False", "", "", w.svc->generation, std::nullopt};
  if (!w.intent.ok()) {
    c.reason = std::string(w.intent.errors.front().reason);
    c.message = w.intent.summary();
  } else if (!w.failReason.empty()) {
    c.reason = w.failReason;
    c.message = w.failMessage;
  } else if (!w.allocation) {
    c.reason = std::string(reasons::NoPool);
    c.message = "no address could be allocated";
  } else {
    std::string placedText;
    for (Ipv4 a : w.allocation->addresses) {
      auto p = plan_.placements.find(a);
      if (p == plan_.placements.end()) {
        auto u = plan_.unplaced.find(a);
        const Unplaced why = u == plan_.unplaced.end() ? Unplaced::NoEligibleNodes : u->second;
        c.reason = std::string(toString(why));
        c.message = a.toString() + ": " +
                    (why == Unplaced::NoEligibleNodes
                         ? "no eligible node can hold it (Ready, schedulable, not draining, selected" +
                               std::string(w.intent.intent.localTraffic ? ", with a ready endpoint)" : ")")
                         : "no free vhid and no compatible vhid group");
        outcome.reason = c.reason;
        outcome.message = c.message;
        return c;
      }
      placedText += (placedText.empty() ? "" : ", ") + a.toString() + " on " + p->second.master() + " (vhid " +
                    std::to_string(p->second.vhid) + ")";
    }
    c.status = "True";
    c.reason = std::string(reasons::VipAssigned);
    c.message = placedText;
    outcome.assigned = true;
  }
  outcome.reason = c.reason;
  outcome.message = c.message;
  return c;
}

void Reconciler::writeServices() {
  for (const auto& w : work_) {
    writeService(w);
  }
}

void Reconciler::writeService(const ServiceWork& w) {
  const ServiceInput& s = *w.svc;
  const ObjectRef ref = serviceRef(s);
  ServiceOutcome& outcome = outcomes_[s.key()];
  if (!hasFinalizer(s)) {
    finalizerAdds_.push_back(FinalizerWrite{ref, true});
  }
  std::vector<std::string> ingress;
  if (w.allocation) {
    for (Ipv4 a : w.allocation->addresses) {
      ingress.push_back(a.toString());
    }
  }
  outcome.addresses = ingress;
  const Condition desired = serviceCondition(w, outcome);
  const Condition* observed = findCondition(s.conditions, reasons::ConditionVipAssigned);
  std::vector<std::string> observedIngress = s.ingressIps;
  std::sort(observedIngress.begin(), observedIngress.end());
  std::vector<std::string> sortedIngress = ingress;
  std::sort(sortedIngress.begin(), sortedIngress.end());
  const bool conditionChanged = !sameCondition(observed, desired) ||
                                (observed != nullptr && observed->observedGeneration != desired.observedGeneration);
  if (!conditionChanged && observedIngress == sortedIngress) {
    return;
  }
  statusWrites_.push_back(ServiceStatusWrite{
      ref, ingress, replaceCondition(s.conditions, withTransitionTime(desired, observed, in_.now))});
  if (sameCondition(observed, desired)) {
    return;  // only the ingress list or generation changed: no new Event
  }
  if (desired.status == "True") {
    event(ref, "Normal", reasons::VipAssigned, "assigned " + desired.message);
  } else if (!w.intent.ok()) {
    for (const auto& e : w.intent.errors) {
      event(ref, "Warning", e.reason, e.message);
    }
  } else {
    event(ref, "Warning", desired.reason, desired.message);
  }
}

// A Service that is not (or no longer) ours: release its VIPs (they are not desired, so their
// VirtualIPs are updated or deleted), clear its status, then drop the finalizer.
void Reconciler::release(const ServiceInput& s) {
  const bool held = heldBy_.count(s.key()) != 0;
  if (!hasFinalizer(s) && !held) {
    return;
  }
  const ObjectRef ref = serviceRef(s);
  const Condition* ours = findCondition(s.conditions, reasons::ConditionVipAssigned);
  if (held || ours != nullptr) {
    std::vector<Condition> rest = s.conditions;
    std::erase_if(rest, [](const Condition& c) { return c.type == reasons::ConditionVipAssigned; });
    statusWrites_.push_back(ServiceStatusWrite{ref, {}, std::move(rest)});
    std::string what;
    if (held) {
      for (Ipv4 a : heldBy_.at(s.key())) {
        what += (what.empty() ? "" : ", ") + a.toString();
      }
    }
    event(ref, "Normal", reasons::VipReleased,
          "released " + (what.empty() ? std::string("its addresses") : what) + " (" +
              std::string(toString(selectService(s, in_.config))) + ")");
  }
  if (hasFinalizer(s)) {
    finalizerRemoves_.push_back(FinalizerWrite{ref, false});
  }
}

}  // namespace

std::string virtualIpName(std::string_view address) {
  std::string out(address);
  std::replace(out.begin(), out.end(), '.', '-');
  std::replace(out.begin(), out.end(), ':', '-');
  return out;
}

Result<ReconcileOutput> reconcile(const ReconcileInput& input) {
  auto pools = parsePools(input.config.pools);
  if (!pools) {
    return pools.error();
  }
  auto pc = plannerConfigFrom(input.config);
  if (!pc) {
    return pc.error();
  }
  return Reconciler(input, std::move(*pools), std::move(*pc)).run();
}

std::string formatRfc3339(WallTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

nlohmann::json conditionsJson(const std::vector<Condition>& cs) {
  auto arr = nlohmann::json::array();
  for (const auto& c : cs) {
    nlohmann::json j{{"type", c.type}, {"status", c.status}};
    if (!c.reason.empty()) {
      j["reason"] = c.reason;
    }
    j["message"] = c.message;
    if (c.observedGeneration != 0) {
      j["observedGeneration"] = c.observedGeneration;
    }
    if (c.lastTransitionTime) {
      j["lastTransitionTime"] = formatRfc3339(*c.lastTransitionTime);
    }
    arr.push_back(std::move(j));
  }
  return arr;
}

}  // namespace

nlohmann::json virtualIpObject(const VirtualIpWrite& w) {
  nlohmann::json meta{{"name", w.name}};
  if (!w.resourceVersion.empty()) {
    meta["resourceVersion"] = w.resourceVersion;
  }
  nlohmann::json spec{{"address", w.spec.address}, {"vhid", w.spec.vhid}, {"services", w.spec.services}};
  if (!w.spec.pool.empty()) {
    spec["pool"] = w.spec.pool;
  }
  return nlohmann::json{{"apiVersion", "carplb.io/v1alpha1"}, {"kind", "VirtualIP"}, {"metadata", meta}, {"spec", spec}};
}

nlohmann::json virtualIpStatusPatch(const VirtualIpWrite& w) {
  auto backups = nlohmann::json::array();
  for (const auto& b : w.status.backups) {
    backups.push_back({{"node", b.node}, {"advskew", b.advskew}});
  }
  nlohmann::json status{{"master", w.status.master},
                        {"masterAdvskew", w.status.masterAdvskew},
                        {"backups", backups},
                        {"backupSummary", w.status.backupSummary},
                        {"serviceSummary", w.status.serviceSummary},
                        {"conditions", conditionsJson(w.status.conditions)}};
  if (w.status.lastFailover) {
    const auto& f = *w.status.lastFailover;
    status["lastFailover"] = {{"time", formatRfc3339(f.time)}, {"from", f.from}, {"to", f.to}, {"reason", f.reason}};
  }
  return nlohmann::json{{"status", status}};
}

nlohmann::json serviceStatusPatch(const ServiceStatusWrite& w) {
  nlohmann::json lb = nlohmann::json::object();
  if (w.ingress.empty()) {
    lb["ingress"] = nullptr;  // merge patch: remove
  } else {
    auto arr = nlohmann::json::array();
    for (const auto& ip : w.ingress) {
      arr.push_back({{"ip", ip}, {"ipMode", "VIP"}});
    }
    lb["ingress"] = arr;
  }
  return nlohmann::json{{"status", {{"loadBalancer", lb}, {"conditions", conditionsJson(w.conditions)}}}};
}

}  // namespace carplb::controller::core
