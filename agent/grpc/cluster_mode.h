#pragma once
// Cluster mode of carplb-agent (SHELL, gRPC): the runtime::ClusterMode that follows the
// controller's plan stream (PlanClient) and reports CARP state back. Linked only into the
// carplb-agent-cluster binary; the standalone carplb-agent execs that binary when it is
// given --controller (agent/main.cc), so gRPC/Protobuf are never mapped in standalone mode.
//
// The vhids come from the controller's plan stream (agent/grpc/plan_client.h). At start the
// persisted snapshot (if any) is applied before connecting (fail static). Each snapshot is
// handed to the event loop thread (DaemonHost::post) and the client thread waits for the
// result (bounded by SnapshotApplyTimeout); it is converted with agentConfigFromSnapshot
// (vhosts without an interface get the default interface, "auto" resolved with
// detectDefaultInterface) and applied with DaemonHost::applyConfig, so unchanged vhids are not
// touched. A draining snapshot demotes every vhid (DrainDemote) so its VIPs move. CARP state
// changes and foreign speakers (HMAC failures on our vhids; once per vhid and source per
// ForeignSpeakerReportInterval) are reported to the controller. When the controller is gone
// the agent keeps running its last plan and the client keeps reconnecting.
//
// Claims (agent/carp/claim.h): at start, before the persisted snapshot, the agent starts
// listening on the default interface ("auto" resolved then; DaemonHost::listen(): its link
// state), so the first vhid the controller creates there can be claimed once the agent has
// listened for that vhid's master-down interval. Before this, listening began with the first
// vhid itself and a fresh agent's first vhid always waited the full master-down interval.
#include <string>

#include "agent/config/agent_config.h"
#include "agent/grpc/plan_client.h"
#include "agent/runtime/daemon.h"
#include "common/clock.h"

namespace carplb::agent::rpc {

// How long the plan client waits for the event loop to apply a snapshot.
inline constexpr Duration SnapshotApplyTimeout = std::chrono::seconds(10);
// Demotion every vhid advertises while the node drains (the highest a config allows).
inline constexpr int DrainDemote = 240;
// At most one ForeignSpeaker report per (vhid, interface, source) in this interval.
inline constexpr Duration ForeignSpeakerReportInterval = std::chrono::minutes(1);

struct ClusterOptions {
  // target, TLS material, token file, snapshot path, hello.node_name/version/capabilities.
  PlanClientOptions client;
  // Interface for vhosts whose snapshot names none: a name, or "auto".
  std::string defaultInterface = std::string(config::AutoInterface);
};

// For DaemonOptions::cluster.
runtime::ClusterModeFactory clusterMode(ClusterOptions options);

}  // namespace carplb::agent::rpc
