#pragma once
// The assignment engine: eligible nodes + VIPs (+ the previous plan) -> per vhid an ordered
// node list (master first) with distinct advskews, and per VIP its vhid.
//
// Model (docs/controller.md has the long version):
// - A *group* is one CARP vhid: one ordered node list, one failback policy, one or more VIPs.
//   While there are enough vhids every VIP has a group of its own; once the vhid range is used
//   up, further VIPs join the compatible group whose master masters the fewest VIPs.
// - Balance: the number of groups mastered per node differs by at most 1; with grouping, the
//   number of VIPs mastered per node (among nodes that master a group) differs by at most 1.
// - Spread: VIPs with the same spread key (a Service) get different masters while an eligible
//   node masters none of them.
// - Backups: the first backups of one node's groups rotate over the other nodes, so when a node
//   fails its VIPs spread over the survivors (that is what CARP does on its own; the planner
//   then promotes the same first backup, so the re-plan moves nothing more).
// - Stability: nothing moves unless it must (node lost, not allowed any more) or balance needs
//   it; balance moves prefer groups whose backup list already holds the target node. Groups
//   whose failback is "never" are never moved for balance.
//
// Incremental API: every mutation re-balances (unless inside a batch) and records which VIPs
// changed placement (takeChanged()). Not thread-safe.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "controller/core/annotations.h"
#include "controller/core/inputs.h"
#include "controller/core/ip.h"

namespace carplb::controller::core {

inline constexpr int MaxPlannedAdvskew = 200;  // stay well below the 240 demotion cap

struct PlannerConfig {
  int vhidMin = 1;
  int vhidMax = 255;
  std::set<int> excludedVhids;
  int maxBackups = 3;
  int advskewSpacing = 50;
};
// "vhidMin: must be 1..255, got 0" etc.; maxBackups * advskewSpacing must be <= 200.
Result<PlannerConfig> plannerConfigFrom(const ControllerConfig& config);

struct VipSpec {
  Ipv4 address;
  std::string spreadKey;  // usually the owning Service's key; VIPs of one key get distinct masters
  Failback failback;
  // Nodes allowed to hold the VIP (externalTrafficPolicy: Local); nullopt = every eligible node.
  std::optional<std::vector<std::string>> allowedNodes;
  // Previous placement from the cluster (VirtualIP spec.vhid and status): kept when valid.
  std::optional<int> previousVhid;
  std::vector<std::string> previousOrder;  // master first, then backups in takeover order
  bool operator==(const VipSpec&) const = default;
};

struct NodeSlot {
  std::string node;
  int advskew = 0;
  bool operator==(const NodeSlot&) const = default;
};

struct VipPlacement {
  Ipv4 address;
  int vhid = 0;
  std::vector<NodeSlot> nodes;  // master first (lowest advskew), then backups in takeover order
  Failback failback;
  size_t groupSize = 1;         // VIPs carried by this vhid
  const std::string& master() const { return nodes.front().node; }
  bool operator==(const VipPlacement&) const = default;
};

struct VhidPlan {
  int vhid = 0;
  std::vector<NodeSlot> nodes;  // empty when no node can master it
  std::vector<Ipv4> addresses;  // sorted
  Failback failback;
  bool operator==(const VhidPlan&) const = default;
};

enum class Unplaced {
  NoEligibleNodes,  // no eligible (and allowed) node
  VhidsExhausted,   // no free vhid and no compatible group to join
};
std::string_view toString(Unplaced u);

class Planner {
public:
  explicit Planner(PlannerConfig config);
  ~Planner();
  Planner(Planner&&) noexcept;
  Planner& operator=(Planner&&) noexcept;

  // Eligible nodes. Idempotent.
  void addNode(const std::string& name);
  void removeNode(const std::string& name);
  // Insert or update a VIP. An unchanged spec is a no-op; a changed one keeps the current
  // placement when it is still valid.
  void upsertVip(const VipSpec& spec);
  void removeVip(Ipv4 address);
  // Vhids used by foreign CARP/VRRP speakers: groups on them move to free vhids.
  void setExcludedVhids(const std::set<int>& vhids);

  // Bulk loading: inside a batch mutations do not re-balance; endBatch() does it once.
  void beginBatch();
  void endBatch();

  std::optional<VipPlacement> placement(Ipv4 address) const;
  std::optional<Unplaced> unplacedReason(Ipv4 address) const;
  // The VIP's vhid, also while no node can hold it (nullopt: unknown or no vhid).
  std::optional<int> vhidOf(Ipv4 address) const;
  std::vector<VhidPlan> vhids() const;  // sorted by vhid
  std::vector<std::string> nodes() const;
  size_t vipCount() const;
  size_t groupCount() const;
  // VIPs mastered / groups mastered by a node (0 for unknown nodes).
  size_t mastersOf(const std::string& node) const;
  size_t groupsMasteredBy(const std::string& node) const;
  // VIPs whose placement (vhid, node order) changed or that were removed since the last call.
  std::vector<Ipv4> takeChanged();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Value in, value out: a fresh Planner fed with the nodes and VIPs (sorted, previous placements
// preferred) in one batch. Same input -> same plan.
struct PlanResult {
  std::map<Ipv4, VipPlacement> placements;
  std::map<Ipv4, Unplaced> unplaced;
  std::map<Ipv4, int> unplacedVhids;  // unplaced VIPs that keep a vhid (NoEligibleNodes)
  std::vector<VhidPlan> vhids;
};
PlanResult computePlan(const PlannerConfig& config, std::vector<std::string> nodes, std::vector<VipSpec> vips);

}  // namespace carplb::controller::core
