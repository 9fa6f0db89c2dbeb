#pragma once
// WorkQueue: client-go's rate-limiting work queue, with an injected Clock.
//
// Guarantees (copied from client-go util/workqueue):
//  - a key is queued at most once (the *dirty* set) however often it is added;
//  - a key is never handed to two workers at once (the *processing* set): a key added while
//    it is being processed is queued again only when the worker calls done();
//  - addRateLimited(key) re-adds after max(per-key 5 ms * 2^failures up to 1000 s, an overall
//    10/s burst-100 token bucket); forget(key) clears the per-key failure count;
//  - addAfter(key, d) queues the key once `d` has passed on the Clock.
//
// Threading: every method is thread-safe. get is non-blocking (tryGet); a shell that wants to
// block waits for the wakeup callback (called without the lock held, whenever a key may have
// become ready) or until nextDelayedAt(). Nothing here sleeps or reads a clock other than the
// injected one.
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "controller/kube/model/backoff.h"

namespace carplb::controller::kube {

class WorkQueue {
public:
  struct Options {
    Duration itemBase = std::chrono::milliseconds(5);
    Duration itemMax = std::chrono::seconds(1000);
    double overallQps = 10.0;
    int overallBurst = 100;
  };
  explicit WorkQueue(const Clock& clock) : WorkQueue(clock, Options{}) {}
  WorkQueue(const Clock& clock, Options options);

  void add(const std::string& key);
  void addAfter(const std::string& key, Duration delay);
  void addRateLimited(const std::string& key);
  void forget(const std::string& key);
  int numRequeues(const std::string& key) const;

  // Moves due delayed keys to the queue, then pops the first ready key and marks it
  // processing. nullopt when nothing is ready (or after shutDown()).
  std::optional<std::string> tryGet();
  // The worker finished `key`; re-queues it if it was added meanwhile.
  void done(const std::string& key);

  size_t len() const;            // ready keys
  size_t delayedCount() const;   // keys waiting for addAfter/addRateLimited
  std::optional<TimePoint> nextDelayedAt() const;
  void shutDown();
  bool shuttingDown() const;
  // Called (without the lock) after any change that may make tryGet() succeed.
  void setWakeup(std::function<void()> wakeup);

private:
  void addLocked(const std::string& key);
  void promoteDueLocked(TimePoint now);

  const Clock& clock_;
  mutable std::mutex mu_;
  std::deque<std::string> queue_;
  std::set<std::string, std::less<>> dirty_;
  std::set<std::string, std::less<>> processing_;
  std::multimap<TimePoint, std::string> delayed_;
  std::map<std::string, TimePoint, std::less<>> delayedAt_;  // earliest pending time per key
  ItemBackoff itemBackoff_;
  TokenBucket overall_;
  bool shutdown_ = false;
  std::function<void()> wakeup_;
};

}  // namespace carplb::controller::kube
