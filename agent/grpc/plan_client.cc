#include "agent/grpc/plan_client.h"

#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/grpc/snapshot_file.h"
#include "carplb/v1/agent.grpc.pb.h"
#include "proto/redact.h"

namespace carplb::agent::rpc {

struct PlanClient::Stream {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>> rw;
};

Result<std::string> readTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeError(path + ": cannot read the token file: " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  const auto first = t.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return makeError(path + ": the token file is empty");
  }
  t = t.substr(first, t.find_last_not_of(" \t\r\n") - first + 1);
  for (unsigned char c : t) {
    if (c < 0x21 || c > 0x7e) {
      return makeError(path + ": the token contains a byte that is not printable ASCII");
    }
  }
  return t;
}

PlanClient::PlanClient(PlanClientOptions options, ApplyFn apply, Logger logger, Registry& metrics,
                       std::unique_ptr<Random> random)
    : options_(std::move(options)),
      apply_(std::move(apply)),
      log_(std::move(logger)),
      random_(std::move(random)),
      appliedTotal_(metrics.counter("carplb_agent_snapshots_applied_total", "Snapshots applied")),
      skippedTotal_(metrics.counter("carplb_agent_snapshots_unchanged_total",
                                    "Snapshots received again with the applied generation (not re-applied)")),
      errorTotal_(metrics.counter("carplb_agent_snapshot_errors_total", "Snapshots refused, by reason")),
      reconnectTotal_(metrics.counter("carplb_agent_plan_stream_ends_total", "Plan streams that ended, by reason")),
      connectedGauge_(metrics.gauge("carplb_agent_plan_stream_connected", "1 while the plan stream is up")) {}

PlanClient::~PlanClient() { stop(); }

Status PlanClient::start() {
  if (options_.target.empty()) {
    return makeError("planClient.target: must not be empty");
  }
  if (options_.caPem.empty()) {
    return makeError("planClient.caPem: the controller CA is required (TLS is mandatory)");
  }
  if (options_.hello.node_name().empty()) {
    return makeError("planClient.hello.node_name: must not be empty");
  }
  if (options_.token.empty() && options_.tokenFile.empty() && options_.clientCertPem.empty()) {
    return makeError("planClient.token: a token or a client certificate is required");
  }
  if (auto st = validateBackoffPolicy(options_.backoff); !st) {
    return makeError("planClient." + st.error().message);
  }
  if (!options_.snapshotPath.empty()) {
    auto loaded = loadSnapshotFile(options_.snapshotPath);
    if (!loaded) {
      log_.info("no persisted snapshot used", {{"reason", loaded.error().message}});
    } else if (loaded->node_name() != options_.hello.node_name()) {
      log_.warn("persisted snapshot ignored", {{"reason", "node_name_mismatch"}, {"node", loaded->node_name()}});
    } else if (auto st = apply_(*loaded); !st) {
      log_.warn("persisted snapshot not applied", {{"reason", st.error().message}});
    } else {
      std::lock_guard lock(mu_);
      appliedEpoch_ = loaded->controller_epoch();
      appliedGeneration_ = loaded->generation();
      applies_++;
      log_.info("running persisted snapshot (fail static)",
                {{"generation", loaded->generation()}, {"vhids", loaded->vhosts_size()}});
    }
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  token_ = options_.token;
  thread_ = std::thread([this] { run(); });
  return okStatus();
}

void PlanClient::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (stream_) {
      stream_->ctx.TryCancel();
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::pair<std::string, uint64_t> PlanClient::applied() const {
  std::lock_guard lock(mu_);
  return {appliedEpoch_, appliedGeneration_};
}

void PlanClient::run() {
  Backoff backoff(options_.backoff, *random_);
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        return;
      }
    }
    runStream();
    if (connected_.load()) {
      // A snapshot arrived on the stream that just ended: it was healthy.
      backoff.reset();
    }
    connected_ = false;
    connectedGauge_.set({}, 0);
    const Duration delay = backoff.nextDelay();
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, delay, [this] { return stopping_; })) {
      return;
    }
  }
}

void PlanClient::runStream() {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options_.caPem;
  ssl.pem_cert_chain = options_.clientCertPem;
  ssl.pem_private_key = options_.clientKeyPem;
  grpc::ChannelArguments args;
  if (!options_.tlsServerName.empty()) {
    args.SetSslTargetNameOverride(options_.tlsServerName);
  }
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(duration_cast<milliseconds>(options_.keepaliveTime).count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              static_cast<int>(duration_cast<milliseconds>(options_.keepaliveTimeout).count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // The channel's own reconnect backoff would add to ours; keep it short.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(options_.target, grpc::SslCredentials(ssl), args);
  auto stub = v1::AgentControl::NewStub(channel);

  if (!options_.tokenFile.empty()) {
    auto t = readTokenFile(options_.tokenFile);
    if (t) {
      token_ = std::move(*t);
    } else {
      log_.warn("cannot re-read the token file; using the last token read", {{"reason", t.error().message}});
    }
  }
  auto stream = std::make_shared<Stream>();
  if (!token_.empty()) {
    stream->ctx.AddMetadata("authorization", "Bearer " + token_);
  }
  v1::AgentMessage hello;
  *hello.mutable_hello() = options_.hello;
  if (options_.refreshHello) {
    options_.refreshHello(*hello.mutable_hello());
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      return;
    }
    stream_ = stream;  // from here on stop() can cancel it
    ready_ = false;
    hello.mutable_hello()->set_applied_controller_epoch(appliedEpoch_);
    hello.mutable_hello()->set_applied_generation(appliedGeneration_);
  }
  connects_++;
  stream->rw = stub->Connect(&stream->ctx);
  bool ok;
  {
    std::lock_guard wlock(writeMu_);
    ok = stream->rw->Write(hello) && flushPending(*stream);
  }
  v1::ControllerMessage in;
  while (ok && stream->rw->Read(&in)) {
    if (in.body_case() == v1::ControllerMessage::kSnapshot) {
      handleSnapshot(in.snapshot());
    } else {
      log_.debug("controller message ignored", {{"reason", "unknown_body"}});
    }
  }
  {
    std::lock_guard lock(mu_);
    stream_.reset();
    ready_ = false;
  }
  stream->rw->WritesDone();
  const grpc::Status status = stream->rw->Finish();
  const std::string reason = status.ok() ? "closed" : "code_" + std::to_string(static_cast<int>(status.error_code()));
  reconnectTotal_.inc({{"reason", reason}});
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
  }
  if (!stopping) {
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      log_.error("controller refused this agent's credentials",
                 {{"reason", reason}, {"detail", status.error_message()}, {"target", options_.target}});
    } else {
      log_.warn("plan stream ended, keeping the applied snapshot (fail static)",
                {{"reason", reason}, {"detail", status.error_message()}, {"target", options_.target}});
    }
  }
}

