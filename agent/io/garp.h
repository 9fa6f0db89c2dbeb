#pragma once
// Gratuitous ARP over AF_PACKET: an ARP request with sender = target = VIP, sender MAC =
// the interface's own MAC, to the Ethernet broadcast address (what ucarp, kube-vip and
// MetalLB send; the kernel virtual MAC is deliberately not used, see carp-protocol.md §5).
#include <array>
#include <cstdint>
#include <string>

#include "agent/io/transport.h"

namespace carplb::agent::io {

using MacAddress = std::array<uint8_t, 6>;

// The 42-byte Ethernet + ARP frame (pure; tests compare it with captured frames).
std::array<uint8_t, 42> buildGratuitousArp(const MacAddress& mac, carp::Ipv4Address vip);

class GarpSender final : public ArpAnnouncer {
public:
  // Opens a fresh AF_PACKET socket per call (GARP is rare; no state to go stale when an
  // interface is re-created).
  Status announce(const std::string& ifname, carp::Ipv4Address vip) override;
};

}  // namespace carplb::agent::io
