#pragma once
// A RestClient for the loopback test servers of the kube client's integration tests: no
// client-side rate limit worth the name and millisecond retry backoff.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/log.h"
#include "controller/kube/rest_client.h"

namespace carplb::controller::kube::testing {

inline RestClientOptions loopbackOptions() {
  RestClientOptions o;
  o.qps = 1000;
  o.burst = 1000;
  o.retryBackoff.initial = std::chrono::milliseconds(5);
  o.retryBackoff.max = std::chrono::milliseconds(20);
  return o;
}

// Null (and a test failure) when the client cannot be made. Uses a SystemClock that lives as
// long as the program (it has no state).
inline std::unique_ptr<RestClient> loopbackClient(const std::string& url, RestClientOptions o = loopbackOptions(),
                                                  const std::string& token = "", const std::string& tokenFile = "") {
  static const SystemClock clock;
  ClientConfig c;
  c.server = url;
  c.token = token;
  c.tokenFile = tokenFile;
  auto r = RestClient::create(c, std::move(o), clock, Logger("test", LogLevel::Error));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r.value()) : nullptr;
}

}  // namespace carplb::controller::kube::testing
