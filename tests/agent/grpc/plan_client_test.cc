// PlanClient against a real PlanServer over TLS on 127.0.0.1 (port 0); the snapshot file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "agent/grpc/plan_client.h"
#include "agent/grpc/snapshot_file.h"
#include "agent/grpc/to_agent_config.h"
#include "controller/grpc/plan_server.h"
#include "proto/plan_server_fixture.h"

namespace carplb::agent::rpc {
namespace {

using namespace std::chrono_literals;
using carplb::controller::rpc::AgentEventKind;
using carplb::controller::rpc::PlanServer;
using carplb::testing::eventually;
using carplb::testing::PlanServerHarness;
using carplb::testing::TempDir;

constexpr const char* Token = carplb::testing::TestAgentToken;

std::vector<v1::Vhost> plan(uint32_t advskew) {
  v1::Vhost v = carplb::testing::testVhost(21, "192.0.2.21", advskew);
  v.set_preempt(true);
  v.set_preempt_delay_seconds(30);
  return carplb::testing::withKeys({v});
}

// Records what the agent would apply.
struct FakeAgent {
  std::mutex mu;
  std::vector<v1::Snapshot> applied;
  Status next = okStatus();
  PlanClient::ApplyFn fn() {
    return [this](const v1::Snapshot& s) -> Status {
      std::lock_guard lock(mu);
      if (!next.ok()) {
        return next;
      }
      applied.push_back(s);
      return okStatus();
    };
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return applied.size();
  }
  v1::Snapshot last() {
    std::lock_guard lock(mu);
    return applied.back();
  }
};

bool acked(PlanServer& server, const std::string& node, uint64_t generation);

class PlanClientTest : public ::testing::Test, protected PlanServerHarness {
protected:
  std::unique_ptr<PlanServer> startServer(const std::string& listen = "127.0.0.1:0") {
    return PlanServerHarness::startServer(serverOptions(listen));
  }

  PlanClientOptions clientOptions(int port, const std::string& node = "node-a") {
    PlanClientOptions o;
    o.target = "127.0.0.1:" + std::to_string(port);
    o.caPem = tls_.caPem;
    o.tlsServerName = "localhost";
    o.token = Token;
    o.hello.set_node_name(node);
    o.hello.set_version("0.1.0-test");
    o.snapshotPath = dir_.file("snapshot.bin");
    o.backoff = {.initial = 20ms, .max = 200ms, .multiplier = 2.0, .jitter = 0.2};
    return o;
  }

  std::unique_ptr<PlanClient> makeClient(PlanClientOptions o, FakeAgent& agent) {
    return std::make_unique<PlanClient>(std::move(o), agent.fn(), logs_.logger("agent"), clientMetrics_,
                                        std::make_unique<SystemRandom>(42));
  }

  // A server publishing plan(advskew) to node-a and a started client for node-a. Members in
  // this order so the client stops before its agent and the server go away.
  struct Running {
    std::unique_ptr<PlanServer> server;
    std::unique_ptr<FakeAgent> agent = std::make_unique<FakeAgent>();
    std::unique_ptr<PlanClient> client;
  };
  // Use with ASSERT_NO_FATAL_FAILURE. With waitForAck the client has acked generation 1 when
  // this returns.
  void startRunning(Running& r, uint32_t advskew = 0, bool waitForAck = true) {
    r.server = startServer();
    ASSERT_TRUE(r.server);
    r.server->publish("node-a", plan(advskew));
    r.client = makeClient(clientOptions(r.server->port()), *r.agent);
    ASSERT_TRUE(r.client->start().ok());
    if (waitForAck) {
      ASSERT_TRUE(eventually([&] { return acked(*r.server, "node-a", 1); }));
    }
  }

