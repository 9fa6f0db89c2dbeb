#include "agent/config/flags.h"

#include <algorithm>
#include <charconv>
#include <map>

namespace carplb::agent::config {
namespace {

struct FlagSpec {
  const char* longName;
  char shortName;  // 0 = none
  bool takesValue;
};

constexpr FlagSpec Specs[] = {
    {"help", 'h', false},         {"version", 'V', false},      {"config", 'c', true},
    {"interface", 'i', true},     {"srcip", 's', true},         {"vhid", 'v', true},
    {"pass", 'p', true},          {"passfile", 'o', true},      {"addr", 'a', true},
    {"advbase", 'b', true},       {"advskew", 'k', true},       {"preempt", 'P', false},
    {"preempt-delay", 0, true},   {"garp-refresh", 0, true},    {"demote", 0, true},
    {"status-listen", 0, true},   {"log-level", 0, true},       {"realtime-priority", 0, true},
    {"controller", 0, true},      {"node-name", 0, true},       {"tls-ca-file", 0, true},
    {"tls-cert-file", 0, true},   {"tls-key-file", 0, true},    {"tls-server-name", 0, true},
    {"token-file", 0, true},      {"snapshot-file", 0, true},
};

bool isClusterFlag(const std::string& name) {
  return name == "controller" || name == "node-name" || name == "tls-ca-file" || name == "tls-cert-file" ||
         name == "tls-key-file" || name == "tls-server-name" || name == "token-file" || name == "snapshot-file";
}

// "host:port", "[v6]:port", or an explicit gRPC target ("unix:/path", "dns:///host:port").
Status validateControllerTarget(const std::string& t) {
  if (t.empty()) return makeError("--controller: must not be empty");
  if (t.rfind("unix:", 0) == 0 || t.rfind("unix-abstract:", 0) == 0 || t.rfind("dns:", 0) == 0 ||
      t.rfind("ipv4:", 0) == 0 || t.rfind("ipv6:", 0) == 0) {
    return okStatus();
  }
  auto colon = t.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return makeError("--controller: must be \"host:port\", got \"" + t + "\"");
  }
  const std::string host = t.substr(0, colon);
  const std::string port = t.substr(colon + 1);
  if (host.find(':') != std::string::npos && !(host.front() == '[' && host.back() == ']')) {
    return makeError("--controller: IPv6 addresses need brackets (\"[2001:db8::1]:9443\"), got \"" + t + "\"");
  }
  int n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || n < 1 || n > 65535) {
    return makeError("--controller: port must be 1..65535, got \"" + port + "\"");
  }
  return okStatus();
}

const FlagSpec* findLong(std::string_view name) {
  for (const auto& s : Specs) {
    if (name == s.longName) return &s;
  }
  return nullptr;
}

const FlagSpec* findShort(char c) {
  for (const auto& s : Specs) {
    if (s.shortName != 0 && s.shortName == c) return &s;
  }
  return nullptr;
}

Result<int> parseIntFlag(const std::string& flag, const std::string& v, int lo, int hi) {
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
    return makeError("--" + flag + ": must be an integer, got \"" + v + "\"");
  }
  if (n < lo || n > hi) {
    return makeError("--" + flag + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                     ", got " + v);
  }
  return n;
}

// Validation messages for the single vhost talk about "vhids[0].x"; map them to flags.
std::string flagName(const std::string& field) {
  static const std::map<std::string, std::string> m = {
      {"vhid", "--vhid"},       {"interface", "--interface"},   {"srcip", "--srcip"},
      {"addresses", "--addr"},  {"advbase", "--advbase"},       {"advskew", "--advskew"},
      {"password", "--pass"},   {"passwordFile", "--passfile"}, {"preemptDelay", "--preempt-delay"},
      {"garpRefresh", "--garp-refresh"}, {"demote", "--demote"}, {"statusListen", "--status-listen"}};
  auto it = m.find(field);
  return it == m.end() ? field : it->second;
}

