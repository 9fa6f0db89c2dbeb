#pragma once
// PlanServer: the controller end of carplb.v1.AgentControl (SHELL: gRPC callback API).
//
// One bidirectional stream per agent. The server
//   - authenticates every stream before reading from it: TLS always; then a bearer token
//     ("authorization: Bearer <token>", compared in constant time with the token from the
//     agents' Kubernetes Secret) or, when a client CA is configured, a client certificate
//     signed by that CA whose CN/SAN equals the node name in the Hello. Anything else is
//     finished with UNAUTHENTICATED, logged (peer and reason, never the token) and counted
//     in carplb_controller_agents_refused_total{reason}.
//   - keeps a registry: node -> stream, last Hello, last acked generation, connected since.
//     A newer stream for the same node replaces the older one (which is finished ABORTED).
//   - holds the latest snapshot per node. publish() bumps the node's generation only if the
//     content changed and pushes it to the node's stream; a slow stream only ever gets the
//     newest snapshot (snapshots are complete, so merging is safe). A node nobody published
//     for gets nothing (an agent keeps running its persisted snapshot: fail static).
//   - queues everything agents report (plus connect/disconnect) as AgentEvents for the
//     reconciler.
//
// Threading: every public method is thread-safe. gRPC runs stream reactions on its own
// threads (no thread per stream; measured with 1 000 agents in docs/benchmarks/grpc.md).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "carplb/v1/agent.pb.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"

namespace carplb::controller::rpc {

struct PlanServerOptions {
  // "host:port"; port 0 picks a free port (see PlanServer::port()).
  std::string listenAddress = "0.0.0.0:9443";
  // PEM server certificate chain and key (required: the server never runs without TLS).
  std::string serverCertPem;
  std::string serverKeyPem;
  // PEM CA for agent client certificates; empty = no client certificates (token only).
  std::string clientCaPem;
  // Bearer token agents must present (from the Secret); empty = token auth disabled, so
  // then a client CA is required.
  std::string agentToken;
  // gRPC keepalive pings, so a powered-off node's stream ends (and its agent counts as
  // gone) within about keepaliveTime + keepaliveTimeout.
  Duration keepaliveTime = std::chrono::seconds(20);
  Duration keepaliveTimeout = std::chrono::seconds(10);
  // Bound of the event queue; when full the oldest event is dropped and counted in
  // carplb_controller_agent_events_dropped_total.
  std::size_t maxQueuedEvents = 65536;
  // Called after events were queued, from a gRPC thread, with no lock held. Must not block
  // (typically: add a key to the reconciler's work queue). May be empty.
  std::function<void()> onEvents;
};

enum class AgentEventKind {
  Connected,       // a Hello was accepted; `report.hello` holds it
  Disconnected,    // the node's stream ended; `detail` says why
  Acked,           // `report.ack`
  StateChange,     // `report.state_change`
  ForeignSpeaker,  // `report.foreign_speaker`
  ApplyError,      // `report.apply_error`
};
const char* agentEventKindName(AgentEventKind kind);

// One thing an agent said or did, in arrival order per node.
struct AgentEvent {
  AgentEventKind kind = AgentEventKind::Connected;
  std::string node;
  WallTime receivedAt;      // controller wall clock
  v1::AgentMessage report;  // the message as received (agents never send key material)
  std::string detail;       // Disconnected: reason
};

// What the registry knows about one node's agent.
struct AgentInfo {
  std::string node;
  bool connected = false;
  std::string peer;                 // "ipv4:192.0.2.10:51234"
  v1::Hello hello;                  // last accepted Hello
  WallTime connectedAt;             // of the current (or last) stream
  WallTime lastSeen;                // last message received
  uint64_t publishedGeneration = 0; // current snapshot generation for the node, 0 = none
  std::optional<uint64_t> ackedGeneration;  // last generation acked (this controller epoch)
};

class PlanServer {
public:
  // Binds and starts serving. Errors: bad/missing TLS material, no auth method, bind failure.
  static Result<std::unique_ptr<PlanServer>> start(PlanServerOptions options, const Clock& clock, Logger logger,
                                                   Registry& metrics);
  ~PlanServer();  // shutdown()
  PlanServer(const PlanServer&) = delete;
  PlanServer& operator=(const PlanServer&) = delete;

  int port() const;
  // Random per-process id carried in every snapshot (Snapshot.controller_epoch).
  const std::string& epoch() const;

  // Sets the complete desired state of `node` (vhosts sorted by vhid by the caller or not:
  // the server sorts them). Bumps the generation and pushes only when the content differs
  // from the node's current snapshot. Returns the node's (possibly unchanged) generation.
  uint64_t publish(const std::string& node, std::vector<v1::Vhost> vhosts, bool draining = false);
  // Forgets the node's snapshot (the node left the cluster). A connected agent keeps what
  // it runs; to make it stop everything publish an empty vhost list instead.
  void forgetNode(const std::string& node);

  // True while the node's agent has an authenticated stream with an accepted Hello.
  // Node eligibility: a node whose agent is gone must not be given new masters.
  bool agentHealthy(const std::string& node) const;
  std::vector<AgentInfo> agents() const;
  // The node's current snapshot as sent (nullopt if none published). Contains keys: do
  // not log it (use proto/redact.h).
  std::optional<v1::Snapshot> snapshotFor(const std::string& node) const;

  // Takes every queued event, oldest first.
  std::vector<AgentEvent> drainEvents();

  // Replaces the bearer token (Secret rotated). Existing streams stay up.
  void setAgentToken(std::string token);

  // Finishes all streams (UNAVAILABLE) and stops the server. Idempotent.
  void shutdown();

  class Impl;
  // Use start(); public only for std::make_unique.
  explicit PlanServer(std::unique_ptr<Impl> impl);

private:
  std::unique_ptr<Impl> impl_;
};

// Fills every vhost's auth_key with deriveVhidKey(clusterSecret, vhid). Errors name the vhost.
Status fillVhidKeys(std::vector<v1::Vhost>& vhosts, std::string_view clusterSecret);

}  // namespace carplb::controller::rpc