  Registry clientMetrics_;
};

bool acked(PlanServer& server, const std::string& node, uint64_t generation) {
  for (const auto& a : server.agents()) {
    if (a.node == node && a.ackedGeneration == generation) {
      return true;
    }
  }
  return false;
}

TEST_F(PlanClientTest, HelloSnapshotAckRoundTripAndReports) {
  Running r;
  ASSERT_NO_FATAL_FAILURE(startRunning(r));
  auto& [server, agentPtr, client] = r;
  FakeAgent& agent = *agentPtr;
  ASSERT_EQ(agent.count(), 1u);
  EXPECT_EQ(agent.last().vhosts(0).vhid(), 21u);
  EXPECT_EQ(client->applied(), std::make_pair(server->epoch(), uint64_t{1}));
  EXPECT_TRUE(server->agentHealthy("node-a"));

  // A plan change reaches the agent.
  EXPECT_EQ(server->publish("node-a", plan(100)), 2u);
  ASSERT_TRUE(eventually([&] { return acked(*server, "node-a", 2); }));
  EXPECT_EQ(agent.last().vhosts(0).advskew(), 100u);

  v1::StateChange sc;
  sc.set_vhid(21);
  sc.set_from(v1::CARP_STATE_BACKUP);
  sc.set_to(v1::CARP_STATE_MASTER);
  sc.set_reason("master_down");
  client->reportStateChange(sc);
  v1::ForeignSpeaker fs;
  fs.set_vhid(21);
  fs.set_protocol(v1::FOREIGN_PROTOCOL_CARP);
  client->reportForeignSpeaker(fs);
  std::vector<AgentEventKind> kinds;
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : server->drainEvents()) {
      kinds.push_back(e.kind);
    }
    return kinds.size() >= 5;
  }));
  EXPECT_EQ(kinds, (std::vector<AgentEventKind>{AgentEventKind::Connected, AgentEventKind::Acked, AgentEventKind::Acked,
                                                AgentEventKind::StateChange, AgentEventKind::ForeignSpeaker}));
  client->stop();
  ASSERT_TRUE(eventually([&] { return !server->agentHealthy("node-a"); }));
}

TEST_F(PlanClientTest, SameGenerationTwiceIsNotReapplied) {
  Running r;
  ASSERT_NO_FATAL_FAILURE(startRunning(r));
  auto& [server, agent, client] = r;
  // Another stream for node-a replaces the client's; the client reconnects and gets
  // generation 1 again: acked, not applied.
  FakeAgent intruder;
  auto o2 = clientOptions(server->port());
  o2.snapshotPath.clear();
  auto other = makeClient(o2, intruder);
  ASSERT_TRUE(other->start().ok());
  ASSERT_TRUE(eventually([&] { return intruder.count() == 1; }));
  other->stop();
  ASSERT_TRUE(eventually([&] { return client->connectCount() >= 2 && client->connected() && server->agentHealthy("node-a"); }));
  ASSERT_TRUE(eventually([&] {
    return clientMetrics_.counter("carplb_agent_snapshots_unchanged_total", "").get() >= 1.0;
  }));
  EXPECT_EQ(agent->count(), 1u);
  EXPECT_EQ(client->applyCount(), 1u);
}

