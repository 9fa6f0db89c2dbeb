// The double against real kubectl binaries: the machine's own (/usr/bin/kubectl) and the
// pinned one (.tools/bin/kubectl from scripts/install-kube-tools). A missing binary FAILS.
// Each test uses a fresh --cache-dir (discovery is cached by kubectl).
#include "kube_double/double_process.h"
#include "kube_double/http_test_client.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

namespace carplb::kubedouble {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct KubectlRun {
  int exitCode = -1;
  std::string output;  // stdout + stderr
};

class KubectlTest : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    const std::string& bin = GetParam();
    ASSERT_EQ(::access(bin.c_str(), X_OK), 0) << "kubectl binary " << bin
                                              << " is missing (install it: scripts/install-kube-tools)";
    std::string tmpl = (std::filesystem::temp_directory_path() / "carplb-kubectl-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    work_ = tmpl;
  }
  void TearDown() override {
    double_.reset();
    std::error_code ec;
    std::filesystem::remove_all(work_, ec);
  }
  void startDouble(std::vector<std::string> args = {}) {
    auto d = DoubleProcess::start(CARPLB_KUBE_DOUBLE_BIN, args);
    ASSERT_TRUE(d.ok()) << d.error().message;
    double_ = std::move(d).value();
  }
  std::string file(const std::string& name, const std::string& content) {
    std::string path = work_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
  static std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
      out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
  }
  std::string command(const std::string& args, const std::string& prefix = "") {
    return prefix + quote(GetParam()) + " --kubeconfig " + quote(double_->kubeconfig()) + " --cache-dir " +
           quote(work_ + "/cache") + " --request-timeout 20s " + args + " 2>&1";
  }
  KubectlRun kubectl(const std::string& args, const std::string& prefix = "") {
    KubectlRun r;
    FILE* p = ::popen(command(args, prefix).c_str(), "r");
    if (!p) {
      return r;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
      r.output.append(buf, n);
    }
    int status = ::pclose(p);
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }
  KubectlRun ok(const std::string& args) {
    KubectlRun r = kubectl(args);
    EXPECT_EQ(r.exitCode, 0) << "kubectl " << args << "\n" << r.output << "\ndouble log:\n" << double_->log();
    return r;
  }
  void waitForWatchers(int n) {
    for (int i = 0; i < 100; ++i) {
      auto st = testing::httpRequest(double_->port(), "GET", "/_double/state").json();
      if (st.is_object() && st.value("watchers", 0) >= n) {
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "no watch reached the double";
  }
  static std::string crdFile() { return std::string(CARPLB_SOURCE_DIR) + "/charts/carplb/crds/virtualips.carplb.io.yaml"; }

  std::string work_;
  std::unique_ptr<DoubleProcess> double_;
};

constexpr const char* VipYaml = R"(apiVersion: carplb.io/v1alpha1
kind: VirtualIP
metadata:
  name: vip-192-0-2-10
spec:
  address: 192.0.2.10
  vhid: 10
)";

constexpr const char* ServiceYaml = R"(apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations:
    carplb.io/address: 192.0.2.10
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
)";

constexpr const char* NodeJson = R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a",
 "labels":{"node-role.kubernetes.io/worker":""}},"status":{"conditions":[{"type":"Ready","status":"True"}],
 "nodeInfo":{"kubeletVersion":"v1.36.0"},"addresses":[{"type":"InternalIP","address":"192.0.2.1"}]}})";

