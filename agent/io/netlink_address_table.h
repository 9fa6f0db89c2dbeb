#pragma once
// NetlinkAddressTable: AddressTable over rtnetlink (libnl-3 core + route headers).
// add: RTM_NEWADDR AF_INET /32, IFA_LOCAL = IFA_ADDRESS = vip, IFA_FLAGS = NOPREFIXROUTE,
// IFA_PROTO = 112 (our mark; `ip -d addr` shows "proto 0x70"). remove: only /32 entries
// carrying IFA_PROTO 112. list: RTM_GETADDR dump filtered by ifindex.
// Synchronous (blocking request + ACK); used on the loop thread.
#include "agent/io/address_table.h"
#include "agent/io/netlink.h"

namespace carplb::agent::io {

class NetlinkAddressTable final : public AddressTable {
public:
  static Result<std::unique_ptr<NetlinkAddressTable>> create();
  struct Key {
    explicit Key() = default;
  };
  NetlinkAddressTable(Key, NlSock sock) : sock_(std::move(sock)) {}

  Status add(const std::string& ifname, carp::Ipv4Address vip) override;
  Result<RemoveOutcome> remove(const std::string& ifname, carp::Ipv4Address vip) override;
  Result<std::vector<InterfaceAddress>> list(const std::string& ifname) override;

private:
  Status request(int type, int flags, unsigned ifindex, carp::Ipv4Address vip, bool mark, const std::string& what);
  NlSock sock_;
};

}  // namespace carplb::agent::io