TEST_F(PlanClientTest, ReconnectsAfterServerRestart) {
  Running r;
  ASSERT_NO_FATAL_FAILURE(startRunning(r));
  auto& [server, agentPtr, client] = r;
  FakeAgent& agent = *agentPtr;
  const int port = server->port();
  ASSERT_EQ(agent.count(), 1u);
  const std::string firstEpoch = server->epoch();
  server.reset();  // controller goes away: the agent keeps its snapshot (fail static)
  ASSERT_TRUE(eventually([&] { return !client->connected(); }));
  EXPECT_EQ(client->applied().second, 1u);

  server = startServer("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(server);
  server->publish("node-a", plan(0));
  ASSERT_TRUE(eventually([&] { return acked(*server, "node-a", 1); }, 20000ms));
  EXPECT_NE(server->epoch(), firstEpoch);
  EXPECT_EQ(agent.count(), 2u);  // new controller epoch: applied (the agent diffs vhids itself)
  EXPECT_EQ(client->applied().first, server->epoch());
  EXPECT_GE(client->connectCount(), 2u);
  const auto hello = server->agents().at(0).hello;
  EXPECT_EQ(hello.applied_controller_epoch(), firstEpoch);  // said what it was running
  EXPECT_EQ(hello.applied_generation(), 1u);
}

TEST_F(PlanClientTest, PersistedSnapshotIsReloadedWhenControllerUnreachable) {
  const std::string path = dir_.file("snapshot.bin");
  std::string epoch;
  {
    Running r;
    ASSERT_NO_FATAL_FAILURE(startRunning(r, 7));
    epoch = r.server->epoch();
    r.client->stop();
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Agent restarts while the controller is gone: it runs the file's snapshot at start().
  FakeAgent agent;
  auto o = clientOptions(1);  // nothing listens on port 1
  auto client = makeClient(o, agent);
  ASSERT_TRUE(client->start().ok());
  ASSERT_EQ(agent.count(), 1u);
  EXPECT_EQ(agent.last().vhosts(0).advskew(), 7u);
  EXPECT_EQ(agent.last().controller_epoch(), epoch);
  EXPECT_EQ(client->applied(), std::make_pair(epoch, uint64_t{1}));
  EXPECT_FALSE(client->connected());
  client->stop();

  // A file for another node is not used.
  FakeAgent other;
  auto ob = clientOptions(1, "node-b");
  auto clientB = makeClient(ob, other);
  ASSERT_TRUE(clientB->start().ok());
  EXPECT_EQ(other.count(), 0u);
  clientB->stop();
}

TEST_F(PlanClientTest, ApplyFailureIsReportedAndNotAcked) {
  Running r;
  r.agent->next = makeError("vhids[0].interface: eth0 does not exist");
  ASSERT_NO_FATAL_FAILURE(startRunning(r, 0, /*waitForAck=*/false));
  auto& [server, agent, client] = r;
  bool sawError = false;
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : server->drainEvents()) {
      if (e.kind == AgentEventKind::ApplyError) {
        sawError = e.report.apply_error().message() == "vhids[0].interface: eth0 does not exist" &&
                   e.report.apply_error().generation() == 1;
      }
    }
    return sawError;
  }));
  EXPECT_FALSE(acked(*server, "node-a", 1));
  EXPECT_EQ(client->applied().second, 0u);
  EXPECT_EQ(loadSnapshotFile(dir_.file("snapshot.bin")).ok(), false);  // nothing persisted
  client->stop();
}

TEST_F(PlanClientTest, KeysNeverLoggedEvenAtDebug) {
  Running r;
  ASSERT_NO_FATAL_FAILURE(startRunning(r));
  r.client->stop();
  r.server.reset();
  EXPECT_TRUE(logs_.contains("<redacted>"));  // the snapshot was printed at debug ...
  EXPECT_FALSE(logs_.contains(plan(0)[0].auth_key()));  // ... without its key
  EXPECT_FALSE(logs_.contains(Token));
}

TEST_F(PlanClientTest, StartRefusesIncompleteOptions) {
  FakeAgent agent;
  auto o = clientOptions(1);
  o.caPem.clear();
  EXPECT_FALSE(makeClient(o, agent)->start().ok());
  o = clientOptions(1);
  o.token.clear();
  auto st = makeClient(o, agent)->start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("planClient.token"), std::string::npos);
  o = clientOptions(1);
  o.backoff.initial = 0ms;
  EXPECT_FALSE(makeClient(o, agent)->start().ok());
}

