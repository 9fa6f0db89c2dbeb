#include "controller/kube/client_config_loader.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace carplb::controller::kube {

namespace {

nlohmann::json convert(const YAML::Node& n, int depth) {
  if (depth > 64) {
    return nullptr;
  }
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) {
        o[kv.first.as<std::string>()] = convert(kv.second, depth + 1);
      }
      return o;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(convert(e, depth + 1));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") {  // quoted: always a string
        return s;
      }
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      if (s == "null" || s == "~" || s.empty()) return nullptr;
      int64_t i;
      if (YAML::convert<int64_t>::decode(n, i)) return i;
      return s;
    }
    default:
      return nullptr;
  }
}

Result<std::string> readFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeError(what + " " + path + ": cannot read", true);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<nlohmann::json> yamlToJson(const std::string& text, const std::string& what) {
  try {
    return convert(YAML::Load(text), 0);
  } catch (const std::exception& e) {
    return makeError(what + ": invalid YAML: " + e.what());
  }
}

Result<ClientConfig> loadKubeconfig(const std::string& pathIn, const std::string& context) {
  std::string path = pathIn;
  if (path.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
      std::stringstream ss(env);
      std::string item;
      while (std::getline(ss, item, ':')) {
        if (!item.empty() && std::filesystem::exists(item)) {
          path = item;
          break;
        }
      }
    }
    if (path.empty()) {
      const char* home = std::getenv("HOME");
      path = std::string(home != nullptr ? home : "") + "/.kube/config";
    }
  }
  auto text = readFile(path, "kubeconfig");
  if (!text) return text.error();
  auto doc = yamlToJson(*text, "kubeconfig " + path);
  if (!doc) return doc.error();
  std::string dir = std::filesystem::absolute(path).parent_path().string();
  auto cfg = resolveKubeconfig(*doc, dir, context);
  if (!cfg) {
    return makeError(cfg.error().message + " (in " + path + ")");
  }
  return cfg;
}

InClusterEnv InClusterEnv::fromEnvironment() {
  InClusterEnv e;
  const char* h = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* p = std::getenv("KUBERNETES_SERVICE_PORT");
  e.host = h != nullptr ? h : "";
  e.port = p != nullptr ? p : "";
  return e;
}

Result<ClientConfig> loadInCluster(const InClusterEnv& env) {
  auto server = inClusterServer(env.host, env.port);
  if (!server) return server.error();
  ClientConfig cfg;
  cfg.server = *server;
  cfg.tokenFile = env.serviceAccountDir + "/token";
  cfg.caFile = env.serviceAccountDir + "/ca.crt";
  if (!std::filesystem::exists(cfg.tokenFile)) {
    return makeError("in-cluster config " + cfg.tokenFile + ": missing (is a service account mounted?)");
  }
  if (auto ns = readFile(env.serviceAccountDir + "/namespace", "in-cluster namespace"); ns.ok()) {
    std::string v = *ns;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    if (!v.empty()) cfg.namespace_ = v;
  }
  cfg.contextName = "in-cluster";
  return cfg;
}

}  // namespace carplb::controller::kube
