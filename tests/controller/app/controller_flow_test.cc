// carplb-controller end to end against carplb-kube-double, driven with the real kubectl
// (.tools/bin/kubectl; a missing binary FAILS). Each test: a fresh double with 3 Ready nodes,
// the VirtualIP CRD applied with kubectl, and carplb-controller processes with leader election
// on short timings, --grpc-listen off and a pool 192.0.2.200/29. Waits are polls with deadlines.
//
// RBAC: the double authorizes the controller's token as the chart's ServiceAccount
// (system:serviceaccount:carplb-system:carplb-controller) with the ClusterRoles/Roles/bindings of
// manifests/carplb.yaml (the chart rendered with defaults, drift-tested). Any API call the code
// makes that the chart does not allow is a 403 and fails the test in TearDown; kubectl and the
// test's own reads are the double's administrator. Over the whole run, every permission the chart
// grants must be used at least once (least privilege), checked when the last test is done.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <deque>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "controller/app/test_support.h"
#include "kube_double/double_process.h"
#include "kube_double/http_test_client.h"

namespace carplb::controller::apptest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using kubedouble::DoubleProcess;
using kubedouble::testing::httpRequest;

const std::string KubectlBin = CARPLB_SOURCE_DIR "/.tools/bin/kubectl";
const std::string CrdFile = CARPLB_SOURCE_DIR "/charts/carplb/crds/virtualips.carplb.io.yaml";
const std::string VipPath = "/apis/carplb.io/v1alpha1/virtualips";
const std::string Finalizer = "service.kubernetes.io/load-balancer-cleanup";
const std::string Condition = "carplb.io/VipAssigned";
const std::string ManifestsFile = CARPLB_SOURCE_DIR "/manifests/carplb.yaml";
// The chart's defaults: release namespace carplb-system, fullname carplb.
const std::string ControllerNamespace = "carplb-system";
const std::string ControllerUser = "system:serviceaccount:carplb-system:carplb-controller";
const std::string LeasePath = "/apis/coordination.k8s.io/v1/namespaces/carplb-system/leases/carplb-controller";

// Permissions of the chart that the run may leave unused, with the reason they are granted.
// Keep empty unless a call cannot be provoked from a test; see docs/install.md (RBAC).
const std::map<std::string, std::string> JustifiedUnused = {};

// Least privilege over the whole run: per granted permission (from the double's /_double/authz
// report of each test), how often the controller used it. Checked after the last test when the
// whole suite ran (a --gtest_filter run only reports).
class RbacUsage : public ::testing::Environment {
public:
  static RbacUsage*& instance() {
    static RbacUsage* env = nullptr;
    return env;
  }
  void add(const json& user) {
    for (const auto& g : user.value("grants", json::array())) {
      std::string key = g.value("scope", "") + ": " + g.value("verb", "") + " " + g.value("resource", "") + "." +
                        (g.value("apiGroup", "").empty() ? std::string("core") : g.value("apiGroup", ""));
      json names = g.value("resourceNames", json::array());
      if (!names.empty()) key += " names=" + names.dump();
      used_[key] += g.value("used", 0);
    }
  }
  void TearDown() override {
    const auto* ut = ::testing::UnitTest::GetInstance();
    json report = json::object();
    for (const auto& [k, n] : used_) report[k] = n;
    std::ofstream(CARPLB_BINARY_DIR "/tests/controller/app/rbac-usage.json") << report.dump(2) << "\n";
    if (used_.empty() || ut->test_to_run_count() != ut->total_test_count()) {
      std::cout << "[ rbac     ] partial run: least-privilege check not applied; usage: " << report.dump(2) << "\n";
      return;
    }
    std::vector<std::string> unused;
    for (const auto& [k, n] : used_) {
      if (n == 0 && !JustifiedUnused.count(k)) unused.push_back(k);
    }
    EXPECT_TRUE(unused.empty()) << "manifests/carplb.yaml grants the controller permissions no test used "
                                << "(remove them from charts/carplb/templates/controller-rbac.yaml, or exercise "
                                << "them in a test, or justify them in JustifiedUnused):\n"
                                << json(unused).dump(2) << "\nusage: " << report.dump(2);
    if (unused.empty()) {
      std::cout << "[ rbac     ] " << used_.size() << " granted permissions, all used or justified\n";
    }
  }

private:
  std::map<std::string, uint64_t> used_;
};
// gtest owns registered environments (its API takes a raw pointer).
[[maybe_unused]] const bool RbacUsageRegistered = [] {
  RbacUsage::instance() = static_cast<RbacUsage*>(::testing::AddGlobalTestEnvironment(new RbacUsage));
  return true;
}();

std::string nodeYaml(const std::string& name) {
  return "apiVersion: v1\nkind: Node\nmetadata:\n  name: " + name + "\n  labels:\n    kubernetes.io/hostname: " + name +
         "\nstatus:\n  conditions:\n  - type: Ready\n    status: \"True\"\n    reason: KubeletReady\n"
         "    message: kubelet is posting ready status\n  addresses:\n  - type: InternalIP\n    address: 198.51.100." +
         std::to_string(name.back() - 'a' + 21) + "\n";
}

std::string serviceYaml(const std::string& name, const std::map<std::string, std::string>& annotations = {},
                        int port = 80) {
  std::string y = "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: default\n";
  if (!annotations.empty()) {
    y += "  annotations:\n";
    for (const auto& [k, v] : annotations) y += "    " + k + ": \"" + v + "\"\n";
  }
  y += "spec:\n  type: LoadBalancer\n  loadBalancerClass: carplb.io/carp\n  selector:\n    app: " + name +
       "\n  ports:\n  - port: " + std::to_string(port) + "\n    protocol: TCP\n";
  return y;
}

struct ControllerProc {
  std::string identity;
  int httpPort = 0;
  std::unique_ptr<ChildProcess> proc;
};

