// PlanServer over real TLS on 127.0.0.1, port 0, driven by a raw generated stub.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <mutex>

#include "carplb/v1/agent.grpc.pb.h"
#include "controller/grpc/plan_server.h"
#include "controller/grpc/vhid_key.h"
#include "proto/plan_server_fixture.h"

namespace carplb::controller::rpc {
namespace {

using carplb::testing::eventually;
using carplb::testing::PlanServerHarness;
using carplb::testing::testVhost;
using carplb::testing::TlsMaterial;
using carplb::testing::withKeys;

constexpr const char* Token = carplb::testing::TestAgentToken;
constexpr const char* ClusterSecret = carplb::testing::TestClusterSecret;

std::vector<v1::Vhost> plan(uint32_t advskew) {
  return withKeys({testVhost(12, "192.0.2.12", advskew), testVhost(11, "192.0.2.11", 200)});
}

// One raw agent stream.
struct RawAgent {
  std::unique_ptr<v1::AgentControl::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>> rw;

  RawAgent(int port, const TlsMaterial& tls, const std::string& token, const std::string& certPem = "",
           const std::string& keyPem = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls.caPem;
    ssl.pem_cert_chain = certPem;
    ssl.pem_private_key = keyPem;
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(ssl));
    stub = v1::AgentControl::NewStub(channel);
    if (!token.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + token);
    }
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    rw = stub->Connect(&ctx);
  }
  bool hello(const std::string& node) {
    v1::AgentMessage m;
    m.mutable_hello()->set_node_name(node);
    m.mutable_hello()->set_version("test");
    auto* i = m.mutable_hello()->add_interfaces();
    i->set_name("eth0");
    i->add_addresses("192.0.2.21");
    return rw->Write(m);
  }
  grpc::Status close() {
    rw->WritesDone();
    return rw->Finish();
  }
};

class PlanServerTest : public ::testing::Test, protected PlanServerHarness {
protected:
  std::unique_ptr<PlanServer> startServer(std::string clientCa = "", std::string token = Token) {
    PlanServerOptions o = serverOptions();
    o.agentToken = std::move(token);
    o.clientCaPem = std::move(clientCa);
    o.onEvents = [this] { notified_++; };
    return PlanServerHarness::startServer(std::move(o));
  }

  static std::vector<AgentEventKind> kinds(const std::vector<AgentEvent>& evs, const std::string& node) {
    std::vector<AgentEventKind> out;
    for (const auto& e : evs) {
      if (e.node == node) {
        out.push_back(e.kind);
      }
    }
    return out;
  }

  std::atomic<int> notified_{0};
};

TEST_F(PlanServerTest, HelloSnapshotAckRoundTrip) {
  auto server = startServer();
  ASSERT_TRUE(server);
  ASSERT_GT(server->port(), 0);
  EXPECT_EQ(server->publish("node-a", plan(0)), 1u);
  EXPECT_FALSE(server->agentHealthy("node-a"));

  RawAgent agent(server->port(), tls_, Token);
  ASSERT_TRUE(agent.hello("node-a"));
  v1::ControllerMessage in;
  ASSERT_TRUE(agent.rw->Read(&in));
  ASSERT_TRUE(in.has_snapshot());
  const v1::Snapshot& s = in.snapshot();
  EXPECT_EQ(s.generation(), 1u);
  EXPECT_EQ(s.controller_epoch(), server->epoch());
  EXPECT_EQ(s.node_name(), "node-a");
  ASSERT_EQ(s.vhosts_size(), 2);
  EXPECT_EQ(s.vhosts(0).vhid(), 11u);  // sorted by vhid
  EXPECT_EQ(s.vhosts(1).vhid(), 12u);
  EXPECT_EQ(s.vhosts(1).auth_key(), *deriveVhidKey(ClusterSecret, 12));
  EXPECT_NE(s.vhosts(0).auth_key(), s.vhosts(1).auth_key());
  EXPECT_TRUE(server->agentHealthy("node-a"));

  v1::AgentMessage ack;
  ack.mutable_ack()->set_controller_epoch(s.controller_epoch());
  ack.mutable_ack()->set_generation(1);
  ASSERT_TRUE(agent.rw->Write(ack));
  v1::AgentMessage sc;
  sc.mutable_state_change()->set_vhid(12);
  sc.mutable_state_change()->set_from(v1::CARP_STATE_BACKUP);
  sc.mutable_state_change()->set_to(v1::CARP_STATE_MASTER);
  sc.mutable_state_change()->set_reason("master_down");
  ASSERT_TRUE(agent.rw->Write(sc));
  v1::AgentMessage fs;
  fs.mutable_foreign_speaker()->set_vhid(11);
  fs.mutable_foreign_speaker()->set_source_address("192.0.2.99");
  fs.mutable_foreign_speaker()->set_protocol(v1::FOREIGN_PROTOCOL_VRRP);
  ASSERT_TRUE(agent.rw->Write(fs));

  std::vector<AgentEvent> events;
  ASSERT_TRUE(eventually([&] {
    auto more = server->drainEvents();
    events.insert(events.end(), more.begin(), more.end());
    return events.size() >= 4;
  }));
  EXPECT_EQ(kinds(events, "node-a"),
            (std::vector<AgentEventKind>{AgentEventKind::Connected, AgentEventKind::Acked, AgentEventKind::StateChange,
                                         AgentEventKind::ForeignSpeaker}));
  EXPECT_EQ(events[0].report.hello().interfaces(0).addresses(0), "192.0.2.21");
  EXPECT_EQ(events[2].report.state_change().reason(), "master_down");
  EXPECT_EQ(events[3].report.foreign_speaker().protocol(), v1::FOREIGN_PROTOCOL_VRRP);
  EXPECT_GE(notified_.load(), 4);

  auto agents = server->agents();
  ASSERT_EQ(agents.size(), 1u);
  EXPECT_TRUE(agents[0].connected);
  EXPECT_EQ(agents[0].ackedGeneration.value_or(0), 1u);
  EXPECT_EQ(agents[0].publishedGeneration, 1u);
  EXPECT_EQ(agents[0].hello.version(), "test");
  EXPECT_EQ(serverMetrics_.gauge("carplb_controller_agents_connected", "").get(), 1.0);

  // The agent goes away: unhealthy, Disconnected event.
  agent.close();
  ASSERT_TRUE(eventually([&] { return !server->agentHealthy("node-a"); }));
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : server->drainEvents()) {
      if (e.kind == AgentEventKind::Disconnected && e.node == "node-a") {
        return true;
      }
    }
    return false;
  }));
  EXPECT_EQ(serverMetrics_.gauge("carplb_controller_agents_connected", "").get(), 0.0);
}

