// carplb-cluster-lab: the whole cluster in network namespaces (run by scripts/demo-cluster).
//
//   carplb-cluster-lab demo [--keep] [--state FILE] [--timers ADVBASE/ADVSKEW/SPACING]
//       control plane (carplb-kube-double + carplb-controller) at 192.0.2.2, 3 nodes with one
//       carplb-agent each, a client probing every VIP. Creates 3 LoadBalancer Services with
//       VIP annotations, shows `kubectl get vip` with each node mastering one, crashes node1,
//       shows the probes move and what was lost, brings node1 back, shows the balance
//       restored, prints a report and cleans up. --keep leaves it running and prints the
//       kubeconfig and the commands to try by hand.
//   carplb-cluster-lab clean [--state FILE]
//       stops the processes (by PID) and removes the namespaces of a kept lab.
#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "bench/probe/prober.h"
#include "tests/e2e/cluster/cluster_lab.h"
#include "tests/e2e/lab/kept_lab.h"

using namespace std::chrono_literals;
using namespace carplb;
using namespace carplb::e2e;
using namespace carplb::e2e::cluster;
using carplb::bench::probe::Prober;
using carplb::bench::probe::toMs;

namespace {

const char* DefaultState = "/tmp/carplb-cluster-demo.state";
const char* Tag = "cdemo";

struct Options {
  bool keep = false;
  ClusterTimers timers = ClusterTimers::fromEnv();
  std::string state = DefaultState;
};

void say(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
}

void sayIndented(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    say("   | " + line);
  }
}

int clean(const Options& o) {
  if (!cleanKeptLab(o.state, Tag, std::chrono::seconds(3), say)) {
    say("carplb-cluster-lab clean: no kept lab (" + o.state + " does not exist)");
    return 0;
  }
  say("cluster lab removed");
  return 0;
}

std::string fmt(const char* f, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}