class ControllerFlow : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_EQ(::access(KubectlBin.c_str(), X_OK), 0)
        << "kubectl " << KubectlBin << " is missing (install it: scripts/install-kube-tools)";
    ASSERT_EQ(::access(CARPLB_CONTROLLER_BIN, X_OK), 0) << CARPLB_CONTROLLER_BIN << " is not built";
    std::string tmpl = (std::filesystem::temp_directory_path() / "carplb-controller-flow-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    work_ = tmpl;
    rng_.seed(std::random_device{}());

    std::string nodes = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ControllerNamespace + "\n";
    for (const char* n : {"node-a", "node-b", "node-c"}) nodes += "---\n" + nodeYaml(n);
    controllerToken_ = "ctl-" + std::to_string(rng_());
    controllerKubeconfig_ = work_ + "/controller.kubeconfig";
    policyFile_ = policy();
    auto d = DoubleProcess::start(CARPLB_KUBE_DOUBLE_BIN,
                                  {"--seed", file("nodes.yaml", nodes), "--authorize", policyFile_, "--authorize-token",
                                   controllerToken_ + "=" + ControllerUser, "--kubeconfig-out-for",
                                   ControllerUser + "=" + controllerKubeconfig_});
    ASSERT_TRUE(d.ok()) << d.error().message;
    double_ = std::move(d).value();
    auto crd = kubectl("apply -f " + shellQuote(CrdFile));
    ASSERT_EQ(crd.exitCode, 0) << crd.output;
    ASSERT_TRUE(eventually([&] { return kubectl("get vip").exitCode == 0; }, 10s)) << "CRD not served";

    config_ = file("controller.yaml",
                   "loadBalancerClass: carplb.io/carp\n"
                   "pools:\n"
                   "  - name: default\n"
                   "    ranges: [\"192.0.2.200/29\"]\n");
  }

  // The RBAC objects the double enforces for the controller (after work_ exists).
  virtual std::string policy() { return ManifestsFile; }

  // The double's authorization report for the controller's user.
  json controllerAuthz() {
    json r = get("/_double/authz");
    if (!r.is_object()) return json();
    for (const auto& u : r.value("users", json::array())) {
      if (u.value("user", "") == ControllerUser) return u;
    }
    return json();
  }
  static json deniedRequests(const json& user) {
    json out = json::array();
    for (const auto& r : user.value("requests", json::array())) {
      if (!r.value("allowed", true)) out.push_back(r);
    }
    return out;
  }

  void TearDown() override {
    if (double_) {
      json authz = controllerAuthz();
      EXPECT_TRUE(authz.is_object()) << "no authorization report from the double";
      // Requests without a token are the double's administrator: a controller that stopped
      // sending its token would bypass RBAC, so it must show up as the ServiceAccount.
      if (authz.is_object() && !controllers_.empty()) {
        EXPECT_FALSE(authz.value("requests", json::array()).empty())
            << "carplb-controller made no request as " << ControllerUser << " (token not sent?)";
      }
      if (authz.is_object() && expectAllAllowed_) {
        EXPECT_EQ(authz.value("denied", -1), 0)
            << "carplb-controller made API calls that manifests/carplb.yaml does not allow:\n"
            << deniedRequests(authz).dump(2);
        if (policyFile_ == ManifestsFile && RbacUsage::instance()) RbacUsage::instance()->add(authz);
      }
    }
    if (HasFailure()) {
      for (auto& c : controllers_) {
        if (c.proc) std::cerr << "---- controller " << c.identity << " log:\n" << c.proc->log() << "\n";
      }
      if (double_) std::cerr << "---- double log (tail):\n" << tail(double_->log(), 6000) << "\n";
    }
    controllers_.clear();  // SIGTERM by PID
    double_.reset();
    std::error_code ec;
    std::filesystem::remove_all(work_, ec);
  }

  static std::string tail(const std::string& s, size_t n) { return s.size() > n ? s.substr(s.size() - n) : s; }

  std::string file(const std::string& name, const std::string& content) {
    std::string path = work_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  // ---- kubectl ----------------------------------------------------------------------------
  CommandResult kubectl(const std::string& args) {
    return runCommand(shellQuote(KubectlBin) + " --kubeconfig " + shellQuote(double_->kubeconfig()) + " --cache-dir " +
                      shellQuote(work_ + "/kubectl-cache") + " --request-timeout 20s " + args);
  }
  CommandResult ok(const std::string& args) {
    auto r = kubectl(args);
    EXPECT_EQ(r.exitCode, 0) << "kubectl " << args << "\n" << r.output;
    return r;
  }
  void applyYaml(const std::string& name, const std::string& yaml) { ok("apply -f " + shellQuote(file(name, yaml))); }

  // ---- the double, read directly (fast polling) ------------------------------------------
  json get(const std::string& path) {
    auto r = httpRequest(double_->port(), "GET", path);
    if (r.code != 200) return json();
    return r.json();
  }
  json service(const std::string& name) { return get("/api/v1/namespaces/default/services/" + name); }
  json vipList() {
    json l = get(VipPath);
    return l.is_object() && l.contains("items") ? l["items"] : json::array();
  }
  std::map<std::string, json> vipsByAddress() {
    std::map<std::string, json> out;
    for (const auto& v : vipList()) out[v["spec"].value("address", "")] = v;
    return out;
  }
  std::map<std::string, std::string> masters() {
    std::map<std::string, std::string> out;
    for (const auto& [a, v] : vipsByAddress()) out[a] = v.contains("status") ? v["status"].value("master", "") : "";
    return out;
  }
  std::map<std::string, int> mastersPerNode() {
    std::map<std::string, int> out;
    for (const auto& [a, m] : masters()) {
      if (!m.empty()) ++out[m];
    }
    return out;
  }
  static std::vector<std::string> ingressOf(const json& svc) {
    std::vector<std::string> out;
    if (!svc.is_object()) return out;
    json ing = svc.value("/status/loadBalancer/ingress"_json_pointer, json::array());
    if (!ing.is_array()) return out;
    for (const auto& i : ing) out.push_back(i.value("ip", ""));
    std::sort(out.begin(), out.end());
    return out;
  }
  static json conditionOf(const json& svc) {
    json conds = svc.is_object() ? svc.value("/status/conditions"_json_pointer, json::array()) : json::array();
    if (conds.is_array()) {
      for (const auto& c : conds) {
        if (c.value("type", "") == Condition) return c;
      }
    }
    return json();
  }
  static bool hasFinalizer(const json& svc) {
    json f = svc.is_object() ? svc.value("/metadata/finalizers"_json_pointer, json::array()) : json::array();
    return f.is_array() && std::find(f.begin(), f.end(), Finalizer) != f.end();
  }
  // Events about one Service, as written by the controller.
  std::vector<json> eventsFor(const std::string& name) {
    std::vector<json> out;
    json l = get("/api/v1/namespaces/default/events");
    if (!l.is_object() || !l.contains("items")) return out;
    for (const auto& e : l["items"]) {
      if (e.value("/involvedObject/name"_json_pointer, std::string()) == name &&
          e.value("/involvedObject/kind"_json_pointer, std::string()) == "Service") {
        out.push_back(e);
      }
    }
    return out;
  }
  bool hasEvent(const std::string& svc, const std::string& type, const std::string& reason) {
    auto ev = eventsFor(svc);
    return std::any_of(ev.begin(), ev.end(),
                       [&](const json& e) { return e.value("type", "") == type && e.value("reason", "") == reason; });
  }
  bool assigned(const std::string& name, const std::vector<std::string>& ips) {
    json s = service(name);
    json c = conditionOf(s);
    return ingressOf(s) == ips && c.is_object() && c.value("status", "") == "True" && hasFinalizer(s);
  }
  bool assignedAny(const std::string& name, size_t count = 1) {
    json s = service(name);
    json c = conditionOf(s);
    return ingressOf(s).size() == count && c.is_object() && c.value("status", "") == "True" && hasFinalizer(s);
  }
  void postFault(const json& body, const std::string& path = "/_double/faults") {
    auto r = httpRequest(double_->port(), "POST", path, body.dump());
    ASSERT_TRUE(r.code == 200 || r.code == 202) << path << " " << body.dump() << " -> " << r.code << " " << r.body;
  }
  json doubleState() {
    json st = get("/_double/state");
    return st.is_object() ? st : json::object();  // {} while the double restarts
  }
  int placedCount() {
    int n = 0;
    for (const auto& [node, count] : mastersPerNode()) n += count;
    return n;
  }
  // The double's resourceVersion stops moving: the controller has nothing left to write.
  bool quiet() {
    std::string lastRv;
    return eventually(
        [&] {
          std::string rv = doubleState().value("resourceVersion", "");
          bool same = !rv.empty() && rv == lastRv;
          lastRv = rv;
          return same;
        },
        10s, 300ms);
  }
  int failNextRemaining() { return doubleState().value("failNextRemaining", -1); }

  // Safety, at every moment: no address is published by two Services (no sharing here).
  void expectNoAddressOnTwoServices() {
    std::map<std::string, std::set<std::string>> byIp;
    json l = get("/api/v1/namespaces/default/services");
    ASSERT_TRUE(l.is_object());
    for (const auto& s : l["items"]) {
      for (const auto& ip : ingressOf(s)) byIp[ip].insert(s["metadata"].value("name", ""));
    }
    for (const auto& [ip, names] : byIp) {
      EXPECT_EQ(names.size(), 1u) << ip << " is published by " << json(names).dump();
    }
  }
  // Converged: every VirtualIP serves exactly the one Service that publishes its address,
  // every published address has its VirtualIP, and no two VirtualIPs share a vhid.
  // Returns "" or what is wrong.
  std::string vipsInconsistency() {
    std::map<std::string, std::string> owner;  // ip -> namespace/name
    json l = get("/api/v1/namespaces/default/services");
    if (!l.is_object()) return "no service list";
    for (const auto& s : l["items"]) {
      for (const auto& ip : ingressOf(s)) owner[ip] = "default/" + s["metadata"].value("name", "");
    }
    std::set<int> vhids;
    auto vips = vipsByAddress();
    for (const auto& [addr, v] : vips) {
      json svcs = v["spec"].value("services", json::array());
      if (!owner.count(addr) || svcs != json::array({owner[addr]})) return addr + " serves " + svcs.dump();
      if (!vhids.insert(v["spec"].value("vhid", 0)).second) return "vhid used twice, by " + addr;
    }
    for (const auto& [ip, svc] : owner) {
      if (!vips.count(ip)) return ip + " of " + svc + " has no VirtualIP";
    }
    return "";
  }
  void expectConverged() {
    expectNoAddressOnTwoServices();
    std::string why;
    EXPECT_TRUE(eventually([&] { return (why = vipsInconsistency()).empty(); }, 15s)) << why << "\n" << vipList().dump(2);
  }

  // ---- controllers --------------------------------------------------------------------------
  ControllerProc& startController(const std::string& identity, std::vector<std::string> extra = {}) {
    ControllerProc c;
    c.identity = identity;
    for (int attempt = 0; attempt < 5; ++attempt) {
      c.httpPort = randomFreePort(rng_);
      std::vector<std::string> argv = {CARPLB_CONTROLLER_BIN,
                                       "--kubeconfig", controllerKubeconfig_,
                                       "--config", config_,
                                       "--namespace", ControllerNamespace,
                                       "--leader-elect",
                                       "--lease-name", "carplb-controller",
                                       "--identity", identity,
                                       "--lease-duration", "3s",
                                       "--renew-deadline", "2s",
                                       "--retry-period", "500ms",
                                       "--resync-period", "30s",
                                       "--grpc-listen", "off",
                                       "--http-listen", "127.0.0.1:" + std::to_string(c.httpPort)};
      argv.insert(argv.end(), extra.begin(), extra.end());
      auto p = ChildProcess::start(argv, work_ + "/controller-" + identity + ".log");
      EXPECT_TRUE(p.ok()) << p.error().message;
      if (!p.ok()) break;
      c.proc = std::move(p).value();
      bool up = eventually(
          [&] { return !c.proc->running() || httpRequest(c.httpPort, "GET", "/healthz").code == 200; }, 15s);
      if (up && c.proc->running()) {
        controllers_.push_back(std::move(c));
        return controllers_.back();
      }
      // Port taken in between (or the process failed): try another port, keep the log.
      std::string log = c.proc->log();
      c.proc->stop();
      if (log.find("address") == std::string::npos && log.find("bind") == std::string::npos &&
          log.find("listen") == std::string::npos) {
        ADD_FAILURE() << "carplb-controller " << identity << " did not come up:\n" << log;
        break;
      }
    }
    controllers_.push_back(std::move(c));
    ADD_FAILURE() << "could not start carplb-controller " << identity;
    return controllers_.back();
  }
  bool readyz(const ControllerProc& c) { return httpRequest(c.httpPort, "GET", "/readyz").code == 200; }
  json state(const ControllerProc& c) {
    auto r = httpRequest(c.httpPort, "GET", "/state");
    return r.code == 200 ? r.json() : json();
  }
  // Leader, synced, and the worker has finished at least one sync pass (/state lists "vips").
  bool leadingAndSynced(const ControllerProc& c) {
    if (!readyz(c)) return false;
    json s = state(c);
    return s.is_object() && s.value("leading", false) && s.value("synced", false) && s.contains("vips");
  }

  std::string work_;
  std::mt19937 rng_;
  std::string policyFile_;          // RBAC objects the double enforces (policy())
  bool expectAllAllowed_ = true;    // TearDown: the controller got no 403
  std::string controllerToken_;
  std::string controllerKubeconfig_;
  std::unique_ptr<DoubleProcess> double_;
  std::string config_;
  std::deque<ControllerProc> controllers_;  // stable references
};

