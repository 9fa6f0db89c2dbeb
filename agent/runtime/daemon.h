#pragma once
// Daemon: SHELL wiring of carplb-agent around the Agent engine. Owns the EventLoop, the
// CARP sockets, the netlink address table and link watcher, the GARP sender and the status
// endpoint; turns their events into Agent calls with the loop clock's `now`, re-arms one
// timer at Agent::nextDeadline(), and handles signals:
//   SIGTERM / SIGINT  bow out (advbase 255 / advskew 255), keep the VIPs ShutdownLinger longer,
//                     then remove them and exit 0
//   SIGHUP            reload the config file; a bad file is logged and the running config kept
//
// Cluster mode is an extension (ClusterMode, made by options.cluster) so that this library
// links neither gRPC nor Protobuf: the standalone carplb-agent binary never maps them (agent
// RSS, docs/benchmarks/failover.md). The gRPC side lives in agent/runtime/cluster_mode.h and
// is linked only into carplb-agent-cluster.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config/agent_config.h"
#include "agent/config/flags.h"
#include "agent/runtime/agent.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"

namespace carplb::agent::runtime {

// After the SIGTERM bow-out the VIPs stay bound this long (make-before-break): a backup takes
// over as soon as it hears the bow-out, but until the client has its gratuitous ARP, traffic
// still arrives here. Unbinding at once lost a probe in about 1 graceful stop in 20 under CPU
// load (tests/e2e AgentClassic.GracefulStopLosesNoProbe). Both nodes holding the VIP for a
// moment is harmless: the client sends to one MAC.
inline constexpr Duration ShutdownLinger = std::chrono::milliseconds(100);

// The running daemon as a ClusterMode sees it. Loop thread only, except post() and
// shuttingDown(), which any thread may call.
class DaemonHost {
public:
  virtual ~DaemonHost() = default;
  virtual TimePoint now() const = 0;
  virtual WallTime wallNow() const = 0;
  // Runs `fn` on the loop thread (soon, in order).
  virtual void post(std::function<void()> fn) = 0;
  // True once SIGTERM/SIGINT arrived or the loop ended: nothing may be applied any more.
  virtual bool shuttingDown() const = 0;
  // Applies `cfg` like a reload (unchanged vhids untouched); on success it is the running config.
  virtual Status applyConfig(const config::AgentConfig& cfg) = 0;
  // Startup settings (statusListen, logLevel) a cluster config keeps; it holds no vhids.
  virtual const config::AgentConfig& initialConfig() const = 0;
  virtual const Agent& agent() const = 0;
  // Starts listening on `ifname` before any vhid lives there (claims, agent/carp/claim.h):
  // reads the interface's link state first, so a down link is not counted as listening;
  // the daemon's link watcher keeps it current afterwards.
  virtual Status listen(const std::string& ifname) = 0;
  // The (interface, vhid) pairs of the running config, in config order.
  virtual const std::vector<VhostKey>& vhostKeys() const = 0;
  virtual Registry& registry() = 0;
};

// Cluster mode: follows a controller's plan and reports back. Created once the engine
// exists, before any vhid is applied; all calls on the loop thread.
class ClusterMode {
public:
  virtual ~ClusterMode() = default;
  // Applies the persisted plan (if any) through DaemonHost::applyConfig and starts following
  // the controller. An error stops the daemon before the loop runs.
  virtual Status start() = 0;
  // After the loop ended: stop following (no apply may wait for the loop any more).
  virtual void stop() = 0;
  // After every event: report state changes and foreign speakers.
  virtual void observe() = 0;
  // The "cluster" object of GET /state.
  virtual nlohmann::json statusJson() const = 0;
};

using ClusterModeFactory = std::function<std::unique_ptr<ClusterMode>(DaemonHost&, Logger)>;

struct DaemonOptions {
  std::optional<std::string> configPath;  // reloaded on SIGHUP
  config::AgentConfig initial;            // already loaded and validated
  config::CommandLine commandLine;        // overrides re-applied on reload
  std::string version;
  // Set: cluster mode (`initial` then holds no vhids, only statusListen/logLevel).
  ClusterModeFactory cluster;
};

// Runs until SIGTERM/SIGINT. Returns the process exit code (0 after a clean shutdown).
int runDaemon(const DaemonOptions& options, Logger log);

}  // namespace carplb::agent::runtime
