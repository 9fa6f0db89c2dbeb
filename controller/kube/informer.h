#pragma once
// SHELL: an informer = list + watch of one collection into a local cache (client-go reflector +
// store, reduced).
//
// Semantics (the contract with the owner):
//  - start() runs one background thread. It lists (paged, `limit`/`continue`; an expired
//    continue token restarts the list), replaces the cache (emitting onAdd/onUpdate/onDelete
//    for the differences), then watches from the list's resourceVersion with bookmarks.
//  - Watch ends cleanly (timeoutSeconds, random 300..600 s): watch again from the last seen
//    resourceVersion, no relist. Expired resourceVersion, as a watch ERROR event with code 410
//    or as HTTP 410: list again and replace the cache (deletes for what vanished).
//  - Dropped connection / 5xx / garbage in the stream: wait with jittered exponential backoff
//    (0.8 s doubling to 30 s, reset after 2 min without errors), then resume the watch from the
//    last resourceVersion.
//  - Handlers run on the informer's thread, one call at a time (also onResync, which runs on
//    the resync thread under the same lock), in the order the server sent events for that
//    collection. They must be quick and must not block: push keys into a WorkQueue.
//    Cached objects are immutable snapshots (shared_ptr<const json>).
//  - onSynced() once, after the first full list has been applied (WaitForCacheSync).
//  - onResync() every resyncPeriod (if set): re-run reconcile from the cache; no API call.
//  - stop() stops both threads and joins; no handler call happens after it returns.
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "common/random.h"
#include "controller/kube/model/backoff.h"
#include "controller/kube/rest_client.h"

namespace carplb::controller::kube {

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

class InformerHandler {
public:
  virtual ~InformerHandler() = default;
  virtual void onAdd(const ObjectPtr& obj) = 0;
  virtual void onUpdate(const ObjectPtr& oldObj, const ObjectPtr& newObj) = 0;
  virtual void onDelete(const ObjectPtr& lastKnown) = 0;
  virtual void onSynced() {}
  virtual void onResync() {}
};

struct InformerOptions {
  std::string resource;        // for logs: "services"
  std::string collectionPath;  // "/api/v1/services", "/apis/carplb.io/v1alpha1/virtualips"
  std::string labelSelector;
  std::string fieldSelector;
  int pageSize = 500;
  Duration minWatchTimeout = std::chrono::seconds(300);
  Duration maxWatchTimeout = std::chrono::seconds(600);
  Duration resyncPeriod = Duration::zero();  // zero: no resync
  bool stripManagedFields = true;            // saves memory; PUTs without it keep the server's
  ExponentialBackoff::Options backoff{};
};

class Informer {
public:
  Informer(RestClient& client, InformerOptions options, InformerHandler& handler, Logger logger);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void start();
  void stop();

  bool hasSynced() const { return synced_.load(); }
  // Blocks until synced, stop(), or timeout; returns hasSynced().
  bool waitForSync(Duration timeout);

  ObjectPtr get(const std::string& key) const;  // "ns/name" or "name"; nullptr when absent
  std::vector<ObjectPtr> list() const;
  size_t size() const;
  std::string lastResourceVersion() const;

  struct Stats {
    std::atomic<uint64_t> lists{0};
    std::atomic<uint64_t> relistsExpired{0};
    std::atomic<uint64_t> watches{0};
    std::atomic<uint64_t> watchErrors{0};
    std::atomic<uint64_t> events{0};
    std::atomic<uint64_t> bookmarks{0};
    std::atomic<uint64_t> badEvents{0};
  };
  const Stats& stats() const { return stats_; }

private:
  enum class WatchOutcome { Closed, Expired, Failed, Stopped };
  void run();
  void resyncLoop();
  Status listAndReplace();
  WatchOutcome watchOnce();
  void upsert(nlohmann::json obj);
  void erase(const nlohmann::json& obj);
  bool waitOrStop(Duration d);
  std::string selectorQuery() const;

  RestClient& client_;
  InformerOptions opts_;
  InformerHandler& handler_;
  Logger logger_;
  SystemRandom random_;

  mutable std::shared_mutex cacheMu_;
  std::unordered_map<std::string, ObjectPtr> cache_;
  std::string rv_;

  std::mutex deliverMu_;  // serialises handler calls (watch thread + resync thread)
  std::mutex stopMu_;
  std::condition_variable stopCv_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  StreamCanceller canceller_;
  std::thread thread_;
  std::thread resyncThread_;
  Stats stats_;
};

}  // namespace carplb::controller::kube