TEST_P(KubectlTest, ApplyCrdThenGetVipPrintsPrinterColumnsAndWaitForCondition) {
  startDouble();
  EXPECT_NE(ok("apply -f " + quote(crdFile())).output.find("virtualips.carplb.io created"), std::string::npos);
  EXPECT_NE(ok("apply -f " + quote(crdFile())).output.find("unchanged"), std::string::npos);
  ok("apply -f " + quote(file("vip.yaml", VipYaml)));
  ok("patch vip vip-192-0-2-10 --subresource=status --type=merge -p "
     "'{\"status\":{\"master\":\"node-a\",\"backupSummary\":\"node-b(100)\",\"serviceSummary\":\"default/web\","
     "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}'");
  KubectlRun get = ok("get vip");
  EXPECT_NE(get.output.find("NAME"), std::string::npos) << get.output;
  for (const char* col : {"ADDRESS", "VHID", "MASTER", "BACKUPS", "SERVICES", "AGE"}) {
    EXPECT_NE(get.output.find(col), std::string::npos) << col << "\n" << get.output;
  }
  for (const char* cell : {"vip-192-0-2-10", "192.0.2.10", "node-a", "node-b(100)", "default/web"}) {
    EXPECT_NE(get.output.find(cell), std::string::npos) << cell << "\n" << get.output;
  }
  EXPECT_NE(ok("get virtualips -o yaml").output.find("vhid: 10"), std::string::npos);
  EXPECT_NE(ok("wait --for=condition=Ready vip/vip-192-0-2-10 --timeout=10s").output.find("condition met"),
            std::string::npos);
  EXPECT_NE(ok("get crd").output.find("virtualips.carplb.io"), std::string::npos);
}

TEST_P(KubectlTest, ServiceAnnotateLabelApplyDescribeDelete) {
  startDouble();
  const std::string svcFile = file("svc.yaml", ServiceYaml);
  EXPECT_NE(ok("apply -f " + quote(svcFile)).output.find("service/web created"), std::string::npos);
  KubectlRun wide = ok("get svc -o wide");
  for (const char* s : {"CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "SELECTOR", "LoadBalancer", "<pending>", "app=web",
                        "198.51.100."}) {
    EXPECT_NE(wide.output.find(s), std::string::npos) << s << "\n" << wide.output;
  }
  ok("annotate svc web example.com/note=hello");
  ok("label svc web tier=front");
  KubectlRun yaml = ok("get svc web -o yaml");
  EXPECT_NE(yaml.output.find("example.com/note: hello"), std::string::npos) << yaml.output;
  EXPECT_NE(yaml.output.find("tier: front"), std::string::npos) << yaml.output;
  EXPECT_NE(yaml.output.find("kubectl.kubernetes.io/last-applied-configuration"), std::string::npos);
  std::string changed = ServiceYaml;
  changed.replace(changed.find("port: 80"), 8, "port: 81");
  EXPECT_NE(ok("apply -f " + quote(file("svc2.yaml", changed))).output.find("configured"), std::string::npos);
  KubectlRun ports = ok("get svc web -o jsonpath='{.spec.ports[0].port} {.metadata.annotations.example\\.com/note}'");
  EXPECT_EQ(ports.output, "81 hello");
  const std::string uid = ok("get svc web -o jsonpath='{.metadata.uid}'").output;
  json event = {{"apiVersion", "v1"}, {"kind", "Event"},
                {"metadata", {{"name", "web.vip"}, {"namespace", "default"}}},
                {"involvedObject", {{"kind", "Service"}, {"name", "web"}, {"namespace", "default"},
                                    {"uid", uid}, {"apiVersion", "v1"}}},
                {"reason", "VIPAssigned"}, {"message", "assigned 192.0.2.10"}, {"type", "Normal"}, {"count", 1},
                {"source", {{"component", "carplb-controller"}}}};
  ok("create -f " + quote(file("event.json", event.dump())));
  KubectlRun describe = ok("describe svc web");
  EXPECT_NE(describe.output.find("VIPAssigned"), std::string::npos) << describe.output;
  EXPECT_NE(describe.output.find("assigned 192.0.2.10"), std::string::npos) << describe.output;
  EXPECT_NE(ok("get events").output.find("service/web"), std::string::npos);
  EXPECT_NE(ok("delete svc web").output.find("deleted"), std::string::npos);
  KubectlRun gone = kubectl("get svc web");
  EXPECT_NE(gone.exitCode, 0);
  EXPECT_NE(gone.output.find("NotFound"), std::string::npos) << gone.output;
}