TEST_F(PlanServerTest, PushesOnlyChangedSnapshots) {
  auto server = startServer();
  ASSERT_TRUE(server);
  RawAgent agent(server->port(), tls_, Token);
  ASSERT_TRUE(agent.hello("node-b"));
  ASSERT_TRUE(eventually([&] { return server->agentHealthy("node-b"); }));
  // Nothing published yet: the agent receives nothing (keeps its own state).
  EXPECT_EQ(server->publish("node-b", plan(0)), 1u);
  EXPECT_EQ(server->publish("node-b", plan(0)), 1u);  // same content: no new generation
  EXPECT_EQ(server->publish("node-b", plan(50)), 2u);
  auto reordered = plan(50);
  std::swap(reordered[0], reordered[1]);
  EXPECT_EQ(server->publish("node-b", reordered), 2u);  // order of vhosts does not matter
  EXPECT_EQ(server->publish("node-b", plan(50), /*draining=*/true), 3u);
  v1::ControllerMessage in;
  std::vector<uint64_t> generations;
  // Merging may skip 1 or 2 for a slow reader, but 3 must arrive and generations increase.
  while (generations.empty() || generations.back() != 3) {
    ASSERT_TRUE(agent.rw->Read(&in));
    generations.push_back(in.snapshot().generation());
  }
  for (std::size_t i = 1; i < generations.size(); ++i) {
    EXPECT_LT(generations[i - 1], generations[i]);
  }
  EXPECT_TRUE(in.snapshot().draining());
  EXPECT_EQ(in.snapshot().vhosts(1).advskew(), 50u);
  agent.ctx.TryCancel();
}

