// agentConfigFromSnapshot: the claim flag (Vhost.claim) reaches the runtime's VhostConfig.
// The other fields are covered by ToAgentConfig.CopiesEveryField in plan_client_test.cc.
#include <gtest/gtest.h>

#include "agent/grpc/to_agent_config.h"

namespace carplb::agent::rpc {
namespace {

v1::Vhost vhost(uint32_t vhid, const char* vip) {
  v1::Vhost v;
  v.set_vhid(vhid);
  v.set_interface("eth0");
  v.add_vips(vip);
  v.set_advbase(0);
  v.set_advskew(20);
  v.set_preempt(true);
  v.set_auth_key("abcdefghijklmnopqrs");
  return v;
}

TEST(ToAgentConfigClaim, ClaimIsCopiedPerVhostAndDefaultsToFalse) {
  v1::Snapshot s;
  s.set_controller_epoch("e1");
  s.set_generation(1);
  *s.add_vhosts() = vhost(1, "192.0.2.200");
  *s.add_vhosts() = vhost(2, "192.0.2.201");
  s.mutable_vhosts(1)->set_claim(true);
  auto cfg = agentConfigFromSnapshot(s, config::AgentConfig{});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  ASSERT_EQ(cfg->vhids.size(), 2u);
  EXPECT_FALSE(cfg->vhids[0].claim) << "proto3 default: plain CARP startup";
  EXPECT_TRUE(cfg->vhids[1].claim);
  EXPECT_EQ(cfg->vhids[1].advbase, 0);
  EXPECT_EQ(cfg->vhids[1].advskew, 20);
}

}  // namespace
}  // namespace carplb::agent::rpc
