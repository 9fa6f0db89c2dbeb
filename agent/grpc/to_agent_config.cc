#include "agent/grpc/to_agent_config.h"

namespace carplb::agent::rpc {

Result<config::AgentConfig> agentConfigFromSnapshot(const v1::Snapshot& snapshot, const config::AgentConfig& base) {
  config::AgentConfig out = base;
  out.vhids.clear();
  for (int i = 0; i < snapshot.vhosts_size(); ++i) {
    const v1::Vhost& v = snapshot.vhosts(i);
    const std::string p = "snapshot.vhosts[" + std::to_string(i) + "]";
    config::VhostConfig c;
    c.vhid = static_cast<int>(v.vhid());
    c.interface = v.interface();
    if (!v.srcip().empty()) {
      auto ip = config::Ipv4::parse(v.srcip());
      if (!ip) {
        return makeError(p + ".srcip: " + ip.error().message);
      }
      c.srcip = *ip;
    }
    for (int k = 0; k < v.vips_size(); ++k) {
      auto ip = config::Ipv4::parse(v.vips(k));
      if (!ip) {
        return makeError(p + ".vips[" + std::to_string(k) + "]: only IPv4 VIPs are supported by this agent, got \"" +
                         v.vips(k) + "\"");
      }
      c.addresses.push_back(*ip);
    }
    c.advbase = static_cast<int>(v.advbase());
    c.advskew = static_cast<int>(v.advskew());
    c.password = v.auth_key();
    c.preempt = v.preempt();
    c.preemptDelay = std::chrono::seconds(v.preempt_delay_seconds());
    c.claim = v.claim();
    out.vhids.push_back(std::move(c));
  }
  if (auto st = config::validateConfig(out); !st) {
    return makeError("snapshot: " + st.error().message);
  }
  return out;
}

}  // namespace carplb::agent::rpc
