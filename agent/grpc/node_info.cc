#include "agent/grpc/node_info.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/route/route.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "agent/io/netlink.h"
#include "agent/io/netlink_address_table.h"

namespace carplb::agent::rpc {
namespace {

struct IfaddrsDeleter {
  void operator()(ifaddrs* p) const { ::freeifaddrs(p); }
};
using Ifaddrs = std::unique_ptr<ifaddrs, IfaddrsDeleter>;

Ifaddrs listIfaddrs() {
  ifaddrs* raw = nullptr;
  if (::getifaddrs(&raw) != 0) return nullptr;
  return Ifaddrs(raw);
}

std::string addressText(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

bool isLinkLocal6(const sockaddr* sa) {
  const auto* a = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
  return IN6_IS_ADDR_LINKLOCAL(a);
}

struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};

}  // namespace

std::vector<v1::NodeInterface> nodeInterfaces() {
  std::map<unsigned, v1::NodeInterface> byIndex;
  auto list = listIfaddrs();
  for (ifaddrs* p = list.get(); p != nullptr; p = p->ifa_next) {
    if (p->ifa_name == nullptr || (p->ifa_flags & IFF_LOOPBACK) != 0) continue;
    const unsigned index = ::if_nametoindex(p->ifa_name);
    if (index == 0) continue;
    auto& ni = byIndex[index];
    ni.set_name(p->ifa_name);
    if (p->ifa_addr == nullptr) continue;
    if (p->ifa_addr->sa_family == AF_INET ||
        (p->ifa_addr->sa_family == AF_INET6 && !isLinkLocal6(p->ifa_addr))) {
      ni.add_addresses(addressText(p->ifa_addr));
    }
  }
  // Leave out the VIPs we manage (our IFA_PROTO mark).
  auto table = io::NetlinkAddressTable::create();
  std::vector<v1::NodeInterface> out;
  for (auto& [index, ni] : byIndex) {
    std::set<std::string> ours;
    if (table) {
      if (auto addrs = (*table)->list(ni.name()); addrs) {
        for (const auto& a : *addrs) {
          if (a.ours) ours.insert(a.address.toString());
        }
      }
    }
    v1::NodeInterface clean;
    clean.set_name(ni.name());
    for (const auto& a : ni.addresses()) {
      if (!ours.contains(a)) clean.add_addresses(a);
    }
    out.push_back(std::move(clean));
  }
  return out;
}

Result<std::string> detectDefaultInterface() {
  // 1. The IPv4 default route of the main table with the lowest metric.
  if (auto sock = io::connectRoute(); sock) {
    nl_cache* raw = nullptr;
    if (rtnl_route_alloc_cache(sock->get(), AF_INET, 0, &raw) >= 0) {
      std::unique_ptr<nl_cache, CacheDeleter> cache(raw);
      int bestIndex = 0;
      uint32_t bestMetric = 0;
      for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
        auto* r = reinterpret_cast<rtnl_route*>(o);
        if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) continue;
        nl_addr* dst = rtnl_route_get_dst(r);
        if (dst != nullptr && nl_addr_get_prefixlen(dst) != 0) continue;
        if (rtnl_route_get_nnexthops(r) < 1) continue;
        const int ifindex = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0));
        const uint32_t metric = rtnl_route_get_priority(r);
        if (ifindex > 0 && (bestIndex == 0 || metric < bestMetric)) {
          bestIndex = ifindex;
          bestMetric = metric;
        }
      }
      char name[IF_NAMESIZE] = {};
      if (bestIndex > 0 && ::if_indextoname(static_cast<unsigned>(bestIndex), name) != nullptr) {
        return std::string(name);
      }
    }
  }
  // 2. The first non-loopback interface that is up and has an IPv4 address.
  auto list = listIfaddrs();
  unsigned bestIndex = 0;
  std::string best;
  for (ifaddrs* p = list.get(); p != nullptr; p = p->ifa_next) {
    if (p->ifa_name == nullptr || p->ifa_addr == nullptr || p->ifa_addr->sa_family != AF_INET) continue;
    if ((p->ifa_flags & IFF_LOOPBACK) != 0 || (p->ifa_flags & IFF_UP) == 0) continue;
    const unsigned index = ::if_nametoindex(p->ifa_name);
    if (index != 0 && (bestIndex == 0 || index < bestIndex)) {
      bestIndex = index;
      best = p->ifa_name;
    }
  }
  if (bestIndex == 0) {
    return makeError("--interface auto: no IPv4 default route and no non-loopback interface with an IPv4 address");
  }
  return best;
}

}  // namespace carplb::agent::rpc
