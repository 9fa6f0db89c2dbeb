// carplb-informer-bench: memory and CPU of the controller's informers with many objects.
//
// Starts the API server double (a separate process, so its memory is not counted) seeded with
// N Services and M Nodes, then in this process:
//   1. parse: fetches the Service list body once and times only the parsing into typed views
//      (parseObjectList + parseService per item);
//   2. sync: runs a Service informer and a Node informer (paged list, limit 500, then watch) and
//      reports wall time to "synced", CPU time (user+sys of this process, all threads), RSS
//      after sync and peak RSS (VmHWM);
//   3. idle: CPU used while both watches sit idle for --idle-seconds.
//   4. reference (--kubectl PATH): kubectl get services -A -o json against the same server under
//      /usr/bin/time -v (client-go's RSS and CPU for the same list).
// Usage: carplb-informer-bench --double PATH [--services N] [--nodes N] [--idle-seconds S] [--kubectl PATH]
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "controller/kube/client_config_loader.h"
#include "controller/kube/informer.h"
#include "controller/kube/model/resources.h"
#include "controller/kube/model/watch.h"
#include "controller/kube/rest_client.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

using namespace carplb;
using namespace carplb::controller::kube;
using Json = nlohmann::json;

namespace {

long statusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      return std::stol(line.substr(std::strlen(field)));
    }
  }
  return -1;
}

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double cpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// A Service the way a cluster holds it: labels, a kubectl last-applied annotation, our
// annotation, two ports, dual-stack fields, a status with one ingress.
Json makeService(int i) {
  char name[32], ns[32], ip[32];
  std::snprintf(name, sizeof name, "svc-%05d", i);
  std::snprintf(ns, sizeof ns, "team-%03d", i % 100);
  std::snprintf(ip, sizeof ip, "198.51.100.%d", i % 250 + 1);
  char clusterIp[48];  // the double allocates only a /24 itself: give every Service its own
  std::snprintf(clusterIp, sizeof clusterIp, "2001:db8:5e::%x", i + 1);
  Json spec = {{"type", "LoadBalancer"},
               {"clusterIP", clusterIp},
               {"selector", {{"app", name}}},
               {"ports", {{{"name", "http"}, {"protocol", "TCP"}, {"port", 80}, {"targetPort", 8080}},
                          {{"name", "https"}, {"protocol", "TCP"}, {"port", 443}, {"targetPort", 8443}}}},
               {"externalTrafficPolicy", i % 3 == 0 ? "Local" : "Cluster"},
               {"ipFamilies", {"IPv6"}},
               {"ipFamilyPolicy", "SingleStack"},
               {"sessionAffinity", "None"}};
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata",
               {{"name", name},
                {"namespace", ns},
                {"labels", {{"app", name}, {"app.kubernetes.io/part-of", "bench"}, {"tier", "frontend"}}},
                {"annotations", {{"carplb.io/addresses", ip}, {"kubectl.kubernetes.io/last-applied-configuration",
                                                                Json({{"apiVersion", "v1"}, {"kind", "Service"},
                                                                      {"metadata", {{"name", name}, {"namespace", ns}}},
                                                                      {"spec", spec}}).dump()}}}}},
              {"spec", spec},
              {"status", {{"loadBalancer", {{"ingress", {{{"ip", ip}, {"ipMode", "VIP"}}}}}}}}};
  return svc;
}

