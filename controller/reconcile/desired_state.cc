#include "controller/reconcile/desired_state.h"

#include <algorithm>

#include "controller/core/eligibility.h"
#include "controller/core/reasons.h"

namespace carplb::controller::reconcile {

namespace reasons = core::reasons;
using core::Ipv4;

namespace {

bool hasFinalizer(const core::ServiceInput& svc) {
  return std::find(svc.finalizers.begin(), svc.finalizers.end(), reasons::LoadBalancerCleanupFinalizer) !=
         svc.finalizers.end();
}

bool hasOurCondition(const core::ServiceInput& svc) {
  return std::any_of(svc.conditions.begin(), svc.conditions.end(),
                     [](const core::Condition& c) { return c.type == reasons::ConditionVipAssigned; });
}

core::Condition makeCondition(const core::ServiceInput& svc, bool ok, std::string_view reason, std::string message) {
  core::Condition c;
  c.type = std::string(reasons::ConditionVipAssigned);
  c.status = ok ? "True" : "False";
  c.reason = std::string(reason);
  c.message = std::move(message);
  c.observedGeneration = svc.generation;
  return c;
}

ObjectRef serviceRef(const core::ServiceInput& svc) { return ObjectRef{"Service", svc.namespace_, svc.name, svc.uid}; }

std::string joinIps(const std::vector<Ipv4>& ips) {
  std::string out;
  for (const auto& ip : ips) {
    if (!out.empty()) out += ",";
    out += ip.toString();
  }
  return out;
}

// Addresses a Service holds today: from the VirtualIPs that list it, and its status.
std::vector<Ipv4> previousAddresses(const core::ServiceInput& svc, const std::map<std::string, std::vector<Ipv4>>& byVip) {
  std::set<Ipv4> out;
  if (auto it = byVip.find(svc.key()); it != byVip.end()) {
    out.insert(it->second.begin(), it->second.end());
  }
  for (const auto& text : svc.ingressIps) {
    if (auto ip = core::parseIpv4(text)) out.insert(*ip);
  }
  return {out.begin(), out.end()};
}

struct ManagedService {
  const core::ServiceInput* svc = nullptr;
  core::IntentResult parsed;
  std::vector<Ipv4> previous;
  core::ServiceIntent fallback;  // keeps `previous` when the request is bad or conflicts
};

}  // namespace

Result<ReconcileConfig> makeReconcileConfig(const core::ControllerConfig& config) {
  ReconcileConfig rc;
  rc.controller = config;
  auto planner = core::plannerConfigFrom(config);
  if (!planner) return planner.error();
  rc.planner = *planner;
  auto pools = core::parsePools(config.pools);
  if (!pools) return pools.error();
  rc.pools = std::move(*pools);
  return rc;
}

bool hasCondition(const core::ServiceInput& svc, const core::Condition& condition) {
  for (const auto& c : svc.conditions) {
    if (c.type == condition.type) {
      return c.status == condition.status && c.reason == condition.reason && c.message == condition.message &&
             c.observedGeneration == condition.observedGeneration;
    }
  }
  return false;
}

DesiredState computeDesiredState(const ReconcileConfig& config, const ClusterState& cluster) {
  DesiredState out;

  // ---- nodes ----------------------------------------------------------------------------
  std::vector<std::string> eligible;
  for (const auto& n : cluster.nodes) {
    auto e = core::nodeEligibility(n, config.controller);
    out.nodeEligibility[n.name] = e;
    if (e == core::NodeEligibility::Eligible && !cluster.nodesWithoutAgent.count(n.name)) {
      eligible.push_back(n.name);
    }
  }
  std::sort(eligible.begin(), eligible.end());
  std::set<std::string> eligibleSet(eligible.begin(), eligible.end());

  std::map<std::string, std::vector<std::string>> readyNodesByService;
  for (const auto& ep : cluster.endpoints) {
    auto& v = readyNodesByService[ep.serviceKey];
    v.insert(v.end(), ep.readyNodes.begin(), ep.readyNodes.end());
  }

  // ---- what the cluster says each Service and VIP had -----------------------------------
  std::map<std::string, std::vector<Ipv4>> addressesByService;
  std::map<Ipv4, const ObservedVip*> observedByAddress;
  for (const auto& v : cluster.vips) {
    observedByAddress[v.address] = &v;
    for (const auto& s : v.services) addressesByService[s].push_back(v.address);
  }

  // ---- which Services are ours ------------------------------------------------------------
  std::vector<ManagedService> managed;
  std::vector<const core::ServiceInput*> sorted;
  for (const auto& s : cluster.services) sorted.push_back(&s);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->key() < b->key(); });

  for (const auto* svc : sorted) {
    auto sel = core::selectService(*svc, config.controller);
    if (sel != core::ServiceSelection::Managed) {
      // The cleanup finalizer is shared by every LoadBalancer implementation: on a Service of
      // another class it proves nothing (it may be theirs), only our condition or VIPs do.
      bool wasOurs = hasOurCondition(*svc) || addressesByService.count(svc->key()) ||
                     (hasFinalizer(*svc) && sel != core::ServiceSelection::OtherClass);
      if (wasOurs) {
        ServiceDesired d;
        d.key = svc->key();
        d.namespace_ = svc->namespace_;
        d.name = svc->name;
        d.action = ServiceAction::Release;
        out.services.push_back(std::move(d));
        if (!svc->ingressIps.empty()) {
          std::string why = sel == core::ServiceSelection::Deleting ? "the Service is being deleted"
                                                                      : "the Service is no longer ours (" +
                                                                            std::string(core::toString(sel)) + ")";
          out.events.push_back({serviceRef(*svc), "Normal", std::string(reasons::VipReleased),
                                "Released " + [&] {
                                  std::string s;
                                  for (const auto& ip : svc->ingressIps) s += (s.empty() ? "" : ",") + ip;
                                  return s;
                                }() + ": " + why});
        }
      }
      continue;
    }
    ManagedService m;
    m.svc = svc;
    m.parsed = core::parseServiceIntent(*svc);
    m.previous = previousAddresses(*svc, addressesByService);
    m.fallback.key = svc->key();
    m.fallback.source = core::AddressSource::Annotation;
    m.fallback.requested = m.previous;
    if (m.parsed.ok()) {
      m.fallback.sharingKey = m.parsed.intent.sharingKey;
      m.fallback.ports = m.parsed.intent.ports;
      m.fallback.failback = m.parsed.intent.failback;
    } else {
      for (const auto& p : svc->ports) m.fallback.ports.push_back(p);
    }
    managed.push_back(std::move(m));
  }
  // Holders first, so an address in use is never handed to a newcomer; then Services that ask for
  // explicit addresses, so a pool allocation never takes an address somebody named; then the rest.
  auto rank = [](const ManagedService& m) {
    if (!m.previous.empty()) return 0;
    if (m.parsed.ok() && m.parsed.intent.source != core::AddressSource::Pool) return 1;
    return 2;
  };
  std::stable_sort(managed.begin(), managed.end(),
                   [&rank](const ManagedService& a, const ManagedService& b) { return rank(a) < rank(b); });

  // ---- addresses --------------------------------------------------------------------------
  core::AddressBook book(config.pools);
  struct Claimed {
    const ManagedService* m;
    std::vector<Ipv4> addresses;
    std::string pool;
    bool fresh;  // from a valid request (false: kept previous after an error)
  };
  std::vector<Claimed> claimed;
  // Reserve what every holder has today before anyone asks for something new, so a holder
  // whose request changes cannot take an address another holder still uses (whatever the
  // order). Each Service's own claim below first releases its reservation.
  for (const auto& m : managed) {
    if (m.previous.empty()) continue;
    core::AllocationRequest keep;
    keep.intent = &m.fallback;
    keep.count = static_cast<uint32_t>(m.previous.size());
    keep.previous = m.previous;
    (void)book.claim(keep);  // refused only when two holders list one address: first one wins
  }
  for (auto& m : managed) {
    const auto& svc = *m.svc;
    ServiceDesired d;
    d.key = svc.key();
    d.namespace_ = svc.namespace_;
    d.name = svc.name;
    d.action = ServiceAction::Manage;

    std::optional<std::string> failReason;
    std::string failMessage;
    if (!m.parsed.ok()) {
      failReason = std::string(m.parsed.errors.front().reason);
      failMessage = m.parsed.summary();
    } else {
      core::AllocationRequest req;
      req.intent = &m.parsed.intent;
      req.count = m.parsed.intent.allNodes ? static_cast<uint32_t>(std::max<size_t>(1, eligible.size()))
                                           : m.parsed.intent.count;
      req.previous = m.previous;
      auto alloc = book.claim(req);
      if (alloc) {
        claimed.push_back({&m, alloc->addresses, alloc->pool, true});
        out.services.push_back(std::move(d));
        continue;
      }
      const auto& f = book.lastFailure();
      failReason = f ? std::string(f->reason) : std::string(reasons::AddressConflict);
      failMessage = alloc.error().message;
    }
    // Bad input or refused: keep what the Service had, report why.
    if (!m.previous.empty()) {
      core::AllocationRequest keep;
      keep.intent = &m.fallback;
      keep.count = static_cast<uint32_t>(m.previous.size());
      keep.previous = m.previous;
      if (auto kept = book.claim(keep)) {
        claimed.push_back({&m, kept->addresses, kept->pool, false});
      }
    }
    d.ingress = std::nullopt;
    d.condition = makeCondition(svc, false, *failReason, failMessage);
    if (!hasCondition(svc, d.condition)) {
      out.events.push_back({serviceRef(svc), "Warning", *failReason, failMessage});
    }
    out.services.push_back(std::move(d));
  }

  // ---- VIP specs (one per address; shared addresses merge their Services) -----------------
  std::map<Ipv4, VipDesired> vips;
  std::map<Ipv4, core::VipSpec> specs;
  for (const auto& c : claimed) {
    const auto& svc = *c.m->svc;
    const core::ServiceIntent& intent = c.fresh ? c.m->parsed.intent : c.m->fallback;
    for (const auto& a : c.addresses) {
      auto& v = vips[a];
      v.address = a;
      v.name = a.toString();
      v.services.push_back(svc.key());
      if (v.pool.empty()) v.pool = c.pool;
      auto [it, inserted] = specs.try_emplace(a);
      auto& spec = it->second;
      if (inserted) {
        spec.address = a;
        spec.spreadKey = intent.sharingKey ? "shared:" + *intent.sharingKey : svc.key();
        spec.failback = intent.failback;
        v.failback = intent.failback;
        if (auto o = observedByAddress.find(a); o != observedByAddress.end()) {
          if (o->second->vhid > 0) spec.previousVhid = o->second->vhid;
          spec.previousOrder = o->second->order;
        }
      }
      if (intent.localTraffic) {
        std::vector<std::string> ready;
        if (auto r = readyNodesByService.find(svc.key()); r != readyNodesByService.end()) ready = r->second;
        std::sort(ready.begin(), ready.end());
        ready.erase(std::unique(ready.begin(), ready.end()), ready.end());
        if (spec.allowedNodes) {
          std::vector<std::string> both;
          std::set_intersection(spec.allowedNodes->begin(), spec.allowedNodes->end(), ready.begin(), ready.end(),
                                std::back_inserter(both));
          spec.allowedNodes = both;
        } else {
          spec.allowedNodes = ready;
        }
      }
    }
  }
  std::vector<core::VipSpec> specList;
  for (auto& [a, s] : specs) specList.push_back(s);

  // ---- plan ------------------------------------------------------------------------------
  auto plan = core::computePlan(config.planner, eligible, std::move(specList));
  for (auto& [a, v] : vips) {
    std::sort(v.services.begin(), v.services.end());
    if (auto p = plan.placements.find(a); p != plan.placements.end()) {
      v.vhid = p->second.vhid;
      v.nodes = p->second.nodes;
    }
    if (auto u = plan.unplaced.find(a); u != plan.unplaced.end()) {
      v.unplaced = u->second;
    }
    // A planned master change is news for the Services of the VIP.
    auto o = observedByAddress.find(a);
    if (o != observedByAddress.end() && !o->second->order.empty() && !v.nodes.empty() &&
        o->second->order.front() != v.nodes.front().node) {
      const std::string& from = o->second->order.front();
      std::string why(reasons::MoveRebalanced);
      if (auto e = out.nodeEligibility.find(from); e == out.nodeEligibility.end()) {
        why = std::string(reasons::MoveNodeGone);
      } else if (e->second != core::NodeEligibility::Eligible) {
        why = std::string(core::moveReason(e->second));
      } else if (!eligibleSet.count(from)) {
        why = "AgentGone";
      }
      for (const auto& c : claimed) {
        if (std::find(c.addresses.begin(), c.addresses.end(), a) == c.addresses.end()) continue;
        out.events.push_back({serviceRef(*c.m->svc), "Normal", std::string(reasons::VipMoved),
                              "VIP " + a.toString() + " master " + from + " -> " + v.nodes.front().node + " (" + why + ")"});
      }
    }
  }
  out.vhids = plan.vhids;

  // ---- claims: vhids nobody runs yet that this controller just gave to their addresses ------
  for (const auto& p : out.vhids) {
    if (p.nodes.empty() || cluster.runningVhids.count(p.vhid)) continue;
    const bool carried = cluster.claimVhids.count(p.vhid) > 0;
    const bool fresh = std::none_of(p.addresses.begin(), p.addresses.end(), [&](const Ipv4& a) {
      auto o = observedByAddress.find(a);
      return o != observedByAddress.end() && o->second->vhid == p.vhid;
    });
    if (carried || fresh) out.claimVhids.insert(p.vhid);
  }

  // ---- Service status ---------------------------------------------------------------------
  for (auto& d : out.services) {
    if (d.action != ServiceAction::Manage) continue;
    auto c = std::find_if(claimed.begin(), claimed.end(), [&](const Claimed& x) { return x.m->svc->key() == d.key; });
    if (c == claimed.end() || !c->fresh) continue;  // condition already set above
    const auto& svc = *c->m->svc;
    std::vector<Ipv4> placed;
    std::optional<core::Unplaced> why;
    std::string masters;
    for (const auto& a : c->addresses) {
      const auto& v = vips[a];
      if (!v.nodes.empty()) {
        placed.push_back(a);
        masters += (masters.empty() ? "" : ", ") + a.toString() + " on " + v.nodes.front().node;
      } else if (v.unplaced) {
        why = v.unplaced;
      }
    }
    std::vector<std::string> ingress;
    for (const auto& a : placed) ingress.push_back(a.toString());
    d.ingress = ingress;
    if (placed.size() == c->addresses.size()) {
      d.condition = makeCondition(svc, true, reasons::VipAssigned, "VIP " + masters);
    } else {
      std::string_view reason = why == core::Unplaced::VhidsExhausted ? reasons::VhidsExhausted : reasons::NoEligibleNodes;
      std::string msg = why == core::Unplaced::VhidsExhausted
                            ? "no free vhid and no compatible vhid group for " + joinIps(c->addresses)
                            : "no eligible node (Ready, schedulable, not draining, agent connected" +
                                  std::string(c->m->parsed.intent.localTraffic ? ", with a ready local endpoint" : "") +
                                  ") can hold " + joinIps(c->addresses);
      d.condition = makeCondition(svc, false, reason, msg);
    }
    std::vector<std::string> observed = svc.ingressIps;
    std::sort(observed.begin(), observed.end());
    if (observed != ingress && !ingress.empty()) {
      out.events.push_back({serviceRef(svc), "Normal", std::string(reasons::VipAssigned), "Assigned " + d.condition.message});
    }
    // Partly placed: the Normal Event above and this Warning both fire (the Warning only once).
    if (d.condition.status == "False" && !hasCondition(svc, d.condition)) {
      out.events.push_back({serviceRef(svc), "Warning", d.condition.reason, d.condition.message});
    }
  }
  out.vips = std::move(vips);
  return out;
}

}  // namespace carplb::controller::reconcile
