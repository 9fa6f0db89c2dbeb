// e2e (root + network namespaces): the real carplb-agent binary in cluster mode against a
// real PlanServer (TLS, bearer token). The PlanServer's listening socket is created inside
// the agent's namespace (EnterNetns), so the agent reaches it on 127.0.0.1 there.
//
//   snapshot arrives        -> the vhid shows in /state, becomes MASTER, VIP bound
//   same plan again         -> (from a restarted controller) the unchanged vhid is untouched
//   draining snapshot       -> every vhid advertises demote 240
//   state changes / foreign speaker (ucarp with another password) -> reported to the server
//   server stops            -> the agent keeps its VIP (fail static), keeps reconnecting
//   agent restarted while the server is down -> restores the snapshot file, MASTER again
//   wrong token             -> refused, nothing applied; token file fixed -> applied (re-read)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/status/agent_process.h"
#include "controller/grpc/plan_server.h"
#include "proto/tls_fixture.h"

namespace carplb::agent::rpc {
namespace {

using namespace std::chrono_literals;
using carplb::controller::rpc::AgentEvent;
using carplb::controller::rpc::AgentEventKind;
using carplb::controller::rpc::PlanServer;
using carplb::controller::rpc::PlanServerOptions;
using carplb::testing::AgentProcess;
using carplb::testing::captureOutput;
using carplb::testing::EnterNetns;
using carplb::testing::httpGet;
using carplb::testing::NetnsPair;
using carplb::testing::sh;
using carplb::testing::startAgentWithStatus;
using carplb::testing::TempDir;
using carplb::testing::TlsMaterial;
using carplb::testing::waitUntil;
using nlohmann::json;

constexpr const char* Token = "agent-token-0123456789";
constexpr const char* Node = "node-a";
constexpr const char* Vip = "192.0.2.100";

struct Lab {
  NetnsPair ns{"ac"};
  TempDir dir;
  TlsMaterial tls{dir};
  SystemClock clock;
  Registry serverMetrics;
  std::unique_ptr<PlanServer> server;
  int serverPort = 0;

