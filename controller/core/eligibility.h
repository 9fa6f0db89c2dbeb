#pragma once
// Which Services are ours, and which nodes may hold VIPs.
#include <string_view>

#include "controller/core/inputs.h"

namespace carplb::controller::core {

enum class ServiceSelection {
  Managed,          // type LoadBalancer with our class (or no class while we are the default)
  NotLoadBalancer,  // spec.type is not LoadBalancer
  OtherClass,       // another implementation's class, or no class while we are not the default
  Deleting,         // deletionTimestamp set: release and remove the finalizer
};
std::string_view toString(ServiceSelection s);
ServiceSelection selectService(const ServiceInput& svc, const ControllerConfig& config);

// Node label that keeps a node out of every external load balancer.
inline constexpr std::string_view ExcludeFromLoadBalancersLabel = "node.kubernetes.io/exclude-from-external-load-balancers";

enum class NodeEligibility {
  Eligible,
  NotReady,       // Ready condition not True, or not-ready/unreachable NoExecute taint
  Unschedulable,  // cordoned (spec.unschedulable or the unschedulable taint)
  Draining,       // being drained / deleted (shell flag, autoscaler or out-of-service taint)
  Excluded,       // exclude label, or does not match the node selector
};
std::string_view toString(NodeEligibility e);
NodeEligibility nodeEligibility(const NodeInput& node, const ControllerConfig& config);
// Reason (reasons.h) recorded when a VIP leaves a node for this cause.
std::string_view moveReason(NodeEligibility e);

}  // namespace carplb::controller::core