bool PlanClient::flushPending(Stream& stream) {
  for (;;) {
    v1::AgentMessage msg;
    {
      std::lock_guard lock(mu_);
      if (pending_.empty()) {
        ready_ = true;
        return true;
      }
      msg = std::move(pending_.front());
      pending_.pop_front();
    }
    if (!stream.rw->Write(msg)) {
      std::lock_guard lock(mu_);
      pending_.push_front(std::move(msg));
      return false;
    }
  }
}

void PlanClient::send(v1::AgentMessage msg) {
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(mu_);
    if (!ready_ || !stream_) {
      if (msg.body_case() == v1::AgentMessage::kAck) {
        return;  // acks are implied by the next Hello's applied_generation
      }
      pending_.push_back(std::move(msg));
      if (pending_.size() > MaxPendingReports) {
        pending_.pop_front();
      }
      return;
    }
    stream = stream_;
  }
  std::lock_guard wlock(writeMu_);
  if (!stream->rw->Write(msg) && msg.body_case() != v1::AgentMessage::kAck) {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(msg));
    if (pending_.size() > MaxPendingReports) {
      pending_.pop_front();
    }
  }
}

void PlanClient::reportStateChange(const v1::StateChange& change) {
  v1::AgentMessage msg;
  *msg.mutable_state_change() = change;
  send(std::move(msg));
}

void PlanClient::reportForeignSpeaker(const v1::ForeignSpeaker& speaker) {
  v1::AgentMessage msg;
  *msg.mutable_foreign_speaker() = speaker;
  send(std::move(msg));
}

void PlanClient::handleSnapshot(const v1::Snapshot& snapshot) {
  connected_ = true;
  connectedGauge_.set({}, 1);
  auto refuse = [&](const std::string& reason, const std::string& message) {
    errorTotal_.inc({{"reason", reason}});
    log_.warn("snapshot refused", {{"generation", snapshot.generation()}, {"reason", reason}, {"detail", message}});
    v1::AgentMessage msg;
    auto* e = msg.mutable_apply_error();
    e->set_controller_epoch(snapshot.controller_epoch());
    e->set_generation(snapshot.generation());
    e->set_message(message);
    send(std::move(msg));
  };
  if (auto st = validateAgentSnapshot(snapshot); !st) {
    refuse("invalid", st.error().message);
    return;
  }
  if (snapshot.node_name() != options_.hello.node_name()) {
    refuse("wrong_node", "snapshot.node_name: \"" + snapshot.node_name() + "\" is not this node \"" +
                             options_.hello.node_name() + "\"");
    return;
  }
  bool same;
  {
    std::lock_guard lock(mu_);
    same = snapshot.controller_epoch() == appliedEpoch_ && snapshot.generation() == appliedGeneration_;
  }
  if (!same) {
    if (log_.enabled(LogLevel::Debug)) {
      log_.debug("snapshot received", {{"snapshot", proto::redactedDebugString(snapshot)}});
    }
    if (auto st = apply_(snapshot); !st) {
      refuse("apply_failed", st.error().message);
      return;
    }
    applies_++;
    appliedTotal_.inc();
    {
      std::lock_guard lock(mu_);
      appliedEpoch_ = snapshot.controller_epoch();
      appliedGeneration_ = snapshot.generation();
    }
    if (!options_.snapshotPath.empty()) {
      if (auto st = saveSnapshotFile(options_.snapshotPath, snapshot); !st) {
        // Degraded: running it, but a restart without the controller would lose it.
        errorTotal_.inc({{"reason", "persist_failed"}});
        log_.warn("cannot persist snapshot", {{"reason", st.error().message}});
      }
    }
    log_.info("snapshot applied", {{"generation", snapshot.generation()},
                                   {"vhids", snapshot.vhosts_size()},
                                   {"draining", snapshot.draining() ? "true" : "false"}});
  } else {
    skippedTotal_.inc();
    log_.debug("snapshot unchanged, not re-applied", {{"generation", snapshot.generation()}});
  }
  v1::AgentMessage ack;
  ack.mutable_ack()->set_controller_epoch(snapshot.controller_epoch());
  ack.mutable_ack()->set_generation(snapshot.generation());
  send(std::move(ack));
}

}  // namespace carplb::agent::rpc
