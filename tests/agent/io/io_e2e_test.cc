// e2e (root + network namespaces): netlink address table, link watcher, GARP, CARP sockets.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>

#include "agent/carp/advert.h"
#include "agent/io/carp_socket.h"
#include "agent/io/event_loop.h"
#include "agent/io/garp.h"
#include "agent/io/link_watcher.h"
#include "agent/io/netlink_address_table.h"
#include "agent/io/netns_lab.h"

namespace carplb::agent::io {
namespace {

using carp::Ipv4Address;
using testing::EnterNetns;
using testing::NetnsPair;
using testing::sh;

Ipv4Address ip(const char* s) { return *Ipv4Address::parse(s); }

std::string capture(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  if (!p) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p.get())) out += buf;
  return out;
}

class IoE2e : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_TRUE(lab.ok) << "cannot create network namespaces (need root)"; }
  NetnsPair lab{"io"};
};

TEST_F(IoE2e, AddressTableAddsSlash32WithoutPrefixRouteAndRemovesOnlyItsOwn) {
  EnterNetns in(lab.a);
  auto table = NetlinkAddressTable::create();
  ASSERT_TRUE(table.ok()) << table.error().message;
  auto& t = **table;
  ASSERT_TRUE(t.add(lab.ifA, ip("192.0.2.100")).ok());
  ASSERT_TRUE(t.add(lab.ifA, ip("192.0.2.100")).ok()) << "add is idempotent";

  std::string shown = capture("ip -d -4 addr show dev " + lab.ifA);
  EXPECT_NE(shown.find("inet 192.0.2.100/32"), std::string::npos) << shown;
  EXPECT_NE(shown.find("noprefixroute"), std::string::npos) << shown;
  std::string routes = capture("ip -4 route show table main");
  EXPECT_EQ(routes.find("192.0.2.100"), std::string::npos) << routes;

  auto listed = t.list(lab.ifA);
  ASSERT_TRUE(listed.ok());
  bool sawVip = false, sawNode = false;
  for (const auto& a : *listed) {
    if (a.address == ip("192.0.2.100")) {
      sawVip = true;
      EXPECT_TRUE(a.ours);
      EXPECT_EQ(a.prefixLength, 32);
    }
    if (a.address == ip("192.0.2.1")) {
      sawNode = true;
      EXPECT_FALSE(a.ours);
      EXPECT_EQ(a.prefixLength, 24);
    }
  }
  EXPECT_TRUE(sawVip);
  EXPECT_TRUE(sawNode);

  // An address somebody else added is never removed.
  ASSERT_EQ(sh("ip addr add 192.0.2.101/32 dev " + lab.ifA), 0);
  auto r = t.remove(lab.ifA, ip("192.0.2.101"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, RemoveOutcome::NotOurs);
  EXPECT_NE(capture("ip -4 addr show dev " + lab.ifA).find("192.0.2.101/32"), std::string::npos);
  r = t.remove(lab.ifA, ip("192.0.2.1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, RemoveOutcome::NotOurs);

  r = t.remove(lab.ifA, ip("192.0.2.100"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, RemoveOutcome::Removed);
  EXPECT_EQ(capture("ip -4 addr show dev " + lab.ifA).find("192.0.2.100"), std::string::npos);
  r = t.remove(lab.ifA, ip("192.0.2.100"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, RemoveOutcome::Absent);

  auto bad = t.add("carplb-nonexist", ip("192.0.2.100"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("carplb-nonexist"), std::string::npos);
}

TEST_F(IoE2e, LinkWatcherSeesCarrierLossAtOnce) {
  EnterNetns in(lab.a);
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  auto& l = **loop;
  bool sawDown = false;
  auto watcher = LinkWatcher::create(
      l,
      [&](const std::string& ifname) {
        if (ifname == lab.ifA && !queryLinkFlags(lab.ifA).up) {
          sawDown = true;
          l.stop();
        }
      },
      Logger("test", LogLevel::Error));
  ASSERT_TRUE(watcher.ok()) << watcher.error().message;
  EXPECT_TRUE(queryLinkFlags(lab.ifA).up);
  EXPECT_FALSE(queryLinkFlags("carplb-nonexist").exists);
  // Take the peer down (in the other namespace): our carrier drops.
  l.post([&] { sh("ip -n " + lab.b + " link set " + lab.ifB + " down"); });
  l.addTimer(l.clock().now() + std::chrono::seconds(5), [&] { l.stop(); });  // safety net only
  ASSERT_TRUE(l.run().ok());
  EXPECT_TRUE(sawDown);
  auto flags = queryLinkFlags(lab.ifA);
  EXPECT_TRUE(flags.exists);
  EXPECT_FALSE(flags.up);
}

TEST_F(IoE2e, GratuitousArpReachesThePeer) {
  UniqueFd rx;
  {
    EnterNetns in(lab.b);
    rx.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP)));
    ASSERT_TRUE(rx.valid());
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = static_cast<int>(::if_nametoindex(lab.ifB.c_str()));
    ASSERT_EQ(::bind(rx.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0);
  }
  EnterNetns in(lab.a);
  std::string linkText = capture("ip link show dev " + lab.ifA);
  auto pos = linkText.find("link/ether ");
  ASSERT_NE(pos, std::string::npos) << linkText;
  std::string macText = linkText.substr(pos + 11, 17);
  MacAddress mac{};
  ASSERT_EQ(std::sscanf(macText.c_str(), "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
                        &mac[4], &mac[5]),
            6);
  GarpSender garp;
  ASSERT_TRUE(garp.announce(lab.ifA, ip("192.0.2.100")).ok());
  auto want = buildGratuitousArp(mac, ip("192.0.2.100"));
  bool found = false;
  for (int i = 0; i < 10 && !found; ++i) {
    pollfd p{rx.get(), POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    std::array<uint8_t, 128> buf{};
    ssize_t n = ::recv(rx.get(), buf.data(), buf.size(), 0);
    if (n >= 42 && std::equal(want.begin(), want.end(), buf.begin())) found = true;
  }
  EXPECT_TRUE(found) << "no matching gratuitous ARP captured on the peer";
  EXPECT_FALSE(garp.announce("carplb-nonexist", ip("192.0.2.100")).ok());
}

TEST_F(IoE2e, CarpSocketsExchangeAdverts) {
  std::vector<std::vector<uint8_t>> received;
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  auto& l = **loop;
  std::unique_ptr<CarpSocketPool> rxPool;
  {
    EnterNetns in(lab.b);
    rxPool = std::make_unique<CarpSocketPool>(
        l,
        [&](const std::string& ifname, std::span<const uint8_t> pkt) {
          EXPECT_EQ(ifname, lab.ifB);
          received.emplace_back(pkt.begin(), pkt.end());
          l.stop();
        },
        Logger("test", LogLevel::Error));
    ASSERT_TRUE(rxPool->openInterface(lab.ifB).ok());
  }
  EnterNetns in(lab.a);
  CarpSocketPool txPool(l, [](const std::string&, std::span<const uint8_t>) {}, Logger("test", LogLevel::Error));
  ASSERT_TRUE(txPool.openInterface(lab.ifA).ok());
  EXPECT_FALSE(txPool.openInterface("carplb-nonexist").ok());
  carp::Advert a;
  a.vhid = 42;
  a.advbase = 1;
  a.advskew = 7;
  a.counter = 12345;
  ASSERT_TRUE(txPool.send(lab.ifA, ip("192.0.2.1"), carp::encodeAdvert(a)).ok());
  l.addTimer(l.clock().now() + std::chrono::seconds(5), [&] { l.stop(); });  // safety net only
  ASSERT_TRUE(l.run().ok());
  ASSERT_EQ(received.size(), 1u);
  auto decoded = carp::decodeAdvert(received[0]);
  ASSERT_TRUE(decoded.ok()) << carp::toString(decoded.drop());
  EXPECT_EQ(decoded->advert, a);
  EXPECT_EQ(carp::toString(decoded->source), "192.0.2.1");
  EXPECT_EQ(received[0][8], 255) << "TTL";
}

}  // namespace
}  // namespace carplb::agent::io
