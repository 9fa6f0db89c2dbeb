#pragma once
// carplb-agent command line -> CommandLine. Pure (no file or network access).
//
//   carplb-agent --config FILE [--status-listen HOST:PORT|off] [--log-level LEVEL]
//   carplb-agent --interface IF --vhid N --pass PW --addr VIP [--addr VIP...] [--srcip IP]
//                [--advbase S] [--advskew N] [--preempt] [--preempt-delay D] [--garp-refresh D]
//                [--passfile FILE] [--demote N] [--status-listen ...] [--log-level ...]
//   carplb-agent --help | --version
//
// Long options take "--name VALUE" or "--name=VALUE"; the ucarp short forms -i -s -v -p -a
// -b -k -P -o work too. --config and the single-VIP flags are mutually exclusive.
#include <optional>
#include <string>
#include <vector>

#include "agent/config/agent_config.h"
#include "common/result.h"

namespace carplb::agent::config {

struct CommandLine {
  bool help = false;
  bool version = false;
  std::optional<std::string> configPath;     // --config
  std::optional<AgentConfig> single;         // built from the ucarp-like flags (validated)
  std::optional<std::string> statusListen;   // overrides the file's statusListen
  std::optional<LogLevel> logLevel;          // overrides the file's logLevel
};

// args excludes argv[0].
Result<CommandLine> parseCommandLine(const std::vector<std::string>& args);

// The --help text.
std::string usageText();

// Applies the command-line overrides (status listen, log level) to a loaded config.
void applyOverrides(const CommandLine& cl, AgentConfig& cfg);

}  // namespace carplb::agent::config
