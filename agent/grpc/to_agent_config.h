#pragma once
// Adapter: a validated carplb.v1.Snapshot -> the agent runtime's AgentConfig (the input of
// Agent::apply()). Pure function over the generated message types.
#include "agent/config/agent_config.h"
#include "carplb/v1/agent.pb.h"
#include "common/result.h"

namespace carplb::agent::rpc {

// Copies vhid, interface, srcip, vips, advbase, advskew, preempt, preempt delay, claim and the key
// into one VhostConfig per vhost, keeping `base`'s other settings (status listen, log
// level). Errors name the field ("snapshot.vhosts[0].vips[1]: ...") and never the key;
// IPv6 VIPs are refused until AgentConfig carries them.
Result<config::AgentConfig> agentConfigFromSnapshot(const v1::Snapshot& snapshot, const config::AgentConfig& base);

}  // namespace carplb::agent::rpc
