// carplb-failover-bench: client-visible failover of carplb-agent, ucarp and keepalived, side
// by side in ONE run, in the netns lab (2 nodes + client on a bridge; see tests/e2e/lab).
// A client probes the VIP over UDP every 10 ms; every probe is answered by the node that
// holds the VIP, so we see who answered and how long nobody did.
//
// Per implementation and timer profile:
//   crash     SIGKILL of the master's daemon + link down: longest outage, lost probes
//   return    the master comes back (link up, restart) and preempts: lost probes
//   graceful  SIGTERM of the master: lost probes
//   return    after the graceful stop: lost probes
//   steady    --steady-seconds of nothing happening (optionally --load: busy loops on both
//             nodes' CPUs): VIP moves and lost probes
// and (--resources) RSS and idle CPU with 64 vhids at advbase 1.
//
// Usage: carplb-failover-bench [--agent PATH] [--impls carplb,ucarp,keepalived]
//          [--profiles slow,fast] [--steady-seconds N] [--load] [--resources] [--out FILE.md]
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iterator>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "bench/probe/prober.h"
#include "tests/e2e/lab/daemons.h"
#include "tests/e2e/lab/netlab.h"

using namespace std::chrono_literals;
using namespace carplb;
using namespace carplb::e2e;
using carplb::bench::probe::Prober;
using carplb::bench::probe::TargetSummary;
using carplb::bench::probe::toMs;

namespace {

#ifdef CARPLB_AGENT_BINARY
constexpr const char* DefaultAgent = CARPLB_AGENT_BINARY;
#else
constexpr const char* DefaultAgent = "";
#endif

struct Profile {
  std::string name;   // "slow" | "fast"
  std::string label;  // for the table
  int advbase;
  int skewMaster;
  int skewBackup;
  double kaInterval;  // keepalived advert_int
};

const std::vector<Profile>& profiles() {
  static const std::vector<Profile> all = {
      {"slow", "advert 1 s (advbase 1, advskew 0/10; keepalived advert_int 1, prio 254/244)", 1, 0, 10, 1.0},
      {"fast", "fast (advbase 0, advskew 3/4 = 12/16 ms; keepalived advert_int 0.01, prio 254/244)", 0, 3, 4, 0.01},
  };
  return all;
}

struct Measure {
  bool ok = false;
  std::string note;
  double outageMs = 0;
  uint64_t lost = 0;
  uint64_t moves = 0;
  std::string text() const {
    if (!ok) {
      return note.empty() ? "n/a" : note;
    }
    char buf[128];
    if (outageMs > 0) {
      std::snprintf(buf, sizeof buf, "%.0f ms (%llu lost)", outageMs, static_cast<unsigned long long>(lost));
    } else {
      std::snprintf(buf, sizeof buf, "0 ms (%llu lost)", static_cast<unsigned long long>(lost));
    }
    return buf;
  }
};

struct CaseResult {
  Measure crash, crashReturn, graceful, gracefulReturn, steady;
  std::string error;
};

struct Options {
  std::string agent = DefaultAgent;
  std::vector<std::string> impls = {"carplb", "ucarp", "keepalived"};
  std::vector<std::string> profiles = {"slow", "fast"};
  int steadySeconds = 10;
  bool load = false;
  bool resources = false;
  int realtimePriority = 0;  // carplb-agent --realtime-priority
  std::string out;
};

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) {
      out.push_back(item);
    }
  }
  return out;
}

void progress(const std::string& line) {
  std::fprintf(stderr, "[bench] %s\n", line.c_str());
  std::fflush(stderr);
}

