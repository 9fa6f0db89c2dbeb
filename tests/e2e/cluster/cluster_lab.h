#pragma once
// carplb_clusterlab: the whole cluster in network namespaces, on top of carplb_netlab.
//
//   <prefix>-sw   the switch (bridge carplb-br0)                          (netlab)
//   <prefix>-n1.. node1..N at 192.0.2.11..: one carplb-agent in cluster mode each (netlab)
//   <prefix>-c    the client at 192.0.2.100: probes, ARP capture           (netlab)
//   <prefix>-cp   the control plane at 192.0.2.2 (port carplb-pcp):
//                 carplb-kube-double on 127.0.0.1:6443 (plain HTTP, seeded with the VirtualIP
//                 CRD and Node objects node1..N) and carplb-controller (gRPC 192.0.2.2:9443
//                 with a lab CA, agent token, CARP cluster secret; ops HTTP 127.0.0.1:9090)
//
// kubectl works from the control-plane namespace:
//   ip netns exec <prefix>-cp kubectl --kubeconfig <workDir>/kubeconfig get vip
//
// Everything (namespaces, processes by PID, the work directory) is removed by the destructor.
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/lab/daemons.h"
#include "tests/e2e/lab/netlab.h"

namespace carplb::e2e::cluster {

inline const char* ControlPlaneAddress = "192.0.2.2";
inline constexpr uint16_t ApiPort = 6443;         // carplb-kube-double, 127.0.0.1 inside cp
inline constexpr uint16_t GrpcPort = 9443;        // carplb-controller agent server, 192.0.2.2
inline constexpr uint16_t ControllerOpsPort = 9090;  // carplb-controller /state /metrics
inline constexpr uint16_t AgentStatusPort = 9464;    // carplb-agent, 127.0.0.1 inside each node
// The identity the controller has in a real cluster (the chart's ServiceAccount).
inline const char* ControllerUser = "system:serviceaccount:carplb-system:carplb-controller";
inline constexpr uint16_t ProbePort = 7777;          // responders on every node
inline const char* LabServerName = "carplb-controller.lab";  // in the controller certificate

struct ClusterBinaries {
  std::string agent;
  std::string controller;
  std::string kubeDouble;
  std::string probe;    // carplb-probe: responders as processes (optional, see probeProcesses)
  std::string kubectl;  // optional: only for kubectl() and the printed commands
  std::string sourceDir;  // for charts/carplb/crds/virtualips.carplb.io.yaml
  // The binaries of the build this library was compiled in (and .tools/bin/kubectl);
  // overridden by $CARPLB_LAB_AGENT, _CONTROLLER, _KUBE_DOUBLE, _PROBE, _KUBECTL when set.
  static ClusterBinaries fromBuild();
};

// CARP timers the controller hands out: T = advbase + (advskewBase + k*spacing)/256 s for
// the k-th node of a vhid (k = 0: the planned master).
//
// The lab wants advbase 0 (T = 78 ms for the master: sub-second takeover) but the
// controller <-> agent protocol currently refuses advbase 0 in snapshots
// (proto/redact.cc: "advbase: must be between 1 and 255"), although the agent itself
// accepts it with advskew > 0. Until that is fixed the default is advbase 1; set
// CARPLB_LAB_TIMERS=0/20/40 (advbase/advskewBase/spacing) or pass timers explicitly.
struct ClusterTimers {
  int advbase = 1;
  int advskewBase = 0;
  int advskewSpacing = 40;
  static constexpr ClusterTimers fast() { return {0, 20, 40}; }
  // "A/B/S" -> timers (for flags and CARPLB_LAB_TIMERS).
  static Result<ClusterTimers> parse(const std::string& text);
  // The default, or $CARPLB_LAB_TIMERS when set (an invalid value is ignored).
  static ClusterTimers fromEnv();
  Duration interval(int slot) const;    // T of the slot-th node of a vhid
  Duration masterDown(int slot) const;  // 3 x T: how long a BACKUP waits before taking over
  std::string toString() const;         // "advbase 0, advskew 20 + 40 per backup"
};

struct ClusterLabOptions {
  std::string tag = "cl";  // [a-z0-9], at most 8 characters
  int nodes = 3;
  ClusterBinaries binaries = ClusterBinaries::fromBuild();
  ClusterTimers timers = ClusterTimers::fromEnv();
  std::string poolRange = "192.0.2.200-192.0.2.215";
  bool autoAssign = true;          // Services without an address get one from the pool
  bool processesOutliveUs = false;  // --keep: processes survive the driver
  bool probeProcesses = false;      // responders as carplb-probe processes (else threads)
  bool keepWorkDir = false;
  std::string agentLogLevel = "info";
  std::string controllerLogLevel = "info";
  std::vector<std::string> controllerArgs;  // extra carplb-controller flags (appended)
};

// How to start one agent (defaults: the lab's token, snapshot file in the work dir).
struct AgentStart {
  std::optional<std::string> token;  // a different bearer token (e.g. a wrong one)
  bool noCredentials = false;        // no --token-file at all
};

// One node's view: which VIPs it has bound (from `ip addr`).
struct VipHolders {
  std::map<std::string, std::vector<std::string>> byVip;  // vip -> nodes holding it
};

class ClusterLab {
  struct Key {};

public:
  static Result<std::unique_ptr<ClusterLab>> create(ClusterLabOptions options);
  ClusterLab(Key key, ClusterLabOptions options);
  ~ClusterLab();
  ClusterLab(const ClusterLab&) = delete;
  ClusterLab& operator=(const ClusterLab&) = delete;

