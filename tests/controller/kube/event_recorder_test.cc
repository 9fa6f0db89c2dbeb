// Integration: EventRecorder writes Events (create, then count patches, 404 -> create).
#include "controller/kube/event_recorder.h"

#include <gtest/gtest.h>

#include "fake_api_server.h"
#include "loopback_client.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::ResponseWriter;

TEST(EventRecorder, CreatesThenPatchesAndRecreatesAfter404) {
  std::atomic<bool> forget{false};
  FakeApiServer server([&](const FakeRequest& r, ResponseWriter& w) {
    if (r.method == "PATCH" && forget.load()) return w.send(404, R"({"kind":"Status","code":404})");
    w.send(r.method == "POST" ? 201 : 200, r.method == "POST" ? r.body : "{}");
  });
  auto client = testing::loopbackClient(server.url());
  ASSERT_TRUE(client);
  EventRecorder rec(*client, {}, Logger("t", LogLevel::Error));
  rec.start();
  ObjectReference svc{"v1", "Service", "default", "web", "uid-1", "", ""};
  rec.record(svc, "Normal", "IPAllocated", "assigned 192.0.2.10");
  rec.record(svc, "Normal", "IPAllocated", "assigned 192.0.2.10");
  ASSERT_TRUE(rec.waitIdle(10s));
  EXPECT_EQ(rec.stats().created.load(), 1u);
  EXPECT_EQ(rec.stats().patched.load(), 1u);
  forget = true;
  rec.record(svc, "Normal", "IPAllocated", "assigned 192.0.2.10");
  ASSERT_TRUE(rec.waitIdle(10s));
  EXPECT_EQ(rec.stats().created.load(), 2u);
  rec.stop();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/api/v1/namespaces/default/events");
  auto created = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(created["involvedObject"]["uid"], "uid-1");
  EXPECT_EQ(created["count"], 1);
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[1].path, "/api/v1/namespaces/default/events/" + created["metadata"]["name"].get<std::string>());
  EXPECT_EQ(nlohmann::json::parse(reqs[1].body)["count"], 2);
  EXPECT_EQ(reqs[3].method, "POST");
  EXPECT_EQ(nlohmann::json::parse(reqs[3].body)["count"], 3);
}

}  // namespace
}  // namespace carplb::controller::kube