// A Node close to a real kubelet's: labels, annotations, capacity, 5 conditions, addresses,
// nodeInfo and 20 images.
Json makeNode(int i) {
  char name[32], addr[32];
  std::snprintf(name, sizeof name, "node-%04d", i);
  std::snprintf(addr, sizeof addr, "203.0.113.%d", i % 250 + 1);
  Json conditions = Json::array();
  for (const char* t : {"MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable", "Ready"}) {
    bool ready = std::string(t) == "Ready";
    conditions.push_back({{"type", t}, {"status", ready ? "True" : "False"},
                          {"lastHeartbeatTime", "2026-11-25T14:00:00Z"}, {"lastTransitionTime", "2026-11-01T00:00:00Z"},
                          {"reason", ready ? "KubeletReady" : std::string("KubeletHas") + t},
                          {"message", ready ? "kubelet is posting ready status" : "kubelet has no pressure"}});
  }
  Json images = Json::array();
  for (int k = 0; k < 20; ++k) {
    std::string img = "registry.example/team/image-" + std::to_string(k);
    images.push_back({{"names", {img + "@sha256:" + std::string(64, 'a' + static_cast<char>(k % 6)), img + ":v1." + std::to_string(k)}},
                      {"sizeBytes", 10000000 + k * 1000}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", name},
            {"labels", {{"kubernetes.io/hostname", name}, {"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", "amd64"},
                        {"node.kubernetes.io/instance-type", "metal"}, {"topology.kubernetes.io/zone", "zone-" + std::to_string(i % 3)},
                        {"topology.kubernetes.io/region", "region-1"}}},
            {"annotations", {{"node.alpha.kubernetes.io/ttl", "0"}, {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}}}},
          {"spec", {{"podCIDR", "10.244." + std::to_string(i % 250) + ".0/24"}}},
          {"status",
           {{"capacity", {{"cpu", "32"}, {"memory", "131900000Ki"}, {"pods", "110"}, {"ephemeral-storage", "900000000Ki"}}},
            {"allocatable", {{"cpu", "31"}, {"memory", "131000000Ki"}, {"pods", "110"}, {"ephemeral-storage", "800000000Ki"}}},
            {"conditions", conditions},
            {"addresses", {{{"type", "InternalIP"}, {"address", addr}}, {{"type", "Hostname"}, {"address", name}}}},
            {"nodeInfo", {{"machineID", std::string(32, '1')}, {"systemUUID", std::string(36, '2')}, {"bootID", std::string(36, '3')},
                          {"kernelVersion", "6.1.0-27-amd64"}, {"osImage", "Debian GNU/Linux 12 (bookworm)"},
                          {"containerRuntimeVersion", "containerd://1.7.22"}, {"kubeletVersion", "v1.35.0"},
                          {"operatingSystem", "linux"}, {"architecture", "amd64"}}},
            {"images", images}}}};
}

// carplb-kube-double as a child process (seeding 11 000 objects takes longer than the test
// helper's 10 s start-up limit). Stopped by PID with SIGTERM.
class DoubleChild {
public:
  DoubleChild(const std::string& bin, const std::string& dir, const std::string& seed) : dir_(dir) {
    std::vector<std::string> argv = {bin, "--listen", "127.0.0.1:0", "--port-file", dir + "/port", "--kubeconfig-out",
                                     dir + "/kubeconfig", "--seed", seed, "--bookmark-interval", "3600",
                                     "--log-level", "warn"};
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> c;
      for (auto& a : argv) c.push_back(a.data());
      c.push_back(nullptr);
      ::execv(bin.c_str(), c.data());
      std::_Exit(127);
    }
  }
  ~DoubleChild() { stop(); }
  Status waitReady(Duration timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(dir_ + "/port");
      int port = 0;
      if (in >> port && port > 0) return okStatus();
      int status = 0;
      if (pid_ <= 0 || ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return makeError("carplb-kube-double exited early");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return makeError("carplb-kube-double not ready in time");
  }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

private:
  std::string dir_;
  pid_t pid_ = -1;
};

class CountingHandler : public InformerHandler {
public:
  void onAdd(const ObjectPtr&) override { ++adds; }
  void onUpdate(const ObjectPtr&, const ObjectPtr&) override { ++updates; }
  void onDelete(const ObjectPtr&) override { ++deletes; }
  std::atomic<size_t> adds{0}, updates{0}, deletes{0};
};

}  // namespace