bool waitUntil(const std::function<bool()>& pred, Duration timeout) {
  auto deadline = MonoClock::now() + timeout;
  while (!pred()) {
    if (MonoClock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

class Bench {
public:
  Bench(const Options& o, const Profile& p, const std::string& impl) : o_(o), p_(p), impl_(impl) {}

  CaseResult run() {
    CaseResult r;
    auto err = [&](const std::string& e) {
      r.error = e;
      progress(impl_ + "/" + p_.name + ": " + e);
      return r;
    };
    LabOptions lo;
    lo.tag = "bench";
    lo.nodes = 2;
    auto lab = Lab::create(lo);
    if (!lab) {
      return err(lab.error().message);
    }
    lab_ = std::move(*lab);
    for (int i = 1; i <= 2; ++i) {
      auto resp = Responder::start(lab_->node(i), bench::probe::DefaultPort);
      if (!resp) {
        return err(resp.error().message);
      }
      responders_.push_back(std::move(*resp));
    }
    auto sock = lab_->client().ns.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (!sock) {
      return err(sock.error().message);
    }
    bench::probe::ProberOptions po;
    po.targets = {vip_};
    auto prober = Prober::start(po, std::move(*sock));
    if (!prober) {
      return err(prober.error().message);
    }
    prober_ = std::move(*prober);

    auto d1 = start(1);
    if (!d1) {
      return err(d1.error().message);
    }
    Process master = std::move(*d1);
    if (!waitAnswerer("node1", 20s)) {
      return err("node1 never answered for the VIP: " + describe(0s) + "\n" + master.log());
    }
    auto d2 = start(2);
    if (!d2) {
      return err(d2.error().message);
    }
    Process backup = std::move(*d2);
    std::this_thread::sleep_for(2s);
    if (!waitAnswerer("node1", 5s)) {
      return err("node1 lost the VIP when node2 started: " + describe(0s));
    }

    progress(impl_ + "/" + p_.name + ": crash (SIGKILL + link down of the master)");
    r.crash = failover([&] {
      master.kill();
      (void)lab_->linkDown(lab_->node(1));
    }, "node2");

    progress(impl_ + "/" + p_.name + ": the master returns");
    r.crashReturn = failover([&] {
      (void)lab_->flushVips(lab_->node(1));  // it rebooted
      (void)lab_->linkUp(lab_->node(1));
      auto again = start(1);
      if (again) {
        master = std::move(*again);
      }
    }, "node1");

    progress(impl_ + "/" + p_.name + ": graceful stop (SIGTERM) of the master");
    r.graceful = failover([&] { master.terminate(10s); }, "node2");

    progress(impl_ + "/" + p_.name + ": the master returns");
    r.gracefulReturn = failover([&] {
      auto again = start(1);
      if (again) {
        master = std::move(*again);
      }
    }, "node1");

    progress(impl_ + "/" + p_.name + ": steady state for " + std::to_string(o_.steadySeconds) + " s" +
             (o_.load ? " with CPU load" : ""));
    std::vector<Process> loads;
    if (o_.load) {
      unsigned n = std::max(1u, std::thread::hardware_concurrency());
      for (int node = 1; node <= 2; ++node) {
        for (unsigned i = 0; i < n; ++i) {
          auto l = lab_->spawn(lab_->node(node), {"sh", "-c", "while :; do :; done"}, "");
          if (l) {
            loads.push_back(std::move(*l));
          }
        }
      }
    }
    auto t = prober_->elapsed();
    std::this_thread::sleep_for(std::chrono::seconds(o_.steadySeconds));
    settle();
    for (auto& l : loads) {
      l.kill();
    }
    auto s = prober_->summarySince(0, t);
    r.steady.ok = true;
    r.steady.lost = s.lost;
    r.steady.moves = s.moves;
    r.steady.outageMs = toMs(s.longestOutage);
    master.terminate(5s);
    backup.terminate(5s);
    return r;
  }

private:
  Result<Process> start(int node) {
    const auto& host = lab_->node(node);
    int skew = node == 1 ? p_.skewMaster : p_.skewBackup;
    VirtualHost vh;
    vh.vhid = 42;
    vh.password = "bench";
    vh.vips = {vip_};
    vh.advbase = p_.advbase;
    vh.advskew = skew;
    vh.preempt = true;
    std::string log = impl_ + "-" + p_.name + "-node" + std::to_string(node) + ".log";
    if (impl_ == "carplb") {
      AgentOptions ao;
      ao.binary = o_.agent;
      ao.vhosts = {vh};
      // Sub-second timers: realtime scheduling, as keepalived's vrrp_rt_priority (see docs/agent.md).
      ao.realtimePriority = o_.realtimePriority;
      return startAgent(*lab_, host, ao, log);
    }
    if (impl_ == "ucarp") {
      return startUcarp(*lab_, host, vh, log);
    }
    if (impl_ == "keepalived") {
      return startKeepalived(*lab_, host, 42, vip_, {p_.kaInterval, 254 - skew}, log);
    }
    return makeError("unknown implementation '" + impl_ + "'");
  }

  std::optional<std::string> steadyAnswerer(Duration window = 300ms) const {
    auto s = prober_->summarySince(0, prober_->elapsed() - prober_->options().timeout - window);
    if (s.sent == 0 || s.lost != 0 || s.segments.size() != 1) {
      return std::nullopt;
    }
    return s.segments.front().responder;
  }
  bool waitAnswerer(const std::string& node, Duration timeout) const {
    return waitUntil([&] { return steadyAnswerer() == node; }, timeout);
  }
  void settle() const { std::this_thread::sleep_for(prober_->options().timeout + 50ms); }
  std::string describe(Duration from) const { return bench::probe::describe(prober_->summarySince(0, from)); }

  Measure failover(const std::function<void()>& action, const std::string& to) {
    Measure m;
    auto t = prober_->elapsed();
    action();
    if (!waitAnswerer(to, 20s)) {
      m.note = "no failover to " + to + " within 20 s";
      progress(impl_ + "/" + p_.name + ": " + m.note + ": " + describe(t));
      return m;
    }
    std::this_thread::sleep_for(1s);  // late flaps count too
    settle();
    auto s = prober_->summarySince(0, t);
    m.ok = true;
    m.lost = s.lost;
    m.moves = s.moves;
    m.outageMs = toMs(s.longestOutage);
    progress("  " + bench::probe::describe(s));
    return m;
  }

  const Options& o_;
  const Profile& p_;
  std::string impl_;
  std::string vip_ = vipAddress(0);
  std::unique_ptr<Lab> lab_;
  std::vector<std::unique_ptr<Responder>> responders_;
  std::unique_ptr<Prober> prober_;
};

// ---- resources: RSS and CPU of a process group, from /proc

struct GroupUsage {
  uint64_t rssKb = 0;
  uint64_t cpuTicks = 0;
  int processes = 0;
};

GroupUsage groupUsage(pid_t pgid) {
  GroupUsage u;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) {
      continue;
    }
    auto close = line.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
    // f[0] = state (field 3); pgrp = field 5 -> f[2]; utime = 14 -> f[11]; stime = 15 -> f[12]
    if (f.size() < 13 || std::stol(f[2]) != pgid) {
      continue;
    }
    ++u.processes;
    u.cpuTicks += std::stoull(f[11]) + std::stoull(f[12]);
    std::ifstream status(entry.path() / "status");
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        u.rssKb += std::stoull(line.substr(6));
      }
    }
  }
  return u;
}

