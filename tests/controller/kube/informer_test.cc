// Integration: Informer list + watch against a loopback fake API server whose watch streams the
// test drives byte by byte (chunks never align with lines).
#include "controller/kube/informer.h"

#include <gtest/gtest.h>

#include <map>

#include "controller/kube/model/resources.h"
#include "fake_api_server.h"
#include "loopback_client.h"
#include "recorder.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::pollUntil;
using testing::Recorder;
using testing::ResponseWriter;
using testing::WatchFeed;

std::string svc(const std::string& name, const std::string& rv) {
  return nlohmann::json{{"kind", "Service"},
                        {"metadata", {{"name", name}, {"namespace", "default"}, {"resourceVersion", rv},
                                      {"managedFields", {{{"manager", "kubectl"}}}}}}}
      .dump();
}
std::string event(const std::string& type, const std::string& obj) {
  return R"({"type":")" + type + R"(","object":)" + obj + "}";
}

// A scripted API server: list responses come from `lists` (in order, last one repeats); each
// watch request takes the next WatchFeed, or answers `watchStatus` when set.
struct Script {
  std::mutex mu;
  std::vector<std::vector<std::string>> lists;  // items per list call (single page unless paged)
  size_t listCalls = 0;
  std::string listRv = "100";
  std::vector<std::shared_ptr<WatchFeed>> feeds;
  size_t watchCalls = 0;
  int watchStatus = 0;  // non-zero: answer watches with this HTTP status once
  bool paged = false;
};

void handle(Script& s, const FakeApiServer& server, const FakeRequest& r, ResponseWriter& w) {
  if (r.param("watch") == "true") {
    std::shared_ptr<WatchFeed> feed;
    {
      std::lock_guard lock(s.mu);
      if (s.watchStatus != 0) {
        int st = s.watchStatus;
        s.watchStatus = 0;
        ++s.watchCalls;
        w.send(st, R"({"kind":"Status","code":)" + std::to_string(st) + "}");
        return;
      }
      if (s.watchCalls < s.feeds.size()) feed = s.feeds[s.watchCalls];
      ++s.watchCalls;
    }
    if (!feed) {
      w.send(500, "{}");
      return;
    }
    feed->play(w, server);
    return;
  }
  std::lock_guard lock(s.mu);
  const auto& items = s.lists[std::min(s.listCalls, s.lists.size() - 1)];
  std::vector<std::string> page = items;
  std::string cont;
  if (s.paged && r.param("continue").empty() && items.size() > 1) {
    page.assign(items.begin(), items.begin() + 1);
    cont = "page2";
  } else if (s.paged && !r.param("continue").empty()) {
    page.assign(items.begin() + 1, items.end());
  }
  if (cont.empty()) ++s.listCalls;
  std::string body = R"({"kind":"ServiceList","metadata":{"resourceVersion":")" + s.listRv + R"(","continue":")" +
                     cont + R"("},"items":[)";
  for (size_t i = 0; i < page.size(); ++i) body += (i ? "," : "") + page[i];
  w.send(200, body + "]}");
}

struct Fixture {
  Script script;
  std::unique_ptr<FakeApiServer> server;
  std::unique_ptr<RestClient> client;
  Recorder rec;
  std::unique_ptr<Informer> informer;

  // `n` fresh watch streams, played by the first n watch requests in order.
  std::vector<std::shared_ptr<WatchFeed>> watches(size_t n) {
    script.feeds.clear();
    for (size_t i = 0; i < n; ++i) script.feeds.push_back(std::make_shared<WatchFeed>());
    return script.feeds;
  }
  // Starts the informer and waits for the first `calls` handler calls (the initial list).
  bool startAndWaitFor(size_t calls, InformerOptions o = {}) {
    start(std::move(o));
    return rec.waitFor(calls);
  }
  void start(InformerOptions o = {}) {
    server = std::make_unique<FakeApiServer>(
        [this](const FakeRequest& r, ResponseWriter& w) { handle(script, *server, r, w); });
    client = testing::loopbackClient(server->url());
    informer = std::make_unique<Informer>(*client, testing::serviceInformerOptions(10ms, 50ms, std::move(o)), rec,
                                          Logger("test", LogLevel::Error));
    informer->start();
  }
  ~Fixture() {
    for (auto& f : script.feeds) {
      if (f) f->stopAll();
    }
    if (informer) informer->stop();
    if (client) client->shutdown();
    if (server) server->stop();
  }
};

TEST(Informer, ListThenWatchAppliesEventsInOrder) {
  Fixture f;
  f.script.lists = {{svc("a", "10"), svc("b", "11")}};
  f.script.paged = true;
  auto feed = f.watches(1)[0];
  ASSERT_TRUE(f.startAndWaitFor(3));
  ASSERT_TRUE(f.informer->waitForSync(10s));
  feed->event(event("MODIFIED", svc("a", "101")));
  feed->event(event("ADDED", svc("c", "102")));
  feed->event(event("DELETED", svc("b", "103")));
  feed->event(R"({"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"150"}}})");
  ASSERT_TRUE(f.rec.waitFor(6));
  std::vector<std::string> want = {"add default/a 10",      "add default/b 11",     "synced",
                                   "update default/a 101",  "add default/c 102",    "delete default/b 103"};
  auto got = f.rec.snapshot();
  std::sort(got.begin(), got.begin() + 2);
  EXPECT_EQ(got, want);
  pollUntil([&] { return f.informer->lastResourceVersion() == "150"; });
  EXPECT_EQ(f.informer->lastResourceVersion(), "150");  // bookmark remembered, no handler call
  EXPECT_EQ(f.informer->size(), 2u);
  ASSERT_NE(f.informer->get("default/a"), nullptr);
  EXPECT_FALSE((*f.informer->get("default/a"))["metadata"].contains("managedFields"));
  EXPECT_EQ(f.informer->get("default/b"), nullptr);
  // Paged list: two GETs, the second with the continue token; watch from the list's RV.
  EXPECT_EQ(f.server->countRequests("GET", "/api/v1/services", "continue=page2"), 1u);
  EXPECT_EQ(f.server->countRequests("GET", "/api/v1/services", "resourceVersion=100"), 1u);
  EXPECT_EQ(f.server->countRequests("GET", "/api/v1/services", "allowWatchBookmarks=true"), 1u);
}

