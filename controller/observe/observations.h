#pragma once
// AgentObservations: what the agents told the controller, folded into per-vhid views,
// agent health and de-duplicated notices (PURE: time comes in as arguments; no clocks,
// logs or sockets). Not thread-safe: the reconciler owns it.
//
// - Health: a node is Healthy after Connected (or any report from a node never seen), Lost
//   after Disconnected. Node eligibility: a Lost node must not be given new masters.
// - States: per node per vhid the latest reported state. Disconnected turns every state of
//   the node into UNKNOWN (never MASTER); Connected does the same (reason
//   agent_reconnected) until the agent's next StateChanges arrive. Reports of one node are
//   applied in arrival order (the protocol keeps them ordered); a report equal to the
//   current state is a no-op; reports of a Lost node are ignored.
// - Failover: the MASTER of a vhid changed from one node to another, also across a period
//   without master. Which node took over last is decided by the agents' report times, so
//   a late report from another node does not fake a failover. The first MASTER ever seen
//   is not a failover.
// - Split brain: two or more nodes MASTER for the same vhid for at least splitBrainGrace
//   (reports of a normal takeover arrive on different streams, so a short overlap is
//   expected). Raised and resolved once each.
// - Foreign speakers: per vhid and source address; one Warning when first heard, forgotten
//   (and the condition cleared) after foreignSpeakerTtl without reports.
//
// Time-based transitions happen in advance(now) (called by takeNotices(now)); views show
// the state as of the last apply()/advance(). nextDeadline() says when to call again.
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "controller/observe/reports.h"

namespace carplb::controller::observe {

struct ObservationsConfig {
  Duration splitBrainGrace = std::chrono::seconds(5);
  Duration foreignSpeakerTtl = std::chrono::minutes(5);
  std::size_t maxForeignSourcesPerVhid = 16;  // bounded memory against a noisy segment
  std::size_t maxPendingNotices = 4096;       // oldest dropped (counted) if never taken
};

enum class AgentHealth {
  Unknown,  // never heard of (e.g. right after a controller start)
  Healthy,  // connected
  Lost,     // disconnected
};
std::string_view toString(AgentHealth h);

// What apply() did with a valid report.
enum class Outcome {
  Applied,    // changed something
  Unchanged,  // duplicate of what is known
  Ignored,    // from a node whose agent is Lost (a late report), or for a forgotten node
};
std::string_view toString(Outcome o);

struct NodeState {
  std::string node;
  CarpState state = CarpState::Unknown;
  std::string reason;  // agent reason, or agent_disconnected / agent_reconnected
  WallTime since{};    // agent time of the change (controller time for controller-set states)
  bool operator==(const NodeState&) const = default;
};

struct Failover {
  WallTime time{};
  std::string from;
  std::string to;
  std::string reason;  // the new master's StateChange reason, e.g. "master_down", "preempt"
  bool operator==(const Failover&) const = default;
};

struct ForeignSpeakerInfo {
  std::string source;
  std::string interface;  // from the latest report
  ForeignProtocol protocol = ForeignProtocol::Unspecified;
  int advbase = 0;
  int advskew = 0;
  std::vector<std::string> heardBy;  // sorted node names
  WallTime firstSeen{};              // controller time
  WallTime lastSeen{};               // controller time (drives the TTL)
  bool operator==(const ForeignSpeakerInfo&) const = default;
};

struct ConditionState {
  bool status = false;
  WallTime lastTransition{};  // controller time; first observation of the vhid while never True
  std::string message;
  bool operator==(const ConditionState&) const = default;
};

struct VhidView {
  int vhid = 0;
  // The node whose latest state is MASTER; with several, the one that took over last.
  // Empty when nobody is MASTER.
  std::string actualMaster;
  std::vector<std::string> masters;  // every node whose latest state is MASTER, sorted
  bool splitBrain = false;           // confirmed: >= 2 masters for at least splitBrainGrace
  std::vector<NodeState> nodes;      // sorted by node
  std::optional<Failover> lastFailover;
  std::vector<ForeignSpeakerInfo> foreignSpeakers;  // sorted by source
  ConditionState splitBrainCondition;
  ConditionState foreignSpeakerCondition;
};

enum class NoticeType { Normal, Warning };
enum class NoticeSubject {
  Vhid,  // the VIP(s) of `vhid`: Events on their Services / VirtualIPs
  Node,  // the Node `node`
};

// Something the shell turns into a Kubernetes Event (conditions come from vhidView()).
struct Notice {
  std::string_view reason;  // a constant from controller/observe/reasons.h
  NoticeType type = NoticeType::Normal;
  NoticeSubject subject = NoticeSubject::Vhid;
  int vhid = 0;             // Vhid subject; ApplyFailed: the failing vhid (0 = whole plan)
  std::string node;         // Node subject; VipFailover: the new master
  std::string from;         // VipFailover: previous master
  std::string detail;       // VipFailover: agent reason; ApplyFailed: agent message; ...
  std::vector<std::string> nodes;  // SplitBrain: the masters
  std::string source;       // ForeignSpeaker(Cleared): foreign source address
  std::string interface;    // ForeignSpeaker
  ForeignProtocol protocol = ForeignProtocol::Unspecified;
  uint64_t generation = 0;  // ApplyFailed
  WallTime time{};
  std::string message;      // rendered with "vhid N" (see renderMessage for VIP addresses)
};
// Human message; with `addresses` (the VIPs of the vhid, e.g. {"192.0.2.200"}) Vhid
// notices name the VIPs: "VIP 192.0.2.200 moved from node-a to node-b: master_down".
// At most 1024 bytes (the Event message limit).
std::string renderMessage(const Notice& n, const std::vector<std::string>& addresses = {});

// Drops the takeover notices (VipFailover, SplitBrain, SplitBrainResolved) of vhids not in
// `planned`: a vhid that left the plan is being retired because its VIPs are going away (a
// deleted Service), so a master change seen then is a side effect of the removal, not a
// failover to tell the (deleted) Service about. Other notices pass unchanged, in order.
std::vector<Notice> withoutUnplannedTakeovers(std::vector<Notice> notices, const std::set<int>& planned);

class AgentObservations {
public:
  explicit AgentObservations(ObservationsConfig config = {});

