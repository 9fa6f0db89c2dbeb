#include "controller/grpc/plan_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <random>

#include "carplb/v1/agent.grpc.pb.h"
#include "controller/grpc/vhid_key.h"
#include "proto/redact.h"

namespace carplb::controller::rpc {

const char* agentEventKindName(AgentEventKind kind) {
  switch (kind) {
    case AgentEventKind::Connected: return "Connected";
    case AgentEventKind::Disconnected: return "Disconnected";
    case AgentEventKind::Acked: return "Acked";
    case AgentEventKind::StateChange: return "StateChange";
    case AgentEventKind::ForeignSpeaker: return "ForeignSpeaker";
    case AgentEventKind::ApplyError: return "ApplyError";
  }
  return "Unknown";
}

Status fillVhidKeys(std::vector<v1::Vhost>& vhosts, std::string_view clusterSecret) {
  for (std::size_t i = 0; i < vhosts.size(); ++i) {
    auto key = deriveVhidKey(clusterSecret, static_cast<int>(vhosts[i].vhid()));
    if (!key) {
      return makeError("vhosts[" + std::to_string(i) + "]." + key.error().message);
    }
    vhosts[i].set_auth_key(std::move(key.value()));
  }
  return okStatus();
}

namespace {

std::string randomEpoch() {
  std::random_device rd;
  static constexpr char Hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    out += Hex[rd() & 15];
  }
  return out;
}

// Deterministic bytes of what a snapshot says (without epoch and generation).
std::string contentKey(const std::vector<v1::Vhost>& vhosts, bool draining, const std::string& node) {
  v1::Snapshot s;
  s.set_node_name(node);
  s.set_draining(draining);
  for (const auto& v : vhosts) {
    *s.add_vhosts() = v;
  }
  std::string out;
  google::protobuf::io::StringOutputStream sos(&out);
  google::protobuf::io::CodedOutputStream cos(&sos);
  cos.SetSerializationDeterministic(true);
  s.SerializeToCodedStream(&cos);
  return out;
}

}  // namespace

class AgentStream;

class PlanServer::Impl final : public v1::AgentControl::CallbackService {
public:
  Impl(PlanServerOptions options, const Clock& clock, Logger logger, Registry& metrics)
      : options_(std::move(options)),
        clock_(clock),
        log_(std::move(logger)),
        epoch_(randomEpoch()),
        connectedGauge_(metrics.gauge("carplb_controller_agents_connected", "Agents with an accepted stream")),
        refused_(metrics.counter("carplb_controller_agents_refused_total", "Agent streams refused, by reason")),
        sent_(metrics.counter("carplb_controller_snapshots_sent_total", "Snapshots written to agent streams")),
        dropped_(metrics.counter("carplb_controller_agent_events_dropped_total",
                                 "Agent events dropped because the queue was full")) {
    connectedGauge_.set({}, 0);
  }

  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;

  // --- called by streams (no stream lock held) ---
  // Returns the reason the stream is refused, or "" when it may proceed.
  std::string authenticate(grpc::CallbackServerContext* ctx, std::string& certIdentity) const;
  // Hello accepted: register (replacing an older stream) and push the current snapshot.
  void registerStream(AgentStream* s, const v1::Hello& hello, const std::string& peer);
  void onReport(AgentStream* s, const std::string& node, AgentEventKind kind, const v1::AgentMessage& msg);
  void release(AgentStream* s, const std::string& node, const std::string& reason);
  void countRefused(const std::string& reason, const std::string& peer);
  void countSent() { sent_.inc(); }
  const Logger& log() const { return log_; }

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  PlanServerOptions options_;
  const Clock& clock_;
  Logger log_;
  std::string epoch_;
  MetricFamily& connectedGauge_;
  MetricFamily& refused_;
  MetricFamily& sent_;
  MetricFamily& dropped_;

