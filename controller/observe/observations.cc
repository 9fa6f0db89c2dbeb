#include "controller/observe/observations.h"

#include <algorithm>
#include <utility>

#include "controller/observe/reasons.h"

namespace carplb::controller::observe {
namespace {

constexpr std::size_t MaxNodeName = 253;      // DNS subdomain
constexpr std::size_t MaxShortText = 128;     // reasons, interfaces, addresses
constexpr std::size_t MaxMessage = 1024;      // Event message limit
constexpr std::size_t MaxApplyErrorsPerNode = 256;
constexpr int MaxVhid = 255;

// Agents are authenticated but their strings still end up in Events and status JSON:
// keep printable ASCII only (JSON serializers reject invalid UTF-8) and bound the length.
std::string sanitize(std::string_view in, std::size_t maxBytes) {
  std::string out;
  out.reserve(std::min(in.size(), maxBytes));
  for (char c : in) {
    if (out.size() >= maxBytes) {
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

Status checkNode(std::string_view field, const std::string& node) {
  if (node.empty()) {
    return makeError(std::string(field) + ": must not be empty");
  }
  if (node.size() > MaxNodeName) {
    return makeError(std::string(field) + ": must be at most 253 characters, got " + std::to_string(node.size()));
  }
  for (char c : node) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return makeError(std::string(field) + ": must be printable ASCII without spaces");
    }
  }
  return okStatus();
}

Status checkVhid(std::string_view field, int vhid, int min) {
  if (vhid < min || vhid > MaxVhid) {
    return makeError(std::string(field) + ": must be " + std::to_string(min) + "..255, got " + std::to_string(vhid));
  }
  return okStatus();
}

std::string joined(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) {
      out += sep;
    }
    out += s;
  }
  return out;
}

std::string subjectOf(const Notice& n, const std::vector<std::string>& addresses) {
  if (addresses.empty()) {
    return "vhid " + std::to_string(n.vhid);
  }
  return std::string(addresses.size() == 1 ? "VIP " : "VIPs ") + joined(addresses) + " (vhid " +
         std::to_string(n.vhid) + ")";
}

std::string foreignHint(ForeignProtocol p) {
  switch (p) {
    case ForeignProtocol::Carp: return "wrong password or another CARP group";
    case ForeignProtocol::Vrrp: return "a VRRP router uses this number as its VRID";
    case ForeignProtocol::Unspecified: break;
  }
  return "unknown protocol";
}

std::string foreignConditionMessage(int vhid, const std::map<std::string, ForeignSpeakerInfo>& speakers) {
  std::string out = "vhid " + std::to_string(vhid) + " is also used by ";
  bool first = true;
  for (const auto& [source, s] : speakers) {
    if (!first) {
      out += ", ";
    }
    first = false;
    out += std::string(toString(s.protocol)) + " speaker " + source + " on " + (s.interface.empty() ? "?" : s.interface);
    if (out.size() > MaxMessage) {
      break;
    }
  }
  return sanitize(out, MaxMessage);
}

}  // namespace

std::string_view toString(CarpState s) {
  switch (s) {
    case CarpState::Unknown: return "UNKNOWN";
    case CarpState::Init: return "INIT";
    case CarpState::Backup: return "BACKUP";
    case CarpState::Master: return "MASTER";
  }
  return "UNKNOWN";
}

std::string_view toString(ForeignProtocol p) {
  switch (p) {
    case ForeignProtocol::Unspecified: return "unknown";
    case ForeignProtocol::Carp: return "CARP";
    case ForeignProtocol::Vrrp: return "VRRP";
  }
  return "unknown";
}

std::string_view toString(AgentHealth h) {
  switch (h) {
    case AgentHealth::Unknown: return "Unknown";
    case AgentHealth::Healthy: return "Healthy";
    case AgentHealth::Lost: return "Lost";
  }
  return "Unknown";
}

std::string_view toString(Outcome o) {
  switch (o) {
    case Outcome::Applied: return "applied";
    case Outcome::Unchanged: return "unchanged";
    case Outcome::Ignored: return "ignored";
  }
  return "ignored";
}

