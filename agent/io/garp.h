#pragma once
// Gratuitous ARP over AF_PACKET: an ARP request with sender = target = VIP, sender MAC =
// the interface's own MAC, to the Ethernet broadcast address (what ucarp, kube-vip and
// MetalLB send; the kernel virtual MAC is deliberately not used, see carp-protocol.md §5).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "agent/io/transport.h"
#include "common/unique_fd.h"

namespace carplb::agent::io {

using MacAddress = std::array<uint8_t, 6>;

// The 42-byte Ethernet + ARP frame (pure; tests compare it with captured frames).
std::array<uint8_t, 42> buildGratuitousArp(const MacAddress& mac, carp::Ipv4Address vip);

// Keeps one AF_PACKET socket per interface, opened by the first GARP on it. Closing an
// AF_PACKET socket waits for an RCU grace period in the kernel (packet_release ->
// synchronize_net): ~13 ms, up to ~36 ms, of blocked event loop per GARP when every GARP
// opened and closed its own socket (docs/benchmarks/carp.md "Gratuitous ARP").
//
// The socket has protocol 0 (it never receives: no frame is queued on it however long it
// stays open) and is bound to the interface's index. Every announce() looks the index and MAC
// up again (two ioctls, microseconds): a changed index (the interface was re-created) reopens
// the socket, a vanished interface closes it, and a send failing with ENXIO/ENODEV is retried
// once on a fresh socket. Sockets close in release() and in the destructor. One thread only.
class GarpSender final : public ArpAnnouncer {
public:
  Status announce(const std::string& ifname, carp::Ipv4Address vip) override;
  // Closes the socket of `ifname` (no vhid left there). No-op when none is open.
  void release(const std::string& ifname);
  // The interface index the socket of `ifname` is bound to (nullopt: no socket open).
  std::optional<int> boundIndex(const std::string& ifname) const;
  size_t openSockets() const { return sockets_.size(); }

private:
  struct Socket {
    UniqueFd fd;
    int ifindex = 0;
  };
  // The socket for `ifname` bound to `ifindex`, (re)opened as needed.
  Result<Socket*> socketFor(const std::string& ifname, int ifindex, carp::Ipv4Address vip);
  std::map<std::string, Socket> sockets_;
};

}  // namespace carplb::agent::io
