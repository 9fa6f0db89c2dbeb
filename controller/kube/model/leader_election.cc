#include "controller/kube/model/leader_election.h"

#include "controller/kube/model/time_format.h"

namespace carplb::controller::kube {

Status validate(const LeaderElectionConfig& c) {
  if (c.leaseName.empty()) return makeError("leaderElection.leaseName: must not be empty");
  if (c.leaseNamespace.empty()) return makeError("leaderElection.leaseNamespace: must not be empty");
  if (c.identity.empty()) return makeError("leaderElection.identity: must not be empty");
  if (c.leaseDuration < std::chrono::seconds(1)) return makeError("leaderElection.leaseDuration: must be at least 1s");
  if (c.renewDeadline >= c.leaseDuration) {
    return makeError("leaderElection.renewDeadline: must be shorter than leaseDuration");
  }
  if (c.retryPeriod <= Duration::zero() || c.retryPeriod >= c.renewDeadline) {
    return makeError("leaderElection.retryPeriod: must be positive and shorter than renewDeadline");
  }
  return okStatus();
}

LeaseRecord leaseRecordOf(const Lease& l) {
  return LeaseRecord{l.holderIdentity, l.leaseDurationSeconds.value_or(0), l.acquireTime, l.renewTime,
                     l.leaseTransitions};
}

nlohmann::json withLeaseRecord(nlohmann::json base, const LeaseRecord& r) {
  if (!base.is_object()) base = nlohmann::json::object();
  nlohmann::json& spec = base["spec"];
  if (!spec.is_object()) spec = nlohmann::json::object();
  spec["holderIdentity"] = r.holderIdentity;
  spec["leaseDurationSeconds"] = r.leaseDurationSeconds;
  spec["acquireTime"] = r.acquireTime;
  spec["renewTime"] = r.renewTime;
  spec["leaseTransitions"] = r.leaseTransitions;
  return base;
}

std::string_view toString(LeaseOp op) {
  switch (op) {
    case LeaseOp::Get: return "Get";
    case LeaseOp::Create: return "Create";
    case LeaseOp::Update: break;
  }
  return "Update";
}

std::string_view toString(RoundOutcome o) {
  switch (o) {
    case RoundOutcome::Pending: return "Pending";
    case RoundOutcome::Acquired: return "Acquired";
    case RoundOutcome::Renewed: return "Renewed";
    case RoundOutcome::HeldByOther: return "HeldByOther";
    case RoundOutcome::Failed: break;
  }
  return "Failed";
}

int64_t LeaderElector::durationSeconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(cfg_.leaseDuration).count();
}

LeaseRequest LeaderElector::updateRequest(const LeaseRecord& r) const {
  nlohmann::json body = withLeaseRecord(observedRaw_, r);
  body["apiVersion"] = "coordination.k8s.io/v1";
  body["kind"] = "Lease";
  body["metadata"]["name"] = cfg_.leaseName;
  body["metadata"]["namespace"] = cfg_.leaseNamespace;
  body["metadata"]["resourceVersion"] = observedRv_;
  return LeaseRequest{LeaseOp::Update, std::move(body), observedRv_};
}

void LeaderElector::observe(const Lease& lease, TimePoint now) {
  LeaseRecord r = leaseRecordOf(lease);
  if (!haveObserved_ || r != observed_) {
    observedTime_ = now;
  }
  observed_ = std::move(r);
  haveObserved_ = true;
  observedRaw_ = lease.raw;
  observedRv_ = lease.meta.resourceVersion;
}

LeaseRequest LeaderElector::beginRound(TimePoint now, WallTime wallNow) {
  fastPath_ = false;
  if (leader_ && observedTime_ && *observedTime_ + cfg_.leaseDuration > now) {
    LeaseRecord r = observed_;
    r.holderIdentity = cfg_.identity;
    r.leaseDurationSeconds = durationSeconds();
    r.renewTime = formatMicroTime(wallNow);
    fastPath_ = true;
    pending_ = LeaseOp::Update;
    return updateRequest(r);
  }
  pending_ = LeaseOp::Get;
  return LeaseRequest{LeaseOp::Get, {}, {}};
}

RoundStep LeaderElector::onResponse(TimePoint now, WallTime wallNow, const LeaseResponse& resp) {
  if (!pending_) {
    return RoundStep{RoundOutcome::Failed, std::nullopt};
  }
  LeaseOp op = *pending_;
  pending_.reset();
  bool okWithLease = resp.result == LeaseResult::Ok && resp.lease.has_value();

  if (op == LeaseOp::Create || op == LeaseOp::Update) {
    if (okWithLease) {
      observe(*resp.lease, now);
      observedTime_ = now;
      lastRenew_ = now;
      bool wasLeader = leader_;
      leader_ = true;
      return RoundStep{wasLeader ? RoundOutcome::Renewed : RoundOutcome::Acquired, std::nullopt};
    }
    if (op == LeaseOp::Update && fastPath_) {
      fastPath_ = false;
      pending_ = LeaseOp::Get;  // slow path: re-read and decide again
      return RoundStep{RoundOutcome::Pending, LeaseRequest{LeaseOp::Get, {}, {}}};
    }
    return RoundStep{RoundOutcome::Failed, std::nullopt};
  }

  // op == Get
  if (resp.result == LeaseResult::NotFound) {
    std::string t = formatMicroTime(wallNow);
    LeaseRecord r{cfg_.identity, durationSeconds(), t, t, 0};
    nlohmann::json body = withLeaseRecord(nlohmann::json::object(), r);
    body["apiVersion"] = "coordination.k8s.io/v1";
    body["kind"] = "Lease";
    body["metadata"] = {{"name", cfg_.leaseName}, {"namespace", cfg_.leaseNamespace}};
    pending_ = LeaseOp::Create;
    return RoundStep{RoundOutcome::Pending, LeaseRequest{LeaseOp::Create, std::move(body), {}}};
  }
  if (!okWithLease) {
    return RoundStep{RoundOutcome::Failed, std::nullopt};
  }
  observe(*resp.lease, now);
  const LeaseRecord& old = observed_;
  Duration validFor = old.leaseDurationSeconds > 0 ? Duration(std::chrono::seconds(old.leaseDurationSeconds))
                                                   : cfg_.leaseDuration;
  if (!old.holderIdentity.empty() && old.holderIdentity != cfg_.identity && *observedTime_ + validFor > now) {
    leader_ = false;
    return RoundStep{RoundOutcome::HeldByOther, std::nullopt};
  }
  std::string t = formatMicroTime(wallNow);
  LeaseRecord r{cfg_.identity, durationSeconds(), t, t, old.leaseTransitions};
  if (old.holderIdentity == cfg_.identity) {
    r.acquireTime = old.acquireTime;
  } else {
    r.leaseTransitions = old.leaseTransitions + 1;
  }
  pending_ = LeaseOp::Update;
  return RoundStep{RoundOutcome::Pending, updateRequest(r)};
}

bool LeaderElector::renewDeadlineExceeded(TimePoint now) const {
  return leader_ && lastRenew_ && now - *lastRenew_ >= cfg_.renewDeadline;
}

std::optional<LeaseRequest> LeaderElector::releaseRequest(WallTime wallNow) const {
  if (!leader_) {
    return std::nullopt;
  }
  std::string t = formatMicroTime(wallNow);
  LeaseRecord r{"", 1, t, t, observed_.leaseTransitions};
  return updateRequest(r);
}

}  // namespace carplb::controller::kube