std::string renderMessage(const Notice& n, const std::vector<std::string>& addresses) {
  std::string out;
  const std::string subject = subjectOf(n, addresses);
  if (n.reason == reasons::VipFailover) {
    out = subject + " moved from " + (n.from.empty() ? "(none)" : n.from) + " to " + n.node;
    if (!n.detail.empty()) {
      out += ": " + n.detail;
    }
  } else if (n.reason == reasons::SplitBrain) {
    out = subject + " has " + (n.nodes.size() == 2 ? std::string("two") : std::to_string(n.nodes.size())) +
          " masters: " + joined(n.nodes);
  } else if (n.reason == reasons::SplitBrainResolved) {
    out = subject + (n.node.empty() ? " has no master reporting any more (split brain over)"
                                    : " has a single master again: " + n.node);
  } else if (n.reason == reasons::ForeignSpeaker) {
    out = subject + ": foreign " + std::string(toString(n.protocol)) + " speaker " + n.source + " on " +
          (n.interface.empty() ? "?" : n.interface) + " (" + foreignHint(n.protocol) + "), heard by " + n.node;
  } else if (n.reason == reasons::ForeignSpeakerCleared) {
    out = subject + ": foreign speaker " + n.source + " no longer heard";
  } else if (n.reason == reasons::AgentLost) {
    out = "carplb agent on node " + n.node + " is gone" + (n.detail.empty() ? "" : ": " + n.detail) +
          "; its VIPs get no new masters there";
  } else if (n.reason == reasons::AgentReturned) {
    out = "carplb agent on node " + n.node + " is connected again";
  } else if (n.reason == reasons::ApplyFailed) {
    out = "carplb agent on node " + n.node + " failed to apply plan generation " + std::to_string(n.generation) +
          (n.vhid == 0 ? std::string(" (whole plan)") : " (vhid " + std::to_string(n.vhid) + ")") + ": " + n.detail;
  } else {
    out = subject + ": " + std::string(n.reason);
  }
  if (out.size() > MaxMessage) {
    out.resize(MaxMessage);
  }
  return out;
}

AgentObservations::AgentObservations(ObservationsConfig config) : config_(config) {}

Result<Outcome> AgentObservations::apply(const AgentReport& report, WallTime now) {
  return std::visit(
      [&](const auto& r) -> Result<Outcome> {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, Connected>) {
          return applyConnected(r, now);
        } else if constexpr (std::is_same_v<T, Disconnected>) {
          return applyDisconnected(r, now);
        } else if constexpr (std::is_same_v<T, StateChange>) {
          return applyStateChange(r, now);
        } else if constexpr (std::is_same_v<T, ForeignSpeaker>) {
          return applyForeign(r, now);
        } else {
          return applyError(r, now);
        }
      },
      report);
}

void AgentObservations::emit(Notice n) {
  if (n.message.empty()) {
    n.message = renderMessage(n);
  }
  if (config_.maxPendingNotices == 0) {
    droppedNotices_++;
    return;
  }
  if (notices_.size() >= config_.maxPendingNotices) {
    notices_.erase(notices_.begin());
    droppedNotices_++;
  }
  notices_.push_back(std::move(n));
}

AgentObservations::VhidRec& AgentObservations::vhidRec(int vhid, WallTime now) {
  auto [it, inserted] = vhids_.try_emplace(vhid);
  if (inserted) {
    it->second.firstSeen = now;
    it->second.splitBrainCondition.lastTransition = now;
    it->second.foreignCondition.lastTransition = now;
  }
  return it->second;
}

void AgentObservations::setNodeUnknown(const std::string& node, std::string_view reason, WallTime now) {
  for (auto& [vhid, v] : vhids_) {
    auto it = v.nodes.find(node);
    if (it == v.nodes.end()) {
      continue;
    }
    if (it->second.state != CarpState::Unknown || it->second.reason != reason) {
      it->second = Entry{CarpState::Unknown, std::string(reason), now};
    }
    evaluateMasters(vhid, v, now);
  }
}

void AgentObservations::evaluateMasters(int vhid, VhidRec& v, WallTime now) {
  std::vector<std::string> masters;
  for (const auto& [node, e] : v.nodes) {
    if (e.state == CarpState::Master) {
      masters.push_back(node);
    }
  }
  if (masters.size() >= 2) {
    if (!v.multiMasterSince) {
      v.multiMasterSince = now;
    }
    if (v.splitBrain) {
      v.splitBrainCondition.message = "vhid " + std::to_string(vhid) + " has " + std::to_string(masters.size()) +
                                      " masters: " + joined(masters);
    } else if (now - *v.multiMasterSince >= config_.splitBrainGrace) {
      v.splitBrain = true;
      v.splitBrainCondition = ConditionState{
          true, now, "vhid " + std::to_string(vhid) + " has " + std::to_string(masters.size()) + " masters: " + joined(masters)};
      Notice n;
      n.reason = reasons::SplitBrain;
      n.type = NoticeType::Warning;
      n.vhid = vhid;
      n.nodes = masters;
      n.time = now;
      emit(std::move(n));
    }
    return;
  }
  v.multiMasterSince.reset();
  if (v.splitBrain) {
    v.splitBrain = false;
    const std::string single = masters.empty() ? std::string() : masters.front();
    v.splitBrainCondition = ConditionState{
        false, now,
        single.empty() ? "no node reports MASTER for vhid " + std::to_string(vhid)
                       : "vhid " + std::to_string(vhid) + " has one master: " + single};
    Notice n;
    n.reason = reasons::SplitBrainResolved;
    n.vhid = vhid;
    n.node = single;
    n.time = now;
    emit(std::move(n));
  }
}