TEST_F(PlanServerTest, WrongOrMissingTokenIsRefusedAndLogged) {
  auto server = startServer();
  ASSERT_TRUE(server);
  server->publish("node-a", plan(0));
  {
    RawAgent agent(server->port(), tls_, "wrong-token-9999999999");
    agent.hello("node-a");
    v1::ControllerMessage in;
    EXPECT_FALSE(agent.rw->Read(&in));  // no snapshot for a refused agent
    EXPECT_EQ(agent.close().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    RawAgent agent(server->port(), tls_, "");
    agent.hello("node-a");
    v1::ControllerMessage in;
    EXPECT_FALSE(agent.rw->Read(&in));
    EXPECT_EQ(agent.close().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  auto& refused = serverMetrics_.counter("carplb_controller_agents_refused_total", "");
  EXPECT_EQ(refused.get({{"reason", "bad_token"}}), 1.0);
  EXPECT_EQ(refused.get({{"reason", "missing_credentials"}}), 1.0);
  EXPECT_TRUE(logs_.contains("agent refused"));
  EXPECT_TRUE(logs_.contains("reason=bad_token"));
  EXPECT_FALSE(logs_.contains("wrong-token-9999999999"));  // presented tokens are never logged
  EXPECT_FALSE(logs_.contains(Token));
  EXPECT_FALSE(server->agentHealthy("node-a"));
  for (const auto& e : server->drainEvents()) {
    EXPECT_NE(e.kind, AgentEventKind::Connected);
  }
}

TEST_F(PlanServerTest, TokenRotation) {
  auto server = startServer();
  ASSERT_TRUE(server);
  server->setAgentToken("rotated-token-0123456789");
  RawAgent old(server->port(), tls_, Token);
  old.hello("node-a");
  EXPECT_EQ(old.close().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  RawAgent fresh(server->port(), tls_, "rotated-token-0123456789");
  ASSERT_TRUE(fresh.hello("node-a"));
  ASSERT_TRUE(eventually([&] { return server->agentHealthy("node-a"); }));
  fresh.ctx.TryCancel();
}

TEST_F(PlanServerTest, FirstMessageMustBeHello) {
  auto server = startServer();
  ASSERT_TRUE(server);
  RawAgent agent(server->port(), tls_, Token);
  v1::AgentMessage ack;
  ack.mutable_ack()->set_generation(1);
  agent.rw->Write(ack);
  EXPECT_EQ(agent.close().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(serverMetrics_.counter("carplb_controller_agents_refused_total", "").get({{"reason", "no_hello"}}), 1.0);
}

TEST_F(PlanServerTest, NewerStreamReplacesOlderForSameNode) {
  auto server = startServer();
  ASSERT_TRUE(server);
  server->publish("node-a", plan(0));
  RawAgent first(server->port(), tls_, Token);
  ASSERT_TRUE(first.hello("node-a"));
  v1::ControllerMessage in;
  ASSERT_TRUE(first.rw->Read(&in));
  RawAgent second(server->port(), tls_, Token);
  ASSERT_TRUE(second.hello("node-a"));
  ASSERT_TRUE(second.rw->Read(&in));  // the current snapshot again
  EXPECT_EQ(in.snapshot().generation(), 1u);
  EXPECT_FALSE(first.rw->Read(&in));
  EXPECT_EQ(first.close().error_code(), grpc::StatusCode::ABORTED);
  EXPECT_TRUE(server->agentHealthy("node-a"));
  EXPECT_EQ(serverMetrics_.gauge("carplb_controller_agents_connected", "").get(), 1.0);
  second.ctx.TryCancel();
}

TEST_F(PlanServerTest, ClientCertificateMustNameTheNode) {
  auto server = startServer(tls_.caPem, /*token=*/"");
  ASSERT_TRUE(server);
  const std::string cert = tls_.clientCertPem("node-c");
  const std::string key = tls_.clientKeyPem("node-c");
  {
    RawAgent agent(server->port(), tls_, "", cert, key);
    ASSERT_TRUE(agent.hello("node-c"));
    ASSERT_TRUE(eventually([&] { return server->agentHealthy("node-c"); }));
    agent.ctx.TryCancel();
  }
  {
    RawAgent agent(server->port(), tls_, "", cert, key);
    agent.hello("node-d");  // someone else's node
    EXPECT_EQ(agent.close().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    RawAgent agent(server->port(), tls_, "");  // neither cert nor token
    agent.hello("node-c");
    EXPECT_EQ(agent.close().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_FALSE(server->agentHealthy("node-d"));
}

TEST_F(PlanServerTest, StartRefusesMissingTlsOrAuth) {
  PlanServerOptions o;
  o.listenAddress = "127.0.0.1:0";
  o.agentToken = Token;
  auto noTls = PlanServer::start(o, clock_, logs_.logger("controller"), serverMetrics_);
  ASSERT_FALSE(noTls.ok());
  EXPECT_NE(noTls.error().message.find("serverCertPem"), std::string::npos);
  o.serverCertPem = tls_.serverCertPem;
  o.serverKeyPem = tls_.serverKeyPem;
  o.agentToken.clear();
  auto noAuth = PlanServer::start(o, clock_, logs_.logger("controller"), serverMetrics_);
  ASSERT_FALSE(noAuth.ok());
  EXPECT_NE(noAuth.error().message.find("agentToken"), std::string::npos);
}

TEST_F(PlanServerTest, KeysNeverReachTheLog) {
  auto server = startServer();
  ASSERT_TRUE(server);
  server->publish("node-a", plan(0));
  RawAgent agent(server->port(), tls_, Token);
  ASSERT_TRUE(agent.hello("node-a"));
  v1::ControllerMessage in;
  ASSERT_TRUE(agent.rw->Read(&in));
  agent.ctx.TryCancel();
  server->shutdown();
  for (const auto& v : plan(0)) {
    EXPECT_FALSE(logs_.contains(v.auth_key())) << "vhid " << v.vhid();
  }
  EXPECT_FALSE(logs_.contains(ClusterSecret));
}

}  // namespace
}  // namespace carplb::controller::rpc
