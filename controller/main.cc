// carplb-controller: flags -> options, wiring, signals. No logic lives here.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "controller/app/controller.h"
#include "controller/app/controller_config.h"
#include "controller/app/ops_endpoint.h"
#include "controller/app/options.h"
#include "controller/grpc/plan_server.h"
#include "controller/kube/client_config_loader.h"
#include "controller/kube/lease_runner.h"
#include "controller/kube/rest_client.h"

#ifndef CARPLB_VERSION
#define CARPLB_VERSION "0.0.0"
#endif

using namespace carplb;
using namespace carplb::controller;

namespace {

Result<std::string> readFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(flag + ": cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string defaultNamespace() {
  std::ifstream in("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  std::string ns;
  if (in && std::getline(in, ns) && !ns.empty()) return ns;
  return "carplb-system";
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "carplb-controller";
}

int fail(const Logger& log, const std::string& msg) {
  log.error("cannot start", {{"error", msg}});
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cl = app::parseCommandLine(args);
  if (!cl) {
    std::cerr << "carplb-controller: " << cl.error().message << "\n";
    return 2;
  }
  if (cl->help) {
    std::cout << app::usage();
    return 0;
  }
  if (cl->version) {
    std::cout << "carplb-controller " << CARPLB_VERSION << "\n";
    return 0;
  }
  Logger log("controller", cl->logLevel);
  SystemClock clock;
  Registry metrics;

  // Block the signals we wait for, before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  // Config file.
  app::ControllerFileConfig fileConfig;
  if (!cl->configFile.empty()) {
    auto text = readFile("--config", cl->configFile);
    if (!text) return fail(log, text.error().message);
    auto doc = kube::yamlToJson(*text, cl->configFile);
    if (!doc) return fail(log, doc.error().message);
    auto parsed = app::parseControllerConfig(*doc, cl->configFile);
    if (!parsed) return fail(log, parsed.error().message);
    fileConfig = std::move(*parsed);
  }
  app::ControllerOptions options;
  options.config = fileConfig;
  options.resyncPeriod = cl->resyncPeriod;

  // Kubernetes client.
  Result<kube::ClientConfig> kc = cl->kubeconfig.empty() && getenv("KUBERNETES_SERVICE_HOST")
                                      ? kube::loadInCluster()
                                      : kube::loadKubeconfig(cl->kubeconfig, cl->context);
  if (!kc) return fail(log, kc.error().message);
  kube::RestClientOptions restOptions;
  restOptions.qps = cl->kubeApiQps;
  restOptions.burst = cl->kubeApiBurst;
  auto client = kube::RestClient::create(*kc, restOptions, clock, log.child("kube"));
  if (!client) return fail(log, client.error().message);

  // Agents.
  std::unique_ptr<rpc::PlanServer> planServer;
  // PlanServer's onEvents runs on gRPC threads and may fire before the controller exists.
  auto controllerRef = std::make_shared<std::atomic<app::Controller*>>(nullptr);
  if (cl->grpcListen != "off") {
    auto secret = readFile("--carp-secret-file", cl->carpSecretFile);
    if (!secret) return fail(log, secret.error().message);
    options.carpSecret = trimmed(*secret);
    rpc::PlanServerOptions po;
    po.listenAddress = cl->grpcListen.front() == ':' ? "0.0.0.0" + cl->grpcListen : cl->grpcListen;
    auto cert = readFile("--tls-cert-file", cl->tlsCertFile);
    if (!cert) return fail(log, cert.error().message);
    auto key = readFile("--tls-key-file", cl->tlsKeyFile);
    if (!key) return fail(log, key.error().message);
    po.serverCertPem = *cert;
    po.serverKeyPem = *key;
    if (!cl->clientCaFile.empty()) {
      auto ca = readFile("--client-ca-file", cl->clientCaFile);
      if (!ca) return fail(log, ca.error().message);
      po.clientCaPem = *ca;
    }
    if (!cl->agentTokenFile.empty()) {
      auto token = readFile("--agent-token-file", cl->agentTokenFile);
      if (!token) return fail(log, token.error().message);
      po.agentToken = trimmed(*token);
    }
    po.onEvents = [controllerRef] {
      if (auto* c = controllerRef->load()) c->poke();
    };
    auto ps = rpc::PlanServer::start(std::move(po), clock, log.child("grpc"), metrics);
    if (!ps) return fail(log, ps.error().message);
    planServer = std::move(*ps);
    if (!cl->grpcPortFile.empty()) {
      std::ofstream(cl->grpcPortFile) << planServer->port() << "\n";
    }
    log.info("agent server listening", {{"address", cl->grpcListen}, {"port", planServer->port()}});
  }

  app::Controller controller(**client, planServer.get(), options, clock, log.child("reconciler"), metrics);
  controllerRef->store(&controller);
  std::unique_ptr<app::OpsEndpoint> ops;
  if (cl->httpListen != "off") {
    ops = std::make_unique<app::OpsEndpoint>(metrics, [&] { return controller.ready(); },
                                             [&] { return controller.stateJson(); }, log.child("http"));
    if (auto s = ops->start(cl->httpListen); !s) return fail(log, s.error().message);
  }
  controller.start();
  std::unique_ptr<kube::LeaseRunner> lease;
  if (cl->leaderElect) {
    kube::LeaderElectionConfig le;
    le.leaseNamespace = cl->namespace_.empty() ? defaultNamespace() : cl->namespace_;
    le.leaseName = cl->leaseName;
    le.identity = cl->identity.empty() ? hostname() : cl->identity;
    le.leaseDuration = cl->leaseDuration;
    le.renewDeadline = cl->renewDeadline;
    le.retryPeriod = cl->retryPeriod;
    kube::LeaseRunner::Callbacks cb;
    cb.onStartedLeading = [&] {
      log.info("started leading", {{"identity", le.identity}});
      controller.setLeading(true);
    };
    cb.onStoppedLeading = [&] {
      // Exiting is simplest (client-go does the same): a fresh process stands by again.
      log.warn("lost leadership, exiting");
      controller.setLeading(false);
      kill(getpid(), SIGTERM);
    };
    cb.onNewLeader = [&](const std::string& holder) { log.info("leader observed", {{"holder", holder}}); };
    auto lr = kube::LeaseRunner::create(**client, le, cb, log.child("lease"));
    if (!lr) return fail(log, lr.error().message);
    lease = std::move(*lr);
    lease->start();
  } else {
    controller.setLeading(true);
  }
  log.info("carplb-controller started", {{"version", CARPLB_VERSION}, {"leaderElect", cl->leaderElect ? "true" : "false"}});

  int sig = 0;
  sigwait(&sigs, &sig);
  log.info("shutting down", {{"signal", sig}});
  if (lease) lease->stop();  // releases the Lease so a standby takes over at once
  controller.stop();
  controllerRef->store(nullptr);
  if (ops) ops->stop();
  if (planServer) planServer->shutdown();
  (*client)->shutdown();
  return 0;
}
