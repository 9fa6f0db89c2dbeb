#include "controller/kube/model/leader_election.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using carplb::testing::FakeClock;

LeaderElectionConfig cfg(const std::string& id) {
  return LeaderElectionConfig{"kube-system", "carplb-controller", id, 15s, 10s, 2s};
}

Lease lease(const std::string& holder, const std::string& rv, int64_t transitions = 0,
            const std::string& acquire = "2026-01-01T00:00:00.000000Z", int64_t duration = 15) {
  nlohmann::json j = {{"apiVersion", "coordination.k8s.io/v1"},
                      {"kind", "Lease"},
                      {"metadata", {{"name", "carplb-controller"}, {"namespace", "kube-system"}, {"resourceVersion", rv},
                                    {"labels", {{"keep", "me"}}}}},
                      {"spec", {{"holderIdentity", holder}, {"leaseDurationSeconds", duration},
                                {"acquireTime", acquire}, {"renewTime", "2026-01-01T00:00:01.000000Z"},
                                {"leaseTransitions", transitions}, {"futureField", "x"}}}};
  return parseLease(j).value();
}

LeaseResponse ok(const Lease& l) { return LeaseResponse{LeaseResult::Ok, l}; }
LeaseResponse echo(const LeaseRequest& req, const std::string& newRv) {
  nlohmann::json body = req.body;
  body["metadata"]["resourceVersion"] = newRv;
  return LeaseResponse{LeaseResult::Ok, parseLease(body).value()};
}

TEST(LeaderElection, ValidatesConfig) {
  EXPECT_TRUE(validate(cfg("a")).ok());
  auto c = cfg("a");
  c.renewDeadline = 15s;
  EXPECT_EQ(validate(c).error().message, "leaderElection.renewDeadline: must be shorter than leaseDuration");
  c = cfg("");
  EXPECT_FALSE(validate(c).ok());
}

