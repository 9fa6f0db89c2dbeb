#include "tests/e2e/lab/netlab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace carplb::e2e {
namespace {

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string joinArgs(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) {
      s += ' ';
    }
    s += a;
  }
  return s;
}

// argv as the char* array execvp wants; built before fork (no allocation in the child).
std::vector<char*> cArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    out.push_back(const_cast<char*>(a.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

}  // namespace

Result<std::string> runCommand(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    return makeError("runCommand: argv: empty");
  }
  int outPipe[2];
  int errPipe[2];
  if (::pipe2(outPipe, O_CLOEXEC) != 0) {
    return makeError(errnoText("runCommand: pipe"));
  }
  if (::pipe2(errPipe, O_CLOEXEC) != 0) {
    ::close(outPipe[0]);
    ::close(outPipe[1]);
    return makeError(errnoText("runCommand: pipe"));
  }
  UniqueFd outR(outPipe[0]), outW(outPipe[1]), errR(errPipe[0]), errW(errPipe[1]);
  auto args = cArgv(argv);
  pid_t pid = ::fork();
  if (pid < 0) {
    return makeError(errnoText("runCommand: fork"));
  }
  if (pid == 0) {
    ::dup2(outW.get(), STDOUT_FILENO);
    ::dup2(errW.get(), STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  outW.reset();
  errW.reset();
  std::string out, err;
  char buf[4096];
  bool outOpen = true, errOpen = true;
  while (outOpen || errOpen) {
    pollfd fds[2] = {{outOpen ? outR.get() : -1, POLLIN, 0}, {errOpen ? errR.get() : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if (fds[0].revents) {
      ssize_t n = ::read(outR.get(), buf, sizeof buf);
      if (n <= 0) {
        outOpen = false;
      } else {
        out.append(buf, static_cast<size_t>(n));
      }
    }
    if (fds[1].revents) {
      ssize_t n = ::read(errR.get(), buf, sizeof buf);
      if (n <= 0) {
        errOpen = false;
      } else {
        err.append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) {
      err.pop_back();
    }
    std::string how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                        : "signal " + std::to_string(WTERMSIG(status));
    return makeError("'" + joinArgs(argv) + "' failed (" + how + "): " + err);
  }
  return out;
}

// ---------------------------------------------------------------- Namespace

Result<Namespace> Namespace::create(const std::string& name) {
  auto r = runCommand({"ip", "netns", "add", name});
  if (!r) {
    return makeError("namespace " + name + ": " + r.error().message);
  }
  Namespace ns;
  ns.name_ = name;
  ns.owned_ = true;
  auto lo = ns.ip({"link", "set", "lo", "up"});
  if (!lo) {
    return makeError("namespace " + name + ": lo up: " + lo.error().message);
  }
  return ns;
}

Namespace Namespace::adopt(const std::string& name) {
  Namespace ns;
  ns.name_ = name;
  ns.owned_ = true;
  return ns;
}

Namespace::~Namespace() { destroy(); }

Namespace::Namespace(Namespace&& o) noexcept
    : name_(std::move(o.name_)), owned_(std::exchange(o.owned_, false)) {}

Namespace& Namespace::operator=(Namespace&& o) noexcept {
  if (this != &o) {
    destroy();
    name_ = std::move(o.name_);
    owned_ = std::exchange(o.owned_, false);
  }
  return *this;
}

void Namespace::destroy() {
  if (owned_ && !name_.empty()) {
    (void)runCommand({"ip", "netns", "del", name_});
  }
  owned_ = false;
}

Result<std::string> Namespace::ip(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"ip", "-n", name_};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

Result<UniqueFd> Namespace::open() const {
  std::string path = "/run/netns/" + name_;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return makeError(errnoText("namespace " + name_ + ": open " + path));
  }
  return fd;
}

Status enterNamespace(const Namespace& ns) {
  auto fd = ns.open();
  if (!fd) {
    return fd.error();
  }
  if (::setns(fd->get(), CLONE_NEWNET) != 0) {
    return makeError(errnoText("namespace " + ns.name() + ": setns"));
  }
  return okStatus();
}

Result<UniqueFd> Namespace::socket(int domain, int type, int protocol) const {
  // setns() applies to the calling thread only: do it on a short-lived thread so the
  // caller's thread never changes namespace.
  Result<UniqueFd> result = makeError("namespace " + name_ + ": socket: not created");
  std::thread t([&] {
    auto st = enterNamespace(*this);
    if (!st) {
      result = st.error();
      return;
    }
    UniqueFd fd(::socket(domain, type | SOCK_CLOEXEC, protocol));
    if (!fd) {
      result = makeError(errnoText("namespace " + name_ + ": socket"));
      return;
    }
    result = std::move(fd);
  });
  t.join();
  return result;
}

// ---------------------------------------------------------------- Process

Result<Process> Process::spawn(const Namespace& ns, const Options& options) {
  if (options.argv.empty()) {
    return makeError("spawn: argv: empty");
  }
  auto nsFd = ns.open();
  if (!nsFd) {
    return nsFd.error();
  }
  std::string log = options.logPath.empty() ? "/dev/null" : options.logPath;
  UniqueFd logFd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!logFd) {
    return makeError(errnoText("spawn " + options.argv[0] + ": log " + log));
  }
  auto args = cArgv(options.argv);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    return makeError(errnoText("spawn " + options.argv[0] + ": fork"));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    if (options.dieWithParent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(126);
      }
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::setns(nsFd->get(), CLONE_NEWNET) != 0) {
      ::_exit(125);
    }
    // Like `ip netns exec`: a private mount namespace whose /sys shows this network namespace.
    if (::unshare(CLONE_NEWNS) == 0 && ::mount("", "/", nullptr, MS_SLAVE | MS_REC, nullptr) == 0) {
      ::umount2("/sys", MNT_DETACH);
      ::mount(ns.name().c_str(), "/sys", "sysfs", 0, nullptr);
    }
    ::dup2(logFd.get(), STDOUT_FILENO);
    ::dup2(logFd.get(), STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // both sides, so kill(-pid) works at once
  Process p;
  p.pid_ = pid;
  p.logPath_ = options.logPath;
  return p;
}

Process::~Process() { kill(); }

Process::Process(Process&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), status_(o.status_), logPath_(std::move(o.logPath_)) {}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    kill();
    pid_ = std::exchange(o.pid_, -1);
    status_ = o.status_;
    logPath_ = std::move(o.logPath_);
  }
  return *this;
}

bool Process::running() {
  if (pid_ <= 0) {
    return false;
  }
  return !waitExit(Duration{0});
}

// True when the leader has exited (then its group is SIGKILLed and it is reaped).
bool Process::waitExit(Duration timeout) {
  if (pid_ <= 0) {
    return true;
  }
  auto deadline = MonoClock::now() + timeout;
  for (;;) {
    siginfo_t info{};
    // WNOWAIT: keep the zombie (and so the pid/pgid) until the group has been killed.
    int rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && info.si_pid == pid_) {
      ::kill(-pid_, SIGKILL);  // stragglers of the group (scripts, helper children)
      int status = 0;
      ::waitpid(pid_, &status, 0);
      status_ = status;
      pid_ = -1;
      return true;
    }
    if (rc != 0 && errno == ECHILD) {
      pid_ = -1;
      return true;
    }
    if (MonoClock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool Process::terminate(Duration grace) {
  if (pid_ <= 0) {
    return true;
  }
  ::kill(pid_, SIGTERM);
  if (waitExit(grace)) {
    return true;
  }
  kill();
  return false;
}

void Process::kill() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  waitExit(std::chrono::seconds(10));
}

void Process::signal(int sig) {
  if (pid_ > 0) {
    ::kill(pid_, sig);
  }
}

std::string Process::log() const {
  if (logPath_.empty()) {
    return {};
  }
  std::ifstream in(logPath_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------- Lab

std::string nodeAddress(int index) { return "192.0.2." + std::to_string(10 + index); }
std::string vipAddress(int index) { return "192.0.2." + std::to_string(200 + index); }

void sweepOwnNamespaces() {
  auto list = runCommand({"ip", "netns", "list"});
  if (!list) {
    return;
  }
  std::string marker = "-" + std::to_string(::getpid()) + "-";
  std::istringstream in(*list);
  std::string line;
  while (std::getline(in, line)) {
    std::string name = line.substr(0, line.find(' '));
    if (name.rfind("carplb-", 0) == 0 && name.find(marker) != std::string::npos) {
      (void)runCommand({"ip", "netns", "del", name});
    }
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/tmp", ec)) {
    std::string name = entry.path().filename();
    if (name.rfind("carplb-", 0) == 0 && name.find(marker) != std::string::npos) {
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
}

void cleanupOnSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    if (::sigwait(&set, &sig) == 0) {
      std::fprintf(stderr, "signal %d: removing our namespaces\n", sig);
      sweepOwnNamespaces();
      ::_exit(128 + sig);
    }
  }).detach();
}

Lab::Lab(Key /*key*/, LabOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Lab>> Lab::create(LabOptions options) {
  if (options.tag.empty() || options.tag.size() > 8 ||
      options.tag.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos) {
    return makeError("lab options: tag: must be 1..8 characters of [a-z0-9], got '" + options.tag + "'");
  }
  if (options.nodes < 1 || options.nodes > 80) {
    return makeError("lab options: nodes: must be 1..80, got " + std::to_string(options.nodes));
  }
  if (::geteuid() != 0) {
    return makeError("lab: must run as root to create network namespaces (euid " + std::to_string(::geteuid()) + ")");
  }
  static_assert(sizeof(unsigned) >= 4);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", rd() & 0xffffu);
  auto lab = std::make_unique<Lab>(Key{}, options);
  lab->prefix_ = "carplb-" + options.tag + "-" + std::to_string(::getpid()) + "-" + suffix;
  lab->workDir_ = options.workDir.empty() ? "/tmp/" + lab->prefix_ : options.workDir;
  std::error_code ec;
  std::filesystem::create_directories(lab->workDir_, ec);
  if (ec) {
    return makeError("lab: workDir " + lab->workDir_ + ": " + ec.message());
  }
  auto st = lab->build();
  if (!st) {
    return st.error();  // the destructor removes what was built
  }
  return lab;
}

Status Lab::build() {
  auto sw = Namespace::create(prefix_ + "-sw");
  if (!sw) {
    return sw.error();
  }
  switch_ = std::move(*sw);
  const std::string bridge = "carplb-br0";
  auto r = switch_.ip({"link", "add", bridge, "type", "bridge", "mcast_snooping", "0", "stp_state", "0"});
  if (!r) {
    return makeError("lab bridge: " + r.error().message);
  }
  r = switch_.ip({"link", "set", bridge, "up"});
  if (!r) {
    return makeError("lab bridge: " + r.error().message);
  }
  auto addHost = [&](const std::string& name, const std::string& nsSuffix, int portIndex,
                     const std::string& address) -> Result<Host> {
    auto ns = Namespace::create(prefix_ + "-" + nsSuffix);
    if (!ns) {
      return ns.error();
    }
    Host h;
    h.name = name;
    h.ns = std::move(*ns);
    h.ifname = "carplb-eth0";
    h.port = "carplb-p" + std::to_string(portIndex);
    h.address = address;
    std::vector<std::vector<std::string>> swSteps = {
        {"link", "add", h.port, "type", "veth", "peer", "name", h.ifname, "netns", h.ns.name()},
        {"link", "set", h.port, "master", bridge},
        {"link", "set", h.port, "up"},
    };
    for (const auto& step : swSteps) {
      auto res = switch_.ip(step);
      if (!res) {
        return makeError("lab host " + name + ": " + res.error().message);
      }
    }
    std::vector<std::vector<std::string>> hostSteps = {
        {"addr", "add", address + "/24", "dev", h.ifname},
        {"link", "set", h.ifname, "up"},
    };
    for (const auto& step : hostSteps) {
      auto res = h.ns.ip(step);
      if (!res) {
        return makeError("lab host " + name + ": " + res.error().message);
      }
    }
    return h;
  };
  for (int i = 1; i <= options_.nodes; ++i) {
    auto h = addHost("node" + std::to_string(i), "n" + std::to_string(i), i, nodeAddress(i));
    if (!h) {
      return h.error();
    }
    nodes_.push_back(std::move(*h));
  }
  if (options_.client) {
    auto h = addHost("client", "c", 0, ClientAddress);
    if (!h) {
      return h.error();
    }
    client_ = std::move(*h);
  }
  return okStatus();
}

Lab::~Lab() {
  if (released_) {
    return;
  }
  // Host namespaces first (their veths die with them), then the switch.
  client_.reset();
  nodes_.clear();
  switch_ = Namespace();
  if (!options_.keepWorkDir && !workDir_.empty() && options_.workDir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(workDir_, ec);
  }
}

void Lab::release() {
  released_ = true;
  switch_.release();
  for (auto& n : nodes_) {
    n.ns.release();
  }
  if (client_) {
    client_->ns.release();
  }
}

Host& Lab::node(int index) { return nodes_.at(static_cast<size_t>(index - 1)); }

Host& Lab::client() {
  if (!client_) {
    throw std::logic_error("lab: built without a client");
  }
  return *client_;
}

Status Lab::linkDown(const Host& h) {
  auto r = h.ns.ip({"link", "set", h.ifname, "down"});
  return r ? okStatus() : Status(r.error());
}

Status Lab::linkUp(const Host& h) {
  auto r = h.ns.ip({"link", "set", h.ifname, "up"});
  return r ? okStatus() : Status(r.error());
}

Status Lab::detach(const Host& h) {
  auto r = switch_.ip({"link", "set", h.port, "nomaster"});
  return r ? okStatus() : Status(r.error());
}

Status Lab::attach(const Host& h) {
  auto r = switch_.ip({"link", "set", h.port, "master", "carplb-br0"});
  return r ? okStatus() : Status(r.error());
}

Status Lab::flushVips(const Host& h) {
  auto addrs = addresses(h);
  if (!addrs) {
    return addrs.error();
  }
  for (const auto& a : *addrs) {
    if (a != h.address) {
      auto r = h.ns.ip({"addr", "del", a + "/32", "dev", h.ifname});
      if (!r) {
        return r.error();
      }
    }
  }
  return okStatus();
}

Result<std::vector<std::string>> Lab::addresses(const Host& h) const {
  auto out = h.ns.ip({"-j", "-4", "addr", "show", "dev", h.ifname});
  if (!out) {
    return out.error();
  }
  auto j = nlohmann::json::parse(*out, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return makeError("lab host " + h.name + ": ip -j addr: unparsable output");
  }
  std::vector<std::string> addrs;
  for (const auto& link : j) {
    if (!link.contains("addr_info")) {
      continue;
    }
    for (const auto& a : link["addr_info"]) {
      if (a.contains("local") && a["local"].is_string()) {
        addrs.push_back(a["local"].get<std::string>());
      }
    }
  }
  return addrs;
}

Result<bool> Lab::hasAddress(const Host& h, const std::string& address) const {
  auto addrs = addresses(h);
  if (!addrs) {
    return addrs.error();
  }
  for (const auto& a : *addrs) {
    if (a == address) {
      return true;
    }
  }
  return false;
}

Result<Process> Lab::spawn(const Host& h, const std::vector<std::string>& argv, const std::string& logName) {
  Process::Options o;
  o.argv = argv;
  o.logPath = logName.empty() ? "" : workDir_ + "/" + logName;
  o.dieWithParent = !options_.processesOutliveUs;
  return Process::spawn(h.ns, o);
}

Result<std::string> Lab::writeFile(const std::string& name, const std::string& content, int mode) {
  std::string path = workDir_ + "/" + name;
  {
    std::ofstream out(path, std::ios::trunc);
    if (!out) {
      return makeError("lab: write " + path + ": cannot open");
    }
    out << content;
    if (!out) {
      return makeError("lab: write " + path + ": write failed");
    }
  }
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    return makeError(errnoText("lab: chmod " + path));
  }
  return path;
}

// ---------------------------------------------------------------- HTTP

Result<HttpResponse> httpRequest(const Namespace& ns, uint16_t port, const std::string& method, const std::string& path,
                                 const std::string& body, const std::string& contentType, Duration timeout) {
  const std::string what = method + " 127.0.0.1:" + std::to_string(port) + path + " in " + ns.name();
  auto sock = ns.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (!sock) {
    return sock.error();
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto deadline = MonoClock::now() + timeout;
  auto remainingMs = [&] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - MonoClock::now()).count();
    return static_cast<int>(std::max<int64_t>(ms, 0));
  };
  if (::connect(sock->get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    return makeError(errnoText(what + ": connect"), true);
  }
  pollfd pfd{sock->get(), POLLOUT, 0};
  if (::poll(&pfd, 1, remainingMs()) <= 0) {
    return makeError(what + ": connect timed out", true);
  }
  int soErr = 0;
  socklen_t len = sizeof soErr;
  ::getsockopt(sock->get(), SOL_SOCKET, SO_ERROR, &soErr, &len);
  if (soErr != 0) {
    return makeError(what + ": connect: " + std::strerror(soErr), true);
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\nAccept: application/json\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req += "Content-Type: " + (contentType.empty() ? std::string("application/json") : contentType) + "\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  size_t sent = 0;
  while (sent < req.size()) {
    pollfd out{sock->get(), POLLOUT, 0};
    if (::poll(&out, 1, remainingMs()) <= 0) {
      return makeError(what + ": send timed out", true);
    }
    ssize_t n = ::send(sock->get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        continue;
      }
      return makeError(errnoText(what + ": send"), true);
    }
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[16384];
  for (;;) {
    pollfd in{sock->get(), POLLIN, 0};
    if (::poll(&in, 1, remainingMs()) <= 0) {
      return makeError(what + ": response timed out", true);
    }
    ssize_t n = ::recv(sock->get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        continue;
      }
      return makeError(errnoText(what + ": recv"), true);
    }
    if (n == 0) {
      break;
    }
    resp.append(buf, static_cast<size_t>(n));
  }
  auto headerEnd = resp.find("\r\n\r\n");
  if (headerEnd == std::string::npos || resp.rfind("HTTP/", 0) != 0) {
    return makeError(what + ": not an HTTP response", true);
  }
  std::string head = resp.substr(0, headerEnd);
  HttpResponse r;
  r.code = std::atoi(head.c_str() + head.find(' ') + 1);
  r.body = resp.substr(headerEnd + 4);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    std::string decoded;
    size_t pos = 0;
    while (pos < r.body.size()) {
      size_t eol = r.body.find("\r\n", pos);
      if (eol == std::string::npos) {
        break;
      }
      size_t size = std::strtoul(r.body.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (size == 0 || eol + 2 + size > r.body.size()) {
        break;
      }
      decoded += r.body.substr(eol + 2, size);
      pos = eol + 2 + size + 2;
    }
    r.body = decoded;
  }
  return r;
}

Result<std::string> httpGet(const Namespace& ns, uint16_t port, const std::string& path, Duration timeout) {
  auto r = httpRequest(ns, port, "GET", path, "", "", timeout);
  if (!r) {
    return r.error();
  }
  if (r->code != 200) {
    return makeError("GET 127.0.0.1:" + std::to_string(port) + path + " in " + ns.name() + ": HTTP " +
                     std::to_string(r->code) + ": " + r->body.substr(0, 200));
  }
  return std::move(r->body);
}

Result<nlohmann::json> httpGetJson(const Namespace& ns, uint16_t port, const std::string& path, Duration timeout) {
  auto body = httpGet(ns, port, path, timeout);
  if (!body) {
    return body.error();
  }
  auto j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_discarded()) {
    return makeError("GET " + path + " in " + ns.name() + ": body is not JSON: " + body->substr(0, 200));
  }
  return j;
}

}  // namespace carplb::e2e
