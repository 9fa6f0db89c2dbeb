#pragma once
// Desired vs observed -> a list of writes. Level-triggered and pure: given the cluster as
// it is (Services, Nodes, EndpointSlices, VirtualIPs) it computes the whole desired state
// (addresses, plan) and returns only the writes that change something:
//   - finalizer add (before anything is assigned) / remove (after release),
//   - VirtualIP create / update / delete (spec + the status fields the controller owns),
//   - Service status (status.loadBalancer.ingress + our condition),
//   - Events (Normal on assignment / move, Warning on bad input, conflicts, exhaustion).
// The previous plan comes from the observed VirtualIPs (spec.vhid, status.master/backups), so
// a restarted controller rebuilds the same plan. Events and Warnings fire on transitions only
// (when the condition we would write differs from the observed one), not on every resync.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "controller/core/inputs.h"
#include "controller/core/planner.h"

namespace carplb::controller::core {

struct LastFailover {
  WallTime time;
  std::string from;
  std::string to;
  std::string reason;
  bool operator==(const LastFailover&) const = default;
};

// The fields of a VirtualIP the controller owns (status.nodes / actualMaster belong to the
// agents' reports and are never written here).
struct VirtualIpSpec {
  std::string address;
  int vhid = 0;
  std::string pool;
  std::vector<std::string> services;  // namespace/name, sorted
  bool operator==(const VirtualIpSpec&) const = default;
};

struct VirtualIpStatus {
  std::string master;                 // "" when no node can hold it
  int masterAdvskew = 0;
  std::vector<NodeSlot> backups;      // takeover order
  std::string backupSummary;          // "node-b(50),node-c(100)"
  std::string serviceSummary;         // "default/web,default/api"
  std::optional<LastFailover> lastFailover;
  std::vector<Condition> conditions;  // type Planned
  bool operator==(const VirtualIpStatus&) const = default;
};

struct VirtualIpObserved {
  std::string name;
  std::string resourceVersion;
  VirtualIpSpec spec;
  VirtualIpStatus status;
};

struct ReconcileInput {
  ControllerConfig config;
  std::vector<ServiceInput> services;
  std::vector<NodeInput> nodes;
  std::vector<EndpointInput> endpoints;
  std::vector<VirtualIpObserved> virtualIps;
  WallTime now;  // for lastTransitionTime / lastFailover.time
};

struct ObjectRef {
  std::string kind;  // "Service" | "VirtualIP"
  std::string namespace_;
  std::string name;
  std::string uid;
  bool operator==(const ObjectRef&) const = default;
};

struct FinalizerWrite {
  ObjectRef service;
  bool add = true;  // false: remove
};

struct ServiceStatusWrite {
  ObjectRef service;
  std::vector<std::string> ingress;    // IPs, each written with ipMode: VIP; empty = clear
  std::vector<Condition> conditions;   // the full list (merge patch replaces arrays)
};

struct VirtualIpWrite {
  enum class Op { Create, Update, Delete };
  Op op = Op::Create;
  std::string name;
  std::string resourceVersion;  // Update/Delete precondition ("" on Create)
  VirtualIpSpec spec;
  VirtualIpStatus status;
};

struct EventWrite {
  ObjectRef object;
  std::string type;  // "Normal" | "Warning"
  std::string reason;
  std::string message;
};

using Write = std::variant<FinalizerWrite, VirtualIpWrite, ServiceStatusWrite, EventWrite>;

// Per managed Service, what it got (for logs, metrics and tests).
struct ServiceOutcome {
  std::vector<std::string> addresses;
  std::string reason;  // reasons::VipAssigned or the failure reason
  std::string message;
  bool assigned = false;
};

struct ReconcileOutput {
  std::vector<Write> writes;  // in the order they must be applied
  PlanResult plan;            // what the agents must run (vhid -> nodes, advskews, addresses)
  std::map<std::string, ServiceOutcome> services;  // managed Services by key
};

// Fails only on an invalid ControllerConfig ("pools[0].ranges[1]: ...").
Result<ReconcileOutput> reconcile(const ReconcileInput& input);

// "192.0.2.10" -> "192-0-2-10" (VirtualIP metadata.name).
std::string virtualIpName(std::string_view address);

// JSON bodies for the shell. VirtualIP: a full object (apiVersion, kind, metadata, spec) for
// create/update, and the status subresource body. Service: a merge patch for /status.
nlohmann::json virtualIpObject(const VirtualIpWrite& w);
nlohmann::json virtualIpStatusPatch(const VirtualIpWrite& w);
nlohmann::json serviceStatusPatch(const ServiceStatusWrite& w);
std::string formatRfc3339(WallTime t);

}  // namespace carplb::controller::core
