// carplb-lab: the agent-only demo lab (run by scripts/demo, `make demo` / `make lab`).
//
//   carplb-lab demo --agent PATH --probe PATH [--daemon carplb|ucarp] [--keep] [--state FILE]
//       3 nodes + 1 client on a bridge (all in network namespaces), 2 VIPs mastered by node1
//       and node2 with mirrored advskew (node3 backs both up), the client probing both VIPs
//       every 10 ms. Kills node1 (SIGKILL + link down), shows the VIP move and what it cost,
//       brings node1 back, shows the balance restored, prints a report, cleans up.
//       --keep leaves the lab running and prints how to poke at it.
//   carplb-lab clean [--state FILE]
//       stops the processes and removes the namespaces of a kept lab.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "bench/probe/prober.h"
#include "tests/e2e/lab/daemons.h"
#include "tests/e2e/lab/kept_lab.h"
#include "tests/e2e/lab/netlab.h"

using namespace std::chrono_literals;
using namespace carplb;
using namespace carplb::e2e;
using carplb::bench::probe::Prober;
using carplb::bench::probe::toMs;

namespace {

const char* DefaultState = "/tmp/carplb-demo.state";

struct Options {
  std::string agent;
  std::string probe;
  std::string daemon = "carplb";
  bool keep = false;
  std::string state = DefaultState;
};

void say(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
}

int clean(const Options& o) {
  if (!cleanKeptLab(o.state, "demo", std::chrono::seconds(2), say)) {
    say("carplb-lab clean: no kept lab (" + o.state + " does not exist)");
    return 0;
  }
  say("lab removed");
  return 0;
}

int demo(const Options& o) {
  if (std::filesystem::exists(o.state)) {
    say("a kept lab is still running (" + o.state + "): run `scripts/demo --clean` first");
    return 1;
  }
  bool carplbDaemon = o.daemon == "carplb";
  if (carplbDaemon && (o.agent.empty() || !std::filesystem::exists(o.agent))) {
    say("carplb-agent not found at '" + o.agent + "' (build it, or try --daemon ucarp)");
    return 1;
  }
  const std::string vipA = vipAddress(0), vipB = vipAddress(1);
  int advbase = carplbDaemon ? 0 : 1;
  say("== carplb agent-only lab: 3 nodes + 1 client on a bridge, all in network namespaces");
  LabOptions lo;
  lo.tag = "demo";
  lo.nodes = 3;
  lo.processesOutliveUs = o.keep;
  auto labR = Lab::create(lo);
  if (!labR) {
    say("cannot build the lab: " + labR.error().message);
    return 1;
  }
  auto& lab = **labR;
  say("   namespaces " + lab.prefix() + "-{sw,n1,n2,n3,c}, bridge carplb-br0, logs in " + lab.workDir());
  std::vector<Process> procs;
  std::map<int, Process> daemons;
  for (int i = 1; i <= 3; ++i) {
    auto r = lab.spawn(lab.node(i), {o.probe, "respond", "--name", lab.node(i).name}, "probe-node" + std::to_string(i) + ".log");
    if (!r) {
      say("responder: " + r.error().message);
      return 1;
    }
    procs.push_back(std::move(*r));
  }
  auto startNode = [&](int node) -> bool {
    // Mirrored advskew: node1 prefers VIP A, node2 prefers VIP B, node3 backs both up.
    auto skew = [&](int vhid) { return node == 3 ? 80 : (vhid == node ? 20 : 40); };
    std::vector<VirtualHost> vhs;
    for (int vhid = 1; vhid <= 2; ++vhid) {
      VirtualHost vh;
      vh.vhid = vhid;
      vh.password = "demo";
      vh.vips = {vhid == 1 ? vipA : vipB};
      vh.advbase = advbase;
      vh.advskew = skew(vhid);
      vh.preempt = true;
      vhs.push_back(vh);
    }
    std::string log = o.daemon + "-node" + std::to_string(node) + ".log";
    if (carplbDaemon) {
      AgentOptions ao;
      ao.binary = o.agent;
      ao.vhosts = vhs;
      ao.statusPort = 9464;
      auto p = startAgent(lab, lab.node(node), ao, log);
      if (!p) {
        say("agent on node" + std::to_string(node) + ": " + p.error().message);
        return false;
      }
      daemons[node] = std::move(*p);
      return true;
    }
    // ucarp: one process per vhid; keep the first as the node's handle, the second in procs.
    for (const auto& vh : vhs) {
      auto p = startUcarp(lab, lab.node(node), vh, log);
      if (!p) {
        say("ucarp on node" + std::to_string(node) + ": " + p.error().message);
        return false;
      }
      if (vh.vhid == 1) {
        daemons[node] = std::move(*p);
      } else {
        daemons[node * 100] = std::move(*p);
      }
    }
    return true;
  };
  auto stopNode = [&](int node) {
    daemons[node].kill();
    if (daemons.count(node * 100)) {
      daemons[node * 100].kill();
    }
  };
  say("== starting " + std::string(carplbDaemon ? "carplb-agent" : "ucarp") + " on node1..3 (advbase " +
      std::to_string(advbase) + "; advskew node1 20/40, node2 40/20, node3 80/80)");
  for (int i = 1; i <= 3; ++i) {
    if (!startNode(i)) {
      return 1;
    }
  }
  auto sock = lab.client().ns.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (!sock) {
    say(sock.error().message);
    return 1;
  }
  bench::probe::ProberOptions po;
  po.targets = {vipA, vipB};
  auto proberR = Prober::start(po, std::move(*sock));
  if (!proberR) {
    say(proberR.error().message);
    return 1;
  }
  auto& prober = **proberR;
  auto now = [&](size_t t) {
    auto s = prober.summarySince(t, prober.elapsed() - 300ms);
    return s.lastResponder ? *s.lastResponder : std::string("(nobody)");
  };
  auto line = [&](const std::string& what) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "   t=%5.1fs  %s -> %-9s %s -> %-9s lost %llu/%llu  %s", toMs(prober.elapsed()) / 1000.0,
                  vipA.c_str(), now(0).c_str(), vipB.c_str(), now(1).c_str(),
                  static_cast<unsigned long long>(prober.summary(0).lost),
                  static_cast<unsigned long long>(prober.summary(1).lost), what.c_str());
    say(buf);
  };
  auto steadyIs = [&](size_t t, const std::string& node) {
    auto s = prober.summarySince(t, prober.elapsed() - po.timeout - 300ms);
    return s.sent > 0 && s.lost == 0 && s.segments.size() == 1 && s.segments.front().responder == node;
  };
  auto watch = [&](const std::function<bool()>& done, Duration timeout, const std::string& what) {
    auto deadline = MonoClock::now() + timeout;
    auto next = MonoClock::now();
    while (MonoClock::now() < deadline) {
      if (MonoClock::now() >= next) {
        line(what);
        next += 500ms;
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
  say("== the client (192.0.2.100) probes " + vipA + " and " + vipB + " every 10 ms over UDP");
  bool ok = watch([&] { return steadyIs(0, "node1") && steadyIs(1, "node2"); }, 20s, "waiting for balance");
  std::vector<std::string> report;
  if (ok) {
    say("== kill node1: SIGKILL its daemon and pull its link");
    auto t = prober.elapsed();
    stopNode(1);
    (void)lab.linkDown(lab.node(1));
    ok = watch([&] { return steadyIs(0, "node2") || steadyIs(0, "node3"); }, 20s, "node1 is down");
    std::this_thread::sleep_for(po.timeout + 50ms);
    auto a = prober.summarySince(0, t), b = prober.summarySince(1, t);
    char buf[200];
    std::snprintf(buf, sizeof buf, "node1 crash:  %s answered by %s after %.0f ms (%llu probes lost); %s lost %llu",
                  vipA.c_str(), a.lastResponder ? a.lastResponder->c_str() : "nobody", toMs(a.longestOutage),
                  static_cast<unsigned long long>(a.lost), vipB.c_str(), static_cast<unsigned long long>(b.lost));
    report.push_back(buf);
    say("   " + report.back());
  }
  if (ok) {
    say("== node1 comes back: link up, daemon restarted; it preempts VIP " + vipA);
    auto t = prober.elapsed();
    (void)lab.flushVips(lab.node(1));  // a crashed node comes back rebooted
    (void)lab.linkUp(lab.node(1));
    ok = startNode(1) && watch([&] { return steadyIs(0, "node1") && steadyIs(1, "node2"); }, 20s, "node1 is back");
    std::this_thread::sleep_for(500ms);
    auto a = prober.summarySince(0, t), b = prober.summarySince(1, t);
    char buf[200];
    std::snprintf(buf, sizeof buf, "node1 return: %s back on %s, %llu probes lost; %s on %s, %llu lost",
                  vipA.c_str(), a.lastResponder ? a.lastResponder->c_str() : "nobody",
                  static_cast<unsigned long long>(a.lost), vipB.c_str(),
                  b.lastResponder ? b.lastResponder->c_str() : "nobody", static_cast<unsigned long long>(b.lost));
    report.push_back(buf);
    say("   " + report.back());
  }
  prober.stop();
  say("== report");
  for (const auto& r : report) {
    say("   " + r);
  }
  say(std::string("   result: ") + (ok ? "OK, balance restored" : "FAILED (see the logs in " + lab.workDir() + ")"));
  if (!o.keep) {
    say("== cleaning up (namespaces, processes, " + lab.workDir() + ")");
    return ok ? 0 : 1;
  }
  // --keep: leave everything running, remember what to clean.
  KeptLab kept{lab.prefix(), lab.workDir(), {}};
  auto keepProc = [&](Process& p) {
    if (p.pid() > 0) {
      kept.pids.push_back(p.pid());
      p.release();
    }
  };
  for (auto& p : procs) {
    keepProc(p);
  }
  for (auto& [k, p] : daemons) {
    keepProc(p);
  }
  if (auto w = writeKeptLab(o.state, kept); !w) {
    say(w.error().message);
  }
  lab.release();
  const std::string c = lab.prefix() + "-c", n1 = lab.prefix() + "-n1";
  say("== the lab keeps running. Poke at it:");
  say("   ip netns exec " + c + " " + o.probe + " probe --target " + vipA + " --target " + vipB + " --progress-ms 500 --duration-ms 10000");
  if (carplbDaemon) {
    say("   ip netns exec " + n1 + " curl -s http://127.0.0.1:9464/state");
    say("   ip netns exec " + n1 + " curl -s http://127.0.0.1:9464/metrics | grep carplb_");
  }
  say("   ip -n " + n1 + " addr show dev carplb-eth0          # who holds which VIP");
  say("   ip -n " + n1 + " link set carplb-eth0 down          # pull node1's cable (up again: ... up)");
  say("   ip netns exec " + n1 + " tcpdump -nni carplb-eth0 -T carp 'ip proto 112'   # the adverts");
  say("   logs: " + lab.workDir());
  say("   remove it all: scripts/demo --clean");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: carplb-lab demo --agent PATH --probe PATH [--daemon carplb|ucarp] [--keep] [--state FILE]\n"
                         "       carplb-lab clean [--state FILE]\n");
    return 2;
  }
  std::string mode = argv[1];
  Options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "carplb-lab: %s: missing value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--agent") {
      o.agent = value();
    } else if (a == "--probe") {
      o.probe = value();
    } else if (a == "--daemon") {
      o.daemon = value();
      if (o.daemon != "carplb" && o.daemon != "ucarp") {
        std::fprintf(stderr, "carplb-lab: --daemon: must be carplb or ucarp, got '%s'\n", o.daemon.c_str());
        return 2;
      }
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--state") {
      o.state = value();
    } else {
      std::fprintf(stderr, "carplb-lab: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (mode == "clean") {
    return clean(o);
  }
  if (mode != "demo" || o.probe.empty()) {
    std::fprintf(stderr, "carplb-lab: demo needs --probe PATH (and --agent PATH)\n");
    return 2;
  }
  sweepOwnNamespaces();
  cleanupOnSignals();  // Ctrl-C during the demo still removes the lab
  return demo(o);
}
