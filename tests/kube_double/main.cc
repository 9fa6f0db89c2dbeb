// carplb-kube-double: a Kubernetes API server double for tests and demos (not a product).
//   carplb-kube-double --listen 127.0.0.1:PORT --kubeconfig-out FILE [flags]
// Serves until SIGTERM/SIGINT. Flags and behaviour: docs/kube-double.md. Wiring only.
#include "common/clock.h"
#include "common/log.h"
#include "common/random.h"
#include "kube_double/seed.h"
#include "kube_double/self_signed.h"
#include "kube_double/server.h"
#include "kube_double/store.h"

#include <csignal>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace carplb;
using namespace carplb::kubedouble;

constexpr const char* Usage = R"(usage: carplb-kube-double [flags]
  --listen HOST:PORT          address to serve on (default 127.0.0.1:0; port 0 picks a free port)
  --port-file FILE            write the bound port to FILE once serving
  --kubeconfig-out FILE       write a kubeconfig for kubectl (server, CA, token)
  --seed FILE                 preload objects (JSON/YAML list, List, or documents); repeatable
  --token TOKEN               require "Authorization: Bearer TOKEN" (the administrator: no RBAC)
  --authorize FILE            RBAC: ClusterRoles/Roles/(Cluster)RoleBindings from FILE (YAML
                              documents, e.g. manifests/carplb.yaml) decide what token users
                              may do; denied requests get 403 and a "forbidden" log line
  --authorize-token TOKEN=USER   bearer TOKEN authenticates USER (e.g.
                              system:serviceaccount:carplb-system:carplb-controller); repeatable
  --kubeconfig-out-for USER=FILE  write a kubeconfig with USER's token; repeatable
  --tls-cert FILE --tls-key FILE   serve HTTPS with this certificate
  --tls-self-signed DIR       generate DIR/tls.crt + DIR/tls.key and serve HTTPS
  --openapi FILE              serve FILE (JSON) at /openapi/v2 (default: 404)
  --history-window N          watch events kept per resource (default 1000); older RVs get 410
  --bookmark-interval SEC     BOOKMARK period for allowWatchBookmarks watches (default 5)
  --watch-timeout SEC         watch length when the client gives no timeoutSeconds (default 1800)
  --latency-ms MS             fault: delay every API request
  --fail-next CODE:COUNT[:RETRY_AFTER]  fault: answer the next COUNT API requests with CODE
  --drop-watches-every SEC    fault: end all watch streams every SEC seconds
  --log-level debug|info|warn|error
Runtime faults: POST /_double/faults, /_double/compact, /_double/restart; GET /_double/state,
/_double/authz (requests per token user, allowed/denied, and which grants were used).
)";

