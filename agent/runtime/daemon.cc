#include "agent/runtime/daemon.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <set>

#include "agent/config/loader.h"
#include "agent/io/carp_socket.h"
#include "agent/io/event_loop.h"
#include "agent/io/garp.h"
#include "agent/io/link_watcher.h"
#include "agent/io/netlink_address_table.h"
#include "agent/runtime/agent.h"
#include "agent/status/status_server.h"
#include "common/metrics.h"
#include "common/random.h"

namespace carplb::agent::runtime {
namespace {

// The daemon's view of the kernel address table: forwards to netlink, except that on SIGTERM
// the VIP removals of the shutdown are held back for ShutdownLinger (make-before-break, see
// daemon.h) and then done for real.
class LingeringAddressTable final : public io::AddressTable {
public:
  explicit LingeringAddressTable(io::AddressTable& real) : real_(real) {}
  Status add(const std::string& ifname, carp::Ipv4Address vip) override { return real_.add(ifname, vip); }
  Result<std::vector<io::InterfaceAddress>> list(const std::string& ifname) override { return real_.list(ifname); }
  Result<io::RemoveOutcome> remove(const std::string& ifname, carp::Ipv4Address vip) override {
    if (!holding_) return real_.remove(ifname, vip);
    held_.emplace_back(ifname, vip);
    return io::RemoveOutcome::Removed;  // done (or reported) by release()
  }
  void hold() { holding_ = true; }
  bool holdsAny() const { return !held_.empty(); }
  // Removes the held VIPs now; later removals go straight through.
  void release(const Logger& log) {
    holding_ = false;
    for (const auto& [ifname, vip] : held_) {
      auto r = real_.remove(ifname, vip);
      if (!r) {
        log.error("VIP unbind failed", {{"interface", ifname}, {"vip", vip.toString()}, {"error", r.error().message}});
      } else if (*r == io::RemoveOutcome::Removed) {
        log.info("VIP released after the bow-out", {{"interface", ifname}, {"vip", vip.toString()}});
      } else if (*r == io::RemoveOutcome::NotOurs) {
        log.warn("VIP left in place: not added by carplb", {{"interface", ifname}, {"vip", vip.toString()}});
      }
    }
    held_.clear();
  }

private:
  io::AddressTable& real_;
  bool holding_ = false;
  std::vector<std::pair<std::string, carp::Ipv4Address>> held_;
};

class Daemon final : public DaemonHost {
public:
  Daemon(const DaemonOptions& opts, Logger log) : opts_(opts), log_(std::move(log)) {}

  // DaemonHost (for the cluster mode extension)
  TimePoint now() const override { return loop_->clock().now(); }
  WallTime wallNow() const override { return loop_->clock().wallNow(); }
  void post(std::function<void()> fn) override { loop_->post(std::move(fn)); }
  bool shuttingDown() const override { return shuttingDown_.load(); }
  Status applyConfig(const config::AgentConfig& cfg) override {
    auto st = applyVhids(cfg);
    if (st) current_ = cfg;
    return st;
  }
  const config::AgentConfig& initialConfig() const override { return opts_.initial; }
  const Agent& agent() const override { return *agent_; }
  Status listen(const std::string& ifname) override {
    agent_->linkChanged(ifname, queryLink(ifname), now());
    return agent_->listen(ifname, now());
  }
  const std::vector<VhostKey>& vhostKeys() const override { return keys_; }
  Registry& registry() override { return registry_; }

  int run() {
    auto loop = io::EventLoop::create();
    if (!loop) return fail("event loop", loop.error());
    loop_ = std::move(*loop);
    auto table = io::NetlinkAddressTable::create();
    if (!table) return fail("netlink", table.error());
    table_ = std::move(*table);
    addresses_ = std::make_unique<LingeringAddressTable>(*table_);
    pool_ = std::make_unique<io::CarpSocketPool>(
        *loop_,
        [this](const std::string& ifname, std::span<const uint8_t> pkt) {
          agent_->packetReceived(ifname, pkt, now());
          rearm();
        },
        log_.child("io"));
    agent_ = std::make_unique<Agent>(AgentDeps{*pool_, *addresses_, garp_, random_, log_, registry_});
    auto watcher = io::LinkWatcher::create(
        *loop_, [this](const std::string& ifname) { linkEvent(ifname); }, log_.child("netlink"));
    if (!watcher) return fail("netlink", watcher.error());
    watcher_ = std::move(*watcher);
    auto sig = loop_->watchSignals({SIGTERM, SIGINT, SIGHUP}, [this](int s) { onSignal(s); });
    if (!sig) return fail("signals", sig.error());

    registry_.gauge("carplb_agent_info", "Build information").set({{"version", opts_.version}}, 1);
    reloads_ = &registry_.counter("carplb_agent_reloads_total", "Config reloads (SIGHUP), by result");

    log_.info("starting", {{"version", opts_.version}, {"vhids", opts_.initial.vhids.size()}});
    // The status endpoint first: if it cannot listen we exit before touching any address.
    if (opts_.initial.statusListen != "off") {
      status_ = std::make_unique<status::StatusServer>([this] { return snapshot(); }, registry_, log_.child("status"));
      auto sst = status_->start(opts_.initial.statusListen);
      if (!sst) return fail("status endpoint", sst.error());
    }
    auto st = applyVhids(opts_.initial);
    if (!st) {
      agent_->shutdown(now());
      if (status_) status_->stop();
      return fail("config", st.error());
    }
    current_ = opts_.initial;
    if (opts_.cluster) {
      // Applies the persisted plan (on this thread, which becomes the loop thread), then
      // follows the controller on the extension's own thread.
      cluster_ = opts_.cluster(*this, log_);
      if (auto cst = cluster_->start(); !cst) {
        agent_->shutdown(now());
        if (status_) status_->stop();
        return fail("plan client", cst.error());
      }
    }

    auto r = loop_->run();
    shuttingDown_ = true;
    addresses_->release(log_);  // no-op unless the loop ended during the linger
    if (cluster_) cluster_->stop();  // no apply can wait for the (stopped) loop any more
    if (status_) status_->stop();
    if (!r) {
      log_.error("event loop failed", {{"error", r.error().message}});
      agent_->shutdown(now());
      return 1;
    }
    log_.info("stopped");
    return 0;
  }

private:
  int fail(const char* what, const Error& e) {
    log_.error("cannot start", {{"what", what}, {"error", e.message}});
    return 1;
  }

