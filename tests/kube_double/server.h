#pragma once
// SHELL: the HTTP(S) front of the API server double, on cpprestsdk's http_listener.
// Routes /version, discovery (/api, /apis, group/version resource lists), the REST verbs of
// every type in the Store, chunked watch streams, Table output, bearer-token auth, RBAC
// authorization (kube_double/authorizer.h) and the fault-injection control endpoint /_double/*.
// See docs/kube-double.md.
#include "common/clock.h"
#include "common/log.h"
#include "common/result.h"
#include "kube_double/authorizer.h"
#include "kube_double/store.h"

#include <chrono>
#include <map>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace carplb::kubedouble {

struct Faults {
  std::chrono::milliseconds latency{0};   // added before every API request
  int failCode = 0;                       // answer the next failCount API requests with this code
  int failCount = 0;
  int retryAfterSeconds = 0;              // Retry-After on injected failures (0: none)
  std::string failPathPrefix;             // only requests whose path starts with this ("" = all)
  std::string failMethod;                 // only requests with this HTTP method ("" = all)
  std::chrono::seconds dropWatchesEvery{0};  // periodically end every watch stream (0: never)
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: pick a free port
  std::string tlsCertFile;  // both set: HTTPS
  std::string tlsKeyFile;
  std::string token;        // non-empty: "Authorization: Bearer <token>" required (the administrator)
  // RBAC (--authorize): requests with a token from tokenUsers are that user and are authorized
  // against the policy; the administrator (token, or no token when `token` is empty) is not.
  std::shared_ptr<const RbacPolicy> rbac;
  std::map<std::string, UserInfo> tokenUsers;  // bearer token -> user
  std::string openapiFile;  // served at /openapi/v2 when set (JSON)
  std::chrono::seconds bookmarkInterval{5};
  std::chrono::seconds defaultWatchTimeout{1800};
  Faults faults;
};

// The Store must outlive the Server (watch completions may still reach it during shutdown).
class Server {
public:
  Server(Store& store, const Clock& clock, const Logger& logger, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the listener (and starts the housekeeping thread). The bound port is port().
  Status start();
  void stop();
  int port() const { return port_; }
  std::string url() const;

  // Fault injection (also reachable over HTTP at /_double/*).
  void setFaults(const Faults& faults);
  Faults faults() const;
  size_t dropWatches();
  // Ends every watch, reopens the listener (dropping kept-alive connections) and optionally
  // forgets the event history so that watchers must relist. Runs on the housekeeping thread.
  void requestRestart(bool forgetHistory);
  // What every token user asked for, allowed and denied, and the grants it used (also GET
  // /_double/authz). {"users": []} when authorization is off.
  nlohmann::json authzReport() const;

private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace carplb::kubedouble
