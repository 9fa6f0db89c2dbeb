#include "controller/app/convert.h"

namespace carplb::controller::app {

core::ServiceInput toServiceInput(const kube::Service& svc) {
  core::ServiceInput in;
  in.namespace_ = svc.meta.namespace_;
  in.name = svc.meta.name;
  in.uid = svc.meta.uid;
  in.generation = svc.meta.generation;
  in.type = svc.typeText.empty() ? std::string(kube::toString(svc.type)) : svc.typeText;
  in.loadBalancerClass = svc.loadBalancerClass;
  in.annotations = svc.meta.annotations;
  in.loadBalancerIP = svc.loadBalancerIP;
  for (const auto& p : svc.ports) {
    in.ports.push_back(core::ServicePort{p.protocol.empty() ? "TCP" : p.protocol, static_cast<int32_t>(p.port)});
  }
  in.externalTrafficPolicy = svc.externalTrafficPolicy == kube::TrafficPolicy::Local ? "Local" : "Cluster";
  in.ipFamilies = svc.ipFamilies;
  in.deleting = svc.meta.deletionTimestamp.has_value();
  in.finalizers = svc.meta.finalizers;
  for (const auto& ing : svc.ingress) {
    if (!ing.ip.empty()) {
      in.ingressIps.push_back(ing.ip);
    }
  }
  for (const auto& c : svc.conditions) {
    core::Condition cc;
    cc.type = c.type;
    cc.status = c.status;
    cc.reason = c.reason;
    cc.message = c.message;
    cc.observedGeneration = c.observedGeneration;
    in.conditions.push_back(std::move(cc));
  }
  return in;
}

core::NodeInput toNodeInput(const kube::Node& node) {
  core::NodeInput in;
  in.name = node.meta.name;
  in.ready = node.ready();
  in.unschedulable = node.unschedulable;
  in.labels = node.meta.labels;
  auto it = node.meta.annotations.find(DrainingAnnotation);
  in.draining = it != node.meta.annotations.end() && (it->second == "true" || it->second == "True");
  for (const auto& t : node.taints) {
    in.taints.push_back(core::Taint{t.key, t.effect});
  }
  return in;
}

std::vector<std::string> readyNodesOf(const kube::EndpointSlice& slice) {
  std::vector<std::string> nodes;
  for (const auto& ep : slice.endpoints) {
    bool ready = ep.ready.value_or(true);
    bool terminating = ep.terminating.value_or(false);
    if (ready && !terminating && !ep.nodeName.empty()) {
      nodes.push_back(ep.nodeName);
    }
  }
  return nodes;
}

}  // namespace carplb::controller::app
