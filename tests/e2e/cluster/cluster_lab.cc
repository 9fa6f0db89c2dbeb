#include "tests/e2e/cluster/cluster_lab.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;

namespace carplb::e2e::cluster {

namespace {

#ifndef CARPLB_CLUSTER_AGENT
#define CARPLB_CLUSTER_AGENT ""
#endif
#ifndef CARPLB_CLUSTER_CONTROLLER
#define CARPLB_CLUSTER_CONTROLLER ""
#endif
#ifndef CARPLB_CLUSTER_KUBE_DOUBLE
#define CARPLB_CLUSTER_KUBE_DOUBLE ""
#endif
#ifndef CARPLB_CLUSTER_PROBE
#define CARPLB_CLUSTER_PROBE ""
#endif
#ifndef CARPLB_CLUSTER_SOURCE_DIR
#define CARPLB_CLUSTER_SOURCE_DIR ""
#endif

std::string randomHex(size_t bytes) {
  std::random_device rd;
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rd()) & 0xffu;
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

}  // namespace

ClusterBinaries ClusterBinaries::fromBuild() {
  ClusterBinaries b;
  b.agent = CARPLB_CLUSTER_AGENT;
  b.controller = CARPLB_CLUSTER_CONTROLLER;
  b.kubeDouble = CARPLB_CLUSTER_KUBE_DOUBLE;
  b.probe = CARPLB_CLUSTER_PROBE;
  b.sourceDir = CARPLB_CLUSTER_SOURCE_DIR;
  if (!b.sourceDir.empty() && std::filesystem::exists(b.sourceDir + "/.tools/bin/kubectl")) {
    b.kubectl = b.sourceDir + "/.tools/bin/kubectl";
  }
  // Overrides, e.g. binaries from another build tree or extracted from the image.
  for (auto [var, field] : std::vector<std::pair<const char*, std::string*>>{{"CARPLB_LAB_AGENT", &b.agent},
                                                                             {"CARPLB_LAB_CONTROLLER", &b.controller},
                                                                             {"CARPLB_LAB_KUBE_DOUBLE", &b.kubeDouble},
                                                                             {"CARPLB_LAB_PROBE", &b.probe},
                                                                             {"CARPLB_LAB_KUBECTL", &b.kubectl}}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {
      *field = v;
    }
  }
  return b;
}

Result<ClusterTimers> ClusterTimers::parse(const std::string& text) {
  ClusterTimers t;
  char a = 0, b = 0;
  std::istringstream in(text);
  if (!(in >> t.advbase >> a >> t.advskewBase >> b >> t.advskewSpacing) || a != '/' || b != '/' || !in.eof()) {
    return makeError("timers: expected ADVBASE/ADVSKEWBASE/SPACING (e.g. 0/20/40), got \"" + text + "\"");
  }
  if (t.advbase < 0 || t.advbase > 255) {
    return makeError("timers: advbase must be 0..255, got " + std::to_string(t.advbase));
  }
  if (t.advskewBase < 0 || t.advskewSpacing < 1 || t.advskewBase + 3 * t.advskewSpacing > 239) {
    return makeError("timers: advskewBase + 3 x spacing must stay below 240 (spacing >= 1), got " + text);
  }
  if (t.advbase == 0 && t.advskewBase == 0) {
    return makeError("timers: advbase 0 needs advskewBase > 0");
  }
  return t;
}

ClusterTimers ClusterTimers::fromEnv() {
  if (const char* v = std::getenv("CARPLB_LAB_TIMERS"); v != nullptr && *v != '\0') {
    if (auto t = parse(v); t) {
      return *t;
    }
  }
  return ClusterTimers{};
}

Duration ClusterTimers::interval(int slot) const {
  return std::chrono::seconds(advbase) +
         std::chrono::duration_cast<Duration>(std::chrono::duration<double>((advskewBase + slot * advskewSpacing) / 256.0));
}

Duration ClusterTimers::masterDown(int slot) const { return 3 * interval(slot); }

std::string ClusterTimers::toString() const {
  return "advbase " + std::to_string(advbase) + ", advskew " + std::to_string(advskewBase) + " + " +
         std::to_string(advskewSpacing) + " per backup";
}

// ---------------------------------------------------------------- lab

ClusterLab::ClusterLab(Key /*key*/, ClusterLabOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<ClusterLab>> ClusterLab::create(ClusterLabOptions options) {
  const auto& b = options.binaries;
  for (const auto& [flag, path] : std::vector<std::pair<std::string, std::string>>{
           {"binaries.agent", b.agent}, {"binaries.controller", b.controller}, {"binaries.kubeDouble", b.kubeDouble}}) {
    if (path.empty() || !std::filesystem::exists(path)) {
      return makeError("cluster lab: " + flag + ": '" + path + "' does not exist (build it first)");
    }
  }
  if (options.probeProcesses && (b.probe.empty() || !std::filesystem::exists(b.probe))) {
    return makeError("cluster lab: binaries.probe: '" + b.probe + "' does not exist (needed for probeProcesses)");
  }
  const std::string crd = b.sourceDir + "/charts/carplb/crds/virtualips.carplb.io.yaml";
  if (!std::filesystem::exists(crd)) {
    return makeError("cluster lab: binaries.sourceDir: " + crd + " does not exist");
  }
  auto cl = std::make_unique<ClusterLab>(Key{}, std::move(options));
  if (auto st = cl->build(); !st) {
    return st.error();  // the destructor removes what was built
  }
  return cl;
}

Status ClusterLab::build() {
  LabOptions lo;
  lo.tag = options_.tag;
  lo.nodes = options_.nodes;
  lo.client = true;
  lo.keepWorkDir = options_.keepWorkDir;
  lo.processesOutliveUs = options_.processesOutliveUs;
  auto lab = Lab::create(lo);
  if (!lab) {
    return lab.error();
  }
  lab_ = std::move(*lab);

  // The control-plane host: one more bridge port, built like netlab's hosts.
  auto ns = Namespace::create(lab_->prefix() + "-cp");
  if (!ns) {
    return ns.error();
  }
  cp_.name = "cp";
  cp_.ns = std::move(*ns);
  cp_.ifname = "carplb-eth0";
  cp_.port = "carplb-pcp";
  cp_.address = ControlPlaneAddress;
  const auto& sw = lab_->switchNs();
  for (const auto& step : std::vector<std::vector<std::string>>{
           {"link", "add", cp_.port, "type", "veth", "peer", "name", cp_.ifname, "netns", cp_.ns.name()},
           {"link", "set", cp_.port, "master", "carplb-br0"},
           {"link", "set", cp_.port, "up"}}) {
    if (auto r = sw.ip(step); !r) {
      return makeError("cluster lab control plane: " + r.error().message);
    }
  }
  for (const auto& step : std::vector<std::vector<std::string>>{
           {"addr", "add", std::string(ControlPlaneAddress) + "/24", "dev", cp_.ifname},
           {"link", "set", cp_.ifname, "up"}}) {
    if (auto r = cp_.ns.ip(step); !r) {
      return makeError("cluster lab control plane: " + r.error().message);
    }
  }
  return writeFiles();
}

Status ClusterLab::writeFiles() {
  const std::string dir = workDir();
  auto openssl = [&](std::vector<std::string> args) -> Status {
    args.insert(args.begin(), "openssl");
    auto r = runCommand(args);
    if (!r) {
      return makeError("cluster lab TLS material: " + r.error().message);
    }
    return okStatus();
  };
  // A throw-away CA and the controller's certificate (IP 192.0.2.2 and LabServerName).
  if (auto s = openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7",
                        "-subj", "/CN=carplb-lab-ca", "-keyout", dir + "/ca.key", "-out", dir + "/ca.crt"});
      !s) {
    return s;
  }
  if (auto s = openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                        std::string("/CN=") + LabServerName, "-keyout", dir + "/controller.key", "-out", dir + "/controller.csr"});
      !s) {
    return s;
  }
  auto ext = lab_->writeFile("controller.ext", std::string("subjectAltName=DNS:") + LabServerName + ",IP:" +
                                                   ControlPlaneAddress + "\nextendedKeyUsage=serverAuth\n");
  if (!ext) {
    return ext.error();
  }
  if (auto s = openssl({"x509", "-req", "-in", dir + "/controller.csr", "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key",
                        "-CAcreateserial", "-days", "7", "-extfile", *ext, "-out", dir + "/controller.crt"});
      !s) {
    return s;
  }
  for (const auto& [name, content] : std::vector<std::pair<std::string, std::string>>{
           {"agent-token", randomHex(24) + "\n"}, {"carp-secret", randomHex(24) + "\n"}}) {
    if (auto w = lab_->writeFile(name, content, 0600); !w) {
      return w.error();
    }
  }
  json config = {
      {"loadBalancerClass", "carplb.io/carp"},
      {"pools", json::array({{{"name", "lab"}, {"ranges", json::array({options_.poolRange})}, {"autoAssign", options_.autoAssign}}})},
      {"maxBackups", std::max(0, std::min(3, options_.nodes - 1))},
      {"timerProfile", "custom"},
      {"advbase", options_.timers.advbase},
      {"advskewBase", options_.timers.advskewBase},
      {"advskewSpacing", options_.timers.advskewSpacing},
  };
  if (auto w = lab_->writeFile("controller.yaml", config.dump(2) + "\n"); !w) {
    return w.error();
  }
  json nodes = json::array();
  for (int i = 1; i <= nodeCount(); ++i) {
    const auto& h = lab_->node(i);
    nodes.push_back({{"apiVersion", "v1"},
                     {"kind", "Node"},
                     {"metadata", {{"name", h.name}, {"labels", {{"kubernetes.io/hostname", h.name}, {"kubernetes.io/os", "linux"}}}}},
                     {"spec", json::object()},
                     {"status",
                      {{"conditions", json::array({{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}})},
                       {"addresses", json::array({{{"type", "InternalIP"}, {"address", h.address}}, {{"type", "Hostname"}, {"address", h.name}}})},
                       {"nodeInfo", {{"kubeletVersion", "v1.35.0"}, {"osImage", "carplb lab"}}}}}});
  }
  if (auto w = lab_->writeFile("nodes.json", json({{"apiVersion", "v1"}, {"kind", "List"}, {"items", nodes}}).dump(2) + "\n"); !w) {
    return w.error();
  }
  return okStatus();
}