TEST_P(KubectlTest, CordonAndWatchNodes) {
  startDouble({"--seed", file("node.json", NodeJson)});
  KubectlRun plain = ok("get nodes");
  EXPECT_NE(plain.output.find("node-a   Ready"), std::string::npos) << plain.output;
  EXPECT_NE(plain.output.find("worker"), std::string::npos) << plain.output;
  EXPECT_NE(plain.output.find("v1.36.0"), std::string::npos) << plain.output;
  KubectlRun watch;
  std::thread watcher([&] { watch = kubectl("get nodes -w", "timeout 8 "); });
  waitForWatchers(1);
  EXPECT_NE(ok("cordon node-a").output.find("cordoned"), std::string::npos);
  watcher.join();
  EXPECT_NE(watch.output.find("Ready,SchedulingDisabled"), std::string::npos) << watch.output;
  EXPECT_NE(ok("get nodes").output.find("SchedulingDisabled"), std::string::npos);
  EXPECT_EQ(ok("get node node-a -o jsonpath='{.spec.unschedulable}'").output, "true");
  ok("uncordon node-a");
  EXPECT_EQ(ok("get node node-a -o jsonpath='{.spec.unschedulable}'").output, "");
}

TEST_P(KubectlTest, DeleteWaitsForFinalizers) {
  startDouble();
  ok("apply -f " + quote(file("cm.json", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held",
      "namespace":"default","finalizers":["example.com/hold"]},"data":{"a":"b"}})")));
  ok("delete cm held --wait=false");
  EXPECT_NE(ok("get cm held -o jsonpath='{.metadata.deletionTimestamp}'").output, "");
  KubectlRun wait;
  std::thread waiter([&] { wait = kubectl("wait --for=delete cm/held --timeout=15s"); });
  waitForWatchers(1);
  ok("patch cm held --type=merge -p '{\"metadata\":{\"finalizers\":null}}'");
  waiter.join();
  EXPECT_EQ(wait.exitCode, 0) << wait.output;
  EXPECT_NE(kubectl("get cm held").exitCode, 0);
}

TEST_P(KubectlTest, TlsAndBearerToken) {
  const std::string certDir = work_ + "/certs";
  std::filesystem::create_directories(certDir);
  startDouble({"--tls-self-signed", certDir, "--token", "s3cret-token"});
  KubectlRun ns = ok("get namespaces");
  EXPECT_NE(ns.output.find("kube-system"), std::string::npos) << ns.output;
  KubectlRun bad = kubectl("get namespaces --token wrong-token");
  EXPECT_NE(bad.exitCode, 0);
  EXPECT_NE(bad.output.find("nauthorized"), std::string::npos) << bad.output;
}

// --authorize with the chart's RBAC, over TLS (kubectl sends no bearer token to plain HTTP):
// kubectl acting as the controller's ServiceAccount prints the API server's Forbidden error.
TEST_P(KubectlTest, TlsRbacForbiddenForTheChartsServiceAccount) {
  const std::string certDir = work_ + "/certs";
  std::filesystem::create_directories(certDir);
  const std::string user = "system:serviceaccount:carplb-system:carplb-controller";
  startDouble({"--tls-self-signed", certDir, "--token", "admin-token", "--authorize",
               CARPLB_SOURCE_DIR "/manifests/carplb.yaml", "--authorize-token", "ctl-token=" + user});
  KubectlRun secrets = kubectl("get secrets -A --token ctl-token");
  EXPECT_NE(secrets.exitCode, 0);
  EXPECT_NE(secrets.output.find("Error from server (Forbidden): secrets is forbidden: User \"" + user +
                                "\" cannot list resource \"secrets\" in API group \"\" at the cluster scope"),
            std::string::npos)
      << secrets.output;
  KubectlRun lease = kubectl("-n carplb-system get lease someone-else --token ctl-token");
  EXPECT_NE(lease.exitCode, 0);
  EXPECT_NE(lease.output.find("leases.coordination.k8s.io \"someone-else\" is forbidden: User \"" + user +
                              "\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in the "
                              "namespace \"carplb-system\""),
            std::string::npos)
      << lease.output;
  KubectlRun svcs = ok("get svc -A --token ctl-token");
  EXPECT_NE(svcs.output.find("kubernetes"), std::string::npos) << svcs.output;
  ok("get secrets -A");  // the administrator (kubeconfig token)
}

INSTANTIATE_TEST_SUITE_P(Binaries, KubectlTest,
                         ::testing::Values(std::string("/usr/bin/kubectl"),
                                           std::string(CARPLB_SOURCE_DIR) + "/.tools/bin/kubectl"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.index == 0 ? std::string("System") : std::string("Pinned");
                         });

}  // namespace
}  // namespace carplb::kubedouble
