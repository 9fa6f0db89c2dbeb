#include "controller/kube/model/work_queue.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using carplb::testing::FakeClock;

TEST(WorkQueue, DedupesDirtyKeys) {
  FakeClock clock;
  WorkQueue q(clock);
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.tryGet(), std::optional<std::string>("a"));
  EXPECT_EQ(q.tryGet(), std::optional<std::string>("b"));
  EXPECT_EQ(q.tryGet(), std::nullopt);
}

TEST(WorkQueue, KeyAddedWhileProcessingRunsAgainAfterDone) {
  FakeClock clock;
  WorkQueue q(clock);
  q.add("a");
  auto k = q.tryGet();
  ASSERT_EQ(k, std::optional<std::string>("a"));
  q.add("a");  // while processing: not handed to a second worker
  q.add("a");
  EXPECT_EQ(q.tryGet(), std::nullopt);
  q.done("a");
  EXPECT_EQ(q.tryGet(), std::optional<std::string>("a"));
  q.done("a");
  EXPECT_EQ(q.tryGet(), std::nullopt);
}

TEST(WorkQueue, AddAfterWaitsForTheClockAndKeepsEarliest) {
  FakeClock clock;
  WorkQueue q(clock);
  q.addAfter("a", 10s);
  q.addAfter("a", 5s);   // earlier wins
  q.addAfter("a", 20s);  // later ignored
  EXPECT_EQ(q.delayedCount(), 1u);
  EXPECT_EQ(q.nextDelayedAt(), std::optional<TimePoint>(clock.now() + 5s));
  clock.advance(4s);
  EXPECT_EQ(q.tryGet(), std::nullopt);
  clock.advance(1s);
  EXPECT_EQ(q.tryGet(), std::optional<std::string>("a"));
  q.done("a");
  EXPECT_EQ(q.delayedCount(), 0u);
}

TEST(WorkQueue, RateLimitedBacksOffPerKeyAndForgetResets) {
  FakeClock clock;
  WorkQueue q(clock);
  struct Step {
    const char* desc;
    Duration wait;
  };
  // 5 ms, 10 ms, 20 ms, 40 ms: each retry only after its delay.
  for (Step s : {Step{"1st retry", 5ms}, Step{"2nd retry", 10ms}, Step{"3rd retry", 20ms}, Step{"4th retry", 40ms}}) {
    q.addRateLimited("a");
    clock.advance(s.wait - 1ms);
    EXPECT_EQ(q.tryGet(), std::nullopt) << s.desc;
    clock.advance(1ms);
    ASSERT_EQ(q.tryGet(), std::optional<std::string>("a")) << s.desc;
    q.done("a");
  }
  EXPECT_EQ(q.numRequeues("a"), 4);
  q.forget("a");
  EXPECT_EQ(q.numRequeues("a"), 0);
  q.addRateLimited("a");
  clock.advance(5ms);
  EXPECT_EQ(q.tryGet(), std::optional<std::string>("a"));
}

TEST(WorkQueue, OverallBucketLimitsManyKeys) {
  FakeClock clock;
  WorkQueue q(clock, WorkQueue::Options{5ms, 1000s, 10.0, 2});
  q.addRateLimited("a");  // bucket token 1
  q.addRateLimited("b");  // bucket token 2
  q.addRateLimited("c");  // must wait 100 ms for the bucket
  clock.advance(5ms);
  EXPECT_TRUE(q.tryGet().has_value());
  EXPECT_TRUE(q.tryGet().has_value());
  EXPECT_EQ(q.tryGet(), std::nullopt);
  clock.advance(95ms);
  EXPECT_EQ(q.tryGet(), std::optional<std::string>("c"));
}

TEST(WorkQueue, ShutdownStopsHandingOutAndWakes) {
  FakeClock clock;
  WorkQueue q(clock);
  int wakes = 0;
  q.setWakeup([&] { ++wakes; });
  q.add("a");
  EXPECT_EQ(wakes, 1);
  q.shutDown();
  EXPECT_EQ(wakes, 2);
  EXPECT_TRUE(q.shuttingDown());
  EXPECT_EQ(q.tryGet(), std::nullopt);
  q.add("b");
  EXPECT_EQ(q.len(), 1u);  // "a" still there, "b" refused
}

}  // namespace
}  // namespace carplb::controller::kube
