#pragma once
// EventLoop: single-threaded epoll loop with one timerfd (one-shot timers at TimePoints on
// CLOCK_MONOTONIC, the clock behind carplb::MonoClock), a signalfd for the signals it is
// asked to watch, and an eventfd for post() from other threads (the HTTP status server).
// SHELL: everything that waits lives here; the runtime only receives events with a `now`.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace carplb::agent::io {

class EventLoop {
public:
  using FdCallback = std::function<void()>;
  using TimerId = uint64_t;

  static Result<std::unique_ptr<EventLoop>> create();
  struct Key {  // only create() can construct
    explicit Key() = default;
  };
  explicit EventLoop(Key) {}
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls `cb` whenever `fd` is readable. The loop does not own the fd.
  Status addFd(int fd, FdCallback cb);
  void removeFd(int fd);

  // One-shot timer; ids are never reused. Cancelling an unknown/fired id is a no-op.
  TimerId addTimer(TimePoint at, std::function<void()> cb);
  void cancelTimer(TimerId id);

  // Blocks `signals` for the process (call before starting threads) and delivers them here.
  Status watchSignals(const std::vector<int>& signals, std::function<void(int)> cb);

  // Thread-safe: run `fn` on the loop thread soon.
  void post(std::function<void()> fn);

  // Runs until stop(). Returns an error only if epoll itself fails.
  Status run();
  void stop() { running_ = false; }  // loop thread only (use post() from elsewhere)

  const Clock& clock() const { return clock_; }

private:
  void rearmTimer();
  void fireTimers();

  SystemClock clock_;
  UniqueFd epoll_;
  UniqueFd timerFd_;
  UniqueFd signalFd_;
  UniqueFd wakeFd_;
  bool running_ = false;
  std::map<int, std::shared_ptr<FdCallback>> fds_;
  std::multimap<TimePoint, std::pair<TimerId, std::function<void()>>> timers_;
  TimerId nextTimer_ = 1;
  std::function<void(int)> signalCb_;
  std::mutex postMu_;
  std::vector<std::function<void()>> posted_;
};

}  // namespace carplb::agent::io
