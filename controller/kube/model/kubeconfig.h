#pragma once
// kubeconfig resolution, pure: the shell loads the YAML into JSON and reads files; this picks
// the context, cluster and user, resolves relative paths against the kubeconfig's directory,
// decodes *-data fields and rejects what we do not support (exec and auth-provider plugins)
// with a clear error. Also the in-cluster server URL.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "common/result.h"

namespace carplb::controller::kube {

struct ClientConfig {
  std::string server;  // https://host:port
  std::string tlsServerName;
  bool insecureSkipTlsVerify = false;
  std::string caFile;       // absolute path, or empty
  std::string caData;       // PEM (decoded), or empty
  std::string clientCertFile;
  std::string clientCertData;  // PEM
  std::string clientKeyFile;
  std::string clientKeyData;  // PEM
  std::string token;
  std::string tokenFile;  // re-read periodically and after a 401
  std::string namespace_ = "default";
  std::string contextName;
};

// `doc` is the kubeconfig as JSON; `baseDir` the directory of the file it came from;
// `contextOverride` picks a context other than current-context when non-empty.
// Errors name the field: "kubeconfig users[alice].user.exec: exec credential plugins are not
// supported (use token, tokenFile or client certificates)".
Result<ClientConfig> resolveKubeconfig(const nlohmann::json& doc, std::string_view baseDir,
                                       std::string_view contextOverride = {});

// https://host:port with brackets around IPv6 hosts; errors for empty/invalid values.
Result<std::string> inClusterServer(std::string_view host, std::string_view port);

}  // namespace carplb::controller::kube