// ---- assignment, bad input, deletion ------------------------------------------------------

TEST_F(ControllerFlow, AnnotatedServiceGetsItsVipWithinOneSecondBadAnnotationIsReportedDeleteReleases) {
  auto& c = startController("ctl-a");
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(c); }, 15s)) << "controller never became leader";

  applyYaml("web.yaml", serviceYaml("web"));
  // Unannotated: an address from the pool.
  ASSERT_TRUE(eventually([&] { return assignedAny("web"); }, 5s)) << service("web").dump(2);
  // A /29 pool leaves out the network and broadcast addresses: .201 is the lowest.
  EXPECT_EQ(ingressOf(service("web")), std::vector<std::string>{"192.0.2.201"});

  const auto beforeKubectl = std::chrono::steady_clock::now();
  ok("annotate svc web carplb.io/loadBalancerIPs=192.0.2.203");
  const auto t0 = std::chrono::steady_clock::now();
  auto converged = [&] {
    if (!assigned("web", {"192.0.2.203"})) return false;
    auto vips = vipsByAddress();
    if (vips.size() != 1 || !vips.count("192.0.2.203")) return false;
    if (vips["192.0.2.203"].value("/status/master"_json_pointer, std::string()).empty()) return false;
    return hasEvent("web", "Normal", "VipAssigned");
  };
  bool fast = eventually(converged, 1000ms, 10ms);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_TRUE(fast) << "not converged within 1 s: " << service("web").dump(2) << vipList().dump(2);
  if (!fast) {
    ASSERT_TRUE(eventually(converged, 10s)) << "never converged";
  }
  const auto withKubectl =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - beforeKubectl);
  std::cerr << "[ measured ] kubectl annotate returned -> status, VirtualIP and Event converged in " << took.count()
            << " ms (" << withKubectl.count() << " ms including the kubectl run)\n";

  json web = service("web");
  json ing = web["status"]["loadBalancer"]["ingress"];
  ASSERT_EQ(ing.size(), 1u);
  EXPECT_EQ(ing[0].value("ip", ""), "192.0.2.203");
  EXPECT_EQ(ing[0].value("ipMode", ""), "VIP");
  json cond = conditionOf(web);
  EXPECT_EQ(cond.value("status", ""), "True");
  EXPECT_EQ(cond.value("reason", ""), "VipAssigned");
  EXPECT_EQ(cond.value("observedGeneration", 0), web["metadata"].value("generation", -1));
  EXPECT_TRUE(hasFinalizer(web));
  EXPECT_TRUE(eventually([&] { return hasEvent("web", "Normal", "VipAssigned"); }, 5s));

  // kubectl get vip: the printer columns.
  auto table = ok("get vip");
  EXPECT_NE(table.output.find("ADDRESS"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("VHID"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("MASTER"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("192.0.2.203"), std::string::npos) << table.output;
  EXPECT_EQ(table.output.find("192.0.2.201"), std::string::npos) << "released VIP still listed:\n" << table.output;
  json vip = vipsByAddress()["192.0.2.203"];
  std::string master = vip["status"].value("master", "");
  EXPECT_TRUE(master == "node-a" || master == "node-b" || master == "node-c") << vip.dump(2);
  EXPECT_NE(table.output.find(master), std::string::npos) << table.output;
  EXPECT_EQ(vip["spec"]["services"], json::array({"default/web"}));
  int vhid = vip["spec"].value("vhid", 0);
  EXPECT_GE(vhid, 1);
  EXPECT_NE(table.output.find(std::to_string(vhid)), std::string::npos);
  auto col = ok("get vip 192.0.2.203 -o jsonpath={.status.master}/{.spec.vhid}");
  EXPECT_EQ(col.output, master + "/" + std::to_string(vhid));

  // A second Service with a bad annotation: Warning + False; web untouched.
  const std::string webRv = web["metadata"].value("resourceVersion", "");
  const std::string vipRv = vip["metadata"].value("resourceVersion", "");
  applyYaml("bad.yaml", serviceYaml("bad", {{"carplb.io/loadBalancerIPs", "192.0.2.300"}}, 81));
  ASSERT_TRUE(eventually(
      [&] {
        json c2 = conditionOf(service("bad"));
        return c2.is_object() && c2.value("status", "") == "False";
      },
      5s))
      << service("bad").dump(2);
  json bad = service("bad");
  EXPECT_EQ(conditionOf(bad).value("reason", ""), "InvalidAnnotation");
  EXPECT_NE(conditionOf(bad).value("message", "").find("192.0.2.300"), std::string::npos);
  EXPECT_TRUE(ingressOf(bad).empty());
  EXPECT_TRUE(eventually([&] { return hasEvent("bad", "Warning", "InvalidAnnotation"); }, 5s));
  auto described = ok("describe svc bad");
  EXPECT_NE(described.output.find("InvalidAnnotation"), std::string::npos) << described.output;
  EXPECT_EQ(service("web")["metadata"].value("resourceVersion", ""), webRv) << "web was written";
  EXPECT_EQ(vipsByAddress()["192.0.2.203"]["metadata"].value("resourceVersion", ""), vipRv);
  EXPECT_EQ(vipList().size(), 1u);

  // Fix it: assigned from the annotation.
  ok("annotate --overwrite svc bad carplb.io/loadBalancerIPs=192.0.2.204");
  EXPECT_TRUE(eventually([&] { return assigned("bad", {"192.0.2.204"}); }, 5s)) << service("bad").dump(2);

  // Delete: kubectl waits for the finalizer; the VirtualIP goes, the Service is gone.
  ok("delete svc web --timeout=20s");
  EXPECT_TRUE(service("web").is_null()) << service("web").dump(2);
  EXPECT_TRUE(eventually([&] { return !vipsByAddress().count("192.0.2.203"); }, 5s)) << vipList().dump(2);
  EXPECT_TRUE(vipsByAddress().count("192.0.2.204"));
  auto gone = kubectl("get svc web");
  EXPECT_NE(gone.exitCode, 0);
  EXPECT_NE(gone.output.find("NotFound"), std::string::npos) << gone.output;
  expectConverged();
}

// ---- nodes --------------------------------------------------------------------------------

TEST_F(ControllerFlow, NotReadyAndCordonedNodesLoseTheirMastersBalanced) {
  auto& c = startController("ctl-a");
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(c); }, 15s));
  applyYaml("web.yaml", serviceYaml("web", {{"carplb.io/address-count", "6"}}));
  // Balanced: every node masters 2 of the 6 (VirtualIP statuses are written one by one).
  ASSERT_TRUE(eventually(
      [&] {
        return assignedAny("web", 6) &&
               mastersPerNode() == std::map<std::string, int>{{"node-a", 2}, {"node-b", 2}, {"node-c", 2}};
      },
      10s))
      << service("web").dump(2) << vipList().dump(2);
  auto before = masters();

  // node-b NotReady (kubelet stopped posting): its 2 masters move, 3/3 on the others.
  ok("patch node node-b --subresource=status --type=strategic -p "
     "'{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"KubeletNotReady\"}]}}'");
  ASSERT_TRUE(eventually(
      [&] { return mastersPerNode() == std::map<std::string, int>{{"node-a", 3}, {"node-c", 3}}; }, 5s))
      << vipList().dump(2);
  auto afterNotReady = masters();
  for (const auto& [a, m] : before) {
    if (m != "node-b") { EXPECT_EQ(afterNotReady[a], m) << a << " moved without need"; }
  }
  // Backups follow (VirtualIP statuses are written one by one, masters first may be observed
  // before the last backup list is rewritten).
  auto backupsOnB = [&] {
    std::vector<std::string> out;
    for (const auto& [a, v] : vipsByAddress()) {
      for (const auto& b : v["status"].value("backups", json::array())) {
        if (b.value("node", "") == "node-b") out.push_back(a);
      }
    }
    return out;
  };
  EXPECT_TRUE(eventually([&] { return backupsOnB().empty(); }, 5s)) << "node-b still a backup of " << json(backupsOnB()).dump();
  EXPECT_TRUE(eventually(
      [&] {
        int n = 0;
        for (const auto& e : eventsFor("web")) {
          if (e.value("reason", "") == "VipMoved" && e.value("message", "").find("(NodeNotReady)") != std::string::npos) ++n;
        }
        return n == 2;
      },
      5s));

  // Back to Ready: balance is restored (2/2/2).
  ok("patch node node-b --subresource=status --type=strategic -p "
     "'{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\"}]}}'");
  ASSERT_TRUE(eventually(
      [&] { return mastersPerNode() == std::map<std::string, int>{{"node-a", 2}, {"node-b", 2}, {"node-c", 2}}; }, 5s))
      << vipList().dump(2);

  // node-c cordoned with kubectl: its masters move to a and b, balanced.
  auto beforeCordon = masters();
  ok("cordon node-c");
  ASSERT_TRUE(eventually(
      [&] { return mastersPerNode() == std::map<std::string, int>{{"node-a", 3}, {"node-b", 3}}; }, 5s))
      << vipList().dump(2);
  auto afterCordon = masters();
  for (const auto& [a, m] : beforeCordon) {
    if (m != "node-c") { EXPECT_EQ(afterCordon[a], m) << a << " moved without need"; }
  }
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& e : eventsFor("web")) {
          if (e.value("reason", "") == "VipMoved" && e.value("message", "").find("(NodeUnschedulable)") != std::string::npos)
            return true;
        }
        return false;
      },
      5s));
  EXPECT_TRUE(assignedAny("web", 6));
  expectConverged();
}

