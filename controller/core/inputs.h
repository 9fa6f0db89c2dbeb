#pragma once
// Plain input structs of the controller core. The shell converts its Kubernetes views
// (controller/kube/model) into these; the core never sees JSON from the API server.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace carplb::controller::core {

struct ServicePort {
  std::string protocol = "TCP";  // TCP | UDP | SCTP
  int32_t port = 0;
  bool operator==(const ServicePort&) const = default;
};

// A condition as observed on, or desired for, an object.
struct Condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  int64_t observedGeneration = 0;
  std::optional<WallTime> lastTransitionTime;
  bool operator==(const Condition&) const = default;
};

struct ServiceInput {
  std::string namespace_;
  std::string name;
  std::string uid;
  int64_t generation = 0;
  std::string type;                              // spec.type
  std::optional<std::string> loadBalancerClass;  // spec.loadBalancerClass
  std::map<std::string, std::string> annotations;
  std::string loadBalancerIP;                    // spec.loadBalancerIP (deprecated), "" when unset
  std::vector<ServicePort> ports;
  std::string externalTrafficPolicy;             // "Cluster" (default) | "Local"
  std::vector<std::string> ipFamilies;           // spec.ipFamilies, ordered
  bool deleting = false;                         // metadata.deletionTimestamp present
  std::vector<std::string> finalizers;
  // Observed status.
  std::vector<std::string> ingressIps;           // status.loadBalancer.ingress[].ip
  std::vector<Condition> conditions;             // status.conditions

  std::string key() const { return namespace_ + "/" + name; }
};

struct Taint {
  std::string key;
  std::string effect;  // NoSchedule | PreferNoSchedule | NoExecute
};

struct NodeInput {
  std::string name;
  bool ready = false;
  bool unschedulable = false;  // spec.unschedulable (cordoned)
  bool draining = false;       // set by the shell (e.g. drain annotation / eviction in progress)
  std::map<std::string, std::string> labels;
  std::vector<Taint> taints;
};

// Ready endpoints of one Service, by node (from its EndpointSlices).
struct EndpointInput {
  std::string serviceKey;  // namespace/name
  std::vector<std::string> readyNodes;
};

struct PoolConfig {
  std::string name;
  std::vector<std::string> ranges;  // "192.0.2.0/24", "198.51.100.10-198.51.100.20"
  bool autoAssign = true;           // used when a Service names no pool
};

struct ControllerConfig {
  std::string loadBalancerClass = "carplb.io/carp";
  bool defaultClass = false;  // also handle LoadBalancer Services without a class
  std::vector<PoolConfig> pools;
  std::map<std::string, std::string> nodeSelector;  // labels a node must carry (all of them)
  int vhidMin = 1;
  int vhidMax = 255;
  std::vector<int> excludedVhids;  // vhids used by foreign CARP/VRRP speakers on the segment
  int maxBackups = 3;              // backups per vhid (nodes per vhid = 1 + maxBackups)
  int advskewSpacing = 50;         // advskew step between consecutive nodes of a vhid
};

}  // namespace carplb::controller::core
