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

namespace {

Error sysError(const std::string& ifname, carp::Ipv4Address vip, const char* what, int err) {
  return makeError("gratuitous ARP for " + vip.toString() + " on " + ifname + ": " + what + ": " + std::strerror(err));
}

// Protocol 0: the socket only sends; the kernel queues no received frame on it.
UniqueFd openPacketSocket() { return UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)); }

}  // namespace

Result<GarpSender::Socket*> GarpSender::socketFor(const std::string& ifname, int ifindex, carp::Ipv4Address vip) {
  Socket& s = sockets_.at(ifname);
  if (s.ifindex == ifindex) return &s;
  // First use, or the interface was re-created under a new index: (re)bind. With protocol 0
  // nothing is hooked into the receive path, so rebinding does not wait for the kernel.
  sockaddr_ll at{};
  at.sll_family = AF_PACKET;
  at.sll_protocol = 0;
  at.sll_ifindex = ifindex;
  if (::bind(s.fd.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
    const int err = errno;
    s.ifindex = 0;
    return sysError(ifname, vip, "bind(AF_PACKET)", err);
  }
  s.ifindex = ifindex;
  return &s;
}

Status GarpSender::announce(const std::string& ifname, carp::Ipv4Address vip) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return makeError("gratuitous ARP for " + vip.toString() + ": interface name empty or too long: " + ifname);
  }
  for (int attempt = 0;; ++attempt) {
    auto it = sockets_.find(ifname);
    if (it == sockets_.end()) {
      UniqueFd fd = openPacketSocket();
      if (!fd) return sysError(ifname, vip, "socket(AF_PACKET)", errno);
      it = sockets_.emplace(ifname, Socket{std::move(fd), 0}).first;
    }
    const int fd = it->second.fd.get();
    ifreq req{};
    std::memcpy(req.ifr_name, ifname.c_str(), ifname.size());
    if (::ioctl(fd, SIOCGIFINDEX, &req) != 0) {
      // Gone (or never there): the socket stays, unbound, for when the interface comes back.
      const int err = errno;
      it->second.ifindex = 0;
      return sysError(ifname, vip, "SIOCGIFINDEX", err);
    }
    auto sock = socketFor(ifname, req.ifr_ifindex, vip);
    if (!sock) return sock.error();
    const int ifindex = (*sock)->ifindex;
    if (::ioctl(fd, SIOCGIFHWADDR, &req) != 0) return sysError(ifname, vip, "SIOCGIFHWADDR", errno);
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
    const ssize_t n = ::sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    if (n == static_cast<ssize_t>(frame.size())) return okStatus();
    const int err = n < 0 ? errno : EMSGSIZE;
    if ((err == ENXIO || err == ENODEV) && attempt == 0) {
      sockets_.erase(it);  // the device went away under the socket: once more on a fresh one
      continue;
    }
    return sysError(ifname, vip, "sendto", err);
  }
}

void GarpSender::release(const std::string& ifname) { sockets_.erase(ifname); }

std::optional<int> GarpSender::boundIndex(const std::string& ifname) const {
  auto it = sockets_.find(ifname);
  if (it == sockets_.end() || it->second.ifindex == 0) return std::nullopt;
  return it->second.ifindex;
}

}  // namespace carplb::agent::io
