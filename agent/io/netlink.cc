#include "agent/io/netlink.h"

#include <netlink/netlink.h>
#include <netlink/socket.h>

namespace carplb::agent::io {

void NlSockDeleter::operator()(nl_sock* s) const { nl_socket_free(s); }

std::string nlError(int err) { return nl_geterror(err < 0 ? -err : err); }

Result<NlSock> connectRoute() {
  NlSock sock(nl_socket_alloc());
  if (!sock) return makeError("netlink: nl_socket_alloc failed");
  int err = nl_connect(sock.get(), NETLINK_ROUTE);
  if (err < 0) return makeError("netlink: connect NETLINK_ROUTE: " + nlError(err));
  return sock;
}

}  // namespace carplb::agent::io