TEST(SnapshotFile, RejectsCorruptAndForeignFiles) {
  TempDir dir;
  const std::string path = dir.file("s.bin");
  EXPECT_NE(loadSnapshotFile(path).error().message.find("no such file"), std::string::npos);
  {
    std::ofstream out(path);
    out << "something else";
  }
  EXPECT_NE(loadSnapshotFile(path).error().message.find("bad header"), std::string::npos);
  {
    std::ofstream out(path);
    out << "carplb-snapshot-v1\n\xff\xff\xff";
  }
  EXPECT_FALSE(loadSnapshotFile(path).ok());
  v1::Snapshot invalid;  // generation 0
  invalid.set_controller_epoch("e");
  ASSERT_TRUE(saveSnapshotFile(path, invalid).ok());
  EXPECT_NE(loadSnapshotFile(path).error().message.find("snapshot.generation"), std::string::npos);
}

TEST(SnapshotFile, RoundTripOverwritesAtomically) {
  TempDir dir;
  const std::string path = dir.file("s.bin");
  v1::Snapshot s;
  s.set_controller_epoch("e1");
  s.set_generation(4);
  s.set_node_name("node-a");
  for (const auto& v : plan(3)) {
    *s.add_vhosts() = v;
  }
  ASSERT_TRUE(saveSnapshotFile(path, s).ok());
  s.set_generation(5);
  ASSERT_TRUE(saveSnapshotFile(path, s).ok());
  auto loaded = loadSnapshotFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->SerializeAsString(), s.SerializeAsString());
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
  }
  EXPECT_EQ(files, 1u);  // no temporary left behind
}

TEST(SnapshotFile, EmptyInterfaceMeansTheAgentsDefault) {
  TempDir dir;
  const std::string path = dir.file("s.bin");
  v1::Snapshot s;
  s.set_controller_epoch("e1");
  s.set_generation(1);
  s.set_node_name("node-a");
  for (const auto& v : plan(3)) {
    *s.add_vhosts() = v;
  }
  s.mutable_vhosts(0)->set_interface("");  // what the controller sends without a node annotation
  EXPECT_TRUE(validateAgentSnapshot(s).ok());
  ASSERT_TRUE(saveSnapshotFile(path, s).ok());
  auto loaded = loadSnapshotFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->vhosts(0).interface(), "");
  s.mutable_vhosts(0)->set_interface("a-very-long-interface");
  auto bad = validateAgentSnapshot(s);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("vhosts[0].interface"), std::string::npos) << bad.error().message;
}

TEST(ToAgentConfig, CopiesEveryField) {
  v1::Snapshot s;
  s.set_controller_epoch("e1");
  s.set_generation(1);
  for (const auto& v : plan(9)) {
    *s.add_vhosts() = v;
  }
  s.mutable_vhosts(0)->set_srcip("192.0.2.5");
  config::AgentConfig base;
  base.statusListen = "127.0.0.1:1";
  auto cfg = agentConfigFromSnapshot(s, base);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  ASSERT_EQ(cfg->vhids.size(), 1u);
  const auto& v = cfg->vhids[0];
  EXPECT_EQ(v.vhid, 21);
  EXPECT_EQ(v.interface, "eth0");
  EXPECT_EQ(v.srcip->str(), "192.0.2.5");
  ASSERT_EQ(v.addresses.size(), 1u);
  EXPECT_EQ(v.addresses[0].str(), "192.0.2.21");
  EXPECT_EQ(v.advskew, 9);
  EXPECT_EQ(v.password, s.vhosts(0).auth_key());
  EXPECT_TRUE(v.preempt);
  EXPECT_EQ(v.preemptDelay, std::chrono::seconds(30));
  EXPECT_EQ(cfg->statusListen, "127.0.0.1:1");

  s.mutable_vhosts(0)->add_vips("2001:db8::1");
  auto v6 = agentConfigFromSnapshot(s, base);
  ASSERT_FALSE(v6.ok());
  EXPECT_NE(v6.error().message.find("snapshot.vhosts[0].vips[1]"), std::string::npos);
}

}  // namespace
}  // namespace carplb::agent::rpc
