#include "controller/core/eligibility.h"

#include <gtest/gtest.h>

#include <functional>

namespace carplb::controller::core {
namespace {

TEST(EligibilityTest, SelectsServicesByTypeAndClass) {
  ControllerConfig c;
  ServiceInput s;
  s.type = "LoadBalancer";
  s.loadBalancerClass = "carplb.io/carp";
  EXPECT_EQ(selectService(s, c), ServiceSelection::Managed);
  s.loadBalancerClass = "metallb.io/metallb";
  EXPECT_EQ(selectService(s, c), ServiceSelection::OtherClass);
  s.loadBalancerClass.reset();
  EXPECT_EQ(selectService(s, c), ServiceSelection::OtherClass);
  c.defaultClass = true;
  EXPECT_EQ(selectService(s, c), ServiceSelection::Managed);
  s.type = "ClusterIP";
  EXPECT_EQ(selectService(s, c), ServiceSelection::NotLoadBalancer);
  s.type = "typeValue";  // fixture junk
  EXPECT_EQ(selectService(s, c), ServiceSelection::NotLoadBalancer);
  s.type = "LoadBalancer";
  s.deleting = true;
  EXPECT_EQ(selectService(s, c), ServiceSelection::Deleting);
}

TEST(EligibilityTest, NodeEligibilityTable) {
  ControllerConfig c;
  c.nodeSelector = {{"carplb.io/speaker", "true"}};
  auto node = [] {
    NodeInput n;
    n.name = "n1";
    n.ready = true;
    n.labels = {{"carplb.io/speaker", "true"}};
    return n;
  };
  struct Case {
    std::string name;
    std::function<void(NodeInput&)> edit;
    NodeEligibility want;
  };
  const std::vector<Case> cases = {
      {"healthy", [](NodeInput&) {}, NodeEligibility::Eligible},
      {"not ready", [](NodeInput& n) { n.ready = false; }, NodeEligibility::NotReady},
      {"unreachable taint", [](NodeInput& n) { n.taints = {{"node.kubernetes.io/unreachable", "NoExecute"}}; },
       NodeEligibility::NotReady},
      {"cordoned", [](NodeInput& n) { n.unschedulable = true; }, NodeEligibility::Unschedulable},
      {"unschedulable taint", [](NodeInput& n) { n.taints = {{"node.kubernetes.io/unschedulable", "NoSchedule"}}; },
       NodeEligibility::Unschedulable},
      {"draining", [](NodeInput& n) { n.draining = true; }, NodeEligibility::Draining},
      {"autoscaler delete", [](NodeInput& n) { n.taints = {{"ToBeDeletedByClusterAutoscaler", "NoSchedule"}}; },
       NodeEligibility::Draining},
      {"exclude label", [](NodeInput& n) { n.labels[std::string(ExcludeFromLoadBalancersLabel)] = ""; },
       NodeEligibility::Excluded},
      {"selector mismatch", [](NodeInput& n) { n.labels["carplb.io/speaker"] = "false"; }, NodeEligibility::Excluded},
      {"selector missing", [](NodeInput& n) { n.labels.clear(); }, NodeEligibility::Excluded},
      {"other taint is fine", [](NodeInput& n) { n.taints = {{"dedicated", "NoSchedule"}}; },
       NodeEligibility::Eligible},
  };
  for (const auto& k : cases) {
    NodeInput n = node();
    k.edit(n);
    EXPECT_EQ(nodeEligibility(n, c), k.want) << k.name << " got " << toString(nodeEligibility(n, c));
  }
  EXPECT_EQ(moveReason(NodeEligibility::NotReady), "NodeNotReady");
  EXPECT_EQ(moveReason(NodeEligibility::Draining), "NodeDraining");
}

}  // namespace
}  // namespace carplb::controller::core
