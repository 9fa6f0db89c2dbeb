#pragma once
// StatusServer: the agent's local HTTP endpoint (GNU libmicrohttpd, one internal thread).
//   GET /state    JSON per vhid (from `stateFn`); 503 when the snapshot times out
//   GET /metrics  Prometheus text (Registry::render(), thread-safe)
//   GET /healthz  "ok"
//   other paths   404; other methods 405 (with "Allow: GET")
// Requests are served one at a time on libmicrohttpd's single polling thread. `stateFn` is
// called on that thread: the Daemon's implementation posts to the event loop and waits for
// the snapshot (bounded), so the runtime is only ever touched on the loop thread. While a
// snapshot is pending, other requests wait (at most the snapshot's bound).
#include <cstdint>
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

  // Starts listening on "host:port" (host: an address, "[v6]" or a name; port 1..65535).
  // Errors name the field (statusListen) and the reason (bind/listen errno text).
  Status start(const std::string& hostPort);
  // Stops accepting and joins the server thread (waits for a request in progress). Idempotent.
  void stop();
  // The bound port after a successful start(), 0 otherwise.
  uint16_t port() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carplb::agent::status