// ---- API faults ----------------------------------------------------------------------------

TEST_F(ControllerFlow, ConvergesThroughApiFaultsWithoutGivingAnAddressTwice) {
  auto& c = startController("ctl-a");
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(c); }, 15s));
  // Safety sampled all along: no address is ever published by two Services.
  std::atomic<bool> stopSampler{false};
  std::atomic<bool> pauseSampler{false};
  std::mutex violationsMu;
  std::vector<std::string> violations;
  int samplerPort = double_->port();
  std::thread sampler([&] {
    while (!stopSampler.load()) {
      if (pauseSampler.load()) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
      auto r = httpRequest(samplerPort, "GET", "/api/v1/namespaces/default/services");
      json l = r.code == 200 ? r.json() : json();
      if (l.is_object() && l.contains("items")) {
        std::map<std::string, std::set<std::string>> byIp;
        for (const auto& svc : l["items"]) {
          for (const auto& ip : ingressOf(svc)) byIp[ip].insert(svc["metadata"].value("name", ""));
        }
        for (const auto& [ip, names] : byIp) {
          if (names.size() > 1) {
            std::lock_guard<std::mutex> lock(violationsMu);
            violations.push_back(ip + " published by " + json(names).dump());
          }
        }
      }
      std::this_thread::sleep_for(20ms);  // sampling period
    }
  });
  struct JoinSampler {
    std::atomic<bool>& stop;
    std::thread& t;
    ~JoinSampler() {
      stop.store(true);
      if (t.joinable()) t.join();
    }
  } joinSampler{stopSampler, sampler};
  applyYaml("s1.yaml", serviceYaml("s1"));
  ASSERT_TRUE(eventually([&] { return assignedAny("s1"); }, 5s));

  // Dropped watches: the informers resume from their last RV.
  postFault({{"dropWatchesNow", true}});
  applyYaml("s2.yaml", serviceYaml("s2"));
  ASSERT_TRUE(eventually([&] { return assignedAny("s2"); }, 10s)) << service("s2").dump(2);
  expectConverged();

  // Compaction, then watches dropped: resuming gets 410 and relists.
  postFault(json::object(), "/_double/compact");
  postFault({{"dropWatchesNow", true}});
  applyYaml("s3.yaml", serviceYaml("s3"));
  ASSERT_TRUE(eventually([&] { return assignedAny("s3"); }, 10s)) << service("s3").dump(2);
  expectConverged();

  // The API server restarts and forgets its history.
  // (The sampler pauses: a request in flight while the double closes its listener sometimes
  // hangs the double's restart, see the report.)
  pauseSampler.store(true);
  const int restarts = doubleState().value("restarts", 0);
  postFault({{"forgetHistory", true}}, "/_double/restart");
  // The 202 comes before the restart: wait until /_double/state counts it.
  ASSERT_TRUE(eventually([&] { return doubleState().value("restarts", 0) > restarts; }, 10s));
  pauseSampler.store(false);
  applyYaml("s4.yaml", serviceYaml("s4"));
  ASSERT_TRUE(eventually([&] { return assignedAny("s4"); }, 15s)) << service("s4").dump(2);
  expectConverged();

  // 429 with Retry-After on the controller's Service writes, 500 on VirtualIP writes, 409 on
  // a Service status write: the writes are retried, the state converges.
  const std::string svcPath = "/api/v1/namespaces/default/services/";
  postFault({{"failNext", {{"code", 429}, {"count", 3}, {"retryAfter", 1}, {"pathPrefix", svcPath + "s5"}}}});
  // kubectl create POSTs to the collection only (apply would GET the faulted object first).
  ok("create -f " + shellQuote(file("s5.yaml", serviceYaml("s5"))));
  ASSERT_TRUE(eventually([&] { return assignedAny("s5"); }, 15s)) << service("s5").dump(2);
  EXPECT_EQ(failNextRemaining(), 0) << "the 429s never reached the controller";
  expectNoAddressOnTwoServices();

  // A plain 500 on a write is not retried inside the client (client-go's rule); the work queue
  // requeues the Service with its rate-limited backoff, so 2 failures still converge quickly.
  postFault({{"failNext", {{"code", 500}, {"count", 2}, {"pathPrefix", VipPath}}}});
  ok("annotate svc s5 carplb.io/loadBalancerIPs=192.0.2.206");
  ASSERT_TRUE(eventually([&] { return assigned("s5", {"192.0.2.206"}) && vipsByAddress().count("192.0.2.206"); }, 15s))
      << service("s5").dump(2);
  EXPECT_EQ(failNextRemaining(), 0) << "the 500s never reached the controller";
  expectNoAddressOnTwoServices();

  postFault({{"failNext", {{"code", 409}, {"count", 2}, {"pathPrefix", svcPath + "s6"}}}});
  ok("create -f " + shellQuote(file("s6.yaml", serviceYaml("s6"))));
  ASSERT_TRUE(eventually([&] { return assignedAny("s6"); }, 15s)) << service("s6").dump(2);
  EXPECT_EQ(failNextRemaining(), 0);

  // Every Service got a distinct address; the pool (6 usable addresses) is exactly used up.
  for (const char* s : {"s1", "s2", "s3", "s4", "s5", "s6"}) EXPECT_TRUE(assignedAny(s)) << s;
  expectConverged();
  EXPECT_EQ(vipList().size(), 6u);
  EXPECT_TRUE(c.proc->running()) << "the controller died";
  stopSampler.store(true);
  sampler.join();
  EXPECT_TRUE(violations.empty()) << json(violations).dump(2);
}

