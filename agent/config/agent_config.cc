#include "agent/config/agent_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

namespace carplb::agent::config {
namespace {

using nlohmann::json;

std::string describe(const json& v) {
  if (v.is_string()) return "\"" + v.get<std::string>() + "\"";
  return v.dump();
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
      char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca == cb ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string unknownKey(const std::string& where, const std::string& key, const std::vector<std::string_view>& known) {
  std::string best;
  size_t bestDist = 4;  // only suggest reasonably close names
  for (auto k : known) {
    size_t d = editDistance(key, k);
    if (d < bestDist) {
      bestDist = d;
      best = std::string(k);
    }
  }
  std::string msg = where + ": unknown key";
  if (!best.empty()) {
    msg += " (did you mean \"" + best + "\"?)";
  } else {
    msg += " (known keys:";
    for (auto k : known) msg += " " + std::string(k);
    msg += ")";
  }
  return msg;
}

Result<int64_t> getInt(const json& v, const std::string& field) {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    return v.get<int64_t>();
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    int64_t out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) {
      return out;
    }
  }
  return makeError(field + ": must be an integer, got " + describe(v));
}

Result<bool> getBool(const json& v, const std::string& field) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  return makeError(field + ": must be true or false, got " + describe(v));
}

Result<std::string> getString(const json& v, const std::string& field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();  // e.g. an unquoted numeric password
  return makeError(field + ": must be a string, got " + describe(v));
}

Result<Duration> getDuration(const json& v, const std::string& field) {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    int64_t n = v.get<int64_t>();
    if (n < 0) return makeError(field + ": must not be negative, got " + v.dump());
    return Duration(std::chrono::seconds(n));
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!(d >= 0) || d > 1e9) return makeError(field + ": must be a non-negative duration, got " + v.dump());
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(d));
  }
  if (v.is_string()) {
    auto d = parseDuration(v.get_ref<const std::string&>());
    if (!d) return makeError(field + ": " + d.error().message);
    return *d;
  }
  return makeError(field + ": must be a duration like \"500ms\" or \"2s\", got " + describe(v));
}

Result<Ipv4> getIpv4(const json& v, const std::string& field) {
  if (!v.is_string()) return makeError(field + ": must be an IPv4 address string, got " + describe(v));
  auto ip = Ipv4::parse(v.get_ref<const std::string&>());
  if (!ip) return makeError(field + ": " + ip.error().message);
  return *ip;
}

#define CARPLB_TRY_ASSIGN(lhs, expr)      \
  do {                                    \
    auto r_ = (expr);                     \
    if (!r_) return r_.error();           \
    lhs = std::move(*r_);                 \
  } while (0)

