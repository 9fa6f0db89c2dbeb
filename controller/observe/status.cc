#include "controller/observe/status.h"

#include <cstdint>
#include <cstdio>

#include "controller/observe/reasons.h"

namespace carplb::controller::observe {
namespace {

// days since 1970-01-01 -> civil date (H. Hinnant's algorithm), valid for days >= 0.
void civilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) {
    y += 1;
  }
}

nlohmann::json condition(std::string_view type, const ConditionState& c, std::string_view trueReason,
                         std::string_view falseReason) {
  return nlohmann::json{{"type", type},
                        {"status", c.status ? "True" : "False"},
                        {"reason", c.status ? trueReason : falseReason},
                        {"message", c.message},
                        {"lastTransitionTime", formatRfc3339(c.lastTransition)}};
}

}  // namespace

std::string formatRfc3339(WallTime t) {
  constexpr int64_t MaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
  int64_t secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  if (t.time_since_epoch().count() < 0 || secs < 0) {
    secs = 0;
  }
  if (secs > MaxSeconds) {
    secs = MaxSeconds;
  }
  const int64_t days = secs / 86400;
  const int64_t rem = secs % 86400;
  int64_t y = 0;
  unsigned m = 0;
  unsigned d = 0;
  civilFromDays(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600), static_cast<long long>(rem % 3600 / 60),
                static_cast<long long>(rem % 60));
  return buf;
}

nlohmann::json statusFragment(const VhidView& view) {
  nlohmann::json out = nlohmann::json::object();
  out["actualMaster"] = view.actualMaster;
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : view.nodes) {
    nlohmann::json j{{"node", n.node}, {"state", toString(n.state)}, {"since", formatRfc3339(n.since)}};
    if (!n.reason.empty()) {
      j["reason"] = n.reason;
    }
    nodes.push_back(std::move(j));
  }
  out["nodes"] = std::move(nodes);
  if (view.lastFailover) {
    const Failover& f = *view.lastFailover;
    out["lastFailover"] = {{"time", formatRfc3339(f.time)}, {"from", f.from}, {"to", f.to}, {"reason", f.reason}};
  }
  out["conditions"] = nlohmann::json::array(
      {condition(reasons::ConditionSplitBrain, view.splitBrainCondition, reasons::SplitBrain, reasons::SingleMaster),
       condition(reasons::ConditionForeignSpeaker, view.foreignSpeakerCondition, reasons::ForeignSpeaker,
                 reasons::NoForeignSpeaker)});
  return out;
}

nlohmann::json mergeConditions(const nlohmann::json& existing, const nlohmann::json& updates) {
  auto typeOf = [](const nlohmann::json& c) -> const std::string* {
    if (!c.is_object()) {
      return nullptr;
    }
    auto it = c.find("type");
    return it != c.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  nlohmann::json out = nlohmann::json::array();
  if (existing.is_array()) {
    for (const auto& c : existing) {
      if (typeOf(c) != nullptr) {
        out.push_back(c);
      }
    }
  }
  if (!updates.is_array()) {
    return out;
  }
  for (const auto& u : updates) {
    const std::string* type = typeOf(u);
    if (type == nullptr) {
      continue;
    }
    bool replaced = false;
    for (auto& c : out) {
      if (*typeOf(c) != *type) {
        continue;
      }
      nlohmann::json merged = u;
      auto oldStatus = c.find("status");
      auto newStatus = u.find("status");
      auto oldTime = c.find("lastTransitionTime");
      if (oldStatus != c.end() && newStatus != u.end() && *oldStatus == *newStatus && oldTime != c.end()) {
        merged["lastTransitionTime"] = *oldTime;
      }
      c = std::move(merged);
      replaced = true;
      break;
    }
    if (!replaced) {
      out.push_back(u);
    }
  }
  return out;
}

}  // namespace carplb::controller::observe
