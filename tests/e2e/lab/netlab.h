#pragma once
// carplb_netlab: a network-namespace lab for end-to-end tests, the demo and the benchmarks.
//
//   switch namespace  carplb-<tag>-<pid>-<rand>-sw   holds bridge carplb-br0 (mcast_snooping 0)
//   node namespaces   carplb-<tag>-<pid>-<rand>-n1.. interface carplb-eth0, 192.0.2.11, .12, ...
//   client namespace  carplb-<tag>-<pid>-<rand>-c    interface carplb-eth0, 192.0.2.100
//
// Every veth pair is created inside the switch namespace with its node end moved into the
// node namespace, so nothing at all is created in the root namespace. Everything is removed
// by destructors (also when a test fails); processes are stopped by PID only.
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace carplb::e2e {

// Runs a command (no shell), waits for it; the value is its stdout. A non-zero exit is an
// Error whose message holds the command line and its stderr.
Result<std::string> runCommand(const std::vector<std::string>& argv);

// A named network namespace (ip netns add/del). Move-only; the destructor deletes it.
class Namespace {
public:
  static Result<Namespace> create(const std::string& name);
  // Wraps an existing namespace without owning it (e.g. the demo's --clean).
  static Namespace adopt(const std::string& name);
  Namespace() = default;
  ~Namespace();
  Namespace(Namespace&& o) noexcept;
  Namespace& operator=(Namespace&& o) noexcept;
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  const std::string& name() const { return name_; }
  // ip -n NAME args...
  Result<std::string> ip(const std::vector<std::string>& args) const;
  // A socket created inside this namespace (it stays bound to it).
  Result<UniqueFd> socket(int domain, int type, int protocol) const;
  // Opens /run/netns/NAME (for setns).
  Result<UniqueFd> open() const;
  void release() { owned_ = false; }  // keep it after we exit (demo --keep)

private:
  void destroy();
  std::string name_;
  bool owned_ = false;
};

// Enters the namespace in the CALLING THREAD (only that thread), for threads that serve in it.
Status enterNamespace(const Namespace& ns);

// A process started inside a namespace. It leads its own process group; stopping it signals
// that group (its children too: ucarp scripts, keepalived's VRRP child). Move-only; the
// destructor SIGKILLs and reaps whatever is still running.
class Process {
public:
  struct Options {
    std::vector<std::string> argv;
    std::string logPath;          // stdout+stderr; empty: /dev/null
    bool dieWithParent = true;    // PR_SET_PDEATHSIG(SIGKILL): no strays if the test crashes
  };
  static Result<Process> spawn(const Namespace& ns, const Options& options);
  Process() = default;
  ~Process();
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();                   // reaps it when it has exited
  std::optional<int> exitStatus() const { return status_; }  // waitpid status once reaped
  // SIGTERM to the leader, wait up to `grace`, then SIGKILL the group. True when it exited
  // by itself within the grace period.
  bool terminate(Duration grace = std::chrono::seconds(3));
  void kill();                      // SIGKILL the group and reap (a crash)
  void signal(int sig);             // to the leader only (e.g. SIGSTOP/SIGCONT)
  std::string log() const;          // contents of logPath
  const std::string& logPath() const { return logPath_; }
  void release() { pid_ = -1; }     // forget it (demo --keep)

private:
  bool waitExit(Duration timeout);
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string logPath_;
};

struct Host {
  std::string name;     // node1, node2, ..., client
  Namespace ns;
  std::string ifname;   // carplb-eth0 (inside ns)
  std::string port;     // carplb-pN (the bridge port, inside the switch namespace)
  std::string address;  // 192.0.2.11 (/24)
};

struct LabOptions {
  std::string tag = "lab";  // part of every namespace name; [a-z0-9], at most 8 characters
  int nodes = 3;
  bool client = true;
  std::string workDir;      // default: /tmp/carplb-<tag>-<pid>-<rand>
  bool keepWorkDir = false;  // keep logs and scripts after teardown
  // Processes started through spawn() survive this process (no PR_SET_PDEATHSIG): for a lab
  // that is left running (demo --keep). Default: they are SIGKILLed if we die.
  bool processesOutliveUs = false;
};

class Lab {
  struct Key {};

public:
  static Result<std::unique_ptr<Lab>> create(LabOptions options);
  Lab(Key key, LabOptions options);
  ~Lab();
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  // 1-based like the names: node(1) is node1 at 192.0.2.11.
  Host& node(int index);
  Host& client();
  int nodeCount() const { return static_cast<int>(nodes_.size()); }
  const Namespace& switchNs() const { return switch_; }
  const std::string& prefix() const { return prefix_; }  // carplb-<tag>-<pid>-<rand>
  const std::string& workDir() const { return workDir_; }

  // Carrier loss on the host side (the host's daemon sees its link go down).
  Status linkDown(const Host& h);
  Status linkUp(const Host& h);
  // Partition: the port leaves the bridge; the host keeps its carrier and sees nothing.
  Status detach(const Host& h);
  Status attach(const Host& h);

  // A crashed node that comes back has rebooted: remove every IPv4 address but the node's
  // own from its interface (a SIGKILLed daemon leaves its VIPs bound).
  Status flushVips(const Host& h);

  Result<std::vector<std::string>> addresses(const Host& h) const;  // IPv4 on ifname
  Result<bool> hasAddress(const Host& h, const std::string& address) const;

  // Starts argv inside h's namespace, output to workDir/logName. Call it from a thread that
  // outlives the process (PR_SET_PDEATHSIG follows the spawning thread).
  Result<Process> spawn(const Host& h, const std::vector<std::string>& argv, const std::string& logName);
  // Writes workDir/name (mode e.g. 0755 for scripts); returns the full path.
  Result<std::string> writeFile(const std::string& name, const std::string& content, int mode = 0644);

  // Keep everything (namespaces, work dir) after this object goes away.
  void release();

private:
  Status build();
  LabOptions options_;
  std::string prefix_;
  std::string workDir_;
  Namespace switch_;
  std::vector<Host> nodes_;
  std::optional<Host> client_;
  bool released_ = false;
};

// HTTP/1.1 request (Connection: close) to 127.0.0.1:port inside `ns`; code and body.
struct HttpResponse {
  int code = 0;
  std::string body;
};
Result<HttpResponse> httpRequest(const Namespace& ns, uint16_t port, const std::string& method, const std::string& path,
                                 const std::string& body = "", const std::string& contentType = "",
                                 Duration timeout = std::chrono::seconds(5));

// GET http://127.0.0.1:port/path from inside `ns` (httpRequest); the value is the body of a 200.
Result<std::string> httpGet(const Namespace& ns, uint16_t port, const std::string& path,
                            Duration timeout = std::chrono::seconds(2));
Result<nlohmann::json> httpGetJson(const Namespace& ns, uint16_t port, const std::string& path,
                                   Duration timeout = std::chrono::seconds(2));

// Deletes namespaces named carplb-*-<pid>-* (leftovers of an earlier process with our pid)
// and the matching /tmp/carplb-*-<pid>-* work directories.
void sweepOwnNamespaces();

// For lab programs (demo, benchmark): blocks SIGINT/SIGTERM/SIGHUP in the calling thread
// (call it first in main, before any thread starts) and starts a thread that, on one of
// them, sweeps our namespaces and exits with 128+signal. Our children die with us
// (PR_SET_PDEATHSIG).
void cleanupOnSignals();

// Node addresses: 192.0.2.10+index; client 192.0.2.100; VIPs 192.0.2.200+index.
std::string nodeAddress(int index);
inline const char* ClientAddress = "192.0.2.100";
std::string vipAddress(int index);

}  // namespace carplb::e2e