struct ResourceResult {
  std::string what;
  std::string rss;
  std::string cpu;
};

ResourceResult measureResources(const Options& o, const std::string& impl) {
  ResourceResult rr{impl, "n/a", "n/a"};
  LabOptions lo;
  lo.tag = "res";
  lo.nodes = 1;
  lo.client = false;
  auto lab = Lab::create(lo);
  if (!lab) {
    rr.rss = lab.error().message;
    return rr;
  }
  auto& host = (*lab)->node(1);
  std::vector<Process> procs;
  const int vhids = 64;
  auto vipOf = [](int i) { return "198.51.100." + std::to_string(i); };
  if (impl == "carplb") {
    AgentOptions ao;
    ao.binary = o.agent;
    for (int i = 1; i <= vhids; ++i) {
      VirtualHost vh;
      vh.vhid = i;
      vh.password = "bench";
      vh.vips = {vipOf(i)};
      vh.advbase = 1;
      vh.advskew = 0;
      ao.vhosts.push_back(vh);
    }
    auto p = startAgent(**lab, host, ao, "agent-64.log");
    if (p) {
      procs.push_back(std::move(*p));
    }
  } else if (impl == "keepalived") {
    std::vector<std::pair<int, std::string>> inst;
    for (int i = 1; i <= vhids; ++i) {
      inst.emplace_back(i, vipOf(i));
    }
    auto p = startKeepalivedMany(**lab, host, inst, {1.0, 200}, "keepalived-64.log");
    if (p) {
      procs.push_back(std::move(*p));
    }
  } else if (impl == "ucarp") {
    for (int i = 1; i <= vhids; ++i) {  // ucarp: one process per vhid
      VirtualHost vh;
      vh.vhid = i;
      vh.password = "bench";
      vh.vips = {vipOf(i)};
      auto p = startUcarp(**lab, host, vh, "ucarp-64.log");
      if (p) {
        procs.push_back(std::move(*p));
      }
    }
  }
  if (procs.empty()) {
    rr.rss = "failed to start";
    return rr;
  }
  progress("resources " + impl + ": 64 vhids, advbase 1, waiting 5 s to settle as MASTER, then 20 s of CPU");
  std::this_thread::sleep_for(5s);
  auto sample = [&] {
    GroupUsage total;
    for (auto& p : procs) {
      auto u = groupUsage(p.pid());
      total.rssKb += u.rssKb;
      total.cpuTicks += u.cpuTicks;
      total.processes += u.processes;
    }
    return total;
  };
  auto a = sample();
  auto t0 = MonoClock::now();
  std::this_thread::sleep_for(20s);
  auto b = sample();
  double secs = std::chrono::duration<double>(MonoClock::now() - t0).count();
  double cpuPct = 100.0 * static_cast<double>(b.cpuTicks - a.cpuTicks) / static_cast<double>(::sysconf(_SC_CLK_TCK)) / secs;
  auto bound = (*lab)->addresses(host);
  size_t vipsBound = bound ? bound->size() - 1 : 0;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.1f MB (%d process%s, %zu/64 VIPs bound)", static_cast<double>(b.rssKb) / 1024.0,
                b.processes, b.processes == 1 ? "" : "es", vipsBound);
  rr.rss = buf;
  std::snprintf(buf, sizeof buf, "%.2f %% of a core", cpuPct);
  rr.cpu = buf;
  for (auto& p : procs) {
    p.terminate(5s);
  }
  return rr;
}

