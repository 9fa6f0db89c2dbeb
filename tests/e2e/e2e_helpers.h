#pragma once
// Shared pieces of the e2e tests: a lab with probe responders on every node and a prober in
// the client, and polling helpers (e2e tests wait for real events, with deadlines).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <map>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/probe/prober.h"
#include "tests/e2e/lab/daemons.h"
#include "tests/e2e/lab/netlab.h"

namespace carplb::e2e::testing {

using namespace std::chrono_literals;
using bench::probe::Prober;
using bench::probe::TargetSummary;

// Polls `pred` every 10 ms until it holds or `timeout` passes.
inline bool waitUntil(const std::function<bool()>& pred, Duration timeout) {
  auto deadline = MonoClock::now() + timeout;
  for (;;) {
    if (pred()) {
      return true;
    }
    if (MonoClock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
}

struct LabEnv {
  std::unique_ptr<Lab> lab;
  std::vector<std::unique_ptr<Responder>> responders;
  std::unique_ptr<Prober> prober;

  // Who answered the last `window` of probes to `target` (nullopt: not one single node, or losses).
  std::optional<std::string> steadyAnswerer(const std::string& target, Duration window = 200ms) const {
    size_t t = prober->targetIndex(target);
    auto s = prober->summarySince(t, prober->elapsed() - prober->options().timeout - window);
    if (s.sent == 0 || s.lost != 0 || s.segments.size() != 1) {
      return std::nullopt;
    }
    return s.segments.front().responder;
  }
  bool waitAnswerer(const std::string& target, const std::string& node, Duration timeout) const {
    return waitUntil([&] { return steadyAnswerer(target) == node; }, timeout);
  }
  TargetSummary since(const std::string& target, Duration from) const {
    return prober->summarySince(prober->targetIndex(target), from);
  }
  // Lets the probes sent so far resolve (answered or past their deadline).
  void settle() const { std::this_thread::sleep_for(prober->options().timeout + 20ms); }
};

// Builds the lab (FAILS the test when namespaces cannot be created), starts responders on
// every node and probes `targets` from the client every 10 ms.
inline std::unique_ptr<LabEnv> makeLabEnv(const std::string& tag, int nodes, const std::vector<std::string>& targets) {
  auto env = std::make_unique<LabEnv>();
  LabOptions o;
  o.tag = tag;
  o.nodes = nodes;
  auto lab = Lab::create(o);
  if (!lab) {
    ADD_FAILURE() << "cannot build the netns lab (e2e tests need root and network namespaces): "
                  << lab.error().message;
    return nullptr;
  }
  env->lab = std::move(*lab);
  for (int i = 1; i <= nodes; ++i) {
    auto r = Responder::start(env->lab->node(i), bench::probe::DefaultPort);
    if (!r) {
      ADD_FAILURE() << r.error().message;
      return nullptr;
    }
    env->responders.push_back(std::move(*r));
  }
  auto sock = env->lab->client().ns.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (!sock) {
    ADD_FAILURE() << sock.error().message;
    return nullptr;
  }
  bench::probe::ProberOptions po;
  po.targets = targets;
  auto p = Prober::start(po, std::move(*sock));
  if (!p) {
    ADD_FAILURE() << p.error().message;
    return nullptr;
  }
  env->prober = std::move(*p);
  return env;
}

inline std::string describeSince(const LabEnv& env, const std::string& target, Duration from) {
  return bench::probe::describe(env.since(target, from));
}

}  // namespace carplb::e2e::testing
