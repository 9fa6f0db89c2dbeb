#pragma once
// StatusServer: the agent's local HTTP endpoint (cpprestsdk http_listener).
//   GET /state    JSON per vhid (from `stateFn`)
//   GET /metrics  Prometheus text (Registry::render(), thread-safe)
//   GET /healthz  "ok"
// The listener runs on cpprest's thread pool. `stateFn` is called on one of those threads:
// the Daemon's implementation posts to the event loop and waits for the snapshot (bounded),
// so the runtime is only ever touched on the loop thread.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"

namespace carplb::agent::status {

// "host:port" -> "http://host:port" (IPv6 hosts in brackets are kept); errors name the field.
Result<std::string> listenUri(const std::string& hostPort);

class StatusServer {
public:
  // Returns the JSON body, or nullopt when the snapshot could not be taken in time (503).
  using StateFn = std::function<std::optional<std::string>()>;

  StatusServer(StateFn stateFn, Registry& metrics, Logger log);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // Starts listening on "host:port" (port 0 is not supported by cpprestsdk: pick one).
  Status start(const std::string& hostPort);
  void stop();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carplb::agent::status