Result<Outcome> AgentObservations::applyConnected(const Connected& r, WallTime now) {
  if (auto s = checkNode("connected.node", r.node); !s) {
    return s.error();
  }
  NodeRec& rec = nodes_[r.node];
  const bool wasLost = rec.health == AgentHealth::Lost;
  rec.health = AgentHealth::Healthy;
  if (wasLost) {
    Notice n;
    n.reason = reasons::AgentReturned;
    n.subject = NoticeSubject::Node;
    n.node = r.node;
    n.time = now;
    emit(std::move(n));
  }
  setNodeUnknown(r.node, reasons::StateAgentReconnected, now);
  return Outcome::Applied;
}

Result<Outcome> AgentObservations::applyDisconnected(const Disconnected& r, WallTime now) {
  if (auto s = checkNode("disconnected.node", r.node); !s) {
    return s.error();
  }
  NodeRec& rec = nodes_[r.node];
  if (rec.health == AgentHealth::Lost) {
    return Outcome::Unchanged;
  }
  rec.health = AgentHealth::Lost;
  rec.lostSince = now;
  Notice n;
  n.reason = reasons::AgentLost;
  n.type = NoticeType::Warning;
  n.subject = NoticeSubject::Node;
  n.node = r.node;
  n.detail = sanitize(r.reason, MaxShortText);
  n.time = now;
  emit(std::move(n));
  setNodeUnknown(r.node, reasons::StateAgentDisconnected, now);  // may resolve a split brain
  return Outcome::Applied;
}

Result<Outcome> AgentObservations::applyStateChange(const StateChange& r, WallTime now) {
  if (auto s = checkNode("stateChange.node", r.node); !s) {
    return s.error();
  }
  if (auto s = checkVhid("stateChange.vhid", r.vhid, 1); !s) {
    return s.error();
  }
  if (r.to == CarpState::Unknown) {
    return makeError("stateChange.to: must be INIT, BACKUP or MASTER, got UNKNOWN");
  }
  NodeRec& rec = nodes_[r.node];
  if (rec.health == AgentHealth::Lost) {
    return Outcome::Ignored;
  }
  rec.health = AgentHealth::Healthy;  // a report implies a live, authenticated stream
  VhidRec& v = vhidRec(r.vhid, now);
  Entry& e = v.nodes[r.node];
  if (e.state == r.to) {
    return Outcome::Unchanged;
  }
  const WallTime t = r.time == WallTime{} ? now : r.time;
  e = Entry{r.to, sanitize(r.reason, MaxShortText), t};
  if (r.to == CarpState::Master) {
    if (!v.lastMaster) {
      v.lastMaster = Master{r.node, t};  // first master seen: not a failover
    } else if (v.lastMaster->node == r.node) {
      v.lastMaster->since = t;           // the same master again (e.g. after a blip)
    } else if (t >= v.lastMaster->since) {
      Failover f{t, v.lastMaster->node, r.node, e.reason};
      v.lastFailover = f;
      v.lastMaster = Master{r.node, t};
      Notice n;
      n.reason = reasons::VipFailover;
      n.vhid = r.vhid;
      n.node = f.to;
      n.from = f.from;
      n.detail = f.reason;
      n.time = t;
      emit(std::move(n));
    }
    // else: a late report of an older takeover; the newer master stays the last one.
  }
  evaluateMasters(r.vhid, v, now);
  return Outcome::Applied;
}