ClusterLab::~ClusterLab() {
  if (released_) {
    return;
  }
  // Processes first (agents bow out while the network is still there), then namespaces.
  responders_.clear();
  responderProcs_.clear();
  for (auto& [n, p] : agents_) {
    p.terminate(1s);
  }
  agents_.clear();
  controller_.terminate(2s);
  api_.terminate(2s);
}

std::string ClusterLab::snapshotPath(int node) const { return workDir() + "/snapshot-node" + std::to_string(node); }

Status ClusterLab::startAll() {
  if (auto s = startApi(); !s) {
    return s;
  }
  if (auto s = startController(); !s) {
    return s;
  }
  for (int i = 1; i <= nodeCount(); ++i) {
    if (auto s = startAgent(i); !s) {
      return s;
    }
  }
  return startResponders();
}

Status ClusterLab::startApi() {
  const std::string dir = workDir();
  if (controllerToken_.empty()) {
    controllerToken_ = randomHex(24);
  }
  std::filesystem::remove(dir + "/api.port");
  auto p = lab_->spawn(cp_,
                       {options_.binaries.kubeDouble, "--listen", "127.0.0.1:" + std::to_string(ApiPort), "--port-file",
                        dir + "/api.port", "--kubeconfig-out", kubeconfigPath(), "--seed",
                        options_.binaries.sourceDir + "/charts/carplb/crds/virtualips.carplb.io.yaml", "--seed",
                        dir + "/nodes.json", "--log-level", "warn",
                        // The controller runs as the chart's ServiceAccount under the chart's RBAC
                        // (manifests/carplb.yaml = the chart rendered with defaults): any API call
                        // the code makes that the chart does not grant is refused with 403 and
                        // counted (forbiddenApiRequests()). kubectl stays the administrator.
                        "--authorize", options_.binaries.sourceDir + "/manifests/carplb.yaml", "--authorize-token",
                        controllerToken_ + "=" + std::string(ControllerUser), "--kubeconfig-out-for",
                        std::string(ControllerUser) + "=" + controllerKubeconfigPath()},
                       "kube-double.log");
  if (!p) {
    return p.error();
  }
  api_ = std::move(*p);
  bool up = waitFor([&] { return std::filesystem::exists(dir + "/api.port") || !api_.running(); }, 10s);
  if (!up || !api_.running()) {
    return makeError("carplb-kube-double did not come up in " + cp_.ns.name() + "; log: " + api_.log());
  }
  return okStatus();
}