bool parseHostPort(const std::string& text, std::string& host, int& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return false;
  }
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    size_t pos = 0;
    port = std::stoi(text.substr(colon + 1), &pos);
    return pos == text.size() - colon - 1 && port >= 0 && port <= 65535 && !host.empty();
  } catch (const std::exception&) {
    return false;
  }
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "carplb-kube-double: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread exists; main waits for them with sigwait.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  ServerOptions opts;
  StoreOptions storeOpts;
  std::string kubeconfigOut;
  std::string portFile;
  std::string selfSignedDir;
  std::vector<std::string> seeds;
  std::string authorizeFile;
  std::vector<std::pair<std::string, std::string>> userKubeconfigs;  // user, file
  LogLevel level = LogLevel::Info;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) {
        return false;
      }
      out = args[++i];
      return true;
    };
    auto number = [&](long& out) {
      std::string v;
      if (!value(v)) {
        return false;
      }
      try {
        size_t pos = 0;
        out = std::stol(v, &pos);
        return pos == v.size() && out >= 0;
      } catch (const std::exception&) {
        return false;
      }
    };
    std::string v;
    long n = 0;
    if (a == "--help" || a == "-h") {
      std::fputs(Usage, stdout);
      return 0;
    } else if (a == "--listen") {
      if (!value(v) || !parseHostPort(v, opts.host, opts.port)) {
        return fail("--listen: expected HOST:PORT, got \"" + v + "\"");
      }
    } else if (a == "--port-file") {
      if (!value(portFile)) return fail("--port-file: missing FILE");
    } else if (a == "--kubeconfig-out") {
      if (!value(kubeconfigOut)) return fail("--kubeconfig-out: missing FILE");
    } else if (a == "--seed") {
      if (!value(v)) return fail("--seed: missing FILE");
      seeds.push_back(v);
    } else if (a == "--token") {
      if (!value(opts.token) || opts.token.empty()) return fail("--token: missing TOKEN");
    } else if (a == "--authorize") {
      if (!value(authorizeFile)) return fail("--authorize: missing FILE");
    } else if (a == "--authorize-token") {
      // TOKEN=USER: user names never contain '=', tokens may (base64).
      size_t eq = std::string::npos;
      if (!value(v) || (eq = v.rfind('=')) == std::string::npos || eq == 0 || eq + 1 == v.size()) {
        return fail("--authorize-token: expected TOKEN=USER, got \"" + v + "\"");
      }
      const std::string token = v.substr(0, eq);
      if (opts.tokenUsers.count(token)) return fail("--authorize-token: the same token is given twice");
      opts.tokenUsers[token] = userFromName(v.substr(eq + 1));
    } else if (a == "--kubeconfig-out-for") {
      size_t eq = std::string::npos;
      if (!value(v) || (eq = v.find('=')) == std::string::npos || eq == 0 || eq + 1 == v.size()) {
        return fail("--kubeconfig-out-for: expected USER=FILE, got \"" + v + "\"");
      }
      userKubeconfigs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--tls-cert") {
      if (!value(opts.tlsCertFile)) return fail("--tls-cert: missing FILE");
    } else if (a == "--tls-key") {
      if (!value(opts.tlsKeyFile)) return fail("--tls-key: missing FILE");
    } else if (a == "--tls-self-signed") {
      if (!value(selfSignedDir)) return fail("--tls-self-signed: missing DIR");
    } else if (a == "--openapi") {
      if (!value(opts.openapiFile)) return fail("--openapi: missing FILE");
    } else if (a == "--history-window") {
      if (!number(n) || n < 1) return fail("--history-window: expected a positive integer");
      storeOpts.historyWindow = static_cast<size_t>(n);
    } else if (a == "--bookmark-interval") {
      if (!number(n) || n < 1) return fail("--bookmark-interval: expected seconds >= 1");
      opts.bookmarkInterval = std::chrono::seconds(n);
    } else if (a == "--watch-timeout") {
      if (!number(n) || n < 1) return fail("--watch-timeout: expected seconds >= 1");
      opts.defaultWatchTimeout = std::chrono::seconds(n);
    } else if (a == "--latency-ms") {
      if (!number(n)) return fail("--latency-ms: expected milliseconds");
      opts.faults.latency = std::chrono::milliseconds(n);
    } else if (a == "--drop-watches-every") {
      if (!number(n) || n < 1) return fail("--drop-watches-every: expected seconds >= 1");
      opts.faults.dropWatchesEvery = std::chrono::seconds(n);
    } else if (a == "--fail-next") {
      int code = 0, count = 0, retry = 0;
      if (!value(v) || std::sscanf(v.c_str(), "%d:%d:%d", &code, &count, &retry) < 2 || code < 400 || code > 599 ||
          count < 0) {
        return fail("--fail-next: expected CODE:COUNT[:RETRY_AFTER] with CODE 400..599, got \"" + v + "\"");
      }
      opts.faults.failCode = code;
      opts.faults.failCount = count;
      opts.faults.retryAfterSeconds = retry;
    } else if (a == "--log-level") {
      if (!value(v) || !Logger::parseLevel(v, level)) return fail("--log-level: expected debug|info|warn|error");
    } else {
      return fail("unknown flag \"" + a + "\" (see --help)");
    }
  }
  if (opts.tlsCertFile.empty() != opts.tlsKeyFile.empty()) {
    return fail("--tls-cert and --tls-key go together");
  }
  if (!opts.tokenUsers.empty() && authorizeFile.empty()) {
    return fail("--authorize-token needs --authorize FILE (the RBAC objects that decide what the user may do)");
  }
  for (const auto& [user, file] : userKubeconfigs) {
    bool known = false;
    for (const auto& [token, u] : opts.tokenUsers) known = known || u.name == user;
    if (!known) return fail("--kubeconfig-out-for: user \"" + user + "\" has no --authorize-token");
  }
  if (!authorizeFile.empty()) {
    auto objects = readObjects(authorizeFile);
    if (!objects) {
      return fail("--authorize: " + objects.error().message);
    }
    auto policy = RbacPolicy::fromObjects(objects.value());
    if (!policy) {
      return fail("--authorize " + authorizeFile + ": " + policy.error().message);
    }
    opts.rbac = std::make_shared<const RbacPolicy>(std::move(policy).value());
  }
  Logger log("kube-double", level);
  if (!selfSignedDir.empty()) {
    auto files = writeSelfSignedCert(selfSignedDir, opts.host);
    if (!files) {
      return fail(files.error().message);
    }
    opts.tlsCertFile = files->certFile;
    opts.tlsKeyFile = files->keyFile;
  }

  SystemClock clock;
  SystemRandom random;
  Store store(clock, random, storeOpts);
  for (const auto& file : seeds) {
    auto objects = readObjects(file);
    if (!objects) {
      return fail(objects.error().message);
    }
    auto seeded = seedStore(store, objects.value());
    if (!seeded) {
      return fail(file + ": " + seeded.error().message);
    }
  }
  Server server(store, clock, log, opts);
  auto started = server.start();
  if (!started) {
    return fail(started.error().message);
  }
  if (!kubeconfigOut.empty()) {
    auto w = writeKubeconfig(kubeconfigOut, KubeconfigSpec{server.url(), opts.tlsCertFile, opts.token});
    if (!w) {
      return fail(w.error().message);
    }
  }
  for (const auto& [user, file] : userKubeconfigs) {
    std::string token;
    for (const auto& [t, u] : opts.tokenUsers) {
      if (u.name == user) token = t;
    }
    auto w = writeKubeconfig(file, KubeconfigSpec{server.url(), opts.tlsCertFile, token});
    if (!w) {
      return fail(w.error().message);
    }
  }
  if (!portFile.empty()) {
    auto w = writePortFile(portFile, server.port());
    if (!w) {
      return fail(w.error().message);
    }
  }
  log.info("serving", {{"url", server.url()}, {"port", server.port()}, {"tls", opts.tlsCertFile.empty() ? "false" : "true"},
                       {"auth", opts.token.empty() ? "none" : "token"},
                       {"rbac", opts.rbac ? authorizeFile : std::string("off")},
                       {"rbac_roles", opts.rbac ? opts.rbac->roles().size() : 0},
                       {"rbac_bindings", opts.rbac ? opts.rbac->bindings().size() : 0},
                       {"token_users", opts.tokenUsers.size()}});
  std::printf("carplb-kube-double listening on %s\n", server.url().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stopSignals, &sig);
  log.info("stopping", {{"signal", sig}});
  server.stop();
  return 0;
}
