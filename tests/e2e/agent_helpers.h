#pragma once
// carplb-agent in the lab: start one agent per node, read its /state.
#include "tests/e2e/e2e_helpers.h"

namespace carplb::e2e::testing {

#ifdef CARPLB_AGENT_BINARY
inline const std::string AgentBinary = CARPLB_AGENT_BINARY;
#else
inline const std::string AgentBinary;
#endif

inline constexpr uint16_t StatusPort = 9464;  // each node has its own namespace: no clash

// The "state" of `vhid` in the agent's GET /state (tolerant of the exact layout: a list of
// objects with "vhid" and "state", under "vhids" or at the top, or an object keyed by vhid).
inline std::optional<std::string> agentState(const Host& host, int vhid) {
  auto j = httpGetJson(host.ns, StatusPort, "/state", 1s);
  if (!j) {
    return std::nullopt;
  }
  const nlohmann::json* list = nullptr;
  if (j->is_array()) {
    list = &*j;
  } else if (j->is_object() && j->contains("vhids")) {
    list = &(*j)["vhids"];
  }
  auto stateOf = [](const nlohmann::json& v) -> std::optional<std::string> {
    if (v.is_object() && v.contains("state") && v["state"].is_string()) {
      return v["state"].get<std::string>();
    }
    return std::nullopt;
  };
  if (list && list->is_array()) {
    for (const auto& v : *list) {
      if (v.is_object() && v.contains("vhid") && v["vhid"].is_number_integer() && v["vhid"].get<int>() == vhid) {
        return stateOf(v);
      }
    }
  } else if (list && list->is_object() && list->contains(std::to_string(vhid))) {
    return stateOf((*list)[std::to_string(vhid)]);
  }
  return std::nullopt;
}

inline bool waitState(const Host& host, int vhid, const std::string& state, Duration timeout) {
  return waitUntil([&] { return agentState(host, vhid) == state; }, timeout);
}

inline std::string stateDump(const Host& host) {
  auto body = httpGet(host.ns, StatusPort, "/state", 1s);
  return host.name + " /state: " + (body ? *body : body.error().message);
}

}  // namespace carplb::e2e::testing
