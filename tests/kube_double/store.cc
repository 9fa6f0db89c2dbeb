#include "kube_double/store.h"

#include "kube_double/json_util.h"

#include "kube_double/time_format.h"

#include <algorithm>

namespace carplb::kubedouble {

namespace {

using nlohmann::json;

const char* const DefaultNamespaces[] = {"default", "kube-system", "kube-public", "kube-node-lease"};

std::string mdString(const json& obj, const char* field) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) {
    return "";
  }
  auto it = md->find(field);
  return (it != md->end() && it->is_string()) ? it->get<std::string>() : "";
}

bool validName(const std::string& name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
      return false;
    }
  }
  return std::isalnum(static_cast<unsigned char>(name.front())) && std::isalnum(static_cast<unsigned char>(name.back()));
}

bool hasFinalizers(const json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) {
    return false;
  }
  auto f = md->find("finalizers");
  return f != md->end() && f->is_array() && !f->empty();
}

json specOf(const json& obj) {
  auto it = obj.find("spec");
  return it == obj.end() ? json() : *it;
}

bool parseRv(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  out = std::stoull(text);
  return true;
}

int ipSuffix(const std::string& prefix, const std::string& ip) {
  if (ip.rfind(prefix, 0) != 0) {
    return -1;
  }
  std::string rest = ip.substr(prefix.size());
  if (rest.empty() || rest.size() > 3 || rest.find_first_not_of("0123456789") != std::string::npos) {
    return -1;
  }
  return std::stoi(rest);
}

// Same object apart from the fields the server manages on every write.
bool sameContent(json a, json b) {
  for (json* o : {&a, &b}) {
    if (o->contains("metadata") && (*o)["metadata"].is_object()) {
      (*o)["metadata"].erase("resourceVersion");
      (*o)["metadata"].erase("managedFields");
    }
  }
  return a == b;
}

}  // namespace

std::string objectKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }

bool Filter::matches(const json& obj) const {
  if (!ns.empty() && mdString(obj, "namespace") != ns) {
    return false;
  }
  return labels.matchesLabels(obj) && fields.matchesFields(obj);
}

Store::Store(const Clock& clock, Random& random, StoreOptions options)
    : clock_(clock), random_(random), options_(std::move(options)) {
  for (const auto& t : builtinResourceTypes()) {
    registerTypeLocked(t);
  }
  ResourceType nsType = *findType("", "v1", "namespaces");
  for (const char* ns : DefaultNamespaces) {
    (void)createLocked(nsType, "", json{{"metadata", {{"name", ns}}}});
  }
  ResourceType svcType = *findType("", "v1", "services");
  json kubernetesSvc = {{"metadata", {{"name", "kubernetes"}, {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
                        {"spec", {{"type", "ClusterIP"}, {"clusterIP", options_.serviceIpPrefix + "1"},
                                  {"ports", json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}})}}}};
  (void)createLocked(svcType, "default", kubernetesSvc);
}

std::string Store::nowText() const { return formatRfc3339(clock_.wallNow()); }

std::string Store::newUid() {
  uint64_t a = random_.next64();
  uint64_t b = random_.next64();
  a = (a & ~0xF000ULL) | 0x4000ULL;                      // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(a >> 32),
                static_cast<unsigned long long>((a >> 16) & 0xFFFF), static_cast<unsigned long long>(a & 0xFFFF),
                static_cast<unsigned long long>(b >> 48), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return buf;
}

void Store::registerTypeLocked(const ResourceType& type) {
  auto it = resources_.find(type.key());
  if (it == resources_.end()) {
    Resource r;
    r.type = type;
    r.floor = rv_;
    resources_.emplace(type.key(), std::move(r));
  } else {
    it->second.type = type;
  }
}

std::vector<ResourceType> Store::types() const {
  std::lock_guard lock(mu_);
  std::vector<ResourceType> out;
  for (const auto& [k, r] : resources_) {
    out.push_back(r.type);
  }
  return out;
}