  Lab& lab() { return *lab_; }
  Host& controlPlane() { return cp_; }
  Host& node(int index) { return lab_->node(index); }
  Host& client() { return lab_->client(); }
  int nodeCount() const { return lab_->nodeCount(); }
  const ClusterLabOptions& options() const { return options_; }
  const std::string& workDir() const { return lab_->workDir(); }
  std::string kubeconfigPath() const { return workDir() + "/kubeconfig"; }
  std::string tokenPath() const { return workDir() + "/agent-token"; }
  // The controller's kubeconfig: the token of the chart's controller ServiceAccount.
  std::string controllerKubeconfigPath() const { return workDir() + "/controller.kubeconfig"; }
  // API requests the double refused (403) under the chart's RBAC since it started.
  Result<int> forbiddenApiRequests();
  std::string caPath() const { return workDir() + "/ca.crt"; }
  std::string snapshotPath(int node) const;

  // Starts everything: API double, controller, one agent per node, responders.
  Status startAll();
  Status startApi();
  Status startController();
  // SIGTERM (graceful) or SIGKILL the controller. True when it exited by itself.
  bool stopController(bool graceful = true);
  bool controllerRunning();
  Status startAgent(int node, const AgentStart& how = {});
  bool stopAgent(int node);   // SIGTERM: bow out, unbind
  void crashAgent(int node);  // SIGKILL: VIPs stay bound until the node "reboots" (flushVips)
  bool agentRunning(int node);
  Process* agentProcess(int node);
  Status startResponders();

  // Kubernetes API (HTTP to the double inside cp). The value is the response JSON; HTTP
  // status >= 400 is an error holding the Status message.
  Result<nlohmann::json> api(const std::string& method, const std::string& path,
                             const nlohmann::json& body = nullptr,
                             const std::string& contentType = "application/json");
  // A LoadBalancer Service with our class, port 7777/UDP, these annotations.
  Status createService(const std::string& name, const std::map<std::string, std::string>& annotations);
  Status deleteService(const std::string& name);
  // Merge-patch one annotation (nullopt removes it).
  Status annotateService(const std::string& name, const std::string& key, const std::optional<std::string>& value);
  Status annotateNode(const std::string& node, const std::string& key, const std::optional<std::string>& value);
  Result<nlohmann::json> virtualIps();  // items of the VirtualIP list
  Result<nlohmann::json> events();      // items of core/v1 events in all namespaces
  // Events with this reason (and type, if given) in the API.
  Result<std::vector<nlohmann::json>> eventsWithReason(const std::string& reason, const std::string& type = "");
  Result<nlohmann::json> controllerState();
  Result<std::string> controllerMetrics();

  // Who has which VIP bound right now (ip addr in each node namespace).
  VipHolders holders();
  std::vector<std::string> holdersOf(const std::string& vip);

  // kubectl inside the control-plane namespace (needs binaries.kubectl).
  Result<std::string> kubectl(const std::vector<std::string>& args);
  // The same as a command line a human can paste.
  std::string kubectlCommand() const;

  // Keep namespaces, processes and files after this object goes away (driver --keep);
  // returns the PIDs of the processes it left running.
  std::vector<pid_t> release();

private:
  Status build();
  Status writeFiles();
  ClusterLabOptions options_;
  std::unique_ptr<Lab> lab_;
  Host cp_;
  Process api_;
  Process controller_;
  std::string controllerToken_;  // bearer token the double maps to ControllerUser
  std::map<int, Process> agents_;
  std::vector<Process> responderProcs_;
  std::vector<std::unique_ptr<Responder>> responders_;
  bool released_ = false;
};

// Polls `pred` every `step` until it holds or `timeout` passes.
template <typename Pred>
bool waitFor(Pred pred, Duration timeout, Duration step = std::chrono::milliseconds(20)) {
  auto deadline = MonoClock::now() + timeout;
  while (MonoClock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(step);
  }
  return pred();
}

}  // namespace carplb::e2e::cluster
