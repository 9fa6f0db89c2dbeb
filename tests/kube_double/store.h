#pragma once
// The double's in-memory object store: every resource type in one place, one global
// monotonically increasing resourceVersion, a bounded event history per resource (older
// watch RVs answer 410 Expired), and watchers fed in RV order.
//
// Threading: every public method takes one internal mutex; WatchSink::send/close run under it
// and must not block or call back into the Store. Time comes from the Clock passed in.
#include "common/clock.h"
#include "common/random.h"
#include "kube_double/api_status.h"
#include "kube_double/patch.h"
#include "kube_double/resource_types.h"
#include "kube_double/selectors.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace carplb::kubedouble {

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK
  nlohmann::json object;
};

// Receives one watch's events. send() returns false when the consumer is gone (the store then
// drops the watcher without calling close()); close() ends the stream (timeout, fault, restart).
class WatchSink {
public:
  virtual ~WatchSink() = default;
  virtual bool send(const WatchEvent& event) = 0;
  virtual void close() = 0;
};

enum class Subresource { None, Status };

struct Filter {
  std::string ns;  // empty: all namespaces
  Selector labels;
  Selector fields;
  bool matches(const nlohmann::json& obj) const;
};

struct ListRequest {
  Filter filter;
  size_t limit = 0;             // 0: no limit
  std::string continueToken;    // from a previous ListResult
  std::string resourceVersion;  // "" or "0": latest; else NotOlderThan semantics
};

struct ListResult {
  std::vector<nlohmann::json> items;
  std::string resourceVersion;
  std::string continueToken;  // empty: no more
};

struct WatchRequest {
  Filter filter;
  std::string resourceVersion;  // "" or "0": synthetic ADDED for current objects first
  bool bookmarks = false;
  TimePoint deadline = TimePoint::max();
  // Streaming list (kubectl >= 1.35 uses it): ADDED for the current state whatever the RV,
  // then a BOOKMARK annotated "k8s.io/initial-events-end": "true".
  bool sendInitialEvents = false;
};

struct StoreOptions {
  size_t historyWindow = 1000;          // events kept per resource
  std::string serviceIpPrefix = "198.51.100.";  // /24 for Service clusterIPs (.10 ... .254)
};

class Store {
public:
  Store(const Clock& clock, Random& random, StoreOptions options = {});

  std::vector<ResourceType> types() const;
  std::optional<ResourceType> findType(const std::string& group, const std::string& version,
                                       const std::string& plural) const;
  // By kind and apiVersion (seed files, kubectl-style objects).
  std::optional<ResourceType> findTypeByKind(const std::string& apiVersion, const std::string& kind) const;

  ApiResult<nlohmann::json> get(const ResourceType& type, const std::string& ns, const std::string& name) const;
  ApiResult<ListResult> list(const ResourceType& type, const ListRequest& req) const;
  ApiResult<nlohmann::json> create(const ResourceType& type, const std::string& ns, nlohmann::json obj);
  // PUT: metadata.resourceVersion in the body is a precondition (409 when stale).
  ApiResult<nlohmann::json> update(const ResourceType& type, const std::string& ns, const std::string& name,
                                   nlohmann::json obj, Subresource sub);
  ApiResult<nlohmann::json> patch(const ResourceType& type, const std::string& ns, const std::string& name,
                                  const nlohmann::json& patch, PatchType patchType, Subresource sub);
  // DELETE: with finalizers only sets deletionTimestamp. deleteOptions may hold preconditions.
  ApiResult<nlohmann::json> remove(const ResourceType& type, const std::string& ns, const std::string& name,
                                   const nlohmann::json& deleteOptions);
  ApiResult<ListResult> removeCollection(const ResourceType& type, const Filter& filter);

  // Registers a watcher after replaying what it asked for; returns its id.
  // 410 Expired when resourceVersion is older than the retained history.
  ApiResult<uint64_t> watch(const ResourceType& type, const WatchRequest& req, std::shared_ptr<WatchSink> sink);
  void cancelWatch(uint64_t id);

  // Fault injection and housekeeping.
  size_t closeAllWatches();
  size_t closeExpiredWatches(TimePoint now);
  void sendBookmarks();
  void compact();  // forget all history: watches from any RV before now get 410
  uint64_t currentRv() const;
  size_t watcherCount() const;

private:
  struct HistoryEntry {
    uint64_t rv;
    std::string type;
    nlohmann::json object;
    nlohmann::json previous;  // MODIFIED: the state before
  };
  struct Resource {
    ResourceType type;
    std::map<std::string, nlohmann::json> objects;  // "ns/name"
    std::deque<HistoryEntry> history;
    uint64_t floor = 0;  // events with rv <= floor are forgotten
  };
  struct Watcher {
    std::string typeKey;
    Filter filter;
    bool bookmarks = false;
    TimePoint deadline;
    std::shared_ptr<WatchSink> sink;
  };

  Resource* resourceLocked(const ResourceType& type);
  const Resource* resourceLocked(const ResourceType& type) const;
  void recordLocked(Resource& res, const std::string& eventType, const nlohmann::json& obj,
                    const nlohmann::json& previous);
  void deliverLocked(const Resource& res, const HistoryEntry& e);
  ApiResult<nlohmann::json> createLocked(const ResourceType& type, const std::string& ns, nlohmann::json obj);
  ApiResult<nlohmann::json> updateLocked(const ResourceType& type, const std::string& ns, const std::string& name,
                                         nlohmann::json obj, Subresource sub, bool isPut);
  ApiResult<nlohmann::json> removeLocked(Resource& res, const std::string& key, const nlohmann::json& deleteOptions);
  void eraseLocked(Resource& res, const std::string& key);
  ApiResult<nlohmann::json> applyTypeDefaults(const ResourceType& type, nlohmann::json obj, const nlohmann::json* old);
  ApiResult<bool> onCrdWrittenLocked(const nlohmann::json& crd);
  void onCrdDeletedLocked(const nlohmann::json& crd);
  void registerTypeLocked(const ResourceType& type);
  std::string nowText() const;
  std::string newUid();
  std::string bumpRvLocked() { return std::to_string(++rv_); }

  const Clock& clock_;
  Random& random_;
  StoreOptions options_;
  mutable std::mutex mu_;
  uint64_t rv_ = 0;
  std::map<std::string, Resource> resources_;  // by ResourceType::key()
  std::map<uint64_t, Watcher> watchers_;
  uint64_t nextWatcherId_ = 1;
  std::set<int> usedServiceIps_;
  std::set<int> usedNodePorts_;
};

// "ns/name" store key.
std::string objectKey(const std::string& ns, const std::string& name);

}  // namespace carplb::kubedouble
