#include "controller/app/options.h"

#include <exception>
#include <functional>
#include <map>

#include "controller/core/annotations.h"

namespace carplb::controller::app {

namespace {

Result<Duration> durationFlag(const std::string& flag, const std::string& value) {
  auto d = core::parseDuration(value);
  if (!d) {
    return makeError(flag + ": not a duration: \"" + value + "\" (use e.g. 15s, 500ms, 1m30s)");
  }
  return Duration(*d);
}

Result<double> positiveNumberFlag(const std::string& flag, const std::string& value, double max) {
  double d = 0;
  size_t used = 0;
  try {
    d = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || !(d > 0) || d > max) {
    return makeError(flag + ": must be a number greater than 0 and at most " + std::to_string(static_cast<int>(max)) +
                     ", got \"" + value + "\"");
  }
  return d;
}

Result<bool> boolFlag(const std::string& flag, const std::string& value) {
  if (value == "true" || value == "1" || value.empty()) return true;
  if (value == "false" || value == "0") return false;
  return makeError(flag + ": must be true or false, got \"" + value + "\"");
}

}  // namespace

std::string usage() {
  return R"(carplb-controller: plans CARP virtual IPs for type: LoadBalancer Services and pushes the plan to
carplb-agents over gRPC. See docs/controller.md.

Usage: carplb-controller [flags]

Kubernetes:
  --kubeconfig FILE        kubeconfig to use (default: in-cluster service account; $KUBECONFIG is
                           honoured when this flag is given as "")
  --context NAME           kubeconfig context (default: current-context)
  --namespace NS           namespace of the leader-election Lease (default: the pod's namespace,
                           else carplb-system)
  --kube-api-qps N         API request rate limit, requests per second (default 20)
  --kube-api-burst N       API request burst (default 30)
Leader election (coordination.k8s.io/v1 Lease, like client-go):
  --leader-elect BOOL      elect a leader among replicas (default true)
  --lease-name NAME        Lease name (default carplb-controller)
  --identity ID            this replica's identity (default: hostname)
  --lease-duration D       default 15s
  --renew-deadline D       default 10s
  --retry-period D         default 2s
Agents (gRPC, TLS always):
  --grpc-listen ADDR       host:port or :port (default :9443); "off" disables the agent server
  --tls-cert-file FILE     server certificate chain (PEM)
  --tls-key-file FILE      server key (PEM)
  --client-ca-file FILE    CA for agent client certificates (optional)
  --agent-token-file FILE  bearer token agents must present (from the agents' Secret)
  --carp-secret-file FILE  cluster secret from which every vhid's CARP password is derived
                           (at least 16 bytes)
  --grpc-port-file FILE    write the bound gRPC port to FILE (tests)
Operations:
  --config FILE            controller config (YAML or JSON), keys below
  --http-listen ADDR       /metrics, /healthz, /readyz, /state (default :9090; "off" disables)
  --resync-period D        re-run the reconcile from the cache (default 5m)
  --log-level LEVEL        debug | info | warn | error (default info)
  --help, --version

Config file keys (all optional):
  loadBalancerClass: carplb.io/carp   Services with this spec.loadBalancerClass are handled
  defaultClass: false                 also handle LoadBalancer Services without a class
  pools:                              address pools for Services that name no address
    - name: default
      ranges: ["192.0.2.200/29", "198.51.100.10-198.51.100.20"]
      autoAssign: true                used when a Service names no pool
  nodeSelector: {label: value}        only nodes with all these labels hold VIPs
  vhidMin: 1                          vhid range carplb may use on the L2 segment
  vhidMax: 255
  excludedVhids: [1, 2]               vhids of foreign CARP/VRRP speakers
  maxBackups: 3                       backup nodes per vhid
  advbase: 1                          CARP advbase (seconds) of every vhid
  advskewBase: 0                      advskew of a vhid's master
  advskewSpacing: 50                  advskew step between the nodes of a vhid
  timerProfile: default               informational: default | fast | custom

Service annotations: carplb.io/loadBalancerIPs, carplb.io/address-pool,
carplb.io/address-count (N | all-nodes), carplb.io/allow-shared-ip,
carplb.io/failback (immediate | delay=<duration> | never). Node annotation
carplb.io/draining: "true" moves a node's VIPs away before a drain.
)";
}

Result<CommandLine> parseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  using Setter = std::function<Status(const std::string& flag, const std::string& value)>;
  auto str = [](std::string& field) -> Setter {
    return [&field](const std::string&, const std::string& v) -> Status {
      field = v;
      return okStatus();
    };
  };
  auto dur = [](Duration& field) -> Setter {
    return [&field](const std::string& f, const std::string& v) -> Status {
      auto d = durationFlag(f, v);
      if (!d) return d.error();
      field = *d;
      return okStatus();
    };
  };
  std::map<std::string, Setter> flags = {
      {"--kubeconfig", str(cl.kubeconfig)},
      {"--context", str(cl.context)},
      {"--config", str(cl.configFile)},
      {"--namespace", str(cl.namespace_)},
      {"--lease-name", str(cl.leaseName)},
      {"--identity", str(cl.identity)},
      {"--lease-duration", dur(cl.leaseDuration)},
      {"--renew-deadline", dur(cl.renewDeadline)},
      {"--retry-period", dur(cl.retryPeriod)},
      {"--resync-period", dur(cl.resyncPeriod)},
      {"--grpc-listen", str(cl.grpcListen)},
      {"--tls-cert-file", str(cl.tlsCertFile)},
      {"--tls-key-file", str(cl.tlsKeyFile)},
      {"--client-ca-file", str(cl.clientCaFile)},
      {"--agent-token-file", str(cl.agentTokenFile)},
      {"--carp-secret-file", str(cl.carpSecretFile)},
      {"--grpc-port-file", str(cl.grpcPortFile)},
      {"--http-listen", str(cl.httpListen)},
      {"--kube-api-qps",
       [&cl](const std::string& f, const std::string& v) -> Status {
         auto d = positiveNumberFlag(f, v, 10000);
         if (!d) return d.error();
         cl.kubeApiQps = *d;
         return okStatus();
       }},
      {"--kube-api-burst",
       [&cl](const std::string& f, const std::string& v) -> Status {
         auto d = positiveNumberFlag(f, v, 10000);
         if (!d) return d.error();
         if (*d != static_cast<double>(static_cast<int>(*d))) {
           return makeError(f + ": must be a whole number, got \"" + v + "\"");
         }
         cl.kubeApiBurst = static_cast<int>(*d);
         return okStatus();
       }},
      {"--log-level",
       [&cl](const std::string& f, const std::string& v) -> Status {
         if (!Logger::parseLevel(v, cl.logLevel)) {
           return makeError(f + ": must be debug, info, warn or error, got \"" + v + "\"");
         }
         return okStatus();
       }},
      {"--leader-elect",
       [&cl](const std::string& f, const std::string& v) -> Status {
         auto b = boolFlag(f, v);
         if (!b) return b.error();
         cl.leaderElect = *b;
         return okStatus();
       }},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      cl.help = true;
      continue;
    }
    if (arg == "--version") {
      cl.version = true;
      continue;
    }
    std::string value;
    bool hasValue = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasValue = true;
    }
    auto it = flags.find(arg);
    if (it == flags.end()) {
      return makeError(arg + ": unknown flag (see --help)");
    }
    if (!hasValue) {
      if (arg == "--leader-elect" && (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)) {
        value = "true";
      } else if (i + 1 >= args.size()) {
        return makeError(arg + ": needs a value");
      } else {
        value = args[++i];
      }
    }
    if (auto s = it->second(arg, value); !s) {
      return s.error();
    }
  }
  if (cl.help || cl.version) {
    return cl;
  }
  if (cl.renewDeadline >= cl.leaseDuration) {
    return makeError("--renew-deadline: must be shorter than --lease-duration");
  }
  if (cl.retryPeriod >= cl.renewDeadline) {
    return makeError("--retry-period: must be shorter than --renew-deadline");
  }
  if (cl.grpcListen != "off" && (cl.tlsCertFile.empty() || cl.tlsKeyFile.empty())) {
    return makeError("--tls-cert-file/--tls-key-file: required when --grpc-listen is not \"off\" (agents only talk TLS)");
  }
  if (cl.grpcListen != "off" && cl.carpSecretFile.empty()) {
    return makeError("--carp-secret-file: required when --grpc-listen is not \"off\" (per-vhid CARP keys)");
  }
  if (cl.grpcListen != "off" && cl.agentTokenFile.empty() && cl.clientCaFile.empty()) {
    return makeError("--agent-token-file or --client-ca-file: agents must authenticate one way or the other");
  }
  return cl;
}

}  // namespace carplb::controller::app
