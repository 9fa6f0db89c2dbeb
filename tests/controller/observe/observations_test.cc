#include "controller/observe/observations.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "controller/observe/reasons.h"
#include "controller/observe/status.h"

namespace carplb::controller::observe {
namespace {

namespace r = reasons;
using std::chrono::seconds;

WallTime at(int s) { return WallTime{} + seconds(1'700'000'000LL + s); }

StateChange change(std::string node, int vhid, CarpState from, CarpState to, std::string reason, int s) {
  return StateChange{std::move(node), vhid, from, to, std::move(reason), at(s)};
}
StateChange master(std::string node, std::string reason, int s, int vhid = 7) {
  return change(std::move(node), vhid, CarpState::Backup, CarpState::Master, std::move(reason), s);
}
StateChange backup(std::string node, std::string reason, int s, int vhid = 7) {
  return change(std::move(node), vhid, CarpState::Master, CarpState::Backup, std::move(reason), s);
}
ForeignSpeaker foreign(std::string node, std::string source, int vhid = 7,
                       ForeignProtocol protocol = ForeignProtocol::Carp) {
  return ForeignSpeaker{std::move(node), vhid, "eth0", std::move(source), protocol, 1, 0, WallTime{}};
}

// One named step of a scenario: at controller time `t` apply `report` (if any), then take
// the notices at `t` and compare their reasons with `notices`.
struct Step {
  std::string name;
  int t = 0;
  std::optional<AgentReport> report;
  std::vector<std::string_view> notices;
  std::optional<Outcome> outcome = std::nullopt;  // checked when set
};

std::vector<Notice> run(AgentObservations& obs, const std::vector<Step>& steps) {
  std::vector<Notice> all;
  for (const auto& step : steps) {
    SCOPED_TRACE("step: " + step.name);
    if (step.report) {
      auto res = obs.apply(*step.report, at(step.t));
      EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.error().message);
      if (res.ok() && step.outcome) {
        EXPECT_EQ(toString(*res), toString(*step.outcome));
      }
    }
    std::vector<std::string_view> got;
    for (auto& n : obs.takeNotices(at(step.t))) {
      got.push_back(n.reason);
      all.push_back(std::move(n));
    }
    EXPECT_EQ(got, step.notices);
  }
  return all;
}

const NodeState* stateOf(const VhidView& v, const std::string& node) {
  for (const auto& n : v.nodes) {
    if (n.node == node) {
      return &n;
    }
  }
  return nullptr;
}

std::vector<Step> stableAB() {
  return {
      {"a connects", 0, Connected{"node-a"}, {}},
      {"b connects", 0, Connected{"node-b"}, {}},
      {"a becomes master", 1, change("node-a", 7, CarpState::Init, CarpState::Master, "master_down", 1), {}},
      {"b becomes backup", 1, change("node-b", 7, CarpState::Init, CarpState::Backup, "init_done", 1), {}},
  };
}

TEST(AgentObservations, FirstMasterIsNotAFailover) {
  AgentObservations obs;
  run(obs, stableAB());
  auto v = obs.vhidView(7);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->actualMaster, "node-a");
  EXPECT_EQ(v->masters, std::vector<std::string>{"node-a"});
  EXPECT_FALSE(v->lastFailover);
  EXPECT_FALSE(v->splitBrain);
  ASSERT_EQ(v->nodes.size(), 2u);
  EXPECT_EQ(v->nodes[0], (NodeState{"node-a", CarpState::Master, "master_down", at(1)}));
  EXPECT_EQ(v->nodes[1], (NodeState{"node-b", CarpState::Backup, "init_done", at(1)}));
  EXPECT_TRUE(obs.agentHealthy("node-a"));
  EXPECT_EQ(obs.agentHealth("node-c"), AgentHealth::Unknown);
}

TEST(AgentObservations, FailoverAToBEmitsOneNoticeAndSetsLastFailover) {
  AgentObservations obs;
  auto steps = stableAB();
  steps.push_back({"b preempts", 10, master("node-b", "preempt", 10), {r::VipFailover}});
  steps.push_back({"a steps down (overlap shorter than the grace)", 11, backup("node-a", "preempted", 10), {}});
  steps.push_back({"b repeats MASTER", 12, master("node-b", "preempt", 10), {}, Outcome::Unchanged});
  steps.push_back({"time passes", 100, std::nullopt, {}});
  auto notices = run(obs, steps);
  ASSERT_EQ(notices.size(), 1u);
  const Notice& n = notices[0];
  EXPECT_EQ(n.type, NoticeType::Normal);
  EXPECT_EQ(n.subject, NoticeSubject::Vhid);
  EXPECT_EQ(n.vhid, 7);
  EXPECT_EQ(n.from, "node-a");
  EXPECT_EQ(n.node, "node-b");
  EXPECT_EQ(n.time, at(10));
  EXPECT_EQ(n.message, "vhid 7 moved from node-a to node-b: preempt");
  EXPECT_EQ(renderMessage(n, {"192.0.2.200"}), "VIP 192.0.2.200 (vhid 7) moved from node-a to node-b: preempt");

  auto v = obs.vhidView(7);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->actualMaster, "node-b");
  ASSERT_TRUE(v->lastFailover);
  EXPECT_EQ(*v->lastFailover, (Failover{at(10), "node-a", "node-b", "preempt"}));
  EXPECT_FALSE(v->splitBrain);
  EXPECT_FALSE(v->splitBrainCondition.status);
  EXPECT_FALSE(obs.nextDeadline());
}

TEST(AgentObservations, MasterAgentDisconnectsNoFalseFailoverUntilAnotherMaster) {
  AgentObservations obs;
  auto steps = stableAB();
  steps.push_back({"a's agent disconnects", 20, Disconnected{"node-a", "keepalive timeout"}, {r::AgentLost}});
  steps.push_back({"nothing else happens", 22, std::nullopt, {}});
  auto notices = run(obs, steps);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].type, NoticeType::Warning);
  EXPECT_EQ(notices[0].subject, NoticeSubject::Node);
  EXPECT_EQ(notices[0].node, "node-a");
  EXPECT_EQ(notices[0].message,
            "carplb agent on node node-a is gone: keepalive timeout; its VIPs get no new masters there");

  EXPECT_FALSE(obs.agentHealthy("node-a"));
  EXPECT_EQ(obs.agentHealth("node-a"), AgentHealth::Lost);
  EXPECT_EQ(obs.agentLostSince("node-a"), at(20));
  EXPECT_EQ(obs.lostAgents(), std::vector<std::string>{"node-a"});
  auto v = obs.vhidView(7);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->actualMaster, "");
  EXPECT_TRUE(v->masters.empty());
  EXPECT_EQ(*stateOf(*v, "node-a"), (NodeState{"node-a", CarpState::Unknown, "agent_disconnected", at(20)}));
  EXPECT_FALSE(v->lastFailover);

  // A late report of the lost agent is ignored: it cannot bring MASTER back.
  auto late = obs.apply(master("node-a", "preempt", 19), at(21));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(*late, Outcome::Ignored);
  EXPECT_EQ(obs.vhidView(7)->actualMaster, "");

  notices = run(obs, {{"b takes over", 23, master("node-b", "master_down", 23), {r::VipFailover}}});
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].from, "node-a");
  EXPECT_EQ(notices[0].node, "node-b");
  v = obs.vhidView(7);
  EXPECT_EQ(v->actualMaster, "node-b");
  EXPECT_EQ(*v->lastFailover, (Failover{at(23), "node-a", "node-b", "master_down"}));
}

