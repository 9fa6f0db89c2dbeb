// e2e (root + network namespaces): GarpSender keeps one send-only AF_PACKET socket per
// interface, rebinds it when the interface is re-created, and releases it on request.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <sstream>
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
using testing::sh;

Ipv4Address ip(const char* s) { return *Ipv4Address::parse(s); }

// Packet sockets of the calling thread's namespace: (protocol, bound interface index).
std::vector<std::pair<unsigned, int>> packetSockets() {
  std::ifstream in("/proc/thread-self/net/packet");
  std::vector<std::pair<unsigned, int>> out;
  std::string line;
  std::getline(in, line);  // header: sk RefCnt Type Proto Iface R Rmem User Inode
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sk, ref, type, proto;
    int iface = 0;
    if (f >> sk >> ref >> type >> proto >> iface) out.emplace_back(std::stoul(proto, nullptr, 16), iface);
  }
  return out;
}

// Gratuitous ARPs for `vip` seen on the peer's end of the veth within ~2 s.
class ArpCapture {
public:
  ArpCapture(const std::string& ns, const std::string& ifname) {
    EnterNetns in(ns);
    fd_ = UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP)));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
    ok_ = fd_ && ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) == 0;
  }
  bool ok() const { return ok_; }
  int count(Ipv4Address vip, int want) {
    int seen = 0;
    const auto bytes = vip.toBytes();
    while (seen < want) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) break;
      std::array<uint8_t, 128> buf{};
      const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n >= 42 && std::equal(bytes.begin(), bytes.end(), buf.begin() + 28) &&
          std::equal(bytes.begin(), bytes.end(), buf.begin() + 38)) {
        ++seen;
      }
    }
    return seen;
  }

private:
  UniqueFd fd_;
  bool ok_ = false;
};

class GarpSocket : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_TRUE(lab.ok) << "cannot create network namespaces (need root)"; }
  NetnsPair lab{"garp"};
};

TEST_F(GarpSocket, OneSendOnlySocketPerInterfaceServesEveryGarp) {
  ArpCapture peer(lab.b, lab.ifB);
  ASSERT_TRUE(peer.ok());
  EnterNetns in(lab.a);
  const auto before = packetSockets().size();
  GarpSender garp;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(garp.announce(lab.ifA, ip("192.0.2.100")).ok());
  EXPECT_EQ(peer.count(ip("192.0.2.100"), 3), 3) << "every announce reaches the wire";
  EXPECT_EQ(garp.openSockets(), 1u);
  const int index = static_cast<int>(::if_nametoindex(lab.ifA.c_str()));
  EXPECT_EQ(garp.boundIndex(lab.ifA), index);
  auto sockets = packetSockets();
  ASSERT_EQ(sockets.size(), before + 1) << "one socket kept, not one per GARP";
  EXPECT_EQ(sockets.back(), std::make_pair(0u, index)) << "protocol 0 (receives nothing), bound to the interface";

  garp.release(lab.ifA);
  EXPECT_EQ(garp.openSockets(), 0u);
  EXPECT_FALSE(garp.boundIndex(lab.ifA).has_value());
  EXPECT_EQ(packetSockets().size(), before);
  garp.release(lab.ifA);  // no-op
  ASSERT_TRUE(garp.announce(lab.ifA, ip("192.0.2.101")).ok()) << "a released interface opens again";
  EXPECT_EQ(peer.count(ip("192.0.2.101"), 1), 1);
  EXPECT_EQ(garp.openSockets(), 1u);
}

TEST_F(GarpSocket, ReCreatedInterfaceRebindsToItsNewIndex) {
  EnterNetns in(lab.a);
  // A second veth pair inside namespace a (removed with the namespace, also on failure).
  const std::string extra = "carplb-" + std::to_string(::getpid()).substr(0, 7) + "d";
  const std::string create = "ip link add " + extra + " type veth peer name carplb-" +
                             std::to_string(::getpid()).substr(0, 7) + "e && ip link set " + extra + " up";
  ASSERT_EQ(sh(create), 0);
  GarpSender garp;
  ASSERT_TRUE(garp.announce(extra, ip("198.51.100.7")).ok());
  const int first = static_cast<int>(::if_nametoindex(extra.c_str()));
  EXPECT_EQ(garp.boundIndex(extra), first);

  ASSERT_EQ(sh("ip link del " + extra), 0);
  auto gone = garp.announce(extra, ip("198.51.100.7"));
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message.find(extra), std::string::npos) << gone.error().message;
  EXPECT_NE(gone.error().message.find("198.51.100.7"), std::string::npos) << gone.error().message;
  EXPECT_FALSE(garp.boundIndex(extra).has_value());

  ASSERT_EQ(sh(create), 0);
  const int second = static_cast<int>(::if_nametoindex(extra.c_str()));
  ASSERT_NE(first, second);
  ASSERT_TRUE(garp.announce(extra, ip("198.51.100.7")).ok());
  EXPECT_EQ(garp.boundIndex(extra), second);
  EXPECT_EQ(garp.openSockets(), 1u);
  sh("ip link del " + extra);
}

TEST_F(GarpSocket, NonEthernetAndBadNamesAreErrorsThatNameTheInterface) {
  EnterNetns in(lab.a);
  GarpSender garp;
  auto lo = garp.announce("lo", ip("192.0.2.100"));
  ASSERT_FALSE(lo.ok());
  EXPECT_NE(lo.error().message.find("lo: not an Ethernet interface"), std::string::npos) << lo.error().message;
  auto longName = garp.announce("carplb-name-too-long-x", ip("192.0.2.100"));
  ASSERT_FALSE(longName.ok());
  EXPECT_NE(longName.error().message.find("carplb-name-too-long-x"), std::string::npos);
  EXPECT_FALSE(garp.announce("", ip("192.0.2.100")).ok());
}

}  // namespace
}  // namespace carplb::agent::io
