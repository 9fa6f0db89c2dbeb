#include "controller/kube/event_recorder.h"

namespace carplb::controller::kube {

EventRecorder::EventRecorder(RestClient& client, EventCorrelator::Options options, Logger logger, size_t maxPending)
    : client_(client), logger_(std::move(logger)), maxPending_(maxPending), correlator_(std::move(options)) {}

EventRecorder::~EventRecorder() { stop(Duration::zero()); }

void EventRecorder::start() {
  std::lock_guard lock(mu_);
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { loop(); });
  }
}

void EventRecorder::stop(Duration flushTimeout) {
  if (flushTimeout > Duration::zero()) {
    waitIdle(flushTimeout);
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void EventRecorder::record(const ObjectReference& involved, const std::string& type, const std::string& reason,
                           const std::string& message) {
  const Clock& clock = client_.clock();
  std::lock_guard lock(mu_);
  if (stopping_) return;
  EventAction a = correlator_.correlate(EventRequest{involved, type, reason, message}, clock.now(), clock.wallNow());
  if (a.kind == EventActionKind::Drop) {
    ++stats_.droppedSpam;
    return;
  }
  if (pending_.size() >= maxPending_) {
    ++stats_.droppedOverflow;
    correlator_.forgetEvent(a);
    return;
  }
  pending_.push_back(std::move(a));
  cv_.notify_all();
}

bool EventRecorder::waitIdle(Duration timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return (pending_.empty() && !busy_) || !thread_.joinable(); });
}

void EventRecorder::write(const EventAction& a) {
  std::string collection = apiPath("", "v1", "events", a.namespace_);
  if (a.kind == EventActionKind::Patch) {
    auto r = client_.mergePatch(collection + "/" + a.name, a.patch);
    if (r.ok()) {
      ++stats_.patched;
      return;
    }
    if (r.kind() != ApiErrorKind::NotFound) {
      ++stats_.failed;
      logger_.warn("event patch failed", {{"event", a.name}, {"reason", r.error().message}});
      return;
    }
  }
  auto r = client_.create(collection, a.body);
  if (r.ok()) {
    ++stats_.created;
  } else {
    ++stats_.failed;
    logger_.warn("event create failed", {{"event", a.name}, {"reason", r.error().message}});
    std::lock_guard lock(mu_);
    correlator_.forgetEvent(a);
  }
}

void EventRecorder::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;
    EventAction a = std::move(pending_.front());
    pending_.pop_front();
    busy_ = true;
    lock.unlock();
    write(a);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace carplb::controller::kube
