// Integration: the kube client against the real API server double (tests/kube_double,
// carplb-kube-double), with its runtime fault injection (/_double/faults, /_double/compact).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "controller/kube/client_config_loader.h"
#include "controller/kube/informer.h"
#include "controller/kube/lease_runner.h"
#include "controller/kube/model/resources.h"
#include "controller/kube/rest_client.h"
#include "kube_double/double_process.h"
#include "recorder.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;
using carplb::kubedouble::DoubleProcess;
using testing::pollUntil;
using testing::Recorder;

const std::string kToken = "carplb-test-token";

nlohmann::json service(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"type", "LoadBalancer"}, {"ports", {{{"port", 80}, {"protocol", "TCP"}}}}}}};
}

class KubeDouble : public ::testing::Test {
protected:
  void startDouble(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--token", kToken, "--bookmark-interval", "3600", "--log-level", "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto d = DoubleProcess::start(CARPLB_KUBE_DOUBLE_BIN, args);
    ASSERT_TRUE(d.ok()) << d.error().message;
    double_ = std::move(*d);
    auto cfg = loadKubeconfig(double_->kubeconfig());
    ASSERT_TRUE(cfg.ok()) << cfg.error().message;
    config_ = *cfg;
    RestClientOptions o;
    o.qps = 500;
    o.burst = 500;
    o.retryBackoff.initial = 20ms;
    o.retryBackoff.max = 100ms;
    auto c = RestClient::create(config_, o, clock_, Logger("test", LogLevel::Error));
    ASSERT_TRUE(c.ok()) << c.error().message;
    client_ = std::move(*c);
  }
  void TearDown() override {
    if (informer_) informer_->stop();
    if (client_) client_->shutdown();
  }
  void faults(const nlohmann::json& body) {
    auto r = client_->request("POST", "/_double/faults", body.dump(), "application/json");
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->status, 200) << r->body;
  }
  void startInformer() {
    informer_ = std::make_unique<Informer>(*client_, testing::serviceInformerOptions(50ms, 200ms), rec_,
                                           Logger("test", LogLevel::Error));
    informer_->start();
    ASSERT_TRUE(informer_->waitForSync(15s));
    ASSERT_TRUE(waitWatchers(1)) << "the informer's watch never reached the double";
  }
  // Synced means listed; the watch request may still be on its way. Faults that drop watches
  // must wait for it.
  bool waitWatchers(int64_t n) {
    for (int i = 0; i < 1000; ++i) {
      auto st = client_->get("/_double/state");
      if (st.ok() && st->value("watchers", int64_t{0}) >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  SystemClock clock_;
  std::unique_ptr<DoubleProcess> double_;
  ClientConfig config_;
  std::unique_ptr<RestClient> client_;
  Recorder rec_{Recorder::WithResourceVersion::No};
  std::unique_ptr<Informer> informer_;
};

TEST_F(KubeDouble, TlsKubeconfigWritesAndWatch) {
  auto dir = std::filesystem::temp_directory_path() / ("carplb-kube-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_NO_FATAL_FAILURE(startDouble({"--tls-self-signed", dir.string()}));
  ASSERT_EQ(config_.server.rfind("https://", 0), 0u) << config_.server;
  ASSERT_TRUE(client_->create("/api/v1/namespaces/default/services", service("web")).ok());
  ASSERT_NO_FATAL_FAILURE(startInformer());
  EXPECT_TRUE(rec_.waitForCall("add default/web"));
  auto patched = client_->mergePatch("/api/v1/namespaces/default/services/web",
                                     {{"metadata", {{"annotations", {{"carplb.io/vip", "192.0.2.10"}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().message;
  EXPECT_TRUE(rec_.waitForCall("update default/web"));
  // Status subresource write keeps the spec and unknown fields.
  auto st = client_->updateWithRetry("/api/v1/namespaces/default/services/web/status", [](nlohmann::json o) -> Result<nlohmann::json> {
    o["status"]["loadBalancer"]["ingress"] = {{{"ip", "192.0.2.10"}, {"ipMode", "VIP"}}};
    return o;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto got = client_->get("/api/v1/namespaces/default/services/web");
  ASSERT_TRUE(got.ok());
  auto svc = parseService(*got);
  ASSERT_TRUE(svc.ok());
  ASSERT_EQ(svc->ingress.size(), 1u);
  EXPECT_EQ(svc->ingress[0].ip, "192.0.2.10");
  EXPECT_EQ(svc->meta.annotations["carplb.io/vip"], "192.0.2.10");
  ASSERT_TRUE(client_->remove("/api/v1/namespaces/default/services/web").ok());
  EXPECT_TRUE(rec_.waitForCall("delete default/web"));
  std::filesystem::remove_all(dir);
}

TEST_F(KubeDouble, ConflictIsRereadAndRetried) {
  ASSERT_NO_FATAL_FAILURE(startDouble());
  ASSERT_TRUE(client_->create("/api/v1/namespaces/default/services", service("web")).ok());
  int calls = 0;
  auto r = client_->updateWithRetry("/api/v1/namespaces/default/services/web", [&](nlohmann::json o) -> Result<nlohmann::json> {
    if (++calls == 1) {
      // Someone else writes between our GET and our PUT: the PUT must get 409.
      auto p = client_->mergePatch("/api/v1/namespaces/default/services/web", {{"metadata", {{"labels", {{"other", "x"}}}}}});
      if (!p.ok()) return p.error().toError();
    }
    o["metadata"]["labels"]["mine"] = "y";
    return o;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(calls, 2);
  EXPECT_EQ((*r)["metadata"]["labels"]["other"], "x");  // re-read kept the other writer's change
  EXPECT_EQ((*r)["metadata"]["labels"]["mine"], "y");
}

TEST_F(KubeDouble, TooManyRequestsHonoursRetryAfterAnd5xxBacksOff) {
  ASSERT_NO_FATAL_FAILURE(startDouble());
  ASSERT_NO_FATAL_FAILURE(faults({{"failNext", {{"code", 429}, {"count", 1}, {"retryAfter", 1}, {"pathPrefix", "/api/v1/nodes"}}}}));
  auto start = std::chrono::steady_clock::now();
  auto r = client_->get("/api/v1/nodes");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 950ms);
  EXPECT_EQ(client_->stats().retries429.load(), 1u);
  ASSERT_NO_FATAL_FAILURE(faults({{"failNext", {{"code", 503}, {"count", 2}, {"pathPrefix", "/api/v1/nodes"}}}}));
  ASSERT_TRUE(client_->get("/api/v1/nodes").ok());
  EXPECT_EQ(client_->stats().retries5xx.load(), 2u);
}

TEST_F(KubeDouble, RotatedTokenIsRereadAfter401) {
  ASSERT_NO_FATAL_FAILURE(startDouble());
  auto dir = std::filesystem::temp_directory_path() / ("carplb-kube-rot-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "expired-token\n";
  ClientConfig c = config_;
  c.token.clear();
  c.tokenFile = (dir / "token").string();
  auto client = std::move(RestClient::create(c, {}, clock_, Logger("t", LogLevel::Error)).value());
  EXPECT_EQ(client->get("/api/v1/nodes").kind(), ApiErrorKind::Unauthorized);
  std::ofstream(dir / "token") << kToken << "\n";  // the kubelet rotates the file
  auto r = client->get("/api/v1/nodes");           // 401 with the cached token, re-read, retry once
  EXPECT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(client->stats().tokenRefreshes.load(), 2u);
  client->shutdown();
  std::filesystem::remove_all(dir);
}

TEST_F(KubeDouble, DroppedWatchResumesWithoutRelist) {
  ASSERT_NO_FATAL_FAILURE(startDouble());
  ASSERT_NO_FATAL_FAILURE(startInformer());
  ASSERT_NO_FATAL_FAILURE(faults({{"dropWatchesNow", true}}));
  pollUntil([&] { return informer_->stats().watches.load() >= 2; });
  ASSERT_TRUE(client_->create("/api/v1/namespaces/default/services", service("after-drop")).ok());
  EXPECT_TRUE(rec_.waitForCall("add default/after-drop"));
  EXPECT_GE(informer_->stats().watches.load(), 2u);
  EXPECT_EQ(informer_->stats().lists.load(), 1u);
}

TEST_F(KubeDouble, ExpiredResourceVersionRelistsBothForms) {
  ASSERT_NO_FATAL_FAILURE(startDouble());
  ASSERT_TRUE(client_->create("/api/v1/namespaces/default/services", service("old")).ok());
  ASSERT_NO_FATAL_FAILURE(startInformer());
  ASSERT_TRUE(rec_.waitForCall("add default/old"));
  // Form 1: watch answers HTTP 200 then an ERROR event with code 410. Move the global RV past
  // ours (a write elsewhere), compact history, drop watches: our re-watch is too old.
  ASSERT_TRUE(client_->create("/api/v1/namespaces/default/configmaps",
                              {{"metadata", {{"name", "bump"}, {"namespace", "default"}}}, {"data", {{"a", "b"}}}})
                  .ok());
  auto compact = client_->request("POST", "/_double/compact", std::string("{}"), "application/json");
  ASSERT_TRUE(compact.ok());
  ASSERT_NO_FATAL_FAILURE(faults({{"dropWatchesNow", true}}));
  pollUntil([&] { return informer_->stats().relistsExpired.load() >= 1; });
  EXPECT_EQ(informer_->stats().relistsExpired.load(), 1u);
  pollUntil([&] { return informer_->stats().lists.load() >= 2; });
  EXPECT_EQ(informer_->stats().lists.load(), 2u);
  // Form 2: the next watch request answered with HTTP 410 directly.
  ASSERT_NO_FATAL_FAILURE(faults({{"failNext", {{"code", 410}, {"count", 1}, {"pathPrefix", "/api/v1/services"}}}, {"dropWatchesNow", true}}));
  pollUntil([&] { return informer_->stats().relistsExpired.load() >= 2; });
  EXPECT_EQ(informer_->stats().relistsExpired.load(), 2u);
  ASSERT_TRUE(client_->create("/api/v1/namespaces/default/services", service("new")).ok());
  EXPECT_TRUE(rec_.waitForCall("add default/new"));
  EXPECT_EQ(rec_.count("add default/old"), 1u);  // relist saw the same RV: no duplicate add
}

TEST_F(KubeDouble, LeaderElectionWithTwoCandidates) {
  ASSERT_NO_FATAL_FAILURE(startDouble());
  LeaderElectionConfig cfg{"default", "carplb-controller", "node-a", 3s, 2s, 200ms};
  auto a = std::move(LeaseRunner::create(*client_, cfg, {}, Logger("t", LogLevel::Error)).value());
  cfg.identity = "node-b";
  auto b = std::move(LeaseRunner::create(*client_, cfg, {}, Logger("t", LogLevel::Error)).value());
  EXPECT_EQ(a->runRound(), RoundOutcome::Acquired);
  EXPECT_EQ(b->runRound(), RoundOutcome::HeldByOther);
  EXPECT_EQ(a->runRound(), RoundOutcome::Renewed);
  a->stop();  // releases
  EXPECT_EQ(b->runRound(), RoundOutcome::Acquired);
  auto lease = client_->get("/apis/coordination.k8s.io/v1/namespaces/default/leases/carplb-controller");
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  auto l = parseLease(*lease);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->holderIdentity, "node-b");
  EXPECT_EQ(l->leaseTransitions, 1);
  b->stop();
}

}  // namespace
}  // namespace carplb::controller::kube
