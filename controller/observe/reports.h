#pragma once
// What agents report, as plain structs (no gRPC/Protobuf types): the controller shell
// converts PlanServer AgentEvents into these (controller/app). Every field is untrusted:
// AgentObservations::apply() validates and sanitizes it.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/clock.h"

namespace carplb::controller::observe {

// CARP state of one vhid on one node. Unknown = no usable report (agent gone or just
// reconnected); never reported by an agent.
enum class CarpState { Unknown, Init, Backup, Master };
std::string_view toString(CarpState s);  // "UNKNOWN", "INIT", "BACKUP", "MASTER" (the CRD enum)

enum class ForeignProtocol { Unspecified, Carp, Vrrp };
std::string_view toString(ForeignProtocol p);  // "unknown", "CARP", "VRRP"

// A Hello was accepted (also when it replaced an older stream of the node).
struct Connected {
  std::string node;
};

// The node's stream ended.
struct Disconnected {
  std::string node;
  std::string reason;  // PlanServer's detail, e.g. "cancelled"
};

// A vhid on the node changed state. `time` is the agent's wall clock (epoch = unknown).
struct StateChange {
  std::string node;
  int vhid = 0;
  CarpState from = CarpState::Unknown;
  CarpState to = CarpState::Unknown;
  std::string reason;  // agent CARP core reason: "master_down", "preempt", ...
  WallTime time{};
};

// Someone outside the cluster speaks on one of our vhids.
struct ForeignSpeaker {
  std::string node;       // the node whose agent heard it
  int vhid = 0;
  std::string interface;  // e.g. "eth0"
  std::string source;     // source address of the foreign advert
  ForeignProtocol protocol = ForeignProtocol::Unspecified;
  int advbase = 0;
  int advskew = 0;        // VRRP: priority
  WallTime time{};        // agent wall clock (epoch = unknown)
};

// The agent could not apply (part of) a plan generation; vhid 0 = whole snapshot.
struct ApplyError {
  std::string node;
  std::string epoch;
  uint64_t generation = 0;
  int vhid = 0;
  std::string message;
};

using AgentReport = std::variant<Connected, Disconnected, StateChange, ForeignSpeaker, ApplyError>;

}  // namespace carplb::controller::observe
