#include "controller/kube/model/event_correlator.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using carplb::testing::FakeClock;

EventRequest req(const std::string& reason, const std::string& msg = "assigned 192.0.2.10") {
  EventRequest r;
  r.involvedObject = ObjectReference{"v1", "Service", "default", "web", "uid-1", "", ""};
  r.type = "Normal";
  r.reason = reason;
  r.message = msg;
  return r;
}

TEST(EventCorrelator, FirstCreatesThenPatchesCount) {
  FakeClock clock;
  EventCorrelator c;
  auto a = c.correlate(req("IPAllocated"), clock.now(), clock.wallNow());
  ASSERT_EQ(a.kind, EventActionKind::Create);
  EXPECT_EQ(a.namespace_, "default");
  EXPECT_EQ(a.body["count"], 1);
  EXPECT_EQ(a.body["involvedObject"]["name"], "web");
  EXPECT_EQ(a.body["involvedObject"]["uid"], "uid-1");
  EXPECT_EQ(a.body["source"]["component"], "carplb-controller");
  EXPECT_EQ(a.body["type"], "Normal");
  EXPECT_EQ(a.body["metadata"]["name"], a.name);
  EXPECT_EQ(a.name.rfind("web.", 0), 0u);
  clock.advance(30s);
  auto b = c.correlate(req("IPAllocated"), clock.now(), clock.wallNow());
  ASSERT_EQ(b.kind, EventActionKind::Patch);
  EXPECT_EQ(b.name, a.name);
  EXPECT_EQ(b.patch["count"], 2);
  EXPECT_NE(b.patch["lastTimestamp"], a.body["lastTimestamp"]);
  EXPECT_EQ(b.body["firstTimestamp"], a.body["firstTimestamp"]);
  // A different message is a different event.
  EXPECT_EQ(c.correlate(req("IPAllocated", "other"), clock.now(), clock.wallNow()).kind, EventActionKind::Create);
}

TEST(EventCorrelator, Burst25ThenOnePerFiveMinutesPerKey) {
  FakeClock clock;
  EventCorrelator c;
  for (int i = 0; i < 25; ++i) {
    EXPECT_NE(c.correlate(req("Flap"), clock.now(), clock.wallNow()).kind, EventActionKind::Drop) << i;
  }
  EXPECT_EQ(c.correlate(req("Flap"), clock.now(), clock.wallNow()).kind, EventActionKind::Drop);
  // Another key has its own bucket.
  EXPECT_EQ(c.correlate(req("Other"), clock.now(), clock.wallNow()).kind, EventActionKind::Create);
  clock.advance(299s);
  EXPECT_EQ(c.correlate(req("Flap"), clock.now(), clock.wallNow()).kind, EventActionKind::Drop);
  clock.advance(1s);
  auto a = c.correlate(req("Flap"), clock.now(), clock.wallNow());
  EXPECT_EQ(a.kind, EventActionKind::Patch);
  EXPECT_EQ(a.patch["count"], 26);
  EXPECT_EQ(c.correlate(req("Flap"), clock.now(), clock.wallNow()).kind, EventActionKind::Drop);
}

TEST(EventCorrelator, BoundedKeysAndForget) {
  FakeClock clock;
  EventCorrelator::Options o;
  o.maxKeys = 3;
  EventCorrelator c(o);
  for (int i = 0; i < 10; ++i) {
    (void)c.correlate(req("R" + std::to_string(i)), clock.now(), clock.wallNow());
  }
  EXPECT_EQ(c.trackedKeys(), 3u);
  auto a = c.correlate(req("R9"), clock.now(), clock.wallNow());
  EXPECT_EQ(a.kind, EventActionKind::Patch);
  c.forgetEvent(a);
  clock.advance(1s);
  EXPECT_EQ(c.correlate(req("R9"), clock.now(), clock.wallNow()).kind, EventActionKind::Create);
}

TEST(EventCorrelator, ClusterScopedObjectsGoToDefaultNamespace) {
  FakeClock clock;
  EventCorrelator c;
  EventRequest r;
  r.involvedObject = ObjectReference{"carplb.io/v1alpha1", "VirtualIP", "", "vip-7", "", "", ""};
  r.type = "Warning";
  r.reason = "Failover";
  r.message = std::string(5000, 'x');
  auto a = c.correlate(r, clock.now(), clock.wallNow());
  EXPECT_EQ(a.namespace_, "default");
  EXPECT_FALSE(a.body["involvedObject"].contains("namespace"));
  EXPECT_EQ(a.body["message"].get<std::string>().size(), 1024u);
}

}  // namespace
}  // namespace carplb::controller::kube
