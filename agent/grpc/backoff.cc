#include "agent/grpc/backoff.h"

#include <algorithm>
#include <cmath>

namespace carplb::agent::rpc {

Status validateBackoffPolicy(const BackoffPolicy& p) {
  if (p.initial <= Duration::zero()) {
    return makeError("backoff.initial: must be > 0");
  }
  if (p.max < p.initial) {
    return makeError("backoff.max: must be >= backoff.initial");
  }
  if (!(p.multiplier >= 1.0) || p.multiplier > 100.0) {
    return makeError("backoff.multiplier: must be between 1 and 100, got " + std::to_string(p.multiplier));
  }
  if (!(p.jitter >= 0.0) || p.jitter > 1.0) {
    return makeError("backoff.jitter: must be between 0 and 1, got " + std::to_string(p.jitter));
  }
  return okStatus();
}

Duration Backoff::nextDelay() {
  const double maxNs = static_cast<double>(policy_.max.count());
  // Computed in double and clamped before the power can overflow.
  double base = static_cast<double>(policy_.initial.count());
  for (int i = 0; i < attempt_ && base < maxNs; ++i) {
    base *= policy_.multiplier;
  }
  base = std::min(base, maxNs);
  const double factor = 1.0 + policy_.jitter * (2.0 * random_.uniform01() - 1.0);
  const double delay = std::clamp(base * factor, 0.0, maxNs);
  if (attempt_ < 1'000'000) {
    ++attempt_;
  }
  return Duration(static_cast<Duration::rep>(delay));
}

}  // namespace carplb::agent::rpc
