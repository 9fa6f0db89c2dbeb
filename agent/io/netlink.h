#pragma once
// RAII for libnl-3 sockets, shared by NetlinkAddressTable and LinkWatcher.
#include <memory>
#include <string>

#include "common/result.h"

struct nl_sock;

namespace carplb::agent::io {

struct NlSockDeleter {
  void operator()(nl_sock* s) const;
};
using NlSock = std::unique_ptr<nl_sock, NlSockDeleter>;

// A connected NETLINK_ROUTE socket.
Result<NlSock> connectRoute();

// libnl error text for a negative libnl error code.
std::string nlError(int err);

}  // namespace carplb::agent::io