TEST(AgentObservations, SplitBrainDetectedAfterGraceAndResolvedOnce) {
  AgentObservations obs(ObservationsConfig{.splitBrainGrace = seconds(5)});
  auto steps = stableAB();
  steps.push_back({"b also claims MASTER", 10, master("node-b", "master_down", 10), {r::VipFailover}});
  auto notices = run(obs, steps);
  EXPECT_EQ(obs.nextDeadline(), at(15));
  EXPECT_FALSE(obs.vhidView(7)->splitBrain);
  EXPECT_EQ(obs.vhidView(7)->masters, (std::vector<std::string>{"node-a", "node-b"}));
  EXPECT_EQ(obs.vhidView(7)->actualMaster, "node-b");

  notices = run(obs, {
                         {"still within the grace", 14, std::nullopt, {}},
                         {"grace over", 15, std::nullopt, {r::SplitBrain}},
                         {"a repeats MASTER", 16, master("node-a", "master_down", 1), {}, Outcome::Unchanged},
                         {"persisting split brain is not repeated", 60, std::nullopt, {}},
                     });
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].type, NoticeType::Warning);
  EXPECT_EQ(notices[0].message, "vhid 7 has two masters: node-a, node-b");
  auto v = obs.vhidView(7);
  EXPECT_TRUE(v->splitBrain);
  EXPECT_EQ(v->splitBrainCondition, (ConditionState{true, at(15), "vhid 7 has 2 masters: node-a, node-b"}));
  EXPECT_FALSE(obs.nextDeadline());

  notices = run(obs, {
                         {"a steps down", 61, backup("node-a", "preempted", 61), {r::SplitBrainResolved}},
                         {"quiet", 70, std::nullopt, {}},
                     });
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].type, NoticeType::Normal);
  EXPECT_EQ(notices[0].node, "node-b");
  EXPECT_EQ(renderMessage(notices[0], {"192.0.2.200"}), "VIP 192.0.2.200 (vhid 7) has a single master again: node-b");
  v = obs.vhidView(7);
  EXPECT_FALSE(v->splitBrain);
  EXPECT_FALSE(v->splitBrainCondition.status);
  EXPECT_EQ(v->splitBrainCondition.lastTransition, at(61));
  EXPECT_EQ(v->actualMaster, "node-b");
}