std::optional<ResourceType> Store::findType(const std::string& group, const std::string& version,
                                            const std::string& plural) const {
  std::lock_guard lock(mu_);
  auto it = resources_.find(group + "/" + plural);
  if (it == resources_.end() || it->second.type.version != version) {
    return std::nullopt;
  }
  return it->second.type;
}

std::optional<ResourceType> Store::findTypeByKind(const std::string& apiVersion, const std::string& kind) const {
  std::lock_guard lock(mu_);
  for (const auto& [k, r] : resources_) {
    if (r.type.kind == kind && r.type.groupVersion() == apiVersion) {
      return r.type;
    }
  }
  return std::nullopt;
}

Store::Resource* Store::resourceLocked(const ResourceType& type) {
  auto it = resources_.find(type.key());
  return it == resources_.end() ? nullptr : &it->second;
}

const Store::Resource* Store::resourceLocked(const ResourceType& type) const {
  auto it = resources_.find(type.key());
  return it == resources_.end() ? nullptr : &it->second;
}

uint64_t Store::currentRv() const {
  std::lock_guard lock(mu_);
  return rv_;
}

size_t Store::watcherCount() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

ApiResult<json> Store::get(const ResourceType& type, const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  const Resource* res = resourceLocked(type);
  if (!res) {
    return notFound(type.qualifiedPlural(), name);
  }
  auto it = res->objects.find(objectKey(type.namespaced ? ns : "", name));
  if (it == res->objects.end()) {
    return notFound(type.qualifiedPlural(), name);
  }
  return it->second;
}

ApiResult<ListResult> Store::list(const ResourceType& type, const ListRequest& req) const {
  std::lock_guard lock(mu_);
  const Resource* res = resourceLocked(type);
  if (!res) {
    return notFound(type.qualifiedPlural(), "");
  }
  if (!req.resourceVersion.empty() && req.resourceVersion != "0") {
    uint64_t asked = 0;
    if (!parseRv(req.resourceVersion, asked)) {
      return badRequest("resourceVersion: invalid value \"" + req.resourceVersion + "\": must be an integer");
    }
    if (asked > rv_) {
      return ApiError{504, "Timeout", "Too large resource version: " + req.resourceVersion + ", current: " +
                      std::to_string(rv_), {}};
    }
  }
  std::string after;
  if (!req.continueToken.empty()) {
    size_t colon = req.continueToken.find(':');
    uint64_t tokenRv = 0;
    if (colon == std::string::npos || !parseRv(req.continueToken.substr(0, colon), tokenRv)) {
      return badRequest("continue: invalid token \"" + req.continueToken + "\"");
    }
    if (tokenRv < res->floor) {
      return gone("The provided continue parameter is too old to display a consistent list result. You can start "
                  "a new list without the continue parameter.");
    }
    after = req.continueToken.substr(colon + 1);
  }
  ListResult out;
  out.resourceVersion = std::to_string(rv_);
  auto it = after.empty() ? res->objects.begin() : res->objects.upper_bound(after);
  for (; it != res->objects.end(); ++it) {
    if (!req.filter.matches(it->second)) {
      continue;
    }
    if (req.limit > 0 && out.items.size() == req.limit) {
      out.continueToken = std::to_string(rv_) + ":" + std::prev(it)->first;  // more matches remain
      break;
    }
    out.items.push_back(it->second);
  }
  return out;
}

ApiResult<json> Store::create(const ResourceType& type, const std::string& ns, json obj) {
  std::lock_guard lock(mu_);
  return createLocked(type, ns, std::move(obj));
}

