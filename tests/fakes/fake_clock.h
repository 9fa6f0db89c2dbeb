#pragma once
// FakeClock: time moves only when a test says so.
#include "common/clock.h"

namespace carplb::testing {

class FakeClock final : public Clock {
public:
  explicit FakeClock(TimePoint start = TimePoint{} + std::chrono::hours(1)) : now_(start) {}
  TimePoint now() const override { return now_; }
  WallTime wallNow() const override { return WallTime{} + (now_.time_since_epoch() + std::chrono::hours(24 * 365 * 56)); }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

private:
  TimePoint now_;
};

}  // namespace carplb::testing