TEST(AgentObservations, ZeroGraceRaisesSplitBrainImmediately) {
  AgentObservations obs(ObservationsConfig{.splitBrainGrace = Duration::zero()});
  auto steps = stableAB();
  steps.push_back({"b also MASTER", 5, master("node-b", "master_down", 5), {r::VipFailover, r::SplitBrain}});
  steps.push_back({"b's agent disconnects", 6, Disconnected{"node-b", "cancelled"}, {r::AgentLost, r::SplitBrainResolved}});
  run(obs, steps);
  EXPECT_EQ(obs.vhidView(7)->actualMaster, "node-a");
}

TEST(AgentObservations, ForeignSpeakerReportedOnceAndExpiresAfterTtl) {
  AgentObservations obs(ObservationsConfig{.foreignSpeakerTtl = std::chrono::minutes(5)});
  auto notices = run(obs, {
                              {"a connects", 0, Connected{"node-a"}, {}},
                              {"b connects", 0, Connected{"node-b"}, {}},
                              {"a hears 192.0.2.50", 10, foreign("node-a", "192.0.2.50"), {r::ForeignSpeaker}},
                              {"b hears the same speaker", 20, foreign("node-b", "192.0.2.50"), {}, Outcome::Applied},
                              {"a hears it again", 200, foreign("node-a", "192.0.2.50"), {}, Outcome::Unchanged},
                          });
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].type, NoticeType::Warning);
  EXPECT_EQ(notices[0].message,
            "vhid 7: foreign CARP speaker 192.0.2.50 on eth0 (wrong password or another CARP group), heard by node-a");
  EXPECT_EQ(obs.foreignVhids(), std::set<int>{7});
  auto v = obs.vhidView(7);
  ASSERT_EQ(v->foreignSpeakers.size(), 1u);
  EXPECT_EQ(v->foreignSpeakers[0].heardBy, (std::vector<std::string>{"node-a", "node-b"}));
  EXPECT_EQ(v->foreignSpeakers[0].firstSeen, at(10));
  EXPECT_EQ(v->foreignSpeakers[0].lastSeen, at(200));
  EXPECT_TRUE(v->foreignSpeakerCondition.status);
  EXPECT_EQ(v->foreignSpeakerCondition.lastTransition, at(10));
  EXPECT_EQ(v->foreignSpeakerCondition.message, "vhid 7 is also used by CARP speaker 192.0.2.50 on eth0");
  EXPECT_EQ(obs.nextDeadline(), at(500));

  notices = run(obs, {
                         {"just before the TTL", 499, std::nullopt, {}},
                         {"TTL over", 500, std::nullopt, {r::ForeignSpeakerCleared}},
                     });
  EXPECT_TRUE(obs.foreignVhids().empty());
  v = obs.vhidView(7);
  EXPECT_TRUE(v->foreignSpeakers.empty());
  EXPECT_FALSE(v->foreignSpeakerCondition.status);
  EXPECT_EQ(v->foreignSpeakerCondition.lastTransition, at(500));
  EXPECT_FALSE(obs.nextDeadline());

  run(obs, {{"heard again after clearing: new warning", 600, foreign("node-b", "192.0.2.50"), {r::ForeignSpeaker}}});
}

