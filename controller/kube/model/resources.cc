#include "controller/kube/model/resources.h"

#include <algorithm>
#include <array>

#include "controller/kube/model/json_access.h"

namespace carplb::controller::kube {

using namespace json_access;

namespace {

template <typename T, typename F>
std::vector<T> parseList(const Json& obj, std::string_view key, F&& each) {
  std::vector<T> out;
  if (const Json* a = arrayField(obj, key)) {
    out.reserve(a->size());
    for (const auto& e : *a) {
      if (e.is_object()) {
        out.push_back(each(e));
      }
    }
  }
  return out;
}

std::vector<Condition> parseConditions(const Json& obj) {
  return parseList<Condition>(obj, "conditions", [](const Json& c) {
    return Condition{str(c, "type"), str(c, "status"), integer(c, "observedGeneration"),
                     str(c, "lastTransitionTime"), str(c, "reason"), str(c, "message")};
  });
}

ObjectReference parseReference(const Json& r) {
  return ObjectReference{str(r, "apiVersion"), str(r, "kind"), str(r, "namespace"), str(r, "name"),
                         str(r, "uid"), str(r, "resourceVersion"), str(r, "fieldPath")};
}

const Json& emptyObject() {
  static const Json kEmpty = Json::object();
  return kEmpty;
}

const Json& sub(const Json& obj, std::string_view key) {
  const Json* f = objectField(obj, key);
  return f != nullptr ? *f : emptyObject();
}

// Common prologue: raw must be an object with metadata.name.
Status checkTop(const Json& raw, std::string_view kind) {
  if (!raw.is_object()) {
    return makeError(std::string(kind) + ": not a JSON object");
  }
  const Json& md = sub(raw, "metadata");
  const Json* name = field(md, "name");
  if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return makeError(std::string(kind) + ".metadata.name: missing or not a string");
  }
  return okStatus();
}

ServiceType serviceType(const std::optional<std::string>& t) {
  if (!t) {
    return ServiceType::ClusterIP;
  }
  if (*t == "ClusterIP") return ServiceType::ClusterIP;
  if (*t == "NodePort") return ServiceType::NodePort;
  if (*t == "LoadBalancer") return ServiceType::LoadBalancer;
  if (*t == "ExternalName") return ServiceType::ExternalName;
  return ServiceType::Unknown;
}

}  // namespace

std::string ObjectMeta::key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }

bool ObjectMeta::hasFinalizer(std::string_view f) const {
  return std::find(finalizers.begin(), finalizers.end(), f) != finalizers.end();
}

ObjectMeta parseObjectMeta(const Json& obj) {
  const Json& md = sub(obj, "metadata");
  ObjectMeta m;
  m.name = str(md, "name");
  m.namespace_ = str(md, "namespace");
  m.uid = str(md, "uid");
  m.resourceVersion = str(md, "resourceVersion");
  m.generation = integer(md, "generation");
  m.creationTimestamp = str(md, "creationTimestamp");
  m.deletionTimestamp = optStr(md, "deletionTimestamp");
  m.labels = strMap(md, "labels");
  m.annotations = strMap(md, "annotations");
  m.finalizers = strList(md, "finalizers");
  return m;
}

std::string objectKey(const Json& obj) {
  const Json& md = sub(obj, "metadata");
  std::string name = str(md, "name");
  if (name.empty()) {
    return {};
  }
  std::string ns = str(md, "namespace");
  return ns.empty() ? name : ns + "/" + name;
}

bool Node::ready() const {
  return std::any_of(conditions.begin(), conditions.end(),
                     [](const Condition& c) { return c.type == "Ready" && c.status == "True"; });
}

std::string_view toString(ServiceType t) {
  switch (t) {
    case ServiceType::ClusterIP: return "ClusterIP";
    case ServiceType::NodePort: return "NodePort";
    case ServiceType::LoadBalancer: return "LoadBalancer";
    case ServiceType::ExternalName: return "ExternalName";
    case ServiceType::Unknown: break;
  }
  return "Unknown";
}

