#pragma once
// Test helper: runs carplb-kube-double as a child process on a free loopback port and stops it
// (SIGTERM, by PID) when destroyed. Controller tests may use it too:
//   auto d = carplb::kubedouble::DoubleProcess::start(CARPLB_KUBE_DOUBLE_BIN, {"--token", "t"});
//   ASSERT_TRUE(d.ok()) << d.error().message;
//   (*d)->port(); (*d)->kubeconfig();
#include "common/result.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace carplb::kubedouble {

class DoubleProcess {
public:
  // Starts BINARY --listen 127.0.0.1:0 --port-file DIR/port --kubeconfig-out DIR/kubeconfig ARGS...
  // in a fresh temporary DIR and waits (up to 10 s) for the port file.
  static Result<std::unique_ptr<DoubleProcess>> start(const std::string& binary, const std::vector<std::string>& args) {
    if (!std::filesystem::exists(binary)) {
      return makeError("kube double binary " + binary + " does not exist (build target carplb-kube-double)");
    }
    std::string tmpl = (std::filesystem::temp_directory_path() / "carplb-kube-double-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      return makeError("mkdtemp " + tmpl + " failed");
    }
    std::unique_ptr<DoubleProcess> p(new DoubleProcess(tmpl));
    std::vector<std::string> argv = {binary, "--listen", "127.0.0.1:0", "--port-file", p->dir_ + "/port",
                                     "--kubeconfig-out", p->kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string logFile = p->dir_ + "/double.log";
    pid_t pid = ::fork();
    if (pid < 0) {
      return makeError("fork failed");
    }
    if (pid == 0) {
      std::vector<char*> cargv;
      for (auto& a : argv) {
        cargv.push_back(a.data());
      }
      cargv.push_back(nullptr);
      FILE* log = std::freopen(logFile.c_str(), "w", stderr);
      (void)log;
      ::dup2(STDERR_FILENO, STDOUT_FILENO);
      ::execv(binary.c_str(), cargv.data());
      std::_Exit(127);
    }
    p->pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(p->dir_ + "/port");
      int port = 0;
      if (in >> port && port > 0) {
        p->port_ = port;
        return p;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        p->pid_ = -1;
        return makeError("carplb-kube-double exited early; log: " + p->log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return makeError("carplb-kube-double wrote no port file within 10 s; log: " + p->log());
  }

  ~DoubleProcess() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  DoubleProcess(const DoubleProcess&) = delete;
  DoubleProcess& operator=(const DoubleProcess&) = delete;

  // SIGTERM and wait (SIGKILL after 5 s). Returns the exit status (or -1).
  int stop() {
    if (pid_ <= 0) {
      return -1;
    }
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return status;
  }

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string kubeconfig() const { return dir_ + "/kubeconfig"; }
  std::string log() const {
    std::ifstream in(dir_ + "/double.log");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

private:
  explicit DoubleProcess(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace carplb::kubedouble