TEST(AgentObservations, VrrpSpeakerAndSeveralSources) {
  AgentObservations obs;
  auto notices = run(obs, {
                              {"carp speaker", 0, foreign("node-a", "192.0.2.50"), {r::ForeignSpeaker}},
                              {"vrrp speaker", 1, foreign("node-a", "192.0.2.51", 7, ForeignProtocol::Vrrp),
                               {r::ForeignSpeaker}},
                          });
  EXPECT_EQ(renderMessage(notices[1], {"192.0.2.200"}),
            "VIP 192.0.2.200 (vhid 7): foreign VRRP speaker 192.0.2.51 on eth0 (a VRRP router uses this number as "
            "its VRID), heard by node-a");
  EXPECT_EQ(obs.vhidView(7)->foreignSpeakerCondition.message,
            "vhid 7 is also used by CARP speaker 192.0.2.50 on eth0, VRRP speaker 192.0.2.51 on eth0");
  // The first expires, the second is refreshed: the condition stays True.
  run(obs, {
               {"refresh the vrrp speaker", 250, foreign("node-a", "192.0.2.51", 7, ForeignProtocol::Vrrp), {}},
               {"carp speaker expires", 300, std::nullopt, {r::ForeignSpeakerCleared}},
           });
  EXPECT_TRUE(obs.vhidView(7)->foreignSpeakerCondition.status);
  EXPECT_EQ(obs.vhidView(7)->foreignSpeakerCondition.lastTransition, at(0));
}

TEST(AgentObservations, ReconnectResetsStatesUntilNewReports) {
  AgentObservations obs;
  auto steps = stableAB();
  steps.push_back({"a's stream is replaced (no loss)", 5, Connected{"node-a"}, {}});
  run(obs, steps);
  auto v = obs.vhidView(7);
  EXPECT_EQ(*stateOf(*v, "node-a"), (NodeState{"node-a", CarpState::Unknown, "agent_reconnected", at(5)}));
  EXPECT_EQ(v->actualMaster, "");
  EXPECT_TRUE(obs.agentHealthy("node-a"));

  auto notices = run(obs, {
                              {"a reports MASTER again: same master, no failover", 6,
                               change("node-a", 7, CarpState::Init, CarpState::Master, "master_down", 6), {}},
                              {"a disconnects", 7, Disconnected{"node-a", "cancelled"}, {r::AgentLost}},
                              {"a disconnects again (duplicate)", 8, Disconnected{"node-a", "cancelled"}, {},
                               Outcome::Unchanged},
                              {"a returns", 9, Connected{"node-a"}, {r::AgentReturned}},
                          });
  EXPECT_EQ(notices[1].message, "carplb agent on node node-a is connected again");
  v = obs.vhidView(7);
  EXPECT_EQ(*stateOf(*v, "node-a"), (NodeState{"node-a", CarpState::Unknown, "agent_reconnected", at(9)}));
  EXPECT_TRUE(obs.agentHealthy("node-a"));
  EXPECT_FALSE(obs.agentLostSince("node-a"));
  // Reports queued on the agent while it was away arrive after the Hello.
  run(obs, {{"queued report", 9, change("node-a", 7, CarpState::Master, CarpState::Backup, "preempted", 8), {}}});
  EXPECT_EQ(stateOf(*obs.vhidView(7), "node-a")->state, CarpState::Backup);
  EXPECT_FALSE(obs.vhidView(7)->lastFailover);
}

