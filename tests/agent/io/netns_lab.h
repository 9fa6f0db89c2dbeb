#pragma once
// NetnsPair: two network namespaces carplb-<tag>-<pid>-{a,b} joined by a veth pair
// carplb-<pid>a / carplb-<pid>b (documentation addresses 192.0.2.1/24 and 192.0.2.2/24).
// Removed in the destructor (also when a test fails). EnterNetns switches the calling
// thread into a namespace and back (sockets keep the namespace they were created in).
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common/unique_fd.h"

namespace carplb::testing {

inline int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

class EnterNetns {
public:
  explicit EnterNetns(const std::string& ns)
      : orig_(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) {
    UniqueFd target(::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC));
    if (!target || ::setns(target.get(), CLONE_NEWNET) != 0) throw std::runtime_error("setns " + ns);
  }
  ~EnterNetns() { ::setns(orig_.get(), CLONE_NEWNET); }
  EnterNetns(const EnterNetns&) = delete;
  EnterNetns& operator=(const EnterNetns&) = delete;

private:
  UniqueFd orig_;
};

class NetnsPair {
public:
  explicit NetnsPair(const std::string& tag) {
    std::string id = std::to_string(::getpid());
    a = "carplb-" + tag + "-" + id + "-a";
    b = "carplb-" + tag + "-" + id + "-b";
    ifA = "carplb-" + id.substr(0, 7) + "a";
    ifB = "carplb-" + id.substr(0, 7) + "b";
    ok = sh("ip netns add " + a) == 0 && sh("ip netns add " + b) == 0 &&
         sh("ip -n " + a + " link add " + ifA + " type veth peer name " + ifB + " netns " + b) == 0 &&
         sh("ip -n " + a + " addr add 192.0.2.1/24 dev " + ifA) == 0 &&
         sh("ip -n " + b + " addr add 192.0.2.2/24 dev " + ifB) == 0 &&
         sh("ip -n " + a + " link set " + ifA + " up") == 0 && sh("ip -n " + b + " link set " + ifB + " up") == 0 &&
         sh("ip -n " + a + " link set lo up") == 0 && sh("ip -n " + b + " link set lo up") == 0;
  }
  ~NetnsPair() {
    sh("ip netns del " + a);
    sh("ip netns del " + b);
  }
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  std::string a, b, ifA, ifB;
  bool ok = false;
};

}  // namespace carplb::testing
