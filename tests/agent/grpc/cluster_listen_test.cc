// Cluster mode listens on the default interface from its start (claims): the first vhid a
// fresh agent gets is claimed once the agent has listened for the vhid's master-down interval.
// A real PlanServer over TLS on 127.0.0.1 sends the plan; the daemon side is a DaemonHost over
// the real Agent engine with fake sockets and a FakeClock, its "loop" is the test thread.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <mutex>

#include "agent/grpc/cluster_mode.h"
#include "agent/runtime/agent.h"
#include "agent/runtime/daemon.h"
#include "fakes/fake_address_table.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_transport.h"
#include "proto/plan_server_fixture.h"

namespace carplb::agent::rpc {
namespace {

using namespace std::chrono_literals;
using runtime::LinkStatus;
using runtime::VhostKey;

LinkStatus upLink() {
  return LinkStatus{true, true, {{*carp::Ipv4Address::parse("192.0.2.1"), 24, false}}};
}

// The daemon as cluster mode sees it; posted functions run when the test calls runPosted().
class FakeHost final : public runtime::DaemonHost {
public:
  explicit FakeHost(Logger log) : agent_(runtime::AgentDeps{tx, table, arp, rnd, std::move(log), reg}) {}

  TimePoint now() const override { return clock.now(); }
  WallTime wallNow() const override { return clock.wallNow(); }
  void post(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    posted_.push_back(std::move(fn));
  }
  bool shuttingDown() const override { return false; }
  Status applyConfig(const config::AgentConfig& cfg) override {
    for (const auto& v : cfg.vhids) agent_.linkChanged(v.interface, upLink(), now());  // as the daemon does
    auto st = agent_.apply(cfg, now());
    if (!st) return st;
    keys_.clear();
    for (const auto& v : cfg.vhids) keys_.push_back(VhostKey{v.interface, v.vhid});
    return okStatus();
  }
  const config::AgentConfig& initialConfig() const override { return initial_; }
  const runtime::Agent& agent() const override { return agent_; }
  Status listen(const std::string& ifname) override {  // as the daemon does: link first
    linkQueries.push_back(ifname);
    agent_.linkChanged(ifname, link(ifname), now());
    return agent_.listen(ifname, now());
  }
  const std::vector<VhostKey>& vhostKeys() const override { return keys_; }
  Registry& registry() override { return reg; }

  // The loop: runs what the plan client posted so far.
  void runPosted() {
    std::deque<std::function<void()>> fns;
    {
      std::lock_guard lock(mu_);
      fns.swap(posted_);
    }
    for (auto& f : fns) f();
  }

  // The link state the daemon would read (SIOCGIFFLAGS + netlink) and who asked for it.
  std::function<LinkStatus(const std::string&)> link = [](const std::string&) { return upLink(); };
  std::vector<std::string> linkQueries;
  testing::FakeClock clock;
  testing::FakeCarpTransport tx;
  testing::FakeAddressTable table;
  testing::FakeArpAnnouncer arp;
  testing::FakeRandom rnd;
  Registry reg;

private:
  runtime::Agent agent_;
  config::AgentConfig initial_;
  std::vector<VhostKey> keys_;
  std::mutex mu_;
  std::deque<std::function<void()>> posted_;
};

class ClusterListen : public ::testing::Test, protected testing::PlanServerHarness {
protected:
  void SetUp() override {
    server_ = startServer(serverOptions());
    ASSERT_TRUE(server_);
  }
  void TearDown() override {
    if (cluster_) cluster_->stop();  // the client thread ends before the host goes away
    cluster_.reset();
  }

  ClusterOptions options() {
    ClusterOptions o;
    o.client.target = "127.0.0.1:" + std::to_string(server_->port());
    o.client.caPem = tls_.caPem;
    o.client.tlsServerName = "localhost";
    o.client.token = testing::TestAgentToken;
    o.client.hello.set_node_name("node-a");
    o.client.backoff = {.initial = 20ms, .max = 200ms, .multiplier = 2.0, .jitter = 0.2};
    o.defaultInterface = "eth0";
    return o;
  }

  // The plan creates vhid 21 (advbase 1: master-down about 3 s) with this node as its
  // claiming master; the vhost names no interface, so it goes on the default one.
  void publishNewVhid() {
    v1::Vhost v = testing::testVhost(21, "192.0.2.21", 0);
    v.set_interface("");
    v.set_claim(true);
    server_->publish("node-a", testing::withKeys({v}));
  }

  // Runs the loop until the vhid exists (the plan client applied the snapshot).
  std::optional<carp::State> waitForVhid() {
    const VhostKey key{"eth0", 21};
    const bool applied = testing::eventually([&] {
      host.runPosted();
      return host.agent().state(key).has_value();
    });
    EXPECT_TRUE(applied) << "the plan was not applied";
    return host.agent().state(key);
  }

  std::unique_ptr<controller::rpc::PlanServer> server_;
  FakeHost host{logs_.logger("agent")};
  std::unique_ptr<runtime::ClusterMode> cluster_;  // declared after `host`: destroyed first
};

TEST_F(ClusterListen, StartListensOnTheDefaultInterfaceBeforeAnyVhid) {
  const TimePoint started = host.clock.now();
  cluster_ = clusterMode(options())(host, logs_.logger("cluster"));
  ASSERT_TRUE(cluster_->start().ok());
  EXPECT_EQ(host.linkQueries, std::vector<std::string>{"eth0"}) << "listened through the daemon";
  EXPECT_TRUE(host.tx.open.contains("eth0")) << "the CARP socket is open with no vhid";
  const carp::ListenHistory* h = host.agent().listenHistory("eth0");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->listeningSince(), started);
  EXPECT_EQ(host.agent().interfaces(), std::vector<std::string>{"eth0"}) << "the daemon watches its link";
  EXPECT_TRUE(logs_.contains("listening on the default interface")) << "logged with the interface";
}

TEST_F(ClusterListen, FreshAgentsFirstVhidIsClaimedAfterTheMasterDownInterval) {
  cluster_ = clusterMode(options())(host, logs_.logger("cluster"));
  ASSERT_TRUE(cluster_->start().ok());
  host.clock.advance(4s);  // listened longer than 3 x advbase + skew, heard nothing
  publishNewVhid();
  EXPECT_EQ(waitForVhid(), carp::State::Master);
  EXPECT_TRUE(logs_.contains("vhid claimed: nobody heard on it"));
}

TEST_F(ClusterListen, FirstVhidSoonAfterStartIsAnOrdinaryBackup) {
  cluster_ = clusterMode(options())(host, logs_.logger("cluster"));
  ASSERT_TRUE(cluster_->start().ok());
  host.clock.advance(1s);  // shorter than the vhid's master-down interval
  publishNewVhid();
  EXPECT_EQ(waitForVhid(), carp::State::Backup);
  EXPECT_TRUE(logs_.contains("listened_too_short"));
}

TEST_F(ClusterListen, DownLinkAtStartIsNotCountedAsListening) {
  host.link = [](const std::string&) { return LinkStatus{true, false, {}}; };
  cluster_ = clusterMode(options())(host, logs_.logger("cluster"));
  ASSERT_TRUE(cluster_->start().ok());
  const carp::ListenHistory* h = host.agent().listenHistory("eth0");
  ASSERT_NE(h, nullptr);
  EXPECT_FALSE(h->listening()) << "a down link hears nothing";
  host.clock.advance(4s);
  publishNewVhid();
  EXPECT_EQ(waitForVhid(), carp::State::Backup) << "the vhid's link came up only with the vhid";
}

}  // namespace
}  // namespace carplb::agent::rpc
