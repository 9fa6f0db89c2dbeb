#include "controller/observe/status.h"

#include <gtest/gtest.h>

namespace carplb::controller::observe {
namespace {

using nlohmann::json;
using std::chrono::seconds;

WallTime at(int s) { return WallTime{} + seconds(1'700'000'000LL + s); }

TEST(FormatRfc3339, KnownInstants) {
  EXPECT_EQ(formatRfc3339(WallTime{}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339(at(0)), "2023-11-14T22:13:20Z");
  EXPECT_EQ(formatRfc3339(WallTime{} + seconds(951782400)), "2000-02-29T00:00:00Z");
  EXPECT_EQ(formatRfc3339(WallTime{} + seconds(951782399)), "2000-02-28T23:59:59Z");
  EXPECT_EQ(formatRfc3339(WallTime{} + seconds(4107542400LL)), "2100-03-01T00:00:00Z");
  // Sub-second parts are truncated; out-of-range times are clamped.
  EXPECT_EQ(formatRfc3339(at(0) + std::chrono::milliseconds(999)), "2023-11-14T22:13:20Z");
  EXPECT_EQ(formatRfc3339(WallTime{} - seconds(5)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339(WallTime::max()), "2262-04-11T23:47:16Z");  // ns clock limit
}

TEST(StatusFragment, AfterFailoverWithForeignSpeaker) {
  AgentObservations obs(ObservationsConfig{.splitBrainGrace = seconds(5)});
  ASSERT_TRUE(obs.apply(Connected{"node-a"}, at(0)).ok());
  ASSERT_TRUE(obs.apply(StateChange{"node-a", 7, CarpState::Init, CarpState::Master, "master_down", at(1)}, at(1)).ok());
  ASSERT_TRUE(obs.apply(StateChange{"node-b", 7, CarpState::Init, CarpState::Backup, "init_done", at(1)}, at(1)).ok());
  ASSERT_TRUE(obs.apply(Disconnected{"node-a", "cancelled"}, at(20)).ok());
  ASSERT_TRUE(obs.apply(StateChange{"node-b", 7, CarpState::Backup, CarpState::Master, "master_down", at(23)}, at(23)).ok());
  ASSERT_TRUE(obs.apply(ForeignSpeaker{"node-b", 7, "eth0", "192.0.2.50", ForeignProtocol::Carp, 1, 0, at(24)}, at(24)).ok());
  (void)obs.takeNotices(at(25));
  auto view = obs.vhidView(7);
  ASSERT_TRUE(view);
  const json expected = json::parse(R"({
    "actualMaster": "node-b",
    "nodes": [
      {"node": "node-a", "state": "UNKNOWN", "reason": "agent_disconnected", "since": "2023-11-14T22:13:40Z"},
      {"node": "node-b", "state": "MASTER", "reason": "master_down", "since": "2023-11-14T22:13:43Z"}
    ],
    "lastFailover": {"time": "2023-11-14T22:13:43Z", "from": "node-a", "to": "node-b", "reason": "master_down"},
    "conditions": [
      {"type": "SplitBrain", "status": "False", "reason": "SingleMaster",
       "message": "vhid 7 has at most one master", "lastTransitionTime": "2023-11-14T22:13:21Z"},
      {"type": "ForeignSpeaker", "status": "True", "reason": "ForeignSpeaker",
       "message": "vhid 7 is also used by CARP speaker 192.0.2.50 on eth0",
       "lastTransitionTime": "2023-11-14T22:13:44Z"}
    ]
  })");
  EXPECT_EQ(statusFragment(*view), expected) << statusFragment(*view).dump(2);
}

TEST(StatusFragment, NoMasterNoFailover) {
  AgentObservations obs;
  ASSERT_TRUE(obs.apply(StateChange{"node-a", 9, CarpState::Init, CarpState::Backup, "", at(1)}, at(1)).ok());
  json j = statusFragment(*obs.vhidView(9));
  EXPECT_EQ(j["actualMaster"], "");
  EXPECT_FALSE(j.contains("lastFailover"));
  EXPECT_EQ(j["nodes"], json::parse(R"([{"node": "node-a", "state": "BACKUP", "since": "2023-11-14T22:13:21Z"}])"));
  EXPECT_EQ(j["conditions"][0]["status"], "False");
  EXPECT_EQ(j["conditions"][1]["status"], "False");
  EXPECT_EQ(j["conditions"][1]["reason"], "NoForeignSpeaker");
}

TEST(MergeConditions, KeepsTransitionTimeWhenStatusUnchangedAndOtherTypes) {
  const json existing = json::parse(R"([
    {"type": "Planned", "status": "True", "reason": "Planned", "lastTransitionTime": "2023-01-01T00:00:00Z"},
    {"type": "SplitBrain", "status": "False", "reason": "SingleMaster", "message": "old",
     "lastTransitionTime": "2023-01-02T00:00:00Z"},
    {"type": "ForeignSpeaker", "status": "False", "reason": "NoForeignSpeaker",
     "lastTransitionTime": "2023-01-03T00:00:00Z"},
    "garbage", {"no": "type"}
  ])");
  const json updates = json::parse(R"([
    {"type": "SplitBrain", "status": "False", "reason": "SingleMaster", "message": "new",
     "lastTransitionTime": "2023-11-14T22:13:21Z"},
    {"type": "ForeignSpeaker", "status": "True", "reason": "ForeignSpeaker", "message": "m",
     "lastTransitionTime": "2023-11-14T22:13:44Z"},
    {"type": "Extra", "status": "True"}
  ])");
  const json expected = json::parse(R"([
    {"type": "Planned", "status": "True", "reason": "Planned", "lastTransitionTime": "2023-01-01T00:00:00Z"},
    {"type": "SplitBrain", "status": "False", "reason": "SingleMaster", "message": "new",
     "lastTransitionTime": "2023-01-02T00:00:00Z"},
    {"type": "ForeignSpeaker", "status": "True", "reason": "ForeignSpeaker", "message": "m",
     "lastTransitionTime": "2023-11-14T22:13:44Z"},
    {"type": "Extra", "status": "True"}
  ])");
  EXPECT_EQ(mergeConditions(existing, updates), expected);
}

TEST(MergeConditions, TolerantOfNonArrays) {
  const json updates = json::parse(R"([{"type": "SplitBrain", "status": "True"}])");
  EXPECT_EQ(mergeConditions(json(), updates), updates);
  EXPECT_EQ(mergeConditions(json::object(), updates), updates);
  EXPECT_EQ(mergeConditions(updates, json("x")), updates);
  EXPECT_EQ(mergeConditions(json(), json()), json::array());
}

}  // namespace
}  // namespace carplb::controller::observe
