#include "agent/grpc/cluster_mode.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "agent/grpc/node_info.h"
#include "agent/grpc/to_agent_config.h"
#include "common/random.h"

namespace carplb::agent::rpc {
namespace {

using runtime::VhostKey;

class Cluster final : public runtime::ClusterMode {
public:
  Cluster(ClusterOptions opts, runtime::DaemonHost& host, Logger log)
      : opts_(std::move(opts)), host_(host), log_(std::move(log)) {}

  void stop() override {
    if (client_) client_->stop();
  }

  Status start() override {
    loopThread_ = std::this_thread::get_id();
    const ClusterOptions& c = opts_;
    PlanClientOptions po = c.client;
    po.refreshHello = [](v1::Hello& hello) {
      hello.clear_interfaces();
      for (auto& ni : nodeInterfaces()) *hello.add_interfaces() = std::move(ni);
    };
    snapshotsRefused_ = &host_.registry().counter("carplb_agent_cluster_apply_timeouts_total",
                                           "Snapshots the event loop did not take in time (not applied)");
    client_ = std::make_unique<PlanClient>(
        std::move(po), [this](const v1::Snapshot& s) { return applyFromClient(s); }, log_.child("plan"),
        host_.registry(), std::make_unique<SystemRandom>());
    log_.info("cluster mode", {{"controller", c.client.target},
                               {"node", c.client.hello.node_name()},
                               {"interface", c.defaultInterface}});
    listenOnDefaultInterface();
    return client_->start();
  }

private:
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
    host_.post([this, call, snapshot] {
      {
        std::lock_guard lock(call->mu);
        if (call->abandoned) return;
        call->started = true;
      }
      Status r = host_.shuttingDown() ? Status(makeError("snapshot: not applied, the agent is shutting down"))
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
      if (host_.shuttingDown()) {
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
    config::AgentConfig base = host_.initialConfig();
    base.vhids.clear();
    auto cfg = agentConfigFromSnapshot(snapshot, base);
    if (!cfg) return cfg.error();
    if (snapshot.draining()) {
      for (auto& v : cfg->vhids) v.demote = DrainDemote;
    }
    if (auto st = host_.applyConfig(*cfg); !st) return st;
    if (snapshot.draining() != draining_) {
      log_.info(snapshot.draining() ? "node draining: every vhid demoted" : "node no longer draining",
                {{"demote", snapshot.draining() ? DrainDemote : 0}});
    }
    draining_ = snapshot.draining();
    return okStatus();
  }

  // Loop thread, at start: hear the default interface from now on (claims, see the header).
  // Not fatal: without it the first vhid there is simply not claimed.
  void listenOnDefaultInterface() {
    auto ifname = defaultInterface();
    if (!ifname) {
      log_.warn("not listening before the first vhid: no default interface", {{"error", ifname.error().message}});
      return;
    }
    if (auto st = host_.listen(*ifname); !st) {
      log_.warn("not listening before the first vhid", {{"interface", *ifname}, {"error", st.error().message}});
      return;
    }
    const carp::ListenHistory* h = host_.agent().listenHistory(*ifname);
    log_.info("listening on the default interface", {{"interface", *ifname},
                                                     {"link", h != nullptr && h->listening() ? "up" : "down"}});
  }

  Result<std::string> defaultInterface() {
    const std::string& want = opts_.defaultInterface;
    if (want != config::AutoInterface) return want;
    if (autoInterface_.empty()) {
      auto found = detectDefaultInterface();
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
    const WallTime wall = host_.wallNow() - std::chrono::duration_cast<WallTime::duration>(host_.now() - at);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count();
    ts->set_seconds(ns / 1000000000);
    ts->set_nanos(static_cast<int32_t>(ns % 1000000000));
  }

public:
  // Loop thread, after every event: reports state changes and foreign speakers.
  void observe() override {
    const TimePoint t = host_.now();
    const auto& keys = host_.vhostKeys();
    const runtime::Agent& agent = host_.agent();
    std::set<VhostKey> live(keys.begin(), keys.end());
    for (auto it = observed_.begin(); it != observed_.end();) {
      if (live.contains(it->first) && agent.vhost(it->first) != nullptr) {
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
    for (const auto& key : keys) {
      const carp::VirtualHost* vh = agent.vhost(key);
      if (vh == nullptr) continue;
      auto [it, fresh] = observed_.try_emplace(key);
      Observed& o = it->second;
      const uint64_t gen = agent.generation(key);
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

  nlohmann::json statusJson() const override {
    const auto& c = opts_;
    auto [epoch, generation] = client_ ? client_->applied() : std::pair<std::string, uint64_t>{};
    return {{"controller", c.client.target},
            {"node", c.client.hello.node_name()},
            {"connected", client_ && client_->connected()},
            {"appliedControllerEpoch", epoch},
            {"appliedGeneration", generation},
            {"draining", draining_},
            {"defaultInterface", autoInterface_.empty() ? c.defaultInterface : autoInterface_}};
  }

private:
  struct Observed {
    carp::State state = carp::State::Init;
    uint64_t generation = 0;
    uint64_t foreignPackets = 0;
  };

  const ClusterOptions opts_;
  runtime::DaemonHost& host_;
  Logger log_;
  std::thread::id loopThread_;
  std::unique_ptr<PlanClient> client_;
  bool draining_ = false;
  std::string autoInterface_;
  std::map<VhostKey, Observed> observed_;
  std::map<std::tuple<int, std::string, std::string>, std::optional<TimePoint>> foreignReported_;
  MetricFamily* snapshotsRefused_ = nullptr;
};

}  // namespace

runtime::ClusterModeFactory clusterMode(ClusterOptions options) {
  return [opts = std::move(options)](runtime::DaemonHost& host, Logger log) -> std::unique_ptr<runtime::ClusterMode> {
    return std::make_unique<Cluster>(opts, host, std::move(log));
  };
}

}  // namespace carplb::agent::rpc
