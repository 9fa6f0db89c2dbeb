#pragma once
// Agent configuration: the desired state of one carplb-agent process.
//
// One AgentConfig holds any number of vhids (each with its own interface, VIPs, timing,
// password and preemption). It comes from a YAML/JSON file (--config), from ucarp-like
// single-VIP flags, or (later) from the controller's plan stream; Agent::apply() takes it.
//
// Parsing is split so that everything but the file read is pure and unit-testable:
//   file --(yaml-cpp, yaml_loader.h, shell)--> nlohmann::json tree
//        --(configFromJson, pure)--> AgentConfig --(validateConfig, pure)--> ok / Error
// Errors name the field: "vhids[1].advskew: must be between 0 and 254, got 300".
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "common/result.h"

namespace carplb::agent::config {

// An IPv4 address, host byte order in `value` (so comparisons sort numerically).
struct Ipv4 {
  uint32_t value = 0;
  static Result<Ipv4> parse(std::string_view text);  // dotted quad only
  std::string str() const;
  auto operator<=>(const Ipv4&) const = default;
};

// Defaults (also documented in docs/agent.md).
inline constexpr int DefaultAdvbase = 1;
inline constexpr int DefaultAdvskew = 0;
inline constexpr int MaxPasswordBytes = 19;  // kernels truncate at 19, ucarp refuses longer
inline constexpr std::string_view DefaultStatusListen = "127.0.0.1:9464";

struct VhostConfig {
  int vhid = 0;                       // 1..255
  std::string interface;              // required
  std::optional<Ipv4> srcip;          // default: the interface's first IPv4 (resolved by the shell)
  std::vector<Ipv4> addresses;        // VIPs, at least one; kept in the order given
  int advbase = DefaultAdvbase;       // seconds, 0..255 (0 needs advskew > 0)
  int advskew = DefaultAdvskew;       // 1/256 s, 0..254
  std::string password;               // at most 19 bytes; HMAC key
  std::string passwordFile;           // alternative to password; read by the loader (shell)
  bool preempt = false;               // take over from a slower master
  Duration preemptDelay{0};           // wait this long (while still preferred) before preempting
  Duration garpRefresh{0};            // periodic gratuitous ARP while MASTER; 0 = off
  int demote = 0;                     // static demotion added to advskew when sending, 0..240
  // Cluster mode only (Vhost.claim of a controller snapshot; never read from a config file):
  // the controller just created this vhid and plans this node as its master. When the vhid is
  // added, the runtime may go MASTER at once if it heard nobody on the vhid (agent/carp/claim.h).
  // Not part of the vhid's CARP config: a change of this flag alone changes nothing.
  bool claim = false;

  bool operator==(const VhostConfig&) const = default;
};

struct AgentConfig {
  std::vector<VhostConfig> vhids;
  std::string statusListen{DefaultStatusListen};  // "host:port" or "off"
  LogLevel logLevel = LogLevel::Info;

  bool operator==(const AgentConfig&) const = default;
};

// "500ms", "2s", "1.5s", "1m", "250us", "0"; a bare number means seconds.
Result<Duration> parseDuration(std::string_view text);
std::string formatDuration(Duration d);  // inverse, e.g. "1500ms", "2s"

// JSON tree -> AgentConfig, then validateConfig(). Scalars may be JSON numbers/bools or
// strings (the YAML loader hands every scalar over as a string). Unknown keys are errors
// with a "did you mean" hint.
Result<AgentConfig> configFromJson(const nlohmann::json& doc);

// Range checks, required fields and cross-vhid duplicates. Pure. A vhost needs a password
// or a passwordFile (which the loader resolves into password).
Status validateConfig(const AgentConfig& cfg);

// The same for one vhost, with a field prefix such as "vhids[2]".
Status validateVhost(const VhostConfig& v, const std::string& prefix);

// Serialises back to the documented file format (used by /state and tests).
nlohmann::json configToJson(const AgentConfig& cfg);

}  // namespace carplb::agent::config
