#include "controller/kube/informer.h"

#include "controller/kube/model/resources.h"
#include "controller/kube/model/watch.h"

namespace carplb::controller::kube {

namespace {
void strip(nlohmann::json& obj) {
  auto md = obj.find("metadata");
  if (md != obj.end() && md->is_object()) {
    md->erase("managedFields");
  }
}
}  // namespace

Informer::Informer(RestClient& client, InformerOptions options, InformerHandler& handler, Logger logger)
    : client_(client), opts_(std::move(options)), handler_(handler), logger_(std::move(logger)) {}

Informer::~Informer() { stop(); }

void Informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
  if (opts_.resyncPeriod > Duration::zero()) {
    resyncThread_ = std::thread([this] { resyncLoop(); });
  }
}

void Informer::stop() {
  stopping_.store(true);
  canceller_.cancel();
  {
    std::lock_guard lock(stopMu_);
    stopCv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (resyncThread_.joinable()) resyncThread_.join();
}

bool Informer::waitOrStop(Duration d) {
  std::unique_lock lock(stopMu_);
  return !stopCv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

bool Informer::waitForSync(Duration timeout) {
  std::unique_lock lock(stopMu_);
  stopCv_.wait_for(lock, timeout, [this] { return synced_.load() || stopping_.load(); });
  return synced_.load();
}

ObjectPtr Informer::get(const std::string& key) const {
  std::shared_lock lock(cacheMu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::list() const {
  std::shared_lock lock(cacheMu_);
  std::vector<ObjectPtr> out;
  out.reserve(cache_.size());
  for (const auto& [k, v] : cache_) out.push_back(v);
  return out;
}

size_t Informer::size() const {
  std::shared_lock lock(cacheMu_);
  return cache_.size();
}

std::string Informer::lastResourceVersion() const {
  std::shared_lock lock(cacheMu_);
  return rv_;
}

std::string Informer::selectorQuery() const {
  std::string q;
  if (!opts_.labelSelector.empty()) q += "&labelSelector=" + queryEscape(opts_.labelSelector);
  if (!opts_.fieldSelector.empty()) q += "&fieldSelector=" + queryEscape(opts_.fieldSelector);
  return q;
}

void Informer::resyncLoop() {
  while (waitOrStop(opts_.resyncPeriod)) {
    if (!synced_.load()) continue;
    std::lock_guard d(deliverMu_);
    if (stopping_.load()) return;
    handler_.onResync();
  }
}

Status Informer::listAndReplace() {
  std::vector<nlohmann::json> items;
  std::string rv;
  std::string cont;
  for (;;) {
    std::string path = opts_.collectionPath + "?limit=" + std::to_string(opts_.pageSize) + selectorQuery();
    if (!cont.empty()) path += "&continue=" + queryEscape(cont);
    auto r = client_.get(path);
    if (!r.ok()) {
      if (r.kind() == ApiErrorKind::Gone && !cont.empty()) {
        // The continue token expired mid-list: start over.
        logger_.info("list continue token expired, restarting list", {{"resource", opts_.resource}});
        items.clear();
        cont.clear();
        continue;
      }
      return r.error().toError();
    }
    auto page = parseObjectList(std::move(*r), opts_.resource + " list");
    if (!page.ok()) return page.error();
    if (page->skipped > 0) {
      stats_.badEvents += page->skipped;
    }
    for (auto& it : page->items) items.push_back(std::move(it));
    rv = page->resourceVersion;
    cont = page->continueToken;
    if (cont.empty()) break;
    if (stopping_.load()) return makeError("stopping");
  }
  ++stats_.lists;

  // Replace the cache, computing the events under the cache lock, delivering them after.
  std::vector<std::pair<ObjectPtr, ObjectPtr>> updates;  // (old, new); old null = add
  std::vector<ObjectPtr> deletes;
  {
    std::unordered_map<std::string, ObjectPtr> next;
    next.reserve(items.size());
    for (auto& obj : items) {
      if (opts_.stripManagedFields) strip(obj);
      std::string key = objectKey(obj);
      next[key] = std::make_shared<const nlohmann::json>(std::move(obj));
    }
    std::unique_lock lock(cacheMu_);
    for (const auto& [key, obj] : next) {
      auto old = cache_.find(key);
      if (old == cache_.end()) {
        updates.emplace_back(nullptr, obj);
      } else if (parseObjectMeta(*old->second).resourceVersion != parseObjectMeta(*obj).resourceVersion) {
        updates.emplace_back(old->second, obj);
      }
    }
    for (const auto& [key, obj] : cache_) {
      if (next.find(key) == next.end()) deletes.push_back(obj);
    }
    cache_ = std::move(next);
    rv_ = rv;
  }
  std::lock_guard d(deliverMu_);
  for (const auto& [o, n] : updates) {
    if (stopping_.load()) return okStatus();
    if (o) handler_.onUpdate(o, n);
    else handler_.onAdd(n);
  }
  for (const auto& o : deletes) {
    if (stopping_.load()) return okStatus();
    handler_.onDelete(o);
  }
  if (!synced_.exchange(true)) {
    {
      std::lock_guard lock(stopMu_);
      stopCv_.notify_all();
    }
    handler_.onSynced();
  }
  logger_.debug("listed", {{"resource", opts_.resource}, {"items", items.size()}, {"resource_version", rv}});
  return okStatus();
}

void Informer::upsert(nlohmann::json obj) {
  if (opts_.stripManagedFields) strip(obj);
  std::string key = objectKey(obj);
  auto ptr = std::make_shared<const nlohmann::json>(std::move(obj));
  ObjectPtr old;
  {
    std::unique_lock lock(cacheMu_);
    auto& slot = cache_[key];
    old = slot;
    slot = ptr;
  }
  std::lock_guard d(deliverMu_);
  if (stopping_.load()) return;
  if (old) handler_.onUpdate(old, ptr);
  else handler_.onAdd(ptr);
}

void Informer::erase(const nlohmann::json& obj) {
  std::string key = objectKey(obj);
  ObjectPtr last;
  {
    std::unique_lock lock(cacheMu_);
    auto it = cache_.find(key);
    if (it == cache_.end()) return;
    cache_.erase(it);
  }
  last = std::make_shared<const nlohmann::json>(obj);
  std::lock_guard d(deliverMu_);
  if (stopping_.load()) return;
  handler_.onDelete(last);
}

Informer::WatchOutcome Informer::watchOnce() {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(opts_.minWatchTimeout).count();
  auto span = std::chrono::duration_cast<std::chrono::seconds>(opts_.maxWatchTimeout - opts_.minWatchTimeout).count();
  if (span > 0) secs += static_cast<int64_t>(random_.uniform01() * static_cast<double>(span + 1));
  std::string rv = lastResourceVersion();
  std::string path = opts_.collectionPath + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + queryEscape(rv) +
                     "&timeoutSeconds=" + std::to_string(secs) + selectorQuery();
  ++stats_.watches;
  LineSplitter splitter;
  WatchOutcome outcome = WatchOutcome::Closed;
  auto onChunk = [&](std::string_view chunk) -> bool {
    auto lines = splitter.feed(chunk);
    if (!lines.ok()) {
      ++stats_.badEvents;
      logger_.warn("watch stream unusable", {{"resource", opts_.resource}, {"reason", lines.error().message}});
      outcome = WatchOutcome::Failed;
      return false;
    }
    for (const auto& line : *lines) {
      auto ev = decodeWatchEvent(line);
      if (!ev.ok()) {
        ++stats_.badEvents;
        logger_.warn("bad watch event, reconnecting", {{"resource", opts_.resource}, {"reason", ev.error().message}});
        outcome = WatchOutcome::Failed;
        return false;
      }
      ++stats_.events;
      switch (ev->type) {
        case WatchEventType::Added:
        case WatchEventType::Modified:
          upsert(std::move(ev->object));
          break;
        case WatchEventType::Deleted:
          erase(ev->object);
          break;
        case WatchEventType::Bookmark:
          ++stats_.bookmarks;
          break;
        case WatchEventType::Error:
          if (ev->isExpired()) {
            outcome = WatchOutcome::Expired;
          } else {
            logger_.warn("watch ERROR event", {{"resource", opts_.resource},
                                               {"code", ev->status ? ev->status->code : 0},
                                               {"reason", ev->status ? ev->status->message : std::string()}});
            outcome = WatchOutcome::Failed;
          }
          return false;
      }
      if (!ev->resourceVersion.empty() && ev->type != WatchEventType::Error) {
        std::unique_lock lock(cacheMu_);
        rv_ = ev->resourceVersion;
      }
      if (stopping_.load()) {
        outcome = WatchOutcome::Stopped;
        return false;
      }
    }
    return true;
  };
  auto r = client_.stream(path, onChunk, &canceller_);
  if (stopping_.load()) return WatchOutcome::Stopped;
  if (!r.ok()) {
    if (r.kind() == ApiErrorKind::Gone) return WatchOutcome::Expired;
    logger_.warn("watch failed", {{"resource", opts_.resource}, {"reason", r.error().message}});
    return WatchOutcome::Failed;
  }
  if (*r == WatchEnd::Stopped && outcome == WatchOutcome::Closed) return WatchOutcome::Stopped;
  if (*r == WatchEnd::Closed && splitter.pending() > 0) {
    ++stats_.badEvents;  // stream cut in the middle of an event
    return WatchOutcome::Failed;
  }
  return outcome;
}

void Informer::run() {
  ExponentialBackoff backoff(opts_.backoff);
  bool needList = true;
  while (!stopping_.load()) {
    if (needList) {
      auto st = listAndReplace();
      if (stopping_.load()) return;
      if (!st.ok()) {
        Duration wait = backoff.next(client_.clock().now(), random_);
        logger_.warn("list failed, backing off",
                     {{"resource", opts_.resource}, {"reason", st.error().message},
                      {"wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()}});
        if (!waitOrStop(wait)) return;
        continue;
      }
      needList = false;
    }
    TimePoint watchStart = client_.clock().now();
    uint64_t eventsBefore = stats_.events.load();
    WatchOutcome outcome = watchOnce();
    if (outcome == WatchOutcome::Closed && stats_.events.load() == eventsBefore &&
        client_.clock().now() - watchStart < std::chrono::seconds(1)) {
      // A server that ends every watch at once would make us spin: treat it as an error.
      outcome = WatchOutcome::Failed;
    }
    switch (outcome) {
      case WatchOutcome::Closed:
        break;  // timeoutSeconds ran out: watch again from the last RV
      case WatchOutcome::Expired:
        ++stats_.relistsExpired;
        logger_.info("resourceVersion expired, relisting", {{"resource", opts_.resource}});
        needList = true;
        break;
      case WatchOutcome::Failed: {
        ++stats_.watchErrors;
        Duration wait = backoff.next(client_.clock().now(), random_);
        if (!waitOrStop(wait)) return;
        break;
      }
      case WatchOutcome::Stopped:
        return;
    }
  }
}

}  // namespace carplb::controller::kube
