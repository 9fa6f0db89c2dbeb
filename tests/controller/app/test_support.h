#pragma once
// Test helpers for carplb-controller against carplb-kube-double driven with the real kubectl:
// a child process (stopped by PID), polling with a deadline, a kubectl runner with its own
// --cache-dir, and a free random high port.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace carplb::controller::apptest {

// A child process with stdout+stderr in `logFile`. Stopped (SIGTERM, then SIGKILL) by PID when
// destroyed; never anything else.
class ChildProcess {
public:
  static Result<std::unique_ptr<ChildProcess>> start(const std::vector<std::string>& argv, const std::string& logFile) {
    if (argv.empty() || ::access(argv[0].c_str(), X_OK) != 0) {
      return makeError("cannot execute " + (argv.empty() ? std::string("(nothing)") : argv[0]));
    }
    std::unique_ptr<ChildProcess> p(new ChildProcess(logFile));
    pid_t pid = ::fork();
    if (pid < 0) return makeError("fork failed");
    if (pid == 0) {
      std::vector<std::string> args = argv;
      std::vector<char*> cargv;
      for (auto& a : args) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
      ::execv(cargv[0], cargv.data());
      std::_Exit(127);
    }
    p->pid_ = pid;
    return p;
  }
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // True while the process runs (reaps it when it has exited).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exitStatus_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the wait status (-1: was not running).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    if (!running()) return exitStatus_;
    ::kill(pid_, SIGTERM);
    return reap(grace);
  }
  // SIGKILL: a crash, no cleanup in the process.
  int kill9() {
    if (!running()) return exitStatus_;
    ::kill(pid_, SIGKILL);
    return reap(std::chrono::seconds(10));
  }
  std::string log() const {
    std::ifstream in(logFile_);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    constexpr size_t Max = 20000;
    return s.size() > Max ? "...\n" + s.substr(s.size() - Max) : s;
  }

private:
  explicit ChildProcess(std::string logFile) : logFile_(std::move(logFile)) {}
  int reap(std::chrono::milliseconds grace) {
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    exitStatus_ = status;
    return status;
  }
  std::string logFile_;
  pid_t pid_ = -1;
  int exitStatus_ = -1;
};

// Polls `check` every `every` until it returns true or `timeout` passes. Returns the last result.
inline bool eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds every = std::chrono::milliseconds(25)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (check()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

// A random high loopback port that was free a moment ago (callers retry on a bind race).
inline int randomFreePort(std::mt19937& rng) {
  std::uniform_int_distribution<int> dist(20000, 59999);
  for (int attempt = 0; attempt < 100; ++attempt) {
    int port = dist(rng);
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return port;
  }
  return 0;
}

struct CommandResult {
  int exitCode = -1;
  std::string output;  // stdout + stderr
};

inline std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline CommandResult runCommand(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace carplb::controller::apptest