Result<VhostConfig> vhostFromJson(const json& obj, const std::string& where) {
  static const std::vector<std::string_view> known = {
      "vhid",    "interface", "srcip",        "addresses",   "advbase", "advskew",
      "password", "passwordFile", "preempt", "preemptDelay", "garpRefresh", "demote"};
  if (!obj.is_object()) return makeError(where + ": must be a mapping, got " + describe(obj));
  VhostConfig v;
  bool sawVhid = false;
  for (const auto& [key, val] : obj.items()) {
    std::string field = where + "." + key;
    if (key == "vhid") {
      int64_t n;
      CARPLB_TRY_ASSIGN(n, getInt(val, field));
      if (n < 1 || n > 255) return makeError(field + ": must be between 1 and 255, got " + std::to_string(n));
      v.vhid = static_cast<int>(n);
      sawVhid = true;
    } else if (key == "interface") {
      CARPLB_TRY_ASSIGN(v.interface, getString(val, field));
    } else if (key == "srcip") {
      if (!val.is_null()) {
        Ipv4 ip;
        CARPLB_TRY_ASSIGN(ip, getIpv4(val, field));
        v.srcip = ip;
      }
    } else if (key == "addresses") {
      if (val.is_string()) {  // a single address is accepted as a scalar
        Ipv4 ip;
        CARPLB_TRY_ASSIGN(ip, getIpv4(val, field));
        v.addresses.push_back(ip);
      } else if (val.is_array()) {
        for (size_t i = 0; i < val.size(); ++i) {
          Ipv4 ip;
          CARPLB_TRY_ASSIGN(ip, getIpv4(val[i], field + "[" + std::to_string(i) + "]"));
          v.addresses.push_back(ip);
        }
      } else {
        return makeError(field + ": must be a list of IPv4 addresses, got " + describe(val));
      }
    } else if (key == "advbase") {
      int64_t n;
      CARPLB_TRY_ASSIGN(n, getInt(val, field));
      if (n < 0 || n > 255) return makeError(field + ": must be between 0 and 255, got " + std::to_string(n));
      v.advbase = static_cast<int>(n);
    } else if (key == "advskew") {
      int64_t n;
      CARPLB_TRY_ASSIGN(n, getInt(val, field));
      if (n < 0 || n > 254) return makeError(field + ": must be between 0 and 254, got " + std::to_string(n));
      v.advskew = static_cast<int>(n);
    } else if (key == "password") {
      CARPLB_TRY_ASSIGN(v.password, getString(val, field));
    } else if (key == "passwordFile") {
      CARPLB_TRY_ASSIGN(v.passwordFile, getString(val, field));
    } else if (key == "preempt") {
      CARPLB_TRY_ASSIGN(v.preempt, getBool(val, field));
    } else if (key == "preemptDelay") {
      CARPLB_TRY_ASSIGN(v.preemptDelay, getDuration(val, field));
    } else if (key == "garpRefresh") {
      CARPLB_TRY_ASSIGN(v.garpRefresh, getDuration(val, field));
    } else if (key == "demote") {
      int64_t n;
      CARPLB_TRY_ASSIGN(n, getInt(val, field));
      if (n < 0 || n > 240) return makeError(field + ": must be between 0 and 240, got " + std::to_string(n));
      v.demote = static_cast<int>(n);
    } else {
      return makeError(unknownKey(field, key, known));
    }
  }
  if (!sawVhid) return makeError(where + ".vhid: required");
  if (!v.password.empty() && !v.passwordFile.empty()) {
    return makeError(where + ".passwordFile: set either password or passwordFile, not both");
  }
  return v;
}

}  // namespace

Result<Ipv4> Ipv4::parse(std::string_view text) {
  std::string s(text);
  in_addr a{};
  if (s.empty() || ::inet_pton(AF_INET, s.c_str(), &a) != 1) {
    return makeError("not an IPv4 address: \"" + s + "\"");
  }
  return Ipv4{ntohl(a.s_addr)};
}

std::string Ipv4::str() const {
  return std::to_string((value >> 24) & 0xff) + "." + std::to_string((value >> 16) & 0xff) + "." +
         std::to_string((value >> 8) & 0xff) + "." + std::to_string(value & 0xff);
}

Result<Duration> parseDuration(std::string_view text) {
  std::string s(text);
  auto bad = [&]() { return makeError("not a duration: \"" + s + "\" (use e.g. \"500ms\", \"2s\", \"1m\")"); };
  if (s.empty()) return bad();
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return bad();
  std::string num = s.substr(0, i);
  std::string unit = s.substr(i);
  if (std::count(num.begin(), num.end(), '.') > 1 || num.front() == '.' || num.back() == '.') return bad();
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(num, &used);
    if (used != num.size()) return bad();
  } catch (...) {
    return bad();
  }
  double scaleNs;
  if (unit.empty() || unit == "s") {
    scaleNs = 1e9;
  } else if (unit == "ms") {
    scaleNs = 1e6;
  } else if (unit == "us") {
    scaleNs = 1e3;
  } else if (unit == "ns") {
    scaleNs = 1;
  } else if (unit == "m") {
    scaleNs = 60e9;
  } else if (unit == "h") {
    scaleNs = 3600e9;
  } else {
    return bad();
  }
  double ns = value * scaleNs;
  if (!std::isfinite(ns) || ns > 1e18) return makeError("duration out of range: \"" + s + "\"");
  return Duration(static_cast<int64_t>(std::llround(ns)));
}

