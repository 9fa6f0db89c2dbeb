#include "kube_double/table.h"

#include "kube_double/time_format.h"

#include <string>

namespace carplb::kubedouble {

namespace {

using nlohmann::json;

// Path steps: a key, an index, or a wildcard.
struct Step {
  enum class Kind { Key, Index, All } kind = Kind::Key;
  std::string key;
  size_t index = 0;
};

bool parsePath(std::string_view p, std::vector<Step>& steps) {
  if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
    p = p.substr(1, p.size() - 2);
  }
  size_t i = 0;
  if (i < p.size() && p[i] == '.') {
    ++i;
  }
  std::string cur;
  bool haveKey = false;
  auto flush = [&] {
    if (haveKey) {
      steps.push_back(Step{Step::Kind::Key, cur, 0});
      cur.clear();
      haveKey = false;
    }
  };
  while (i < p.size()) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      cur.push_back(p[i + 1]);
      haveKey = true;
      i += 2;
    } else if (c == '.') {
      flush();
      ++i;
    } else if (c == '[') {
      flush();
      size_t close = p.find(']', i);
      if (close == std::string_view::npos) {
        return false;
      }
      std::string_view inner = p.substr(i + 1, close - i - 1);
      if (inner == "*") {
        steps.push_back(Step{Step::Kind::All, "", 0});
      } else if (!inner.empty() && inner.find_first_not_of("0123456789") == std::string_view::npos && inner.size() < 9) {
        steps.push_back(Step{Step::Kind::Index, "", static_cast<size_t>(std::stoul(std::string(inner)))});
      } else if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"') && inner.back() == inner.front()) {
        steps.push_back(Step{Step::Kind::Key, std::string(inner.substr(1, inner.size() - 2)), 0});
      } else {
        return false;
      }
      i = close + 1;
    } else {
      cur.push_back(c);
      haveKey = true;
      ++i;
    }
  }
  flush();
  return true;
}

void walk(const json& node, const std::vector<Step>& steps, size_t at, std::vector<json>& out) {
  if (at == steps.size()) {
    out.push_back(node);
    return;
  }
  const Step& s = steps[at];
  switch (s.kind) {
    case Step::Kind::Key:
      if (node.is_object()) {
        auto it = node.find(s.key);
        if (it != node.end()) {
          walk(*it, steps, at + 1, out);
        }
      }
      break;
    case Step::Kind::Index:
      if (node.is_array() && s.index < node.size()) {
        walk(node[s.index], steps, at + 1, out);
      }
      break;
    case Step::Kind::All:
      if (node.is_array()) {
        for (const auto& e : node) {
          walk(e, steps, at + 1, out);
        }
      } else if (node.is_object()) {
        for (const auto& e : node) {
          walk(e, steps, at + 1, out);
        }
      }
      break;
  }
}

std::string str(const json& obj, std::initializer_list<const char*> path, const std::string& dflt = "") {
  const json* cur = &obj;
  for (const char* k : path) {
    if (!cur->is_object()) {
      return dflt;
    }
    auto it = cur->find(k);
    if (it == cur->end()) {
      return dflt;
    }
    cur = &*it;
  }
  if (cur->is_string()) {
    return cur->get<std::string>();
  }
  if (cur->is_number()) {
    return cur->dump();
  }
  return dflt;
}

const json& at(const json& obj, std::initializer_list<const char*> path) {
  static const json Null = nullptr;  // immutable, not mutable global state
  const json* cur = &obj;
  for (const char* k : path) {
    if (!cur->is_object()) {
      return Null;
    }
    auto it = cur->find(k);
    if (it == cur->end()) {
      return Null;
    }
    cur = &*it;
  }
  return *cur;
}

