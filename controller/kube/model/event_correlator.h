#pragma once
// Event correlation for the Event recorder (client-go tools/record EventCorrelator, reduced):
//  - spam filter: a token bucket per key (burst 25, then 1 per 5 min), key = source component
//    + involved object + type + reason + message; over the limit the event is dropped;
//  - dedupe: an event identical to one already written becomes a PATCH of that Event's
//    count and lastTimestamp instead of a new object.
// Both caches are bounded (least recently used key evicted). Pure: time comes in as arguments.
// Not thread-safe: the recorder owns one and serialises calls.
#include <nlohmann/json.hpp>

#include <list>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "controller/kube/model/backoff.h"
#include "controller/kube/model/resources.h"

namespace carplb::controller::kube {

struct EventRequest {
  ObjectReference involvedObject;
  std::string type;  // "Normal" | "Warning"
  std::string reason;
  std::string message;
};

enum class EventActionKind { Create, Patch, Drop };

struct EventAction {
  EventActionKind kind = EventActionKind::Drop;
  std::string namespace_;  // where the Event lives (the involved object's, or "default")
  std::string name;        // Event name (Patch target, or the name to create)
  nlohmann::json body;     // full Event (Create; also the fallback when a Patch gets 404)
  nlohmann::json patch;    // merge patch (Patch): count, lastTimestamp
};

class EventCorrelator {
public:
  struct Options {
    std::string component = "carplb-controller";
    std::string host;
    int burst = 25;
    Duration refillEvery = std::chrono::minutes(5);
    size_t maxKeys = 4096;
    size_t maxMessage = 1024;  // longer messages are truncated (the API caps them too)
  };
  EventCorrelator() : EventCorrelator(Options{}) {}
  explicit EventCorrelator(Options o) : opts_(std::move(o)) {}

  EventAction correlate(const EventRequest& req, TimePoint now, WallTime wallNow);
  // The write for `action` failed permanently (e.g. Create rejected): forget the dedupe entry so
  // the next occurrence creates a fresh Event.
  void forgetEvent(const EventAction& action);
  size_t trackedKeys() const { return entries_.size(); }

private:
  struct Entry {
    TokenBucket bucket;
    std::string eventName;
    std::string eventNamespace;
    int64_t count = 0;
    std::string firstTimestamp;
    std::list<std::string>::iterator lru;
  };
  std::string keyOf(const EventRequest& req) const;
  Options opts_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // front = most recent
};

}  // namespace carplb::controller::kube
