#pragma once
// An InformerHandler for the kube client's integration tests: records handler calls as lines
// ("add default/web 12", "update ...", "delete ...", "synced"; without the resourceVersion when
// constructed with WithResourceVersion::No) and lets the test wait for them; plus the informer
// options and the polling helper those tests share.
#include <algorithm>
#include <chrono>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/kube/informer.h"
#include "controller/kube/model/resources.h"

namespace carplb::controller::kube::testing {

class Recorder : public InformerHandler {
public:
  enum class WithResourceVersion { Yes, No };
  explicit Recorder(WithResourceVersion rv = WithResourceVersion::Yes) : withRv_(rv == WithResourceVersion::Yes) {}

  void onAdd(const ObjectPtr& o) override { push("add " + describe(*o)); }
  void onUpdate(const ObjectPtr&, const ObjectPtr& n) override { push("update " + describe(*n)); }
  void onDelete(const ObjectPtr& o) override { push("delete " + describe(*o)); }
  void onSynced() override { push("synced"); }
  void onResync() override { ++resyncs; }

  // Until at least n calls were recorded.
  bool waitFor(size_t n, Duration timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_.size() >= n; });
  }
  // Until this exact call was recorded.
  bool waitForCall(const std::string& call, Duration timeout = std::chrono::seconds(15)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return std::find(calls_.begin(), calls_.end(), call) != calls_.end(); });
  }
  size_t count(const std::string& call) {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count(calls_.begin(), calls_.end(), call));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  std::atomic<int> resyncs{0};

private:
  std::string describe(const nlohmann::json& o) const {
    auto m = parseObjectMeta(o);
    return withRv_ ? m.key() + " " + m.resourceVersion : m.key();
  }
  void push(std::string s) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(s));
    cv_.notify_all();
  }

  const bool withRv_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> calls_;
};

// An informer of /api/v1/services with the given reconnect backoff (tests want it short).
inline InformerOptions serviceInformerOptions(Duration backoffInitial, Duration backoffMax, InformerOptions o = {}) {
  o.resource = "services";
  o.collectionPath = "/api/v1/services";
  o.backoff.initial = backoffInitial;
  o.backoff.max = backoffMax;
  return o;
}

// Polls `pred` every 10 ms until it holds or `timeout` passes; returns pred()'s last value.
template <typename Pred>
bool pollUntil(Pred pred, Duration timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return pred();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace carplb::controller::kube::testing
