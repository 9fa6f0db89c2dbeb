#pragma once
// Daemon: SHELL wiring of carplb-agent around the Agent engine. Owns the EventLoop, the
// CARP sockets, the netlink address table and link watcher, the GARP sender and the status
// endpoint; turns their events into Agent calls with the loop clock's `now`, re-arms one
// timer at Agent::nextDeadline(), and handles signals:
//   SIGTERM / SIGINT  bow out (advbase 255 / advskew 255), remove the VIPs, exit 0
//   SIGHUP            reload the config file; a bad file is logged and the running config kept
//
// Cluster mode (options.cluster set): the vhids come from the controller's plan stream
// (agent/grpc/plan_client.h). At start the persisted snapshot (if any) is applied before
// connecting (fail static). Each snapshot is handed to the event loop thread (post) and the
// client thread waits for the result (bounded by SnapshotApplyTimeout); it is converted with
// agentConfigFromSnapshot (vhosts without an interface get the default interface, "auto"
// resolved with detectDefaultInterface) and applied with Agent::apply, so unchanged vhids
// are not touched. A draining snapshot demotes every vhid (DrainDemote) so its VIPs move.
// CARP state changes and foreign speakers (HMAC failures on our vhids; once per vhid and
// source per ForeignSpeakerReportInterval) are reported to the controller. When the
// controller is gone the agent keeps running its last plan and the client keeps reconnecting.
#include <optional>
#include <string>

#include "agent/config/agent_config.h"
#include "agent/config/flags.h"
#include "agent/grpc/plan_client.h"
#include "common/clock.h"
#include "common/log.h"

namespace carplb::agent::runtime {

// How long the plan client waits for the event loop to apply a snapshot.
inline constexpr Duration SnapshotApplyTimeout = std::chrono::seconds(10);
// Demotion every vhid advertises while the node drains (the highest a config allows).
inline constexpr int DrainDemote = 240;
// At most one ForeignSpeaker report per (vhid, interface, source) in this interval.
inline constexpr Duration ForeignSpeakerReportInterval = std::chrono::minutes(1);

struct ClusterOptions {
  // target, TLS material, token file, snapshot path, hello.node_name/version/capabilities.
  rpc::PlanClientOptions client;
  // Interface for vhosts whose snapshot names none: a name, or "auto".
  std::string defaultInterface = std::string(config::AutoInterface);
};

struct DaemonOptions {
  std::optional<std::string> configPath;  // reloaded on SIGHUP
  config::AgentConfig initial;            // already loaded and validated
  config::CommandLine commandLine;        // overrides re-applied on reload
  std::string version;
  // Set: cluster mode (`initial` then holds no vhids, only statusListen/logLevel).
  std::optional<ClusterOptions> cluster;
};

// Runs until SIGTERM/SIGINT. Returns the process exit code (0 after a clean shutdown).
int runDaemon(const DaemonOptions& options, Logger log);

}  // namespace carplb::agent::runtime
