// e2e (root + network namespaces): the HTTP status endpoint of a running carplb-agent
// (standalone, vhid 9 alone on a veth, so it becomes MASTER). The port is a random high
// port (cpprestsdk cannot bind port 0), retried on collision.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "agent/status/agent_process.h"

namespace carplb::agent::status {
namespace {

using namespace std::chrono_literals;
using carplb::testing::captureOutput;
using carplb::testing::httpGet;
using carplb::testing::NetnsPair;
using carplb::testing::startAgentWithStatus;
using carplb::testing::waitUntil;
using nlohmann::json;

TEST(StatusEndpoint, StateMetricsAndHealthOfARunningAgent) {
  NetnsPair lab("as");
  ASSERT_TRUE(lab.ok) << "cannot create network namespaces (need root)";
  const std::string log = ::testing::TempDir() + "/carplb-agent-status-" + std::to_string(::getpid()) + ".log";
  int port = 0;
  auto agent = startAgentWithStatus(lab.a,
                                    {"--interface", lab.ifA, "--vhid", "9", "--pass", "status-pw", "--addr",
                                     "192.0.2.109", "--advbase", "0", "--advskew", "40"},
                                    log, port);
  ASSERT_TRUE(agent) << captureOutput("cat " + log);

  auto health = httpGet(lab.a, port, "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  // Alone on the link: MASTER within 3 * 40/256 s.
  json vh;
  ASSERT_TRUE(waitUntil([&] {
    auto r = httpGet(lab.a, port, "/state");
    if (!r || r->status != 200) return false;
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("vhids") || j["vhids"].size() != 1) return false;
    vh = j["vhids"][0];
    return vh["state"] == "MASTER";
  }, 10s)) << agent->log();

  auto state = json::parse(httpGet(lab.a, port, "/state")->body);
  EXPECT_TRUE(state["unroutedRejected"].is_object());
  EXPECT_FALSE(state.contains("cluster"));  // standalone
  EXPECT_EQ(vh["vhid"], 9);
  EXPECT_EQ(vh["interface"], lab.ifA);
  EXPECT_EQ(vh["addresses"], json::array({"192.0.2.109"}));
  EXPECT_EQ(vh["srcip"], "192.0.2.1");
  EXPECT_EQ(vh["usable"], true);
  EXPECT_EQ(vh["advbase"], 0);
  EXPECT_EQ(vh["advskew"], 40);
  EXPECT_EQ(vh["advertised"], (json{{"advbase", 0}, {"advskew", 40}, {"demote", 0}}));
  EXPECT_EQ(vh["preempt"], false);
  EXPECT_EQ(vh["addressesBound"], true);
  EXPECT_EQ(vh["trouble"], false);
  EXPECT_TRUE(vh["masterSeen"].is_null());  // nobody else on the link
  ASSERT_TRUE(vh["lastTransition"].is_object());
  EXPECT_EQ(vh["lastTransition"]["from"], "BACKUP");
  EXPECT_EQ(vh["lastTransition"]["to"], "MASTER");
  EXPECT_EQ(vh["lastTransition"]["reason"], "master_down");
  EXPECT_TRUE(std::regex_match(vh["lastTransition"]["at"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << vh["lastTransition"]["at"];
  const json& c = vh["counters"];
  for (const char* k : {"advertsSent", "advertsReceived", "transitions", "gratuitousArpRounds", "sendErrors",
                        "garpErrors", "addressErrors", "vipsReadded"}) {
    EXPECT_TRUE(c.contains(k) && c[k].is_number_unsigned()) << k << " in " << c.dump();
  }
  EXPECT_TRUE(c["advertsRejected"].is_object());
  EXPECT_GE(c["advertsSent"].get<uint64_t>(), 1u);
  EXPECT_EQ(c["transitions"], 2);  // INIT -> BACKUP -> MASTER

  auto metrics = httpGet(lab.a, port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  const std::string labels = "{interface=\"" + lab.ifA + "\",vhid=\"9\"}";
  for (const std::string& want : std::vector<std::string>{
           "# TYPE carplb_agent_vhid_state gauge", "carplb_agent_vhid_state" + labels + " 2",
        "carplb_agent_vhid_demote" + labels + " 0", "# TYPE carplb_agent_transitions_total counter",
        "# TYPE carplb_agent_adverts_sent_total counter", "carplb_agent_adverts_sent_total" + labels,
        "# TYPE carplb_agent_gratuitous_arp_total counter", "# TYPE carplb_agent_reloads_total counter",
        std::string("carplb_agent_info{version=\"")}) {
    EXPECT_NE(metrics->body.find(want), std::string::npos) << want << "\n" << metrics->body;
  }
  EXPECT_TRUE(std::regex_search(metrics->body,
                                std::regex("carplb_agent_transitions_total\\{[^}]*reason=\"master_down\"[^}]*\\} 1")))
      << metrics->body;

  auto missing = httpGet(lab.a, port, "/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  EXPECT_EQ(agent->stop(), 0) << agent->log();
  // The endpoint is gone with the process.
  EXPECT_FALSE(httpGet(lab.a, port, "/healthz").has_value());
}

}  // namespace
}  // namespace carplb::agent::status
