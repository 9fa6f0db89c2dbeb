#include "agent/io/carp_socket.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace carplb::agent::io {
namespace {

Error sysError(const std::string& ifname, const std::string& what) {
  return makeError(ifname + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

std::array<uint8_t, 56> buildCarpIpv4Packet(carp::Ipv4Address source, const carp::CarpHeaderBytes& header,
                                            uint16_t id) {
  std::array<uint8_t, 56> p{};
  p[0] = 0x45;
  p[1] = carp::CarpTos;
  p[2] = 0;
  p[3] = 56;
  p[4] = static_cast<uint8_t>(id >> 8);
  p[5] = static_cast<uint8_t>(id);
  p[6] = 0x40;  // DF
  p[7] = 0;
  p[8] = carp::CarpTtl;
  p[9] = carp::CarpProtocol;
  auto src = source.toBytes();
  auto dst = carp::CarpGroupV4.toBytes();
  std::copy(src.begin(), src.end(), p.begin() + 12);
  std::copy(dst.begin(), dst.end(), p.begin() + 16);
  uint16_t sum = carp::internetChecksum(std::span<const uint8_t>(p.data(), 20));
  p[10] = static_cast<uint8_t>(sum >> 8);
  p[11] = static_cast<uint8_t>(sum);
  std::copy(header.begin(), header.end(), p.begin() + 20);
  return p;
}

CarpSocketPool::CarpSocketPool(EventLoop& loop, PacketHandler handler, Logger log)
    : loop_(loop), handler_(std::move(handler)), log_(std::move(log)) {}

CarpSocketPool::~CarpSocketPool() {
  for (auto& [name, s] : sockets_) loop_.removeFd(s.fd.get());
}

Result<CarpSocketPool::Socket> CarpSocketPool::openSocket(const std::string& ifname) {
  Socket s;
  s.ifindex = ::if_nametoindex(ifname.c_str());
  if (s.ifindex == 0) return sysError(ifname, "no such interface");
  s.fd.reset(::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, carp::CarpProtocol));
  if (!s.fd) return sysError(ifname, "socket(AF_INET, SOCK_RAW, 112)");
  int fd = s.fd.get();
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), static_cast<socklen_t>(ifname.size())) != 0) {
    return sysError(ifname, "SO_BINDTODEVICE");
  }
  ip_mreqn mreq{};
  mreq.imr_multiaddr.s_addr = htonl(carp::CarpGroupV4.value());
  mreq.imr_ifindex = static_cast<int>(s.ifindex);
  if (::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) {
    return sysError(ifname, "IP_ADD_MEMBERSHIP 224.0.0.18");
  }
  ip_mreqn mif{};
  mif.imr_ifindex = static_cast<int>(s.ifindex);
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) != 0) return sysError(ifname, "IP_MULTICAST_IF");
  int ttl = carp::CarpTtl;
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0) return sysError(ifname, "IP_MULTICAST_TTL");
  int off = 0;
  if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off) != 0) return sysError(ifname, "IP_MULTICAST_LOOP");
  int on = 1;
  if (::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) return sysError(ifname, "IP_PKTINFO");
  if (::setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &on, sizeof on) != 0) return sysError(ifname, "IP_HDRINCL");
  return s;
}

Status CarpSocketPool::openInterface(const std::string& ifname) {
  wanted_[ifname] = true;
  if (sockets_.count(ifname)) return okStatus();
  auto s = openSocket(ifname);
  if (!s) return s.error();
  int fd = s->fd.get();
  auto st = loop_.addFd(fd, [this, ifname] { readable(ifname); });
  if (!st) return st;
  log_.info("CARP socket open", {{"interface", ifname}, {"ifindex", s->ifindex}});
  sockets_.emplace(ifname, std::move(*s));
  return okStatus();
}

void CarpSocketPool::closeInterface(const std::string& ifname) {
  wanted_.erase(ifname);
  auto it = sockets_.find(ifname);
  if (it == sockets_.end()) return;
  loop_.removeFd(it->second.fd.get());
  sockets_.erase(it);
  log_.info("CARP socket closed", {{"interface", ifname}});
}

bool CarpSocketPool::isOpen(const std::string& ifname) const { return sockets_.count(ifname) > 0; }

void CarpSocketPool::refresh() {
  for (const auto& [ifname, _] : wanted_) {
    auto it = sockets_.find(ifname);
    unsigned idx = ::if_nametoindex(ifname.c_str());
    if (it != sockets_.end() && it->second.ifindex == idx) continue;
    if (it != sockets_.end()) {  // interface re-created with another index
      loop_.removeFd(it->second.fd.get());
      sockets_.erase(it);
    }
    if (idx == 0) continue;
    auto st = openInterface(ifname);
    if (!st) log_.warn("CARP socket still not open", {{"interface", ifname}, {"error", st.error().message}});
  }
}

Status CarpSocketPool::send(const std::string& ifname, carp::Ipv4Address source, const carp::CarpHeaderBytes& header) {
  auto it = sockets_.find(ifname);
  if (it == sockets_.end()) return makeError(ifname + ": no CARP socket (interface missing?)");
  auto pkt = buildCarpIpv4Packet(source, header, ipId_++);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = htonl(carp::CarpGroupV4.value());
  ssize_t n = ::sendto(it->second.fd.get(), pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
  if (n != static_cast<ssize_t>(pkt.size())) return sysError(ifname, "sendto 224.0.0.18");
  return okStatus();
}

void CarpSocketPool::readable(const std::string& ifname) {
  auto it = sockets_.find(ifname);
  if (it == sockets_.end()) return;
  int fd = it->second.fd.get();
  unsigned ifindex = it->second.ifindex;
  for (int i = 0; i < 64; ++i) {  // bounded batch; the loop comes back if more is queued
    uint8_t buf[2048];
    alignas(cmsghdr) char control[256];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        log_.warn("CARP socket receive failed", {{"interface", ifname}, {"error", std::strerror(errno)}});
      }
      return;
    }
    bool otherInterface = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        otherInterface = info.ipi_ifindex != static_cast<int>(ifindex);
      }
    }
    if (otherInterface) continue;
    size_t len = static_cast<size_t>(n);
    if (msg.msg_flags & MSG_TRUNC) len = sizeof buf;
    handler_(ifname, std::span<const uint8_t>(buf, len));
    // The handler may have closed this socket.
    if (!sockets_.count(ifname)) return;
  }
}

}  // namespace carplb::agent::io
