#pragma once
// What the agent tells the controller about its node, and the "--interface auto" choice.
// SHELL: reads the kernel's interfaces (getifaddrs) and routes (rtnetlink via libnl-3).
#include <string>
#include <vector>

#include "carplb/v1/agent.pb.h"
#include "common/result.h"

namespace carplb::agent::rpc {

// Every interface but loopback with its addresses as text (IPv4, and IPv6 except
// link-local), for Hello.interfaces. Addresses carrying the agent's IFA_PROTO mark (VIPs
// this agent manages) are left out. Sorted by interface index.
std::vector<v1::NodeInterface> nodeInterfaces();

// "--interface auto": the interface of the IPv4 default route in the main table (lowest
// metric wins), else the first (lowest index) non-loopback interface that is up and has an
// IPv4 address. Error when there is neither.
Result<std::string> detectDefaultInterface();

}  // namespace carplb::agent::rpc
