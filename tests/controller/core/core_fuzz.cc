// libFuzzer target: arbitrary annotation values, spec fields, pools and observed VirtualIPs
// through parseServiceIntent, parsePools and computeDesiredState. Nothing may crash or throw,
// and a second pass over the VirtualIPs the first one produced must not crash either.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "controller/core/annotations.h"
#include "controller/core/pools.h"
#include "controller/reconcile/desired_state.h"

using namespace carplb::controller::core;
using carplb::controller::reconcile::ClusterState;
using carplb::controller::reconcile::ObservedVip;

namespace {

const char* const Keys[] = {"carplb.io/loadBalancerIPs", "carplb.io/address-pool", "carplb.io/allow-shared-ip",
                            "carplb.io/failback",        "carplb.io/address-count", "carplb.io/other"};

std::string pick(FuzzedDataProvider& p, const std::vector<std::string>& choices) {
  return choices[p.ConsumeIntegralInRange<size_t>(0, choices.size() - 1)];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider p(data, size);
  struct {
    ControllerConfig config;
    std::vector<NodeInput> nodes;
    std::vector<ServiceInput> services;
    std::vector<EndpointInput> endpoints;
  } in;
  ClusterState cluster;
  in.config.pools = {{"public", {"192.0.2.0/28"}, true}, {"extra", {p.ConsumeRandomLengthString(24)}, false}};
  in.config.vhidMax = p.ConsumeIntegralInRange<int>(1, 255);
  in.config.maxBackups = p.ConsumeIntegralInRange<int>(0, 4);
  in.config.advskewSpacing = p.ConsumeIntegralInRange<int>(1, 50);
  in.config.defaultClass = p.ConsumeBool();
  (void)parsePools(in.config.pools);
  const int nodes = p.ConsumeIntegralInRange<int>(0, 5);
  for (int i = 0; i < nodes; ++i) {
    NodeInput n;
    n.name = "n" + std::to_string(p.ConsumeIntegralInRange<int>(0, 6));
    n.ready = p.ConsumeBool();
    n.unschedulable = p.ConsumeBool();
    in.nodes.push_back(n);
  }
  const int services = p.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < services; ++i) {
    ServiceInput s;
    s.namespace_ = "ns";
    s.name = "s" + std::to_string(p.ConsumeIntegralInRange<int>(0, 4));
    s.type = pick(p, {"LoadBalancer", "ClusterIP", ""});
    if (p.ConsumeBool()) {
      s.loadBalancerClass = pick(p, {"carplb.io/carp", "x"});
    }
    const int annotations = p.ConsumeIntegralInRange<int>(0, 4);
    for (int a = 0; a < annotations; ++a) {
      s.annotations[Keys[p.ConsumeIntegralInRange<size_t>(0, 5)]] = p.ConsumeRandomLengthString(40);
    }
    s.loadBalancerIP = p.ConsumeBool() ? p.ConsumeRandomLengthString(20) : "";
    s.externalTrafficPolicy = p.ConsumeBool() ? "Local" : "Cluster";
    s.ports = {{pick(p, {"TCP", "UDP"}), p.ConsumeIntegral<int32_t>()}};
    s.deleting = p.ConsumeBool();
    if (p.ConsumeBool()) {
      s.finalizers = {"service.kubernetes.io/load-balancer-cleanup"};
    }
    s.ingressIps = {p.ConsumeRandomLengthString(16)};
    (void)parseServiceIntent(s);
    in.services.push_back(s);
  }
  in.endpoints = {{"ns/s0", {"n1", "n2"}}, {"ns/s1", {p.ConsumeRandomLengthString(4)}}};
  const int vips = p.ConsumeIntegralInRange<int>(0, 4);
  for (int i = 0; i < vips; ++i) {
    ObservedVip v;
    auto addr = parseIpv4(p.ConsumeBool() ? "192.0.2." + std::to_string(p.ConsumeIntegralInRange<int>(0, 20))
                                          : p.ConsumeRandomLengthString(16));
    if (!addr) continue;
    v.address = *addr;
    v.name = p.ConsumeRandomLengthString(8);
    v.vhid = p.ConsumeIntegral<int>();
    v.services = {"ns/s" + std::to_string(p.ConsumeIntegralInRange<int>(0, 4))};
    v.order = {"n" + std::to_string(p.ConsumeIntegralInRange<int>(0, 6)),
               "n" + std::to_string(p.ConsumeIntegralInRange<int>(0, 6))};
    cluster.vips.push_back(v);
  }
  cluster.services = in.services;
  cluster.nodes = in.nodes;
  cluster.endpoints = in.endpoints;
  if (p.ConsumeBool()) cluster.nodesWithoutAgent.insert("n1");
  auto config = carplb::controller::reconcile::makeReconcileConfig(in.config);
  if (!config.ok()) return 0;
  auto desired = computeDesiredState(*config, cluster);
  // Feed the result back, as the next pass after the writes would see it.
  ClusterState next = cluster;
  next.vips.clear();
  for (const auto& [a, v] : desired.vips) {
    ObservedVip o;
    o.address = a;
    o.name = v.name;
    o.vhid = v.vhid;
    o.services = v.services;
    for (const auto& n : v.nodes) o.order.push_back(n.node);
    next.vips.push_back(o);
  }
  (void)computeDesiredState(*config, next);
  return 0;
}
