#include "agent/io/netlink_address_table.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <cerrno>
#include <cstring>

namespace carplb::agent::io {
namespace {

struct NlMsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using NlMsg = std::unique_ptr<nl_msg, NlMsgDeleter>;

Result<unsigned> ifindexOf(const std::string& ifname) {
  unsigned idx = ::if_nametoindex(ifname.c_str());
  if (idx == 0) return makeError(ifname + ": no such interface");
  return idx;
}

struct DumpState {
  unsigned ifindex = 0;
  std::vector<InterfaceAddress> out;
};

int onAddress(nl_msg* msg, void* arg) {
  auto* st = static_cast<DumpState*>(arg);
  nlmsghdr* hdr = nlmsg_hdr(msg);
  if (hdr->nlmsg_type != RTM_NEWADDR) return NL_OK;
  if (!nlmsg_valid_hdr(hdr, sizeof(ifaddrmsg))) return NL_OK;
  auto* ifa = static_cast<ifaddrmsg*>(nlmsg_data(hdr));
  if (ifa->ifa_family != AF_INET || ifa->ifa_index != st->ifindex) return NL_OK;
  nlattr* tb[IFA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(ifaddrmsg), tb, IFA_MAX, nullptr) < 0) return NL_OK;
  nlattr* local = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  if (!local || nla_len(local) != 4) return NL_OK;
  uint32_t be;
  std::memcpy(&be, nla_data(local), 4);
  InterfaceAddress a;
  a.address = carp::Ipv4Address(ntohl(be));
  a.prefixLength = ifa->ifa_prefixlen;
  a.ours = tb[IFA_PROTO] && nla_len(tb[IFA_PROTO]) >= 1 && nla_get_u8(tb[IFA_PROTO]) == AddressProtocol;
  st->out.push_back(a);
  return NL_OK;
}

}  // namespace

Result<std::unique_ptr<NetlinkAddressTable>> NetlinkAddressTable::create() {
  auto sock = connectRoute();
  if (!sock) return sock.error();
  return std::make_unique<NetlinkAddressTable>(Key{}, std::move(*sock));
}

Status NetlinkAddressTable::request(int type, int flags, unsigned ifindex, carp::Ipv4Address vip, bool mark,
                                    const std::string& what) {
  NlMsg msg(nlmsg_alloc_simple(type, flags | NLM_F_REQUEST | NLM_F_ACK));
  if (!msg) return makeError(what + ": out of memory");
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = 32;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = ifindex;
  uint32_t be = htonl(vip.value());
  if (nlmsg_append(msg.get(), &ifa, sizeof ifa, NLMSG_ALIGNTO) < 0 ||
      nla_put(msg.get(), IFA_LOCAL, 4, &be) < 0 || nla_put(msg.get(), IFA_ADDRESS, 4, &be) < 0) {
    return makeError(what + ": message too large");
  }
  if (mark) {
    if (nla_put_u32(msg.get(), IFA_FLAGS, IFA_F_NOPREFIXROUTE) < 0 ||
        nla_put_u8(msg.get(), IFA_PROTO, AddressProtocol) < 0) {
      return makeError(what + ": message too large");
    }
  }
  int err = nl_send_auto(sock_.get(), msg.get());
  if (err < 0) return makeError(what + ": " + nlError(err));
  err = nl_wait_for_ack(sock_.get());
  if (err < 0) return makeError(what + ": " + nlError(err));
  return okStatus();
}

Status NetlinkAddressTable::add(const std::string& ifname, carp::Ipv4Address vip) {
  auto idx = ifindexOf(ifname);
  if (!idx) return idx.error();
  std::string what = "add " + vip.toString() + "/32 on " + ifname;
  auto existing = list(ifname);
  if (existing) {
    for (const auto& a : *existing) {
      if (a.address == vip && a.ours) return okStatus();
    }
  }
  return request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, *idx, vip, true, what);
}

Result<RemoveOutcome> NetlinkAddressTable::remove(const std::string& ifname, carp::Ipv4Address vip) {
  auto idx = ifindexOf(ifname);
  if (!idx) return RemoveOutcome::Absent;  // interface gone: so is the address
  auto existing = list(ifname);
  if (!existing) return existing.error();
  bool foreign = false;
  for (const auto& a : *existing) {
    if (a.address != vip) continue;
    if (!a.ours || a.prefixLength != 32) {
      foreign = true;
      continue;
    }
    auto st = request(RTM_DELADDR, 0, *idx, vip, false, "remove " + vip.toString() + "/32 from " + ifname);
    if (!st) return st.error();
    return RemoveOutcome::Removed;
  }
  return foreign ? RemoveOutcome::NotOurs : RemoveOutcome::Absent;
}

Result<std::vector<InterfaceAddress>> NetlinkAddressTable::list(const std::string& ifname) {
  auto idx = ifindexOf(ifname);
  if (!idx) return idx.error();
  NlMsg msg(nlmsg_alloc_simple(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP));
  if (!msg) return makeError("list addresses on " + ifname + ": out of memory");
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  if (nlmsg_append(msg.get(), &ifa, sizeof ifa, NLMSG_ALIGNTO) < 0) return makeError("list: message too large");
  int err = nl_send_auto(sock_.get(), msg.get());
  if (err < 0) return makeError("list addresses on " + ifname + ": " + nlError(err));
  DumpState st;
  st.ifindex = *idx;
  nl_cb* cb = nl_cb_clone(nl_socket_get_cb(sock_.get()));
  if (!cb) return makeError("list addresses: out of memory");
  nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, onAddress, &st);
  err = nl_recvmsgs(sock_.get(), cb);
  nl_cb_put(cb);
  if (err < 0) return makeError("list addresses on " + ifname + ": " + nlError(err));
  return std::move(st.out);
}

}  // namespace carplb::agent::io
