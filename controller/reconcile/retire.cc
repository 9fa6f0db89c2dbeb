#include "controller/reconcile/retire.h"

#include <algorithm>

namespace carplb::controller::reconcile {

std::string_view toString(RetireStage s) {
  switch (s) {
    case RetireStage::Backups: return "Backups";
    case RetireStage::Master: return "Master";
  }
  return "Unknown";
}

std::string_view toString(RetireReason r) {
  switch (r) {
    case RetireReason::Started: return "Started";
    case RetireReason::NoMaster: return "NoMaster";
    case RetireReason::BackupsAcked: return "BackupsAcked";
    case RetireReason::BackupsTimeout: return "BackupsTimeout";
    case RetireReason::MasterAcked: return "MasterAcked";
    case RetireReason::MasterTimeout: return "MasterTimeout";
    case RetireReason::AddressReused: return "AddressReused";
    case RetireReason::Moved: return "Moved";
    case RetireReason::MasterGone: return "MasterGone";
  }
  return "Unknown";
}

namespace {

bool connected(const RetireInputs& in, const std::string& node) {
  auto it = in.agents.find(node);
  return it != in.agents.end() && it->second.connected;
}

}  // namespace

VhidRetirements::VhidRetirements(RetireConfig config) : config_(config) {}

bool VhidRetirements::stageAcked(const Entry& e, const RetireInputs& in, std::vector<std::string>* waiting) {
  bool all = true;
  for (const auto& node : e.waitFor) {
    auto it = in.agents.find(node);
    if (it == in.agents.end() || !it->second.connected) continue;  // gone: nothing to wait for
    auto gen = e.waitGen.find(node);
    const bool ok = e.generationsKnown && gen != e.waitGen.end() && it->second.acked && *it->second.acked >= gen->second;
    if (!ok) {
      all = false;
      if (waiting) waiting->push_back(node);
    }
  }
  return all;
}

void VhidRetirements::enterMaster(int vhid, Entry& e, const RetireInputs& in, RetireStep& out, RetireReason why) {
  RetireEvent ev{vhid, why, e.master, {}, false};
  if (why == RetireReason::BackupsTimeout) stageAcked(e, in, &ev.waiting);
  out.events.push_back(std::move(ev));
  e.stage = RetireStage::Master;
  e.stageSince = in.now;
  e.waitFor.clear();
  e.waitGen.clear();
  e.generationsKnown = false;
  if (connected(in, e.master)) {
    e.waitFor.insert(e.master);
  } else {
    out.events.push_back(RetireEvent{vhid, RetireReason::MasterGone, e.master, {}, true});
  }
}

RetireStep VhidRetirements::step(const RetireInputs& in) {
  RetireStep out;
  std::set<int> desiredVhids;
  std::set<core::Ipv4> desiredAddrs;
  for (const auto& p : in.desired) {
    desiredVhids.insert(p.vhid);
    desiredAddrs.insert(p.addresses.begin(), p.addresses.end());
  }
  auto addressPlanned = [&](const core::VhidPlan& p) {
    return std::any_of(p.addresses.begin(), p.addresses.end(), [&](const core::Ipv4& a) { return desiredAddrs.count(a) > 0; });
  };

  // Retirements under way whose vhid or address is planned again end now.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (desiredVhids.count(it->first) || addressPlanned(it->second.plan)) {
      out.events.push_back(RetireEvent{it->first, RetireReason::AddressReused, it->second.master, {}, true});
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }

  // Vhids that left the plan in this pass.
  for (const auto& p : in.previous) {
    if (desiredVhids.count(p.vhid) || entries_.count(p.vhid)) continue;
    if (p.nodes.empty()) {
      out.events.push_back(RetireEvent{p.vhid, RetireReason::NoMaster, "", {}, true});
      continue;
    }
    if (addressPlanned(p)) {
      out.events.push_back(RetireEvent{p.vhid, RetireReason::Moved, p.nodes.front().node, {}, true});
      continue;
    }
    Entry e;
    e.plan = p;
    e.master = p.nodes.front().node;
    if (auto am = in.actualMasters.find(p.vhid); am != in.actualMasters.end()) {
      const bool planned = std::any_of(p.nodes.begin(), p.nodes.end(),
                                       [&](const core::NodeSlot& s) { return s.node == am->second; });
      if (planned) e.master = am->second;
    }
    e.stage = RetireStage::Backups;
    e.stageSince = in.now;
    for (const auto& s : p.nodes) {
      if (s.node != e.master && connected(in, s.node)) e.waitFor.insert(s.node);
    }
    out.events.push_back(RetireEvent{p.vhid, RetireReason::Started, e.master, {}, false});
    auto [it, inserted] = entries_.emplace(p.vhid, std::move(e));
    (void)inserted;
    if (it->second.waitFor.empty()) {
      enterMaster(p.vhid, it->second, in, out, RetireReason::BackupsAcked);
      if (it->second.waitFor.empty()) entries_.erase(it);
    }
  }

  // Acks and timeouts of the stages that began in an earlier pass.
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    const int vhid = it->first;
    if (!e.generationsKnown) {
      ++it;
      continue;
    }
    const bool expired = in.now - e.stageSince >= config_.timeout;
    if (e.stage == RetireStage::Backups) {
      if (stageAcked(e, in, nullptr)) {
        enterMaster(vhid, e, in, out, RetireReason::BackupsAcked);
      } else if (expired) {
        enterMaster(vhid, e, in, out, RetireReason::BackupsTimeout);
      }
      if (e.stage == RetireStage::Master && e.waitFor.empty()) {
        it = entries_.erase(it);
        continue;
      }
      ++it;
      continue;
    }
    std::vector<std::string> waiting;
    if (stageAcked(e, in, &waiting)) {
      out.events.push_back(RetireEvent{vhid, RetireReason::MasterAcked, e.master, {}, true});
      it = entries_.erase(it);
    } else if (expired) {
      out.events.push_back(RetireEvent{vhid, RetireReason::MasterTimeout, e.master, std::move(waiting), true});
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }

  for (const auto& [vhid, e] : entries_) {
    if (e.stage == RetireStage::Backups) out.keep.push_back(KeptVhid{vhid, e.master});
  }
  return out;
}

void VhidRetirements::published(const std::map<std::string, uint64_t>& generations) {
  for (auto& [vhid, e] : entries_) {
    if (e.generationsKnown) continue;
    for (auto it = e.waitFor.begin(); it != e.waitFor.end();) {
      auto g = generations.find(*it);
      if (g == generations.end()) {
        it = e.waitFor.erase(it);  // nothing published: the node left the cluster
      } else {
        e.waitGen[*it] = g->second;
        ++it;
      }
    }
    e.generationsKnown = true;
  }
}

std::set<int> VhidRetirements::active() const {
  std::set<int> out;
  for (const auto& [vhid, e] : entries_) out.insert(vhid);
  return out;
}

std::optional<RetireStage> VhidRetirements::stageOf(int vhid) const {
  auto it = entries_.find(vhid);
  if (it == entries_.end()) return std::nullopt;
  return it->second.stage;
}

std::optional<TimePoint> VhidRetirements::nextDeadline() const {
  std::optional<TimePoint> out;
  for (const auto& [vhid, e] : entries_) {
    TimePoint t = e.stageSince + config_.timeout;
    if (!out || t < *out) out = t;
  }
  return out;
}

std::set<int> reusedVhids(const std::vector<core::VhidPlan>& previous, const std::vector<core::VhidPlan>& desired) {
  std::map<int, const core::VhidPlan*> before;
  for (const auto& p : previous) before[p.vhid] = &p;
  std::set<int> out;
  for (const auto& d : desired) {
    auto it = before.find(d.vhid);
    if (it == before.end() || it->second->addresses.empty()) continue;
    const auto& old = it->second->addresses;
    const bool shared = std::any_of(d.addresses.begin(), d.addresses.end(),
                                    [&](const core::Ipv4& a) { return std::find(old.begin(), old.end(), a) != old.end(); });
    if (!shared) out.insert(d.vhid);
  }
  return out;
}

}  // namespace carplb::controller::reconcile
