#pragma once
// AddressTable: the VIPs on the node's interfaces (interface, contract; pure header).
//
// Contract for implementations (NetlinkAddressTable, tests/fakes/fake_address_table.h):
//  - add(): the VIP becomes an IPv4 /32 secondary address on `ifname` with no prefix route
//    (IFA_F_NOPREFIXROUTE) and is marked as ours. Adding an address that is already ours is
//    a success (idempotent).
//  - remove(): removes the VIP only if it is ours; an address that is absent is a success,
//    one that exists but is not ours (an admin's /24, another daemon's) is left alone and
//    reported as NotOurs.
//  - list(): every IPv4 address on `ifname`, with the "ours" mark, so the runtime can
//    reconcile observed vs desired (startup cleanup, VIP deleted by hand).
// "Ours" is the kernel's IFA_PROTO attribute set to AddressProtocol (112, the CARP protocol
// number): it survives an agent crash and shows in `ip -d addr` as "proto 0x70".
#include <cstdint>
#include <string>
#include <vector>

#include "agent/carp/types.h"
#include "common/result.h"

namespace carplb::agent::io {

inline constexpr uint8_t AddressProtocol = 112;

struct InterfaceAddress {
  carp::Ipv4Address address;
  int prefixLength = 32;
  bool ours = false;  // carries our IFA_PROTO mark
  friend bool operator==(const InterfaceAddress&, const InterfaceAddress&) = default;
};

enum class RemoveOutcome { Removed, Absent, NotOurs };

class AddressTable {
public:
  virtual ~AddressTable() = default;
  virtual Status add(const std::string& ifname, carp::Ipv4Address vip) = 0;
  virtual Result<RemoveOutcome> remove(const std::string& ifname, carp::Ipv4Address vip) = 0;
  virtual Result<std::vector<InterfaceAddress>> list(const std::string& ifname) = 0;
};

}  // namespace carplb::agent::io