  struct Node {
    std::string contentKey;
    std::shared_ptr<const v1::ControllerMessage> current;  // nullptr until published
    uint64_t generation = 0;
    AgentStream* stream = nullptr;  // owned by streams_
    AgentInfo info;
  };
  mutable std::mutex mu_;
  std::string token_;  // guarded by mu_
  std::map<std::string, Node> nodes_;
  std::map<AgentStream*, std::unique_ptr<AgentStream>> streams_;
  std::deque<AgentEvent> events_;
  bool shutdown_ = false;
  void pushEventLocked(AgentEvent ev);
  void notify() {
    if (options_.onEvents) {
      options_.onEvents();
    }
  }
};

// One agent's stream. Reads run one at a time; writes one at a time with at most one
// pending (newest) snapshot; push() may come from any thread.
class AgentStream final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
public:
  AgentStream(PlanServer::Impl& impl, grpc::CallbackServerContext* ctx) : impl_(impl), ctx_(ctx), peer_(ctx->peer()) {}

  void begin() {
    const std::string refused = impl_.authenticate(ctx_, certIdentity_);
    if (!refused.empty()) {
      impl_.countRefused(refused, peer_);
      finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "agent credentials refused"));
      return;
    }
    StartRead(&in_);
  }

  void push(std::shared_ptr<const v1::ControllerMessage> msg) {
    std::lock_guard lock(mu_);
    if (finished_) {
      return;
    }
    if (writing_) {
      pending_ = std::move(msg);
      return;
    }
    writing_ = true;
    out_ = std::move(msg);
    StartWrite(out_.get());
  }

  void finish(grpc::Status status) {
    std::lock_guard lock(mu_);
    if (finished_) {
      return;
    }
    finished_ = true;
    finishReason_ = status.error_message();
    Finish(status);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      finish(grpc::Status::OK);
      return;
    }
    if (node_.empty()) {
      if (in_.body_case() != v1::AgentMessage::kHello) {
        impl_.countRefused("no_hello", peer_);
        finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "first message must be hello"));
        return;
      }
      const v1::Hello& hello = in_.hello();
      if (hello.node_name().empty() || hello.node_name().size() > 253) {
        impl_.countRefused("bad_node_name", peer_);
        finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello.node_name: must be 1..253 characters"));
        return;
      }
      if (!certIdentity_.empty() && !certMatches(hello.node_name())) {
        impl_.countRefused("cert_node_mismatch", peer_);
        finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "client certificate does not name this node"));
        return;
      }
      node_ = hello.node_name();
      impl_.registerStream(this, hello, peer_);
    } else {
      AgentEventKind kind;
      switch (in_.body_case()) {
        case v1::AgentMessage::kAck: kind = AgentEventKind::Acked; break;
        case v1::AgentMessage::kStateChange: kind = AgentEventKind::StateChange; break;
        case v1::AgentMessage::kForeignSpeaker: kind = AgentEventKind::ForeignSpeaker; break;
        case v1::AgentMessage::kApplyError: kind = AgentEventKind::ApplyError; break;
        default:
          impl_.log().debug("agent message ignored", {{"node", node_}, {"reason", "unexpected_body"}});
          StartRead(&in_);
          return;
      }
      impl_.onReport(this, node_, kind, in_);
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (ok) {
      impl_.countSent();
    }
    if (!ok || finished_ || !pending_) {
      pending_.reset();
      return;
    }
    writing_ = true;
    out_ = std::move(pending_);
    StartWrite(out_.get());
  }

  void OnCancel() override { finish(grpc::Status::CANCELLED); }

  void OnDone() override {
    std::string reason;
    {
      std::lock_guard lock(mu_);
      reason = finishReason_.empty() ? "stream_closed" : finishReason_;
    }
    // Destroys *this: nothing may touch members after this call.
    impl_.release(this, node_, reason);
  }

