#pragma once
// Event reasons and VirtualIP condition types derived from agent reports (see
// docs/protocol.md, "Agent reports"). CamelCase, as Kubernetes expects. The planner-side
// reasons live in controller/core/reasons.h.
#include <string_view>

namespace carplb::controller::observe::reasons {

// VirtualIP condition types written from agent reports.
inline constexpr std::string_view ConditionSplitBrain = "SplitBrain";
inline constexpr std::string_view ConditionForeignSpeaker = "ForeignSpeaker";

// Normal Events.
inline constexpr std::string_view VipFailover = "VipFailover";                  // on the VIP's Services: CARP master changed
inline constexpr std::string_view SplitBrainResolved = "SplitBrainResolved";    // on the VIP's Services
inline constexpr std::string_view ForeignSpeakerCleared = "ForeignSpeakerCleared";  // no foreign report for the TTL
inline constexpr std::string_view AgentReturned = "AgentReturned";              // on the Node: agent back after a loss

// Warning Events.
inline constexpr std::string_view SplitBrain = "SplitBrain";          // two or more MASTERs for one vhid
inline constexpr std::string_view ForeignSpeaker = "ForeignSpeaker";  // foreign CARP/VRRP speaker on our vhid
inline constexpr std::string_view ApplyFailed = "ApplyFailed";        // on the Node: agent refused (part of) a plan
inline constexpr std::string_view AgentLost = "AgentLost";            // on the Node: agent stream ended

// Reasons of the False status of the conditions above.
inline constexpr std::string_view SingleMaster = "SingleMaster";
inline constexpr std::string_view NoForeignSpeaker = "NoForeignSpeaker";

// Per-node state reasons set by the controller itself (not reported by an agent).
inline constexpr std::string_view StateAgentDisconnected = "agent_disconnected";
inline constexpr std::string_view StateAgentReconnected = "agent_reconnected";

}  // namespace carplb::controller::observe::reasons
