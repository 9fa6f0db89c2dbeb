#pragma once
// SHELL: records core/v1 Events (what `kubectl describe` shows) asynchronously.
// record() never blocks on the API: it correlates (dedupe to count/lastTimestamp patches,
// spam filter burst 25 then 1 per 5 min per key; model/event_correlator.h) and queues the write
// for a background thread. The queue is bounded (`maxPending`); overflow drops the event
// (counted). A Patch that gets 404 (the Event expired) creates it instead. Thread-safe.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "controller/kube/model/event_correlator.h"
#include "controller/kube/rest_client.h"

namespace carplb::controller::kube {

class EventRecorder {
public:
  EventRecorder(RestClient& client, EventCorrelator::Options options, Logger logger, size_t maxPending = 1000);
  ~EventRecorder();
  void start();
  // Flushes what is queued (bounded by `flushTimeout`), then stops.
  void stop(Duration flushTimeout = std::chrono::seconds(2));

  void record(const ObjectReference& involved, const std::string& type, const std::string& reason,
              const std::string& message);

  struct Stats {
    std::atomic<uint64_t> created{0};
    std::atomic<uint64_t> patched{0};
    std::atomic<uint64_t> droppedSpam{0};
    std::atomic<uint64_t> droppedOverflow{0};
    std::atomic<uint64_t> failed{0};
  };
  const Stats& stats() const { return stats_; }
  // Blocks until the queue is empty (tests).
  bool waitIdle(Duration timeout);

private:
  void loop();
  void write(const EventAction& a);

  RestClient& client_;
  Logger logger_;
  size_t maxPending_;
  std::mutex mu_;
  std::condition_variable cv_;
  EventCorrelator correlator_;  // guarded by mu_
  std::deque<EventAction> pending_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;
  Stats stats_;
};

}  // namespace carplb::controller::kube
