#pragma once
// Kubernetes views (controller/kube/model) -> the controller core's plain inputs. The core never
// sees API JSON; this is the only place that maps one onto the other.
#include <string>
#include <vector>

#include "controller/core/inputs.h"
#include "controller/kube/model/resources.h"

namespace carplb::controller::app {

core::ServiceInput toServiceInput(const kube::Service& svc);
core::NodeInput toNodeInput(const kube::Node& node);
// Ready endpoints of one EndpointSlice: the node names of endpoints that are ready (absent
// "ready" counts as ready, as the API documents) and not terminating.
std::vector<std::string> readyNodesOf(const kube::EndpointSlice& slice);

// Node annotation an operator (or `kubectl drain` wrapper) sets to move VIPs away before a
// drain; the autoscaler's ToBeDeletedByClusterAutoscaler taint counts too (core/eligibility).
inline constexpr const char* DrainingAnnotation = "carplb.io/draining";

}  // namespace carplb::controller::app
