#pragma once
// SHELL part of agent/config: reads a YAML or JSON file (JSON is valid YAML, yaml-cpp parses
// both), converts it to a JSON tree (every scalar as a string; configFromJson accepts that),
// and reads passwordFile entries. Built only with CARPLB_WITH_SHELLS (links yaml-cpp).
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agent/config/agent_config.h"
#include "common/result.h"

namespace carplb::agent::config {

// YAML text -> JSON tree. Errors carry the line/column from yaml-cpp.
Result<nlohmann::json> yamlToJson(std::string_view text, const std::string& sourceName);

// Reads every vhost's passwordFile into password (trailing newline stripped), then validates.
Status resolvePasswordFiles(AgentConfig& cfg);

// Whole file -> validated AgentConfig with resolved passwords.
Result<AgentConfig> loadConfigFile(const std::string& path);

}  // namespace carplb::agent::config