int main(int argc, char** argv) {
  std::string doubleBin, kubectl;
  int services = 10000, nodes = 1000, idleSeconds = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--double") doubleBin = next();
    else if (a == "--services") services = std::stoi(next());
    else if (a == "--nodes") nodes = std::stoi(next());
    else if (a == "--idle-seconds") idleSeconds = std::stoi(next());
    else if (a == "--kubectl") kubectl = next();
    else {
      std::cerr << "usage: carplb-informer-bench --double PATH [--services N] [--nodes N] [--idle-seconds S] [--kubectl PATH]\n";
      return 2;
    }
  }
  if (doubleBin.empty()) {
    std::cerr << "--double PATH (carplb-kube-double) is required\n";
    return 2;
  }

  // Seed file in a private temp dir, written item by item (no big document in this process).
  std::string dir = (std::filesystem::temp_directory_path() / ("carplb-informer-bench-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  std::string seed = dir + "/seed.json";
  {
    std::ofstream out(seed);
    out << R"({"apiVersion":"v1","kind":"List","items":[)";
    bool first = true;
    auto emit = [&](const Json& j) {
      out << (first ? "" : ",") << j.dump();
      first = false;
    };
    for (int i = 0; i < 100 && i < services; ++i) {
      char ns[32];
      std::snprintf(ns, sizeof ns, "team-%03d", i);
      emit({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    }
    for (int i = 0; i < services; ++i) emit(makeService(i));
    for (int i = 0; i < nodes; ++i) emit(makeNode(i));
    out << "]}";
  }
  DoubleChild dbl(doubleBin, dir, seed);
  if (auto st = dbl.waitReady(std::chrono::seconds(120)); !st.ok()) {
    std::cerr << "starting the API double: " << st.error().message << "\n";
    return 1;
  }
  auto cfg = loadKubeconfig(dir + "/kubeconfig");
  if (!cfg.ok()) {
    std::cerr << cfg.error().message << "\n";
    return 1;
  }
  SystemClock clock;
  RestClientOptions ro;
  ro.qps = 50;  // list pages would otherwise be throttled by the 5 QPS default
  ro.burst = 100;
  auto client = RestClient::create(*cfg, ro, clock, Logger("bench", LogLevel::Warn));
  if (!client.ok()) {
    std::cerr << client.error().message << "\n";
    return 1;
  }
  std::ofstream("/proc/self/clear_refs") << "5";  // reset VmHWM: measure from here
  long rssStart = statusKb("VmRSS:");

  // 1. Informers.
  CountingHandler svcHandler, nodeHandler;
  InformerOptions so;
  so.resource = "services";
  so.collectionPath = "/api/v1/services";
  InformerOptions no;
  no.resource = "nodes";
  no.collectionPath = "/api/v1/nodes";
  Informer svcInf(**client, so, svcHandler, Logger("bench", LogLevel::Warn));
  Informer nodeInf(**client, no, nodeHandler, Logger("bench", LogLevel::Warn));
  double cpu0 = cpuSeconds();
  auto s0 = std::chrono::steady_clock::now();
  svcInf.start();
  nodeInf.start();
  bool synced = svcInf.waitForSync(std::chrono::minutes(2)) && nodeInf.waitForSync(std::chrono::minutes(2));
  auto s1 = std::chrono::steady_clock::now();
  double cpu1 = cpuSeconds();
  long rssSynced = statusKb("VmRSS:");
  std::this_thread::sleep_for(std::chrono::seconds(idleSeconds));
  double cpu2 = cpuSeconds();
  long rssIdle = statusKb("VmRSS:");
  long hwm = statusKb("VmHWM:");
  svcInf.stop();
  nodeInf.stop();
  size_t cachedServices = svcInf.size(), cachedNodes = nodeInf.size();

  // 2. Parse only (after the informers, so their RSS numbers are not inflated by it).
  double fetchMs = 0, parseMs = 0, parseCpuMs = 0;
  size_t bodyBytes = 0, parsed = 0;
  {
    auto t0 = std::chrono::steady_clock::now();
    auto body = (*client)->request("GET", "/api/v1/services", std::nullopt, "");
    auto t1 = std::chrono::steady_clock::now();
    double c1 = threadCpuSeconds();
    if (!body.ok() || body->status != 200) {
      std::cerr << "list failed\n";
      return 1;
    }
    bodyBytes = body->body.size();
    auto list = parseObjectList(std::string_view(body->body), "services list");
    std::vector<Service> views;
    if (list.ok()) {
      views.reserve(list->items.size());
      for (auto& item : list->items) {
        auto s = parseService(std::move(item));
        if (s.ok()) views.push_back(std::move(*s));
      }
    }
    auto t2 = std::chrono::steady_clock::now();
    parseCpuMs = (threadCpuSeconds() - c1) * 1000.0;
    parsed = views.size();
    fetchMs = std::chrono::duration<double, std::milli>(t1 - t0).count();
    parseMs = std::chrono::duration<double, std::milli>(t2 - t1).count();
  }

  // 3. Reference: kubectl (client-go) listing the same Services from the same server, measured
  //    by /usr/bin/time -v in this run.
  std::string reference;
  if (!kubectl.empty()) {
    std::string out = dir + "/kubectl.time";
    std::string cmd = "/usr/bin/time -v " + kubectl + " --kubeconfig " + dir + "/kubeconfig --cache-dir " + dir +
                      "/kcache get services -A -o json --chunk-size=500 > /dev/null 2> " + out;
    int rc = std::system(cmd.c_str());
    std::ifstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      for (const char* k : {"Maximum resident set size", "User time", "System time", "Elapsed (wall clock)"}) {
        if (line.find(k) != std::string::npos) reference += "  kubectl:" + line + "\n";
      }
    }
    if (rc != 0) reference += "  kubectl exited with " + std::to_string(rc) + "\n";
  }

  (*client)->shutdown();
  dbl.stop();
  std::filesystem::remove_all(dir);

  std::printf("objects: services=%d nodes=%d (cached: services=%zu nodes=%zu, adds=%zu)\n", services, nodes,
              cachedServices, cachedNodes, svcHandler.adds.load() + nodeHandler.adds.load());
  std::printf("service list body (one GET, no paging): %.1f MB, fetch %.0f ms; parse into typed views %.0f ms wall, "
              "%.0f ms CPU (%zu services)\n",
              static_cast<double>(bodyBytes) / 1e6, fetchMs, parseMs, parseCpuMs, parsed);
  std::printf("informer sync (services+nodes, paged limit=500): %s in %.0f ms wall, %.2f s CPU\n",
              synced ? "synced" : "NOT SYNCED", std::chrono::duration<double, std::milli>(s1 - s0).count(), cpu1 - cpu0);
  std::printf("idle watch CPU over %d s: %.3f s\n", idleSeconds, cpu2 - cpu1);
  std::printf("RSS: start %.1f MB, after sync %.1f MB, after idle %.1f MB, peak (VmHWM) %.1f MB\n", rssStart / 1024.0,
              rssSynced / 1024.0, rssIdle / 1024.0, hwm / 1024.0);
  if (!reference.empty()) {
    std::printf("reference: kubectl get services -A -o json --chunk-size=500 (same server, same run)\n%s",
                reference.c_str());
  }
  return synced ? 0 : 1;
}
