#pragma once
// carplb-agent command line -> CommandLine. Pure (no file or network access).
//
//   carplb-agent --config FILE [--status-listen HOST:PORT|off] [--log-level LEVEL]
//   carplb-agent --interface IF --vhid N --pass PW --addr VIP [--addr VIP...] [--srcip IP]
//                [--advbase S] [--advskew N] [--preempt] [--preempt-delay D] [--garp-refresh D]
//                [--passfile FILE] [--demote N] [--status-listen ...] [--log-level ...]
//   carplb-agent --controller HOST:PORT --node-name NAME --tls-ca-file FILE
//                (--token-file FILE | --tls-cert-file FILE --tls-key-file FILE)
//                [--tls-server-name NAME] [--snapshot-file FILE] [--interface IF|auto] [...]
//   carplb-agent --help | --version
//
// Long options take "--name VALUE" or "--name=VALUE"; the ucarp short forms -i -s -v -p -a
// -b -k -P -o work too. --config, --controller and the single-VIP flags are mutually
// exclusive (--interface is the one single-VIP flag cluster mode takes: the default interface).
#include <optional>
#include <string>
#include <vector>

#include "agent/config/agent_config.h"
#include "common/result.h"

namespace carplb::agent::config {

// --interface value that means "the interface of the default route, else the first
// non-loopback IPv4 interface" (cluster mode only; resolved by the shell).
inline constexpr std::string_view AutoInterface = "auto";

// Cluster mode (--controller): the agent follows the controller's plan stream. Only the
// command line is checked here; the files are read by the shell (agent/main.cc).
struct ClusterFlags {
  std::string controller;     // --controller: "host:port" (or a gRPC target "unix:PATH", "dns:///h:p")
  std::string nodeName;       // --node-name (Kubernetes node name)
  std::string tlsCaFile;      // --tls-ca-file: CA of the controller's certificate (required)
  std::string tlsCertFile;    // --tls-cert-file: client certificate (optional, with --tls-key-file)
  std::string tlsKeyFile;     // --tls-key-file
  std::string tlsServerName;  // --tls-server-name: name checked in the server certificate ("" = from target)
  std::string tokenFile;      // --token-file: bearer token, re-read on every reconnect
  std::string snapshotFile;   // --snapshot-file: last applied snapshot (fail static); "" = none
  std::string interface = std::string(AutoInterface);  // --interface: default for vhosts without one
};

struct CommandLine {
  bool help = false;
  bool version = false;
  std::optional<std::string> configPath;     // --config
  std::optional<AgentConfig> single;         // built from the ucarp-like flags (validated)
  std::optional<ClusterFlags> cluster;       // --controller and friends
  std::optional<std::string> statusListen;   // overrides the file's statusListen
  std::optional<LogLevel> logLevel;          // overrides the file's logLevel
  int realtimePriority = 0;                  // --realtime-priority: SCHED_RR priority, 0 = off
};

// args excludes argv[0].
Result<CommandLine> parseCommandLine(const std::vector<std::string>& args);

// The --help text.
std::string usageText();

// Applies the command-line overrides (status listen, log level) to a loaded config.
void applyOverrides(const CommandLine& cl, AgentConfig& cfg);

// Cluster mode runs in a second binary (the standalone carplb-agent maps no gRPC): the file
// name, and the environment variable that overrides where it is.
inline constexpr std::string_view ClusterBinaryName = "carplb-agent-cluster";
inline constexpr std::string_view ClusterBinaryEnv = "CARPLB_AGENT_CLUSTER_BINARY";

// Where carplb-agent looks for carplb-agent-cluster, in order: `envOverride` alone when it is
// set and not empty; otherwise next to the running binary (`selfExe`, from /proc/self/exe; ""
// = unknown), then in `installBinDir` (the compiled-in install path), without duplicates.
std::vector<std::string> clusterBinaryCandidates(const char* envOverride, std::string_view selfExe,
                                                 std::string_view installBinDir);

}  // namespace carplb::agent::config
