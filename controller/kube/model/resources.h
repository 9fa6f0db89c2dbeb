#pragma once
// Typed, tolerant views of the Kubernetes objects carplb reads and writes.
//
// Every view keeps the object's raw JSON (`raw`) next to the parsed fields: the parsed fields
// are for reading; writes start from `raw` (or a fresh GET) and change only what carplb owns,
// so fields this code does not know (newer API versions, other controllers) survive a PUT.
//
// Parsing is tolerant: a field with the wrong JSON type is treated as absent; enum-like strings
// we do not know ("typeValue") map to an Unknown enum value while the text is kept. Only a
// document that is not a JSON object, or an object without metadata.name, is an error.
// Nothing here throws.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace carplb::controller::kube {

using Json = nlohmann::json;

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // empty for cluster-scoped objects
  std::string uid;
  std::string resourceVersion;  // opaque: compare for equality only
  int64_t generation = 0;
  std::string creationTimestamp;
  std::optional<std::string> deletionTimestamp;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;

  // "namespace/name", or "name" for cluster-scoped objects (client-go's MetaNamespaceKey).
  std::string key() const;
  bool hasFinalizer(std::string_view f) const;
};

// Parses metadata from an object; tolerant (see above). Does not require a name.
ObjectMeta parseObjectMeta(const Json& obj);

// "namespace/name" or "name" from raw JSON; empty when metadata.name is missing.
std::string objectKey(const Json& obj);

struct Condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown" (kept verbatim)
  int64_t observedGeneration = 0;
  std::string lastTransitionTime;
  std::string reason;
  std::string message;
};

struct ObjectReference {
  std::string apiVersion;
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resourceVersion;
  std::string fieldPath;
};

// ---- core/v1 Service ----------------------------------------------------------------------

enum class ServiceType { ClusterIP, NodePort, LoadBalancer, ExternalName, Unknown };
enum class TrafficPolicy { Cluster, Local, Unknown };

struct ServicePort {
  std::string name;
  std::string protocol;  // "TCP" when absent (API default)
  int64_t port = 0;
  int64_t nodePort = 0;
};

struct LoadBalancerIngress {
  std::string ip;
  std::string hostname;
  std::string ipMode;
};

struct Service {
  Json raw;
  ObjectMeta meta;
  ServiceType type = ServiceType::ClusterIP;  // API default when absent
  std::string typeText;                       // as sent ("typeValue" stays visible)
  std::optional<std::string> loadBalancerClass;
  std::string loadBalancerIP;  // deprecated field, still honoured
  std::vector<std::string> clusterIPs;
  std::vector<std::string> ipFamilies;
  std::string ipFamilyPolicy;
  TrafficPolicy externalTrafficPolicy = TrafficPolicy::Cluster;
  int64_t healthCheckNodePort = 0;
  std::vector<ServicePort> ports;
  std::vector<LoadBalancerIngress> ingress;  // status.loadBalancer.ingress
  std::vector<Condition> conditions;         // status.conditions
};

// ---- core/v1 Node ---------------------------------------------------------------------------

struct Taint {
  std::string key;
  std::string value;
  std::string effect;
};

struct NodeAddress {
  std::string type;
  std::string address;
};

struct Node {
  Json raw;
  ObjectMeta meta;
  bool unschedulable = false;
  std::vector<Taint> taints;
  std::vector<NodeAddress> addresses;
  std::vector<Condition> conditions;
  // True when the "Ready" condition has status "True".
  bool ready() const;
};

// ---- discovery.k8s.io/v1 EndpointSlice ------------------------------------------------------

struct Endpoint {
  std::vector<std::string> addresses;
  std::optional<bool> ready;  // absent means "unknown": consumers treat it as ready (API docs)
  std::optional<bool> serving;
  std::optional<bool> terminating;
  std::string nodeName;
  std::string zone;
};

struct EndpointPort {
  std::string name;
  std::string protocol;
  int64_t port = 0;
};

struct EndpointSlice {
  Json raw;
  ObjectMeta meta;
  std::string addressType;
  std::string serviceName;  // label kubernetes.io/service-name
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
};

// ---- coordination.k8s.io/v1 Lease -----------------------------------------------------------

struct Lease {
  Json raw;
  ObjectMeta meta;
  std::string holderIdentity;
  std::optional<int64_t> leaseDurationSeconds;
  std::string acquireTime;  // RFC 3339 with microseconds, kept as text
  std::string renewTime;
  int64_t leaseTransitions = 0;
};

// ---- core/v1 Event --------------------------------------------------------------------------

struct Event {
  Json raw;
  ObjectMeta meta;
  ObjectReference involvedObject;
  std::string reason;
  std::string message;
  std::string type;  // Normal | Warning
  int64_t count = 0;
  std::string firstTimestamp;
  std::string lastTimestamp;
  std::string sourceComponent;
};

// ---- core/v1 ConfigMap and Secret -----------------------------------------------------------

struct ConfigMap {
  Json raw;
  ObjectMeta meta;
  std::map<std::string, std::string> data;
  std::map<std::string, std::string> binaryData;  // base64 text as sent
};

struct Secret {
  Json raw;
  ObjectMeta meta;
  std::string type;
  std::map<std::string, std::string> data;  // base64 text as sent; see decodeBase64()
  std::map<std::string, std::string> stringData;
};

// ---- carplb.io/v1alpha1 VirtualIP (cluster-scoped, charts/carplb/crds) ----------------------

struct VipBackup {
  std::string node;
  int64_t advskew = 0;
};

struct VipNodeState {
  std::string node;
  std::string state;  // INIT | BACKUP | MASTER | UNKNOWN
  std::string reason;
  std::string since;
};

struct VirtualIP {
  Json raw;
  ObjectMeta meta;
  std::string address;
  int64_t vhid = 0;
  std::string pool;
  std::vector<std::string> services;
  std::string master;
  std::string actualMaster;
  std::optional<int64_t> masterAdvskew;
  std::vector<VipBackup> backups;
  std::vector<VipNodeState> nodes;
  int64_t observedGeneration = 0;
  std::vector<Condition> conditions;
};

Result<Service> parseService(Json raw);
Result<Node> parseNode(Json raw);
Result<EndpointSlice> parseEndpointSlice(Json raw);
Result<Lease> parseLease(Json raw);
Result<Event> parseEvent(Json raw);
Result<ConfigMap> parseConfigMap(Json raw);
Result<Secret> parseSecret(Json raw);
Result<VirtualIP> parseVirtualIP(Json raw);

// Parses text first; errors name `what` ("Service") and the JSON parse position.
Result<Json> parseJsonText(std::string_view text, std::string_view what);

// Standard base64 (with or without padding); error on invalid characters.
Result<std::string> decodeBase64(std::string_view in);

std::string_view toString(ServiceType t);

// RFC 7386 JSON merge patch that turns `from` into `to` (objects recurse, removed keys become
// null, arrays and scalars are replaced whole). Applying it with nlohmann's merge_patch to
// `from` yields `to`, provided `to` holds no explicit nulls.
Json createMergePatch(const Json& from, const Json& to);

}  // namespace carplb::controller::kube