int demo(const Options& o) {
  if (std::filesystem::exists(o.state)) {
    say("a kept cluster lab is still running (" + o.state + "): run `scripts/demo-cluster --clean` first");
    return 1;
  }
  const auto t0 = MonoClock::now();
  auto stamp = [&] { return fmt("[%5.1fs] ", std::chrono::duration<double>(MonoClock::now() - t0).count()); };
  auto step = [&](const std::string& s) { say(stamp() + "== " + s); };

  ClusterLabOptions lo;
  lo.tag = Tag;
  lo.nodes = 3;
  lo.timers = o.timers;
  lo.processesOutliveUs = o.keep;
  lo.probeProcesses = o.keep;  // a kept lab needs responders that outlive us
  step("building the lab: switch, control plane 192.0.2.2, node1..3 192.0.2.11-13, client 192.0.2.100");
  auto clR = ClusterLab::create(lo);
  if (!clR) {
    say("cannot build the lab: " + clR.error().message);
    return 1;
  }
  auto& cl = **clR;
  say("   namespaces " + cl.lab().prefix() + "-{sw,cp,n1,n2,n3,c}; files and logs in " + cl.workDir());
  step("starting carplb-kube-double (API server double, 127.0.0.1:6443 in cp) with the VirtualIP CRD and 3 Nodes");
  if (auto s = cl.startApi(); !s) {
    say("   " + s.error().message);
    return 1;
  }
  step("starting carplb-controller (gRPC 192.0.2.2:9443, TLS + agent token; timers " + lo.timers.toString() + ")");
  if (auto s = cl.startController(); !s) {
    say("   " + s.error().message);
    return 1;
  }
  step("starting carplb-agent on node1..3 (cluster mode) and a UDP responder on each node");
  for (int i = 1; i <= 3; ++i) {
    if (auto s = cl.startAgent(i); !s) {
      say("   " + s.error().message);
      return 1;
    }
  }
  if (auto s = cl.startResponders(); !s) {
    say("   " + s.error().message);
    return 1;
  }
  bool connected = waitFor(
      [&] {
        auto st = cl.controllerState();
        if (!st || !st->contains("agents")) {
          return false;
        }
        int n = 0;
        for (const auto& a : (*st)["agents"]) {
          n += a.value("connected", false) ? 1 : 0;
        }
        return n == 3;
      },
      15s, 100ms);
  say(std::string("   agents connected to the controller: ") + (connected ? "3/3" : "NOT ALL (see agent-node*.log)"));
  if (!connected) {
    return 1;
  }

  const std::vector<std::string> vips = {vipAddress(0), vipAddress(1), vipAddress(2)};
  step("creating 3 LoadBalancer Services (class carplb.io/carp): web-a, web-b, web-c with carplb.io/loadBalancerIPs");
  const char* names[] = {"web-a", "web-b", "web-c"};
  for (size_t i = 0; i < vips.size(); ++i) {
    if (auto s = cl.createService(names[i], {{"carplb.io/loadBalancerIPs", vips[i]}}); !s) {
      say("   " + s.error().message);
      return 1;
    }
    say("   service " + std::string(names[i]) + " -> " + vips[i]);
  }

  auto sock = cl.client().ns.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (!sock) {
    say(sock.error().message);
    return 1;
  }
  bench::probe::ProberOptions po;
  po.targets = vips;
  auto proberR = Prober::start(po, std::move(*sock));
  if (!proberR) {
    say(proberR.error().message);
    return 1;
  }
  auto& prober = **proberR;
  auto current = [&](size_t t) {
    auto s = prober.summarySince(t, prober.elapsed() - 300ms);
    return s.lastResponder ? *s.lastResponder : std::string("(nobody)");
  };
  auto line = [&](const std::string& what) {
    std::string l = stamp() + "  ";
    for (size_t t = 0; t < vips.size(); ++t) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s->%-8s lost %-4llu ", vips[t].c_str(), current(t).c_str(),
                    static_cast<unsigned long long>(prober.summary(t).lost));
      l += buf;
    }
    say(l + " " + what);
  };
  auto steadyOn = [&](size_t t) -> std::string {
    auto s = prober.summarySince(t, prober.elapsed() - po.timeout - 400ms);
    if (s.sent > 0 && s.lost == 0 && s.segments.size() == 1) {
      return s.segments.front().responder;
    }
    return "";
  };
  auto balanced = [&] {
    std::set<std::string> nodes;
    for (size_t t = 0; t < vips.size(); ++t) {
      auto n = steadyOn(t);
      if (n.empty()) {
        return false;
      }
      nodes.insert(n);
    }
    return nodes.size() == vips.size();
  };
  auto watch = [&](const std::function<bool()>& done, Duration timeout, const std::string& what) {
    auto deadline = MonoClock::now() + timeout;
    auto next = MonoClock::now();
    while (MonoClock::now() < deadline) {
      if (MonoClock::now() >= next) {
        line(what);
        next += 1s;
      }
      if (done()) {
        line(what + " -> done");
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    line(what + " -> TIMED OUT");
    return false;
  };
  auto showVips = [&] {
    if (auto out = cl.kubectl({"get", "vip"}); out) {
      say("   $ kubectl get vip");
      sayIndented(*out);
    } else if (auto v = cl.virtualIps(); v) {
      for (const auto& item : *v) {
        const auto spec = item.value("spec", nlohmann::json::object());
        const auto status = item.value("status", nlohmann::json::object());
        say("   vip " + spec.value("address", "?") + " vhid " + std::to_string(spec.value("vhid", 0)) + " master " +
            status.value("master", "?") + " actual " + status.value("actualMaster", "?"));
      }
    }
  };
  step("the client (192.0.2.100) probes every VIP over UDP every 10 ms; waiting until each node masters one");
  bool ok = watch(balanced, 20s, "waiting for balance");
  std::this_thread::sleep_for(1s);  // let the agents' reports reach the VirtualIP status
  showVips();
  std::vector<std::string> report;
  std::map<std::string, std::string> firstOwner;
  for (size_t t = 0; t < vips.size(); ++t) {
    firstOwner[steadyOn(t)] = vips[t];
  }
  if (ok) {
    const std::string lostVip = firstOwner.count("node1") ? firstOwner["node1"] : vips[0];
    const size_t lostIdx = static_cast<size_t>(std::find(vips.begin(), vips.end(), lostVip) - vips.begin());
    step("crash node1: SIGKILL its agent and pull its link (it was master of " + lostVip + ")");
    auto t = prober.elapsed();
    cl.crashAgent(1);
    (void)cl.lab().linkDown(cl.node(1));
    ok = watch([&] { auto n = steadyOn(lostIdx); return !n.empty() && n != "node1"; }, 20s, "node1 is down");
    std::this_thread::sleep_for(po.timeout + 100ms);
    auto s = prober.summarySince(lostIdx, t);
    uint64_t others = 0;
    for (size_t i = 0; i < vips.size(); ++i) {
      if (i != lostIdx) {
        others += prober.summarySince(i, t).lost;
      }
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, "node1 crash:  %s answered by %s after %.0f ms (%llu probes lost); other VIPs lost %llu",
                  lostVip.c_str(), s.lastResponder ? s.lastResponder->c_str() : "nobody", toMs(s.longestOutage),
                  static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(others));
    report.push_back(buf);
    say("   " + report.back());
    showVips();
  }
  if (ok) {
    step("node1 comes back: rebooted (no VIPs bound), link up, agent restarted");
    auto t = prober.elapsed();
    (void)cl.lab().flushVips(cl.node(1));
    (void)cl.lab().linkUp(cl.node(1));
    ok = cl.startAgent(1).ok();
    ok = ok && watch([&] {
      if (!balanced()) {
        return false;
      }
      for (size_t i = 0; i < vips.size(); ++i) {
        if (steadyOn(i) == "node1") {
          return true;
        }
      }
      return false;
    }, 40s, "node1 is back");
    std::this_thread::sleep_for(1s);
    uint64_t lost = 0;
    std::string who;
    for (size_t i = 0; i < vips.size(); ++i) {
      lost += prober.summarySince(i, t).lost;
      who += (who.empty() ? "" : ", ") + vips[i] + " on " + steadyOn(i);
    }
    report.push_back("node1 return: " + who + "; " + std::to_string(lost) + " probes lost while moving back");
    say("   " + report.back());
    showVips();
  }
  prober.stop();
  say(stamp() + "== report");
  for (const auto& r : report) {
    say("   " + r);
  }
  if (auto m = cl.controllerMetrics(); m) {
    std::istringstream in(*m);
    std::string l;
    while (std::getline(in, l)) {
      if (l.rfind("carplb_controller_snapshots_sent_total", 0) == 0 || l.rfind("carplb_controller_agents_connected", 0) == 0) {
        say("   " + l);
      }
    }
  }
  if (auto f = cl.forbiddenApiRequests(); f) {
    say("   controller API requests refused by the chart's RBAC: " + std::to_string(*f));
    ok = ok && *f == 0;
  } else {
    say("   controller API requests refused by the chart's RBAC: unknown (" + f.error().message + ")");
  }
  say(std::string("   result: ") + (ok ? "OK, balance restored" : "FAILED (see the logs in " + cl.workDir() + ")"));
  if (!o.keep) {
    step("cleaning up: processes (by PID), namespaces, " + cl.workDir());
    return ok ? 0 : 1;
  }
  const std::string prefix = cl.lab().prefix(), workDir = cl.workDir(), kubeconfig = cl.kubeconfigPath();
  const std::string kubectl = cl.kubectlCommand();
  auto pids = cl.release();
  if (auto w = writeKeptLab(o.state, KeptLab{prefix, workDir, pids}); !w) {
    say(w.error().message);
  }
  const std::string probe = ClusterBinaries::fromBuild().probe;
  say("== the cluster lab keeps running. kubeconfig: " + kubeconfig + " (server http://127.0.0.1:6443 inside " + prefix + "-cp)");
  say("   alias k='" + kubectl + "'");
  say("   k get vip -o wide                      # planned master, backups, actual master");
  say("   k get vip -w                           # watch VIPs move (crash a node in another shell)");
  say("   k get svc; k describe svc web-a        # ingress IP, conditions, Events");
  say("   k get events");
  say("   k create -f - <<<'{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web-d\",\"annotations\":{\"carplb.io/loadBalancerIPs\":\"192.0.2.203\"}},\"spec\":{\"type\":\"LoadBalancer\",\"loadBalancerClass\":\"carplb.io/carp\",\"ports\":[{\"port\":7777,\"protocol\":\"UDP\"}]}}'");
  say("   k annotate node node2 carplb.io/draining=true   # move node2's VIPs away (and --overwrite ...=false)");
  say("   ip netns exec " + prefix + "-c " + probe + " probe --target 192.0.2.200 --target 192.0.2.201 --target 192.0.2.202 --progress-ms 500 --duration-ms 10000");
  say("   ip netns exec " + prefix + "-cp curl -s http://127.0.0.1:9090/state          # controller: agents, plan");
  say("   ip netns exec " + prefix + "-n1 curl -s http://127.0.0.1:9464/state          # agent on node1");
  say("   ip -n " + prefix + "-n1 link set carplb-eth0 down       # pull node1's cable (up again: ... up)");
  say("   logs: " + workDir + "/{controller,kube-double,agent-node1..3}.log");
  say("   remove it all: scripts/demo-cluster --clean");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: carplb-cluster-lab demo [--keep] [--state FILE] [--timers ADVBASE/ADVSKEW/SPACING]\n"
                         "       carplb-cluster-lab clean [--state FILE]\n");
    return 2;
  }
  std::string mode = argv[1];
  Options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--keep") {
      o.keep = true;
    } else if (a == "--state" && i + 1 < argc) {
      o.state = argv[++i];
    } else if (a == "--timers" && i + 1 < argc) {
      auto t = ClusterTimers::parse(argv[++i]);
      if (!t) {
        std::fprintf(stderr, "carplb-cluster-lab: --%s\n", t.error().message.c_str());
        return 2;
      }
      o.timers = *t;
    } else {
      std::fprintf(stderr, "carplb-cluster-lab: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (mode == "clean") {
    return clean(o);
  }
  if (mode != "demo") {
    std::fprintf(stderr, "carplb-cluster-lab: unknown mode '%s' (demo or clean)\n", mode.c_str());
    return 2;
  }
  sweepOwnNamespaces();
  cleanupOnSignals();  // Ctrl-C during the demo still removes the lab
  return demo(o);
}
