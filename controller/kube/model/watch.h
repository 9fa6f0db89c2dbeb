#pragma once
// The watch stream and list responses, decoded without I/O.
//
// A watch response is one JSON object per line, but HTTP chunk boundaries do not line up
// with lines: LineSplitter buffers bytes and hands out complete lines. decodeWatchEvent()
// turns one line into a WatchEvent; parseObjectList() a list body into items + metadata.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "controller/kube/model/api_status.h"

namespace carplb::controller::kube {

class LineSplitter {
public:
  // A line longer than maxLine is an error (the stream is then unusable: reconnect).
  explicit LineSplitter(size_t maxLine = 64 * 1024 * 1024) : maxLine_(maxLine) {}

  // Appends bytes; returns the complete lines now available (without '\n', a trailing '\r'
  // is stripped, empty lines are skipped). Error when a line exceeds maxLine.
  Result<std::vector<std::string>> feed(std::string_view bytes);
  // Bytes of an incomplete line still buffered (a stream that ends with some is truncated).
  size_t pending() const { return buf_.size(); }
  void reset() { buf_.clear(); }

private:
  size_t maxLine_;
  std::string buf_;
};

enum class WatchEventType { Added, Modified, Deleted, Bookmark, Error };
std::string_view toString(WatchEventType t);

struct WatchEvent {
  WatchEventType type = WatchEventType::Added;
  nlohmann::json object;        // the object (ADDED/MODIFIED/DELETED/BOOKMARK)
  std::string resourceVersion;  // object.metadata.resourceVersion (may be empty for ERROR)
  std::optional<ApiStatus> status;  // ERROR only
  // ERROR with code 410 (expired resourceVersion): relist.
  bool isExpired() const { return type == WatchEventType::Error && status && status->code == 410; }
};

// Decodes one line. Errors name the field ("watch event.type: unknown value \"FOO\"").
// ADDED/MODIFIED/DELETED require an object with metadata.name; BOOKMARK requires
// metadata.resourceVersion.
Result<WatchEvent> decodeWatchEvent(std::string_view line);

struct ObjectList {
  std::string resourceVersion;  // metadata.resourceVersion: watch from here
  std::string continueToken;    // metadata.continue: non-empty means more pages
  std::vector<nlohmann::json> items;  // objects whose metadata.name is set
  size_t skipped = 0;                 // items dropped because they were not objects / no name
};

// Parses a list body (`kind: *List`). `what` names the resource in errors ("services list").
Result<ObjectList> parseObjectList(std::string_view body, std::string_view what);
Result<ObjectList> parseObjectList(nlohmann::json&& body, std::string_view what);

}  // namespace carplb::controller::kube