Result<Service> parseService(Json raw) {
  if (auto st = checkTop(raw, "Service"); !st) {
    return st.error();
  }
  Service s;
  s.meta = parseObjectMeta(raw);
  const Json& spec = sub(raw, "spec");
  auto type = optStr(spec, "type");
  s.type = serviceType(type);
  s.typeText = type.value_or("ClusterIP");
  s.loadBalancerClass = optStr(spec, "loadBalancerClass");
  s.loadBalancerIP = str(spec, "loadBalancerIP");
  s.clusterIPs = strList(spec, "clusterIPs");
  s.ipFamilies = strList(spec, "ipFamilies");
  s.ipFamilyPolicy = str(spec, "ipFamilyPolicy");
  auto etp = optStr(spec, "externalTrafficPolicy");
  if (!etp || *etp == "Cluster") {
    s.externalTrafficPolicy = TrafficPolicy::Cluster;
  } else if (*etp == "Local") {
    s.externalTrafficPolicy = TrafficPolicy::Local;
  } else {
    s.externalTrafficPolicy = TrafficPolicy::Unknown;
  }
  s.healthCheckNodePort = integer(spec, "healthCheckNodePort");
  s.ports = parseList<ServicePort>(spec, "ports", [](const Json& p) {
    return ServicePort{str(p, "name"), optStr(p, "protocol").value_or("TCP"), integer(p, "port"),
                       integer(p, "nodePort")};
  });
  const Json& status = sub(raw, "status");
  s.ingress = parseList<LoadBalancerIngress>(sub(status, "loadBalancer"), "ingress", [](const Json& i) {
    return LoadBalancerIngress{str(i, "ip"), str(i, "hostname"), str(i, "ipMode")};
  });
  s.conditions = parseConditions(status);
  s.raw = std::move(raw);
  return s;
}

Result<Node> parseNode(Json raw) {
  if (auto st = checkTop(raw, "Node"); !st) {
    return st.error();
  }
  Node n;
  n.meta = parseObjectMeta(raw);
  const Json& spec = sub(raw, "spec");
  n.unschedulable = optBool(spec, "unschedulable").value_or(false);
  n.taints = parseList<Taint>(spec, "taints", [](const Json& t) {
    return Taint{str(t, "key"), str(t, "value"), str(t, "effect")};
  });
  const Json& status = sub(raw, "status");
  n.addresses = parseList<NodeAddress>(status, "addresses", [](const Json& a) {
    return NodeAddress{str(a, "type"), str(a, "address")};
  });
  n.conditions = parseConditions(status);
  n.raw = std::move(raw);
  return n;
}

Result<EndpointSlice> parseEndpointSlice(Json raw) {
  if (auto st = checkTop(raw, "EndpointSlice"); !st) {
    return st.error();
  }
  EndpointSlice e;
  e.meta = parseObjectMeta(raw);
  e.addressType = str(raw, "addressType");
  if (auto it = e.meta.labels.find("kubernetes.io/service-name"); it != e.meta.labels.end()) {
    e.serviceName = it->second;
  }
  e.endpoints = parseList<Endpoint>(raw, "endpoints", [](const Json& ep) {
    const Json& cond = sub(ep, "conditions");
    return Endpoint{strList(ep, "addresses"), optBool(cond, "ready"), optBool(cond, "serving"),
                    optBool(cond, "terminating"), str(ep, "nodeName"), str(ep, "zone")};
  });
  e.ports = parseList<EndpointPort>(raw, "ports", [](const Json& p) {
    return EndpointPort{str(p, "name"), str(p, "protocol"), integer(p, "port")};
  });
  e.raw = std::move(raw);
  return e;
}

Result<Lease> parseLease(Json raw) {
  if (auto st = checkTop(raw, "Lease"); !st) {
    return st.error();
  }
  Lease l;
  l.meta = parseObjectMeta(raw);
  const Json& spec = sub(raw, "spec");
  l.holderIdentity = str(spec, "holderIdentity");
  l.leaseDurationSeconds = optInt(spec, "leaseDurationSeconds");
  l.acquireTime = str(spec, "acquireTime");
  l.renewTime = str(spec, "renewTime");
  l.leaseTransitions = integer(spec, "leaseTransitions");
  l.raw = std::move(raw);
  return l;
}

