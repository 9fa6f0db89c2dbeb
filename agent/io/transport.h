#pragma once
// Packet-side interfaces the runtime drives (pure headers; real implementations are
// CarpSocketPool (carp_socket.h) and GarpSender (garp.h), fakes in tests/fakes/).
#include <string>

#include "agent/carp/advert.h"
#include "agent/carp/types.h"
#include "common/result.h"

namespace carplb::agent::io {

// Sends CARP adverts. One raw proto-112 socket per interface, shared by its vhids.
// The shell delivers received packets to Agent::packetReceived().
class CarpTransport {
public:
  virtual ~CarpTransport() = default;
  // Open (or keep) the socket for `ifname`. Called when a vhid on it is added.
  virtual Status openInterface(const std::string& ifname) = 0;
  // The last vhid on `ifname` went away.
  virtual void closeInterface(const std::string& ifname) = 0;
  // One advert to 224.0.0.18 from `source`, TTL 255.
  virtual Status send(const std::string& ifname, carp::Ipv4Address source, const carp::CarpHeaderBytes& header) = 0;
};

// Gratuitous ARP: ARP request, sender = target = vip, our MAC, Ethernet broadcast.
class ArpAnnouncer {
public:
  virtual ~ArpAnnouncer() = default;
  virtual Status announce(const std::string& ifname, carp::Ipv4Address vip) = 0;
};

}  // namespace carplb::agent::io
