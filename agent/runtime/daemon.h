#pragma once
// Daemon: SHELL wiring of carplb-agent around the Agent engine. Owns the EventLoop, the
// CARP sockets, the netlink address table and link watcher, the GARP sender and the status
// endpoint; turns their events into Agent calls with the loop clock's `now`, re-arms one
// timer at Agent::nextDeadline(), and handles signals:
//   SIGTERM / SIGINT  bow out (advbase 255 / advskew 255), remove the VIPs, exit 0
//   SIGHUP            reload the config file; a bad file is logged and the running config kept
#include <optional>
#include <string>

#include "agent/config/agent_config.h"
#include "agent/config/flags.h"
#include "common/log.h"

namespace carplb::agent::runtime {

struct DaemonOptions {
  std::optional<std::string> configPath;  // reloaded on SIGHUP
  config::AgentConfig initial;            // already loaded and validated
  config::CommandLine commandLine;        // overrides re-applied on reload
  std::string version;
};

// Runs until SIGTERM/SIGINT. Returns the process exit code (0 after a clean shutdown).
int runDaemon(const DaemonOptions& options, Logger log);

}  // namespace carplb::agent::runtime
