#include "controller/kube/model/work_queue.h"

#include <algorithm>

namespace carplb::controller::kube {

WorkQueue::WorkQueue(const Clock& clock, Options o)
    : clock_(clock), itemBackoff_(o.itemBase, o.itemMax), overall_(o.overallQps, o.overallBurst) {}

void WorkQueue::setWakeup(std::function<void()> wakeup) {
  std::lock_guard lock(mu_);
  wakeup_ = std::move(wakeup);
}

void WorkQueue::addLocked(const std::string& key) {
  if (shutdown_ || dirty_.count(key) != 0) {
    return;
  }
  dirty_.insert(key);
  if (processing_.count(key) != 0) {
    return;  // queued again by done()
  }
  queue_.push_back(key);
}

void WorkQueue::add(const std::string& key) {
  std::function<void()> w;
  {
    std::lock_guard lock(mu_);
    addLocked(key);
    w = wakeup_;
  }
  if (w) w();
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) {
    add(key);
    return;
  }
  std::function<void()> w;
  {
    std::lock_guard lock(mu_);
    if (shutdown_) {
      return;
    }
    TimePoint at = clock_.now() + delay;
    auto it = delayedAt_.find(key);
    if (it != delayedAt_.end()) {
      if (it->second <= at) {
        return;  // an earlier wake-up is already pending (client-go keeps the earliest)
      }
      auto range = delayed_.equal_range(it->second);
      for (auto d = range.first; d != range.second; ++d) {
        if (d->second == key) {
          delayed_.erase(d);
          break;
        }
      }
      it->second = at;
    } else {
      delayedAt_.emplace(key, at);
    }
    delayed_.emplace(at, key);
    w = wakeup_;
  }
  if (w) w();
}

void WorkQueue::addRateLimited(const std::string& key) {
  Duration d;
  {
    std::lock_guard lock(mu_);
    d = std::max(itemBackoff_.when(key), overall_.reserve(clock_.now()));
  }
  addAfter(key, d);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  itemBackoff_.forget(key);
}

int WorkQueue::numRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  return itemBackoff_.failures(key);
}

void WorkQueue::promoteDueLocked(TimePoint now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = std::move(delayed_.begin()->second);
    delayed_.erase(delayed_.begin());
    delayedAt_.erase(key);
    addLocked(key);
  }
}

std::optional<std::string> WorkQueue::tryGet() {
  std::lock_guard lock(mu_);
  if (shutdown_) {
    return std::nullopt;
  }
  promoteDueLocked(clock_.now());
  if (queue_.empty()) {
    return std::nullopt;
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::function<void()> w;
  {
    std::lock_guard lock(mu_);
    processing_.erase(key);
    if (dirty_.count(key) != 0 && !shutdown_) {
      queue_.push_back(key);
      w = wakeup_;
    }
  }
  if (w) w();
}

size_t WorkQueue::len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t WorkQueue::delayedCount() const {
  std::lock_guard lock(mu_);
  return delayed_.size();
}

std::optional<TimePoint> WorkQueue::nextDelayedAt() const {
  std::lock_guard lock(mu_);
  if (delayed_.empty()) {
    return std::nullopt;
  }
  return delayed_.begin()->first;
}

void WorkQueue::shutDown() {
  std::function<void()> w;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    w = wakeup_;
  }
  if (w) w();
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard lock(mu_);
  return shutdown_;
}

}  // namespace carplb::controller::kube