// ---- high availability -------------------------------------------------------------------

TEST_F(ControllerFlow, TwoControllersOneLeaderTakeoverKeepsThePlan) {
  auto& a = startController("ctl-a");
  auto& b = startController("ctl-b");
  ASSERT_TRUE(eventually([&] { return readyz(a) != readyz(b); }, 15s)) << "no single leader";
  // Still exactly one over a few retry periods.
  for (int i = 0; i < 6; ++i) {
    EXPECT_NE(readyz(a), readyz(b)) << "two leaders or none at poll " << i;
    std::this_thread::sleep_for(250ms);  // observing a steady state, not waiting for an event
  }
  ControllerProc& leader = readyz(a) ? a : b;
  ControllerProc& standby = readyz(a) ? b : a;
  json lease = get(LeasePath);
  EXPECT_EQ(lease.value("/spec/holderIdentity"_json_pointer, std::string()), leader.identity);

  applyYaml("web.yaml", serviceYaml("web", {{"carplb.io/loadBalancerIPs", "192.0.2.201,192.0.2.202,192.0.2.203"}}));
  applyYaml("api.yaml", serviceYaml("api", {}, 81));
  ASSERT_TRUE(eventually([&] { return assignedAny("web", 3) && assignedAny("api"); }, 10s));
  ASSERT_TRUE(eventually([&] { return mastersPerNode().size() == 3 && placedCount() == 4; }, 5s));
  ASSERT_TRUE(quiet());
  auto vipsBefore = vipsByAddress();
  auto mastersBefore = masters();

  // Crash the leader (SIGKILL: the Lease is not released), the standby takes over.
  leader.proc->kill9();
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(standby); }, 15s)) << "standby never took over";
  lease = get(LeasePath);
  EXPECT_EQ(lease.value("/spec/holderIdentity"_json_pointer, std::string()), standby.identity);
  EXPECT_EQ(masters(), mastersBefore);
  for (const auto& [addr, v] : vipsByAddress()) {
    ASSERT_TRUE(vipsBefore.count(addr)) << addr;
    EXPECT_EQ(v["spec"], vipsBefore[addr]["spec"]) << addr;
    EXPECT_EQ(v["metadata"].value("resourceVersion", ""), vipsBefore[addr]["metadata"].value("resourceVersion", ""))
        << addr << " rewritten by the new leader";
  }
  // The new leader works: a new Service is assigned.
  applyYaml("db.yaml", serviceYaml("db", {}, 82));
  EXPECT_TRUE(eventually([&] { return assignedAny("db"); }, 5s)) << service("db").dump(2);
  EXPECT_TRUE(eventually([&] { return placedCount() == 5; }, 5s)) << vipList().dump(2);
  for (const auto& [addr, m] : mastersBefore) EXPECT_EQ(masters()[addr], m) << addr;
  expectConverged();
}