ApiResult<json> Store::createLocked(const ResourceType& type, const std::string& ns, json obj) {
  Resource* res = resourceLocked(type);
  if (!res) {
    return notFound(type.qualifiedPlural(), "");
  }
  if (!obj.is_object()) {
    return badRequest(type.kind + ": request body must be a JSON object");
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) {
    obj["metadata"] = json::object();
  }
  json& md = obj["metadata"];
  std::string name = mdString(obj, "name");
  if (name.empty()) {
    std::string prefix = mdString(obj, "generateName");
    if (prefix.empty()) {
      return invalid(type.kind, "", "metadata.name: Required value: name or generateName is required");
    }
    static constexpr char Alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    do {
      name = prefix;
      for (int i = 0; i < 5; ++i) {
        name.push_back(Alphabet[random_.next64() % (sizeof(Alphabet) - 1)]);
      }
    } while (res->objects.count(objectKey(type.namespaced ? ns : "", name)));
  }
  if (!validName(name)) {
    return invalid(type.kind, name, "metadata.name: Invalid value: \"" + name +
                   "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                   "'.', and must start and end with an alphanumeric character");
  }
  if (type.namespaced) {
    std::string bodyNs = mdString(obj, "namespace");
    if (!bodyNs.empty() && bodyNs != ns) {
      return badRequest("metadata.namespace: the namespace of the provided object (" + bodyNs +
                        ") does not match the namespace sent on the request (" + ns + ")");
    }
    const Resource* nsRes = resources_.count("/namespaces") ? &resources_.at("/namespaces") : nullptr;
    if (nsRes && !nsRes->objects.count(objectKey("", ns))) {
      return notFound("namespaces", ns);
    }
    md["namespace"] = ns;
  } else {
    md.erase("namespace");
  }
  const std::string key = objectKey(type.namespaced ? ns : "", name);
  if (res->objects.count(key)) {
    return alreadyExists(type.qualifiedPlural(), name);
  }
  md["name"] = name;
  md["uid"] = newUid();
  md["creationTimestamp"] = nowText();
  md.erase("deletionTimestamp");
  md.erase("deletionGracePeriodSeconds");
  if (type.hasGeneration) {
    md["generation"] = 1;
  }
  obj["kind"] = type.kind;
  obj["apiVersion"] = type.groupVersion();
  auto defaulted = applyTypeDefaults(type, std::move(obj), nullptr);
  if (!defaulted) {
    return defaulted.error();
  }
  obj = std::move(defaulted).value();
  if (type.key() == "apiextensions.k8s.io/customresourcedefinitions") {
    auto ok = onCrdWrittenLocked(obj);
    if (!ok) {
      return ok.error();
    }
    setCrdStatus(obj, nowText());
    res = resourceLocked(type);  // registering may rehash nothing, but stay safe
  }
  obj["metadata"]["resourceVersion"] = bumpRvLocked();
  res->objects[key] = obj;
  recordLocked(*res, "ADDED", obj, nullptr);
  return obj;
}

ApiResult<json> Store::applyTypeDefaults(const ResourceType& type, json obj, const json* old) {
  const std::string name = mdString(obj, "name");
  if (type.key() == "/services") {
    if (!obj.contains("spec") || !obj["spec"].is_object()) {
      obj["spec"] = json::object();
    }
    json& spec = obj["spec"];
    const json oldSpec = old ? specOf(*old) : json::object();
    if (spec.contains("type") && !spec["type"].is_string()) {
      return invalid("Service", name, "spec.type: Invalid value: must be a string");
    }
    std::string svcType = stringField(spec, "type", "ClusterIP");
    if (!spec.contains("type") || !spec["type"].is_string()) {
      spec["type"] = svcType;
    }
    if (svcType != "ClusterIP" && svcType != "NodePort" && svcType != "LoadBalancer" && svcType != "ExternalName") {
      return invalid("Service", name, "spec.type: Unsupported value: \"" + svcType +
                     "\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"");
    }
    if (svcType != "ExternalName") {
      std::string ip = stringField(spec, "clusterIP", "");
      if (ip.empty() && oldSpec.is_object()) {
        ip = stringField(oldSpec, "clusterIP", "");
      }
      if (ip.empty()) {
        for (int i = 10; i < 255; ++i) {
          if (!usedServiceIps_.count(i)) {
            ip = options_.serviceIpPrefix + std::to_string(i);
            break;
          }
        }
        if (ip.empty()) {
          return ApiError{500, "InternalError", "Service \"" + name + "\": spec.clusterIP: no free address in " +
                          options_.serviceIpPrefix + "0/24", {}};
        }
      }
      int suffix = ipSuffix(options_.serviceIpPrefix, ip);
      if (suffix >= 0) {
        usedServiceIps_.insert(suffix);
      }
      spec["clusterIP"] = ip;
      if (ip != "None") {
        spec["clusterIPs"] = json::array({ip});
      }
      if (!spec.contains("ipFamilies")) {
        spec["ipFamilies"] = json::array({ip.find(':') == std::string::npos ? "IPv4" : "IPv6"});
      }
      if (!spec.contains("ipFamilyPolicy")) {
        spec["ipFamilyPolicy"] = "SingleStack";
      }
      if (!spec.contains("sessionAffinity")) {
        spec["sessionAffinity"] = "None";
      }
      if (!spec.contains("internalTrafficPolicy")) {
        spec["internalTrafficPolicy"] = "Cluster";
      }
    }
    const bool wantsNodePorts = svcType == "NodePort" ||
                                (svcType == "LoadBalancer" && boolField(spec, "allocateLoadBalancerNodePorts", true));
    if ((svcType == "NodePort" || svcType == "LoadBalancer") && !spec.contains("externalTrafficPolicy")) {
      spec["externalTrafficPolicy"] = "Cluster";
    }
    if (svcType == "LoadBalancer" && !spec.contains("allocateLoadBalancerNodePorts")) {
      spec["allocateLoadBalancerNodePorts"] = true;
    }
    if (spec.contains("ports")) {
      if (!spec["ports"].is_array()) {
        return invalid("Service", name, "spec.ports: must be a list");
      }
      for (size_t i = 0; i < spec["ports"].size(); ++i) {
        json& p = spec["ports"][i];
        if (!p.is_object() || !p.contains("port") || !p["port"].is_number_integer()) {
          return invalid("Service", name, "spec.ports[" + std::to_string(i) + "].port: Required value");
        }
        int port = p["port"].get<int>();
        if (port < 1 || port > 65535) {
          return invalid("Service", name, "spec.ports[" + std::to_string(i) + "].port: Invalid value: " +
                         std::to_string(port) + ": must be between 1 and 65535, inclusive");
        }
        if (!p.contains("protocol")) {
          p["protocol"] = "TCP";
        }
        if (!p.contains("targetPort")) {
          p["targetPort"] = port;
        }
        if (wantsNodePorts && !p.contains("nodePort")) {
          int np = 0;
          if (oldSpec.is_object() && oldSpec.contains("ports") && oldSpec["ports"].is_array()) {
            for (const auto& op : oldSpec["ports"]) {
              if (op.is_object() && intField(op, "port", 0) == port && op.contains("nodePort") &&
                  op["nodePort"].is_number_integer()) {
                np = op["nodePort"].get<int>();
              }
            }
          }
          for (int c = 30000; np == 0 && c <= 32767; ++c) {
            if (!usedNodePorts_.count(c)) {
              np = c;
            }
          }
          if (np != 0) {
            usedNodePorts_.insert(np);
            p["nodePort"] = np;
          }
        }
      }
    }
    if (!obj.contains("status") || !obj["status"].is_object()) {
      obj["status"] = {{"loadBalancer", json::object()}};
    }
    if (!obj["status"].contains("loadBalancer") || !obj["status"]["loadBalancer"].is_object()) {
      obj["status"]["loadBalancer"] = json::object();
    }
    json& lb = obj["status"]["loadBalancer"];
    if (lb.is_object() && lb.contains("ingress") && lb["ingress"].is_array()) {
      for (auto& ing : lb["ingress"]) {
        if (ing.is_object() && ing.contains("ip") && !ing.contains("ipMode")) {
          ing["ipMode"] = "VIP";
        }
      }
    }
  } else if (type.key() == "/namespaces") {
    if (!obj.contains("status") || !obj["status"].is_object()) {
      obj["status"] = json::object();
    }
    if (!obj["status"].contains("phase")) {
      obj["status"]["phase"] = "Active";
    }
    if (!obj["metadata"].contains("labels") || !obj["metadata"]["labels"].is_object()) {
      obj["metadata"]["labels"] = json::object();
    }
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
  } else if (type.key() == "coordination.k8s.io/leases") {
    if (obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("leaseDurationSeconds") &&
        !obj["spec"]["leaseDurationSeconds"].is_number_integer()) {
      return invalid("Lease", name, "spec.leaseDurationSeconds: must be an integer");
    }
  } else if (!type.crdName.empty()) {
    if (obj.contains("spec") && !obj["spec"].is_object()) {
      return invalid(type.kind, name, "spec: Invalid value: must be an object");
    }
  }
  return obj;
}

void Store::recordLocked(Resource& res, const std::string& eventType, const json& obj, const json& previous) {
  HistoryEntry e{rv_, eventType, obj, previous};
  deliverLocked(res, e);
  res.history.push_back(std::move(e));
  while (res.history.size() > options_.historyWindow) {
    res.floor = res.history.front().rv;
    res.history.pop_front();
  }
}

void Store::deliverLocked(const Resource& res, const HistoryEntry& e) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    Watcher& w = it->second;
    if (w.typeKey != res.type.key()) {
      ++it;
      continue;
    }
    std::string type = e.type;
    bool nowMatches = w.filter.matches(e.object);
    if (e.type == "MODIFIED") {
      bool wasMatching = w.filter.matches(e.previous);
      if (!wasMatching && !nowMatches) {
        ++it;
        continue;
      }
      if (!wasMatching) {
        type = "ADDED";
      } else if (!nowMatches) {
        type = "DELETED";
      }
    } else if (!nowMatches) {
      ++it;
      continue;
    }
    if (!w.sink->send(WatchEvent{type, e.object})) {
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
}

ApiResult<json> Store::update(const ResourceType& type, const std::string& ns, const std::string& name, json obj,
                              Subresource sub) {
  std::lock_guard lock(mu_);
  return updateLocked(type, ns, name, std::move(obj), sub, true);
}

ApiResult<json> Store::patch(const ResourceType& type, const std::string& ns, const std::string& name,
                             const json& patchBody, PatchType patchType, Subresource sub) {
  std::lock_guard lock(mu_);
  Resource* res = resourceLocked(type);
  if (!res) {
    return notFound(type.qualifiedPlural(), name);
  }
  auto it = res->objects.find(objectKey(type.namespaced ? ns : "", name));
  if (it == res->objects.end()) {
    return notFound(type.qualifiedPlural(), name);
  }
  auto patched = applyPatch(it->second, patchBody, patchType);
  if (!patched) {
    return patched.error();
  }
  if (!patched->is_object()) {
    return badRequest(type.kind + " \"" + name + "\": patch result is not an object");
  }
  return updateLocked(type, ns, name, std::move(patched).value(), sub, false);
}

ApiResult<json> Store::updateLocked(const ResourceType& type, const std::string& ns, const std::string& name, json obj,
                                    Subresource sub, bool isPut) {
  Resource* res = resourceLocked(type);
  if (!res) {
    return notFound(type.qualifiedPlural(), name);
  }
  if (sub == Subresource::Status && !type.hasStatus) {
    return notFound(type.qualifiedPlural() + "/status", name);
  }
  const std::string key = objectKey(type.namespaced ? ns : "", name);
  auto it = res->objects.find(key);
  if (it == res->objects.end()) {
    return notFound(type.qualifiedPlural(), name);
  }
  const json cur = it->second;
  if (!obj.is_object()) {
    return badRequest(type.kind + " \"" + name + "\": request body must be a JSON object");
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) {
    obj["metadata"] = json::object();
  }
  const std::string bodyName = mdString(obj, "name");
  if (!bodyName.empty() && bodyName != name) {
    return badRequest("metadata.name: the name of the object (" + bodyName +
                      ") does not match the name on the URL (" + name + ")");
  }
  const std::string bodyRv = mdString(obj, "resourceVersion");
  const std::string curRv = mdString(cur, "resourceVersion");
  if (bodyRv.empty() && isPut && type.requireRvOnUpdate) {
    return invalid(type.kind, name, "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update");
  }
  if (!bodyRv.empty() && bodyRv != curRv) {
    return conflict(type.qualifiedPlural(), name,
                    "the object has been modified; please apply your changes to the latest version and try again");
  }
  json next;
  if (sub == Subresource::Status) {
    next = cur;
    if (obj.contains("status")) {
      next["status"] = obj["status"];
    } else {
      next.erase("status");
    }
    if (type.statusKeepsMetadata) {
      for (const char* f : {"labels", "annotations", "finalizers"}) {
        if (obj["metadata"].contains(f)) {
          next["metadata"][f] = obj["metadata"][f];
        } else {
          next["metadata"].erase(f);
        }
      }
    }
  } else {
    next = std::move(obj);
    if (type.hasStatus) {
      if (cur.contains("status")) {
        next["status"] = cur["status"];
      } else {
        next.erase("status");
      }
    }
  }
  json& md = next["metadata"];
  for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                        "namespace"}) {
    if (cur["metadata"].contains(f)) {
      md[f] = cur["metadata"][f];
    } else {
      md.erase(f);
    }
  }
  md["name"] = name;
  md["resourceVersion"] = curRv;
  next["kind"] = type.kind;
  next["apiVersion"] = type.groupVersion();
  auto defaulted = applyTypeDefaults(type, std::move(next), &cur);
  if (!defaulted) {
    return defaulted.error();
  }
  next = std::move(defaulted).value();
  if (type.hasGeneration && specOf(next) != specOf(cur)) {
    next["metadata"]["generation"] = intField(cur["metadata"], "generation", 0) + 1;
  }
  const bool isCrd = type.key() == "apiextensions.k8s.io/customresourcedefinitions";
  if (isCrd && specOf(next) != specOf(cur)) {
    auto ok = onCrdWrittenLocked(next);
    if (!ok) {
      return ok.error();
    }
    setCrdStatus(next, nowText());
    res = resourceLocked(type);
  }
  const bool finishDelete = next["metadata"].contains("deletionTimestamp") && !hasFinalizers(next);
  if (sameContent(next, cur) && !finishDelete) {
    return cur;  // no-op write: no new resourceVersion, no event (like the real server)
  }
  next["metadata"]["resourceVersion"] = bumpRvLocked();
  if (finishDelete) {
    eraseLocked(*res, key);
    recordLocked(*res, "DELETED", next, nullptr);
    if (isCrd) {
      onCrdDeletedLocked(next);
    }
    return next;
  }
  res->objects[key] = next;
  recordLocked(*res, "MODIFIED", next, cur);
  return next;
}

