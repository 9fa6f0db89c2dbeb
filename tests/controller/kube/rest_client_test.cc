// Integration: RestClient against a loopback fake API server (port 0).
#include "controller/kube/rest_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "fake_api_server.h"
#include "loopback_client.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::ResponseWriter;

RestClientOptions fastOptions() { return testing::loopbackOptions(); }

std::unique_ptr<RestClient> makeClient(const std::string& url, RestClientOptions o = fastOptions(),
                                       const std::string& token = "t0k3n", const std::string& tokenFile = "") {
  return testing::loopbackClient(url, std::move(o), token, tokenFile);
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

// ---- retry policy (pure) ----------------------------------------------------------------

RetryQuery query(std::string_view method, int status, std::optional<Duration> retryAfter = std::nullopt) {
  RetryQuery q;
  q.method = method;
  q.httpStatus = status;
  q.retryAfter = retryAfter;
  q.backoff = 300ms;
  q.elapsed = 1s;
  return q;
}

TEST(RetryPlan, WritesRetryOnlyWhenTheServerSaysSoOrNeverSawThem) {
  for (std::string_view verb : {"POST", "PUT", "PATCH", "DELETE"}) {
    SCOPED_TRACE(std::string(verb));
    EXPECT_EQ(retryPlan(query(verb, 500), 5, 10s).decision, RetryDecision::NotRetryable);
    EXPECT_EQ(retryPlan(query(verb, 503), 5, 10s).decision, RetryDecision::NotRetryable);
    EXPECT_EQ(retryPlan(query(verb, 429), 5, 10s).decision, RetryDecision::NotRetryable);
    RetryPlan p = retryPlan(query(verb, 429, 2s), 5, 10s);
    EXPECT_EQ(p.decision, RetryDecision::ServerRetryAfter);
    EXPECT_EQ(p.wait, 2s);
    EXPECT_EQ(retryPlan(query(verb, 503, 1s), 5, 10s).decision, RetryDecision::ServerRetryAfter);
    RetryQuery broken = query(verb, 0);
    EXPECT_EQ(retryPlan(broken, 5, 10s).decision, RetryDecision::NotRetryable);  // may have been applied
    broken.transport = TransportFailure::NotSent;
    p = retryPlan(broken, 5, 10s);
    EXPECT_EQ(p.decision, RetryDecision::NotSent);
    EXPECT_EQ(p.wait, 300ms);
  }
}

TEST(RetryPlan, ReadsBackOffOn5xxAnd429AndBrokenConnections) {
  RetryPlan p = retryPlan(query("GET", 500), 5, 10s);
  EXPECT_EQ(p.decision, RetryDecision::ReadBackoff);
  EXPECT_EQ(p.wait, 300ms);
  EXPECT_EQ(retryPlan(query("GET", 429), 5, 10s).decision, RetryDecision::ReadBackoff);
  EXPECT_EQ(retryPlan(query("GET", 0), 5, 10s).decision, RetryDecision::ReadBackoff);
  p = retryPlan(query("GET", 503, 3s), 5, 10s);
  EXPECT_EQ(p.decision, RetryDecision::ServerRetryAfter);
  EXPECT_EQ(p.wait, 3s);
  EXPECT_EQ(retryPlan(query("HEAD", 502), 5, 10s).decision, RetryDecision::ReadBackoff);
}

TEST(RetryPlan, FinalStatusesAreNeverRetried) {
  for (int status : {200, 201, 400, 401, 403, 404, 409, 410, 422, 501, 505}) {
    SCOPED_TRACE(status);
    EXPECT_EQ(retryPlan(query("GET", status, 1s), 5, 10s).decision, RetryDecision::NotRetryable);
    EXPECT_FALSE(retryPlan(query("POST", status, 1s), 5, 10s).retry());
  }
}

TEST(RetryPlan, RetriesAndWaitingAreBounded) {
  RetryQuery q = query("GET", 500);
  q.retriesSoFar = 5;
  EXPECT_EQ(retryPlan(q, 5, 10s).decision, RetryDecision::RetriesExhausted);
  q.retriesSoFar = 4;
  EXPECT_TRUE(retryPlan(q, 5, 10s).retry());
  // 1 s spent + 300 ms backoff fits a 1.3 s budget exactly, not a 1.2 s one.
  EXPECT_TRUE(retryPlan(q, 5, 1300ms).retry());
  EXPECT_EQ(retryPlan(q, 5, 1200ms).decision, RetryDecision::OverBudget);
  // A server asking for an hour is not waited for inside one request.
  EXPECT_EQ(retryPlan(query("PATCH", 429, 3600s), 5, 10s).decision, RetryDecision::OverBudget);
  EXPECT_EQ(retryPlan(query("GET", 429, 3600s), 5, 10s).decision, RetryDecision::OverBudget);
  EXPECT_EQ(toString(RetryDecision::OverBudget), "OverBudget");
}

// ---- retry policy on the wire ------------------------------------------------------------

TEST(RestClient, WriteOnPlain5xxComesBackAtOnce) {
  std::atomic<int> calls{0};
  FakeApiServer server([&](const FakeRequest&, ResponseWriter& w) {
    ++calls;
    w.send(500, status(500, "InternalError", "etcdserver: request timed out"));
  });
  auto c = makeClient(server.url());
  for (auto r : {c->create("/api/v1/namespaces/default/events", {{"kind", "Event"}}),
                 c->mergePatch("/api/v1/namespaces/default/services/web", {{"metadata", {{"labels", {{"a", "b"}}}}}}),
                 c->update("/api/v1/namespaces/default/services/web", {{"metadata", {{"resourceVersion", "3"}}}}),
                 c->remove("/api/v1/namespaces/default/services/web")}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.kind(), ApiErrorKind::ServerError);
    EXPECT_TRUE(r.error().toError().retryable);  // the caller's work queue may try again
  }
  EXPECT_EQ(calls.load(), 4);  // one request each
  EXPECT_EQ(c->stats().retries5xx.load(), 0u);
  EXPECT_EQ(c->stats().notRetried.load(), 4u);
}

