#include "controller/kube/model/backoff.h"

#include <gtest/gtest.h>

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;

// Returns a fixed uniform01() value.
class FixedRandom final : public Random {
public:
  explicit FixedRandom(double v) : v_(static_cast<uint64_t>(v * 9007199254740992.0) << 11) {}
  uint64_t next64() override { return v_; }

private:
  uint64_t v_;
};

TEST(ExponentialBackoff, DoublesToCapWithJitterAndResets) {
  ExponentialBackoff b;
  FixedRandom zero(0.0);
  TimePoint t{};
  std::vector<Duration> got;
  for (int i = 0; i < 8; ++i) {
    got.push_back(b.next(t, zero));
    t += 1s;
  }
  std::vector<Duration> want = {800ms, 1600ms, 3200ms, 6400ms, 12800ms, 25600ms, 30s, 30s};
  EXPECT_EQ(got, want);
  // After 2 minutes without failures the backoff starts over.
  t += 2min;
  EXPECT_EQ(b.next(t, zero), 800ms);
  // Jitter adds up to 50% of the delay.
  FixedRandom half(0.5);
  ExponentialBackoff j;
  EXPECT_EQ(j.next(TimePoint{}, half), 1000ms);
  FixedRandom almostOne(0.999999);
  Duration d = j.next(TimePoint{}, almostOne);
  EXPECT_GT(d, 2399ms);
  EXPECT_LT(d, 2400ms);
}

TEST(TokenBucket, BurstThenRate) {
  TokenBucket tb(5.0, 10);
  TimePoint t{};
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(tb.tryTake(t)) << i;
  EXPECT_FALSE(tb.tryTake(t));
  t += 199ms;
  EXPECT_FALSE(tb.tryTake(t));
  t += 1ms;
  EXPECT_TRUE(tb.tryTake(t));
  t += 10s;  // refills to burst, not beyond
  EXPECT_DOUBLE_EQ(tb.tokens(t), 10.0);
}

TEST(TokenBucket, ReserveReturnsWaits) {
  TokenBucket tb(5.0, 2);
  TimePoint t{};
  EXPECT_EQ(tb.reserve(t), 0s);
  EXPECT_EQ(tb.reserve(t), 0s);
  EXPECT_EQ(tb.reserve(t), 200ms);
  EXPECT_EQ(tb.reserve(t), 400ms);
  t += 400ms;  // both borrowed tokens repaid
  EXPECT_EQ(tb.reserve(t), 200ms);
}

TEST(ItemBackoff, PerKeyExponentialCapped) {
  ItemBackoff ib(5ms, 1000s);
  EXPECT_EQ(ib.when("a"), 5ms);
  EXPECT_EQ(ib.when("a"), 10ms);
  EXPECT_EQ(ib.when("a"), 20ms);
  EXPECT_EQ(ib.when("b"), 5ms);
  EXPECT_EQ(ib.failures("a"), 3);
  for (int i = 0; i < 100; ++i) (void)ib.when("a");
  EXPECT_EQ(ib.when("a"), 1000s);
  ib.forget("a");
  EXPECT_EQ(ib.failures("a"), 0);
  EXPECT_EQ(ib.when("a"), 5ms);
}

TEST(RetryAfter, Parses) {
  EXPECT_EQ(parseRetryAfter("3"), std::optional<Duration>(3s));
  EXPECT_EQ(parseRetryAfter(" 0 "), std::optional<Duration>(0s));
  EXPECT_EQ(parseRetryAfter("99999"), std::optional<Duration>(3600s));
  EXPECT_FALSE(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
  EXPECT_FALSE(parseRetryAfter("-1").has_value());
  EXPECT_FALSE(parseRetryAfter("").has_value());
  EXPECT_FALSE(parseRetryAfter("1.5").has_value());
}

}  // namespace
}  // namespace carplb::controller::kube
