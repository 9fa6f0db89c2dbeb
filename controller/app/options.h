#pragma once
// carplb-controller's command line -> ControllerOptions. Pure (no I/O): files named by flags
// are read later by main. `usage()` is the --help text and documents every flag and config key.
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/result.h"

namespace carplb::controller::app {

struct CommandLine {
  bool help = false;
  bool version = false;
  std::string kubeconfig;        // empty: in-cluster config
  std::string context;
  std::string configFile;        // empty: defaults
  std::string namespace_;        // lease namespace; empty: in-cluster namespace or carplb-system
  bool leaderElect = true;
  std::string leaseName = "carplb-controller";
  std::string identity;          // empty: hostname
  Duration leaseDuration = std::chrono::seconds(15);
  Duration renewDeadline = std::chrono::seconds(10);
  Duration retryPeriod = std::chrono::seconds(2);
  std::string grpcListen = ":9443";  // "off": no agent server (planning + status only)
  std::string tlsCertFile;
  std::string tlsKeyFile;
  std::string clientCaFile;
  std::string agentTokenFile;
  std::string carpSecretFile;
  std::string httpListen = ":9090";  // "off" disables
  LogLevel logLevel = LogLevel::Info;
  Duration resyncPeriod = std::chrono::minutes(5);
  std::string grpcPortFile;          // tests: write the bound gRPC port here
  // API client rate limit (token bucket). client-go's 5/10 is too tight for a controller that
  // also renews its Lease through the same client (kube-controller-manager uses 20/30).
  double kubeApiQps = 20.0;
  int kubeApiBurst = 30;
};

// Errors name the flag: "--lease-duration: not a duration: \"x\" (use e.g. 15s)".
Result<CommandLine> parseCommandLine(const std::vector<std::string>& args);
std::string usage();

}  // namespace carplb::controller::app