std::string rewriteSingleError(const std::string& msg) {
  const std::string prefix = "vhids[0].";
  if (msg.rfind(prefix, 0) != 0) {
    auto colon = msg.find(':');
    if (colon != std::string::npos) return flagName(msg.substr(0, colon)) + msg.substr(colon);
    return msg;
  }
  std::string rest = msg.substr(prefix.size());
  size_t end = rest.find_first_of(":[");
  std::string field = rest.substr(0, end);
  return flagName(field) + rest.substr(end);
}

Status validateStatusListen(const CommandLine& cl) {
  if (!cl.statusListen) return okStatus();
  AgentConfig probe;  // validate the override's syntax early
  probe.statusListen = *cl.statusListen;
  auto st = validateConfig(probe);
  if (!st) return makeError(rewriteSingleError(st.error().message));
  return okStatus();
}

Result<CommandLine> finishCluster(CommandLine cl, ClusterFlags c, const std::string& interface) {
  if (auto st = validateControllerTarget(c.controller); !st) return st.error();
  if (c.nodeName.empty()) return makeError("--node-name: required with --controller");
  if (c.nodeName.size() > 253) {
    return makeError("--node-name: at most 253 characters, got " + std::to_string(c.nodeName.size()));
  }
  if (c.tlsCaFile.empty()) return makeError("--tls-ca-file: required with --controller (TLS is mandatory)");
  if (c.tlsCertFile.empty() != c.tlsKeyFile.empty()) {
    return makeError(c.tlsCertFile.empty() ? "--tls-cert-file: required with --tls-key-file"
                                           : "--tls-key-file: required with --tls-cert-file");
  }
  if (c.tokenFile.empty() && c.tlsCertFile.empty()) {
    return makeError("--token-file: required with --controller unless --tls-cert-file/--tls-key-file give a "
                     "client certificate");
  }
  if (!interface.empty()) c.interface = interface;
  if (c.interface.size() > 15) {
    return makeError("--interface: at most 15 characters, got \"" + c.interface + "\"");
  }
  if (auto st = validateStatusListen(cl); !st) return st.error();
  cl.cluster = std::move(c);
  return cl;
}

}  // namespace

std::string usageText() {
  return R"(Usage:
  carplb-agent --config FILE [--status-listen HOST:PORT|off] [--log-level LEVEL]
  carplb-agent --interface IF --vhid N --pass PASSWORD --addr VIP [--addr VIP ...] [options]
  carplb-agent --controller HOST:PORT --node-name NAME --tls-ca-file FILE
               (--token-file FILE | --tls-cert-file FILE --tls-key-file FILE) [options]
  carplb-agent --help | --version

CARP (v2, ucarp-compatible) virtual IP agent.

Config file:
  -c, --config FILE          YAML or JSON config with any number of vhids (see docs/agent.md)

Single VIP (ucarp-like):
  -i, --interface IF         interface to run CARP on
  -s, --srcip IP             source address of adverts (default: first IPv4 of IF)
  -v, --vhid N               virtual host id, 1..255
  -p, --pass PASSWORD        shared secret, at most 19 bytes
  -o, --passfile FILE        read the secret from FILE instead
  -a, --addr VIP             virtual IPv4 address; repeat for several
  -b, --advbase S            advertisement base interval in seconds, 0..255 (default 1)
  -k, --advskew N            advertisement skew in 1/256 s, 0..254 (default 0)
  -P, --preempt              take over from a master with a longer interval
      --preempt-delay D      wait D (e.g. 5s) before preempting (default 0s)
      --garp-refresh D       repeat gratuitous ARP every D while MASTER (default 0s = off)
      --demote N             static demotion added to the advertised skew, 0..240

Cluster mode (follow the carplb-controller's plan; exclusive with --config and the
single-VIP flags except --interface):
      --controller HOST:PORT     controller gRPC address (TLS always)
      --node-name NAME           this node's Kubernetes name (sent in the Hello, checked in plans)
      --tls-ca-file FILE         CA that signed the controller's certificate (required)
      --tls-server-name NAME     name to check in the controller's certificate (default: HOST)
      --token-file FILE          bearer token; re-read on every reconnect
      --tls-cert-file FILE       client certificate (mTLS; instead of or with the token) ...
      --tls-key-file FILE        ... and its key
      --snapshot-file FILE       keep the last applied plan here and start from it while the
                                 controller is unreachable (fail static)
  -i, --interface IF|auto        interface for vhids whose plan names none (default auto: the
                                 interface of the default route, else the first non-loopback
                                 interface with an IPv4 address)

Common:
      --status-listen H:P    HTTP status endpoint (default 127.0.0.1:9464; "off" disables)
      --log-level LEVEL      debug, info, warn or error (default info)
      --realtime-priority N  run with SCHED_RR priority N (1..99; needs CAP_SYS_NICE) so
                             adverts stay on time under CPU load; recommended with sub-second
                             timers (advbase 0), like keepalived's vrrp_rt_priority (default 0)
  -h, --help                 this text
  -V, --version              print the version

Signals: SIGTERM/SIGINT bow out (advert with advbase 255, advskew 255), remove the VIPs and
exit 0 (also in cluster mode); SIGHUP reloads the config file (a bad file keeps the running
config). When the controller is unreachable the agent keeps running its last plan.
)";
}