void Store::eraseLocked(Resource& res, const std::string& key) {
  auto it = res.objects.find(key);
  if (it == res.objects.end()) {
    return;
  }
  if (res.type.key() == "/services") {
    const json spec = specOf(it->second);
    if (spec.is_object()) {
      int suffix = ipSuffix(options_.serviceIpPrefix, stringField(spec, "clusterIP", ""));
      if (suffix >= 0) {
        usedServiceIps_.erase(suffix);
      }
      if (spec.contains("ports") && spec["ports"].is_array()) {
        for (const auto& p : spec["ports"]) {
          if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer()) {
            usedNodePorts_.erase(p["nodePort"].get<int>());
          }
        }
      }
    }
  }
  res.objects.erase(it);
}

ApiResult<json> Store::remove(const ResourceType& type, const std::string& ns, const std::string& name,
                              const json& deleteOptions) {
  std::lock_guard lock(mu_);
  Resource* res = resourceLocked(type);
  if (!res) {
    return notFound(type.qualifiedPlural(), name);
  }
  const std::string key = objectKey(type.namespaced ? ns : "", name);
  if (!res->objects.count(key)) {
    return notFound(type.qualifiedPlural(), name);
  }
  return removeLocked(*res, key, deleteOptions);
}

ApiResult<json> Store::removeLocked(Resource& res, const std::string& key, const json& deleteOptions) {
  json cur = res.objects.at(key);
  const std::string name = mdString(cur, "name");
  if (deleteOptions.is_object() && deleteOptions.contains("preconditions") &&
      deleteOptions["preconditions"].is_object()) {
    const json& pre = deleteOptions["preconditions"];
    if (pre.contains("resourceVersion") && pre["resourceVersion"].is_string() &&
        pre["resourceVersion"].get<std::string>() != mdString(cur, "resourceVersion")) {
      return conflict(res.type.qualifiedPlural(), name,
                      "Precondition failed: ResourceVersion in precondition: " +
                          pre["resourceVersion"].get<std::string>() + ", ResourceVersion in object meta: " +
                          mdString(cur, "resourceVersion"));
    }
    if (pre.contains("uid") && pre["uid"].is_string() && pre["uid"].get<std::string>() != mdString(cur, "uid")) {
      return conflict(res.type.qualifiedPlural(), name,
                      "Precondition failed: UID in precondition: " + pre["uid"].get<std::string>() +
                          ", UID in object meta: " + mdString(cur, "uid"));
    }
  }
  if (hasFinalizers(cur)) {
    if (cur["metadata"].contains("deletionTimestamp")) {
      return cur;
    }
    json prev = cur;
    cur["metadata"]["deletionTimestamp"] = nowText();
    cur["metadata"]["deletionGracePeriodSeconds"] = 0;
    cur["metadata"]["resourceVersion"] = bumpRvLocked();
    res.objects[key] = cur;
    recordLocked(res, "MODIFIED", cur, prev);
    return cur;
  }
  cur["metadata"]["resourceVersion"] = bumpRvLocked();
  eraseLocked(res, key);
  recordLocked(res, "DELETED", cur, nullptr);
  if (res.type.key() == "/namespaces") {
    const std::string ns = name;
    for (auto& [k, other] : resources_) {
      if (!other.type.namespaced) {
        continue;
      }
      std::vector<std::string> keys;
      for (const auto& [ok, o] : other.objects) {
        if (ok.rfind(ns + "/", 0) == 0) {
          keys.push_back(ok);
        }
      }
      for (const auto& ok : keys) {
        json gone = other.objects.at(ok);
        gone["metadata"]["resourceVersion"] = bumpRvLocked();
        eraseLocked(other, ok);
        recordLocked(other, "DELETED", gone, nullptr);
      }
    }
  } else if (res.type.key() == "apiextensions.k8s.io/customresourcedefinitions") {
    onCrdDeletedLocked(cur);
  }
  return cur;
}

