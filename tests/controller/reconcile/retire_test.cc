// VhidRetirements: a vhid that leaves the plan is dropped by its backups first and by its
// master only once the backups acked (or after the timeout), so the master's bow-out finds
// nobody to take over.
#include "controller/reconcile/retire.h"

#include <gtest/gtest.h>

namespace carplb::controller::reconcile {
namespace {

using namespace std::chrono_literals;

core::Ipv4 ip(const char* text) {
  auto a = core::parseIpv4(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : core::Ipv4{};
}

core::VhidPlan plan(int vhid, const char* address, std::vector<std::string> nodes) {
  core::VhidPlan p;
  p.vhid = vhid;
  p.addresses = {ip(address)};
  int skew = 0;
  for (auto& n : nodes) {
    p.nodes.push_back(core::NodeSlot{n, skew});
    skew += 50;
  }
  return p;
}

std::vector<RetireReason> reasonsOf(const RetireStep& s) {
  std::vector<RetireReason> out;
  for (const auto& e : s.events) out.push_back(e.reason);
  return out;
}

class RetireTest : public ::testing::Test {
protected:
  RetireInputs inputs(std::vector<core::VhidPlan> previous, std::vector<core::VhidPlan> desired) {
    RetireInputs in;
    in.previous = std::move(previous);
    in.desired = std::move(desired);
    in.actualMasters = masters;
    in.agents = agents;
    in.now = now;
    return in;
  }
  void connectAll() {
    for (const char* n : {"a", "b", "c"}) agents[n] = AgentAck{true, 0};
  }

  TimePoint now = TimePoint{} + 100s;
  std::map<int, std::string> masters;
  std::map<std::string, AgentAck> agents;
  VhidRetirements r;
};

TEST_F(RetireTest, BackupsDropTheVhidFirstAndTheMasterOnlyAfterTheirAcks) {
  connectAll();
  masters[7] = "a";
  const auto v7 = plan(7, "192.0.2.200", {"a", "b", "c"});
  const auto v8 = plan(8, "192.0.2.201", {"b", "c", "a"});

  // Pass 1: vhid 7 left the plan; the master (a) keeps it, b and c drop it.
  auto s1 = r.step(inputs({v7, v8}, {v8}));
  EXPECT_EQ(reasonsOf(s1), std::vector<RetireReason>{RetireReason::Started});
  ASSERT_EQ(s1.keep.size(), 1u);
  EXPECT_EQ(s1.keep[0].vhid, 7);
  EXPECT_EQ(s1.keep[0].node, "a");
  EXPECT_EQ(r.active(), std::set<int>{7});
  EXPECT_EQ(r.stageOf(7), RetireStage::Backups);
  r.published({{"a", 5}, {"b", 9}, {"c", 4}});

  // Pass 2: only b acked: the master still keeps it.
  agents["b"].acked = 9;
  agents["c"].acked = 3;
  now += 100ms;
  auto s2 = r.step(inputs({v8}, {v8}));
  EXPECT_TRUE(s2.events.empty());
  ASSERT_EQ(s2.keep.size(), 1u);
  r.published({{"a", 5}, {"b", 9}, {"c", 4}});

  // Pass 3: c acked too: the master drops it now.
  agents["c"].acked = 4;
  now += 100ms;
  auto s3 = r.step(inputs({v8}, {v8}));
  EXPECT_EQ(reasonsOf(s3), std::vector<RetireReason>{RetireReason::BackupsAcked});
  EXPECT_TRUE(s3.keep.empty());
  EXPECT_EQ(r.stageOf(7), RetireStage::Master);
  EXPECT_EQ(r.active(), std::set<int>{7}) << "still excluded from planning until the master acked";
  r.published({{"a", 6}, {"b", 9}, {"c", 4}});

  // Pass 4: the master acked an older generation: still retiring.
  agents["a"].acked = 5;
  now += 100ms;
  auto s4 = r.step(inputs({v8}, {v8}));
  EXPECT_TRUE(s4.events.empty());
  // Pass 5: it acked the removal: retired.
  agents["a"].acked = 6;
  auto s5 = r.step(inputs({v8}, {v8}));
  ASSERT_EQ(s5.events.size(), 1u);
  EXPECT_EQ(s5.events[0].reason, RetireReason::MasterAcked);
  EXPECT_TRUE(s5.events[0].retired);
  EXPECT_EQ(s5.events[0].master, "a");
  EXPECT_TRUE(r.active().empty());
  EXPECT_FALSE(r.nextDeadline().has_value());
}

TEST_F(RetireTest, ReportedMasterBowsOutLastEvenWhenItIsNotThePlannedOne) {
  connectAll();
  masters[7] = "b";  // a crashed earlier and b took over; the plan still lists a first
  auto s = r.step(inputs({plan(7, "192.0.2.200", {"a", "b", "c"})}, {}));
  ASSERT_EQ(s.keep.size(), 1u);
  EXPECT_EQ(s.keep[0].node, "b");
  EXPECT_EQ(s.events[0].master, "b");
}

TEST_F(RetireTest, AReportedMasterOutsideThePlanIsIgnored) {
  connectAll();
  masters[7] = "z";
  auto s = r.step(inputs({plan(7, "192.0.2.200", {"a", "b"})}, {}));
  ASSERT_EQ(s.keep.size(), 1u);
  EXPECT_EQ(s.keep[0].node, "a");
}

TEST_F(RetireTest, BackupThatNeverAcksIsWaitedForOnlyUntilTheTimeout) {
  connectAll();
  masters[7] = "a";
  const auto v7 = plan(7, "192.0.2.200", {"a", "b", "c"});
  r.step(inputs({v7}, {}));
  r.published({{"a", 1}, {"b", 1}, {"c", 1}});
  EXPECT_EQ(r.nextDeadline(), now + 2s);
  agents["b"].acked = 1;
  now += 1999ms;
  auto before = r.step(inputs({}, {}));
  EXPECT_TRUE(before.events.empty());
  EXPECT_EQ(before.keep.size(), 1u);
  now += 1ms;
  auto at = r.step(inputs({}, {}));
  ASSERT_EQ(at.events.size(), 1u);
  EXPECT_EQ(at.events[0].reason, RetireReason::BackupsTimeout);
  EXPECT_EQ(at.events[0].waiting, std::vector<std::string>{"c"});
  EXPECT_FALSE(at.events[0].retired);
  EXPECT_TRUE(at.keep.empty());
  r.published({{"a", 2}, {"b", 1}, {"c", 2}});
  EXPECT_EQ(r.nextDeadline(), now + 2s) << "the master step has its own timeout";

  // The master does not ack either: retired after the second timeout anyway.
  now += 2s;
  auto end = r.step(inputs({}, {}));
  ASSERT_EQ(end.events.size(), 1u);
  EXPECT_EQ(end.events[0].reason, RetireReason::MasterTimeout);
  EXPECT_EQ(end.events[0].waiting, std::vector<std::string>{"a"});
  EXPECT_TRUE(end.events[0].retired);
  EXPECT_TRUE(r.active().empty());
}

TEST_F(RetireTest, DisconnectedBackupsAreNotWaitedFor) {
  agents["a"] = AgentAck{true, 0};
  agents["b"] = AgentAck{false, std::nullopt};
  // c is not known to the plan server at all.
  masters[7] = "a";
  auto s = r.step(inputs({plan(7, "192.0.2.200", {"a", "b", "c"})}, {}));
  EXPECT_EQ(reasonsOf(s), (std::vector<RetireReason>{RetireReason::Started, RetireReason::BackupsAcked}));
  EXPECT_TRUE(s.keep.empty()) << "nobody to wait for: the master drops it in the same pass";
  EXPECT_EQ(r.stageOf(7), RetireStage::Master);
}

TEST_F(RetireTest, BackupThatDisconnectsWhileWaitedForStopsBlocking) {
  connectAll();
  masters[7] = "a";
  r.step(inputs({plan(7, "192.0.2.200", {"a", "b"})}, {}));
  r.published({{"a", 1}, {"b", 3}});
  agents["b"].connected = false;
  auto s = r.step(inputs({}, {}));
  EXPECT_EQ(reasonsOf(s), std::vector<RetireReason>{RetireReason::BackupsAcked});
}

TEST_F(RetireTest, DisconnectedMasterRetiresAtOnce) {
  connectAll();
  agents["a"].connected = false;
  masters[7] = "a";
  auto s = r.step(inputs({plan(7, "192.0.2.200", {"a", "b"})}, {}));
  ASSERT_EQ(s.keep.size(), 1u);
  r.published({{"a", 1}, {"b", 2}});
  agents["b"].acked = 2;
  auto s2 = r.step(inputs({}, {}));
  EXPECT_EQ(reasonsOf(s2), (std::vector<RetireReason>{RetireReason::BackupsAcked, RetireReason::MasterGone}));
  EXPECT_TRUE(s2.events.back().retired);
  EXPECT_TRUE(r.active().empty());
}

TEST_F(RetireTest, AcksOfTheGenerationBeforeThePublishDoNotCount) {
  connectAll();
  agents["b"].acked = 4;
  masters[7] = "a";
  r.step(inputs({plan(7, "192.0.2.200", {"a", "b"})}, {}));
  // Before published(): the generations are unknown, nothing may advance.
  auto early = r.step(inputs({}, {}));
  EXPECT_TRUE(early.events.empty());
  EXPECT_EQ(early.keep.size(), 1u);
  r.published({{"a", 1}, {"b", 5}});
  auto s = r.step(inputs({}, {}));
  EXPECT_TRUE(s.events.empty()) << "b acked 4, the removal is 5";
  agents["b"].acked = 5;
  EXPECT_EQ(reasonsOf(r.step(inputs({}, {}))), std::vector<RetireReason>{RetireReason::BackupsAcked});
}

TEST_F(RetireTest, AddressPlannedAgainEndsTheRetirementAtOnce) {
  connectAll();
  masters[7] = "a";
  r.step(inputs({plan(7, "192.0.2.200", {"a", "b"})}, {}));
  r.published({{"a", 1}, {"b", 2}});
  // The Service came back with the same address; the planner (7 excluded) gave it vhid 9.
  auto s = r.step(inputs({}, {plan(9, "192.0.2.200", {"b", "a"})}));
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].reason, RetireReason::AddressReused);
  EXPECT_EQ(s.events[0].vhid, 7);
  EXPECT_TRUE(s.events[0].retired);
  EXPECT_TRUE(s.keep.empty()) << "two vhids must never carry one address";
  EXPECT_TRUE(r.active().empty());
}

TEST_F(RetireTest, VhidWhoseAddressesMovedToAnotherVhidRetiresAtOnce) {
  connectAll();
  masters[7] = "a";
  auto s = r.step(inputs({plan(7, "192.0.2.200", {"a", "b"})}, {plan(9, "192.0.2.200", {"a", "b"})}));
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].reason, RetireReason::Moved);
  EXPECT_TRUE(s.events[0].retired);
  EXPECT_TRUE(s.keep.empty());
  EXPECT_TRUE(r.active().empty());
}

