#include "controller/core/eligibility.h"

#include "controller/core/reasons.h"

namespace carplb::controller::core {

std::string_view toString(ServiceSelection s) {
  switch (s) {
    case ServiceSelection::Managed:
      return "Managed";
    case ServiceSelection::NotLoadBalancer:
      return "NotLoadBalancer";
    case ServiceSelection::OtherClass:
      return "OtherClass";
    case ServiceSelection::Deleting:
      return "Deleting";
  }
  return "Unknown";
}

ServiceSelection selectService(const ServiceInput& svc, const ControllerConfig& config) {
  if (svc.type != "LoadBalancer") {
    return ServiceSelection::NotLoadBalancer;
  }
  if (svc.loadBalancerClass ? *svc.loadBalancerClass != config.loadBalancerClass : !config.defaultClass) {
    return ServiceSelection::OtherClass;
  }
  if (svc.deleting) {
    return ServiceSelection::Deleting;
  }
  return ServiceSelection::Managed;
}

std::string_view toString(NodeEligibility e) {
  switch (e) {
    case NodeEligibility::Eligible:
      return "Eligible";
    case NodeEligibility::NotReady:
      return "NotReady";
    case NodeEligibility::Unschedulable:
      return "Unschedulable";
    case NodeEligibility::Draining:
      return "Draining";
    case NodeEligibility::Excluded:
      return "Excluded";
  }
  return "Unknown";
}

NodeEligibility nodeEligibility(const NodeInput& node, const ControllerConfig& config) {
  if (!node.ready) {
    return NodeEligibility::NotReady;
  }
  for (const auto& t : node.taints) {
    if (t.effect == "NoExecute" &&
        (t.key == "node.kubernetes.io/not-ready" || t.key == "node.kubernetes.io/unreachable")) {
      return NodeEligibility::NotReady;
    }
  }
  if (node.draining) {
    return NodeEligibility::Draining;
  }
  for (const auto& t : node.taints) {
    if (t.key == "ToBeDeletedByClusterAutoscaler" || t.key == "node.kubernetes.io/out-of-service") {
      return NodeEligibility::Draining;
    }
  }
  if (node.unschedulable) {
    return NodeEligibility::Unschedulable;
  }
  for (const auto& t : node.taints) {
    if (t.key == "node.kubernetes.io/unschedulable") {
      return NodeEligibility::Unschedulable;
    }
  }
  if (node.labels.count(std::string(ExcludeFromLoadBalancersLabel)) != 0) {
    return NodeEligibility::Excluded;
  }
  for (const auto& [k, v] : config.nodeSelector) {
    auto it = node.labels.find(k);
    if (it == node.labels.end() || it->second != v) {
      return NodeEligibility::Excluded;
    }
  }
  return NodeEligibility::Eligible;
}

std::string_view moveReason(NodeEligibility e) {
  switch (e) {
    case NodeEligibility::NotReady:
      return reasons::MoveNodeNotReady;
    case NodeEligibility::Unschedulable:
      return reasons::MoveNodeUnschedulable;
    case NodeEligibility::Draining:
      return reasons::MoveNodeDraining;
    case NodeEligibility::Excluded:
      return reasons::MoveNodeExcluded;
    case NodeEligibility::Eligible:
      break;
  }
  return reasons::MoveRebalanced;
}

}  // namespace carplb::controller::core
