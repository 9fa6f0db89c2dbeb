#pragma once
// SHELL: carplb-controller's engine. Wires informers, the work queue, the pure core
// (annotations -> intents -> pools -> planner -> desired writes), the API writes, Events, the
// agents' PlanServer and the agents' reports together.
//
// Level-triggered: every informer event and every agent report only queues the key "sync";
// one worker thread recomputes the whole desired state from the caches (the planner takes the
// previous placement from the VirtualIP objects, so a restart moves nothing) and applies the
// difference. Nothing is planned before every informer has synced (WaitForCacheSync), and
// nothing is written unless this replica leads.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"
#include "controller/app/controller_config.h"
#include "controller/grpc/plan_server.h"
#include "controller/kube/event_recorder.h"
#include "controller/kube/informer.h"
#include "controller/kube/model/work_queue.h"
#include "controller/kube/rest_client.h"

namespace carplb::controller::app {

struct ControllerOptions {
  ControllerFileConfig config;
  std::string carpSecret;              // per-vhid keys are derived from it ("" without agents)
  Duration resyncPeriod = std::chrono::minutes(5);
  // A node whose agent has been gone this long gets no new masters (its VIPs move). Also the
  // time given to agents to connect after the controller starts leading.
  Duration agentGracePeriod = std::chrono::seconds(20);
  std::string component = "carplb-controller";
};

class Controller {
public:
  // `planServer` may be null (no agents: planning and status only).
  Controller(kube::RestClient& client, rpc::PlanServer* planServer, ControllerOptions options, const Clock& clock,
             Logger log, Registry& metrics);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts informers and the worker. Reconciles only while leading (setLeading).
  void start();
  void stop();
  void setLeading(bool leading);

  bool synced() const;
  bool ready() const { return leading_.load() && synced(); }
  // Agent reports arrived (PlanServer onEvents): queue a sync. Never blocks.
  void poke();
  std::string stateJson() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> leading_{false};
};

}  // namespace carplb::controller::app
