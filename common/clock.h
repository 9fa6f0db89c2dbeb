#pragma once
// Time is a dependency: pure cores take a Clock& (or a TimePoint argument) and
// never call std::chrono::*_clock::now() themselves. Tests use tests/fakes/fake_clock.h.
#include <chrono>

namespace carplb {

using MonoClock = std::chrono::steady_clock;
using TimePoint = MonoClock::time_point;   // intervals, timers (monotonic)
using Duration = std::chrono::nanoseconds;
using WallTime = std::chrono::system_clock::time_point;  // display, API timestamps

// Contract: now() is monotonic non-decreasing; wallNow() may jump. Thread-safe.
class Clock {
public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  virtual WallTime wallNow() const = 0;
};

class SystemClock final : public Clock {
public:
  TimePoint now() const override { return MonoClock::now(); }
  WallTime wallNow() const override { return std::chrono::system_clock::now(); }
};

}  // namespace carplb