  LinkStatus queryLink(const std::string& ifname) {
    LinkStatus s;
    auto flags = io::queryLinkFlags(ifname);
    s.exists = flags.exists;
    s.up = flags.up;
    if (s.exists) {
      auto addrs = table_->list(ifname);
      if (addrs) s.addresses = std::move(*addrs);
    }
    return s;
  }

  void refreshInterface(const std::string& ifname) {
    agent_->linkChanged(ifname, queryLink(ifname), now());
    agent_->reconcileAddresses(ifname, now());
  }

  Status applyVhids(const config::AgentConfig& cfg) {
    // Feed the link state of every interface first so new vhids start in the right state.
    std::set<std::string> names;
    for (const auto& v : cfg.vhids) names.insert(v.interface);
    for (const auto& n : names) agent_->linkChanged(n, queryLink(n), now());
    auto st = agent_->apply(cfg, now());
    if (!st) return st;
    keys_.clear();
    for (const auto& v : cfg.vhids) keys_.push_back(VhostKey{v.interface, v.vhid});
    log_.setLevel(cfg.logLevel);
    for (const auto& n : agent_->interfaces()) agent_->reconcileAddresses(n, now());
    rearm();
    return okStatus();
  }

  void linkEvent(const std::string& ifname) {
    pool_->refresh();
    auto names = agent_->interfaces();
    if (ifname.empty()) {
      for (const auto& n : names) refreshInterface(n);
    } else if (std::find(names.begin(), names.end(), ifname) != names.end()) {
      refreshInterface(ifname);
    }
    rearm();
  }

  void rearm() {
    if (cluster_) cluster_->observe();
    if (timer_) loop_->cancelTimer(*timer_);
    timer_.reset();
    auto next = agent_->nextDeadline();
    if (!next) return;
    timer_ = loop_->addTimer(*next, [this] {
      timer_.reset();
      agent_->timerFired(now());
      rearm();
    });
  }

  void onSignal(int sig) {
    if (sig == SIGHUP) {
      reload();
      return;
    }
    if (shuttingDown_) {  // a second signal during the linger: release now
      addresses_->release(log_);
      loop_->stop();
      return;
    }
    log_.info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    shuttingDown_ = true;  // snapshots arriving from now on are not applied
    addresses_->hold();
    agent_->shutdown(now());  // bow-out adverts; the VIP removals are held back
    if (timer_) loop_->cancelTimer(*timer_);
    timer_.reset();
    if (!addresses_->holdsAny()) {
      loop_->stop();
      return;
    }
    loop_->addTimer(now() + ShutdownLinger, [this] {
      addresses_->release(log_);
      loop_->stop();
    });
  }

  void reload() {
    if (!opts_.configPath) {
      log_.info("SIGHUP ignored: no --config file to reload");
      return;
    }
    auto cfg = config::loadConfigFile(*opts_.configPath);
    if (cfg) config::applyOverrides(opts_.commandLine, *cfg);
    Status st = cfg ? applyVhids(*cfg) : Status(cfg.error());
    if (!st) {
      reloads_->inc({{"result", "error"}});
      log_.error("reload failed; keeping the running config", {{"error", st.error().message}});
      return;
    }
    if (cfg->statusListen != current_.statusListen) {
      log_.warn("statusListen changes need a restart", {{"running", current_.statusListen},
                                                        {"configured", cfg->statusListen}});
    }
    current_ = *cfg;
    reloads_->inc({{"result", "ok"}});
    log_.info("config reloaded", {{"vhids", cfg->vhids.size()}});
  }

  std::optional<std::string> snapshot() {
    auto promise = std::make_shared<std::promise<std::string>>();
    auto future = promise->get_future();
    loop_->post([this, promise] {
      auto j = agent_->stateJson(now(), wallNow());
      if (cluster_) j["cluster"] = cluster_->statusJson();
      promise->set_value(j.dump(2) + "\n");
    });
    if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return std::nullopt;
    return future.get();
  }


  const DaemonOptions& opts_;
  Logger log_;
  Registry registry_;
  SystemRandom random_;
  io::GarpSender garp_;
  std::unique_ptr<io::EventLoop> loop_;
  std::unique_ptr<io::NetlinkAddressTable> table_;
  std::unique_ptr<LingeringAddressTable> addresses_;  // what the Agent binds/unbinds through
  std::unique_ptr<io::CarpSocketPool> pool_;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<io::LinkWatcher> watcher_;
  std::unique_ptr<status::StatusServer> status_;
  std::optional<io::EventLoop::TimerId> timer_;
  MetricFamily* reloads_ = nullptr;
  config::AgentConfig current_;
  std::vector<VhostKey> keys_;  // the vhids of the applied config

  std::atomic<bool> shuttingDown_{false};
  std::unique_ptr<ClusterMode> cluster_;  // stopped before the loop goes away
};

}  // namespace

int runDaemon(const DaemonOptions& options, Logger log) {
  Daemon d(options, std::move(log));
  return d.run();
}

}  // namespace carplb::agent::runtime