std::string age(const json& obj, const char* field, WallTime now) {
  std::string ts = str(obj, {"metadata", field});
  if (ts.empty()) {
    return "<unknown>";
  }
  auto t = parseRfc3339(ts);
  if (!t) {
    return "<invalid>";
  }
  return humanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

std::string ageOf(const std::string& ts, WallTime now) {
  auto t = parseRfc3339(ts);
  if (!t) {
    return "<unknown>";
  }
  return humanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

std::string join(const std::vector<std::string>& v, const char* sep = ",") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) {
      out += sep;
    }
    out += s;
  }
  return out;
}

json col(const char* name, const char* type, int priority = 0, const char* format = "", const char* desc = "") {
  return json{{"name", name}, {"type", type}, {"format", format}, {"description", desc}, {"priority", priority}};
}

json nameCol() { return col("Name", "string", 0, "name", "Name must be unique within a namespace."); }

std::string servicePorts(const json& svc) {
  std::vector<std::string> parts;
  const json& ports = at(svc, {"spec", "ports"});
  if (ports.is_array()) {
    for (const auto& p : ports) {
      std::string s = str(p, {"port"});
      std::string np = str(p, {"nodePort"});
      if (!np.empty()) {
        s += ":" + np;
      }
      parts.push_back(s + "/" + str(p, {"protocol"}, "TCP"));
    }
  }
  return parts.empty() ? "<none>" : join(parts);
}

std::string serviceExternalIp(const json& svc) {
  const std::string type = str(svc, {"spec", "type"}, "ClusterIP");
  std::vector<std::string> ips;
  const json& ext = at(svc, {"spec", "externalIPs"});
  if (ext.is_array()) {
    for (const auto& e : ext) {
      if (e.is_string()) {
        ips.push_back(e.get<std::string>());
      }
    }
  }
  if (type == "ExternalName") {
    return str(svc, {"spec", "externalName"});
  }
  if (type == "LoadBalancer") {
    const json& ingress = at(svc, {"status", "loadBalancer", "ingress"});
    if (ingress.is_array()) {
      for (const auto& i : ingress) {
        std::string ip = str(i, {"ip"});
        ips.push_back(ip.empty() ? str(i, {"hostname"}) : ip);
      }
    }
    return ips.empty() ? "<pending>" : join(ips);
  }
  return ips.empty() ? "<none>" : join(ips);
}

std::string selectorText(const json& svc) {
  const json& sel = at(svc, {"spec", "selector"});
  std::vector<std::string> parts;
  if (sel.is_object()) {
    for (auto it = sel.begin(); it != sel.end(); ++it) {
      parts.push_back(it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump()));
    }
  }
  return parts.empty() ? "<none>" : join(parts);
}

std::string nodeStatus(const json& node) {
  std::string ready = "Unknown";
  const json& conds = at(node, {"status", "conditions"});
  if (conds.is_array()) {
    for (const auto& c : conds) {
      if (str(c, {"type"}) == "Ready") {
        std::string s = str(c, {"status"});
        ready = s == "True" ? "Ready" : (s == "False" ? "NotReady" : "Unknown");
      }
    }
  }
  const json& unsched = at(node, {"spec", "unschedulable"});
  if (unsched.is_boolean() && unsched.get<bool>()) {
    ready += ",SchedulingDisabled";
  }
  return ready;
}

std::string nodeRoles(const json& node) {
  std::vector<std::string> roles;
  const json& labels = at(node, {"metadata", "labels"});
  if (labels.is_object()) {
    const std::string prefix = "node-role.kubernetes.io/";
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.key().rfind(prefix, 0) == 0 && it.key().size() > prefix.size()) {
        roles.push_back(it.key().substr(prefix.size()));
      } else if (it.key() == "kubernetes.io/role" && it->is_string()) {
        roles.push_back(it->get<std::string>());
      }
    }
  }
  return roles.empty() ? "<none>" : join(roles);
}

std::string nodeAddress(const json& node, const char* type) {
  const json& addrs = at(node, {"status", "addresses"});
  if (addrs.is_array()) {
    for (const auto& a : addrs) {
      if (str(a, {"type"}) == type) {
        return str(a, {"address"});
      }
    }
  }
  return "<none>";
}

