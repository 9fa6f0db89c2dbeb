#pragma once
// Lease-based leader election, decision logic only (kubernetes-api.md "Leader election",
// client-go tools/leaderelection). The shell (controller/kube/lease_runner.h) executes the
// requests this returns against coordination.k8s.io/v1 and feeds the answers back.
//
// One round:
//   beginRound(now) -> Update (fast path: I lead and my last observation is fresh)
//                    | Get
//   onResponse(...) after Get: 404 -> Create; record changed -> note local observation time;
//                    held by someone else and observation + leaseDuration in the future
//                    -> HeldByOther; else Update with the fetched resourceVersion
//                    (transitions+1 when the holder changes, acquireTime kept when it was me).
//   A failed fast-path Update falls back to Get in the same round.
// Only local monotonic observation times decide expiry (immune to clock offsets between
// nodes); wall time is used only to fill acquireTime/renewTime.
//
// Not thread-safe: one owner (the runner thread).
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "common/clock.h"
#include "controller/kube/model/resources.h"

namespace carplb::controller::kube {

struct LeaderElectionConfig {
  std::string leaseNamespace;
  std::string leaseName;
  std::string identity;
  Duration leaseDuration = std::chrono::seconds(15);
  Duration renewDeadline = std::chrono::seconds(10);
  Duration retryPeriod = std::chrono::seconds(2);
};

// Errors name the field: "leaderElection.renewDeadline: must be shorter than leaseDuration".
Status validate(const LeaderElectionConfig& c);

struct LeaseRecord {
  std::string holderIdentity;
  int64_t leaseDurationSeconds = 0;
  std::string acquireTime;
  std::string renewTime;
  int64_t leaseTransitions = 0;
  bool operator==(const LeaseRecord&) const = default;
};

LeaseRecord leaseRecordOf(const Lease& lease);
// `base` with spec set from `record` (other fields of base preserved).
nlohmann::json withLeaseRecord(nlohmann::json base, const LeaseRecord& record);

enum class LeaseOp { Get, Create, Update };
std::string_view toString(LeaseOp op);

struct LeaseRequest {
  LeaseOp op = LeaseOp::Get;
  nlohmann::json body;          // Create/Update: the full Lease to send (Update carries the RV)
  std::string resourceVersion;  // Update: precondition (also inside body.metadata)
};

enum class LeaseResult { Ok, NotFound, Conflict, Failed };

struct LeaseResponse {
  LeaseResult result = LeaseResult::Failed;
  std::optional<Lease> lease;  // the object the server returned, when result == Ok
};

enum class RoundOutcome {
  Pending,      // `next` holds the following request of this round
  Acquired,     // became leader
  Renewed,      // still leader, renewed
  HeldByOther,  // another holder's lease is still valid (from our local observation)
  Failed,       // API error/conflict; retry after retryPeriod
};
std::string_view toString(RoundOutcome o);

struct RoundStep {
  RoundOutcome outcome = RoundOutcome::Pending;
  std::optional<LeaseRequest> next;
};

class LeaderElector {
public:
  explicit LeaderElector(LeaderElectionConfig config) : cfg_(std::move(config)) {}

  LeaseRequest beginRound(TimePoint now, WallTime wallNow);
  RoundStep onResponse(TimePoint now, WallTime wallNow, const LeaseResponse& response);

  bool isLeader() const { return leader_; }
  // I lead but have not renewed for renewDeadline: stop leading.
  bool renewDeadlineExceeded(TimePoint now) const;
  // Marks leadership lost (after renewDeadlineExceeded or on shutdown).
  void stepDown() { leader_ = false; }
  // The PUT that releases the lease on clean shutdown (holder "", duration 1 s); nullopt
  // unless leading.
  std::optional<LeaseRequest> releaseRequest(WallTime wallNow) const;

  const std::string& observedHolder() const { return observed_.holderIdentity; }
  std::optional<TimePoint> observedTime() const { return observedTime_; }
  const LeaderElectionConfig& config() const { return cfg_; }

private:
  LeaseRequest updateRequest(const LeaseRecord& r) const;
  void observe(const Lease& lease, TimePoint now);
  int64_t durationSeconds() const;

  LeaderElectionConfig cfg_;
  std::optional<LeaseOp> pending_;
  bool fastPath_ = false;
  bool leader_ = false;
  LeaseRecord observed_;
  bool haveObserved_ = false;
  nlohmann::json observedRaw_;
  std::string observedRv_;
  std::optional<TimePoint> observedTime_;
  std::optional<TimePoint> lastRenew_;
};

}  // namespace carplb::controller::kube
