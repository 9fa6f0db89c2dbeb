#pragma once
// SHELL: where a ClientConfig comes from (kubernetes-api.md "Configuration").
//  - loadKubeconfig: $KUBECONFIG (colon-separated, first existing file wins) or ~/.kube/config,
//    or an explicit path; YAML (or JSON) read with yaml-cpp, then resolved by the pure
//    resolveKubeconfig() (relative paths, *-data, exec plugins -> "not supported").
//  - loadInCluster: KUBERNETES_SERVICE_HOST/PORT + the service account directory
//    (token file re-read by TokenSource, ca.crt, namespace).
#include <string>

#include "common/result.h"
#include "controller/kube/model/kubeconfig.h"

namespace carplb::controller::kube {

// `path` empty: $KUBECONFIG, then $HOME/.kube/config. `context` empty: current-context.
Result<ClientConfig> loadKubeconfig(const std::string& path, const std::string& context = {});

struct InClusterEnv {
  std::string host;  // KUBERNETES_SERVICE_HOST
  std::string port;  // KUBERNETES_SERVICE_PORT
  std::string serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
  static InClusterEnv fromEnvironment();
};
Result<ClientConfig> loadInCluster(const InClusterEnv& env = InClusterEnv::fromEnvironment());

// Converts a YAML document to JSON (scalars: bool/int/float/null recognised like YAML 1.2 core).
Result<nlohmann::json> yamlToJson(const std::string& text, const std::string& what);

}  // namespace carplb::controller::kube
