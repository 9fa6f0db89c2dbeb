#pragma once
// SHELL: runs LeaderElector rounds against coordination.k8s.io/v1 Leases (a thin executor of
// the pure decisions in model/leader_election.h).
//
// One thread: every retryPeriod (jittered up to +20%) it runs a round; onStartedLeading fires
// when the lease is acquired, onStoppedLeading when leadership is lost (another holder, or no
// successful renewal within renewDeadline). stop() releases the lease (holderIdentity "",
// leaseDurationSeconds 1) if we hold it, then joins. Callbacks run on the runner thread and
// must not block for long (the process usually exits on onStoppedLeading).
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/random.h"
#include "controller/kube/model/leader_election.h"
#include "controller/kube/rest_client.h"

namespace carplb::controller::kube {

class LeaseRunner {
public:
  struct Callbacks {
    std::function<void()> onStartedLeading;
    std::function<void()> onStoppedLeading;
    std::function<void(const std::string& holder)> onNewLeader;  // optional
  };
  // config must pass validate(); create() checks it.
  static Result<std::unique_ptr<LeaseRunner>> create(RestClient& client, LeaderElectionConfig config,
                                                     Callbacks callbacks, Logger logger);
  ~LeaseRunner();

  void start();
  // Releases the lease if leading, stops the thread. Idempotent.
  void stop();
  bool isLeader() const { return leader_.load(); }

  // One round, synchronously (used by the thread; public for tests).
  RoundOutcome runRound();

private:
  LeaseRunner(RestClient& client, LeaderElectionConfig config, Callbacks callbacks, Logger logger);
  LeaseResponse execute(const LeaseRequest& req);
  void loop();
  std::string leasePath() const;

  RestClient& client_;
  LeaderElector elector_;
  Callbacks callbacks_;
  Logger logger_;
  SystemRandom random_;
  std::atomic<bool> leader_{false};
  std::atomic<bool> stopping_{false};
  std::string lastHolder_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace carplb::controller::kube
