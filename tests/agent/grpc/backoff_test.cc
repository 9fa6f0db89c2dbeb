// Reconnect backoff: growth, cap, jitter bounds, reset (pure, scripted randomness).
#include <gtest/gtest.h>

#include <vector>

#include "agent/grpc/backoff.h"

namespace carplb::agent::rpc {
namespace {

using namespace std::chrono_literals;

// Returns uniform01() values from a script (as 53-bit fractions), repeating the last.
class ScriptedRandom final : public Random {
public:
  explicit ScriptedRandom(std::vector<double> values) : values_(std::move(values)) {}
  uint64_t next64() override {
    const double v = values_[std::min(i_, values_.size() - 1)];
    ++i_;
    return static_cast<uint64_t>(v * 9007199254740992.0) << 11;
  }

private:
  std::vector<double> values_;
  std::size_t i_ = 0;
};

TEST(Backoff, GrowsExponentiallyUpToMaxWithoutJitter) {
  ScriptedRandom rnd({0.5});  // factor 1 + j * (2 * 0.5 - 1) = 1
  Backoff b({.initial = 100ms, .max = 1s, .multiplier = 2.0, .jitter = 0.2}, rnd);
  const std::vector<Duration> expected = {100ms, 200ms, 400ms, 800ms, 1s, 1s};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(b.nextDelay(), expected[i]) << "attempt " << i;
  }
  EXPECT_EQ(b.attempt(), 6);
}

TEST(Backoff, JitterStaysWithinBoundsAndNeverExceedsMax) {
  ScriptedRandom low({0.0});
  Backoff a({.initial = 100ms, .max = 1s, .multiplier = 2.0, .jitter = 0.2}, low);
  EXPECT_EQ(a.nextDelay(), 80ms);   // -20 %
  ScriptedRandom high({0.999999});
  Backoff b({.initial = 100ms, .max = 1s, .multiplier = 2.0, .jitter = 0.2}, high);
  const Duration d = b.nextDelay();
  EXPECT_GT(d, 119ms);
  EXPECT_LE(d, 120ms);               // +20 %
  for (int i = 0; i < 10; ++i) {
    EXPECT_LE(b.nextDelay(), 1s);    // clamped at max even with +20 %
  }
}

TEST(Backoff, DifferentRandomValuesSpreadAgents) {
  ScriptedRandom r1({0.1});
  ScriptedRandom r2({0.9});
  Backoff a({}, r1);
  Backoff b({}, r2);
  EXPECT_NE(a.nextDelay(), b.nextDelay());
}

TEST(Backoff, ResetStartsOver) {
  ScriptedRandom rnd({0.5});
  Backoff b({.initial = 100ms, .max = 10s, .multiplier = 3.0, .jitter = 0.0}, rnd);
  EXPECT_EQ(b.nextDelay(), 100ms);
  EXPECT_EQ(b.nextDelay(), 300ms);
  b.reset();
  EXPECT_EQ(b.attempt(), 0);
  EXPECT_EQ(b.nextDelay(), 100ms);
}

TEST(Backoff, ManyAttemptsDoNotOverflow) {
  ScriptedRandom rnd({0.5});
  Backoff b({.initial = 1s, .max = 30s, .multiplier = 100.0, .jitter = 0.0}, rnd);
  for (int i = 0; i < 5000; ++i) {
    const Duration d = b.nextDelay();
    ASSERT_GT(d, 0s);
    ASSERT_LE(d, 30s);
  }
}

TEST(BackoffPolicy, ValidationNamesTheField) {
  EXPECT_TRUE(validateBackoffPolicy({}).ok());
  auto e1 = validateBackoffPolicy({.initial = 0ms});
  ASSERT_FALSE(e1.ok());
  EXPECT_EQ(e1.error().message, "backoff.initial: must be > 0");
  auto e2 = validateBackoffPolicy({.initial = 2s, .max = 1s});
  ASSERT_FALSE(e2.ok());
  EXPECT_EQ(e2.error().message, "backoff.max: must be >= backoff.initial");
  EXPECT_FALSE(validateBackoffPolicy({.multiplier = 0.5}).ok());
  EXPECT_FALSE(validateBackoffPolicy({.jitter = 1.5}).ok());
}

}  // namespace
}  // namespace carplb::agent::rpc