Result<Event> parseEvent(Json raw) {
  if (auto st = checkTop(raw, "Event"); !st) {
    return st.error();
  }
  Event e;
  e.meta = parseObjectMeta(raw);
  // core/v1 names the object "involvedObject"; events.k8s.io/v1 calls it "regarding".
  const Json* ref = objectField(raw, "involvedObject");
  if (ref == nullptr) {
    ref = objectField(raw, "regarding");
  }
  if (ref != nullptr) {
    e.involvedObject = parseReference(*ref);
  }
  e.reason = str(raw, "reason");
  e.message = optStr(raw, "message").value_or(str(raw, "note"));
  e.type = str(raw, "type");
  e.count = integer(raw, "count", integer(raw, "deprecatedCount"));
  e.firstTimestamp = optStr(raw, "firstTimestamp").value_or(str(raw, "deprecatedFirstTimestamp"));
  e.lastTimestamp = optStr(raw, "lastTimestamp").value_or(str(raw, "deprecatedLastTimestamp"));
  const Json* source = objectField(raw, "source");
  if (source == nullptr) {
    source = objectField(raw, "deprecatedSource");
  }
  if (source != nullptr) {
    e.sourceComponent = str(*source, "component");
  }
  e.raw = std::move(raw);
  return e;
}

Result<ConfigMap> parseConfigMap(Json raw) {
  if (auto st = checkTop(raw, "ConfigMap"); !st) {
    return st.error();
  }
  ConfigMap c;
  c.meta = parseObjectMeta(raw);
  c.data = strMap(raw, "data");
  c.binaryData = strMap(raw, "binaryData");
  c.raw = std::move(raw);
  return c;
}

Result<Secret> parseSecret(Json raw) {
  if (auto st = checkTop(raw, "Secret"); !st) {
    return st.error();
  }
  Secret s;
  s.meta = parseObjectMeta(raw);
  s.type = str(raw, "type");
  s.data = strMap(raw, "data");
  s.stringData = strMap(raw, "stringData");
  s.raw = std::move(raw);
  return s;
}

Result<VirtualIP> parseVirtualIP(Json raw) {
  if (auto st = checkTop(raw, "VirtualIP"); !st) {
    return st.error();
  }
  VirtualIP v;
  v.meta = parseObjectMeta(raw);
  const Json& spec = sub(raw, "spec");
  v.address = str(spec, "address");
  v.vhid = integer(spec, "vhid");
  v.pool = str(spec, "pool");
  v.services = strList(spec, "services");
  const Json& status = sub(raw, "status");
  v.master = str(status, "master");
  v.actualMaster = str(status, "actualMaster");
  v.masterAdvskew = optInt(status, "masterAdvskew");
  v.backups = parseList<VipBackup>(status, "backups", [](const Json& b) {
    return VipBackup{str(b, "node"), integer(b, "advskew")};
  });
  v.nodes = parseList<VipNodeState>(status, "nodes", [](const Json& n) {
    return VipNodeState{str(n, "node"), str(n, "state"), str(n, "reason"), str(n, "since")};
  });
  v.observedGeneration = integer(status, "observedGeneration");
  v.conditions = parseConditions(status);
  v.raw = std::move(raw);
  return v;
}

Result<Json> parseJsonText(std::string_view text, std::string_view what) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return makeError(std::string(what) + ": invalid JSON (" + std::to_string(text.size()) + " bytes)");
  }
  return j;
}

Result<std::string> decodeBase64(std::string_view in) {
  static constexpr std::array<int8_t, 256> kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) {
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    }
    return t;
  }();
  while (!in.empty() && in.back() == '=') {
    in.remove_suffix(1);
  }
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    int8_t v = kTable[static_cast<unsigned char>(in[i])];
    if (v < 0) {
      return makeError("base64: invalid character at offset " + std::to_string(i));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6) {
    return makeError("base64: truncated input");
  }
  return out;
}

Json createMergePatch(const Json& from, const Json& to) {
  if (!from.is_object() || !to.is_object()) {
    return to;
  }
  Json patch = Json::object();
  for (const auto& [k, v] : from.items()) {
    if (!to.contains(k)) {
      patch[k] = nullptr;
    }
  }
  for (const auto& [k, v] : to.items()) {
    auto it = from.find(k);
    if (it == from.end()) {
      patch[k] = v;
    } else if (*it != v) {
      patch[k] = (it->is_object() && v.is_object()) ? createMergePatch(*it, v) : v;
    }
  }
  return patch;
}

}  // namespace carplb::controller::kube