Status ClusterLab::startController() {
  if (controller_.running()) {
    return makeError("carplb-controller: already running (pid " + std::to_string(controller_.pid()) + ")");
  }
  const std::string dir = workDir();
  std::vector<std::string> args = {options_.binaries.controller, "--kubeconfig", controllerKubeconfigPath(), "--leader-elect=false",
                                   "--grpc-listen", std::string(ControlPlaneAddress) + ":" + std::to_string(GrpcPort),
                                   "--tls-cert-file", dir + "/controller.crt", "--tls-key-file", dir + "/controller.key",
                                   "--agent-token-file", tokenPath(), "--carp-secret-file", dir + "/carp-secret", "--config",
                                   dir + "/controller.yaml", "--http-listen", "127.0.0.1:" + std::to_string(ControllerOpsPort),
                                   "--resync-period", "30s", "--log-level", options_.controllerLogLevel};
  args.insert(args.end(), options_.controllerArgs.begin(), options_.controllerArgs.end());
  auto p = lab_->spawn(cp_, args, "controller.log");
  if (!p) {
    return p.error();
  }
  controller_ = std::move(*p);
  bool ready = waitFor(
      [&] {
        if (!controller_.running()) {
          return true;
        }
        auto r = httpRequest(cp_.ns, ControllerOpsPort, "GET", "/readyz", "", "", 1s);
        return r && r->code == 200;
      },
      15s, 50ms);
  if (!ready || !controller_.running()) {
    return makeError("carplb-controller did not become ready in " + cp_.ns.name() + "; see " + controller_.logPath());
  }
  return okStatus();
}

