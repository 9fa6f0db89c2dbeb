#include "controller/kube/model/backoff.h"

#include <algorithm>
#include <charconv>

namespace carplb::controller::kube {

namespace {
Duration scale(Duration d, double f) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::nano>(static_cast<double>(d.count()) * f));
}
}  // namespace

Duration ExponentialBackoff::next(TimePoint now, Random& rnd) {
  if (lastFailure_ && now - *lastFailure_ >= opts_.resetAfter) {
    current_ = opts_.initial;
  }
  lastFailure_ = now;
  Duration base = std::min(current_, opts_.max);
  current_ = std::min(scale(current_, opts_.factor), opts_.max);
  return base + scale(base, opts_.jitter * rnd.uniform01());
}

TokenBucket::TokenBucket(double ratePerSecond, int burst)
    : rate_(ratePerSecond > 0 ? ratePerSecond : 1e-9), burst_(burst >= 1 ? burst : 1), tokens_(burst_) {}

void TokenBucket::refill(TimePoint now) {
  if (last_ && now > *last_) {
    double secs = std::chrono::duration<double>(now - *last_).count();
    tokens_ = std::min(burst_, tokens_ + secs * rate_);
  }
  if (!last_ || now > *last_) {
    last_ = now;
  }
}

double TokenBucket::tokens(TimePoint now) {
  refill(now);
  return tokens_;
}

bool TokenBucket::tryTake(TimePoint now) {
  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

Duration TokenBucket::reserve(TimePoint now) {
  refill(now);
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) {
    return Duration::zero();
  }
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / rate_));
}

Duration ItemBackoff::when(const std::string& key) {
  int& n = failures_[key];
  int exp = n;
  ++n;
  // 2^exp overflows quickly; stop doubling once past max.
  Duration d = base_;
  for (int i = 0; i < exp && d < max_; ++i) {
    d *= 2;
  }
  return std::min(d, max_);
}

int ItemBackoff::failures(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

std::optional<Duration> parseRetryAfter(std::string_view header) {
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);
  if (header.empty() || header.size() > 12) {
    return std::nullopt;
  }
  int64_t secs = 0;
  auto [p, ec] = std::from_chars(header.data(), header.data() + header.size(), secs);
  if (ec != std::errc{} || p != header.data() + header.size() || secs < 0) {
    return std::nullopt;
  }
  return std::chrono::seconds(std::min<int64_t>(secs, 3600));
}

}  // namespace carplb::controller::kube
