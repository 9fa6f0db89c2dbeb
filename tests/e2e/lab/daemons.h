#pragma once
// Starting the redundancy daemons of the lab (carplb-agent, ucarp, keepalived) and the probe
// responders inside lab hosts, with equivalent settings.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/lab/netlab.h"

namespace carplb::e2e {

// One virtual host (CARP vhid / VRRP instance) as all three daemons understand it.
struct VirtualHost {
  int vhid = 1;
  std::string password = "carplb-lab";
  std::vector<std::string> vips;  // ucarp and keepalived: exactly one is used per vhid
  int advbase = 1;                // seconds
  int advskew = 0;                // 1/256 s; lower wins
  bool preempt = true;
  std::optional<std::string> preemptDelay;  // carplb-agent --preempt-delay ("2s")
};

// ucarp 1.5.2 with tiny up/down scripts that add/remove VIP/32 on the lab interface; -z runs
// the down script at exit (graceful stop).
Result<Process> startUcarp(Lab& lab, const Host& host, const VirtualHost& vh, const std::string& logName = "");

// keepalived (VRRP only, foreground, own pid files). Timers: advert interval = advbase +
// advskew/256 s as VRRPv3 centiseconds when below one second (v2 otherwise); priority =
// 255 - advskew so that a lower advskew wins as in CARP.
struct KeepalivedTimers {
  double advertInterval = 1.0;  // seconds; < 1 switches to vrrp_version 3
  int priority = 100;
};
Result<Process> startKeepalived(Lab& lab, const Host& host, int vrid, const std::string& vip,
                                const KeepalivedTimers& timers, const std::string& logName = "");
// One keepalived process with one vrrp_instance per (vrid, vip).
Result<Process> startKeepalivedMany(Lab& lab, const Host& host, const std::vector<std::pair<int, std::string>>& instances,
                                    const KeepalivedTimers& timers, const std::string& logName = "");

// carplb-agent with ucarp-like flags for ONE vhid (docs/agent.md).
struct AgentOptions {
  std::string binary;          // path to carplb-agent
  std::vector<VirtualHost> vhosts;  // one -> flags; several -> a generated --config file
  uint16_t statusPort = 0;     // 0: --status-listen off
  std::string logLevel = "info";
  int realtimePriority = 0;    // --realtime-priority (0: normal scheduling)
};
Result<Process> startAgent(Lab& lab, const Host& host, const AgentOptions& options, const std::string& logName = "");

// A carplb-probe responder running on a thread of this process, inside the host's namespace.
class Responder {
  struct Key {};

public:
  static Result<std::unique_ptr<Responder>> start(const Host& host, uint16_t port);
  Responder(Key key);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

private:
  UniqueFd stop_;
  std::thread thread_;
};

}  // namespace carplb::e2e
