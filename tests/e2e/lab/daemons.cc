#include "tests/e2e/lab/daemons.h"

#include <sched.h>
#include <sys/eventfd.h>

#include <future>

#include <cmath>
#include <cstdio>

#include "bench/probe/prober.h"

namespace carplb::e2e {
namespace {

std::string fileTag(const Host& host, const std::string& what, int vhid) {
  return what + "-" + host.name + "-" + std::to_string(vhid);
}

}  // namespace

Result<Process> startUcarp(Lab& lab, const Host& host, const VirtualHost& vh, const std::string& logName) {
  if (vh.vips.size() != 1) {
    return makeError("ucarp vhid " + std::to_string(vh.vhid) + ": vips: ucarp takes exactly one, got " +
                     std::to_string(vh.vips.size()));
  }
  const std::string& vip = vh.vips.front();
  std::string tag = fileTag(host, "ucarp", vh.vhid);
  auto up = lab.writeFile(tag + "-up.sh", "#!/bin/sh\nexec ip addr add " + vip + "/32 dev " + host.ifname + "\n", 0755);
  if (!up) {
    return up.error();
  }
  auto down = lab.writeFile(tag + "-down.sh",
                            "#!/bin/sh\nip addr del " + vip + "/32 dev " + host.ifname + " 2>/dev/null\nexit 0\n", 0755);
  if (!down) {
    return down.error();
  }
  std::vector<std::string> argv = {"ucarp", "-i", host.ifname, "-s", host.address, "-v", std::to_string(vh.vhid),
                                   "-p", vh.password, "-a", vip, "-b", std::to_string(vh.advbase), "-k",
                                   std::to_string(vh.advskew), "-u", *up, "-d", *down, "-z"};
  if (vh.preempt) {
    argv.push_back("-P");
  }
  return lab.spawn(host, argv, logName.empty() ? tag + ".log" : logName);
}

Result<Process> startKeepalived(Lab& lab, const Host& host, int vrid, const std::string& vip,
                                const KeepalivedTimers& timers, const std::string& logName) {
  return startKeepalivedMany(lab, host, {{vrid, vip}}, timers, logName);
}

Result<Process> startKeepalivedMany(Lab& lab, const Host& host, const std::vector<std::pair<int, std::string>>& instances,
                                    const KeepalivedTimers& timers, const std::string& logName) {
  if (instances.empty()) {
    return makeError("keepalived on " + host.name + ": instances: at least one is needed");
  }
  if (timers.priority < 1 || timers.priority > 254) {
    return makeError("keepalived on " + host.name + ": priority: must be 1..254, got " + std::to_string(timers.priority));
  }
  if (timers.advertInterval < 0.01 || timers.advertInterval > 255) {
    return makeError("keepalived on " + host.name + ": advertInterval: must be 0.01..255 s");
  }
  bool v3 = timers.advertInterval < 1.0 || std::floor(timers.advertInterval) != timers.advertInterval;
  std::string tag = fileTag(host, "keepalived", instances.front().first);
  char interval[32];
  std::snprintf(interval, sizeof interval, v3 ? "%.2f" : "%.0f", timers.advertInterval);
  std::string conf;
  conf += "global_defs {\n  router_id " + host.name + "\n";
  if (v3) {
    conf += "  vrrp_version 3\n";
  }
  conf += "  vrrp_garp_master_delay 0\n  vrrp_garp_master_repeat 1\n}\n";
  for (const auto& [vrid, vip] : instances) {
    conf += "vrrp_instance VI_" + std::to_string(vrid) + " {\n";
    conf += "  state BACKUP\n  interface " + host.ifname + "\n";
    conf += "  virtual_router_id " + std::to_string(vrid) + "\n";
    conf += "  priority " + std::to_string(timers.priority) + "\n";
    conf += "  advert_int " + std::string(interval) + "\n";
    conf += "  virtual_ipaddress {\n    " + vip + "/32 dev " + host.ifname + "\n  }\n}\n";
  }
  auto path = lab.writeFile(tag + ".conf", conf);
  if (!path) {
    return path.error();
  }
  std::string dir = lab.workDir() + "/" + tag;
  std::vector<std::string> argv = {"keepalived", "--dont-fork", "--log-console", "--vrrp", "--use-file", *path,
                                   "--pid", dir + ".pid", "--vrrp_pid", dir + "-vrrp.pid",
                                   "--checkers_pid", dir + "-checkers.pid"};
  return lab.spawn(host, argv, logName.empty() ? tag + ".log" : logName);
}

Result<Process> startAgent(Lab& lab, const Host& host, const AgentOptions& options, const std::string& logName) {
  if (options.binary.empty()) {
    return makeError("carplb-agent: binary: path not set");
  }
  if (options.vhosts.empty()) {
    return makeError("carplb-agent on " + host.name + ": vhosts: at least one is needed");
  }
  std::string listen = options.statusPort == 0 ? "off" : "127.0.0.1:" + std::to_string(options.statusPort);
  std::string tag = fileTag(host, "agent", options.vhosts.front().vhid);
  std::vector<std::string> argv = {options.binary};
  if (options.realtimePriority > 0) {
    argv.insert(argv.end(), {"--realtime-priority", std::to_string(options.realtimePriority)});
  }
  if (options.vhosts.size() == 1) {
    const auto& vh = options.vhosts.front();
    argv.insert(argv.end(), {"--interface", host.ifname, "--srcip", host.address, "--vhid", std::to_string(vh.vhid),
                             "--pass", vh.password});
    for (const auto& vip : vh.vips) {
      argv.insert(argv.end(), {"--addr", vip});
    }
    argv.insert(argv.end(), {"--advbase", std::to_string(vh.advbase), "--advskew", std::to_string(vh.advskew)});
    if (vh.preempt) {
      argv.push_back("--preempt");
    }
    if (vh.preemptDelay) {
      argv.insert(argv.end(), {"--preempt-delay", *vh.preemptDelay});
    }
  } else {
    // The file format of docs/agent.md (JSON is valid YAML).
    nlohmann::json doc;
    doc["vhids"] = nlohmann::json::array();
    for (const auto& vh : options.vhosts) {
      nlohmann::json v;
      v["vhid"] = vh.vhid;
      v["interface"] = host.ifname;
      v["srcip"] = host.address;
      v["addresses"] = vh.vips;
      v["advbase"] = vh.advbase;
      v["advskew"] = vh.advskew;
      v["password"] = vh.password;
      v["preempt"] = vh.preempt;
      if (vh.preemptDelay) {
        v["preemptDelay"] = *vh.preemptDelay;
      }
      doc["vhids"].push_back(v);
    }
    doc["statusListen"] = listen;
    doc["logLevel"] = options.logLevel;
    auto path = lab.writeFile(tag + ".yaml", doc.dump(2) + "\n");
    if (!path) {
      return path.error();
    }
    argv.insert(argv.end(), {"--config", *path});
  }
  argv.insert(argv.end(), {"--status-listen", listen, "--log-level", options.logLevel});
  return lab.spawn(host, argv, logName.empty() ? tag + ".log" : logName);
}

Responder::Responder(Key /*key*/) {}

Result<std::unique_ptr<Responder>> Responder::start(const Host& host, uint16_t port) {
  auto r = std::make_unique<Responder>(Key{});
  r->stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!r->stop_) {
    return makeError("responder on " + host.name + ": eventfd failed");
  }
  auto nsFd = host.ns.open();
  if (!nsFd) {
    return nsFd.error();
  }
  // The thread enters the host's namespace (only itself) and serves there until stopped.
  std::promise<Status> ready;
  auto started = ready.get_future();
  r->thread_ = std::thread([fd = std::make_shared<UniqueFd>(std::move(*nsFd)), name = host.name, port,
                            stop = r->stop_.get(), ready = std::move(ready)]() mutable {
    if (::setns(fd->get(), CLONE_NEWNET) != 0) {
      ready.set_value(makeError("responder on " + name + ": setns failed"));
      return;
    }
    auto sock = bench::probe::responderSocket(port);
    if (!sock) {
      ready.set_value(makeError("responder on " + name + ": " + sock.error().message));
      return;
    }
    ready.set_value(okStatus());
    (void)bench::probe::respondLoop(sock->get(), name, stop);
  });
  auto st = started.get();
  if (!st) {
    return st.error();  // the destructor joins the finished thread
  }
  return r;
}

Responder::~Responder() {
  uint64_t one = 1;
  ssize_t n = ::write(stop_.get(), &one, sizeof one);
  (void)n;
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace carplb::e2e