bool ClusterLab::stopController(bool graceful) {
  if (!graceful) {
    controller_.kill();
    return false;
  }
  return controller_.terminate(3s);
}

bool ClusterLab::controllerRunning() { return controller_.running(); }

Status ClusterLab::startAgent(int node, const AgentStart& how) {
  if (node < 1 || node > nodeCount()) {
    return makeError("cluster lab: agent node " + std::to_string(node) + " out of range");
  }
  if (auto it = agents_.find(node); it != agents_.end() && it->second.running()) {
    return makeError("carplb-agent on node" + std::to_string(node) + ": already running");
  }
  const auto& h = lab_->node(node);
  std::vector<std::string> argv = {options_.binaries.agent, "--controller",
                                   std::string(ControlPlaneAddress) + ":" + std::to_string(GrpcPort), "--node-name", h.name,
                                   "--tls-ca-file", caPath(), "--tls-server-name", LabServerName, "--snapshot-file",
                                   snapshotPath(node), "--interface", h.ifname, "--status-listen",
                                   "127.0.0.1:" + std::to_string(AgentStatusPort), "--log-level", options_.agentLogLevel};
  if (!how.noCredentials) {
    std::string tokenFile = tokenPath();
    if (how.token) {
      auto w = lab_->writeFile("agent-token-node" + std::to_string(node), *how.token + "\n", 0600);
      if (!w) {
        return w.error();
      }
      tokenFile = *w;
    }
    argv.push_back("--token-file");
    argv.push_back(tokenFile);
  }
  auto p = lab_->spawn(h, argv, "agent-" + h.name + ".log");
  if (!p) {
    return p.error();
  }
  agents_[node] = std::move(*p);
  return okStatus();
}

