// carplb-garp-bench (root + network namespaces): how long gratuitous ARPs block the caller
// (the agent's event loop). 64 VIPs announced back to back, --rounds N times, through
// GarpSender, and the same frames sent the way GarpSender did before it kept its socket
// (socket, 2 ioctls, sendto, close per GARP) as the reference, in the same run. Prints
// milliseconds; exits 1 when a GARP could not be sent. Results: docs/benchmarks/carp.md.
// Run: sudo build/<dir>/tests/agent/io/carplb-garp-bench [--rounds N]
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "agent/io/garp.h"
#include "agent/io/netns_lab.h"
#include "common/unique_fd.h"

namespace carplb::agent::io {
namespace {

using carp::Ipv4Address;
using testing::EnterNetns;
using testing::NetnsPair;

constexpr int Vips = 64;


// The previous GarpSender::announce: a fresh AF_PACKET socket per GARP.
bool announceFreshSocket(const std::string& ifname, Ipv4Address vip) {
  UniqueFd s(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP)));
  if (!s) return false;
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.c_str(), ifname.size());
  if (::ioctl(s.get(), SIOCGIFINDEX, &req) != 0) return false;
  const int ifindex = req.ifr_ifindex;
  if (::ioctl(s.get(), SIOCGIFHWADDR, &req) != 0) return false;
  MacAddress mac;
  std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, 6);
  auto frame = buildGratuitousArp(mac, vip);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = ifindex;
  to.sll_halen = 6;
  std::memset(to.sll_addr, 0xff, 6);
  return ::sendto(s.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
         static_cast<ssize_t>(frame.size());
}

struct Timing {
  double totalMs = 0;      // all rounds
  double maxRoundMs = 0;   // slowest round of Vips GARPs
  double maxCallMs = 0;    // slowest single GARP
  int failures = 0;
};

Timing measure(int rounds, const std::function<bool(Ipv4Address)>& send) {
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  Timing t;
  for (int r = 0; r < rounds; ++r) {
    const auto roundStart = Clock::now();
    for (int i = 0; i < Vips; ++i) {
      const auto start = Clock::now();
      if (!send(Ipv4Address(0xC6336400u + static_cast<uint32_t>(i)))) ++t.failures;  // 198.51.100.i
      t.maxCallMs = std::max(t.maxCallMs, ms(Clock::now() - start));
    }
    const double round = ms(Clock::now() - roundStart);
    t.totalMs += round;
    t.maxRoundMs = std::max(t.maxRoundMs, round);
  }
  return t;
}

void print(const char* what, int rounds, const Timing& t) {
  std::printf("%-34s rounds=%d vips=%d  mean/round=%8.2f ms  max/round=%8.2f ms  max/GARP=%7.3f ms\n", what,
              rounds, Vips, t.totalMs / rounds, t.maxRoundMs, t.maxCallMs);
}

int run(int rounds) {
  NetnsPair lab("garpbench");
  if (!lab.ok) {
    std::fprintf(stderr, "carplb-garp-bench: cannot create network namespaces (need root)\n");
    return 1;
  }
  EnterNetns in(lab.a);
  const Timing fresh = measure(rounds, [&](Ipv4Address vip) { return announceFreshSocket(lab.ifA, vip); });
  Timing kept;
  double releaseMs = 0;
  {
    GarpSender garp;
    kept = measure(rounds, [&](Ipv4Address vip) { return garp.announce(lab.ifA, vip).ok(); });
    const auto start = std::chrono::steady_clock::now();
    garp.release(lab.ifA);  // the one close the kept socket still costs
    releaseMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
  print("socket per GARP (reference)", rounds, fresh);
  print("GarpSender", rounds, kept);
  std::printf("GarpSender::release (one close)    %7.3f ms\n", releaseMs);
  if (fresh.failures + kept.failures > 0) {
    std::fprintf(stderr, "carplb-garp-bench: %d GARPs failed\n", fresh.failures + kept.failures);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace carplb::agent::io

int main(int argc, char** argv) {
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc && std::atoi(argv[i + 1]) > 0) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: carplb-garp-bench [--rounds N]\n");
      return 2;
    }
  }
  return carplb::agent::io::run(rounds);
}