  // Folds one report in; `now` is the controller's receive time. Errors name the field
  // ("stateChange.vhid: must be 1..255, got 0"); an invalid report changes nothing.
  Result<Outcome> apply(const AgentReport& report, WallTime now);

  // Time-based transitions: split brain confirmation, foreign speaker expiry.
  void advance(WallTime now);
  // advance(now), then every notice produced since the last call, in order.
  std::vector<Notice> takeNotices(WallTime now);
  // Earliest time advance() has something to do (nullopt: nothing pending).
  std::optional<WallTime> nextDeadline() const;

  AgentHealth agentHealth(const std::string& node) const;
  bool agentHealthy(const std::string& node) const { return agentHealth(node) == AgentHealth::Healthy; }
  std::optional<WallTime> agentLostSince(const std::string& node) const;
  std::vector<std::string> lostAgents() const;  // sorted

  // nullopt when nothing is known about the vhid.
  std::optional<VhidView> vhidView(int vhid) const;
  std::vector<int> vhids() const;  // vhids with observations, sorted
  // Vhids with a current foreign speaker (feed for Planner::setExcludedVhids).
  std::set<int> foreignVhids() const;

  // The node left the cluster: drop everything about it (its states, health, errors). A
  // split brain it was part of may resolve (notice at `now`). Failover history keeps the name.
  void forgetNode(const std::string& node, WallTime now);
  // The vhid is no longer planned (retired, controller/reconcile/retire.h): drop its states,
  // failover history, speakers and its takeover notices not taken yet (VipFailover,
  // SplitBrain, SplitBrainResolved; a ForeignSpeaker Warning still goes out: the VIP left
  // the vhid because of it), so a vhid planned again for another VIP starts clean (its first
  // MASTER is not a failover).
  void forgetVhid(int vhid);

  std::size_t nodeCount() const;
  std::size_t droppedNotices() const { return droppedNotices_; }

private:
  struct NodeRec {
    AgentHealth health = AgentHealth::Unknown;
    WallTime lostSince{};
    std::string applyErrorEpoch;
    uint64_t applyErrorGeneration = 0;
    std::set<std::pair<int, std::string>> applyErrors;  // (vhid, message) of that generation
  };
  struct Entry {
    CarpState state = CarpState::Unknown;
    std::string reason;
    WallTime since{};
  };
  struct Master {
    std::string node;
    WallTime since{};
  };
  struct VhidRec {
    WallTime firstSeen{};
    std::map<std::string, Entry> nodes;
    std::optional<Master> lastMaster;
    std::optional<Failover> lastFailover;
    std::optional<WallTime> multiMasterSince;  // controller time
    bool splitBrain = false;
    ConditionState splitBrainCondition;
    std::map<std::string, ForeignSpeakerInfo> speakers;
    ConditionState foreignCondition;
  };

  Result<Outcome> applyConnected(const Connected& r, WallTime now);
  Result<Outcome> applyDisconnected(const Disconnected& r, WallTime now);
  Result<Outcome> applyStateChange(const StateChange& r, WallTime now);
  Result<Outcome> applyForeign(const ForeignSpeaker& r, WallTime now);
  Result<Outcome> applyError(const ApplyError& r, WallTime now);
  VhidRec& vhidRec(int vhid, WallTime now);
  // Re-evaluates masters / split brain of one vhid after its node states changed.
  void evaluateMasters(int vhid, VhidRec& v, WallTime now);
  void setNodeUnknown(const std::string& node, std::string_view reason, WallTime now);
  void emit(Notice n);

  ObservationsConfig config_;
  std::map<std::string, NodeRec> nodes_;
  std::map<int, VhidRec> vhids_;
  std::vector<Notice> notices_;
  std::size_t droppedNotices_ = 0;
};

}  // namespace carplb::controller::observe