TEST_F(ControllerFlow, RestartMovesNoVirtualIp) {
  auto* c = &startController("ctl-a");
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(*c); }, 15s));
  applyYaml("web.yaml", serviceYaml("web", {{"carplb.io/address-count", "4"}}));
  applyYaml("api.yaml", serviceYaml("api", {}, 81));
  ASSERT_TRUE(eventually([&] { return assignedAny("web", 4) && assignedAny("api") && mastersPerNode().size() == 3; }, 10s));
  // Churn so that the placement is not simply the fresh one: node-a leaves and comes back.
  ok("cordon node-a");
  ASSERT_TRUE(eventually([&] { return mastersPerNode().count("node-a") == 0 && placedCount() == 5; }, 5s));
  ok("uncordon node-a");
  ASSERT_TRUE(eventually([&] { return mastersPerNode().count("node-a") == 1; }, 5s)) << vipList().dump(2);
  // Let the controller finish its writes (the VirtualIPs stop changing).
  ASSERT_TRUE(quiet());
  ASSERT_EQ(placedCount(), 5);
  auto before = vipsByAddress();
  auto webBefore = service("web");

  // Graceful restart (the Lease is released), then the same with a crash.
  for (bool crash : {false, true}) {
    SCOPED_TRACE(crash ? "after SIGKILL" : "after SIGTERM");
    if (crash) {
      c->proc->kill9();
    } else {
      EXPECT_EQ(c->proc->stop(), 0) << "unclean exit";
    }
    c = &startController(crash ? "ctl-c" : "ctl-b");
    ASSERT_TRUE(eventually([&] { return leadingAndSynced(*c); }, 15s)) << "restarted controller never led";
    for (const auto& [addr, v] : vipsByAddress()) {
      ASSERT_TRUE(before.count(addr)) << addr;
      EXPECT_EQ(v["spec"], before[addr]["spec"]) << addr;
      EXPECT_EQ(v["status"].value("master", ""), before[addr]["status"].value("master", "")) << addr;
      EXPECT_EQ(v["status"].value("backups", json()), before[addr]["status"].value("backups", json())) << addr;
      EXPECT_EQ(v["metadata"].value("resourceVersion", ""), before[addr]["metadata"].value("resourceVersion", ""))
          << addr << " was rewritten";
    }
    EXPECT_EQ(vipsByAddress().size(), before.size());
    EXPECT_EQ(service("web")["metadata"].value("resourceVersion", ""), webBefore["metadata"].value("resourceVersion", ""));
  }
}

