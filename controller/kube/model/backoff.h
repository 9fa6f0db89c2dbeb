#pragma once
// Backoff and rate-limit arithmetic. Pure: time comes in as arguments, randomness as Random&.
//
//  - ExponentialBackoff: reconnect delays for list/watch and retries (0.8 s doubling to 30 s,
//    plus up to `jitter` x the delay at random; back to the start after `resetAfter` without
//    a failure), as kubernetes-api.md asks for.
//  - TokenBucket: QPS + burst (client-side request limit 5/10, Event spam filter 1/300 s + 25).
//  - ItemBackoff: per-key 5 ms * 2^failures capped at 1000 s (client-go's workqueue limiter).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/random.h"

namespace carplb::controller::kube {

class ExponentialBackoff {
public:
  struct Options {
    Duration initial = std::chrono::milliseconds(800);
    Duration max = std::chrono::seconds(30);
    double factor = 2.0;
    double jitter = 0.5;  // adds uniform [0, jitter) x delay; the result never exceeds max*(1+jitter)
    Duration resetAfter = std::chrono::minutes(2);
  };
  ExponentialBackoff() : ExponentialBackoff(Options{}) {}
  explicit ExponentialBackoff(Options o) : opts_(o), current_(o.initial) {}

  // The delay before the next attempt after a failure at `now`.
  Duration next(TimePoint now, Random& rnd);
  // The un-jittered delay next() would start from (for tests and logs).
  Duration currentBase() const { return current_; }
  void reset() { current_ = opts_.initial; lastFailure_.reset(); }

private:
  Options opts_;
  Duration current_;
  std::optional<TimePoint> lastFailure_;
};

class TokenBucket {
public:
  // ratePerSecond > 0, burst >= 1. Starts full.
  TokenBucket(double ratePerSecond, int burst);
  // Takes a token if one is available at `now`.
  bool tryTake(TimePoint now);
  // Takes a token, possibly borrowing from the future; returns how long the caller must wait
  // before acting (zero when a token was available). Calls reserve in order = FIFO fairness.
  Duration reserve(TimePoint now);
  double tokens(TimePoint now);

private:
  void refill(TimePoint now);
  double rate_;
  double burst_;
  double tokens_;
  std::optional<TimePoint> last_;
};

class ItemBackoff {
public:
  explicit ItemBackoff(Duration base = std::chrono::milliseconds(5), Duration max = std::chrono::seconds(1000))
      : base_(base), max_(max) {}
  // Delay for this key's next retry; counts a failure.
  Duration when(const std::string& key);
  void forget(const std::string& key) { failures_.erase(key); }
  int failures(const std::string& key) const;
  size_t size() const { return failures_.size(); }

private:
  Duration base_;
  Duration max_;
  std::map<std::string, int, std::less<>> failures_;
};

// HTTP Retry-After in delta-seconds form ("3"); nullopt for anything else (HTTP-date is not
// used by kube-apiserver). Clamped to [0, 1 h] so a hostile server cannot park us forever.
std::optional<Duration> parseRetryAfter(std::string_view header);

}  // namespace carplb::controller::kube