std::string machine() {
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::string kernel;
  std::ifstream k("/proc/sys/kernel/osrelease");
  std::getline(k, kernel);
  return cpu + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, Linux " + kernel;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "carplb-failover-bench: %s: missing value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--agent") {
      o.agent = value();
    } else if (a == "--impls") {
      o.impls = splitComma(value());
    } else if (a == "--profiles") {
      o.profiles = splitComma(value());
    } else if (a == "--steady-seconds") {
      o.steadySeconds = std::atoi(value().c_str());
    } else if (a == "--load") {
      o.load = true;
    } else if (a == "--resources") {
      o.resources = true;
    } else if (a == "--realtime-priority") {
      o.realtimePriority = std::atoi(value().c_str());
    } else if (a == "--out") {
      o.out = value();
    } else {
      std::fprintf(stderr,
                   "usage: carplb-failover-bench [--agent PATH] [--impls carplb,ucarp,keepalived] "
                   "[--profiles slow,fast] [--steady-seconds N] [--load] [--resources] [--realtime-priority N] "
                   "[--out FILE.md]\n");
      return 2;
    }
  }
  std::vector<std::string> impls;
  for (const auto& impl : o.impls) {
    if (impl == "carplb" && (o.agent.empty() || !std::filesystem::exists(o.agent))) {
      progress("carplb-agent not found ('" + o.agent + "'): skipping the carplb column");
      continue;
    }
    impls.push_back(impl);
  }
  sweepOwnNamespaces();
  cleanupOnSignals();
  auto started = std::time(nullptr);
  std::map<std::string, std::map<std::string, CaseResult>> results;  // profile -> impl
  for (const auto& pname : o.profiles) {
    const Profile* p = nullptr;
    for (const auto& cand : profiles()) {
      if (cand.name == pname) {
        p = &cand;
      }
    }
    if (!p) {
      std::fprintf(stderr, "carplb-failover-bench: --profiles: unknown profile '%s' (slow, fast)\n", pname.c_str());
      return 2;
    }
    for (const auto& impl : impls) {
      progress("=== " + impl + " / " + p->name);
      results[p->name][impl] = Bench(o, *p, impl).run();
    }
  }
  std::vector<ResourceResult> res;
  if (o.resources) {
    for (const auto& impl : impls) {
      res.push_back(measureResources(o, impl));
    }
  }

  std::ostringstream md;
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&started));
  md << "Run " << date << " on " << machine() << ".\n";
  md << "Client-visible outage, UDP probes every 10 ms (a probe is lost without a reply within 100 ms); "
     << "outage = longest time without any reply (a run of lost probes, or a gap between reply arrivals when probes queued during ARP resolution come back late). Steady state: " << o.steadySeconds << " s"
     << (o.load ? " with busy loops on every core of both nodes" : "") << ".\n\n";
  md << "| scenario | timers |";
  for (const auto& impl : impls) {
    md << " " << (impl == "carplb" ? "carplb-agent" : impl) << " |";
  }
  md << "\n|---|---|";
  for (size_t i = 0; i < impls.size(); ++i) {
    md << "---|";
  }
  md << "\n";
  auto row = [&](const std::string& scenario, const Profile& p, const std::function<std::string(const CaseResult&)>& f) {
    md << "| " << scenario << " | " << p.label << " |";
    for (const auto& impl : impls) {
      const auto& r = results[p.name][impl];
      md << " " << (r.error.empty() ? f(r) : "error: " + r.error.substr(0, 80)) << " |";
    }
    md << "\n";
  };
  for (const auto& pname : o.profiles) {
    for (const auto& p : profiles()) {
      if (p.name != pname) {
        continue;
      }
      row("crash (SIGKILL + link down)", p, [](const CaseResult& r) { return r.crash.text(); });
      row("master returns after crash", p, [](const CaseResult& r) { return r.crashReturn.text(); });
      row("graceful stop (SIGTERM)", p, [](const CaseResult& r) { return r.graceful.text(); });
      row("master returns after stop", p, [](const CaseResult& r) { return r.gracefulReturn.text(); });
      row("steady state: VIP moves / lost", p, [](const CaseResult& r) {
        if (!r.steady.ok) {
          return std::string("n/a");
        }
        return std::to_string(r.steady.moves) + " moves / " + std::to_string(r.steady.lost) + " lost";
      });
    }
  }
  if (!res.empty()) {
    md << "\nResources, 64 vhids at advbase 1 (all MASTER), after 5 s, CPU over 20 s:\n\n";
    md << "| | RSS | CPU |\n|---|---|---|\n";
    for (const auto& r : res) {
      md << "| " << r.what << " | " << r.rss << " | " << r.cpu << " |\n";
    }
  }
  std::printf("%s", md.str().c_str());
  if (!o.out.empty()) {
    std::ofstream out(o.out);
    out << md.str();
  }
  return 0;
}
