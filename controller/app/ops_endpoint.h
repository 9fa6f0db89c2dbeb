#pragma once
// SHELL: the controller's HTTP endpoint for operators and the kubelet (cpprestsdk listener).
//   GET /metrics  Prometheus text
//   GET /healthz  200 while the process runs (liveness)
//   GET /readyz   200 while this replica leads and its caches are synced; 503 otherwise.
//                 Readiness = leadership, so the controller's gRPC Service only routes agents
//                 to the leader (docs/controller.md, "High availability").
//   GET /state    JSON: leader, synced, agents, plan summary (from `stateFn`)
// Handlers run on cpprest's thread pool; the callbacks must be thread-safe.
#include <functional>
#include <memory>
#include <string>

#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"

namespace carplb::controller::app {

class OpsEndpoint {
public:
  using ReadyFn = std::function<bool()>;
  using StateFn = std::function<std::string()>;
  OpsEndpoint(Registry& metrics, ReadyFn ready, StateFn state, Logger log);
  ~OpsEndpoint();
  OpsEndpoint(const OpsEndpoint&) = delete;
  OpsEndpoint& operator=(const OpsEndpoint&) = delete;

  // "host:port" or ":port" (all addresses).
  Status start(const std::string& listen);
  void stop();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carplb::controller::app