private:
  bool certMatches(const std::string& node) const {
    for (const auto& id : ctx_->auth_context()->GetPeerIdentity()) {
      if (std::string(id.data(), id.size()) == node) {
        return true;
      }
    }
    return false;
  }

  PlanServer::Impl& impl_;
  grpc::CallbackServerContext* ctx_;
  const std::string peer_;
  std::string certIdentity_;  // non-empty when authenticated by client certificate
  std::string node_;          // set once the Hello is accepted (reaction thread only)
  v1::AgentMessage in_;
  std::mutex mu_;
  bool finished_ = false;
  std::string finishReason_;
  bool writing_ = false;
  std::shared_ptr<const v1::ControllerMessage> out_;
  std::shared_ptr<const v1::ControllerMessage> pending_;
};

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* PlanServer::Impl::Connect(
    grpc::CallbackServerContext* ctx) {
  auto owned = std::make_unique<AgentStream>(*this, ctx);
  AgentStream* s = owned.get();
  bool down;
  {
    std::lock_guard lock(mu_);
    down = shutdown_;
    streams_.emplace(s, std::move(owned));
  }
  if (down) {
    s->finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "controller shutting down"));
  } else {
    s->begin();
  }
  // gRPC holds the raw pointer until OnDone(), which hands ownership back via release().
  return s;
}

std::string PlanServer::Impl::authenticate(grpc::CallbackServerContext* ctx, std::string& certIdentity) const {
  std::string token;
  {
    std::lock_guard lock(mu_);
    token = token_;
  }
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) {
    const std::string_view value(it->second.data(), it->second.size());
    auto presented = bearerToken(value);
    if (!presented) {
      return "malformed_token";
    }
    if (token.empty() || !credentialMatches(*presented, token)) {
      return "bad_token";
    }
    return "";
  }
  if (!options_.clientCaPem.empty()) {
    auto auth = ctx->auth_context();
    if (auth && auth->IsPeerAuthenticated() && !auth->GetPeerIdentity().empty()) {
      const auto id = auth->GetPeerIdentity().front();
      certIdentity.assign(id.data(), id.size());
      return "";
    }
  }
  return "missing_credentials";
}

void PlanServer::Impl::registerStream(AgentStream* s, const v1::Hello& hello, const std::string& peer) {
  AgentStream* replaced = nullptr;
  {
    std::lock_guard lock(mu_);
    Node& n = nodes_[hello.node_name()];
    replaced = n.stream;
    n.stream = s;
    n.info.node = hello.node_name();
    n.info.connected = true;
    n.info.peer = peer;
    n.info.hello = hello;
    n.info.connectedAt = clock_.wallNow();
    n.info.lastSeen = n.info.connectedAt;
    if (replaced == nullptr) {
      connectedGauge_.inc({}, 1);
    }
    if (n.current) {
      s->push(n.current);  // under mu_, so it is ordered before any newer publish()
    }
    if (replaced != nullptr) {
      // Under mu_: the replaced stream cannot be released (deleted) meanwhile.
      replaced->finish(grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer stream of this node"));
    }
    AgentEvent ev;
    ev.kind = AgentEventKind::Connected;
    ev.node = hello.node_name();
    ev.receivedAt = n.info.connectedAt;
    *ev.report.mutable_hello() = hello;
    pushEventLocked(std::move(ev));
  }
  log_.info("agent connected", {{"node", hello.node_name()},
                                {"peer", peer},
                                {"version", hello.version()},
                                {"applied_generation", hello.applied_generation()}});
  if (replaced != nullptr) {
    log_.info("agent stream replaced", {{"node", hello.node_name()}, {"reason", "newer_stream"}});
  }
  notify();
}

void PlanServer::Impl::onReport(AgentStream* s, const std::string& node, AgentEventKind kind,
                                const v1::AgentMessage& msg) {
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node);
    if (it == nodes_.end() || it->second.stream != s) {
      return;  // a replaced stream's late message
    }
    Node& n = it->second;
    n.info.lastSeen = clock_.wallNow();
    if (kind == AgentEventKind::Acked && msg.ack().controller_epoch() == epoch_) {
      n.info.ackedGeneration = msg.ack().generation();
    }
    AgentEvent ev;
    ev.kind = kind;
    ev.node = node;
    ev.receivedAt = n.info.lastSeen;
    ev.report = msg;
    pushEventLocked(std::move(ev));
  }
  if (kind == AgentEventKind::ApplyError) {
    log_.warn("agent failed to apply snapshot", {{"node", node},
                                                 {"generation", msg.apply_error().generation()},
                                                 {"vhid", msg.apply_error().vhid()},
                                                 {"reason", msg.apply_error().message()}});
  } else if (log_.enabled(LogLevel::Debug)) {
    log_.debug("agent report", {{"node", node}, {"report", proto::redactedDebugString(msg)}});
  }
  notify();
}

