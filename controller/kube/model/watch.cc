#include "controller/kube/model/watch.h"

#include "controller/kube/model/json_access.h"
#include "controller/kube/model/resources.h"

namespace carplb::controller::kube {

using namespace json_access;

Result<std::vector<std::string>> LineSplitter::feed(std::string_view bytes) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < bytes.size()) {
    size_t nl = bytes.find('\n', start);
    std::string_view piece = bytes.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (buf_.size() + piece.size() > maxLine_) {
      buf_.clear();
      return makeError("watch stream: line longer than " + std::to_string(maxLine_) + " bytes");
    }
    buf_.append(piece);
    if (nl == std::string_view::npos) {
      break;
    }
    if (!buf_.empty() && buf_.back() == '\r') {
      buf_.pop_back();
    }
    if (!buf_.empty()) {
      lines.push_back(std::move(buf_));
    }
    buf_.clear();
    start = nl + 1;
  }
  return lines;
}

std::string_view toString(WatchEventType t) {
  switch (t) {
    case WatchEventType::Added: return "ADDED";
    case WatchEventType::Modified: return "MODIFIED";
    case WatchEventType::Deleted: return "DELETED";
    case WatchEventType::Bookmark: return "BOOKMARK";
    case WatchEventType::Error: break;
  }
  return "ERROR";
}

Result<WatchEvent> decodeWatchEvent(std::string_view line) {
  auto parsed = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return makeError("watch event: not a JSON object");
  }
  const nlohmann::json* typeField = field(parsed, "type");
  if (typeField == nullptr || !typeField->is_string()) {
    return makeError("watch event.type: missing or not a string");
  }
  const std::string& t = typeField->get_ref<const std::string&>();
  WatchEvent ev;
  if (t == "ADDED") {
    ev.type = WatchEventType::Added;
  } else if (t == "MODIFIED") {
    ev.type = WatchEventType::Modified;
  } else if (t == "DELETED") {
    ev.type = WatchEventType::Deleted;
  } else if (t == "BOOKMARK") {
    ev.type = WatchEventType::Bookmark;
  } else if (t == "ERROR") {
    ev.type = WatchEventType::Error;
  } else {
    return makeError("watch event.type: unknown value \"" + t.substr(0, 64) + "\"");
  }
  auto it = parsed.find("object");
  if (it == parsed.end() || !it->is_object()) {
    return makeError("watch event.object: missing or not an object (type " + t + ")");
  }
  ev.object = std::move(*it);
  const nlohmann::json* md = objectField(ev.object, "metadata");
  if (md != nullptr) {
    ev.resourceVersion = str(*md, "resourceVersion");
  }
  switch (ev.type) {
    case WatchEventType::Error:
      ev.status = parseApiStatus(ev.object);
      if (!ev.status) {
        ev.status = ApiStatus{};
      }
      break;
    case WatchEventType::Bookmark:
      if (ev.resourceVersion.empty()) {
        return makeError("watch event.object.metadata.resourceVersion: missing in BOOKMARK");
      }
      break;
    default:
      if (objectKey(ev.object).empty()) {
        return makeError("watch event.object.metadata.name: missing (type " + t + ")");
      }
      break;
  }
  return ev;
}

Result<ObjectList> parseObjectList(nlohmann::json&& body, std::string_view what) {
  if (!body.is_object()) {
    return makeError(std::string(what) + ": not a JSON object");
  }
  ObjectList out;
  if (const nlohmann::json* md = objectField(body, "metadata")) {
    out.resourceVersion = str(*md, "resourceVersion");
    out.continueToken = str(*md, "continue");
  }
  auto it = body.find("items");
  if (it != body.end() && !it->is_null()) {
    if (!it->is_array()) {
      return makeError(std::string(what) + ".items: not an array");
    }
    out.items.reserve(it->size());
    for (auto& item : *it) {
      if (item.is_object() && !objectKey(item).empty()) {
        out.items.push_back(std::move(item));
      } else {
        ++out.skipped;
      }
    }
  }
  return out;
}

Result<ObjectList> parseObjectList(std::string_view body, std::string_view what) {
  auto parsed = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (parsed.is_discarded()) {
    return makeError(std::string(what) + ": invalid JSON (" + std::to_string(body.size()) + " bytes)");
  }
  return parseObjectList(std::move(parsed), what);
}

}  // namespace carplb::controller::kube