TEST_F(RetireTest, VhidPlannedOnNoNodeRetiresAtOnce) {
  core::VhidPlan p = plan(7, "192.0.2.200", {});
  auto s = r.step(inputs({p}, {}));
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].reason, RetireReason::NoMaster);
  EXPECT_TRUE(s.events[0].retired);
  EXPECT_TRUE(s.keep.empty());
}

TEST_F(RetireTest, VhidStillPlannedOrAddressRemovedFromAGroupIsNotRetired) {
  connectAll();
  core::VhidPlan group = plan(7, "192.0.2.200", {"a", "b"});
  group.addresses.push_back(ip("192.0.2.201"));
  core::VhidPlan smaller = plan(7, "192.0.2.200", {"a", "b"});
  auto s = r.step(inputs({group}, {smaller}));
  EXPECT_TRUE(s.events.empty());
  EXPECT_TRUE(s.keep.empty());
  EXPECT_TRUE(r.active().empty());
}

TEST_F(RetireTest, SeveralVhidsRetireIndependently) {
  connectAll();
  masters[7] = "a";
  masters[8] = "b";
  r.step(inputs({plan(7, "192.0.2.200", {"a", "b"}), plan(8, "192.0.2.201", {"b", "c"})}, {}));
  r.published({{"a", 1}, {"b", 1}, {"c", 1}});
  EXPECT_EQ(r.active(), (std::set<int>{7, 8}));
  agents["c"].acked = 1;  // 8's backup acked, 7's (b) did not
  auto s = r.step(inputs({}, {}));
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].vhid, 8);
  ASSERT_EQ(s.keep.size(), 1u);
  EXPECT_EQ(s.keep[0].vhid, 7);
}

TEST(ReusedVhids, AVhidGivenToOtherAddressesIsReusedOneKeepingAnAddressIsNot) {
  auto p = [](int vhid, const char* a) {
    core::VhidPlan x;
    x.vhid = vhid;
    x.addresses = {*core::parseIpv4(a)};
    return x;
  };
  auto grown = p(3, "192.0.2.201");
  grown.addresses.push_back(*core::parseIpv4("192.0.2.209"));
  EXPECT_EQ(reusedVhids({p(1, "192.0.2.200"), p(2, "192.0.2.201"), p(3, "192.0.2.201")},
                        {p(1, "192.0.2.205"), p(2, "192.0.2.201"), grown, p(4, "192.0.2.210")}),
            std::set<int>{1});
}

}  // namespace
}  // namespace carplb::controller::reconcile
