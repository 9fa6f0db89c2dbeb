#include "agent/io/event_loop.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <cerrno>
#include <cstring>

namespace carplb::agent::io {
namespace {

Error sysError(const std::string& what) { return makeError(what + ": " + std::strerror(errno)); }

}  // namespace

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  auto loop = std::make_unique<EventLoop>(Key{});
  loop->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!loop->epoll_) return sysError("epoll_create1");
  loop->timerFd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!loop->timerFd_) return sysError("timerfd_create");
  loop->wakeFd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!loop->wakeFd_) return sysError("eventfd");
  EventLoop* self = loop.get();
  auto st = loop->addFd(loop->timerFd_.get(), [self] {
    uint64_t n;
    while (::read(self->timerFd_.get(), &n, sizeof n) > 0) {
    }
    self->fireTimers();
  });
  if (!st) return st.error();
  st = loop->addFd(loop->wakeFd_.get(), [self] {
    uint64_t n;
    while (::read(self->wakeFd_.get(), &n, sizeof n) > 0) {
    }
    std::vector<std::function<void()>> work;
    {
      std::lock_guard<std::mutex> l(self->postMu_);
      work.swap(self->posted_);
    }
    for (auto& fn : work) fn();
  });
  if (!st) return st.error();
  return loop;
}

Status EventLoop::addFd(int fd, FdCallback cb) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return sysError("epoll_ctl add");
  fds_[fd] = std::make_shared<FdCallback>(std::move(cb));
  return okStatus();
}

void EventLoop::removeFd(int fd) {
  if (fds_.erase(fd) > 0) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::addTimer(TimePoint at, std::function<void()> cb) {
  TimerId id = nextTimer_++;
  timers_.emplace(at, std::make_pair(id, std::move(cb)));
  rearmTimer();
  return id;
}

void EventLoop::cancelTimer(TimerId id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      rearmTimer();
      return;
    }
  }
}

void EventLoop::rearmTimer() {
  itimerspec spec{};
  if (!timers_.empty()) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timers_.begin()->first.time_since_epoch()).count();
    if (ns <= 0) ns = 1;  // 0 would disarm
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  }
  ::timerfd_settime(timerFd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void EventLoop::fireTimers() {
  TimePoint now = clock_.now();
  std::vector<std::function<void()>> due;
  while (!timers_.empty() && timers_.begin()->first <= now) {
    due.push_back(std::move(timers_.begin()->second.second));
    timers_.erase(timers_.begin());
  }
  rearmTimer();
  for (auto& fn : due) fn();
}

Status EventLoop::watchSignals(const std::vector<int>& signals, std::function<void(int)> cb) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return makeError("pthread_sigmask failed");
  signalFd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signalFd_) return sysError("signalfd");
  signalCb_ = std::move(cb);
  return addFd(signalFd_.get(), [this] {
    signalfd_siginfo si{};
    while (::read(signalFd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (signalCb_) signalCb_(static_cast<int>(si.ssi_signo));
    }
  });
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(postMu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakeFd_.get(), &one, sizeof one);
}

Status EventLoop::run() {
  running_ = true;
  epoll_event events[32];
  while (running_) {
    int n = ::epoll_wait(epoll_.get(), events, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysError("epoll_wait");
    }
    for (int i = 0; i < n && running_; ++i) {
      auto it = fds_.find(events[i].data.fd);
      if (it == fds_.end()) continue;  // removed by an earlier callback
      auto cb = it->second;            // keep alive while it runs
      (*cb)();
    }
  }
  return okStatus();
}

}  // namespace carplb::agent::io