// ---- RBAC ---------------------------------------------------------------------------------

// A VirtualIP create answered AlreadyExists (the informer cache is behind): the controller
// re-reads the object (get virtualips, granted for exactly this) and converges.
TEST_F(ControllerFlow, VirtualIpCreateAnsweredAlreadyExistsIsReReadAndRetried) {
  auto& c = startController("ctl-a");
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(c); }, 15s));
  postFault({{"failNext", {{"code", 409}, {"count", 1}, {"method", "POST"}, {"pathPrefix", VipPath}}}});
  applyYaml("web.yaml", serviceYaml("web"));
  ASSERT_TRUE(eventually([&] { return assignedAny("web") && vipList().size() == 1u; }, 15s))
      << service("web").dump(2) << vipList().dump(2);
  EXPECT_EQ(failNextRemaining(), 0) << "the 409 never reached the controller";
  uint64_t gets = 0;
  for (const auto& r : controllerAuthz().value("requests", json::array())) {
    if (r.value("verb", "") == "get" && r.value("resource", "") == "virtualips" && r.value("allowed", false)) {
      gets += r.value("count", 0);
    }
  }
  EXPECT_GE(gets, 1u) << "the controller did not re-read the VirtualIP: " << controllerAuthz().dump(2);
  expectConverged();
}

