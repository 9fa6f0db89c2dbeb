// carplb-agent / carplb-agent-cluster: flags -> options, wiring, signals
// (agent/runtime/daemon.h). No logic here.
//
// Built twice (agent/binary.cmake):
//   carplb-agent          CARPLB_AGENT_CLUSTER=0: standalone only, no gRPC/Protobuf linked.
//                         Given --controller it execs carplb-agent-cluster with the same
//                         arguments (same PID, so supervisors and tests see no difference).
//   carplb-agent-cluster  CARPLB_AGENT_CLUSTER=1: everything, cluster mode included.
// Why a second binary and not a dlopen'd module: see docs/agent.md, "Memory and packaging".
#include <malloc.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "agent/config/flags.h"
#include "agent/config/loader.h"
#include "agent/runtime/daemon.h"
#include "common/log.h"

#if CARPLB_AGENT_CLUSTER
#include <fstream>
#include <sstream>

#include "agent/grpc/cluster_mode.h"
#else
#include <unistd.h>

#include <climits>
#include <cstdlib>
#endif

#ifndef CARPLB_VERSION
#define CARPLB_VERSION "0.0.0"
#endif
#ifndef CARPLB_INSTALL_BINDIR
#define CARPLB_INSTALL_BINDIR "/usr/local/bin"
#endif

namespace {

#if CARPLB_AGENT_CLUSTER

// Reads a whole PEM file; errors name the flag and the path.
carplb::Result<std::string> readPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return carplb::makeError(flag + ": " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.find("-----BEGIN ") == std::string::npos) {
    return carplb::makeError(flag + ": " + path + ": not a PEM file");
  }
  return text;
}

// Cluster mode: files -> PlanClientOptions. Returns the exit-2 message on error.
carplb::Result<carplb::agent::rpc::ClusterOptions> clusterOptions(const carplb::agent::config::ClusterFlags& f) {
  using namespace carplb;
  agent::rpc::ClusterOptions c;
  c.defaultInterface = f.interface;
  auto& po = c.client;
  po.target = f.controller;
  po.tlsServerName = f.tlsServerName;
  po.snapshotPath = f.snapshotFile;
  auto ca = readPem("--tls-ca-file", f.tlsCaFile);
  if (!ca) return ca.error();
  po.caPem = std::move(*ca);
  if (!f.tlsCertFile.empty()) {
    auto cert = readPem("--tls-cert-file", f.tlsCertFile);
    if (!cert) return cert.error();
    auto key = readPem("--tls-key-file", f.tlsKeyFile);
    if (!key) return key.error();
    po.clientCertPem = std::move(*cert);
    po.clientKeyPem = std::move(*key);
  }
  if (!f.tokenFile.empty()) {
    auto token = agent::rpc::readTokenFile(f.tokenFile);  // checked now, re-read on reconnect
    if (!token) return makeError("--token-file: " + token.error().message);
    po.token = std::move(*token);
    po.tokenFile = f.tokenFile;
  }
  po.hello.set_node_name(f.nodeName);
  po.hello.set_version(CARPLB_VERSION);
  po.hello.add_capabilities("preempt-delay");
  po.hello.add_capabilities("draining");
  return c;
}
#else
// Replaces this process with carplb-agent-cluster (same arguments, same PID). Returns only on
// failure, with every path tried and why.
carplb::Error execClusterBinary(char** argv) {
  using namespace carplb::agent::config;
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  const std::string selfExe = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string();
  const auto candidates =
      clusterBinaryCandidates(std::getenv(std::string(ClusterBinaryEnv).c_str()), selfExe, CARPLB_INSTALL_BINDIR);
  std::string tried;
  for (const auto& path : candidates) {
    ::execv(path.c_str(), argv);  // argv[0] stays "carplb-agent", as a supervisor started it
    tried += (tried.empty() ? "" : ", ") + path + ": " + std::strerror(errno);
  }
  return carplb::Error{"cluster mode (--controller) runs " + std::string(ClusterBinaryName) +
                       ", which could not be started (" + tried + "); install it next to carplb-agent or set " +
                       std::string(ClusterBinaryEnv)};
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace carplb;
  // Memory: glibc creates up to 8 malloc arenas per core, one per thread that allocates
  // (gRPC's threads in cluster mode, the status server's thread); each keeps its own free
  // pages. Two are plenty for a daemon whose work happens on one event-loop thread.
  ::mallopt(M_ARENA_MAX, 2);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cl = agent::config::parseCommandLine(args);
  if (!cl) {
    std::cerr << "carplb-agent: " << cl.error().message << "\n";
    return 2;
  }
  if (cl->help) {
    std::cout << agent::config::usageText();
    return 0;
  }
  if (cl->version) {
    std::cout << "carplb-agent " << CARPLB_VERSION << "\n";
    return 0;
  }
  agent::runtime::DaemonOptions opts;
  opts.version = CARPLB_VERSION;
  opts.commandLine = *cl;
  if (cl->cluster) {
#if CARPLB_AGENT_CLUSTER
    auto c = clusterOptions(*cl->cluster);
    if (!c) {
      std::cerr << "carplb-agent: " << c.error().message << "\n";
      return 2;
    }
    agent::config::applyOverrides(*cl, opts.initial);  // statusListen, logLevel; no vhids
    opts.cluster = agent::rpc::clusterMode(std::move(*c));
#else
    // Only returns on failure (the message names the path it tried).
    auto err = execClusterBinary(argv);
    std::cerr << "carplb-agent: " << err.message << "\n";
    return 1;
#endif
  } else if (cl->configPath) {
    auto cfg = agent::config::loadConfigFile(*cl->configPath);
    if (!cfg) {
      std::cerr << "carplb-agent: " << cfg.error().message << "\n";
      return 2;
    }
    agent::config::applyOverrides(*cl, *cfg);
    auto st = agent::config::validateConfig(*cfg);
    if (!st) {
      std::cerr << "carplb-agent: " << st.error().message << "\n";
      return 2;
    }
    opts.configPath = cl->configPath;
    opts.initial = std::move(*cfg);
  } else {
    auto cfg = *cl->single;
    auto st = agent::config::resolvePasswordFiles(cfg);
    if (!st) {
      std::cerr << "carplb-agent: " << st.error().message << "\n";
      return 2;
    }
    opts.initial = std::move(cfg);
  }
  Logger log("agent", opts.initial.logLevel);
  if (cl->realtimePriority > 0) {
    // Sub-second CARP timers must fire on time while the node's CPUs are busy (a late advert is
    // a takeover): SCHED_RR for the whole agent, as keepalived's vrrp_rt_priority does.
    sched_param sp{};
    sp.sched_priority = cl->realtimePriority;
    if (sched_setscheduler(0, SCHED_RR, &sp) != 0) {
      log.warn("cannot use realtime scheduling, continuing with normal priority",
               {{"priority", cl->realtimePriority}, {"error", std::strerror(errno)}});
    } else {
      log.info("realtime scheduling", {{"policy", "SCHED_RR"}, {"priority", cl->realtimePriority}});
    }
  }
  return agent::runtime::runDaemon(opts, log);
}