TEST(AgentObservations, OutOfOrderAndDuplicateReportsAreHarmless) {
  AgentObservations obs;
  auto notices = run(
      obs, {
               {"state change before any Connected (Connected event dropped)", 0,
                change("node-a", 7, CarpState::Init, CarpState::Master, "master_down", 10), {}, Outcome::Applied},
               {"duplicate", 1, change("node-a", 7, CarpState::Init, CarpState::Master, "master_down", 10), {},
                Outcome::Unchanged},
               {"late report of an older takeover by b", 2, master("node-b", "master_down", 5), {}},
               {"b steps down", 3, backup("node-b", "preempted", 11), {}},
               {"unknown state names in `from` do not matter", 4,
                change("node-c", 7, CarpState::Unknown, CarpState::Backup, "", 12), {}},
           });
  EXPECT_TRUE(notices.empty());
  EXPECT_TRUE(obs.agentHealthy("node-a"));
  auto v = obs.vhidView(7);
  EXPECT_EQ(v->actualMaster, "node-a");
  EXPECT_FALSE(v->lastFailover);
  EXPECT_EQ(stateOf(*v, "node-c")->reason, "");

  // A report without agent time takes the controller's receive time.
  ASSERT_TRUE(obs.apply(StateChange{"node-c", 8, CarpState::Init, CarpState::Backup, "x", WallTime{}}, at(40)).ok());
  EXPECT_EQ(stateOf(*obs.vhidView(8), "node-c")->since, at(40));
}

TEST(AgentObservations, ApplyErrorsAreReportedOncePerGenerationVhidAndMessage) {
  AgentObservations obs;
  auto err = [](uint64_t gen, int vhid, std::string msg) {
    return ApplyError{"node-a", "epoch-1", gen, vhid, std::move(msg)};
  };
  auto notices = run(obs, {
                              {"a connects", 0, Connected{"node-a"}, {}},
                              {"gen 5 vhid 7 fails", 1, err(5, 7, "vhosts[1].advskew: must be 0..254"), {r::ApplyFailed}},
                              {"same again", 2, err(5, 7, "vhosts[1].advskew: must be 0..254"), {}, Outcome::Unchanged},
                              {"gen 5 vhid 8 fails too", 3, err(5, 8, "vhosts[2].interface: no such interface"),
                               {r::ApplyFailed}},
                              {"gen 6 whole snapshot rejected", 4, err(6, 0, "wrong node"), {r::ApplyFailed}},
                              {"gen 6 repeated", 5, err(6, 0, "wrong node"), {}},
                          });
  ASSERT_EQ(notices.size(), 3u);
  EXPECT_EQ(notices[0].subject, NoticeSubject::Node);
  EXPECT_EQ(notices[0].type, NoticeType::Warning);
  EXPECT_EQ(notices[0].message,
            "carplb agent on node node-a failed to apply plan generation 5 (vhid 7): vhosts[1].advskew: must be 0..254");
  EXPECT_EQ(notices[2].message, "carplb agent on node node-a failed to apply plan generation 6 (whole plan): wrong node");
}

TEST(AgentObservations, GarbageIsRejectedWithFieldNamesAndChangesNothing) {
  struct Bad {
    std::string name;
    AgentReport report;
    std::string error;
  };
  const std::vector<Bad> table = {
      {"vhid 0", change("node-a", 0, CarpState::Init, CarpState::Master, "x", 1), "stateChange.vhid: must be 1..255, got 0"},
      {"vhid 256", change("node-a", 256, CarpState::Init, CarpState::Master, "x", 1),
       "stateChange.vhid: must be 1..255, got 256"},
      {"negative vhid", change("node-a", -1, CarpState::Init, CarpState::Master, "x", 1),
       "stateChange.vhid: must be 1..255, got -1"},
      {"empty node", change("", 7, CarpState::Init, CarpState::Master, "x", 1), "stateChange.node: must not be empty"},
      {"control characters in node", change("node\n-a", 7, CarpState::Init, CarpState::Master, "x", 1),
       "stateChange.node: must be printable ASCII without spaces"},
      {"huge node name", change(std::string(300, 'n'), 7, CarpState::Init, CarpState::Master, "x", 1),
       "stateChange.node: must be at most 253 characters, got 300"},
      {"to UNKNOWN", change("node-a", 7, CarpState::Master, CarpState::Unknown, "x", 1),
       "stateChange.to: must be INIT, BACKUP or MASTER, got UNKNOWN"},
      {"connected without node", Connected{""}, "connected.node: must not be empty"},
      {"disconnected without node", Disconnected{"", "x"}, "disconnected.node: must not be empty"},
      {"foreign without source", foreign("node-a", ""), "foreignSpeaker.source: must not be empty"},
      {"foreign vhid 0", foreign("node-a", "192.0.2.50", 0), "foreignSpeaker.vhid: must be 1..255, got 0"},
      {"apply error vhid 300", ApplyError{"node-a", "e", 1, 300, "m"}, "applyError.vhid: must be 0..255, got 300"},
      {"apply error without node", ApplyError{"", "e", 1, 1, "m"}, "applyError.node: must not be empty"},
  };
  AgentObservations obs;
  for (const auto& bad : table) {
    SCOPED_TRACE(bad.name);
    auto res = obs.apply(bad.report, at(1));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().message, bad.error);
  }
  EXPECT_TRUE(obs.vhids().empty());
  EXPECT_EQ(obs.nodeCount(), 0u);
  EXPECT_TRUE(obs.takeNotices(at(2)).empty());
  EXPECT_FALSE(obs.vhidView(0));
  obs.forgetNode("nobody", at(3));
  obs.forgetVhid(0);
  obs.forgetVhid(999);
}