Result<CommandLine> parseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  VhostConfig v;
  bool anySingle = false;
  bool sawVhid = false;
  ClusterFlags cluster;
  std::optional<std::string> firstClusterFlag;  // long name of the first cluster flag seen
  std::optional<std::string> firstSingleFlag;   // ... of the first single-VIP flag but --interface
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const FlagSpec* spec = nullptr;
    std::optional<std::string> inlineValue;
    if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      std::string name = arg.substr(2);
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        inlineValue = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      spec = findLong(name);
      if (!spec) return makeError(arg + ": unknown option (see --help)");
    } else if (arg.size() == 2 && arg[0] == '-') {
      spec = findShort(arg[1]);
      if (!spec) return makeError(arg + ": unknown option (see --help)");
    } else {
      return makeError(arg + ": unexpected argument (see --help)");
    }
    std::string name = spec->longName;
    std::string value;
    if (spec->takesValue) {
      if (inlineValue) {
        value = *inlineValue;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return makeError("--" + name + ": requires a value");
      }
    } else if (inlineValue) {
      return makeError("--" + name + ": takes no value");
    }

    if (name == "help") {
      cl.help = true;
    } else if (name == "version") {
      cl.version = true;
    } else if (name == "config") {
      if (value.empty()) return makeError("--config: requires a file name");
      cl.configPath = value;
    } else if (name == "status-listen") {
      cl.statusListen = value;
    } else if (isClusterFlag(name)) {
      if (value.empty()) return makeError("--" + name + ": must not be empty");
      if (name == "controller") {
        cluster.controller = value;
      } else if (name == "node-name") {
        cluster.nodeName = value;
      } else if (name == "tls-ca-file") {
        cluster.tlsCaFile = value;
      } else if (name == "tls-cert-file") {
        cluster.tlsCertFile = value;
      } else if (name == "tls-key-file") {
        cluster.tlsKeyFile = value;
      } else if (name == "tls-server-name") {
        cluster.tlsServerName = value;
      } else if (name == "token-file") {
        cluster.tokenFile = value;
      } else if (name == "snapshot-file") {
        cluster.snapshotFile = value;
      }
      if (!firstClusterFlag) firstClusterFlag = name;
    } else if (name == "realtime-priority") {
      int prio = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), prio);
      if (ec != std::errc() || ptr != value.data() + value.size() || prio < 0 || prio > 99) {
        return makeError("--realtime-priority: must be 0..99 (0 = normal scheduling), got \"" + value + "\"");
      }
      cl.realtimePriority = prio;
    } else if (name == "log-level") {
      LogLevel l;
      if (!Logger::parseLevel(value, l)) {
        return makeError("--log-level: must be one of debug, info, warn, error, got \"" + value + "\"");
      }
      cl.logLevel = l;
    } else {
      anySingle = true;
      if (name != "interface" && !firstSingleFlag) firstSingleFlag = name;
      if (name == "interface") {
        v.interface = value;
      } else if (name == "srcip") {
        auto ip = Ipv4::parse(value);
        if (!ip) return makeError("--srcip: " + ip.error().message);
        v.srcip = *ip;
      } else if (name == "vhid") {
        auto n = parseIntFlag(name, value, 1, 255);
        if (!n) return n.error();
        v.vhid = *n;
        sawVhid = true;
      } else if (name == "pass") {
        v.password = value;
      } else if (name == "passfile") {
        v.passwordFile = value;
      } else if (name == "addr") {
        auto ip = Ipv4::parse(value);
        if (!ip) return makeError("--addr: " + ip.error().message);
        v.addresses.push_back(*ip);
      } else if (name == "advbase") {
        auto n = parseIntFlag(name, value, 0, 255);
        if (!n) return n.error();
        v.advbase = *n;
      } else if (name == "advskew") {
        auto n = parseIntFlag(name, value, 0, 254);
        if (!n) return n.error();
        v.advskew = *n;
      } else if (name == "preempt") {
        v.preempt = true;
      } else if (name == "preempt-delay" || name == "garp-refresh") {
        auto d = parseDuration(value);
        if (!d) return makeError("--" + name + ": " + d.error().message);
        (name == "preempt-delay" ? v.preemptDelay : v.garpRefresh) = *d;
      } else if (name == "demote") {
        auto n = parseIntFlag(name, value, 0, 240);
        if (!n) return n.error();
        v.demote = *n;
      }
    }
  }
  if (cl.help || cl.version) return cl;
  if (!cluster.controller.empty()) {
    if (cl.configPath) return makeError("--controller: cannot be combined with --config (one source of vhids)");
    if (firstSingleFlag) {
      return makeError("--" + *firstSingleFlag +
                       ": cannot be combined with --controller (cluster mode takes its vhids from the controller)");
    }
    return finishCluster(cl, std::move(cluster), v.interface);
  }
  if (firstClusterFlag) return makeError("--" + *firstClusterFlag + ": only valid with --controller");
  if (cl.configPath && anySingle) {
    return makeError("--config: cannot be combined with the single-VIP flags (--interface, --vhid, --addr, ...)");
  }
  if (!cl.configPath && !anySingle) {
    return makeError("no configuration: use --config FILE or --interface/--vhid/--pass/--addr (see --help)");
  }
  if (anySingle) {
    if (!sawVhid) return makeError("--vhid: required");
    if (!v.password.empty() && !v.passwordFile.empty()) {
      return makeError("--passfile: use either --pass or --passfile, not both");
    }
    AgentConfig cfg;
    cfg.vhids.push_back(v);
    applyOverrides(cl, cfg);
    auto st = validateConfig(cfg);
    if (!st) return makeError(rewriteSingleError(st.error().message));
    cl.single = std::move(cfg);
  } else if (auto st = validateStatusListen(cl); !st) {
    return st.error();
  }
  return cl;
}

void applyOverrides(const CommandLine& cl, AgentConfig& cfg) {
  if (cl.statusListen) cfg.statusListen = *cl.statusListen;
  if (cl.logLevel) cfg.logLevel = *cl.logLevel;
}

std::vector<std::string> clusterBinaryCandidates(const char* envOverride, std::string_view selfExe,
                                                 std::string_view installBinDir) {
  if (envOverride != nullptr && *envOverride != '\0') return {std::string(envOverride)};
  std::vector<std::string> out;
  auto add = [&out](std::string_view dir) {
    if (dir.empty()) return;
    std::string path(dir);
    if (path.back() != '/') path += '/';
    path += ClusterBinaryName;
    if (std::find(out.begin(), out.end(), path) == out.end()) out.push_back(std::move(path));
  };
  if (auto slash = selfExe.rfind('/'); slash != std::string_view::npos) add(selfExe.substr(0, slash + 1));
  add(installBinDir);
  return out;
}

}  // namespace carplb::agent::config
