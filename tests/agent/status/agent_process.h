#pragma once
// Test helpers (header-only) for e2e tests that run the real carplb-agent binary inside a
// network namespace: process control by PID, a minimal HTTP/1.1 GET made from inside the
// namespace (cpprestsdk cannot bind port 0, so the status port is picked at random and
// retried on collision).
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/io/netns_lab.h"

extern char** environ;

namespace carplb::testing {

inline const std::string AgentBinary = std::string(CARPLB_BINARY_DIR) + "/agent/carplb-agent";

inline std::string captureOutput(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  if (!p) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p.get())) out += buf;
  return out;
}

template <typename Pred>
bool waitUntil(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// carplb-agent started with `ip netns exec NS` (which execs, so the PID is the agent's).
class AgentProcess {
public:
  AgentProcess(const std::string& ns, const std::vector<std::string>& agentArgs, const std::string& logPath)
      : log_(logPath) {
    std::vector<std::string> args = {"ip", "netns", "exec", ns, AgentBinary};
    args.insert(args.end(), agentArgs.begin(), agentArgs.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (posix_spawnp(&pid_, "ip", &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~AgentProcess() { stop(); }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // Exit code if the process has exited (reaps it), nullopt while it runs.
  std::optional<int> exited() {
    if (pid_ <= 0) return exit_;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return exit_;
    }
    return std::nullopt;
  }
  // SIGTERM, wait up to 10 s (then SIGKILL); the exit status or -1.
  int stop() {
    if (pid_ <= 0) return exit_;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (auto code = exited()) return *code;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_ = -1;
    return -1;
  }
  bool running() { return !exited().has_value() && pid_ > 0; }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

private:
  pid_t pid_ = -1;
  int exit_ = -1;
  std::string log_;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:port/path from inside `ns` (the socket is created in the namespace).
inline std::optional<HttpResponse> httpGet(const std::string& ns, int port, const std::string& path) {
  UniqueFd fd;
  {
    EnterNetns in(ns);
    fd = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  if (!fd) return std::nullopt;
  timeval tv{2, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return std::nullopt;
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return std::nullopt;
  std::string raw;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  auto headerEnd = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || headerEnd == std::string::npos) return std::nullopt;
  HttpResponse r;
  r.status = std::atoi(raw.c_str() + 9);
  std::string headers = raw.substr(0, headerEnd);
  for (auto& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string body = raw.substr(headerEnd + 4);
  if (headers.find("transfer-encoding: chunked") != std::string::npos) {
    std::string out;
    size_t pos = 0;
    for (;;) {
      auto eol = body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t len = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (len == 0) break;
      out += body.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    body = out;
  }
  r.body = std::move(body);
  return r;
}

// A random high port for the status endpoint (cpprestsdk cannot bind port 0).
inline int randomHighPort() {
  std::random_device rd;
  return std::uniform_int_distribution<int>(20000, 59999)(rd);
}

// Starts the agent with --status-listen 127.0.0.1:<random port>, retrying with another port
// when the endpoint cannot listen (collision). `port` receives the port used. Null if the
// agent did not come up (its log is in `logPath`).
inline std::unique_ptr<AgentProcess> startAgentWithStatus(const std::string& ns, std::vector<std::string> args,
                                                          const std::string& logPath, int& port) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port = randomHighPort();
    std::vector<std::string> a = args;
    a.push_back("--status-listen=127.0.0.1:" + std::to_string(port));
    auto p = std::make_unique<AgentProcess>(ns, a, logPath);
    bool up = waitUntil(
        [&] {
          if (!p->running()) return true;
          auto r = httpGet(ns, port, "/healthz");
          return r && r->status == 200;
        },
        std::chrono::seconds(10));
    if (up && p->running()) return p;
    const std::string log = p->log();
    p->stop();
    if (log.find("what=\"status endpoint\"") == std::string::npos) return nullptr;  // not a collision
  }
  return nullptr;
}

}  // namespace carplb::testing
