// The reference daemons in the lab (what the benchmark compares carplb-agent with): ucarp and
// keepalived fail over as expected, as seen by the client's probes. Also proves the lab
// carries CARP/VRRP multicast between nodes.
#include "tests/e2e/e2e_helpers.h"

namespace carplb::e2e::testing {
namespace {

TEST(Reference, UcarpPairFailsOverOnCrashAndWrongPasswordNeverTakesOver) {
  const std::string vip = vipAddress(0);
  auto env = makeLabEnv("ucarp", 3, {vip});
  ASSERT_TRUE(env);
  auto& lab = *env->lab;
  VirtualHost vh;
  vh.vhid = 10;
  vh.password = "secret";
  vh.vips = {vip};
  vh.advbase = 1;
  vh.advskew = 0;
  auto master = startUcarp(lab, lab.node(1), vh);
  ASSERT_TRUE(master.ok()) << master.error().message;
  vh.advskew = 100;
  auto backup = startUcarp(lab, lab.node(2), vh);
  ASSERT_TRUE(backup.ok()) << backup.error().message;
  ASSERT_TRUE(env->waitAnswerer(vip, "node1", 10s)) << describeSince(*env, vip, 0s) << "\n" << master->log();

  // A foreign speaker: same vhid, better advskew, preempt, wrong password. Its up script
  // does nothing, so only its adverts could move anything. They must not.
  VirtualHost foreign = vh;
  foreign.password = "wrong";
  foreign.advskew = 0;
  foreign.advbase = 0;
  foreign.advskew = 10;
  auto noUp = lab.writeFile("noop.sh", "#!/bin/sh\nexit 0\n", 0755);
  ASSERT_TRUE(noUp.ok());
  auto spoof = lab.spawn(lab.node(3), {"ucarp", "-i", "carplb-eth0", "-s", lab.node(3).address, "-v", "10", "-p",
                                       "wrong", "-a", vip, "-b", "0", "-k", "10", "-P", "-u", *noUp, "-d", *noUp},
                         "ucarp-foreign.log");
  ASSERT_TRUE(spoof.ok());
  auto spoofStart = env->prober->elapsed();
  std::this_thread::sleep_for(2s);
  env->settle();
  auto during = env->since(vip, spoofStart);
  EXPECT_EQ(during.lost, 0u) << bench::probe::describe(during);
  EXPECT_EQ(during.moves, 0u) << bench::probe::describe(during);
  EXPECT_EQ(during.lastResponder, "node1");
  spoof->kill();

  // Crash of the master: SIGKILL + link down. ucarp's backup needs 3 * advbase.
  auto crash = env->prober->elapsed();
  master->kill();
  ASSERT_TRUE(lab.linkDown(lab.node(1)).ok());
  ASSERT_TRUE(env->waitAnswerer(vip, "node2", 8s)) << describeSince(*env, vip, crash) << "\n" << backup->log();
  auto s = env->since(vip, crash);
  EXPECT_GT(s.longestOutage, 1500ms) << "ucarp cannot detect a dead master faster than ~3 s";
  EXPECT_LT(s.longestOutage, 6s) << bench::probe::describe(s);
  EXPECT_EQ(s.lastResponder, "node2");
}

TEST(Reference, KeepalivedPairFailsOverFastWithCentisecondAdverts) {
  const std::string vip = vipAddress(1);
  auto env = makeLabEnv("kad", 2, {vip});
  ASSERT_TRUE(env);
  auto& lab = *env->lab;
  auto master = startKeepalived(lab, lab.node(1), 20, vip, {0.05, 200});
  ASSERT_TRUE(master.ok()) << master.error().message;
  ASSERT_TRUE(env->waitAnswerer(vip, "node1", 10s)) << describeSince(*env, vip, 0s) << "\n" << master->log();
  auto backup = startKeepalived(lab, lab.node(2), 20, vip, {0.05, 100});
  ASSERT_TRUE(backup.ok()) << backup.error().message;
  std::this_thread::sleep_for(1s);  // let the backup settle as BACKUP

  auto crash = env->prober->elapsed();
  master->kill();
  ASSERT_TRUE(lab.linkDown(lab.node(1)).ok());
  ASSERT_TRUE(env->waitAnswerer(vip, "node2", 5s)) << describeSince(*env, vip, crash) << "\n" << backup->log();
  auto s = env->since(vip, crash);
  EXPECT_LT(s.longestOutage, 1s) << bench::probe::describe(s);
  EXPECT_EQ(s.lastResponder, "node2");
}

}  // namespace
}  // namespace carplb::e2e::testing
