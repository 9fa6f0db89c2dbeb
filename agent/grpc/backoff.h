#pragma once
// Reconnect backoff for the plan stream. PURE: randomness comes from an injected Random.
//
// Delay n (n = 0, 1, ...) is min(max, initial * multiplier^n) scaled by a uniform factor in
// [1 - jitter, 1 + jitter], then clamped to max. Jitter spreads 1 000 agents reconnecting
// after a controller restart so they do not arrive in one burst.
#include "common/clock.h"
#include "common/random.h"
#include "common/result.h"

namespace carplb::agent::rpc {

struct BackoffPolicy {
  Duration initial = std::chrono::milliseconds(500);
  Duration max = std::chrono::seconds(30);
  double multiplier = 2.0;
  double jitter = 0.2;  // fraction, 0 .. 1
};

// Errors name the field: "backoff.initial: must be > 0", ...
Status validateBackoffPolicy(const BackoffPolicy& policy);

// Not thread-safe (like its Random). The policy must have passed validateBackoffPolicy.
class Backoff {
public:
  Backoff(BackoffPolicy policy, Random& random) : policy_(policy), random_(random) {}

  // The delay before the next attempt; advances the attempt counter.
  Duration nextDelay();
  // Call after a connection proved healthy (a snapshot arrived): the next delay is short again.
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

private:
  BackoffPolicy policy_;
  Random& random_;
  int attempt_ = 0;
};

}  // namespace carplb::agent::rpc
