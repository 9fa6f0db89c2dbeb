#include "controller/kube/model/watch.h"

#include <gtest/gtest.h>

namespace carplb::controller::kube {
namespace {

std::vector<std::string> feedAll(LineSplitter& s, const std::vector<std::string>& chunks) {
  std::vector<std::string> out;
  for (const auto& c : chunks) {
    auto r = s.feed(c);
    EXPECT_TRUE(r.ok());
    for (auto& l : *r) out.push_back(l);
  }
  return out;
}

TEST(LineSplitter, ChunksDoNotAlignWithLines) {
  std::string stream =
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}\n"
      "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"2\"}}}\r\n"
      "\n"
      "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"3\"}}}\n";
  // Every split into chunk sizes 1..len gives the same three lines.
  for (size_t size = 1; size <= stream.size(); ++size) {
    LineSplitter s;
    std::vector<std::string> chunks;
    for (size_t i = 0; i < stream.size(); i += size) chunks.push_back(stream.substr(i, size));
    auto lines = feedAll(s, chunks);
    ASSERT_EQ(lines.size(), 3u) << "chunk size " << size;
    EXPECT_EQ(decodeWatchEvent(lines[1]).value().resourceVersion, "2");
    EXPECT_EQ(s.pending(), 0u);
  }
}

TEST(LineSplitter, KeepsPartialLineAndLimitsLength) {
  LineSplitter s(10);
  auto r = s.feed("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(s.pending(), 3u);
  EXPECT_FALSE(s.feed("0123456789").ok());
  EXPECT_EQ(s.pending(), 0u);
}

TEST(WatchEvent, DecodesTypes) {
  auto a = decodeWatchEvent(R"({"type":"ADDED","object":{"kind":"Service","metadata":{"name":"web","namespace":"default","resourceVersion":"42"}}})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->type, WatchEventType::Added);
  EXPECT_EQ(a->resourceVersion, "42");
  auto b = decodeWatchEvent(R"({"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"99"}}})");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->type, WatchEventType::Bookmark);
  EXPECT_EQ(b->resourceVersion, "99");
  auto e = decodeWatchEvent(R"js({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 657887 (680402)","reason":"Expired","code":410}})js");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->isExpired());
  EXPECT_EQ(e->status->reason, "Expired");
  auto e500 = decodeWatchEvent(R"({"type":"ERROR","object":{"kind":"Status","code":500}})");
  ASSERT_TRUE(e500.ok());
  EXPECT_FALSE(e500->isExpired());
}

TEST(WatchEvent, RejectsGarbageWithFieldNames) {
  EXPECT_EQ(decodeWatchEvent("not json").error().message, "watch event: not a JSON object");
  EXPECT_EQ(decodeWatchEvent(R"({"type":1})").error().message, "watch event.type: missing or not a string");
  EXPECT_EQ(decodeWatchEvent(R"({"type":"FOO","object":{}})").error().message, "watch event.type: unknown value \"FOO\"");
  EXPECT_EQ(decodeWatchEvent(R"({"type":"ADDED","object":[]})").error().message,
            "watch event.object: missing or not an object (type ADDED)");
  EXPECT_FALSE(decodeWatchEvent(R"({"type":"ADDED","object":{"metadata":{}}})").ok());
  EXPECT_FALSE(decodeWatchEvent(R"({"type":"BOOKMARK","object":{"metadata":{}}})").ok());
}

TEST(ObjectList, ParsesItemsAndMetadata) {
  auto l = parseObjectList(std::string_view(R"({"kind":"ServiceList","metadata":{"resourceVersion":"10","continue":"tok"},
    "items":[{"metadata":{"name":"a","namespace":"x"}},{"metadata":{}},7,{"metadata":{"name":"b"}}]})"), "services list");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->resourceVersion, "10");
  EXPECT_EQ(l->continueToken, "tok");
  EXPECT_EQ(l->items.size(), 2u);
  EXPECT_EQ(l->skipped, 2u);
  EXPECT_TRUE(parseObjectList(std::string_view(R"({"metadata":{"resourceVersion":"1"},"items":null})"), "x").ok());
  EXPECT_EQ(parseObjectList(std::string_view(R"({"items":{}})"), "services list").error().message,
            "services list.items: not an array");
  EXPECT_FALSE(parseObjectList(std::string_view("[1"), "x").ok());
}

}  // namespace
}  // namespace carplb::controller::kube
