#include "tests/e2e/cluster/arp_capture.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace carplb::e2e::cluster {

namespace {

std::string ipText(const uint8_t* p) {
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, p, buf, sizeof buf);
  return buf;
}

std::string macText(const uint8_t* p) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", p[0], p[1], p[2], p[3], p[4], p[5]);
  return buf;
}

}  // namespace

std::optional<ArpPacket> parseArpFrame(const uint8_t* data, size_t size, WallTime at) {
  // Ethernet header (14) + ARP for IPv4 over Ethernet (28).
  if (size < 14 + 28) {
    return std::nullopt;
  }
  if (data[12] != 0x08 || data[13] != 0x06) {
    return std::nullopt;
  }
  const uint8_t* arp = data + 14;
  const bool ethIpv4 = arp[0] == 0x00 && arp[1] == 0x01 && arp[2] == 0x08 && arp[3] == 0x00 && arp[4] == 6 && arp[5] == 4;
  if (!ethIpv4) {
    return std::nullopt;
  }
  ArpPacket p;
  p.at = at;
  p.op = (arp[6] << 8) | arp[7];
  p.senderMac = macText(arp + 8);
  p.senderIp = ipText(arp + 14);
  p.targetIp = ipText(arp + 24);
  return p;
}

ArpCapture::ArpCapture(Key /*key*/, UniqueFd sock, UniqueFd stop) : sock_(std::move(sock)), stop_(std::move(stop)) {
  thread_ = std::thread([this] { run(); });
}

Result<std::unique_ptr<ArpCapture>> ArpCapture::start(const Host& host) {
  const std::string what = "ARP capture on " + host.name + " " + host.ifname;
  auto sock = host.ns.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (!sock) {
    return makeError(what + ": " + sock.error().message);
  }
  // The ioctl runs in the socket's namespace, so the index is the one inside host.ns.
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", host.ifname.c_str());
  if (::ioctl(sock->get(), SIOCGIFINDEX, &ifr) != 0) {
    return makeError(what + ": SIOCGIFINDEX: " + std::strerror(errno));
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ARP);
  sll.sll_ifindex = ifr.ifr_ifindex;
  if (::bind(sock->get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    return makeError(what + ": bind: " + std::strerror(errno));
  }
  int on = 1;
  if (::setsockopt(sock->get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) {
    return makeError(what + ": SO_TIMESTAMPNS: " + std::strerror(errno));
  }
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) {
    return makeError(what + ": eventfd: " + std::strerror(errno));
  }
  return std::make_unique<ArpCapture>(Key{}, std::move(*sock), std::move(stop));
}

ArpCapture::~ArpCapture() {
  uint64_t one = 1;
  ssize_t n = ::write(stop_.get(), &one, sizeof one);
  (void)n;
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ArpCapture::run() {
  uint8_t frame[2048];
  alignas(cmsghdr) char control[256];
  for (;;) {
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    for (;;) {
      iovec iov{frame, sizeof frame};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(sock_.get(), &msg, 0);
      if (n < 0) {
        break;  // EAGAIN: drained
      }
      WallTime at = std::chrono::system_clock::now();
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          at = WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                       std::chrono::nanoseconds(ts.tv_nsec)));
        }
      }
      if (auto p = parseArpFrame(frame, static_cast<size_t>(n), at)) {
        std::lock_guard<std::mutex> l(mu_);
        packets_.push_back(std::move(*p));
      }
    }
  }
}

std::vector<ArpPacket> ArpCapture::packets() const {
  std::lock_guard<std::mutex> l(mu_);
  return packets_;
}

std::optional<ArpPacket> ArpCapture::firstGratuitous(const std::string& vip, WallTime after) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& p : packets_) {
    if (p.at >= after && p.gratuitous() && p.senderIp == vip) {
      return p;
    }
  }
  return std::nullopt;
}

}  // namespace carplb::e2e::cluster
