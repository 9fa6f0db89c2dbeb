// carplb-agent and ucarp 1.5.2 on the same vhid and password, both directions, failover both
// ways. ucarp does not support sub-second advbase reliably, so these run at advbase 1
// (master-down ~3 s): about 25 s in all.
#include "tests/e2e/agent_helpers.h"

namespace carplb::e2e::testing {
namespace {

const std::string Vip = vipAddress(5);
constexpr int Vhid = 42;
const std::string Password = "interop";

class AgentUcarpInterop : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(AgentBinary.empty());
    env_ = makeLabEnv("interop", 2, {Vip});
    ASSERT_TRUE(env_);
  }
  Lab& lab() { return *env_->lab; }

  VirtualHost vhost(int advskew) const {
    VirtualHost vh;
    vh.vhid = Vhid;
    vh.password = Password;
    vh.vips = {Vip};
    vh.advbase = 1;
    vh.advskew = advskew;
    vh.preempt = true;
    return vh;
  }
  Process agent(int node, int advskew) {
    AgentOptions ao;
    ao.binary = AgentBinary;
    ao.statusPort = StatusPort;
    ao.logLevel = "debug";
    ao.vhosts = {vhost(advskew)};
    auto p = startAgent(lab(), lab().node(node), ao, "agent-node" + std::to_string(node) + "-" + std::to_string(++n_) + ".log");
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p ? std::move(*p) : Process();
  }
  Process ucarp(int node, int advskew) {
    auto p = startUcarp(lab(), lab().node(node), vhost(advskew), "ucarp-node" + std::to_string(node) + "-" + std::to_string(++n_) + ".log");
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p ? std::move(*p) : Process();
  }
  std::string logs(Process& a, Process& b, Duration from) {
    return describeSince(*env_, Vip, from) + "\n--- " + a.logPath() + "\n" + a.log().substr(0, 5000) + "\n--- " +
           b.logPath() + "\n" + b.log().substr(0, 5000);
  }

  std::unique_ptr<LabEnv> env_;
  int n_ = 0;
};

TEST_F(AgentUcarpInterop, CarplbMasterUcarpBackupFailoverBothWays) {
  Process carplb = agent(1, 0);
  ASSERT_TRUE(env_->waitAnswerer(Vip, "node1", 10s)) << describeSince(*env_, Vip, 0s) << carplb.log();
  Process u = ucarp(2, 100);
  std::this_thread::sleep_for(2500ms);
  ASSERT_EQ(env_->steadyAnswerer(Vip), "node1") << "ucarp must accept carplb's adverts and stay backup: "
                                                << logs(carplb, u, 0s);
  ASSERT_EQ(agentState(lab().node(1), Vhid), "MASTER") << stateDump(lab().node(1));

  // carplb crashes: ucarp takes over (3 x advbase).
  auto crash = env_->prober->elapsed();
  carplb.kill();
  ASSERT_TRUE(lab().linkDown(lab().node(1)).ok());
  ASSERT_TRUE(env_->waitAnswerer(Vip, "node2", 8s)) << logs(carplb, u, crash);

  // carplb returns with the better advskew and preempts ucarp, which must step down.
  auto back = env_->prober->elapsed();
  ASSERT_TRUE(lab().flushVips(lab().node(1)).ok());  // the crashed node rebooted
  ASSERT_TRUE(lab().linkUp(lab().node(1)).ok());
  carplb = agent(1, 0);
  ASSERT_TRUE(env_->waitAnswerer(Vip, "node1", 8s)) << logs(carplb, u, back);
  ASSERT_TRUE(waitUntil([&] { return lab().hasAddress(lab().node(2), Vip).ok() && !*lab().hasAddress(lab().node(2), Vip); }, 3s))
      << "ucarp must run its down script";
  ASSERT_TRUE(waitState(lab().node(1), Vhid, "MASTER", 2s)) << stateDump(lab().node(1));
}

TEST_F(AgentUcarpInterop, UcarpMasterCarplbBackupFailoverBothWays) {
  Process u = ucarp(1, 0);
  ASSERT_TRUE(env_->waitAnswerer(Vip, "node1", 10s)) << describeSince(*env_, Vip, 0s) << u.log();
  Process carplb = agent(2, 100);
  ASSERT_TRUE(waitState(lab().node(2), Vhid, "BACKUP", 5s)) << stateDump(lab().node(2));
  std::this_thread::sleep_for(2500ms);
  ASSERT_EQ(env_->steadyAnswerer(Vip), "node1") << "carplb must accept ucarp's adverts: " << logs(u, carplb, 0s);
  ASSERT_EQ(agentState(lab().node(2), Vhid), "BACKUP") << stateDump(lab().node(2));

  // ucarp crashes: carplb takes over.
  auto crash = env_->prober->elapsed();
  u.kill();
  ASSERT_TRUE(lab().linkDown(lab().node(1)).ok());
  ASSERT_TRUE(env_->waitAnswerer(Vip, "node2", 8s)) << logs(u, carplb, crash);
  ASSERT_TRUE(waitState(lab().node(2), Vhid, "MASTER", 2s)) << stateDump(lab().node(2));

  // ucarp returns with the better advskew and preempts: carplb steps down and unbinds.
  auto back = env_->prober->elapsed();
  ASSERT_TRUE(lab().flushVips(lab().node(1)).ok());  // the crashed node rebooted
  ASSERT_TRUE(lab().linkUp(lab().node(1)).ok());
  u = ucarp(1, 0);
  ASSERT_TRUE(env_->waitAnswerer(Vip, "node1", 8s)) << logs(u, carplb, back);
  ASSERT_TRUE(waitState(lab().node(2), Vhid, "BACKUP", 3s)) << stateDump(lab().node(2));
  auto n2 = lab().hasAddress(lab().node(2), Vip);
  ASSERT_TRUE(n2.ok());
  EXPECT_FALSE(*n2) << "carplb must unbind the VIP when it steps down";
}

}  // namespace
}  // namespace carplb::e2e::testing