size_t count(const json& obj, const char* field) {
  size_t n = 0;
  auto it = obj.find(field);
  if (it != obj.end() && it->is_object()) {
    n += it->size();
  }
  return n;
}

std::string eventObject(const json& ev, bool eventsApi) {
  const json& ref = eventsApi ? at(ev, {"regarding"}) : at(ev, {"involvedObject"});
  std::string kind = str(ref, {"kind"});
  for (auto& c : kind) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return kind + "/" + str(ref, {"name"});
}

std::string eventLastSeen(const json& ev, WallTime now, bool eventsApi) {
  for (const char* f : {"lastTimestamp", "eventTime", "deprecatedLastTimestamp", "firstTimestamp"}) {
    if (eventsApi && std::string(f) == "lastTimestamp") {
      continue;
    }
    std::string ts = str(ev, {f});
    if (!ts.empty()) {
      return ageOf(ts, now);
    }
  }
  return age(ev, "creationTimestamp", now);
}

json cellFor(const json& value, const std::string& type, WallTime now) {
  if (value.is_null()) {
    return nullptr;
  }
  if (type == "date" && value.is_string()) {
    return ageOf(value.get<std::string>(), now);
  }
  if ((type == "integer" || type == "number") && value.is_number()) {
    return value;
  }
  if (type == "boolean" && value.is_boolean()) {
    return value;
  }
  if (value.is_string()) {
    return value;
  }
  return value.dump();
}

}  // namespace

std::vector<json> evalJsonPath(const json& obj, std::string_view path) {
  std::vector<Step> steps;
  std::vector<json> out;
  if (!parsePath(path, steps)) {
    return out;
  }
  walk(obj, steps, 0, out);
  return out;
}

json tableColumns(const ResourceType& type) {
  switch (type.printer) {
    case Printer::Service:
      return json::array({nameCol(), col("Type", "string"), col("Cluster-IP", "string"), col("External-IP", "string"),
                          col("Port(s)", "string"), col("Age", "string"), col("Selector", "string", 1)});
    case Printer::Node:
      return json::array({nameCol(), col("Status", "string"), col("Roles", "string"), col("Age", "string"),
                          col("Version", "string"), col("Internal-IP", "string", 1), col("External-IP", "string", 1),
                          col("OS-Image", "string", 1), col("Kernel-Version", "string", 1),
                          col("Container-Runtime", "string", 1)});
    case Printer::Namespace:
      return json::array({nameCol(), col("Status", "string"), col("Age", "string")});
    case Printer::ConfigMap:
      return json::array({nameCol(), col("Data", "string"), col("Age", "string")});
    case Printer::Secret:
      return json::array({nameCol(), col("Type", "string"), col("Data", "string"), col("Age", "string")});
    case Printer::CoreEvent:
    case Printer::EventsEvent:
      return json::array({col("Last Seen", "string"), col("Type", "string"), col("Reason", "string"),
                          col("Object", "string"), col("Message", "string"), col("Count", "string", 1),
                          col("Name", "string", 1, "name")});
    case Printer::EndpointSlice:
      return json::array({nameCol(), col("AddressType", "string"), col("Ports", "string"),
                          col("Endpoints", "string"), col("Age", "string")});
    case Printer::Lease:
      return json::array({nameCol(), col("Holder", "string"), col("Age", "string")});
    case Printer::Crd:
      return json::array({nameCol(), col("Created At", "date")});
    case Printer::Columns:
      break;
  }
  json cols = json::array({nameCol()});
  for (const auto& c : type.columns) {
    cols.push_back(json{{"name", c.name}, {"type", c.type}, {"format", ""}, {"description", c.description},
                        {"priority", c.priority}});
  }
  return cols;
}

