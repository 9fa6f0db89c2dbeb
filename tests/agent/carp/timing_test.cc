#include "agent/carp/timing.h"

#include <gtest/gtest.h>

namespace carplb::agent::carp {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(Timing, AdvertIntervalIsAdvbasePlusSkewOver256) {
  EXPECT_EQ(advertInterval(1, 0), seconds(1));
  EXPECT_EQ(advertInterval(1, 128), milliseconds(1500));
  EXPECT_EQ(advertInterval(AdvBase(2), AdvSkew(64)), milliseconds(2250));
  EXPECT_EQ(advertInterval(0, 20), nanoseconds(78'125'000));  // ~78 ms sub-second operation
  EXPECT_EQ(advertInterval(0, 0), nanoseconds(0));
  EXPECT_EQ(advertInterval(255, 255), seconds(255) + nanoseconds(996'093'750));  // bow-out
}

TEST(Timing, MasterDownIsFreeBsdAboveAdvbase0AndThreeIntervalsBelow) {
  EXPECT_EQ(masterDownInterval(1, 0), seconds(3));
  // advbase >= 1: FreeBSD's 3*advbase + advskew/256 (the skew is not tripled).
  EXPECT_EQ(masterDownInterval(1, 100), seconds(3) + nanoseconds(100 * 3'906'250));
  EXPECT_EQ(masterDownInterval(2, 10), seconds(6) + nanoseconds(10 * 3'906'250));
  EXPECT_EQ(masterDownInterval(0, 20), nanoseconds(234'375'000));
  EXPECT_EQ(masterDownInterval(0, 0), nanoseconds(3 * 3'906'250));
  EXPECT_EQ(advertPeriod(0, 0), nanoseconds(3'906'250));
  EXPECT_EQ(advertPeriod(1, 10), advertInterval(1, 10));
}

TEST(Timing, DemotionRaisesSentAdvskewTo240) {
  EXPECT_EQ(effectiveAdvSkew(10, 0), 10);
  EXPECT_EQ(effectiveAdvSkew(10, 1), 240);
  EXPECT_EQ(effectiveAdvSkew(239, 5), 240);
  EXPECT_EQ(effectiveAdvSkew(250, 1), 250) << "never lowers";
  EXPECT_EQ(effectiveAdvSkew(250, 0), 250);
}

TEST(Timing, MasterYieldRule) {
  struct Case {
    const char* name;
    Priority ours;
    Priority peer;
    bool yield;
  };
  const Case cases[] = {
      {"peer faster", {1, 100, 0}, {1, 0, 0}, true},
      {"equal T yields (no address tie-break)", {1, 10, 0}, {1, 10, 0}, true},
      {"peer slower", {1, 0, 0}, {1, 100, 0}, false},
      {"peer faster but more demoted", {1, 100, 0}, {1, 0, 1}, false},
      {"peer slower but less demoted", {1, 0, 2}, {1, 100, 1}, true},
      {"bow-out never wins", {1, 0, 0}, {255, 255, 0}, false},
      {"advbase dominates skew", {1, 0, 0}, {0, 254, 0}, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(masterShouldYield(c.ours, c.peer), c.yield) << c.name;
  }
}

TEST(Timing, BackupVerdicts) {
  struct Case {
    const char* name;
    Priority ours;
    Priority peer;
    bool preempt;
    BackupVerdict want;
  };
  const Case cases[] = {
      {"bow-out", {1, 100, 0}, {255, 255, 0}, false, BackupVerdict::BowOut},
      {"slower master, preempt", {1, 0, 0}, {1, 100, 0}, true, BackupVerdict::Preempt},
      {"slower master, no preempt", {1, 0, 0}, {1, 100, 0}, false, BackupVerdict::Wait},
      {"slower but less demoted master, preempt", {1, 0, 1}, {1, 100, 0}, true, BackupVerdict::Wait},
      {"faster master", {1, 100, 0}, {1, 0, 0}, true, BackupVerdict::Wait},
      {"equal T", {1, 10, 0}, {1, 10, 0}, true, BackupVerdict::Wait},
      {"peer demote higher, no preempt", {1, 100, 0}, {1, 0, 1}, false, BackupVerdict::DemoteHigherThanPeer},
      {"guaranteed timeout", {1, 0, 0}, {4, 0, 0}, false, BackupVerdict::GuaranteedTimeout},
      {"not guaranteed: exactly 3T", {1, 0, 0}, {3, 0, 0}, false, BackupVerdict::Wait},
      {"sub-second backup vs 1 s master", {0, 20, 0}, {1, 0, 0}, false, BackupVerdict::GuaranteedTimeout},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(evaluateAsBackup(c.ours, c.peer, c.preempt), c.want) << c.name;
  }
}

}  // namespace
}  // namespace carplb::agent::carp
