#pragma once
// SHELL helpers of carplb-kube-double: reading objects from JSON/YAML files (--seed, CRD
// files) and writing a kubeconfig (--kubeconfig-out).
#include "common/result.h"
#include "kube_double/store.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace carplb::kubedouble {

// Objects in FILE: a JSON array, a JSON/YAML List ({"items": [...]}), one object, or a YAML
// stream of documents ("---"). Errors name the file and document index.
Result<std::vector<nlohmann::json>> readObjects(const std::string& file);

// Creates every object in the store (CRDs first, then namespaces, then the rest).
// Errors name the object (kind/namespace/name) and the server's message.
Status seedStore(Store& store, const std::vector<nlohmann::json>& objects);

struct KubeconfigSpec {
  std::string server;  // https://127.0.0.1:PORT
  std::string caFile;  // empty for plain HTTP
  std::string token;
};

// Written atomically (temp file + rename).
Status writeKubeconfig(const std::string& path, const KubeconfigSpec& spec);
// "PORT\n", atomically.
Status writePortFile(const std::string& path, int port);

}  // namespace carplb::kubedouble
