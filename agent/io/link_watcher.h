#pragma once
// LinkWatcher: a non-blocking NETLINK_ROUTE socket subscribed to RTNLGRP_LINK and
// RTNLGRP_IPV4_IFADDR, read from the EventLoop. Every link or IPv4 address change calls
// `onChange(ifname)` at once (carrier loss is seen immediately, not on a poll); an empty
// ifname means "something was lost (socket overrun) or cannot be named: re-read everything".
#include <functional>
#include <string>

#include "agent/io/event_loop.h"
#include "agent/io/netlink.h"
#include "common/log.h"

namespace carplb::agent::io {

struct LinkFlags {
  bool exists = false;
  bool up = false;  // IFF_UP and IFF_RUNNING (carrier / operstate up)
};

// Current flags of `ifname` (SIOCGIFFLAGS).
LinkFlags queryLinkFlags(const std::string& ifname);

class LinkWatcher {
public:
  using ChangeFn = std::function<void(const std::string& ifname)>;

  static Result<std::unique_ptr<LinkWatcher>> create(EventLoop& loop, ChangeFn onChange, Logger log);
  struct Key {
    explicit Key() = default;
  };
  LinkWatcher(Key, EventLoop& loop, NlSock sock, ChangeFn onChange, Logger log)
      : loop_(loop), sock_(std::move(sock)), onChange_(std::move(onChange)), log_(std::move(log)) {}
  ~LinkWatcher();
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  // For the netlink callback.
  void handleMessage(int type, unsigned ifindex, const std::string& ifname);

private:
  void readable();

  EventLoop& loop_;
  NlSock sock_;
  ChangeFn onChange_;
  Logger log_;
};

}  // namespace carplb::agent::io