  Lab() {
    if (!ns.ok) return;
    // A default route so "--interface auto" has something to find.
    sh("ip -n " + ns.a + " route add default via 192.0.2.254 dev " + ns.ifA);
    writeFile("ca.pem", tls.caPem);
    writeFile("token", std::string(Token) + "\n");
  }
  void writeFile(const std::string& name, const std::string& text) {
    std::ofstream(dir.file(name), std::ios::trunc) << text;
  }
  // Starts the server inside namespace a, on `port` (0 = any).
  bool startServer(int port = 0) {
    PlanServerOptions o;
    o.listenAddress = "127.0.0.1:" + std::to_string(port);
    o.serverCertPem = tls.serverCertPem;
    o.serverKeyPem = tls.serverKeyPem;
    o.agentToken = Token;
    EnterNetns in(ns.a);
    auto s = PlanServer::start(o, clock, Logger("plan-server", LogLevel::Warn), serverMetrics);
    if (!s) {
      ADD_FAILURE() << s.error().message;
      return false;
    }
    server = std::move(*s);
    serverPort = server->port();
    return true;
  }
  std::vector<std::string> agentArgs(const std::string& tokenFile = "token") const {
    return {"--controller=127.0.0.1:" + std::to_string(serverPort),
            "--node-name=" + std::string(Node),
            "--tls-ca-file=" + dir.file("ca.pem"),
            "--tls-server-name=localhost",
            "--token-file=" + dir.file(tokenFile),
            "--snapshot-file=" + dir.file("snapshot"),
            "--interface=auto",
            "--log-level=debug"};
  }
  bool hasVip() const {
    return captureOutput("ip -n " + ns.a + " -4 addr show dev " + ns.ifA).find(std::string(Vip) + "/32") !=
           std::string::npos;
  }
};

std::vector<v1::Vhost> plan() {
  std::vector<v1::Vhost> out(1);
  out[0].set_vhid(7);
  out[0].set_interface("");  // the agent's default interface (--interface auto)
  out[0].add_vips(Vip);
  out[0].set_advbase(1);
  out[0].set_advskew(0);
  out[0].set_preempt(true);
  out[0].set_auth_key("cluster-key-7");
  out[0].add_services("default/web");
  return out;
}

std::optional<json> getJson(const std::string& ns, int port, const std::string& path) {
  auto r = httpGet(ns, port, path);
  if (!r || r->status != 200) return std::nullopt;
  auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::optional<json> vhid7(const std::string& ns, int port) {
  auto j = getJson(ns, port, "/state");
  if (!j) return std::nullopt;
  for (const auto& v : (*j)["vhids"]) {
    if (v["vhid"] == 7) return v;
  }
  return std::nullopt;
}

std::string metricsText(const std::string& ns, int port) {
  auto r = httpGet(ns, port, "/metrics");
  return r ? r->body : "";
}

bool isMaster(const std::string& ns, int port) {
  auto v = vhid7(ns, port);
  return v && (*v)["state"] == "MASTER";
}

size_t countOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

std::vector<AgentEvent> eventsOf(std::vector<AgentEvent>& all, AgentEventKind kind) {
  std::vector<AgentEvent> out;
  for (auto& e : all) {
    if (e.kind == kind) out.push_back(e);
  }
  return out;
}

TEST(ClusterMode, FollowsThePlanFailsStaticAndRestoresFromTheSnapshotFile) {
  Lab lab;
  ASSERT_TRUE(lab.ns.ok) << "cannot create network namespaces (need root)";
  ASSERT_TRUE(lab.startServer());
  int status = 0;
  auto agent = startAgentWithStatus(lab.ns.a, lab.agentArgs(), lab.dir.file("agent.log"), status);
  ASSERT_TRUE(agent) << captureOutput("cat " + lab.dir.file("agent.log"));

  // The Hello: node name, interfaces with addresses, version, capabilities.
  ASSERT_TRUE(waitUntil([&] { return lab.server->agentHealthy(Node); }, 10s)) << agent->log();
  {
    auto agents = lab.server->agents();
    ASSERT_EQ(agents.size(), 1u);
    const v1::Hello& h = agents[0].hello;
    EXPECT_EQ(h.node_name(), Node);
    EXPECT_FALSE(h.version().empty());
    EXPECT_GE(h.capabilities_size(), 1);
    bool found = false;
    for (const auto& ni : h.interfaces()) {
      if (ni.name() == lab.ns.ifA) {
        found = std::find(ni.addresses().begin(), ni.addresses().end(), "192.0.2.1") != ni.addresses().end();
      }
      EXPECT_NE(ni.name(), "lo");
    }
    EXPECT_TRUE(found) << h.DebugString();
  }
  // Nothing planned yet: nothing running.
  auto st0 = getJson(lab.ns.a, status, "/state");
  ASSERT_TRUE(st0);
  EXPECT_TRUE((*st0)["vhids"].empty());
  EXPECT_EQ((*st0)["cluster"]["appliedGeneration"], 0);
  EXPECT_EQ((*st0)["cluster"]["node"], Node);

  // 1. Snapshot -> vhid 7 on the default interface, MASTER (nobody else), VIP bound.
  ASSERT_EQ(lab.server->publish(Node, plan()), 1u);
  ASSERT_TRUE(waitUntil([&] { return vhid7(lab.ns.a, status).has_value(); }, 10s)) << agent->log();
  EXPECT_EQ((*vhid7(lab.ns.a, status))["interface"], lab.ns.ifA);
  ASSERT_TRUE(waitUntil([&] { return isMaster(lab.ns.a, status); }, 10s)) << agent->log();
  EXPECT_TRUE(lab.hasVip());
  ASSERT_TRUE(waitUntil([&] {
    auto a = lab.server->agents();
    return !a.empty() && a[0].ackedGeneration == 1u;
  }, 10s));
  EXPECT_TRUE(std::filesystem::exists(lab.dir.file("snapshot")));
  auto st1 = getJson(lab.ns.a, status, "/state");
  EXPECT_EQ((*st1)["cluster"]["appliedGeneration"], 1);
  EXPECT_EQ((*st1)["cluster"]["connected"], true);
  EXPECT_EQ((*st1)["cluster"]["defaultInterface"], lab.ns.ifA);

  // State changes reached the controller: INIT->BACKUP (startup), BACKUP->MASTER.
  std::vector<AgentEvent> events;
  ASSERT_TRUE(waitUntil([&] {
    for (auto& e : lab.server->drainEvents()) events.push_back(e);
    for (auto& e : eventsOf(events, AgentEventKind::StateChange)) {
      if (e.report.state_change().to() == v1::CARP_STATE_MASTER) return true;
    }
    return false;
  }, 10s)) << agent->log();
  {
    auto changes = eventsOf(events, AgentEventKind::StateChange);
    ASSERT_GE(changes.size(), 2u);
    EXPECT_EQ(changes[0].report.state_change().vhid(), 7u);
    EXPECT_EQ(changes[0].report.state_change().from(), v1::CARP_STATE_INIT);
    EXPECT_EQ(changes[0].report.state_change().to(), v1::CARP_STATE_BACKUP);
    EXPECT_EQ(changes[0].report.state_change().reason(), "startup");
    EXPECT_EQ(changes.back().report.state_change().from(), v1::CARP_STATE_BACKUP);
    EXPECT_EQ(changes.back().report.state_change().reason(), "master_down");
    EXPECT_GT(changes.back().report.state_change().time().seconds(), 1700000000);
  }

  // 2. The same plan again, from a restarted controller (new epoch, so the agent applies it):
  //    Agent::apply leaves the unchanged vhid alone (no transition, the VIP stays bound).
  //    (The same epoch+generation is not even re-applied: plan_client_test covers that.)
  const auto transitionsBefore = (*vhid7(lab.ns.a, status))["counters"]["transitions"];
  const size_t boundBefore = countOf(agent->log(), "msg=\"VIP bound\"");
  ASSERT_GE(boundBefore, 1u);
  const int port = lab.serverPort;
  lab.server->shutdown();
  lab.server.reset();
  ASSERT_TRUE(lab.startServer(port));
  ASSERT_EQ(lab.server->publish(Node, plan()), 1u);
  ASSERT_TRUE(waitUntil([&] {
    return metricsText(lab.ns.a, status).find("carplb_agent_snapshots_applied_total 2") != std::string::npos;
  }, 15s)) << metricsText(lab.ns.a, status) << agent->log();
  EXPECT_EQ((*vhid7(lab.ns.a, status))["counters"]["transitions"], transitionsBefore);
  EXPECT_TRUE(isMaster(lab.ns.a, status));
  EXPECT_TRUE(lab.hasVip());
  EXPECT_EQ(countOf(agent->log(), "msg=\"VIP bound\""), boundBefore) << "the VIP was bound again";

  // 3. Draining: every vhid advertises demote 240; back to normal afterwards.
  ASSERT_EQ(lab.server->publish(Node, plan(), true), 2u);
  ASSERT_TRUE(waitUntil([&] {
    auto v = vhid7(lab.ns.a, status);
    return v && (*v)["advertised"]["demote"] == 240;
  }, 10s)) << agent->log();
  EXPECT_EQ((*getJson(lab.ns.a, status, "/state"))["cluster"]["draining"], true);
  ASSERT_EQ(lab.server->publish(Node, plan(), false), 3u);
  ASSERT_TRUE(waitUntil([&] {
    auto v = vhid7(lab.ns.a, status);
    return v && (*v)["advertised"]["demote"] == 0;
  }, 10s)) << agent->log();
  EXPECT_EQ((*getJson(lab.ns.a, status, "/state"))["cluster"]["draining"], false);

  // 4. A foreign speaker on vhid 7 (ucarp with another password on the other namespace):
  //    reported once (rate limit: once per vhid and source per minute), although it sends
  //    an advert every second.
  lab.server->drainEvents();
  pid_t ucarp = -1;
  {
    std::vector<std::string> args = {"ip", "netns", "exec", lab.ns.b, "ucarp", "-i", lab.ns.ifB, "-s", "192.0.2.2",
                                     "-v", "7", "-p", "other-password", "-a", "192.0.2.200", "-b", "1", "-k", "200",
                                     "-u", "/bin/true", "-d", "/bin/true"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    ASSERT_EQ(posix_spawnp(&ucarp, "ip", &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  std::vector<AgentEvent> foreign;
  const bool heard = waitUntil([&] {
    for (auto& e : lab.server->drainEvents()) {
      if (e.kind == AgentEventKind::ForeignSpeaker) foreign.push_back(e);
    }
    auto v = vhid7(lab.ns.a, status);
    // Wait until several foreign adverts arrived, so the rate limit is exercised.
    return !foreign.empty() && v && (*v).contains("foreignSpeaker") && (*v)["foreignSpeaker"]["packets"] >= 3;
  }, 20s);
  ::kill(ucarp, SIGTERM);
  int ws = 0;
  ::waitpid(ucarp, &ws, 0);
  ASSERT_TRUE(heard) << agent->log();
  for (auto& e : lab.server->drainEvents()) {
    if (e.kind == AgentEventKind::ForeignSpeaker) foreign.push_back(e);
  }
  ASSERT_EQ(foreign.size(), 1u);
  EXPECT_EQ(foreign[0].report.foreign_speaker().vhid(), 7u);
  EXPECT_EQ(foreign[0].report.foreign_speaker().source_address(), "192.0.2.2");
  EXPECT_EQ(foreign[0].report.foreign_speaker().interface(), lab.ns.ifA);
  EXPECT_EQ(foreign[0].report.foreign_speaker().protocol(), v1::FOREIGN_PROTOCOL_CARP);
  EXPECT_TRUE(isMaster(lab.ns.a, status));  // a bad-HMAC advert never changes our state

  // 5. The server goes away: the agent keeps its VIP and config (fail static).
  lab.server->shutdown();
  ASSERT_TRUE(waitUntil([&] {
    auto j = getJson(lab.ns.a, status, "/state");
    return j && (*j)["cluster"]["connected"] == false;
  }, 10s));
  std::this_thread::sleep_for(3s);  // several master-down intervals and reconnect attempts
  EXPECT_TRUE(isMaster(lab.ns.a, status)) << agent->log();
  EXPECT_TRUE(lab.hasVip());
  EXPECT_NE(agent->log().find("keeping the applied snapshot (fail static)"), std::string::npos);

  // 6. SIGTERM: bow out, VIP removed, exit 0 (as standalone).
  EXPECT_EQ(agent->stop(), 0) << agent->log();
  EXPECT_FALSE(lab.hasVip());

  // 7. Restart while the server is down: the snapshot file brings vhid 7 back, MASTER again.
  auto again = startAgentWithStatus(lab.ns.a, lab.agentArgs(), lab.dir.file("agent2.log"), status);
  ASSERT_TRUE(again) << captureOutput("cat " + lab.dir.file("agent2.log"));
  ASSERT_TRUE(waitUntil([&] { return isMaster(lab.ns.a, status); }, 10s)) << again->log();
  EXPECT_TRUE(lab.hasVip());
  auto st2 = getJson(lab.ns.a, status, "/state");
  EXPECT_EQ((*st2)["cluster"]["appliedGeneration"], 3);
  EXPECT_EQ((*st2)["cluster"]["connected"], false);
  EXPECT_NE(again->log().find("running persisted snapshot (fail static)"), std::string::npos) << again->log();
  EXPECT_EQ(again->stop(), 0) << again->log();
  EXPECT_FALSE(lab.hasVip());
}

TEST(ClusterMode, WrongTokenIsRefusedAndNothingAppliedUntilTheTokenFileIsFixed) {
  Lab lab;
  ASSERT_TRUE(lab.ns.ok) << "cannot create network namespaces (need root)";
  ASSERT_TRUE(lab.startServer());
  lab.writeFile("bad-token", "not-the-token\n");
  lab.server->publish(Node, plan());
  int status = 0;
  auto agent = startAgentWithStatus(lab.ns.a, lab.agentArgs("bad-token"), lab.dir.file("agent.log"), status);
  ASSERT_TRUE(agent) << captureOutput("cat " + lab.dir.file("agent.log"));
  ASSERT_TRUE(waitUntil([&] {
    return agent->log().find("controller refused this agent's credentials") != std::string::npos;
  }, 15s)) << agent->log();
  EXPECT_FALSE(lab.server->agentHealthy(Node));
  auto j = getJson(lab.ns.a, status, "/state");
  ASSERT_TRUE(j);
  EXPECT_TRUE((*j)["vhids"].empty());
  EXPECT_EQ((*j)["cluster"]["appliedGeneration"], 0);
  EXPECT_FALSE(std::filesystem::exists(lab.dir.file("snapshot")));
  EXPECT_FALSE(lab.hasVip());

  // The Secret is fixed (the kubelet rewrites the mounted file): the next reconnect reads it.
  lab.writeFile("bad-token", std::string(Token) + "\n");
  ASSERT_TRUE(waitUntil([&] { return vhid7(lab.ns.a, status).has_value(); }, 40s)) << agent->log();
  EXPECT_TRUE(lab.server->agentHealthy(Node));
  EXPECT_EQ(agent->stop(), 0) << agent->log();
}

}  // namespace
}  // namespace carplb::agent::rpc
