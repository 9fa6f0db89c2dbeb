// Integration: LeaseRunner rounds against a loopback fake Lease endpoint with RV preconditions.
#include "controller/kube/lease_runner.h"

#include <gtest/gtest.h>

#include "fake_api_server.h"
#include "loopback_client.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;
using testing::FakeRequest;
using testing::ResponseWriter;

// One Lease object with optimistic concurrency, like the API server.
struct LeaseStore {
  std::mutex mu;
  std::optional<nlohmann::json> lease;
  int rv = 0;
  void handle(const FakeRequest& r, ResponseWriter& w) {
    std::lock_guard lock(mu);
    const std::string base = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
    if (r.method == "GET" && r.path == base + "/carplb") {
      if (!lease) return w.send(404, R"({"kind":"Status","code":404,"reason":"NotFound"})");
      return w.send(200, lease->dump());
    }
    auto body = nlohmann::json::parse(r.body);
    if (r.method == "POST" && r.path == base) {
      if (lease) return w.send(409, R"({"kind":"Status","code":409,"reason":"AlreadyExists"})");
      body["metadata"]["resourceVersion"] = std::to_string(++rv);
      lease = body;
      return w.send(201, lease->dump());
    }
    if (r.method == "PUT" && r.path == base + "/carplb") {
      if (!lease) return w.send(404, "{}");
      if (body["metadata"].value("resourceVersion", "") != (*lease)["metadata"]["resourceVersion"]) {
        return w.send(409, R"({"kind":"Status","code":409,"reason":"Conflict"})");
      }
      body["metadata"]["resourceVersion"] = std::to_string(++rv);
      lease = body;
      return w.send(200, lease->dump());
    }
    w.send(400, "{}");
  }
};

struct Env {
  LeaseStore store;
  FakeApiServer server{[this](const FakeRequest& r, ResponseWriter& w) { store.handle(r, w); }};
  std::unique_ptr<RestClient> client = testing::loopbackClient(server.url());
  std::unique_ptr<LeaseRunner> runner(const std::string& id, LeaseRunner::Callbacks cb = {}) {
    LeaderElectionConfig cfg{"kube-system", "carplb", id, 3s, 2s, 100ms};
    auto r = LeaseRunner::create(*client, cfg, std::move(cb), Logger("t", LogLevel::Error));
    EXPECT_TRUE(r.ok());
    return std::move(r.value());
  }
};

TEST(LeaseRunner, AcquireHoldReleaseHandOver) {
  Env env;
  auto a = env.runner("node-a");
  auto b = env.runner("node-b");
  EXPECT_EQ(a->runRound(), RoundOutcome::Acquired);
  EXPECT_EQ(b->runRound(), RoundOutcome::HeldByOther);
  EXPECT_EQ(a->runRound(), RoundOutcome::Renewed);
  EXPECT_EQ(b->runRound(), RoundOutcome::HeldByOther);
  {
    std::lock_guard lock(env.store.mu);
    EXPECT_EQ((*env.store.lease)["spec"]["holderIdentity"], "node-a");
    EXPECT_EQ((*env.store.lease)["spec"]["leaseDurationSeconds"], 3);
  }
  a->stop();  // not started: no thread, but it led in runRound, so it releases
  {
    std::lock_guard lock(env.store.mu);
    EXPECT_EQ((*env.store.lease)["spec"]["holderIdentity"], "");
    EXPECT_EQ((*env.store.lease)["spec"]["leaseDurationSeconds"], 1);
  }
  EXPECT_EQ(b->runRound(), RoundOutcome::Acquired);  // released lease: no need to wait
  std::lock_guard lock(env.store.mu);
  EXPECT_EQ((*env.store.lease)["spec"]["holderIdentity"], "node-b");
  EXPECT_EQ((*env.store.lease)["spec"]["leaseTransitions"], 1);
}

TEST(LeaseRunner, ThreadCallsBackAndReleasesOnStop) {
  Env env;
  std::atomic<int> started{0}, stopped{0};
  auto a = env.runner("node-a", {[&] { ++started; }, [&] { ++stopped; }, nullptr});
  a->start();
  for (int i = 0; i < 300 && !a->isLeader(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(a->isLeader());
  EXPECT_EQ(started.load(), 1);
  a->stop();
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(stopped.load(), 1);
  std::lock_guard lock(env.store.mu);
  EXPECT_EQ((*env.store.lease)["spec"]["holderIdentity"], "");
}

TEST(LeaseRunner, RejectsBadConfig) {
  Env env;
  LeaderElectionConfig cfg{"kube-system", "carplb", "me", 10s, 10s, 2s};
  auto r = LeaseRunner::create(*env.client, cfg, {}, Logger("t", LogLevel::Error));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "leaderElection.renewDeadline: must be shorter than leaseDuration");
}

}  // namespace
}  // namespace carplb::controller::kube
