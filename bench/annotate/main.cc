// carplb-annotate-bench: annotation -> first gratuitous ARP for the VIP, in the cluster lab
// (tests/e2e/cluster: carplb-kube-double + carplb-controller + 3 carplb-agents in network
// namespaces). Needs root. Run: bench/annotate/run (results: docs/benchmarks/annotate.md).
//
// Per iteration: take system_clock::now(), POST a LoadBalancer Service (class carplb.io/carp)
// annotated carplb.io/loadBalancerIPs = VIP to the API double, wait for the first gratuitous
// ARP for VIP on the client's interface (AF_PACKET, kernel timestamp) and record the
// difference; then delete the Service and wait until no node holds the VIP and its VirtualIP
// is gone. (Removing only the annotation does not release the address: the controller keeps
// the address a Service already holds.) VIPs rotate over 192.0.2.200..207.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "bench/probe/probe_analysis.h"
#include "tests/e2e/cluster/arp_capture.h"
#include "tests/e2e/cluster/cluster_lab.h"

using namespace std::chrono_literals;
using namespace carplb;
using namespace carplb::e2e;
using namespace carplb::e2e::cluster;

namespace {

struct Options {
  int iterations = 50;
  ClusterTimers timers = ClusterTimers::fromEnv();
  std::string jsonOut;
  bool keep = false;               // keep the lab's work directory (logs) afterwards
  std::string agentLogLevel = "warn";
  bool trace = false;              // also capture ARP on every node: sent vs seen
};

int usage() {
  std::fprintf(stderr,
               "usage: carplb-annotate-bench [--iterations N] [--timers ADVBASE/ADVSKEW/SPACING] [--json FILE]\n"
               "                             [--keep] [--agent-log-level LEVEL] [--trace]\n");
  return 2;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) {
    return 0;
  }
  // Nearest rank.
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

double ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&](int& field) {
      if (i + 1 >= argc) {
        std::exit(usage());
      }
      field = std::atoi(argv[++i]);
    };
    if (a == "--iterations") {
      num(o.iterations);
    } else if (a == "--timers" && i + 1 < argc) {
      auto t = ClusterTimers::parse(argv[++i]);
      if (!t) {
        std::fprintf(stderr, "carplb-annotate-bench: --%s\n", t.error().message.c_str());
        return 2;
      }
      o.timers = *t;
    } else if (a == "--json" && i + 1 < argc) {
      o.jsonOut = argv[++i];
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--agent-log-level" && i + 1 < argc) {
      o.agentLogLevel = argv[++i];
    } else if (a == "--trace") {
      o.trace = true;
    } else {
      return usage();
    }
  }
  if (o.iterations < 1) {
    return usage();
  }
  sweepOwnNamespaces();
  cleanupOnSignals();

  ClusterLabOptions lo;
  lo.tag = "annot";
  lo.timers = o.timers;
  lo.autoAssign = false;
  lo.agentLogLevel = o.agentLogLevel;
  lo.keepWorkDir = o.keep;
  auto clR = ClusterLab::create(lo);
  if (!clR) {
    std::fprintf(stderr, "cannot build the lab: %s\n", clR.error().message.c_str());
    return 1;
  }
  auto& cl = **clR;
  if (auto s = cl.startAll(); !s) {
    std::fprintf(stderr, "%s\n", s.error().message.c_str());
    return 1;
  }
  bool connected = waitFor(
      [&] {
        auto st = cl.controllerState();
        int n = 0;
        if (st && st->contains("agents")) {
          for (const auto& a : (*st)["agents"]) {
            n += a.value("connected", false) ? 1 : 0;
          }
        }
        return n == cl.nodeCount();
      },
      15s, 100ms);
  if (!connected) {
    std::fprintf(stderr, "agents did not connect; logs in %s\n", cl.workDir().c_str());
    return 1;
  }
  auto capture = ArpCapture::start(cl.client());
  if (!capture) {
    std::fprintf(stderr, "%s\n", capture.error().message.c_str());
    return 1;
  }
  // --trace: the same capture on every node's interface (AF_PACKET sees outgoing frames too),
  // to tell a gratuitous ARP that never left the master from one that left but was not seen.
  std::vector<std::unique_ptr<ArpCapture>> nodeCaptures;
  if (o.trace) {
    for (int n = 1; n <= cl.nodeCount(); ++n) {
      auto c = ArpCapture::start(cl.node(n));
      if (!c) {
        std::fprintf(stderr, "%s\n", c.error().message.c_str());
        return 1;
      }
      nodeCaptures.push_back(std::move(*c));
    }
  }
  // Agents in a running cluster have listened on their interface for a long time before a
  // Service appears; here they have just connected. Wait one master-down interval of the
  // master's slot (+ 500 ms) so that sample 1 measures the steady-state path (a claimed vhid),
  // like every later sample, and not the agent's start-up (docs/protocol.md, "Claims").
  std::this_thread::sleep_for(o.timers.masterDown(0) + 500ms);
  std::printf("annotation -> first gratuitous ARP; %d iterations; timers %s\n", o.iterations, o.timers.toString().c_str());
  std::vector<double> samples;
  int failures = 0;
  for (int i = 0; i < o.iterations; ++i) {
    const std::string vip = vipAddress(i % 8);
    const std::string name = "bench-" + std::to_string(i);
    const auto t0 = std::chrono::system_clock::now();
    if (auto s = cl.createService(name, {{"carplb.io/loadBalancerIPs", vip}}); !s) {
      std::fprintf(stderr, "create: %s\n", s.error().message.c_str());
      return 1;
    }
    std::optional<ArpPacket> garp;
    waitFor([&] { return (garp = (*capture)->firstGratuitous(vip, t0)).has_value(); }, 5s, 2ms);
    if (!garp) {
      ++failures;
      std::printf("  %2d %s: no gratuitous ARP within 5 s\n", i + 1, vip.c_str());
    } else {
      samples.push_back(ms(garp->at - t0));
      std::printf("  %2d %s: %.1f ms (from %s)", i + 1, vip.c_str(), samples.back(), garp->senderMac.c_str());
      if (o.trace) {
        // t0 as a UTC time of day, to line the sample up with the lab's logs (--keep).
        const auto t0ms = std::chrono::duration_cast<std::chrono::milliseconds>(t0.time_since_epoch()).count();
        std::printf("  t0=%02lld:%02lld:%02lld.%03lld", static_cast<long long>(t0ms / 3600000 % 24),
                    static_cast<long long>(t0ms / 60000 % 60), static_cast<long long>(t0ms / 1000 % 60),
                    static_cast<long long>(t0ms % 1000));
        // Every gratuitous ARP for the VIP after t0, as each node's interface saw it.
        for (size_t n = 0; n < nodeCaptures.size(); ++n) {
          std::string seen;
          for (const auto& p : nodeCaptures[n]->packets()) {
            if (p.at >= t0 && p.gratuitous() && p.senderIp == vip) {
              char buf[32];
              std::snprintf(buf, sizeof buf, "%s%.1f", seen.empty() ? "" : ",", ms(p.at - t0));
              seen += buf;
            }
          }
          std::printf("  node%zu[%s]", n + 1, seen.c_str());
        }
        std::string seen;
        for (const auto& p : (*capture)->packets()) {
          if (p.at >= t0 && p.gratuitous() && p.senderIp == vip) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%s%.1f", seen.empty() ? "" : ",", ms(p.at - t0));
            seen += buf;
          }
        }
        std::printf("  client[%s]", seen.c_str());
      }
      std::printf("\n");
    }
    std::fflush(stdout);
    if (auto s = cl.deleteService(name); !s) {
      std::fprintf(stderr, "delete: %s\n", s.error().message.c_str());
      return 1;
    }
    bool gone = waitFor(
        [&] {
          auto v = cl.virtualIps();
          return cl.holdersOf(vip).empty() && v && v->empty();
        },
        10s, 20ms);
    if (!gone) {
      std::fprintf(stderr, "%s still bound or its VirtualIP still exists 10 s after its Service was deleted\n", vip.c_str());
      return 1;
    }
    std::this_thread::sleep_for(100ms);
  }
  if (samples.empty()) {
    std::printf("no samples\n");
    return 1;
  }
  double mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  double p50 = percentile(samples, 50), p90 = percentile(samples, 90), p99 = percentile(samples, 99);
  double mn = *std::min_element(samples.begin(), samples.end()), mx = *std::max_element(samples.begin(), samples.end());
  std::printf("samples %zu (failures %d): min %.1f  p50 %.1f  mean %.1f  p90 %.1f  p99 %.1f  max %.1f ms\n", samples.size(),
              failures, mn, p50, mean, p90, p99, mx);
  // Master-down time the new vhid waits for: 3 x T of its lowest advskew.
  std::printf("(without a claim, a new vhid's first master would wait 3 x T = %.1f ms in BACKUP)\n", ms(o.timers.masterDown(0)));
  if (!o.jsonOut.empty()) {
    nlohmann::json j = {{"iterations", o.iterations},
                        {"failures", failures},
                        {"timers", {{"advbase", o.timers.advbase}, {"advskewBase", o.timers.advskewBase}, {"advskewSpacing", o.timers.advskewSpacing}}},
                        {"ms", {{"min", mn}, {"p50", p50}, {"mean", mean}, {"p90", p90}, {"p99", p99}, {"max", mx}}},
                        {"samples", samples}};
    std::ofstream(o.jsonOut) << j.dump(2) << "\n";
  }
  return failures == 0 ? 0 : 1;
}