std::string formatDuration(Duration d) {
  using namespace std::chrono;
  auto ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
  if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
  if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
  return std::to_string(ns) + "ns";
}

Result<AgentConfig> configFromJson(const nlohmann::json& doc) {
  static const std::vector<std::string_view> known = {"vhids", "statusListen", "logLevel"};
  if (!doc.is_object()) return makeError("config: the top level must be a mapping, got " + describe(doc));
  AgentConfig cfg;
  bool sawVhids = false;
  for (const auto& [key, val] : doc.items()) {
    if (key == "vhids") {
      sawVhids = true;
      if (!val.is_array()) return makeError("vhids: must be a list, got " + describe(val));
      for (size_t i = 0; i < val.size(); ++i) {
        auto v = vhostFromJson(val[i], "vhids[" + std::to_string(i) + "]");
        if (!v) return v.error();
        cfg.vhids.push_back(std::move(*v));
      }
    } else if (key == "statusListen") {
      CARPLB_TRY_ASSIGN(cfg.statusListen, getString(val, "statusListen"));
    } else if (key == "logLevel") {
      std::string lvl;
      CARPLB_TRY_ASSIGN(lvl, getString(val, "logLevel"));
      if (!Logger::parseLevel(lvl, cfg.logLevel)) {
        return makeError("logLevel: must be one of debug, info, warn, error, got \"" + lvl + "\"");
      }
    } else {
      return makeError(unknownKey(key, key, known));
    }
  }
  if (!sawVhids) return makeError("vhids: required (a list of vhid entries)");
  auto st = validateConfig(cfg);
  if (!st) return st.error();
  return cfg;
}

Status validateVhost(const VhostConfig& v, const std::string& p) {
  if (v.vhid < 1 || v.vhid > 255) {
    return makeError(p + ".vhid: must be between 1 and 255, got " + std::to_string(v.vhid));
  }
  if (v.interface.empty()) return makeError(p + ".interface: required");
  if (v.interface.size() > 15) {
    return makeError(p + ".interface: names are at most 15 characters, got \"" + v.interface + "\"");
  }
  for (char c : v.interface) {
    if (c == '/' || c == ' ' || c == ':' || static_cast<unsigned char>(c) < 0x21) {
      return makeError(p + ".interface: invalid character in \"" + v.interface + "\"");
    }
  }
  if (v.addresses.empty()) return makeError(p + ".addresses: at least one address is required");
  std::set<Ipv4> seen;
  for (size_t i = 0; i < v.addresses.size(); ++i) {
    const auto& a = v.addresses[i];
    std::string f = p + ".addresses[" + std::to_string(i) + "]";
    uint32_t top = a.value >> 24;
    if (a.value == 0 || top == 0 || top == 127 || top >= 224) {
      return makeError(f + ": must be a unicast address, got " + a.str());
    }
    if (!seen.insert(a).second) return makeError(f + ": duplicate address " + a.str());
  }
  if (v.srcip) {
    uint32_t top = v.srcip->value >> 24;
    if (v.srcip->value == 0 || top >= 224) {
      return makeError(p + ".srcip: must be a unicast address, got " + v.srcip->str());
    }
    if (seen.count(*v.srcip)) {
      return makeError(p + ".srcip: must be the node's own address, not one of the VIPs (" + v.srcip->str() + ")");
    }
  }
  if (v.advbase < 0 || v.advbase > 255) {
    return makeError(p + ".advbase: must be between 0 and 255, got " + std::to_string(v.advbase));
  }
  if (v.advskew < 0 || v.advskew > 254) {
    return makeError(p + ".advskew: must be between 0 and 254, got " + std::to_string(v.advskew));
  }
  if (v.advbase == 0 && v.advskew == 0) {
    return makeError(p + ".advskew: must be above 0 when advbase is 0 (the interval would be 0)");
  }
  if (v.demote < 0 || v.demote > 240) {
    return makeError(p + ".demote: must be between 0 and 240, got " + std::to_string(v.demote));
  }
  if (v.password.size() > static_cast<size_t>(MaxPasswordBytes)) {
    return makeError(p + ".password: at most 19 bytes, got " + std::to_string(v.password.size()));
  }
  if (v.password.empty() && v.passwordFile.empty()) {
    return makeError(p + ".password: required (or passwordFile)");
  }
  if (v.preemptDelay < Duration::zero()) return makeError(p + ".preemptDelay: must not be negative");
  if (v.garpRefresh < Duration::zero()) return makeError(p + ".garpRefresh: must not be negative");
  if (v.garpRefresh > Duration::zero() && v.garpRefresh < std::chrono::milliseconds(100)) {
    return makeError(p + ".garpRefresh: must be 0 (off) or at least 100ms, got " + formatDuration(v.garpRefresh));
  }
  return okStatus();
}

