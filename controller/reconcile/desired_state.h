#pragma once
// PURE: the whole cluster as the controller sees it -> what it should look like.
//
//   ClusterState (Services, Nodes, EndpointSlices, VirtualIPs, agent health)
//     -> per Service: finalizer wanted?, status.loadBalancer.ingress, the carplb.io/VipAssigned
//        condition, and the Events to record
//     -> per VIP: the VirtualIP object (address, vhid, services, master + ordered backups)
//     -> per vhid: the CARP plan the agents run (nodes with advskew, addresses, failback)
//
// Rules (docs/controller.md):
//  - Services are taken in a fixed order: first those that already hold addresses (so an
//    address in use is never given away), then the rest, each by namespace/name.
//  - A Service whose annotations are malformed, or whose request conflicts, keeps what it
//    already had (nothing else changes) and gets a False condition and a Warning Event.
//  - A Service that is deleted, changes type or class releases its VIPs, its status is cleared
//    and the finalizer removed.
//  - The planner gets the previous placement from the VirtualIP objects, so the same cluster
//    gives the same plan (a controller restart moves nothing).
//  - Claims (docs/protocol.md, Vhost.claim): a vhid this pass gives to addresses whose
//    VirtualIPs did not carry it (a new VIP, or a VIP moved to another vhid) is "claimable"
//    until an agent reports it running (BACKUP or MASTER); the shell carries the set from pass
//    to pass (ClusterState::claimVhids) and marks Vhost.claim in the planned master's snapshot
//    only. After a controller restart nothing is claimable (every vhid comes from a VirtualIP).
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "controller/core/annotations.h"
#include "controller/core/eligibility.h"
#include "controller/core/inputs.h"
#include "controller/core/planner.h"
#include "controller/core/pools.h"

namespace carplb::controller::reconcile {

// A VirtualIP as observed in the cluster.
struct ObservedVip {
  std::string name;
  core::Ipv4 address;
  int vhid = 0;
  std::vector<std::string> services;  // namespace/name
  std::string pool;
  std::vector<std::string> order;     // planned master first, then backups (from status)
};

struct ClusterState {
  std::vector<core::ServiceInput> services;
  std::vector<core::NodeInput> nodes;
  std::vector<core::EndpointInput> endpoints;
  std::vector<ObservedVip> vips;
  // Nodes whose agent has been gone longer than the grace period: no masters for them.
  std::set<std::string> nodesWithoutAgent;
  // Vhids some agent currently reports BACKUP or MASTER for (controller/observe).
  std::set<int> runningVhids;
  // DesiredState::claimVhids of the previous pass (the shell carries it over; empty at start).
  std::set<int> claimVhids;
};

struct ObjectRef {
  std::string kind;  // "Service" | "Node" | "VirtualIP"
  std::string namespace_;
  std::string name;
  std::string uid;
};

struct EventIntent {
  ObjectRef object;
  std::string type;  // "Normal" | "Warning"
  std::string reason;
  std::string message;
};

enum class ServiceAction {
  Manage,   // ours: finalizer, ingress, condition as below
  Release,  // was ours (finalizer or condition), no longer: clear status, drop finalizer
};

struct ServiceDesired {
  std::string key;
  std::string namespace_;
  std::string name;
  ServiceAction action = ServiceAction::Manage;
  // Manage: the ingress IPs to publish (sorted); nullopt = leave the observed ingress as is
  // (bad input: nothing else changes).
  std::optional<std::vector<std::string>> ingress;
  core::Condition condition;  // type carplb.io/VipAssigned (Manage only)
};

struct VipDesired {
  std::string name;  // the VirtualIP object name: the address itself ("192.0.2.200")
  core::Ipv4 address;
  int vhid = 0;
  std::vector<std::string> services;  // sorted
  std::string pool;
  std::vector<core::NodeSlot> nodes;  // master first; empty while unplaced
  core::Failback failback;
  std::optional<core::Unplaced> unplaced;
};

struct DesiredState {
  std::vector<ServiceDesired> services;    // only Services that are, or were, ours
  std::map<core::Ipv4, VipDesired> vips;
  std::vector<core::VhidPlan> vhids;       // what agents run, sorted by vhid
  std::vector<EventIntent> events;
  std::map<std::string, core::NodeEligibility> nodeEligibility;
  // Vhids whose planned master (VhidPlan::nodes.front()) may claim: given to their addresses
  // by this controller (now or in an earlier pass still in ClusterState::claimVhids) and not
  // reported running by any agent. Only planned vhids with nodes appear here.
  std::set<int> claimVhids;
};

// Checked once at startup: pools and planner config. Errors name the config key.
struct ReconcileConfig {
  core::ControllerConfig controller;
  core::PlannerConfig planner;
  std::vector<core::Pool> pools;
};
Result<ReconcileConfig> makeReconcileConfig(const core::ControllerConfig& config);

DesiredState computeDesiredState(const ReconcileConfig& config, const ClusterState& cluster);

// True when the Service already carries `condition` (same status, reason, message,
// observedGeneration): no status write needed.
bool hasCondition(const core::ServiceInput& svc, const core::Condition& condition);

}  // namespace carplb::controller::reconcile
