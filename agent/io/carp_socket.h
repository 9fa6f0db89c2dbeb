#pragma once
// CarpSocketPool: one raw IPPROTO 112 socket per interface, shared by that interface's vhids.
// Per socket: SO_BINDTODEVICE, IP_ADD_MEMBERSHIP 224.0.0.18 on the interface,
// IP_MULTICAST_IF, IP_MULTICAST_TTL 255, IP_MULTICAST_LOOP off (own packets never come back),
// IP_PKTINFO (received packets from another ifindex are ignored), IP_HDRINCL (we write the
// IPv4 header: TTL 255, TOS 0x10, DF, source = the vhid's srcip, as ucarp and OpenBSD do).
// Received full IPv4 packets go to the handler; the runtime decodes them.
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>

#include "agent/io/event_loop.h"
#include "agent/io/transport.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace carplb::agent::io {

class CarpSocketPool final : public CarpTransport {
public:
  using PacketHandler = std::function<void(const std::string& ifname, std::span<const uint8_t> packet)>;

  CarpSocketPool(EventLoop& loop, PacketHandler handler, Logger log);
  ~CarpSocketPool() override;

  Status openInterface(const std::string& ifname) override;
  void closeInterface(const std::string& ifname) override;
  Status send(const std::string& ifname, carp::Ipv4Address source, const carp::CarpHeaderBytes& header) override;

  // Re-tries interfaces whose socket could not be opened (they did not exist yet) or whose
  // ifindex changed (deleted and re-created). Call on link events.
  void refresh();
  bool isOpen(const std::string& ifname) const;

private:
  struct Socket {
    UniqueFd fd;
    unsigned ifindex = 0;
  };
  Result<Socket> openSocket(const std::string& ifname);
  void readable(const std::string& ifname);

  EventLoop& loop_;
  PacketHandler handler_;
  Logger log_;
  std::map<std::string, Socket> sockets_;  // ifname -> open socket
  std::map<std::string, bool> wanted_;     // ifname -> wanted (value unused)
  uint16_t ipId_ = 1;
};

// The 56-byte IPv4 packet we send (also used by tests): 0x45, TOS 0x10, length 56, `id`,
// DF, TTL 255, protocol 112, checksum, source, 224.0.0.18, CARP header.
std::array<uint8_t, 56> buildCarpIpv4Packet(carp::Ipv4Address source, const carp::CarpHeaderBytes& header, uint16_t id);

}  // namespace carplb::agent::io