TEST(LeaderElection, CreatesWhenMissing) {
  FakeClock clock;
  LeaderElector le(cfg("me"));
  auto req = le.beginRound(clock.now(), clock.wallNow());
  EXPECT_EQ(req.op, LeaseOp::Get);
  auto step = le.onResponse(clock.now(), clock.wallNow(), LeaseResponse{LeaseResult::NotFound, std::nullopt});
  ASSERT_EQ(step.outcome, RoundOutcome::Pending);
  ASSERT_TRUE(step.next);
  EXPECT_EQ(step.next->op, LeaseOp::Create);
  EXPECT_EQ(step.next->body["spec"]["holderIdentity"], "me");
  EXPECT_EQ(step.next->body["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(step.next->body["spec"]["leaseTransitions"], 0);
  EXPECT_EQ(step.next->body["metadata"]["namespace"], "kube-system");
  auto done = le.onResponse(clock.now(), clock.wallNow(), echo(*step.next, "1"));
  EXPECT_EQ(done.outcome, RoundOutcome::Acquired);
  EXPECT_TRUE(le.isLeader());
}

TEST(LeaderElection, WaitsForOtherHolderByLocalObservationThenTakesOver) {
  FakeClock clock;
  LeaderElector le(cfg("me"));
  struct Step {
    const char* desc;
    Duration advance;
    std::string rv;
    RoundOutcome want;
  };
  // The other holder never renews: its record stays rv "5". We only take over once our own
  // observation of that record is older than the lease duration, whatever renewTime says.
  for (const Step& s : {Step{"first sight of other holder", 0s, "5", RoundOutcome::HeldByOther},
                        Step{"still within 15 s of observation", 14s, "5", RoundOutcome::HeldByOther},
                        Step{"15 s passed", 1s, "5", RoundOutcome::Pending}}) {
    clock.advance(s.advance);
    ASSERT_EQ(le.beginRound(clock.now(), clock.wallNow()).op, LeaseOp::Get) << s.desc;
    auto step = le.onResponse(clock.now(), clock.wallNow(), ok(lease("other", s.rv, 3)));
    EXPECT_EQ(step.outcome, s.want) << s.desc;
    if (s.want == RoundOutcome::Pending) {
      ASSERT_TRUE(step.next) << s.desc;
      EXPECT_EQ(step.next->op, LeaseOp::Update);
      EXPECT_EQ(step.next->resourceVersion, "5");
      EXPECT_EQ(step.next->body["metadata"]["resourceVersion"], "5");
      EXPECT_EQ(step.next->body["spec"]["holderIdentity"], "me");
      EXPECT_EQ(step.next->body["spec"]["leaseTransitions"], 4);  // holder changed
      EXPECT_EQ(step.next->body["spec"]["futureField"], "x");     // unknown fields kept
      EXPECT_EQ(step.next->body["metadata"]["labels"]["keep"], "me");
      EXPECT_EQ(le.onResponse(clock.now(), clock.wallNow(), echo(*step.next, "6")).outcome, RoundOutcome::Acquired);
    }
  }
  EXPECT_TRUE(le.isLeader());
}

TEST(LeaderElection, RenewedRecordResetsObservation) {
  FakeClock clock;
  LeaderElector le(cfg("me"));
  (void)le.beginRound(clock.now(), clock.wallNow());
  EXPECT_EQ(le.onResponse(clock.now(), clock.wallNow(), ok(lease("other", "5"))).outcome, RoundOutcome::HeldByOther);
  clock.advance(10s);
  (void)le.beginRound(clock.now(), clock.wallNow());
  // The other holder renewed (new RV/renewTime): observation time moves to now.
  nlohmann::json renewed = lease("other", "6").raw;
  renewed["spec"]["renewTime"] = "2026-01-01T00:00:11.000000Z";
  auto l = parseLease(renewed).value();
  EXPECT_EQ(le.onResponse(clock.now(), clock.wallNow(), ok(l)).outcome, RoundOutcome::HeldByOther);
  clock.advance(10s);  // 20 s since first sight, 10 s since the change
  (void)le.beginRound(clock.now(), clock.wallNow());
  EXPECT_EQ(le.onResponse(clock.now(), clock.wallNow(), ok(l)).outcome, RoundOutcome::HeldByOther);
}

TEST(LeaderElection, LeaderRenewsOnFastPathKeepingAcquireTime) {
  FakeClock clock;
  LeaderElector le(cfg("me"));
  (void)le.beginRound(clock.now(), clock.wallNow());
  auto step = le.onResponse(clock.now(), clock.wallNow(), ok(lease("me", "7", 2, "2025-05-05T00:00:00.000000Z")));
  ASSERT_TRUE(step.next);
  // Our own record (e.g. after a restart): acquireTime and transitions kept.
  EXPECT_EQ(step.next->body["spec"]["acquireTime"], "2025-05-05T00:00:00.000000Z");
  EXPECT_EQ(step.next->body["spec"]["leaseTransitions"], 2);
  ASSERT_EQ(le.onResponse(clock.now(), clock.wallNow(), echo(*step.next, "8")).outcome, RoundOutcome::Acquired);
  clock.advance(2s);
  auto renew = le.beginRound(clock.now(), clock.wallNow());
  EXPECT_EQ(renew.op, LeaseOp::Update);  // no GET while fresh
  EXPECT_EQ(renew.resourceVersion, "8");
  EXPECT_EQ(renew.body["spec"]["acquireTime"], "2025-05-05T00:00:00.000000Z");
  EXPECT_NE(renew.body["spec"]["renewTime"], step.next->body["spec"]["renewTime"]);
  EXPECT_EQ(le.onResponse(clock.now(), clock.wallNow(), echo(renew, "9")).outcome, RoundOutcome::Renewed);
}

TEST(LeaderElection, FastPathConflictFallsBackToGetAndRenewDeadline) {
  FakeClock clock;
  LeaderElector le(cfg("me"));
  (void)le.beginRound(clock.now(), clock.wallNow());
  auto step = le.onResponse(clock.now(), clock.wallNow(), LeaseResponse{LeaseResult::NotFound, std::nullopt});
  ASSERT_EQ(le.onResponse(clock.now(), clock.wallNow(), echo(*step.next, "1")).outcome, RoundOutcome::Acquired);
  clock.advance(2s);
  auto renew = le.beginRound(clock.now(), clock.wallNow());
  ASSERT_EQ(renew.op, LeaseOp::Update);
  auto fallback = le.onResponse(clock.now(), clock.wallNow(), LeaseResponse{LeaseResult::Conflict, std::nullopt});
  ASSERT_EQ(fallback.outcome, RoundOutcome::Pending);
  EXPECT_EQ(fallback.next->op, LeaseOp::Get);
  // Someone else grabbed it (we were slow): it's held by other, we are no longer leader.
  EXPECT_EQ(le.onResponse(clock.now(), clock.wallNow(), ok(lease("other", "3"))).outcome, RoundOutcome::HeldByOther);
  EXPECT_FALSE(le.isLeader());

  // Renew deadline: a leader whose renewals fail for 10 s must stop.
  LeaderElector l2(cfg("me"));
  (void)l2.beginRound(clock.now(), clock.wallNow());
  auto s2 = l2.onResponse(clock.now(), clock.wallNow(), LeaseResponse{LeaseResult::NotFound, std::nullopt});
  ASSERT_EQ(l2.onResponse(clock.now(), clock.wallNow(), echo(*s2.next, "1")).outcome, RoundOutcome::Acquired);
  for (int i = 0; i < 4; ++i) {
    clock.advance(2s);
    (void)l2.beginRound(clock.now(), clock.wallNow());
    auto f = l2.onResponse(clock.now(), clock.wallNow(), LeaseResponse{LeaseResult::Failed, std::nullopt});
    if (f.next) {
      EXPECT_EQ(l2.onResponse(clock.now(), clock.wallNow(), LeaseResponse{LeaseResult::Failed, std::nullopt}).outcome,
                RoundOutcome::Failed);
    }
    EXPECT_FALSE(l2.renewDeadlineExceeded(clock.now())) << i;
  }
  clock.advance(2s);
  EXPECT_TRUE(l2.renewDeadlineExceeded(clock.now()));
}

TEST(LeaderElection, ReleaseOnlyWhenLeading) {
  FakeClock clock;
  LeaderElector le(cfg("me"));
  EXPECT_FALSE(le.releaseRequest(clock.wallNow()).has_value());
  (void)le.beginRound(clock.now(), clock.wallNow());
  auto s = le.onResponse(clock.now(), clock.wallNow(), ok(lease("", "4", 1)));  // released lease: take at once
  ASSERT_TRUE(s.next);
  EXPECT_EQ(s.next->body["spec"]["leaseTransitions"], 2);
  ASSERT_EQ(le.onResponse(clock.now(), clock.wallNow(), echo(*s.next, "5")).outcome, RoundOutcome::Acquired);
  auto rel = le.releaseRequest(clock.wallNow());
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->op, LeaseOp::Update);
  EXPECT_EQ(rel->resourceVersion, "5");
  EXPECT_EQ(rel->body["spec"]["holderIdentity"], "");
  EXPECT_EQ(rel->body["spec"]["leaseDurationSeconds"], 1);
  EXPECT_EQ(rel->body["spec"]["leaseTransitions"], 2);
}

}  // namespace
}  // namespace carplb::controller::kube