bool ClusterLab::stopAgent(int node) {
  auto it = agents_.find(node);
  return it != agents_.end() && it->second.terminate(3s);
}

void ClusterLab::crashAgent(int node) {
  if (auto it = agents_.find(node); it != agents_.end()) {
    it->second.kill();
  }
}

bool ClusterLab::agentRunning(int node) {
  auto it = agents_.find(node);
  return it != agents_.end() && it->second.running();
}

Process* ClusterLab::agentProcess(int node) {
  auto it = agents_.find(node);
  return it == agents_.end() ? nullptr : &it->second;
}

Status ClusterLab::startResponders() {
  for (int i = 1; i <= nodeCount(); ++i) {
    const auto& h = lab_->node(i);
    if (options_.probeProcesses) {
      auto p = lab_->spawn(h, {options_.binaries.probe, "respond", "--name", h.name}, "probe-" + h.name + ".log");
      if (!p) {
        return p.error();
      }
      responderProcs_.push_back(std::move(*p));
    } else {
      auto r = Responder::start(h, ProbePort);
      if (!r) {
        return r.error();
      }
      responders_.push_back(std::move(*r));
    }
  }
  return okStatus();
}

// ---------------------------------------------------------------- API

Result<json> ClusterLab::api(const std::string& method, const std::string& path, const json& body, const std::string& contentType) {
  auto r = httpRequest(cp_.ns, ApiPort, method, path, body.is_null() ? "" : body.dump(), contentType);
  if (!r) {
    return r.error();
  }
  auto j = json::parse(r->body, nullptr, false);
  if (r->code >= 400) {
    std::string msg = !j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string()
                          ? j["message"].get<std::string>()
                          : r->body.substr(0, 300);
    return makeError(method + " " + path + ": HTTP " + std::to_string(r->code) + ": " + msg);
  }
  if (j.is_discarded()) {
    return makeError(method + " " + path + ": body is not JSON: " + r->body.substr(0, 200));
  }
  return j;
}

Status ClusterLab::createService(const std::string& name, const std::map<std::string, std::string>& annotations) {
  json ann = json::object();
  for (const auto& [k, v] : annotations) {
    ann[k] = v;
  }
  json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", "default"}, {"annotations", ann}, {"labels", {{"app", name}}}}},
              {"spec",
               {{"type", "LoadBalancer"},
                {"loadBalancerClass", "carplb.io/carp"},
                {"selector", {{"app", name}}},
                {"ports", json::array({{{"name", "probe"}, {"port", ProbePort}, {"protocol", "UDP"}}})}}}};
  auto r = api("POST", "/api/v1/namespaces/default/services", svc);
  if (!r) {
    return r.error();
  }
  return okStatus();
}

Status ClusterLab::deleteService(const std::string& name) {
  auto r = api("DELETE", "/api/v1/namespaces/default/services/" + name);
  if (!r) {
    return r.error();
  }
  return okStatus();
}

Status ClusterLab::annotateService(const std::string& name, const std::string& key, const std::optional<std::string>& value) {
  json patch = {{"metadata", {{"annotations", {{key, value ? json(*value) : json(nullptr)}}}}}};
  auto r = api("PATCH", "/api/v1/namespaces/default/services/" + name, patch, "application/merge-patch+json");
  if (!r) {
    return r.error();
  }
  return okStatus();
}