void PlanServer::Impl::release(AgentStream* s, const std::string& node, const std::string& reason) {
  std::unique_ptr<AgentStream> owned;
  bool wasCurrent = false;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(s);
    if (it != streams_.end()) {
      owned = std::move(it->second);
      streams_.erase(it);
    }
    auto n = nodes_.find(node);
    if (!node.empty() && n != nodes_.end() && n->second.stream == s) {
      wasCurrent = true;
      n->second.stream = nullptr;
      n->second.info.connected = false;
      connectedGauge_.inc({}, -1);
      AgentEvent ev;
      ev.kind = AgentEventKind::Disconnected;
      ev.node = node;
      ev.receivedAt = clock_.wallNow();
      ev.detail = reason;
      pushEventLocked(std::move(ev));
    }
  }
  if (wasCurrent) {
    log_.info("agent disconnected", {{"node", node}, {"reason", reason}});
    notify();
  }
  // `owned` (== s) is destroyed here, after the last use of its members.
}

void PlanServer::Impl::countRefused(const std::string& reason, const std::string& peer) {
  refused_.inc({{"reason", reason}});
  log_.warn("agent refused", {{"peer", peer}, {"reason", reason}});
}

void PlanServer::Impl::pushEventLocked(AgentEvent ev) {
  if (options_.maxQueuedEvents > 0 && events_.size() >= options_.maxQueuedEvents) {
    events_.pop_front();
    dropped_.inc();
  }
  events_.push_back(std::move(ev));
}

// ------------------------------------------------------------------------ PlanServer

PlanServer::PlanServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PlanServer::~PlanServer() { shutdown(); }

