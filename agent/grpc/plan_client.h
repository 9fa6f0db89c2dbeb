#pragma once
// PlanClient: the agent end of carplb.v1.AgentControl (SHELL: gRPC sync API, one thread).
//
// Lifecycle:
//   start()  1. loads the persisted snapshot (if any, valid) and hands it to `apply`
//               (fail static: the node keeps its VIPs even if the controller is down),
//            2. starts a thread that connects (TLS, bearer token and/or client certificate),
//               sends Hello, then follows snapshots; when the stream breaks it reconnects
//               after a jittered exponential backoff (reset once a snapshot arrived).
//   stop()   cancels the stream and joins the thread. The destructor calls it.
//
// For each snapshot received: validate (proto::validateSnapshot; node name must match) ->
// if (controller_epoch, generation) equals the last applied one, only ack again (no apply:
// an unchanged snapshot touches nothing) -> apply(snapshot) -> on success persist it and
// ack; on failure send ApplyError (the generation is not acked, nothing is persisted).
//
// Threading: `apply` runs on the client thread, never concurrently with itself. The
// report*() methods are thread-safe; reports made while disconnected are kept (newest
// MaxPendingReports) and sent after the next Hello.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/grpc/backoff.h"
#include "carplb/v1/agent.pb.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/random.h"
#include "common/result.h"

namespace grpc {
class ClientContext;
}

namespace carplb::agent::rpc {

struct PlanClientOptions {
  std::string target;          // "carplb-controller.carplb-system.svc:9443"
  std::string caPem;           // CA that signed the controller's certificate (required)
  std::string tlsServerName;   // override for the certificate name check; "" = from target
  std::string token;           // bearer token from the agent Secret ("" = none)
  std::string tokenFile;       // if set: the token is read from here before every connection
                               // attempt (a rotated Secret is picked up on reconnect); a failed
                               // read keeps the last token read (or `token`)
  std::string clientCertPem;   // optional client certificate (mTLS) ...
  std::string clientKeyPem;    // ... and its key
  v1::Hello hello;             // node_name, interfaces, version, capabilities
  // Optional: called on the client thread before every Hello (e.g. to refresh the node's
  // interfaces and addresses); must not block for long.
  std::function<void(v1::Hello&)> refreshHello;
  std::string snapshotPath;    // "" = do not persist (tests); chart: hostPath file
  BackoffPolicy backoff;
  Duration keepaliveTime = std::chrono::seconds(20);
  Duration keepaliveTimeout = std::chrono::seconds(10);
};

inline constexpr std::size_t MaxPendingReports = 256;

// Reads a bearer token file: surrounding whitespace (the trailing newline) is dropped.
// Errors name the path: missing/unreadable, empty, or bytes not allowed in a header value.
Result<std::string> readTokenFile(const std::string& path);

class PlanClient {
public:
  // Runs on the client thread. Return an error to refuse (reported as ApplyError).
  using ApplyFn = std::function<Status(const v1::Snapshot&)>;

  // `random` is used for backoff jitter on the client thread only.
  PlanClient(PlanClientOptions options, ApplyFn apply, Logger logger, Registry& metrics,
             std::unique_ptr<Random> random);
  ~PlanClient();
  PlanClient(const PlanClient&) = delete;
  PlanClient& operator=(const PlanClient&) = delete;

  // Errors: options invalid (no target/CA/node name/credential, bad backoff).
  Status start();
  void stop();

  void reportStateChange(const v1::StateChange& change);
  void reportForeignSpeaker(const v1::ForeignSpeaker& speaker);

  bool connected() const { return connected_.load(); }
  // (epoch, generation) of the snapshot the agent runs; generation 0 = none.
  std::pair<std::string, uint64_t> applied() const;
  uint64_t applyCount() const { return applies_.load(); }
  uint64_t connectCount() const { return connects_.load(); }

private:
  struct Stream;
  void run();
  void runStream();
  void handleSnapshot(const v1::Snapshot& snapshot);
  void send(v1::AgentMessage msg);  // now if the stream is ready, else queued
  bool flushPending(Stream& stream);

  PlanClientOptions options_;
  ApplyFn apply_;
  Logger log_;
  std::unique_ptr<Random> random_;
  MetricFamily& appliedTotal_;
  MetricFamily& skippedTotal_;
  MetricFamily& errorTotal_;
  MetricFamily& reconnectTotal_;
  MetricFamily& connectedGauge_;

  std::mutex writeMu_;      // serialises writes on the stream; taken before mu_
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::shared_ptr<Stream> stream_;  // null while disconnected
  bool ready_ = false;              // Hello sent and queued reports flushed
  std::deque<v1::AgentMessage> pending_;
  std::string token_;  // current bearer token (client thread only)
  std::string appliedEpoch_;
  uint64_t appliedGeneration_ = 0;

  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> applies_{0};
  std::atomic<uint64_t> connects_{0};
  std::thread thread_;
};

}  // namespace carplb::agent::rpc