json tableCells(const ResourceType& type, const json& obj, WallTime now) {
  const std::string name = str(obj, {"metadata", "name"});
  const std::string created = age(obj, "creationTimestamp", now);
  switch (type.printer) {
    case Printer::Service: {
      std::string clusterIp = str(obj, {"spec", "clusterIP"});
      return json::array({name, str(obj, {"spec", "type"}, "ClusterIP"), clusterIp.empty() ? "<none>" : clusterIp,
                          serviceExternalIp(obj), servicePorts(obj), created, selectorText(obj)});
    }
    case Printer::Node: {
      std::string version = str(obj, {"status", "nodeInfo", "kubeletVersion"});
      auto orNone = [](std::string s) { return s.empty() ? std::string("<none>") : s; };
      return json::array({name, nodeStatus(obj), nodeRoles(obj), created, orNone(version),
                          nodeAddress(obj, "InternalIP"), nodeAddress(obj, "ExternalIP"),
                          orNone(str(obj, {"status", "nodeInfo", "osImage"})),
                          orNone(str(obj, {"status", "nodeInfo", "kernelVersion"})),
                          orNone(str(obj, {"status", "nodeInfo", "containerRuntimeVersion"}))});
    }
    case Printer::Namespace:
      return json::array({name, str(obj, {"status", "phase"}, "Active"), created});
    case Printer::ConfigMap:
      return json::array({name, count(obj, "data") + count(obj, "binaryData"), created});
    case Printer::Secret:
      return json::array({name, str(obj, {"type"}, "Opaque"), count(obj, "data"), created});
    case Printer::CoreEvent:
    case Printer::EventsEvent: {
      const bool eventsApi = type.printer == Printer::EventsEvent;
      std::string message = str(obj, {eventsApi ? "note" : "message"});
      std::string cnt = eventsApi ? str(obj, {"deprecatedCount"}, "1") : str(obj, {"count"}, "1");
      return json::array({eventLastSeen(obj, now, eventsApi), str(obj, {"type"}), str(obj, {"reason"}),
                          eventObject(obj, eventsApi), message, cnt, name});
    }
    case Printer::EndpointSlice: {
      std::vector<std::string> ports;
      std::vector<std::string> addrs;
      const json& p = at(obj, {"ports"});
      if (p.is_array()) {
        for (const auto& e : p) {
          ports.push_back(str(e, {"port"}, "<unset>"));
        }
      }
      const json& eps = at(obj, {"endpoints"});
      if (eps.is_array()) {
        for (const auto& e : eps) {
          const json& a = at(e, {"addresses"});
          if (a.is_array()) {
            for (const auto& x : a) {
              if (x.is_string()) {
                addrs.push_back(x.get<std::string>());
              }
            }
          }
        }
      }
      return json::array({name, str(obj, {"addressType"}), ports.empty() ? "<unset>" : join(ports),
                          addrs.empty() ? "<unset>" : join(addrs), created});
    }
    case Printer::Lease:
      return json::array({name, str(obj, {"spec", "holderIdentity"}), created});
    case Printer::Crd:
      return json::array({name, str(obj, {"metadata", "creationTimestamp"})});
    case Printer::Columns:
      break;
  }
  json cells = json::array({name});
  for (const auto& c : type.columns) {
    std::vector<json> values = evalJsonPath(obj, c.jsonPath);
    if (values.empty()) {
      cells.push_back(nullptr);
    } else if (values.size() == 1) {
      cells.push_back(cellFor(values[0], c.type, now));
    } else {
      std::vector<std::string> parts;
      for (const auto& v : values) {
        parts.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      }
      cells.push_back(join(parts));
    }
  }
  return cells;
}

json renderTable(const ResourceType& type, const std::vector<json>& objects, WallTime now, const TableOptions& options) {
  json table = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", json::object()}};
  table["columnDefinitions"] = options.columnDefinitions ? tableColumns(type) : json::array();
  json rows = json::array();
  for (const auto& obj : objects) {
    json row = {{"cells", tableCells(type, obj, now)}};
    if (options.includeObject) {
      json md = obj.contains("metadata") ? obj["metadata"] : json::object();
      row["object"] = {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", md}};
    }
    rows.push_back(std::move(row));
  }
  table["rows"] = std::move(rows);
  return table;
}

}  // namespace carplb::kubedouble