ApiResult<ListResult> Store::removeCollection(const ResourceType& type, const Filter& filter) {
  std::lock_guard lock(mu_);
  Resource* res = resourceLocked(type);
  if (!res) {
    return notFound(type.qualifiedPlural(), "");
  }
  std::vector<std::string> keys;
  for (const auto& [k, o] : res->objects) {
    if (filter.matches(o)) {
      keys.push_back(k);
    }
  }
  ListResult out;
  for (const auto& k : keys) {
    res = resourceLocked(type);
    if (!res || !res->objects.count(k)) {
      continue;
    }
    auto r = removeLocked(*res, k, json::object());
    if (r) {
      out.items.push_back(r.value());
    }
  }
  out.resourceVersion = std::to_string(rv_);
  return out;
}

ApiResult<bool> Store::onCrdWrittenLocked(const json& crd) {
  auto types = resourceTypesFromCrd(crd);
  if (!types) {
    return types.error();
  }
  for (const auto& t : types.value()) {
    auto it = resources_.find(t.key());
    if (it != resources_.end() && it->second.type.crdName != t.crdName) {
      return invalid("CustomResourceDefinition", t.crdName,
                     "spec.names.plural: Invalid value: \"" + t.plural + "\": conflicts with a built-in resource");
    }
  }
  // One served version per resource in the double: the storage version (or the first served).
  const ResourceType* chosen = &types.value().front();
  for (size_t i = 0; i < types->size(); ++i) {
    for (const auto& v : crd["spec"]["versions"]) {
      if (v.is_object() && stringField(v, "name", "") == (*types)[i].version && boolField(v, "storage", false)) {
        chosen = &(*types)[i];
      }
    }
  }
  registerTypeLocked(*chosen);
  return true;
}

