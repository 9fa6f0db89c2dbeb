#include "agent/runtime/daemon.h"

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "agent/config/loader.h"
#include "agent/grpc/node_info.h"
#include "agent/grpc/to_agent_config.h"
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

class Daemon {
public:
  Daemon(const DaemonOptions& opts, Logger log) : opts_(opts), log_(std::move(log)) {}

  int run() {
    auto loop = io::EventLoop::create();
    if (!loop) return fail("event loop", loop.error());
    loop_ = std::move(*loop);
    auto table = io::NetlinkAddressTable::create();
    if (!table) return fail("netlink", table.error());
    table_ = std::move(*table);
    pool_ = std::make_unique<io::CarpSocketPool>(
        *loop_,
        [this](const std::string& ifname, std::span<const uint8_t> pkt) {
          agent_->packetReceived(ifname, pkt, now());
          rearm();
        },
        log_.child("io"));
    agent_ = std::make_unique<Agent>(AgentDeps{*pool_, *table_, garp_, random_, log_, registry_});
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
    auto st = applyConfig(opts_.initial);
    if (!st) {
      agent_->shutdown(now());
      if (status_) status_->stop();
      return fail("config", st.error());
    }
    current_ = opts_.initial;
    if (opts_.cluster) {
      // Applies the persisted snapshot (on this thread, which becomes the loop thread), then
      // connects on the client's own thread.
      loopThread_ = std::this_thread::get_id();
      if (auto cst = startCluster(); !cst) {
        agent_->shutdown(now());
        if (status_) status_->stop();
        return fail("plan client", cst.error());
      }
    }

    auto r = loop_->run();
    shuttingDown_ = true;
    if (client_) client_->stop();  // no apply can wait for the (stopped) loop any more
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
  TimePoint now() const { return loop_->clock().now(); }

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

  Status applyConfig(const config::AgentConfig& cfg) {
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
    if (client_) observe();
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
    log_.info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    shuttingDown_ = true;  // snapshots arriving from now on are not applied
    agent_->shutdown(now());
    if (timer_) loop_->cancelTimer(*timer_);
    timer_.reset();
    loop_->stop();
  }

  void reload() {
    if (!opts_.configPath) {
      log_.info("SIGHUP ignored: no --config file to reload");
      return;
    }
    auto cfg = config::loadConfigFile(*opts_.configPath);
    if (cfg) config::applyOverrides(opts_.commandLine, *cfg);
    Status st = cfg ? applyConfig(*cfg) : Status(cfg.error());
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
      auto j = agent_->stateJson(now(), loop_->clock().wallNow());
      if (opts_.cluster) j["cluster"] = clusterJson();
      promise->set_value(j.dump(2) + "\n");
    });
    if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return std::nullopt;
    return future.get();
  }


  // ---------------------------------------------------------------- cluster mode

  Status startCluster() {
    const ClusterOptions& c = *opts_.cluster;
    rpc::PlanClientOptions po = c.client;
    po.refreshHello = [](v1::Hello& hello) {
      hello.clear_interfaces();
      for (auto& ni : rpc::nodeInterfaces()) *hello.add_interfaces() = std::move(ni);
    };
    snapshotsRefused_ = &registry_.counter("carplb_agent_cluster_apply_timeouts_total",
                                           "Snapshots the event loop did not take in time (not applied)");
    client_ = std::make_unique<rpc::PlanClient>(
        std::move(po), [this](const v1::Snapshot& s) { return applyFromClient(s); }, log_.child("plan"),
        registry_, std::make_unique<SystemRandom>());
    log_.info("cluster mode", {{"controller", c.client.target},
                               {"node", c.client.hello.node_name()},
                               {"interface", c.defaultInterface}});
    return client_->start();
  }

  // PlanClient thread (or the loop thread during start()): apply on the loop thread, wait.
  Status applyFromClient(const v1::Snapshot& snapshot) {
    if (std::this_thread::get_id() == loopThread_) return applySnapshot(snapshot);
    struct Call {
      std::mutex mu;
      std::condition_variable cv;
      bool started = false;
      bool done = false;
      bool abandoned = false;
      Status result = okStatus();
    };
    auto call = std::make_shared<Call>();
    loop_->post([this, call, snapshot] {
      {
        std::lock_guard lock(call->mu);
        if (call->abandoned) return;
        call->started = true;
      }
      Status r = shuttingDown_ ? Status(makeError("snapshot: not applied, the agent is shutting down"))
                               : applySnapshot(snapshot);
      {
        std::lock_guard lock(call->mu);
        call->result = std::move(r);
        call->done = true;
      }
      call->cv.notify_all();
    });
    const auto deadline = std::chrono::steady_clock::now() + SnapshotApplyTimeout;
    std::unique_lock lock(call->mu);
    while (!call->done) {
      call->cv.wait_for(lock, std::chrono::milliseconds(100));
      if (call->done || call->started) continue;  // once started, it finishes (it never blocks)
      if (shuttingDown_) {
        call->abandoned = true;
        return makeError("snapshot: not applied, the agent is shutting down");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        call->abandoned = true;
        snapshotsRefused_->inc();
        return makeError("snapshot: not applied, the agent's event loop did not take it within " +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(SnapshotApplyTimeout).count()) +
                         "s");
      }
    }
    return call->result;
  }

  // Loop thread.
  Status applySnapshot(const v1::Snapshot& in) {
    v1::Snapshot snapshot = in;
    for (int i = 0; i < snapshot.vhosts_size(); ++i) {
      v1::Vhost* v = snapshot.mutable_vhosts(i);
      if (!v->interface().empty()) continue;
      auto ifname = defaultInterface();
      if (!ifname) {
        return makeError("snapshot.vhosts[" + std::to_string(i) + "].interface: empty and no default: " +
                         ifname.error().message);
      }
      v->set_interface(*ifname);
    }
    config::AgentConfig base = opts_.initial;
    base.vhids.clear();
    auto cfg = rpc::agentConfigFromSnapshot(snapshot, base);
    if (!cfg) return cfg.error();
    if (snapshot.draining()) {
      for (auto& v : cfg->vhids) v.demote = DrainDemote;
    }
    if (auto st = applyConfig(*cfg); !st) return st;
    current_ = std::move(*cfg);
    if (snapshot.draining() != draining_) {
      log_.info(snapshot.draining() ? "node draining: every vhid demoted" : "node no longer draining",
                {{"demote", snapshot.draining() ? DrainDemote : 0}});
    }
    draining_ = snapshot.draining();
    return okStatus();
  }

  Result<std::string> defaultInterface() {
    const std::string& want = opts_.cluster->defaultInterface;
    if (want != config::AutoInterface) return want;
    if (autoInterface_.empty()) {
      auto found = rpc::detectDefaultInterface();
      if (!found) return found.error();
      autoInterface_ = *found;
      log_.info("default interface chosen", {{"interface", autoInterface_}, {"reason", "auto"}});
    }
    return autoInterface_;
  }

  static v1::CarpState toProto(carp::State s) {
    switch (s) {
      case carp::State::Init: return v1::CARP_STATE_INIT;
      case carp::State::Backup: return v1::CARP_STATE_BACKUP;
      case carp::State::Master: return v1::CARP_STATE_MASTER;
    }
    return v1::CARP_STATE_UNSPECIFIED;
  }

  void setTime(google::protobuf::Timestamp* ts, TimePoint at) {
    const WallTime wall = loop_->clock().wallNow() - std::chrono::duration_cast<WallTime::duration>(now() - at);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count();
    ts->set_seconds(ns / 1000000000);
    ts->set_nanos(static_cast<int32_t>(ns % 1000000000));
  }

  // Loop thread, after every event: reports state changes and foreign speakers.
  void observe() {
    const TimePoint t = now();
    std::set<VhostKey> live(keys_.begin(), keys_.end());
    for (auto it = observed_.begin(); it != observed_.end();) {
      if (live.contains(it->first) && agent_->vhost(it->first) != nullptr) {
        ++it;
        continue;
      }
      if (it->second.state != carp::State::Init) {
        v1::StateChange sc;
        sc.set_vhid(static_cast<uint32_t>(it->first.vhid));
        sc.set_from(toProto(it->second.state));
        sc.set_to(v1::CARP_STATE_INIT);
        sc.set_reason("config_removed");
        setTime(sc.mutable_time(), t);
        client_->reportStateChange(sc);
      }
      it = observed_.erase(it);
    }
    for (const auto& key : keys_) {
      const carp::VirtualHost* vh = agent_->vhost(key);
      if (vh == nullptr) continue;
      auto [it, fresh] = observed_.try_emplace(key);
      Observed& o = it->second;
      const uint64_t gen = agent_->generation(key);
      if (fresh || o.generation != gen) {
        o.generation = gen;
        o.foreignPackets = 0;  // a recreated VirtualHost starts its counters again
      }
      const auto& stats = vh->stats();
      if (vh->state() != o.state) {
        v1::StateChange sc;
        sc.set_vhid(static_cast<uint32_t>(key.vhid));
        sc.set_from(toProto(o.state));
        sc.set_to(toProto(vh->state()));
        sc.set_reason(stats.lastTransitionReason ? std::string(carp::toString(*stats.lastTransitionReason))
                                                 : std::string("config_changed"));
        setTime(sc.mutable_time(), stats.lastTransitionAt.value_or(t));
        client_->reportStateChange(sc);
        o.state = vh->state();
      }
      if (stats.foreignSpeakerPackets > o.foreignPackets && stats.lastForeignSource) {
        o.foreignPackets = stats.foreignSpeakerPackets;
        const std::string source = carp::toString(*stats.lastForeignSource);
        auto& last = foreignReported_[{key.vhid, key.interface, source}];
        if (!last || t - *last >= ForeignSpeakerReportInterval) {
          last = t;
          v1::ForeignSpeaker fs;
          fs.set_vhid(static_cast<uint32_t>(key.vhid));
          fs.set_interface(key.interface);
          fs.set_source_address(source);
          fs.set_protocol(v1::FOREIGN_PROTOCOL_CARP);
          setTime(fs.mutable_time(), stats.lastForeignAt.value_or(t));
          client_->reportForeignSpeaker(fs);
          log_.warn("foreign speaker on our vhid reported to the controller",
                    {{"vhid", key.vhid}, {"interface", key.interface}, {"from", source}});
        }
      }
    }
  }

  nlohmann::json clusterJson() const {
    const auto& c = *opts_.cluster;
    auto [epoch, generation] = client_ ? client_->applied() : std::pair<std::string, uint64_t>{};
    return {{"controller", c.client.target},
            {"node", c.client.hello.node_name()},
            {"connected", client_ && client_->connected()},
            {"appliedControllerEpoch", epoch},
            {"appliedGeneration", generation},
            {"draining", draining_},
            {"defaultInterface", autoInterface_.empty() ? c.defaultInterface : autoInterface_}};
  }

  struct Observed {
    carp::State state = carp::State::Init;
    uint64_t generation = 0;
    uint64_t foreignPackets = 0;
  };

  const DaemonOptions& opts_;
  Logger log_;
  Registry registry_;
  SystemRandom random_;
  io::GarpSender garp_;
  std::unique_ptr<io::EventLoop> loop_;
  std::unique_ptr<io::NetlinkAddressTable> table_;
  std::unique_ptr<io::CarpSocketPool> pool_;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<io::LinkWatcher> watcher_;
  std::unique_ptr<status::StatusServer> status_;
  std::optional<io::EventLoop::TimerId> timer_;
  MetricFamily* reloads_ = nullptr;
  config::AgentConfig current_;
  std::vector<VhostKey> keys_;  // the vhids of the applied config

  // cluster mode
  std::atomic<bool> shuttingDown_{false};
  std::thread::id loopThread_;
  std::unique_ptr<rpc::PlanClient> client_;  // stopped before the loop goes away
  bool draining_ = false;
  std::string autoInterface_;
  std::map<VhostKey, Observed> observed_;
  std::map<std::tuple<int, std::string, std::string>, std::optional<TimePoint>> foreignReported_;
  MetricFamily* snapshotsRefused_ = nullptr;
};

}  // namespace

int runDaemon(const DaemonOptions& options, Logger log) {
  Daemon d(options, std::move(log));
  return d.run();
}

}  // namespace carplb::agent::runtime
