#include "agent/config/loader.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace carplb::agent::config {
namespace {

Result<std::string> readSmallFile(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError("cannot open " + path);
  std::string data;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > limit) return makeError(path + ": larger than " + std::to_string(limit) + " bytes");
  }
  return data;
}

nlohmann::json convert(const YAML::Node& n, int depth) {
  if (depth > 64) throw YAML::Exception(n.Mark(), "nesting too deep");
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return n.Scalar();
    case YAML::NodeType::Sequence: {
      auto arr = nlohmann::json::array();
      for (const auto& item : n) arr.push_back(convert(item, depth + 1));
      return arr;
    }
    case YAML::NodeType::Map: {
      auto obj = nlohmann::json::object();
      for (const auto& kv : n) {
        std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("<non-scalar key>");
        if (obj.contains(key)) throw YAML::Exception(kv.first.Mark(), "duplicate key \"" + key + "\"");
        obj[key] = convert(kv.second, depth + 1);
      }
      return obj;
    }
  }
  return nullptr;
}

}  // namespace

Result<nlohmann::json> yamlToJson(std::string_view text, const std::string& sourceName) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return convert(root, 0);
  } catch (const YAML::Exception& e) {
    return makeError(sourceName + ": line " + std::to_string(e.mark.line + 1) + " column " +
                     std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return makeError(sourceName + ": " + e.what());
  }
}

Status resolvePasswordFiles(AgentConfig& cfg) {
  for (size_t i = 0; i < cfg.vhids.size(); ++i) {
    auto& v = cfg.vhids[i];
    if (v.passwordFile.empty()) continue;
    std::string field = "vhids[" + std::to_string(i) + "].passwordFile";
    auto data = readSmallFile(v.passwordFile, 4096);
    if (!data) return makeError(field + ": " + data.error().message);
    std::string pw = *data;
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    if (pw.empty()) return makeError(field + ": " + v.passwordFile + " is empty");
    if (pw.size() > static_cast<size_t>(MaxPasswordBytes)) {
      return makeError(field + ": the password in " + v.passwordFile + " is longer than 19 bytes (" +
                       std::to_string(pw.size()) + ")");
    }
    v.password = pw;
  }
  return validateConfig(cfg);
}

Result<AgentConfig> loadConfigFile(const std::string& path) {
  auto text = readSmallFile(path, 4 * 1024 * 1024);
  if (!text) return makeError("config: " + text.error().message);
  auto tree = yamlToJson(*text, path);
  if (!tree) return tree.error();
  auto cfg = configFromJson(*tree);
  if (!cfg) return makeError(path + ": " + cfg.error().message);
  auto st = resolvePasswordFiles(*cfg);
  if (!st) return makeError(path + ": " + st.error().message);
  return cfg;
}

}  // namespace carplb::agent::config