TEST(RestClient, WriteRetriesWhenTheServerSendsRetryAfter) {
  std::atomic<int> calls{0};
  FakeApiServer server([&](const FakeRequest& r, ResponseWriter& w) {
    int n = calls++;
    if (n == 0) {
      w.send(429, status(429, "TooManyRequests", "too many requests"), {{"Retry-After", "0"}});
    } else if (n == 1) {
      // Retry-After only in the Status body (details.retryAfterSeconds), on a 5xx.
      auto st = nlohmann::json::parse(status(503, "ServiceUnavailable", "apiserver is shutting down"));
      st["details"]["retryAfterSeconds"] = 0;
      w.send(503, st.dump());
    } else {
      w.send(201, r.body);
    }
  });
  auto c = makeClient(server.url());
  auto r = c->create("/api/v1/namespaces/default/events", {{"kind", "Event"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(c->stats().retries429.load(), 1u);
  EXPECT_EQ(c->stats().retries5xx.load(), 1u);
}

TEST(RestClient, RetryAfterBeyondTheBudgetIsNotWaitedFor) {
  std::atomic<int> calls{0};
  FakeApiServer server([&](const FakeRequest&, ResponseWriter& w) {
    ++calls;
    w.send(429, status(429, "TooManyRequests", "slow down"), {{"Retry-After", "60"}});
  });
  RestClientOptions o = fastOptions();
  o.retryBudget = 2s;
  auto c = makeClient(server.url(), o);
  auto start = std::chrono::steady_clock::now();
  auto r = c->mergePatch("/api/v1/namespaces/default/services/web", nlohmann::json::object());
  EXPECT_EQ(r.kind(), ApiErrorKind::TooManyRequests);
  r = c->get("/api/v1/nodes");
  EXPECT_EQ(r.kind(), ApiErrorKind::TooManyRequests);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(calls.load(), 2);
}

TEST(RestClient, BrokenConnectionRetriesReadsNotWrites) {
  std::atomic<int> posts{0}, gets{0};
  FakeApiServer server([&](const FakeRequest& r, ResponseWriter& w) {
    // The request arrived; the connection breaks before an answer.
    if (r.method == "POST") {
      ++posts;
      w.drop();
    } else if (gets++ < 2) {
      w.drop();
    } else {
      w.send(200, "{}");
    }
  });
  auto c = makeClient(server.url());
  auto post = c->create("/api/v1/namespaces/default/events", {{"kind", "Event"}});
  ASSERT_FALSE(post.ok());
  EXPECT_EQ(post.kind(), ApiErrorKind::Transport);
  EXPECT_EQ(posts.load(), 1);  // the server may have created it: not sent twice
  auto get = c->get("/api/v1/nodes");
  ASSERT_TRUE(get.ok()) << get.error().message;
  EXPECT_EQ(gets.load(), 3);
  EXPECT_EQ(c->stats().retriesTransport.load(), 2u);
}

TEST(RestClient, HungServerTimesOutAndTheWriteIsNotResent) {
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::atomic<int> calls{0};
  FakeApiServer server([&](const FakeRequest&, ResponseWriter& w) {
    ++calls;
    open.wait_for(30s);  // never answers in time
    w.send(200, "{}");
  });
  RestClientOptions o = fastOptions();
  o.requestTimeout = 300ms;
  auto c = makeClient(server.url(), o);
  auto start = std::chrono::steady_clock::now();
  auto r = c->mergePatch("/api/v1/namespaces/default/services/web", nlohmann::json::object());
  auto elapsed = std::chrono::steady_clock::now() - start;
  gate.set_value();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.kind(), ApiErrorKind::Transport);
  EXPECT_LT(elapsed, 5s);
  EXPECT_EQ(calls.load(), 1);  // the server may have applied it
  EXPECT_EQ(c->stats().retriesTransport.load(), 0u);
}

TEST(RestClient, RefusedConnectionIsRetriedForWritesWithinBounds) {
  // A port with a bound socket that does not listen: connects are refused.
  UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock.valid());
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  RestClientOptions o = fastOptions();
  o.maxRetries = 3;
  auto c = makeClient("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), o);
  auto r = c->create("/api/v1/namespaces/default/events", {{"kind", "Event"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.kind(), ApiErrorKind::Transport);
  EXPECT_EQ(r.error().message.rfind("POST /api/v1/namespaces/default/events: ", 0), 0u) << r.error().message;
  EXPECT_EQ(c->stats().requests.load(), 4u);  // 1 + maxRetries: nothing reached a server
  EXPECT_EQ(c->stats().retriesTransport.load(), 3u);
  // Once something listens there, the write goes through.
  ASSERT_EQ(::listen(sock.get(), 4), 0);
  std::thread answer([&] {
    UniqueFd conn(::accept4(sock.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) return;
    std::string req;
    char buf[4096];
    while (req.find("{\"kind\":\"Event\"}") == std::string::npos) {
      ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<size_t>(n));
    }
    const std::string resp = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    (void)::send(conn.get(), resp.data(), resp.size(), MSG_NOSIGNAL);
  });
  auto ok = c->create("/api/v1/namespaces/default/events", {{"kind", "Event"}});
  answer.join();
  EXPECT_TRUE(ok.ok()) << ok.error().message;
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
