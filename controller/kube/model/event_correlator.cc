#include "controller/kube/model/event_correlator.h"

#include <cstdio>

#include "controller/kube/model/time_format.h"

namespace carplb::controller::kube {

std::string EventCorrelator::keyOf(const EventRequest& r) const {
  const ObjectReference& o = r.involvedObject;
  std::string k;
  for (const std::string* p : {&opts_.component, &opts_.host, &o.kind, &o.namespace_, &o.name, &o.uid, &o.apiVersion,
                               &r.type, &r.reason, &r.message}) {
    k += *p;
    k += '\x1f';
  }
  return k;
}

EventAction EventCorrelator::correlate(const EventRequest& reqIn, TimePoint now, WallTime wallNow) {
  EventRequest req = reqIn;
  if (req.message.size() > opts_.maxMessage) {
    req.message.resize(opts_.maxMessage);
  }
  std::string key = keyOf(req);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= opts_.maxKeys && !lru_.empty()) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
    double rate = 1.0 / std::chrono::duration<double>(opts_.refillEvery).count();
    lru_.push_front(key);
    it = entries_.emplace(key, Entry{TokenBucket(rate, opts_.burst), {}, {}, 0, {}, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Entry& e = it->second;
  EventAction a;
  if (!e.bucket.tryTake(now)) {
    a.kind = EventActionKind::Drop;
    return a;
  }
  std::string ts = formatTime(wallNow);
  const ObjectReference& o = req.involvedObject;
  a.namespace_ = o.namespace_.empty() ? "default" : o.namespace_;
  if (e.count == 0) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wallNow.time_since_epoch()).count();
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".%llx", static_cast<unsigned long long>(ns));
    e.eventName = (o.name.empty() ? std::string("carplb") : o.name) + suffix;
    e.eventNamespace = a.namespace_;
    e.firstTimestamp = ts;
  }
  ++e.count;
  a.name = e.eventName;
  nlohmann::json ref = nlohmann::json::object();
  if (!o.apiVersion.empty()) ref["apiVersion"] = o.apiVersion;
  if (!o.kind.empty()) ref["kind"] = o.kind;
  if (!o.namespace_.empty()) ref["namespace"] = o.namespace_;
  if (!o.name.empty()) ref["name"] = o.name;
  if (!o.uid.empty()) ref["uid"] = o.uid;
  if (!o.resourceVersion.empty()) ref["resourceVersion"] = o.resourceVersion;
  nlohmann::json source = {{"component", opts_.component}};
  if (!opts_.host.empty()) source["host"] = opts_.host;
  a.body = {{"apiVersion", "v1"},
            {"kind", "Event"},
            {"metadata", {{"name", e.eventName}, {"namespace", a.namespace_}}},
            {"involvedObject", ref},
            {"reason", req.reason},
            {"message", req.message},
            {"type", req.type},
            {"count", e.count},
            {"firstTimestamp", e.firstTimestamp},
            {"lastTimestamp", ts},
            {"source", source},
            {"reportingComponent", opts_.component},
            {"reportingInstance", opts_.host}};
  if (e.count == 1) {
    a.kind = EventActionKind::Create;
  } else {
    a.kind = EventActionKind::Patch;
    a.patch = {{"count", e.count}, {"lastTimestamp", ts}};
  }
  return a;
}

void EventCorrelator::forgetEvent(const EventAction& action) {
  for (auto& [k, e] : entries_) {
    if (e.eventName == action.name && e.eventNamespace == action.namespace_) {
      e.count = 0;
      e.eventName.clear();
      return;
    }
  }
}

}  // namespace carplb::controller::kube