Status ClusterLab::annotateNode(const std::string& node, const std::string& key, const std::optional<std::string>& value) {
  json patch = {{"metadata", {{"annotations", {{key, value ? json(*value) : json(nullptr)}}}}}};
  auto r = api("PATCH", "/api/v1/nodes/" + node, patch, "application/merge-patch+json");
  if (!r) {
    return r.error();
  }
  return okStatus();
}

Result<json> ClusterLab::virtualIps() {
  auto r = api("GET", "/apis/carplb.io/v1alpha1/virtualips");
  if (!r) {
    return r.error();
  }
  return r->contains("items") ? (*r)["items"] : json::array();
}

Result<json> ClusterLab::events() {
  auto r = api("GET", "/api/v1/events");
  if (!r) {
    return r.error();
  }
  return r->contains("items") ? (*r)["items"] : json::array();
}

Result<std::vector<json>> ClusterLab::eventsWithReason(const std::string& reason, const std::string& type) {
  auto evs = events();
  if (!evs) {
    return evs.error();
  }
  std::vector<json> out;
  for (const auto& e : *evs) {
    if (e.value("reason", "") == reason && (type.empty() || e.value("type", "") == type)) {
      out.push_back(e);
    }
  }
  return out;
}

Result<int> ClusterLab::forbiddenApiRequests() {
  auto st = httpGetJson(cp_.ns, ApiPort, "/_double/state");
  if (!st) {
    return st.error();
  }
  if (!st->contains("forbidden") || !(*st)["forbidden"].is_number_integer()) {
    return makeError("carplb-kube-double /_double/state: no integer \"forbidden\" field");
  }
  return (*st)["forbidden"].get<int>();
}

Result<json> ClusterLab::controllerState() { return httpGetJson(cp_.ns, ControllerOpsPort, "/state"); }

Result<std::string> ClusterLab::controllerMetrics() { return httpGet(cp_.ns, ControllerOpsPort, "/metrics"); }

VipHolders ClusterLab::holders() {
  VipHolders out;
  for (int i = 1; i <= nodeCount(); ++i) {
    const auto& h = lab_->node(i);
    auto addrs = lab_->addresses(h);
    if (!addrs) {
      continue;
    }
    for (const auto& a : *addrs) {
      if (a != h.address) {
        out.byVip[a].push_back(h.name);
      }
    }
  }
  return out;
}

std::vector<std::string> ClusterLab::holdersOf(const std::string& vip) {
  auto h = holders();
  auto it = h.byVip.find(vip);
  return it == h.byVip.end() ? std::vector<std::string>{} : it->second;
}

Result<std::string> ClusterLab::kubectl(const std::vector<std::string>& args) {
  if (options_.binaries.kubectl.empty()) {
    return makeError("cluster lab: binaries.kubectl: not set (.tools/bin/kubectl missing)");
  }
  std::vector<std::string> argv = {"ip", "netns", "exec", cp_.ns.name(), options_.binaries.kubectl, "--kubeconfig", kubeconfigPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

std::string ClusterLab::kubectlCommand() const {
  return "ip netns exec " + cp_.ns.name() + " " +
         (options_.binaries.kubectl.empty() ? std::string("kubectl") : options_.binaries.kubectl) + " --kubeconfig " +
         kubeconfigPath();
}

std::vector<pid_t> ClusterLab::release() {
  std::vector<pid_t> pids;
  auto keep = [&](Process& p) {
    if (p.running()) {
      pids.push_back(p.pid());
    }
    p.release();
  };
  keep(api_);
  keep(controller_);
  for (auto& [n, p] : agents_) {
    keep(p);
  }
  for (auto& p : responderProcs_) {
    keep(p);
  }
  cp_.ns.release();
  lab_->release();
  released_ = true;
  return pids;
}

}  // namespace carplb::e2e::cluster