void Store::onCrdDeletedLocked(const json& crd) {
  const std::string crdName = mdString(crd, "name");
  for (auto it = resources_.begin(); it != resources_.end();) {
    if (it->second.type.crdName == crdName) {
      for (auto w = watchers_.begin(); w != watchers_.end();) {
        if (w->second.typeKey == it->first) {
          w->second.sink->close();
          w = watchers_.erase(w);
        } else {
          ++w;
        }
      }
      it = resources_.erase(it);
    } else {
      ++it;
    }
  }
}

ApiResult<uint64_t> Store::watch(const ResourceType& type, const WatchRequest& req, std::shared_ptr<WatchSink> sink) {
  std::lock_guard lock(mu_);
  Resource* res = resourceLocked(type);
  if (!res) {
    return notFound(type.qualifiedPlural(), "");
  }
  if (req.sendInitialEvents || req.resourceVersion.empty() || req.resourceVersion == "0") {
    for (const auto& [k, o] : res->objects) {
      if (req.filter.matches(o) && !sink->send(WatchEvent{"ADDED", o})) {
        return ApiError{499, "ClientClosed", "watch consumer went away", {}};
      }
    }
    if (req.sendInitialEvents) {
      json end = {{"kind", type.kind}, {"apiVersion", type.groupVersion()},
                  {"metadata", {{"resourceVersion", std::to_string(rv_)},
                                {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
      if (!sink->send(WatchEvent{"BOOKMARK", end})) {
        return ApiError{499, "ClientClosed", "watch consumer went away", {}};
      }
    }
  } else {
    uint64_t from = 0;
    if (!parseRv(req.resourceVersion, from)) {
      return badRequest("resourceVersion: invalid value \"" + req.resourceVersion + "\": must be an integer");
    }
    if (from < res->floor) {
      return gone("too old resource version: " + req.resourceVersion + " (" + std::to_string(res->floor) + ")");
    }
    for (const auto& e : res->history) {
      if (e.rv <= from) {
        continue;
      }
      std::string eventType = e.type;
      bool nowMatches = req.filter.matches(e.object);
      if (e.type == "MODIFIED") {
        bool was = req.filter.matches(e.previous);
        if (!was && !nowMatches) {
          continue;
        }
        eventType = !was ? "ADDED" : (!nowMatches ? "DELETED" : "MODIFIED");
      } else if (!nowMatches) {
        continue;
      }
      if (!sink->send(WatchEvent{eventType, e.object})) {
        return ApiError{499, "ClientClosed", "watch consumer went away", {}};
      }
    }
  }
  uint64_t id = nextWatcherId_++;
  watchers_.emplace(id, Watcher{type.key(), req.filter, req.bookmarks, req.deadline, std::move(sink)});
  return id;
}

void Store::cancelWatch(uint64_t id) {
  std::lock_guard lock(mu_);
  watchers_.erase(id);
}

size_t Store::closeAllWatches() {
  std::lock_guard lock(mu_);
  size_t n = watchers_.size();
  for (auto& [id, w] : watchers_) {
    w.sink->close();
  }
  watchers_.clear();
  return n;
}

size_t Store::closeExpiredWatches(TimePoint now) {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->second.deadline <= now) {
      it->second.sink->close();
      it = watchers_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

void Store::sendBookmarks() {
  std::lock_guard lock(mu_);
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (!it->second.bookmarks) {
      ++it;
      continue;
    }
    const Resource& res = resources_.at(it->second.typeKey);
    json obj = {{"kind", res.type.kind}, {"apiVersion", res.type.groupVersion()},
                {"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
    if (!it->second.sink->send(WatchEvent{"BOOKMARK", obj})) {
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
}

void Store::compact() {
  std::lock_guard lock(mu_);
  for (auto& [k, r] : resources_) {
    r.history.clear();
    r.floor = rv_;
  }
}

}  // namespace carplb::kubedouble