Result<std::unique_ptr<PlanServer>> PlanServer::start(PlanServerOptions options, const Clock& clock, Logger logger,
                                                      Registry& metrics) {
  if (options.serverCertPem.empty() || options.serverKeyPem.empty()) {
    return makeError("planServer.serverCertPem/serverKeyPem: TLS certificate and key are required");
  }
  if (options.agentToken.empty() && options.clientCaPem.empty()) {
    return makeError("planServer.agentToken: a token or a clientCaPem is required to authenticate agents");
  }
  grpc::SslServerCredentialsOptions ssl(options.clientCaPem.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = options.clientCaPem;
  ssl.pem_key_cert_pairs.push_back({options.serverKeyPem, options.serverCertPem});

  auto impl = std::make_unique<Impl>(options, clock, std::move(logger), metrics);
  impl->token_ = options.agentToken;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listenAddress, grpc::SslServerCredentials(ssl), &impl->port_);
  builder.RegisterService(impl.get());
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(duration_cast<milliseconds>(options.keepaliveTime).count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(duration_cast<milliseconds>(options.keepaliveTimeout).count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Agents ping too (PlanClient keepalive); accept pings down to 5 s apart.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  impl->server_ = builder.BuildAndStart();
  if (!impl->server_ || impl->port_ == 0) {
    return makeError("planServer.listenAddress: cannot listen on \"" + options.listenAddress +
                         "\" (in use, bad address, or bad TLS material)",
                     true);
  }
  impl->log_.info("plan server listening", {{"port", impl->port_}, {"epoch", impl->epoch_}});
  return std::make_unique<PlanServer>(std::move(impl));
}

int PlanServer::port() const { return impl_->port_; }
const std::string& PlanServer::epoch() const { return impl_->epoch_; }

uint64_t PlanServer::publish(const std::string& node, std::vector<v1::Vhost> vhosts, bool draining) {
  std::sort(vhosts.begin(), vhosts.end(), [](const v1::Vhost& a, const v1::Vhost& b) { return a.vhid() < b.vhid(); });
  std::string key = contentKey(vhosts, draining, node);
  AgentStream* stream = nullptr;
  std::shared_ptr<const v1::ControllerMessage> msg;
  uint64_t generation;
  {
    std::lock_guard lock(impl_->mu_);
    auto& n = impl_->nodes_[node];
    n.info.node = node;
    if (n.current && n.contentKey == key) {
      return n.generation;
    }
    generation = ++n.generation;
    n.info.publishedGeneration = generation;
    n.contentKey = std::move(key);
    auto built = std::make_shared<v1::ControllerMessage>();
    v1::Snapshot* s = built->mutable_snapshot();
    s->set_controller_epoch(impl_->epoch_);
    s->set_generation(generation);
    s->set_node_name(node);
    s->set_draining(draining);
    for (auto& v : vhosts) {
      *s->add_vhosts() = std::move(v);
    }
    n.current = built;
    msg = std::move(built);
    stream = n.stream;
    // Pushing under mu_ keeps the stream alive (release() needs mu_) and the order of
    // generations on the wire equal to the order of publish() calls.
    if (stream != nullptr) {
      stream->push(msg);
    }
  }
  impl_->log_.info("snapshot published", {{"node", node},
                                          {"generation", generation},
                                          {"vhids", static_cast<uint64_t>(msg->snapshot().vhosts_size())},
                                          {"connected", stream != nullptr ? "true" : "false"}});
  return generation;
}

void PlanServer::forgetNode(const std::string& node) {
  std::lock_guard lock(impl_->mu_);
  auto it = impl_->nodes_.find(node);
  if (it == impl_->nodes_.end()) {
    return;
  }
  it->second.current.reset();
  it->second.contentKey.clear();
  it->second.info.publishedGeneration = 0;
  if (it->second.stream == nullptr) {
    impl_->nodes_.erase(it);
  }
}

bool PlanServer::agentHealthy(const std::string& node) const {
  std::lock_guard lock(impl_->mu_);
  auto it = impl_->nodes_.find(node);
  return it != impl_->nodes_.end() && it->second.stream != nullptr;
}

std::vector<AgentInfo> PlanServer::agents() const {
  std::lock_guard lock(impl_->mu_);
  std::vector<AgentInfo> out;
  out.reserve(impl_->nodes_.size());
  for (const auto& [name, n] : impl_->nodes_) {
    out.push_back(n.info);
  }
  return out;
}

std::optional<v1::Snapshot> PlanServer::snapshotFor(const std::string& node) const {
  std::lock_guard lock(impl_->mu_);
  auto it = impl_->nodes_.find(node);
  if (it == impl_->nodes_.end() || !it->second.current) {
    return std::nullopt;
  }
  return it->second.current->snapshot();
}

std::vector<AgentEvent> PlanServer::drainEvents() {
  std::lock_guard lock(impl_->mu_);
  std::vector<AgentEvent> out(std::make_move_iterator(impl_->events_.begin()),
                              std::make_move_iterator(impl_->events_.end()));
  impl_->events_.clear();
  return out;
}

void PlanServer::setAgentToken(std::string token) {
  std::lock_guard lock(impl_->mu_);
  impl_->token_ = std::move(token);
}

void PlanServer::shutdown() {
  if (!impl_ || !impl_->server_) {
    return;
  }
  {
    std::lock_guard lock(impl_->mu_);
    if (impl_->shutdown_) {
      return;
    }
    impl_->shutdown_ = true;
    for (auto& [ptr, owned] : impl_->streams_) {
      ptr->finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "controller shutting down"));
    }
  }
  impl_->server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->server_->Wait();
  impl_->log_.info("plan server stopped", {});
}

}  // namespace carplb::controller::rpc
