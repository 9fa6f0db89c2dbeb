#include "agent/io/garp.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace carplb::agent::io {

std::array<uint8_t, 42> buildGratuitousArp(const MacAddress& mac, carp::Ipv4Address vip) {
  std::array<uint8_t, 42> f{};
  for (int i = 0; i < 6; ++i) f[static_cast<size_t>(i)] = 0xff;  // broadcast
  std::copy(mac.begin(), mac.end(), f.begin() + 6);
  f[12] = 0x08;  // ETH_P_ARP
  f[13] = 0x06;
  f[14] = 0x00;  // htype Ethernet
  f[15] = 0x01;
  f[16] = 0x08;  // ptype IPv4
  f[17] = 0x00;
  f[18] = 6;
  f[19] = 4;
  f[20] = 0x00;  // oper request
  f[21] = 0x01;
  auto ip = vip.toBytes();
  std::copy(mac.begin(), mac.end(), f.begin() + 22);  // sender MAC
  std::copy(ip.begin(), ip.end(), f.begin() + 28);    // sender IP
  // target MAC 00:00:00:00:00:00 (bytes 32..37), target IP = VIP
  std::copy(ip.begin(), ip.end(), f.begin() + 38);
  return f;
}

Status GarpSender::announce(const std::string& ifname, carp::Ipv4Address vip) {
  auto fail = [&](const char* what) {
    return makeError("gratuitous ARP for " + vip.toString() + " on " + ifname + ": " + what + ": " +
                     std::strerror(errno));
  };
  if (ifname.size() >= IFNAMSIZ) return makeError("gratuitous ARP: interface name too long: " + ifname);
  UniqueFd s(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP)));
  if (!s) return fail("socket(AF_PACKET)");
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.c_str(), ifname.size());
  if (::ioctl(s.get(), SIOCGIFINDEX, &req) != 0) return fail("SIOCGIFINDEX");
  int ifindex = req.ifr_ifindex;
  if (::ioctl(s.get(), SIOCGIFHWADDR, &req) != 0) return fail("SIOCGIFHWADDR");
  if (req.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    return makeError("gratuitous ARP on " + ifname + ": not an Ethernet interface");
  }
  MacAddress mac;
  std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, 6);
  auto frame = buildGratuitousArp(mac, vip);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = ifindex;
  to.sll_halen = 6;
  std::memset(to.sll_addr, 0xff, 6);
  ssize_t n = ::sendto(s.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  if (n != static_cast<ssize_t>(frame.size())) return fail("sendto");
  return okStatus();
}

}  // namespace carplb::agent::io
