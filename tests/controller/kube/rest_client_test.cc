// Integration: RestClient against a loopback fake API server (port 0).
#include "controller/kube/rest_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fake_api_server.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::ResponseWriter;

RestClientOptions fastOptions() {
  RestClientOptions o;
  o.qps = 1000;
  o.burst = 1000;
  o.retryBackoff.initial = 5ms;
  o.retryBackoff.max = 20ms;
  return o;
}

std::unique_ptr<RestClient> makeClient(const std::string& url, RestClientOptions o = fastOptions(),
                                       const std::string& token = "t0k3n", const std::string& tokenFile = "") {
  static SystemClock clock;
  ClientConfig c;
  c.server = url;
  c.token = token;
  c.tokenFile = tokenFile;
  auto r = RestClient::create(c, o, clock, Logger("test", LogLevel::Error));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r.value());
}

std::string status(int code, const std::string& reason, const std::string& msg) {
  return nlohmann::json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"reason", reason},
                        {"message", msg}, {"code", code}}
      .dump();
}

TEST(RestClient, VerbsHeadersAndErrors) {
  FakeApiServer server([](const FakeRequest& r, ResponseWriter& w) {
    if (r.path == "/api/v1/namespaces/default/services/web" && r.method == "GET") {
      w.send(200, R"({"kind":"Service","metadata":{"name":"web","resourceVersion":"5"}})");
    } else if (r.path == "/api/v1/namespaces/default/services/missing") {
      w.send(404, status(404, "NotFound", "services \"missing\" not found"));
    } else if (r.method == "PATCH") {
      w.send(200, r.body);  // echo
    } else if (r.method == "POST" || r.method == "PUT") {
      w.send(r.method == "POST" ? 201 : 200, r.body);
    } else if (r.method == "DELETE") {
      w.send(200, R"({"kind":"Status","status":"Success"})");
    } else {
      w.send(500, "not json");
    }
  });
  auto c = makeClient(server.url());
  auto got = c->get(apiPath("", "v1", "services", "default", "web"));
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ((*got)["metadata"]["resourceVersion"], "5");
  auto missing = c->get("/api/v1/namespaces/default/services/missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.kind(), ApiErrorKind::NotFound);
  EXPECT_EQ(missing.error().message,
            "GET /api/v1/namespaces/default/services/missing: 404 Not Found: services \"missing\" not found");
  auto patched = c->mergePatch("/api/v1/namespaces/default/services/web", {{"metadata", {{"labels", {{"a", "b"}}}}}});
  ASSERT_TRUE(patched.ok());
  auto created = c->create("/api/v1/namespaces/default/events", {{"kind", "Event"}});
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(c->remove("/api/v1/namespaces/default/services/web").ok());
  auto reqs = server.requests();
  ASSERT_GE(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer t0k3n");
  EXPECT_EQ(reqs[0].headers["accept"], "application/json");
  EXPECT_EQ(reqs[2].method, "PATCH");
  EXPECT_EQ(reqs[2].headers["content-type"], "application/merge-patch+json");
  EXPECT_EQ(nlohmann::json::parse(reqs[2].body)["metadata"]["labels"]["a"], "b");
  EXPECT_EQ(reqs[3].headers["content-type"], "application/json");
  EXPECT_EQ(apiPath("coordination.k8s.io", "v1", "leases", "kube-system", "x"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x");
  EXPECT_EQ(queryEscape("a=b,c!d"), "a%3Db%2Cc%21d");
}

TEST(RestClient, HonoursRetryAfterOn429) {
  std::atomic<int> calls{0};
  FakeApiServer server([&](const FakeRequest&, ResponseWriter& w) {
    if (calls++ == 0) {
      w.send(429, status(429, "TooManyRequests", "slow down"), {{"Retry-After", "1"}});
    } else {
      w.send(200, R"({"ok":true})");
    }
  });
  auto c = makeClient(server.url());
  auto start = std::chrono::steady_clock::now();
  auto r = c->get("/api/v1/nodes");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(c->stats().retries429.load(), 1u);
  EXPECT_GE(elapsed, 950ms);  // waited the server's Retry-After, not our 5 ms backoff
}

TEST(RestClient, BacksOffOn5xxThenGivesUp) {
  std::atomic<int> calls{0};
  FakeApiServer server([&](const FakeRequest& r, ResponseWriter& w) {
    int n = calls++;
    if (r.path == "/flaky" && n < 2) {
      w.send(503, status(503, "ServiceUnavailable", "etcd leader changed"));
    } else if (r.path == "/flaky") {
      w.send(200, "{}");
    } else {
      w.send(500, status(500, "InternalError", "always"));
    }
  });
  auto c = makeClient(server.url());
  ASSERT_TRUE(c->get("/flaky").ok());
  EXPECT_EQ(c->stats().retries5xx.load(), 2u);
  calls = 0;
  auto r = c->get("/broken");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.kind(), ApiErrorKind::ServerError);
  EXPECT_EQ(calls.load(), 6);  // 1 + maxRetries (5)
  EXPECT_TRUE(r.error().toError().retryable);
}

TEST(RestClient, RereadsTokenFileAfter401) {
  auto dir = std::filesystem::temp_directory_path() / ("carplb-kube-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "token";
  std::ofstream(file) << "old-token\n";
  FakeApiServer server([](const FakeRequest& r, ResponseWriter& w) {
    auto it = r.headers.find("authorization");
    if (it != r.headers.end() && it->second == "Bearer new-token") {
      w.send(200, "{}");
    } else {
      w.send(401, status(401, "Unauthorized", "Unauthorized"));
    }
  });
  auto c = makeClient(server.url(), fastOptions(), "", file.string());
  auto first = c->get("/api");
  EXPECT_EQ(first.kind(), ApiErrorKind::Unauthorized);  // re-read gave the same token: one retry only
  std::ofstream(file) << "new-token\n";                 // the kubelet rotated it
  auto second = c->get("/api");
  EXPECT_TRUE(second.ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[2].headers["authorization"], "Bearer old-token");
  EXPECT_EQ(reqs[3].headers["authorization"], "Bearer new-token");
  std::filesystem::remove_all(dir);
}

TEST(RestClient, UpdateWithRetryRereadsOnConflict) {
  std::mutex mu;
  int rv = 10;
  FakeApiServer server([&](const FakeRequest& r, ResponseWriter& w) {
    std::lock_guard lock(mu);
    if (r.method == "GET") {
      w.send(200, nlohmann::json{{"metadata", {{"name", "web"}, {"resourceVersion", std::to_string(rv)}}},
                                 {"spec", {{"unknownField", 1}}}}
                      .dump());
      ++rv;  // someone else writes between our GET and PUT, once
      return;
    }
    auto body = nlohmann::json::parse(r.body);
    if (body["metadata"]["resourceVersion"] != std::to_string(rv - 1) || rv < 12) {
      w.send(409, status(409, "Conflict", "the object has been modified"));
      return;
    }
    w.send(200, r.body);
  });
  auto c = makeClient(server.url());
  int mutations = 0;
  auto r = c->updateWithRetry("/api/v1/namespaces/default/services/web/status", [&](nlohmann::json obj) -> Result<nlohmann::json> {
    ++mutations;
    obj["status"]["loadBalancer"]["ingress"] = {{{"ip", "192.0.2.10"}, {"ipMode", "VIP"}}};
    return obj;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(mutations, 2);
  EXPECT_EQ((*r)["spec"]["unknownField"], 1);
  EXPECT_EQ((*r)["metadata"]["resourceVersion"], "11");
  EXPECT_EQ(server.countRequests("PUT", "/api/v1/namespaces/default/services/web/status"), 2u);
  EXPECT_EQ(server.countRequests("GET", "/api/v1/namespaces/default/services/web"), 2u);
}

TEST(RestClient, RejectsBadConfig) {
  SystemClock clock;
  ClientConfig c;
  c.server = "ftp://x";
  EXPECT_FALSE(RestClient::create(c, {}, clock, Logger("t", LogLevel::Error)).ok());
  c.server = "https://127.0.0.1:1";
  c.caFile = "/nonexistent/ca.crt";
  auto r = RestClient::create(c, {}, clock, Logger("t", LogLevel::Error));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "kube client certificate-authority /nonexistent/ca.crt: cannot read");
  c.caFile.clear();
  c.caData = "not a pem";
  EXPECT_FALSE(RestClient::create(c, {}, clock, Logger("t", LogLevel::Error)).ok());
}

}  // namespace
}  // namespace carplb::controller::kube