TEST(AgentObservations, UntrustedStringsAreSanitizedAndBounded) {
  AgentObservations obs;
  std::string reason = "bad\xff\n\"reason";
  reason += std::string(500, 'r');
  ASSERT_TRUE(obs.apply(change("node-a", 7, CarpState::Init, CarpState::Master, reason, 1), at(1)).ok());
  ASSERT_TRUE(obs.apply(ForeignSpeaker{"node-a", 7, "eth\x01", "192.0.2.\xc3", ForeignProtocol::Vrrp, 9999, -5, {}},
                        at(1))
                  .ok());
  ASSERT_TRUE(obs.apply(ApplyError{"node-a", "\xfe", 1, 7, std::string(5000, '\x80')}, at(1)).ok());
  auto v = obs.vhidView(7);
  const std::string& stored = stateOf(*v, "node-a")->reason;
  EXPECT_EQ(stored.substr(0, 12), "bad??\"reason");
  EXPECT_EQ(stored.size(), 128u);
  ASSERT_EQ(v->foreignSpeakers.size(), 1u);
  EXPECT_EQ(v->foreignSpeakers[0].source, "192.0.2.?");
  EXPECT_EQ(v->foreignSpeakers[0].interface, "eth?");
  EXPECT_EQ(v->foreignSpeakers[0].advbase, 255);
  EXPECT_EQ(v->foreignSpeakers[0].advskew, 0);
  for (const auto& n : obs.takeNotices(at(2))) {
    EXPECT_LE(n.message.size(), 1024u);
  }
  // Everything renders to valid JSON (nlohmann throws on invalid UTF-8).
  EXPECT_NO_THROW((void)statusFragment(*v).dump());
}

TEST(AgentObservations, ForgetNodeAndBoundedMemory) {
  AgentObservations obs(ObservationsConfig{.splitBrainGrace = Duration::zero(), .maxForeignSourcesPerVhid = 2,
                                           .maxPendingNotices = 3});
  auto steps = stableAB();
  steps.push_back({"b also MASTER", 2, master("node-b", "master_down", 2), {r::VipFailover, r::SplitBrain}});
  run(obs, steps);
  obs.forgetNode("node-b", at(3));
  auto notices = obs.takeNotices(at(3));
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].reason, r::SplitBrainResolved);
  auto v = obs.vhidView(7);
  EXPECT_EQ(v->nodes.size(), 1u);
  EXPECT_EQ(obs.agentHealth("node-b"), AgentHealth::Unknown);
  EXPECT_EQ(obs.nodeCount(), 1u);

  // Speakers per vhid are capped.
  EXPECT_EQ(*obs.apply(foreign("node-a", "192.0.2.1"), at(4)), Outcome::Applied);
  EXPECT_EQ(*obs.apply(foreign("node-a", "192.0.2.2"), at(4)), Outcome::Applied);
  EXPECT_EQ(*obs.apply(foreign("node-a", "192.0.2.3"), at(4)), Outcome::Ignored);
  EXPECT_EQ(obs.vhidView(7)->foreignSpeakers.size(), 2u);
  // Pending notices are capped (oldest dropped, counted).
  EXPECT_EQ(obs.apply(foreign("node-a", "192.0.2.1", 8), at(4)).ok(), true);
  EXPECT_EQ(obs.apply(foreign("node-a", "192.0.2.2", 8), at(4)).ok(), true);
  notices = obs.takeNotices(at(4));
  EXPECT_EQ(notices.size(), 3u);
  EXPECT_EQ(obs.droppedNotices(), 1u);

  obs.forgetVhid(7);
  EXPECT_FALSE(obs.vhidView(7));
  EXPECT_EQ(obs.foreignVhids(), std::set<int>{8});
}

