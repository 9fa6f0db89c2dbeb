#include "kube_double/seed.h"

#include "kube_double/json_util.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace carplb::kubedouble {

namespace {

using nlohmann::json;

json scalarToJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") {  // quoted: always a string
    return s;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  if (s.find_first_not_of("0123456789-+") == std::string::npos && s.size() < 19) {
    try {
      size_t pos = 0;
      long long v = std::stoll(s, &pos);
      if (pos == s.size()) {
        return v;
      }
    } catch (const std::exception&) {
    }
  }
  if (s.find_first_not_of("0123456789-+.eE") == std::string::npos) {
    try {
      size_t pos = 0;
      double v = std::stod(s, &pos);
      if (pos == s.size()) {
        return v;
      }
    } catch (const std::exception&) {
    }
  }
  return s;
}

json yamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalarToJson(n);
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) {
        a.push_back(yamlToJson(e));
      }
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) {
        o[kv.first.as<std::string>()] = yamlToJson(kv.second);
      }
      return o;
    }
  }
  return nullptr;
}

void flatten(const json& doc, std::vector<json>& out) {
  if (doc.is_array()) {
    for (const auto& e : doc) {
      flatten(e, out);
    }
  } else if (doc.is_object() && doc.contains("items") && doc["items"].is_array() && !doc.contains("metadata")) {
    flatten(doc["items"], out);
  } else if (doc.is_object() && doc.contains("items") && doc["items"].is_array() &&
             stringField(doc, "kind", "").size() > 4 && stringField(doc, "kind", "").ends_with("List")) {
    flatten(doc["items"], out);
  } else if (doc.is_object()) {
    out.push_back(doc);
  }
}

std::string describe(const json& obj) {
  std::string kind = stringField(obj, "kind", "?");
  std::string ns;
  std::string name;
  if (obj.contains("metadata") && obj["metadata"].is_object()) {
    ns = stringField(obj["metadata"], "namespace", "");
    name = stringField(obj["metadata"], "name", "");
  }
  return kind + " " + (ns.empty() ? "" : ns + "/") + name;
}

Status atomicWrite(const std::string& path, const std::string& content, int mode) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) {
      return makeError(path + ": cannot write " + tmp);
    }
    out << content;
    if (!out.flush()) {
      return makeError(path + ": write failed");
    }
  }
  ::chmod(tmp.c_str(), static_cast<mode_t>(mode));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return makeError(path + ": rename from " + tmp + " failed");
  }
  return okStatus();
}

}  // namespace

Result<std::vector<json>> readObjects(const std::string& file) {
  std::ifstream in(file);
  if (!in) {
    return makeError(file + ": cannot open");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<json> out;
  json asJson = json::parse(text, nullptr, false);
  if (!asJson.is_discarded()) {
    flatten(asJson, out);
    return out;
  }
  try {
    auto docs = YAML::LoadAll(text);
    for (size_t i = 0; i < docs.size(); ++i) {
      json doc = yamlToJson(docs[i]);
      if (!doc.is_null() && !doc.is_object() && !doc.is_array()) {
        return makeError(file + ": document " + std::to_string(i) + " is not an object or a list");
      }
      flatten(doc, out);
    }
  } catch (const YAML::Exception& e) {
    return makeError(file + ": not JSON, and YAML parsing failed: " + e.what());
  }
  return out;
}

Status seedStore(Store& store, const std::vector<json>& objects) {
  auto rank = [](const json& o) {
    const std::string kind = stringField(o, "kind", "");
    return kind == "CustomResourceDefinition" ? 0 : (kind == "Namespace" ? 1 : 2);
  };
  for (int pass = 0; pass < 3; ++pass) {
    for (const auto& obj : objects) {
      if (rank(obj) != pass) {
        continue;
      }
      auto type = store.findTypeByKind(stringField(obj, "apiVersion", ""), stringField(obj, "kind", ""));
      if (!type) {
        return makeError("seed " + describe(obj) + ": apiVersion/kind \"" + stringField(obj, "apiVersion", "") + "/" +
                         stringField(obj, "kind", "") + "\" is not served by the double");
      }
      std::string ns;
      if (type->namespaced) {
        ns = obj.contains("metadata") && obj["metadata"].is_object() ? stringField(obj["metadata"], "namespace", "default")
                                                                     : "default";
      }
      json body = obj;
      json status = body.contains("status") ? body["status"] : json();
      auto created = store.create(*type, ns, body);
      if (!created) {
        if (created.error().reason == "AlreadyExists") {
          continue;  // e.g. the default namespaces
        }
        return makeError("seed " + describe(obj) + ": " + created.error().message);
      }
      if (type->hasStatus && !status.is_null() && type->kind != "CustomResourceDefinition") {
        json withStatus = created.value();
        withStatus["status"] = status;
        auto updated = store.update(*type, ns, withStatus["metadata"]["name"], withStatus, Subresource::Status);
        if (!updated) {
          return makeError("seed " + describe(obj) + " status: " + updated.error().message);
        }
      }
    }
  }
  return okStatus();
}

Status writeKubeconfig(const std::string& path, const KubeconfigSpec& spec) {
  std::ostringstream y;
  y << "apiVersion: v1\nkind: Config\n"
    << "clusters:\n- name: carplb-kube-double\n  cluster:\n    server: " << spec.server << "\n";
  if (!spec.caFile.empty()) {
    y << "    certificate-authority: " << spec.caFile << "\n";
  }
  y << "users:\n- name: carplb-kube-double\n  user:\n";
  if (!spec.token.empty()) {
    y << "    token: " << json(spec.token).dump() << "\n";
  } else {
    y << "    {}\n";
  }
  y << "contexts:\n- name: carplb-kube-double\n  context:\n    cluster: carplb-kube-double\n"
    << "    user: carplb-kube-double\n    namespace: default\n"
    << "current-context: carplb-kube-double\n";
  return atomicWrite(path, y.str(), 0600);
}

Status writePortFile(const std::string& path, int port) { return atomicWrite(path, std::to_string(port) + "\n", 0644); }

}  // namespace carplb::kubedouble
