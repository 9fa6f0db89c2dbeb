// Planner benchmark: V VIPs x N nodes planned from scratch, then incremental changes
// (node lost / node back / VIP added / VIP removed) on the live Planner, then peak RSS.
// Timing with std::chrono::steady_clock; RSS from getrusage(ru_maxrss) and /proc/self/status.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "controller/core/planner.h"

namespace {

using carplb::controller::core::computePlan;
using carplb::controller::core::Ipv4;
using carplb::controller::core::Planner;
using carplb::controller::core::PlannerConfig;
using carplb::controller::core::VipSpec;
using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CPU time of this thread: unlike wall time it does not count time spent preempted, which
// matters on a shared machine.
double threadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Runs f and appends its wall and CPU milliseconds.
template <typename F>
void timed(std::vector<double>& wall, std::vector<double>& cpu, F&& f) {
  const double c0 = threadCpuMs();
  const auto t0 = Clock::now();
  f();
  wall.push_back(ms(Clock::now() - t0));
  cpu.push_back(threadCpuMs() - c0);
}

struct Stats {
  double median = 0, p99 = 0, max = 0;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  s.median = v[v.size() / 2];
  s.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  s.max = v.back();
  return s;
}

long vmRssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return -1;
}

long maxRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  size_t vips = 10000, nodes = 1000, runs = 5, ops = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const size_t v = std::strtoul(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--vips")) {
      vips = v;
    } else if (!std::strcmp(argv[i], "--nodes")) {
      nodes = v;
    } else if (!std::strcmp(argv[i], "--runs")) {
      runs = v;
    } else if (!std::strcmp(argv[i], "--ops")) {
      ops = v;
    } else {
      std::fprintf(stderr, "usage: %s [--vips N] [--nodes N] [--runs N] [--ops N]\n", argv[0]);
      return 2;
    }
  }
  if (vips == 0 || nodes < 2 || runs == 0 || ops == 0) {
    std::fprintf(stderr, "need vips >= 1, nodes >= 2, runs >= 1, ops >= 1\n");
    return 2;
  }
  PlannerConfig cfg;  // vhids 1..255, 3 backups, spacing 50
  std::vector<std::string> nodeNames;
  for (size_t i = 0; i < nodes; ++i) {
    nodeNames.push_back("node-" + std::to_string(i));
  }
  std::vector<VipSpec> specs;
  for (size_t i = 0; i < vips; ++i) {  // two VIPs per Service (the classic pair)
    VipSpec v;
    v.address = Ipv4{0x0A000000u + static_cast<uint32_t>(i)};  // synthetic, never on a wire
    v.spreadKey = "ns/svc-" + std::to_string(i / 2);
    specs.push_back(v);
  }
  std::printf("planner bench: %zu VIPs x %zu nodes, vhids %d..%d, %d backups\n", vips, nodes, cfg.vhidMin,
              cfg.vhidMax, cfg.maxBackups);

  // 1. From scratch (computePlan: sort + batch load + one re-balance).
  std::vector<double> scratch, scratchCpu;
  size_t groups = 0, placed = 0;
  for (size_t r = 0; r < runs; ++r) {
    timed(scratch, scratchCpu, [&] {
      auto plan = computePlan(cfg, nodeNames, specs);
      groups = plan.vhids.size();
      placed = plan.placements.size();
    });
    if (placed != vips) {
      std::fprintf(stderr, "only %zu of %zu VIPs placed\n", placed, vips);
      return 1;
    }
  }
  auto s = stats(scratch);
  auto sc = stats(scratchCpu);
  std::printf("from scratch: wall median %.2f ms max %.2f ms; cpu median %.2f ms max %.2f ms (%zu runs, %zu vhids)\n",
              s.median, s.max, sc.median, sc.max, runs, groups);

  // 2. Restart: the previous plan as input (what a restarted controller does).
  auto base = computePlan(cfg, nodeNames, specs);
  std::vector<VipSpec> withPrev = specs;
  for (auto& v : withPrev) {
    const auto& p = base.placements.at(v.address);
    v.previousVhid = p.vhid;
    for (const auto& slot : p.nodes) {
      v.previousOrder.push_back(slot.node);
    }
  }
  std::vector<double> restart, restartCpu;
  size_t moved = 0;
  for (size_t r = 0; r < runs; ++r) {
    carplb::controller::core::PlanResult plan;
    timed(restart, restartCpu, [&] { plan = computePlan(cfg, nodeNames, withPrev); });
    moved = 0;
    for (const auto& [a, p] : plan.placements) {
      moved += (p.nodes != base.placements.at(a).nodes || p.vhid != base.placements.at(a).vhid) ? 1 : 0;
    }
  }
  s = stats(restart);
  sc = stats(restartCpu);
  std::printf("restart from previous plan: wall median %.2f ms; cpu median %.2f ms; %zu VIPs changed\n", s.median,
              sc.median, moved);

  // 3. Incremental changes on a live Planner.
  Planner planner(cfg);
  planner.beginBatch();
  for (const auto& n : nodeNames) {
    planner.addNode(n);
  }
  for (const auto& v : specs) {
    planner.upsertVip(v);
  }
  planner.endBatch();
  planner.takeChanged();
  std::map<uint32_t, std::string> masterOf;  // VIP -> planned master, to count master moves
  for (const auto& v : specs) {
    masterOf[v.address.value] = planner.placement(v.address)->master();
  }
  // VIPs whose plan changed (any node or advskew) and VIPs whose master changed.
  auto settle = [&](std::vector<size_t>& changed, std::vector<size_t>& movedMasters) {
    size_t moves = 0;
    const auto ch = planner.takeChanged();
    for (Ipv4 a : ch) {
      auto p = planner.placement(a);
      auto it = masterOf.find(a.value);
      if (p && it != masterOf.end() && it->second != p->master()) {
        ++moves;
        it->second = p->master();
      }
    }
    changed.push_back(ch.size());
    movedMasters.push_back(moves);
  };
  std::vector<double> w[4], c[4];  // removeNode, addNode, upsertVip, removeVip
  std::vector<size_t> changedPerOp, movesRemove, movesAdd;
  for (size_t i = 0; i < ops; ++i) {
    const std::string& victim = nodeNames[(i * 7919 + 3) % nodes];
    timed(w[0], c[0], [&] { planner.removeNode(victim); });
    settle(changedPerOp, movesRemove);
    timed(w[1], c[1], [&] { planner.addNode(victim); });
    settle(changedPerOp, movesAdd);
    VipSpec extra;
    extra.address = Ipv4{0x0B000000u + static_cast<uint32_t>(i)};
    extra.spreadKey = "ns/extra-" + std::to_string(i);
    timed(w[2], c[2], [&] { planner.upsertVip(extra); });
    timed(w[3], c[3], [&] { planner.removeVip(extra.address); });
    planner.takeChanged();
  }
  const char* names[4] = {"removeNode", "addNode", "upsertVip", "removeVip"};
  for (int k = 0; k < 4; ++k) {
    auto sw = stats(w[k]);
    auto scpu = stats(c[k]);
    std::printf("incremental %-10s wall median %.3f p99 %.3f max %.3f ms; cpu median %.3f p99 %.3f max %.3f ms\n",
                names[k], sw.median, sw.p99, sw.max, scpu.median, scpu.p99, scpu.max);
  }
  auto medMax = [](std::vector<size_t> v) {
    std::sort(v.begin(), v.end());
    return std::pair(v[v.size() / 2], v.back());
  };
  const auto [chMed, chMax] = medMax(changedPerOp);
  const auto [rmMed, rmMax] = medMax(movesRemove);
  const auto [adMed, adMax] = medMax(movesAdd);
  std::printf("per node event: VIPs with any plan change median %zu max %zu; master moves on node loss median %zu "
              "max %zu, on node return median %zu max %zu (V/N = %.1f)\n",
              chMed, chMax, rmMed, rmMax, adMed, adMax, static_cast<double>(vips) / static_cast<double>(nodes));
  std::printf("RSS: VmRSS %ld kB, peak (ru_maxrss) %ld kB\n", vmRssKb(), maxRssKb());
  return 0;
}