// Random report streams (valid and invalid) never crash and keep the invariants.
TEST(AgentObservations, RandomReportStreamsKeepInvariants) {
  std::mt19937 rng(12345);
  const std::vector<std::string> nodes = {"node-a", "node-b", "node-c", "", "node d"};
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int round = 0; round < 6; ++round) {
    AgentObservations obs(ObservationsConfig{.splitBrainGrace = seconds(pick(0, 3)),
                                             .foreignSpeakerTtl = seconds(pick(1, 30)),
                                             .maxForeignSourcesPerVhid = 4,
                                             .maxPendingNotices = 64});
    int t = 0;
    for (int i = 0; i < 400; ++i) {
      t += pick(0, 3);
      const std::string& node = nodes[static_cast<size_t>(pick(0, 4))];
      const int vhid = pick(-1, 4) == 4 ? 256 : pick(0, 4);
      const auto state = static_cast<CarpState>(pick(0, 3));
      AgentReport report;
      switch (pick(0, 7)) {
        case 0: report = Connected{node}; break;
        case 1: report = Disconnected{node, "x"}; break;
        case 2: report = ForeignSpeaker{node, vhid, "eth0", "192.0.2." + std::to_string(pick(0, 6)),
                                        static_cast<ForeignProtocol>(pick(0, 2)), pick(-5, 300), pick(-5, 300),
                                        at(t - pick(0, 5))};
          break;
        case 3: report = ApplyError{node, "e", static_cast<uint64_t>(pick(0, 3)), vhid, "m"}; break;
        default:
          report = StateChange{node, vhid, static_cast<CarpState>(pick(0, 3)), state, "r", at(t - pick(0, 10))};
      }
      (void)obs.apply(report, at(t));
      if (pick(0, 9) == 0) {
        obs.forgetNode(nodes[static_cast<size_t>(pick(0, 2))], at(t));
      }
      if (pick(0, 4) == 0) {
        for (const auto& n : obs.takeNotices(at(t))) {
          ASSERT_FALSE(n.message.empty());
          ASSERT_LE(n.message.size(), 1024u);
        }
      }
      for (int vh : obs.vhids()) {
        auto v = obs.vhidView(vh);
        ASSERT_TRUE(v);
        ASSERT_GE(vh, 1);
        ASSERT_LE(vh, 255);
        ASSERT_LE(v->nodes.size(), 3u);
        ASSERT_LE(v->foreignSpeakers.size(), 4u);
        ASSERT_EQ(v->actualMaster.empty(), v->masters.empty());
        if (v->splitBrain) {
          ASSERT_GE(v->masters.size(), 2u);
        }
        ASSERT_EQ(v->splitBrain, v->splitBrainCondition.status);
        ASSERT_EQ(!v->foreignSpeakers.empty(), v->foreignSpeakerCondition.status);
        for (const auto& n : v->nodes) {
          if (obs.agentHealth(n.node) == AgentHealth::Lost) {
            ASSERT_EQ(n.state, CarpState::Unknown);
          }
        }
        if (i % 20 == 0) {
          (void)statusFragment(*v).dump();
        }
      }
      ASSERT_LE(obs.nodeCount(), 3u);
    }
  }
}

}  // namespace
}  // namespace carplb::controller::observe

