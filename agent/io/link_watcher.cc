#include "agent/io/link_watcher.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "common/unique_fd.h"

namespace carplb::agent::io {
namespace {

int onMessage(nl_msg* msg, void* arg) {
  auto* self = static_cast<LinkWatcher*>(arg);
  nlmsghdr* hdr = nlmsg_hdr(msg);
  int type = hdr->nlmsg_type;
  if (type == RTM_NEWLINK || type == RTM_DELLINK) {
    if (!nlmsg_valid_hdr(hdr, sizeof(ifinfomsg))) return NL_OK;
    auto* ifi = static_cast<ifinfomsg*>(nlmsg_data(hdr));
    nlattr* tb[IFLA_MAX + 1] = {};
    std::string name;
    if (nlmsg_parse(hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) >= 0 && tb[IFLA_IFNAME]) {
      const char* p = static_cast<const char*>(nla_data(tb[IFLA_IFNAME]));
      name.assign(p, strnlen(p, static_cast<size_t>(nla_len(tb[IFLA_IFNAME]))));
    }
    self->handleMessage(type, static_cast<unsigned>(ifi->ifi_index), name);
  } else if (type == RTM_NEWADDR || type == RTM_DELADDR) {
    if (!nlmsg_valid_hdr(hdr, sizeof(ifaddrmsg))) return NL_OK;
    auto* ifa = static_cast<ifaddrmsg*>(nlmsg_data(hdr));
    self->handleMessage(type, ifa->ifa_index, "");
  }
  return NL_OK;
}

}  // namespace

LinkFlags queryLinkFlags(const std::string& ifname) {
  LinkFlags f;
  if (ifname.size() >= IFNAMSIZ) return f;
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return f;
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.c_str(), ifname.size());
  if (::ioctl(s.get(), SIOCGIFFLAGS, &req) != 0) return f;
  f.exists = true;
  f.up = (req.ifr_flags & IFF_UP) && (req.ifr_flags & IFF_RUNNING);
  return f;
}

Result<std::unique_ptr<LinkWatcher>> LinkWatcher::create(EventLoop& loop, ChangeFn onChange, Logger log) {
  NlSock sock(nl_socket_alloc());
  if (!sock) return makeError("link watcher: nl_socket_alloc failed");
  nl_socket_disable_seq_check(sock.get());
  int err = nl_connect(sock.get(), NETLINK_ROUTE);
  if (err < 0) return makeError("link watcher: connect: " + nlError(err));
  err = nl_socket_add_memberships(sock.get(), RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, 0);
  if (err < 0) return makeError("link watcher: subscribe: " + nlError(err));
  err = nl_socket_set_nonblocking(sock.get());
  if (err < 0) return makeError("link watcher: nonblocking: " + nlError(err));
  nl_socket_set_buffer_size(sock.get(), 1 << 20, 0);
  auto w = std::make_unique<LinkWatcher>(Key{}, loop, std::move(sock), std::move(onChange), std::move(log));
  nl_socket_modify_cb(w->sock_.get(), NL_CB_VALID, NL_CB_CUSTOM, onMessage, w.get());
  LinkWatcher* self = w.get();
  auto st = loop.addFd(nl_socket_get_fd(w->sock_.get()), [self] { self->readable(); });
  if (!st) return st.error();
  return w;
}

LinkWatcher::~LinkWatcher() { loop_.removeFd(nl_socket_get_fd(sock_.get())); }

void LinkWatcher::handleMessage(int type, unsigned ifindex, const std::string& ifname) {
  std::string name = ifname;
  if (name.empty()) {
    char buf[IF_NAMESIZE] = {};
    if (::if_indextoname(ifindex, buf)) name = buf;
  }
  log_.debug("netlink event", {{"type", type == RTM_NEWLINK   ? "newlink"
                                        : type == RTM_DELLINK ? "dellink"
                                        : type == RTM_NEWADDR ? "newaddr"
                                                              : "deladdr"},
                               {"interface", name}});
  onChange_(name);
}

void LinkWatcher::readable() {
  for (int i = 0; i < 64; ++i) {
    int err = nl_recvmsgs_default(sock_.get());
    if (err >= 0) continue;
    if (err == -NLE_AGAIN) return;
    if (err == -NLE_NOMEM || err == -NLE_OBJ_NOTFOUND || err == -NLE_DUMP_INTR) {
      log_.warn("netlink events lost; re-reading all interfaces", {{"error", nlError(err)}});
      onChange_("");
      return;
    }
    log_.warn("netlink receive failed", {{"error", nlError(err)}});
    onChange_("");
    return;
  }
}

}  // namespace carplb::agent::io
