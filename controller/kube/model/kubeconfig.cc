#include "controller/kube/model/kubeconfig.h"

#include "controller/kube/model/json_access.h"
#include "controller/kube/model/resources.h"

namespace carplb::controller::kube {

using namespace json_access;

namespace {

// Finds `name` in a kubeconfig named list (clusters/users/contexts) and returns its inner
// object (`cluster`/`user`/`context`).
Result<const nlohmann::json*> findNamed(const nlohmann::json& doc, std::string_view list, std::string_view inner,
                                        const std::string& name) {
  const nlohmann::json* arr = arrayField(doc, list);
  if (arr != nullptr) {
    for (const auto& e : *arr) {
      if (str(e, "name") == name) {
        const nlohmann::json* obj = objectField(e, inner);
        if (obj == nullptr) {
          return makeError("kubeconfig " + std::string(list) + "[" + name + "]." + std::string(inner) +
                           ": missing or not an object");
        }
        return obj;
      }
    }
  }
  return makeError("kubeconfig " + std::string(list) + ": no entry named \"" + name + "\"");
}

std::string resolvePath(std::string_view baseDir, const std::string& p) {
  if (p.empty() || p.front() == '/' || baseDir.empty()) {
    return p;
  }
  std::string out(baseDir);
  if (out.back() != '/') out += '/';
  return out + p;
}

Status decodeData(const nlohmann::json& obj, std::string_view key, const std::string& where, std::string& out) {
  auto v = optStr(obj, key);
  if (!v) {
    return okStatus();
  }
  std::string compact;
  for (char c : *v) {
    if (c != '\n' && c != '\r' && c != ' ') compact += c;
  }
  auto decoded = decodeBase64(compact);
  if (!decoded) {
    return makeError("kubeconfig " + where + "." + std::string(key) + ": " + decoded.error().message);
  }
  out = std::move(*decoded);
  return okStatus();
}

}  // namespace

Result<ClientConfig> resolveKubeconfig(const nlohmann::json& doc, std::string_view baseDir,
                                       std::string_view contextOverride) {
  if (!doc.is_object()) {
    return makeError("kubeconfig: not a mapping");
  }
  ClientConfig cfg;
  std::string ctxName = contextOverride.empty() ? str(doc, "current-context") : std::string(contextOverride);
  if (ctxName.empty()) {
    return makeError("kubeconfig current-context: not set (and no context given)");
  }
  auto ctx = findNamed(doc, "contexts", "context", ctxName);
  if (!ctx) return ctx.error();
  cfg.contextName = ctxName;
  std::string clusterName = str(**ctx, "cluster");
  std::string userName = str(**ctx, "user");
  if (auto ns = str(**ctx, "namespace"); !ns.empty()) cfg.namespace_ = ns;
  if (clusterName.empty()) {
    return makeError("kubeconfig contexts[" + ctxName + "].context.cluster: not set");
  }
  auto cluster = findNamed(doc, "clusters", "cluster", clusterName);
  if (!cluster) return cluster.error();
  const nlohmann::json& c = **cluster;
  std::string cwhere = "clusters[" + clusterName + "].cluster";
  cfg.server = str(c, "server");
  if (cfg.server.empty()) {
    return makeError("kubeconfig " + cwhere + ".server: not set");
  }
  while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
  cfg.tlsServerName = str(c, "tls-server-name");
  cfg.insecureSkipTlsVerify = optBool(c, "insecure-skip-tls-verify").value_or(false);
  cfg.caFile = resolvePath(baseDir, str(c, "certificate-authority"));
  if (auto st = decodeData(c, "certificate-authority-data", cwhere, cfg.caData); !st) return st.error();

  if (!userName.empty()) {
    auto user = findNamed(doc, "users", "user", userName);
    if (!user) return user.error();
    const nlohmann::json& u = **user;
    std::string uwhere = "users[" + userName + "].user";
    if (field(u, "exec") != nullptr) {
      return makeError("kubeconfig " + uwhere +
                       ".exec: exec credential plugins are not supported (use token, tokenFile or client certificates)");
    }
    if (field(u, "auth-provider") != nullptr) {
      return makeError("kubeconfig " + uwhere +
                       ".auth-provider: auth provider plugins are not supported (use token, tokenFile or client certificates)");
    }
    if (field(u, "username") != nullptr || field(u, "password") != nullptr) {
      return makeError("kubeconfig " + uwhere + ".username: basic authentication is not supported");
    }
    cfg.token = str(u, "token");
    cfg.tokenFile = resolvePath(baseDir, str(u, "tokenFile"));
    cfg.clientCertFile = resolvePath(baseDir, str(u, "client-certificate"));
    cfg.clientKeyFile = resolvePath(baseDir, str(u, "client-key"));
    if (auto st = decodeData(u, "client-certificate-data", uwhere, cfg.clientCertData); !st) return st.error();
    if (auto st = decodeData(u, "client-key-data", uwhere, cfg.clientKeyData); !st) return st.error();
    bool haveCert = !cfg.clientCertFile.empty() || !cfg.clientCertData.empty();
    bool haveKey = !cfg.clientKeyFile.empty() || !cfg.clientKeyData.empty();
    if (haveCert != haveKey) {
      return makeError("kubeconfig " + uwhere + ": client-certificate and client-key must be given together");
    }
  }
  return cfg;
}

Result<std::string> inClusterServer(std::string_view host, std::string_view port) {
  if (host.empty() || port.empty()) {
    return makeError("in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  for (char ch : port) {
    if (ch < '0' || ch > '9') {
      return makeError("in-cluster config KUBERNETES_SERVICE_PORT: not a number: \"" + std::string(port) + "\"");
    }
  }
  if (port.size() > 5) {
    return makeError("in-cluster config KUBERNETES_SERVICE_PORT: out of range");
  }
  std::string h(host);
  if (h.find(':') != std::string::npos && h.front() != '[') {
    h = "[" + h + "]";
  }
  return "https://" + h + ":" + std::string(port);
}

}  // namespace carplb::controller::kube