TEST(Informer, CleanEndRewatchesFromLastRvWithoutRelist) {
  Fixture f;
  f.script.lists = {{svc("a", "10")}};
  auto w = f.watches(2);
  ASSERT_TRUE(f.startAndWaitFor(2));
  w[0]->event(event("MODIFIED", svc("a", "120")));
  w[0]->push(WatchFeed::Kind::End);
  w[1]->event(event("MODIFIED", svc("a", "121")));
  ASSERT_TRUE(f.rec.waitFor(4));
  EXPECT_EQ(f.rec.snapshot().back(), "update default/a 121");
  EXPECT_EQ(f.server->countRequests("GET", "/api/v1/services", "resourceVersion=120"), 1u);
  EXPECT_EQ(f.informer->stats().lists.load(), 1u);
}

TEST(Informer, DroppedConnectionResumesFromLastRvAfterBackoff) {
  Fixture f;
  f.script.lists = {{svc("a", "10")}};
  auto w = f.watches(2);
  ASSERT_TRUE(f.startAndWaitFor(2));
  w[0]->event(event("ADDED", svc("b", "130")));
  w[0]->push(WatchFeed::Kind::Bytes, R"({"type":"MODIFIED","obj)");  // cut mid-event
  w[0]->push(WatchFeed::Kind::Drop);
  w[1]->event(event("MODIFIED", svc("b", "131")));
  ASSERT_TRUE(f.rec.waitFor(4));
  EXPECT_EQ(f.rec.snapshot().back(), "update default/b 131");
  EXPECT_EQ(f.server->countRequests("GET", "/api/v1/services", "resourceVersion=130"), 1u);
  EXPECT_EQ(f.informer->stats().lists.load(), 1u);
  EXPECT_EQ(f.informer->stats().watchErrors.load(), 1u);
}

TEST(Informer, ExpiredErrorEventRelistsAndDeletesVanished) {
  Fixture f;
  f.script.lists = {{svc("a", "10"), svc("b", "11")}, {svc("a", "10"), svc("c", "200")}};
  auto w = f.watches(2);
  ASSERT_TRUE(f.startAndWaitFor(3));
  f.script.listRv = "300";
  w[0]->event(R"js({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 100 (300)","reason":"Expired","code":410}})js");
  ASSERT_TRUE(f.rec.waitFor(5));
  auto got = f.rec.snapshot();
  std::vector<std::string> tail(got.begin() + 3, got.end());
  std::vector<std::string> want = {"add default/c 200", "delete default/b 11"};
  EXPECT_EQ(tail, want);  // a unchanged (same RV): no event
  EXPECT_EQ(f.informer->stats().relistsExpired.load(), 1u);
  pollUntil([&] { return f.server->countRequests("GET", "/api/v1/services", "resourceVersion=300") > 0; });
  EXPECT_EQ(f.server->countRequests("GET", "/api/v1/services", "resourceVersion=300"), 1u);
}

TEST(Informer, Http410OnWatchRelists) {
  Fixture f;
  f.script.lists = {{svc("a", "10")}, {svc("a", "11")}};
  f.script.watchStatus = 410;
  f.watches(2);  // the first watch is answered by watchStatus
  ASSERT_TRUE(f.startAndWaitFor(3));
  auto got = f.rec.snapshot();
  EXPECT_EQ(got[2], "update default/a 11");
  EXPECT_EQ(f.informer->stats().relistsExpired.load(), 1u);
  EXPECT_EQ(f.informer->stats().lists.load(), 2u);
}

TEST(Informer, GarbageEventReconnectsWithoutCrashing) {
  Fixture f;
  f.script.lists = {{svc("a", "10")}};
  auto w = f.watches(2);
  ASSERT_TRUE(f.startAndWaitFor(2));
  w[0]->event(R"({"type":"typeValue","object":{}})");
  w[1]->event(event("MODIFIED", svc("a", "11")));
  ASSERT_TRUE(f.rec.waitFor(3));
  EXPECT_EQ(f.informer->stats().badEvents.load(), 1u);
  EXPECT_EQ(f.informer->stats().lists.load(), 1u);
}

TEST(Informer, ResyncCallsHandlerFromCache) {
  Fixture f;
  f.script.lists = {{svc("a", "10")}};
  f.watches(1);
  InformerOptions o;
  o.resyncPeriod = 50ms;
  ASSERT_TRUE(f.startAndWaitFor(2, o));
  pollUntil([&] { return f.rec.resyncs.load() >= 2; });
  EXPECT_GE(f.rec.resyncs.load(), 2);
  EXPECT_EQ(f.server->countRequests("GET", "/api/v1/services"), 2u);  // list + watch only
}

}  // namespace
}  // namespace carplb::controller::kube