Status validateConfig(const AgentConfig& cfg) {
  std::map<std::pair<std::string, int>, size_t> byIfVhid;
  std::map<Ipv4, size_t> byAddr;
  for (size_t i = 0; i < cfg.vhids.size(); ++i) {
    const auto& v = cfg.vhids[i];
    std::string p = "vhids[" + std::to_string(i) + "]";
    auto st = validateVhost(v, p);
    if (!st) return st;
    auto [it, fresh] = byIfVhid.emplace(std::make_pair(v.interface, v.vhid), i);
    if (!fresh) {
      return makeError(p + ".vhid: vhid " + std::to_string(v.vhid) + " on " + v.interface +
                       " is already used by vhids[" + std::to_string(it->second) + "]");
    }
    for (size_t j = 0; j < v.addresses.size(); ++j) {
      auto [ait, afresh] = byAddr.emplace(v.addresses[j], i);
      if (!afresh && ait->second != i) {
        return makeError(p + ".addresses[" + std::to_string(j) + "]: " + v.addresses[j].str() +
                         " is already a VIP of vhids[" + std::to_string(ait->second) + "]");
      }
    }
  }
  if (cfg.statusListen != "off") {
    auto colon = cfg.statusListen.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return makeError("statusListen: must be \"host:port\" or \"off\", got \"" + cfg.statusListen + "\"");
    }
    std::string port = cfg.statusListen.substr(colon + 1);
    int n = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || ptr != port.data() + port.size() || n < 0 || n > 65535) {
      return makeError("statusListen: port must be 0..65535, got \"" + port + "\"");
    }
  }
  return okStatus();
}

nlohmann::json configToJson(const AgentConfig& cfg) {
  json out;
  out["statusListen"] = cfg.statusListen;
  static const char* levels[] = {"debug", "info", "warn", "error"};
  out["logLevel"] = levels[static_cast<int>(cfg.logLevel)];
  out["vhids"] = json::array();
  for (const auto& v : cfg.vhids) {
    json j;
    j["vhid"] = v.vhid;
    j["interface"] = v.interface;
    if (v.srcip) j["srcip"] = v.srcip->str();
    j["addresses"] = json::array();
    for (const auto& a : v.addresses) j["addresses"].push_back(a.str());
    j["advbase"] = v.advbase;
    j["advskew"] = v.advskew;
    j["preempt"] = v.preempt;
    j["preemptDelay"] = formatDuration(v.preemptDelay);
    j["garpRefresh"] = formatDuration(v.garpRefresh);
    j["demote"] = v.demote;
    if (!v.passwordFile.empty()) j["passwordFile"] = v.passwordFile;
    // the password itself is never serialised
    out["vhids"].push_back(std::move(j));
  }
  return out;
}

}  // namespace carplb::agent::config