Result<Outcome> AgentObservations::applyForeign(const ForeignSpeaker& r, WallTime now) {
  if (auto s = checkNode("foreignSpeaker.node", r.node); !s) {
    return s.error();
  }
  if (auto s = checkVhid("foreignSpeaker.vhid", r.vhid, 1); !s) {
    return s.error();
  }
  const std::string source = sanitize(r.source, MaxShortText);
  if (source.empty()) {
    return makeError("foreignSpeaker.source: must not be empty");
  }
  NodeRec& rec = nodes_[r.node];
  if (rec.health == AgentHealth::Lost) {
    return Outcome::Ignored;
  }
  rec.health = AgentHealth::Healthy;
  VhidRec& v = vhidRec(r.vhid, now);
  auto it = v.speakers.find(source);
  const bool known = it != v.speakers.end();
  if (!known && v.speakers.size() >= config_.maxForeignSourcesPerVhid) {
    return Outcome::Ignored;
  }
  ForeignSpeakerInfo& s = v.speakers[source];
  const ForeignSpeakerInfo before = s;
  s.source = source;
  s.interface = sanitize(r.interface, MaxShortText);
  s.protocol = r.protocol;
  s.advbase = std::clamp(r.advbase, 0, 255);
  s.advskew = std::clamp(r.advskew, 0, 255);
  if (!known) {
    s.firstSeen = now;
  }
  s.lastSeen = now;
  if (!std::binary_search(s.heardBy.begin(), s.heardBy.end(), r.node)) {
    s.heardBy.insert(std::upper_bound(s.heardBy.begin(), s.heardBy.end(), r.node), r.node);
  }
  if (!v.foreignCondition.status) {
    v.foreignCondition.status = true;
    v.foreignCondition.lastTransition = now;
  }
  v.foreignCondition.message = foreignConditionMessage(r.vhid, v.speakers);
  if (!known) {
    Notice n;
    n.reason = reasons::ForeignSpeaker;
    n.type = NoticeType::Warning;
    n.vhid = r.vhid;
    n.node = r.node;
    n.source = s.source;
    n.interface = s.interface;
    n.protocol = s.protocol;
    n.time = now;
    emit(std::move(n));
    return Outcome::Applied;
  }
  ForeignSpeakerInfo cmp = s;
  cmp.lastSeen = before.lastSeen;
  return cmp == before ? Outcome::Unchanged : Outcome::Applied;
}

Result<Outcome> AgentObservations::applyError(const ApplyError& r, WallTime now) {
  if (auto s = checkNode("applyError.node", r.node); !s) {
    return s.error();
  }
  if (auto s = checkVhid("applyError.vhid", r.vhid, 0); !s) {
    return s.error();
  }
  NodeRec& rec = nodes_[r.node];
  if (rec.health == AgentHealth::Lost) {
    return Outcome::Ignored;
  }
  rec.health = AgentHealth::Healthy;
  const std::string epoch = sanitize(r.epoch, MaxShortText);
  if (rec.applyErrorEpoch != epoch || rec.applyErrorGeneration != r.generation) {
    rec.applyErrorEpoch = epoch;
    rec.applyErrorGeneration = r.generation;
    rec.applyErrors.clear();
  }
  std::string message = sanitize(r.message, MaxMessage);
  if (message.empty()) {
    message = "(no message)";
  }
  auto key = std::make_pair(r.vhid, message);
  if (rec.applyErrors.count(key) != 0) {
    return Outcome::Unchanged;
  }
  if (rec.applyErrors.size() >= MaxApplyErrorsPerNode) {
    return Outcome::Ignored;
  }
  rec.applyErrors.insert(key);
  Notice n;
  n.reason = reasons::ApplyFailed;
  n.type = NoticeType::Warning;
  n.subject = NoticeSubject::Node;
  n.node = r.node;
  n.vhid = r.vhid;
  n.generation = r.generation;
  n.detail = std::move(message);
  n.time = now;
  emit(std::move(n));
  return Outcome::Applied;
}

void AgentObservations::advance(WallTime now) {
  for (auto& [vhid, v] : vhids_) {
    if (v.multiMasterSince && !v.splitBrain) {
      evaluateMasters(vhid, v, now);
    }
    bool expired = false;
    for (auto it = v.speakers.begin(); it != v.speakers.end();) {
      if (now - it->second.lastSeen >= config_.foreignSpeakerTtl) {
        Notice n;
        n.reason = reasons::ForeignSpeakerCleared;
        n.vhid = vhid;
        n.source = it->second.source;
        n.interface = it->second.interface;
        n.protocol = it->second.protocol;
        n.time = now;
        emit(std::move(n));
        it = v.speakers.erase(it);
        expired = true;
      } else {
        ++it;
      }
    }
    if (expired) {
      if (v.speakers.empty()) {
        v.foreignCondition = ConditionState{false, now, "no foreign speaker heard on vhid " + std::to_string(vhid)};
      } else {
        v.foreignCondition.message = foreignConditionMessage(vhid, v.speakers);
      }
    }
  }
}

std::vector<Notice> AgentObservations::takeNotices(WallTime now) {
  advance(now);
  std::vector<Notice> out;
  out.swap(notices_);
  return out;
}