// A VirtualIP whose spec is stale (left from an earlier install, restored from a backup) is
// corrected with a spec patch (patch virtualips), not recreated.
TEST_F(ControllerFlow, StaleVirtualIpSpecIsPatched) {
  applyYaml("stale.yaml",
            "apiVersion: carplb.io/v1alpha1\nkind: VirtualIP\nmetadata:\n  name: 192.0.2.205\n"
            "spec:\n  address: 192.0.2.205\n  vhid: 77\n  services: [default/old]\n");
  const std::string uid = vipsByAddress()["192.0.2.205"].value("/metadata/uid"_json_pointer, std::string());
  ASSERT_FALSE(uid.empty()) << vipList().dump(2);
  auto& c = startController("ctl-a");
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(c); }, 15s));
  applyYaml("web.yaml", serviceYaml("web", {{"carplb.io/loadBalancerIPs", "192.0.2.205"}}));
  ASSERT_TRUE(eventually(
      [&] {
        json v = vipsByAddress()["192.0.2.205"];
        return assigned("web", {"192.0.2.205"}) && v.is_object() &&
               v.value("/spec/services"_json_pointer, json()) == json::array({"default/web"});
      },
      10s))
      << service("web").dump(2) << vipList().dump(2);
  EXPECT_EQ(vipsByAddress()["192.0.2.205"].value("/metadata/uid"_json_pointer, std::string()), uid) << "recreated";
  expectConverged();
}

// The same Warning twice (a bad annotation comes back): the second one bumps the count of the
// existing Event (patch events) instead of creating another.
TEST_F(ControllerFlow, RepeatedWarningBumpsTheEventCount) {
  auto& c = startController("ctl-a");
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(c); }, 15s));
  applyYaml("bad.yaml", serviceYaml("bad", {{"carplb.io/loadBalancerIPs", "192.0.2.300"}}));
  ASSERT_TRUE(eventually([&] { return hasEvent("bad", "Warning", "InvalidAnnotation"); }, 5s));
  ok("annotate --overwrite svc bad carplb.io/loadBalancerIPs=192.0.2.204");
  ASSERT_TRUE(eventually([&] { return assigned("bad", {"192.0.2.204"}); }, 5s)) << service("bad").dump(2);
  ok("annotate --overwrite svc bad carplb.io/loadBalancerIPs=192.0.2.300");
  auto warnings = [&] {
    std::vector<json> out;
    for (const auto& e : eventsFor("bad")) {
      if (e.value("reason", "") == "InvalidAnnotation") out.push_back(e);
    }
    return out;
  };
  ASSERT_TRUE(eventually([&] {
    auto w = warnings();
    return w.size() == 1u && w[0].value("count", 0) == 2;
  }, 5s)) << json(warnings()).dump(2);
}

// The chart without services/status: the controller's status writes get the API server's 403.
// The controller keeps leading, logs the refusal with the server's message, does everything it
// is allowed to do (finalizer, VirtualIP), publishes no address, retries with backoff (no hot
// loop), and the double logs every denial.
class ControllerForbidden : public ControllerFlow {
protected:
  std::string policy() override {
    std::ifstream in(ManifestsFile);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string grant = "resources: [services/status]";
    size_t at = text.find(grant);
    EXPECT_NE(at, std::string::npos) << "manifests/carplb.yaml no longer grants " << grant;
    if (at != std::string::npos) text.replace(at, grant.size(), "resources: [services/scale]");
    expectAllAllowed_ = false;
    return file("rbac-without-service-status.yaml", text);
  }
};

TEST_F(ControllerForbidden, StatusWriteRefusedWith403IsLoggedAndRetriedWithBackoff) {
  auto& c = startController("ctl-a");
  ASSERT_TRUE(eventually([&] { return leadingAndSynced(c); }, 15s)) << "RBAC without services/status broke start-up";
  applyYaml("web.yaml", serviceYaml("web"));
  // Allowed: the finalizer (services patch) and the VirtualIP.
  ASSERT_TRUE(eventually([&] { return hasFinalizer(service("web")) && vipList().size() == 1u; }, 10s))
      << service("web").dump(2) << vipList().dump(2);
  ASSERT_TRUE(eventually([&] { return !deniedRequests(controllerAuthz()).empty(); }, 10s));
  json denied = deniedRequests(controllerAuthz());
  for (const auto& r : denied) {
    EXPECT_EQ(r.value("verb", ""), "patch") << r.dump();
    EXPECT_EQ(r.value("resource", ""), "services/status") << r.dump();
    EXPECT_EQ(r.value("namespace", ""), "default") << r.dump();
    EXPECT_EQ(r.value("message", ""), "services \"web\" is forbidden: User \"" + ControllerUser +
                                          "\" cannot patch resource \"services/status\" in API group \"\" in the namespace \"default\"");
  }
  // The double logged the denial; the controller logged the server's message.
  EXPECT_NE(double_->log().find("msg=forbidden"), std::string::npos);
  EXPECT_NE(double_->log().find("resource=services/status"), std::string::npos) << tail(double_->log(), 3000);
  EXPECT_TRUE(eventually([&] { return c.proc->log().find("cannot patch resource") != std::string::npos; }, 10s))
      << c.proc->log();
  // Nothing published, the controller is alive and still the leader.
  EXPECT_TRUE(ingressOf(service("web")).empty());
  EXPECT_TRUE(c.proc->running());
  EXPECT_TRUE(readyz(c));
  // Retried, but with backoff: few refusals per second (observed over a fixed window).
  auto deniedCount = [&] { return controllerAuthz().value("denied", 0); };
  const int before = deniedCount();
  std::this_thread::sleep_for(5s);  // observing the retry rate, not waiting for an event
  const int during = deniedCount() - before;
  EXPECT_LE(during, 25) << "the controller retries a 403 in a hot loop: " << during << " refusals in 5 s";
  std::cout << "[ rbac     ] " << during << " refused status writes in 5 s\n";
  // Other calls were all allowed.
  json authz = controllerAuthz();
  for (const auto& r : authz.value("requests", json::array())) {
    if (!r.value("allowed", true)) {
      EXPECT_EQ(r.value("resource", ""), "services/status") << r.dump();
    }
  }
  EXPECT_TRUE(c.proc->running());
}

}  // namespace
}  // namespace carplb::controller::apptest
