// carplb-bench-agents: N simulated agents (real PlanClient code, one TLS connection each)
// connected to one PlanServer; measures the server's RSS and CPU and the time to push a
// plan change to every agent (until every agent has acked it).
//
//   carplb-bench-agents [--agents 1000] [--changes 5] [--idle-seconds 10]
//
// Two processes so the server's numbers are its own: the parent runs the PlanServer,
// a forked child runs the agents (forked before any gRPC initialisation). TLS material is
// made with the openssl CLI in a temp dir. Loopback only, port 0.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/grpc/plan_client.h"
#include "controller/grpc/plan_server.h"

namespace {

using namespace carplb;
using Steady = std::chrono::steady_clock;

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Tls {
  std::string ca, cert, key;
};

Tls makeTls(const std::string& dir) {
  const std::string cmd =
      "(cd '" + dir +
      "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=bench-ca -keyout ca.key -out ca.pem && "
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
      "-keyout server.key -out server.csr && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext "
      "-out server.pem)";
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) {
    std::cerr << "openssl failed\n";
    std::exit(2);
  }
  return {readText(dir + "/ca.pem"), readText(dir + "/server.pem"), readText(dir + "/server.key")};
}

long statusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      return std::strtol(line.c_str() + std::strlen(field), nullptr, 10);
    }
  }
  return -1;
}

double cpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void raiseFdLimit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

std::string nodeName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "bench-node-%04d", i);
  return buf;
}

std::vector<v1::Vhost> planFor(int node, int round) {
  std::vector<v1::Vhost> out(2);
  for (int k = 0; k < 2; ++k) {
    out[k].set_vhid(static_cast<uint32_t>(1 + (node * 2 + k) % 255));
    out[k].set_interface("eth0");
    out[k].add_vips("198.51.100." + std::to_string(1 + (node * 2 + k) % 250));
    out[k].set_advbase(1);
    out[k].set_advskew(static_cast<uint32_t>((round * 10 + k * 100) % 250));
  }
  if (!controller::rpc::fillVhidKeys(out, "bench-cluster-secret-0123456789").ok()) {
    std::abort();
  }
  return out;
}

[[noreturn]] void runAgents(int n, const Tls& tls, int readFd) {
  int port = 0;
  if (::read(readFd, &port, sizeof port) != sizeof port) {
    _exit(3);
  }
  raiseFdLimit();
  Registry metrics;
  Logger log("bench-agent", LogLevel::Error);
  std::vector<std::unique_ptr<agent::rpc::PlanClient>> clients;
  for (int i = 0; i < n; ++i) {
    agent::rpc::PlanClientOptions o;
    o.target = "127.0.0.1:" + std::to_string(port);
    o.caPem = tls.ca;
    o.tlsServerName = "localhost";
    o.token = "bench-token-0123456789";
    o.hello.set_node_name(nodeName(i));
    o.hello.set_version("bench");
    clients.push_back(std::make_unique<agent::rpc::PlanClient>(
        o, [](const v1::Snapshot&) { return okStatus(); }, log, metrics,
        std::make_unique<SystemRandom>(static_cast<uint64_t>(i) + 1)));
    if (!clients.back()->start().ok()) {
      _exit(4);
    }
  }
  char c;
  while (::read(readFd, &c, 1) > 0) {
  }
  _exit(0);  // the parent has its numbers; skip 1000 orderly shutdowns
}