std::optional<WallTime> AgentObservations::nextDeadline() const {
  std::optional<WallTime> best;
  auto consider = [&](WallTime t) {
    if (!best || t < *best) {
      best = t;
    }
  };
  for (const auto& [vhid, v] : vhids_) {
    if (v.multiMasterSince && !v.splitBrain) {
      consider(*v.multiMasterSince + config_.splitBrainGrace);
    }
    for (const auto& [source, s] : v.speakers) {
      consider(s.lastSeen + config_.foreignSpeakerTtl);
    }
  }
  return best;
}

AgentHealth AgentObservations::agentHealth(const std::string& node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() ? AgentHealth::Unknown : it->second.health;
}

std::optional<WallTime> AgentObservations::agentLostSince(const std::string& node) const {
  auto it = nodes_.find(node);
  if (it == nodes_.end() || it->second.health != AgentHealth::Lost) {
    return std::nullopt;
  }
  return it->second.lostSince;
}

std::vector<std::string> AgentObservations::lostAgents() const {
  std::vector<std::string> out;
  for (const auto& [node, rec] : nodes_) {
    if (rec.health == AgentHealth::Lost) {
      out.push_back(node);
    }
  }
  return out;
}

std::optional<VhidView> AgentObservations::vhidView(int vhid) const {
  auto it = vhids_.find(vhid);
  if (it == vhids_.end()) {
    return std::nullopt;
  }
  const VhidRec& v = it->second;
  VhidView view;
  view.vhid = vhid;
  for (const auto& [node, e] : v.nodes) {
    view.nodes.push_back(NodeState{node, e.state, e.reason, e.since});
    if (e.state == CarpState::Master) {
      view.masters.push_back(node);
    }
  }
  if (v.lastMaster && std::find(view.masters.begin(), view.masters.end(), v.lastMaster->node) != view.masters.end()) {
    view.actualMaster = v.lastMaster->node;
  } else {
    WallTime latest{};
    for (const auto& [node, e] : v.nodes) {
      if (e.state == CarpState::Master && (view.actualMaster.empty() || e.since > latest)) {
        view.actualMaster = node;
        latest = e.since;
      }
    }
  }
  view.splitBrain = v.splitBrain;
  view.lastFailover = v.lastFailover;
  for (const auto& [source, s] : v.speakers) {
    view.foreignSpeakers.push_back(s);
  }
  view.splitBrainCondition = v.splitBrainCondition;
  view.foreignSpeakerCondition = v.foreignCondition;
  if (view.splitBrainCondition.message.empty()) {
    view.splitBrainCondition.message = "vhid " + std::to_string(vhid) + " has at most one master";
  }
  if (view.foreignSpeakerCondition.message.empty()) {
    view.foreignSpeakerCondition.message = "no foreign speaker heard on vhid " + std::to_string(vhid);
  }
  return view;
}

std::vector<int> AgentObservations::vhids() const {
  std::vector<int> out;
  out.reserve(vhids_.size());
  for (const auto& [vhid, v] : vhids_) {
    out.push_back(vhid);
  }
  return out;
}

std::set<int> AgentObservations::foreignVhids() const {
  std::set<int> out;
  for (const auto& [vhid, v] : vhids_) {
    if (!v.speakers.empty()) {
      out.insert(vhid);
    }
  }
  return out;
}

void AgentObservations::forgetNode(const std::string& node, WallTime now) {
  nodes_.erase(node);
  for (auto& [vhid, v] : vhids_) {
    if (v.nodes.erase(node) != 0) {
      evaluateMasters(vhid, v, now);
    }
    for (auto& [source, s] : v.speakers) {
      s.heardBy.erase(std::remove(s.heardBy.begin(), s.heardBy.end(), node), s.heardBy.end());
    }
  }
}

namespace {

bool isTakeover(const Notice& n) {
  return n.subject == NoticeSubject::Vhid && (n.reason == reasons::VipFailover || n.reason == reasons::SplitBrain ||
                                              n.reason == reasons::SplitBrainResolved);
}

}  // namespace

void AgentObservations::forgetVhid(int vhid) {
  vhids_.erase(vhid);
  std::erase_if(notices_, [vhid](const Notice& n) { return isTakeover(n) && n.vhid == vhid; });
}

std::vector<Notice> withoutUnplannedTakeovers(std::vector<Notice> notices, const std::set<int>& planned) {
  std::erase_if(notices, [&](const Notice& n) { return isTakeover(n) && planned.count(n.vhid) == 0; });
  return notices;
}

std::size_t AgentObservations::nodeCount() const { return nodes_.size(); }

}  // namespace carplb::controller::observe
