#pragma once
// One PlanServer test fixture for the gRPC test folders (tests/controller/grpc drives the server
// with raw stubs, tests/agent/grpc with the real PlanClient): throw-away TLS material, an
// in-memory log, the shared test token/secret, plan builders and a server on 127.0.0.1:0.
// Header-only; the including test links carplb_controller_grpc.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "controller/grpc/plan_server.h"
#include "proto/tls_fixture.h"

namespace carplb::testing {

inline constexpr const char* TestAgentToken = "agent-token-0123456789";
inline constexpr const char* TestClusterSecret = "cluster-secret-0123456789abcdef";

// Log lines kept in memory, for "was it logged / was it never logged" checks.
class LogCapture {
public:
  LogSink sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    };
  }
  Logger logger(std::string component, LogLevel level = LogLevel::Debug) {
    return Logger(std::move(component), level, sink());
  }
  bool contains(std::string_view needle) const {
    std::lock_guard lock(mu_);
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// One vhost on eth0, advbase 1, without a key (see withKeys()).
inline v1::Vhost testVhost(uint32_t vhid, const std::string& vip, uint32_t advskew) {
  v1::Vhost v;
  v.set_vhid(vhid);
  v.set_interface("eth0");
  v.add_vips(vip);
  v.set_advbase(1);
  v.set_advskew(advskew);
  return v;
}

// Fills every vhost's key from TestClusterSecret, as the controller does before publishing.
inline std::vector<v1::Vhost> withKeys(std::vector<v1::Vhost> vhosts) {
  const Status st = controller::rpc::fillVhidKeys(vhosts, TestClusterSecret);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
  return vhosts;
}

// Owns the TLS material, the clock, the log and the metrics of the PlanServers a test starts.
// Mix it into a ::testing::Test fixture, or use it as a member.
class PlanServerHarness {
public:
  PlanServerHarness() : tls_(dir_) {}

  // Listening on `listen` with the test certificate and TestAgentToken.
  controller::rpc::PlanServerOptions serverOptions(const std::string& listen = "127.0.0.1:0") const {
    controller::rpc::PlanServerOptions o;
    o.listenAddress = listen;
    o.serverCertPem = tls_.serverCertPem;
    o.serverKeyPem = tls_.serverKeyPem;
    o.agentToken = TestAgentToken;
    return o;
  }

  // Starts a server logging to logs_ (component `component`); null (and a test failure)
  // when it does not start.
  std::unique_ptr<controller::rpc::PlanServer> startServer(controller::rpc::PlanServerOptions o,
                                                           const std::string& component = "controller") {
    auto s = controller::rpc::PlanServer::start(o, clock_, logs_.logger(component), serverMetrics_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s.value()) : nullptr;
  }

protected:
  TempDir dir_;
  TlsMaterial tls_;
  SystemClock clock_;
  LogCapture logs_;
  Registry serverMetrics_;
};

}  // namespace carplb::testing