bool waitAllAcked(controller::rpc::PlanServer& server, int n, uint64_t generation, std::chrono::seconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    int done = 0;
    for (const auto& a : server.agents()) {
      if (a.connected && a.ackedGeneration == generation) {
        ++done;
      }
    }
    if (done == n) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

double ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  int agents = 1000;
  int changes = 5;
  int idleSeconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (a == "--agents") {
      agents = v;
    } else if (a == "--changes") {
      changes = v;
    } else if (a == "--idle-seconds") {
      idleSeconds = v;
    } else {
      std::cerr << "usage: carplb-bench-agents [--agents N] [--changes N] [--idle-seconds N]\n";
      return 2;
    }
  }
  char tmpl[] = "/tmp/carplb-bench-agents-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return 2;
  }
  const Tls tls = makeTls(tmpl);
  int fds[2];
  if (::pipe(fds) != 0) {
    return 2;
  }
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[1]);
    runAgents(agents, tls, fds[0]);
  }
  ::close(fds[0]);
  raiseFdLimit();

  const long rssBase = statusKb("VmRSS:");
  SystemClock clock;
  Registry metrics;
  Logger log("bench-controller", LogLevel::Warn);
  controller::rpc::PlanServerOptions o;
  o.listenAddress = "127.0.0.1:0";
  o.serverCertPem = tls.cert;
  o.serverKeyPem = tls.key;
  o.agentToken = "bench-token-0123456789";
  auto started = controller::rpc::PlanServer::start(o, clock, log, metrics);
  if (!started.ok()) {
    std::cerr << started.error().message << "\n";
    return 1;
  }
  auto& server = *started.value();
  for (int i = 0; i < agents; ++i) {
    server.publish(nodeName(i), planFor(i, 0));
  }
  const long rssServerIdle = statusKb("VmRSS:");
  int port = server.port();
  const double cpu0 = cpuSeconds();
  const auto t0 = Steady::now();
  if (::write(fds[1], &port, sizeof port) != sizeof port) {
    return 1;
  }
  int rc = 0;
  std::ostringstream report;
  if (!waitAllAcked(server, agents, 1, std::chrono::seconds(300))) {
    std::cerr << "not all agents connected and acked\n";
    rc = 1;
  } else {
    const auto tConnected = Steady::now();
    const double cpuConnect = cpuSeconds() - cpu0;
    const long rssConnected = statusKb("VmRSS:");
    const long threads = statusKb("Threads:");
    const double cpu1 = cpuSeconds();
    std::this_thread::sleep_for(std::chrono::seconds(idleSeconds));
    const double cpuIdle = cpuSeconds() - cpu1;
    std::vector<double> pushMs;
    const double cpu2 = cpuSeconds();
    for (int r = 1; r <= changes && rc == 0; ++r) {
      const auto tp = Steady::now();
      for (int i = 0; i < agents; ++i) {
        server.publish(nodeName(i), planFor(i, r));
      }
      if (!waitAllAcked(server, agents, static_cast<uint64_t>(r + 1), std::chrono::seconds(120))) {
        std::cerr << "plan change " << r << " not acked by all\n";
        rc = 1;
      }
      pushMs.push_back(ms(Steady::now() - tp));
    }
    const double cpuPush = cpuSeconds() - cpu2;
    report << "agents: " << agents << "\n"
           << "server_rss_kb_before_start: " << rssBase << "\n"
           << "server_rss_kb_started_no_agents: " << rssServerIdle << "\n"
           << "server_rss_kb_all_connected: " << rssConnected << "\n"
           << "server_rss_kb_peak: " << statusKb("VmHWM:") << "\n"
           << "server_threads_all_connected: " << threads << "\n"
           << "connect_and_first_snapshot_all_ms: " << ms(tConnected - t0) << "\n"
           << "server_cpu_s_during_connect: " << cpuConnect << "\n"
           << "server_cpu_s_idle_" << idleSeconds << "s_all_connected: " << cpuIdle << "\n"
           << "server_cpu_s_for_" << changes << "_plan_changes: " << cpuPush << "\n"
           << "push_change_to_all_acked_ms:";
    for (double p : pushMs) {
      report << " " << p;
    }
    report << "\n";
  }
  ::close(fds[1]);  // the agents process exits
  int status = 0;
  ::waitpid(child, &status, 0);
  server.shutdown();
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  std::cout << report.str();
  return rc;
}
