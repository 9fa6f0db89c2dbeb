#pragma once
// PURE: ordered retirement of vhids that leave the plan (docs/controller.md, "Retiring a vhid").
//
// When a vhid's last VIP goes away (its Service is deleted, changes type or class, or drops
// the address) the agents must stop it. If every node got the removal at once, the MASTER
// would send its bow-out advert while some BACKUP has not applied its own removal yet: CARP's
// bow-out rule makes that backup MASTER at once, it binds the VIP and sends gratuitous ARPs
// for an address that should vanish, and the controller sees a "failover" of a deleted VIP.
// So a vhid is retired in two steps, controller-side only (no agent or protocol change):
//
//   1. Backups: every planned node except the master drops the vhid; the master keeps it,
//      unchanged (its Vhost is republished as it was, so its agent does not touch it).
//      Done when each backup whose agent is connected acked a generation that no longer
//      holds the vhid, or after `timeout` (a backup that never acks must not keep a deleted
//      VIP up forever).
//   2. Master: the master drops it (bow-out; nobody is left to take over). Done when the
//      master acked that generation, or after `timeout`; then the vhid is retired: the shell
//      calls AgentObservations::forgetVhid and the vhid may be planned again.
//
// "The master" is the node agents report MASTER for the vhid (controller/observe) when it is
// one of the planned nodes, else the planned master. A vhid planned on no node, or whose
// addresses moved to another vhid in the same pass (Moved: the old order, every node drops it
// at once, so that no two vhids carry one address), retires at once.
//
// While a vhid retires it must not be planned again: the shell adds active() to the planner's
// excluded vhids. If one of its addresses is planned again anyway (a Service re-created with
// the same address on another vhid), the retirement ends at once (reason AddressReused): two
// vhids must never carry the same address.
//
// A vhid the planner re-used in the same pass for other addresses (planned in `previous` and
// in `desired`, no address in common) cannot retire in order; reusedVhids() finds them so the
// shell plans again with them excluded.
//
// Generations: step() works before the pass publishes; published() tells which generation
// each node got in that pass (PlanServer::publish), which is what a step waits to see acked.
// Time comes in as an argument; nothing here logs, sleeps or reads a clock.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "controller/core/planner.h"

namespace carplb::controller::reconcile {

enum class RetireStage {
  Backups,  // the backups drop the vhid; the master keeps it
  Master,   // the master drops it too; waiting for its ack
};
std::string_view toString(RetireStage s);

enum class RetireReason {
  Started,         // the vhid left the plan: step 1 begins
  NoMaster,        // retired at once: it was planned on no node
  BackupsAcked,    // step 1 done: every connected backup acked
  BackupsTimeout,  // step 1 done after the timeout (some backup did not ack)
  MasterAcked,     // retired: the master acked
  MasterTimeout,   // retired after the timeout (the master did not ack)
  AddressReused,   // retired at once: one of its addresses is planned again
  Moved,           // retired at once: its addresses moved to another vhid in this pass
  MasterGone,      // retired: the master's agent is not connected, nothing to wait for
};
std::string_view toString(RetireReason r);

// Something the shell logs (and, for retirements, acts on).
struct RetireEvent {
  int vhid = 0;
  RetireReason reason = RetireReason::Started;
  std::string master;                // the node that bows out last ("" with NoMaster)
  std::vector<std::string> waiting;  // *Timeout: the nodes that had not acked
  // True when the vhid is now retired (MasterAcked, MasterTimeout, AddressReused, Moved,
  // MasterGone, NoMaster): forget its observations, it may be planned again.
  bool retired = false;
};

// A planned node's agent as the plan server sees it.
struct AgentAck {
  bool connected = false;
  std::optional<uint64_t> acked;  // last generation acked in this controller epoch
};

struct RetireInputs {
  std::vector<core::VhidPlan> previous;  // the vhid plans of the last pass (not the kept ones)
  std::vector<core::VhidPlan> desired;   // the vhid plans of this pass
  std::map<int, std::string> actualMasters;  // vhid -> node reported MASTER (controller/observe)
  std::map<std::string, AgentAck> agents;    // node -> ack state; a missing node is not connected
  TimePoint now{};
};

// A vhid a node keeps running this pass although it left the plan (the retiring master).
struct KeptVhid {
  int vhid = 0;
  std::string node;
};

struct RetireStep {
  std::vector<KeptVhid> keep;       // publish these (unchanged) in addition to the plan
  std::vector<RetireEvent> events;  // in order
};

struct RetireConfig {
  Duration timeout = std::chrono::seconds(2);  // per step
};

class VhidRetirements {
public:
  explicit VhidRetirements(RetireConfig config = {});

  // One reconcile pass, before publishing: starts retirements for vhids that left the plan,
  // advances the ones under way (acks, timeouts), ends those whose address is planned again.
  RetireStep step(const RetireInputs& in);
  // After publishing: the generation each node got in this pass. A step that began in this
  // pass waits for these generations.
  void published(const std::map<std::string, uint64_t>& generations);

  // Vhids retiring now (exclude them from planning).
  std::set<int> active() const;
  std::optional<RetireStage> stageOf(int vhid) const;
  // Earliest time step() has a timeout to act on (nullopt: nothing retiring).
  std::optional<TimePoint> nextDeadline() const;
  std::size_t size() const { return entries_.size(); }

private:
  struct Entry {
    core::VhidPlan plan;  // as planned last (before it left the plan)
    std::string master;
    RetireStage stage = RetireStage::Backups;
    TimePoint stageSince{};
    std::set<std::string> waitFor;              // nodes whose ack this stage needs
    std::map<std::string, uint64_t> waitGen;    // filled by published()
    bool generationsKnown = false;
  };
  void enterMaster(int vhid, Entry& e, const RetireInputs& in, RetireStep& out, RetireReason why);
  // True when every node of the stage acked (or is gone).
  static bool stageAcked(const Entry& e, const RetireInputs& in, std::vector<std::string>* waiting);

  RetireConfig config_;
  std::map<int, Entry> entries_;
};

// Vhids planned in `previous` and in `desired` without one address in common: the planner
// re-used a vhid that just left the plan for other addresses.
std::set<int> reusedVhids(const std::vector<core::VhidPlan>& previous, const std::vector<core::VhidPlan>& desired);

}  // namespace carplb::controller::reconcile