namespace carplb::controller::observe {
namespace {

// A retired vhid planned again for another VIP (docs/controller.md, "Retiring a vhid"): the
// new VIP's first MASTER is not a failover, and nothing of the old VIP's history shows.
TEST(AgentObservations, ForgottenVhidReusedForAnotherVipStartsClean) {
  AgentObservations obs(ObservationsConfig{.splitBrainGrace = Duration::zero()});
  auto steps = stableAB();
  steps.push_back({"b takes over", 2, master("node-b", "master_down", 2), {r::VipFailover, r::SplitBrain}});
  steps.push_back({"a steps down", 3, backup("node-a", "preempted", 3), {r::SplitBrainResolved}});
  run(obs, steps);
  ASSERT_TRUE(obs.vhidView(7)->lastFailover);
  // A late takeover of the retiring vhid, not taken yet when the vhid is forgotten.
  ASSERT_TRUE(obs.apply(master("node-a", "bow_out", 4), at(4)).ok());
  ASSERT_TRUE(obs.apply(foreign("node-a", "192.0.2.50", 8), at(4)).ok());
  ASSERT_TRUE(obs.apply(foreign("node-b", "192.0.2.51", 7), at(4)).ok());
  obs.forgetVhid(7);
  EXPECT_FALSE(obs.vhidView(7));
  EXPECT_EQ(obs.foreignVhids(), std::set<int>{8});
  auto pending = obs.takeNotices(at(4));
  // The takeover notices of 7 are gone; foreign speakers are real and still reported (a VIP
  // moved off vhid 7 because of it must still get its Warning).
  std::vector<std::pair<int, std::string_view>> got;
  for (const auto& n : pending) got.emplace_back(n.vhid, n.reason);
  EXPECT_EQ(got, (std::vector<std::pair<int, std::string_view>>{{8, r::ForeignSpeaker}, {7, r::ForeignSpeaker}}));

  // vhid 7 again, now for another VIP mastered by node-c.
  ASSERT_TRUE(obs.apply(Connected{"node-c"}, at(10)).ok());
  ASSERT_TRUE(obs.apply(change("node-c", 7, CarpState::Init, CarpState::Master, "claimed_silent_vhid", 10), at(10)).ok());
  EXPECT_TRUE(obs.takeNotices(at(10)).empty()) << "the first MASTER of the reused vhid is not a failover";
  auto v = obs.vhidView(7);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->actualMaster, "node-c");
  EXPECT_FALSE(v->lastFailover);
  EXPECT_FALSE(v->splitBrain);
  ASSERT_EQ(v->nodes.size(), 1u);
  EXPECT_EQ(v->nodes[0].node, "node-c");
}

TEST(AgentObservations, TakeoverNoticesOfUnplannedVhidsAreDropped) {
  AgentObservations obs(ObservationsConfig{.splitBrainGrace = Duration::zero()});
  auto steps = stableAB();
  steps.push_back({"a connects on 9", 1, change("node-a", 9, CarpState::Init, CarpState::Master, "x", 1), {}});
  run(obs, steps);
  ASSERT_TRUE(obs.apply(master("node-b", "bow_out", 2), at(2)).ok());           // vhid 7
  ASSERT_TRUE(obs.apply(master("node-b", "master_down", 2, 9), at(2)).ok());    // vhid 9
  ASSERT_TRUE(obs.apply(foreign("node-b", "192.0.2.50", 7), at(2)).ok());
  auto all = obs.takeNotices(at(2));
  std::vector<std::pair<int, std::string_view>> got;
  for (const auto& n : withoutUnplannedTakeovers(all, {9})) got.emplace_back(n.vhid, n.reason);
  // vhid 7 is being retired: its failover and split brain are dropped, its foreign speaker
  // (not a takeover) is kept; vhid 9 is still planned: everything is kept.
  EXPECT_EQ(got, (std::vector<std::pair<int, std::string_view>>{
                     {9, r::VipFailover}, {9, r::SplitBrain}, {7, r::ForeignSpeaker}}));
  EXPECT_GT(all.size(), got.size());
  // Node notices are never dropped.
  ASSERT_TRUE(obs.apply(Disconnected{"node-a", "gone"}, at(3)).ok());
  auto lost = withoutUnplannedTakeovers(obs.takeNotices(at(3)), {});
  ASSERT_FALSE(lost.empty());
  EXPECT_EQ(lost.back().subject, NoticeSubject::Node);
}

}  // namespace
}  // namespace carplb::controller::observe
