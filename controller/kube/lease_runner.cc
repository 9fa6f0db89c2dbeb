#include "controller/kube/lease_runner.h"

namespace carplb::controller::kube {

Result<std::unique_ptr<LeaseRunner>> LeaseRunner::create(RestClient& client, LeaderElectionConfig config,
                                                         Callbacks callbacks, Logger logger) {
  if (auto st = validate(config); !st) return st.error();
  return std::unique_ptr<LeaseRunner>(new LeaseRunner(client, std::move(config), std::move(callbacks), std::move(logger)));
}

LeaseRunner::LeaseRunner(RestClient& client, LeaderElectionConfig config, Callbacks callbacks, Logger logger)
    : client_(client), elector_(std::move(config)), callbacks_(std::move(callbacks)), logger_(std::move(logger)) {}

LeaseRunner::~LeaseRunner() { stop(); }

std::string LeaseRunner::leasePath() const {
  return apiPath("coordination.k8s.io", "v1", "leases", elector_.config().leaseNamespace, elector_.config().leaseName);
}

LeaseResponse LeaseRunner::execute(const LeaseRequest& req) {
  ApiResult<nlohmann::json> r = ApiError{};
  switch (req.op) {
    case LeaseOp::Get:
      r = client_.get(leasePath());
      break;
    case LeaseOp::Create:
      r = client_.create(apiPath("coordination.k8s.io", "v1", "leases", elector_.config().leaseNamespace), req.body);
      break;
    case LeaseOp::Update:
      r = client_.update(leasePath(), req.body);
      break;
  }
  if (!r.ok()) {
    switch (r.kind()) {
      case ApiErrorKind::NotFound: return LeaseResponse{LeaseResult::NotFound, std::nullopt};
      case ApiErrorKind::Conflict: return LeaseResponse{LeaseResult::Conflict, std::nullopt};
      default:
        logger_.warn("lease request failed", {{"op", toString(req.op)}, {"reason", r.error().message}});
        return LeaseResponse{LeaseResult::Failed, std::nullopt};
    }
  }
  auto lease = parseLease(std::move(*r));
  if (!lease.ok()) {
    logger_.warn("lease response unusable", {{"op", toString(req.op)}, {"reason", lease.error().message}});
    return LeaseResponse{LeaseResult::Failed, std::nullopt};
  }
  return LeaseResponse{LeaseResult::Ok, std::move(*lease)};
}

RoundOutcome LeaseRunner::runRound() {
  const Clock& clock = client_.clock();
  LeaseRequest req = elector_.beginRound(clock.now(), clock.wallNow());
  for (;;) {
    LeaseResponse resp = execute(req);
    RoundStep step = elector_.onResponse(clock.now(), clock.wallNow(), resp);
    if (step.outcome != RoundOutcome::Pending) {
      return step.outcome;
    }
    req = std::move(*step.next);
  }
}

void LeaseRunner::loop() {
  const Clock& clock = client_.clock();
  while (!stopping_.load()) {
    RoundOutcome o = runRound();
    bool nowLeader = elector_.isLeader();
    if (nowLeader && elector_.renewDeadlineExceeded(clock.now())) {
      logger_.warn("failed to renew lease within the renew deadline, stepping down",
                   {{"lease", elector_.config().leaseName}});
      elector_.stepDown();
      nowLeader = false;
    }
    if (nowLeader != leader_.load()) {
      leader_.store(nowLeader);
      logger_.info(nowLeader ? "started leading" : "stopped leading",
                   {{"lease", elector_.config().leaseName}, {"identity", elector_.config().identity},
                    {"reason", toString(o)}});
      if (nowLeader && callbacks_.onStartedLeading) callbacks_.onStartedLeading();
      if (!nowLeader && callbacks_.onStoppedLeading) callbacks_.onStoppedLeading();
    }
    if (elector_.observedHolder() != lastHolder_) {
      lastHolder_ = elector_.observedHolder();
      if (callbacks_.onNewLeader) callbacks_.onNewLeader(lastHolder_);
    }
    Duration wait = elector_.config().retryPeriod;
    wait += std::chrono::duration_cast<Duration>(wait * (0.2 * random_.uniform01()));
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [this] { return stopping_.load(); });
  }
}

void LeaseRunner::start() {
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { loop(); });
  }
}

void LeaseRunner::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (auto rel = elector_.releaseRequest(client_.clock().wallNow())) {
    auto r = execute(*rel);
    logger_.info("released lease", {{"lease", elector_.config().leaseName},
                                    {"ok", r.result == LeaseResult::Ok ? "true" : "false"}});
    elector_.stepDown();
    if (leader_.exchange(false) && callbacks_.onStoppedLeading) callbacks_.onStoppedLeading();
  }
}

}  // namespace carplb::controller::kube
