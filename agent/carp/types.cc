#include "agent/carp/types.h"

#include <cstdio>
#include <string>
#include <vector>

namespace carplb::agent::carp {
namespace {

Error rangeError(std::string_view field, int min, int max, int64_t got) {
  return makeError(std::string(field) + ": must be between " + std::to_string(min) + " and " +
                   std::to_string(max) + ", got " + std::to_string(got));
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Parses up to 4 hex digits of one IPv6 group; false when empty, too long or not hex.
bool parseGroup(std::string_view g, uint16_t& out) {
  if (g.empty() || g.size() > 4) {
    return false;
  }
  uint32_t v = 0;
  for (char c : g) {
    int d = hexDigit(c);
    if (d < 0) {
      return false;
    }
    v = v * 16 + static_cast<uint32_t>(d);
  }
  out = static_cast<uint16_t>(v);
  return true;
}

// Splits "a:b:c" into groups; false on any bad group. Empty text = zero groups.
bool parseGroups(std::string_view text, std::vector<uint16_t>& out) {
  if (text.empty()) {
    return true;
  }
  std::size_t pos = 0;
  while (true) {
    std::size_t colon = text.find(':', pos);
    std::string_view g = text.substr(pos, colon == std::string_view::npos ? std::string_view::npos : colon - pos);
    uint16_t v = 0;
    if (!parseGroup(g, v)) {
      return false;
    }
    out.push_back(v);
    if (colon == std::string_view::npos) {
      return true;
    }
    pos = colon + 1;
  }
}

}  // namespace

Result<Vhid> Vhid::parse(int64_t v, std::string_view field) {
  if (v < Min || v > Max) {
    return rangeError(field, Min, Max, v);
  }
  return Vhid(static_cast<uint8_t>(v));
}

Result<AdvBase> AdvBase::parse(int64_t v, std::string_view field) {
  if (v < Min || v > Max) {
    return rangeError(field, Min, Max, v);
  }
  return AdvBase(static_cast<uint8_t>(v));
}

Result<AdvSkew> AdvSkew::parse(int64_t v, std::string_view field) {
  if (v < Min || v > Max) {
    return rangeError(field, Min, Max, v);
  }
  return AdvSkew(static_cast<uint8_t>(v));
}

Result<Ipv4Address> Ipv4Address::parse(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return makeError(std::string(field) + ": not an IPv4 address: \"" + std::string(text.substr(0, 64)) + "\"");
  };
  uint32_t value = 0;
  std::size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') {
        return bad();
      }
      ++pos;
    }
    std::size_t start = pos;
    uint32_t octet = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 3) {
      octet = octet * 10 + static_cast<uint32_t>(text[pos] - '0');
      ++pos;
    }
    std::size_t len = pos - start;
    if (len == 0 || octet > 255 || (len > 1 && text[start] == '0')) {
      return bad();
    }
    value = (value << 8) | octet;
  }
  if (pos != text.size()) {
    return bad();
  }
  return Ipv4Address(value);
}

std::array<uint8_t, 4> Ipv4Address::toBytes() const {
  return {static_cast<uint8_t>(v_ >> 24), static_cast<uint8_t>(v_ >> 16), static_cast<uint8_t>(v_ >> 8),
          static_cast<uint8_t>(v_)};
}

std::string Ipv4Address::toString() const {
  auto b = toBytes();
  return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
         std::to_string(b[3]);
}

Result<Ipv6Address> Ipv6Address::parse(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return makeError(std::string(field) + ": not an IPv6 address: \"" + std::string(text.substr(0, 64)) + "\"");
  };
  if (text.size() > 39) {
    return bad();
  }
  std::vector<uint16_t> head;
  std::vector<uint16_t> tail;
  std::size_t dc = text.find("::");
  if (dc == std::string_view::npos) {
    if (!parseGroups(text, head) || head.size() != 8) {
      return bad();
    }
  } else {
    if (text.find("::", dc + 1) != std::string_view::npos) {
      return bad();
    }
    if (!parseGroups(text.substr(0, dc), head) || !parseGroups(text.substr(dc + 2), tail) ||
        head.size() + tail.size() > 7) {
      return bad();
    }
    head.resize(8 - tail.size(), 0);
    head.insert(head.end(), tail.begin(), tail.end());
  }
  Ipv6Address a;
  for (std::size_t i = 0; i < 8; ++i) {
    a.bytes[2 * i] = static_cast<uint8_t>(head[i] >> 8);
    a.bytes[2 * i + 1] = static_cast<uint8_t>(head[i]);
  }
  return a;
}

std::string Ipv6Address::toString() const {
  std::array<uint16_t, 8> g{};
  for (std::size_t i = 0; i < 8; ++i) {
    g[i] = static_cast<uint16_t>((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  }
  // Longest run (>= 2) of zero groups becomes "::" (RFC 5952).
  int bestStart = -1;
  int bestLen = 0;
  for (int i = 0; i < 8;) {
    if (g[static_cast<std::size_t>(i)] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[static_cast<std::size_t>(j)] == 0) {
      ++j;
    }
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == bestStart) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') {
      out += ':';
    }
    std::snprintf(buf, sizeof buf, "%x", g[static_cast<std::size_t>(i)]);
    out += buf;
  }
  return out;
}

std::string toString(const SourceAddress& a) {
  return std::visit([](const auto& x) { return x.toString(); }, a);
}

std::string_view toString(State s) {
  switch (s) {
    case State::Init: return "init";
    case State::Backup: return "backup";
    case State::Master: return "master";
  }
  return "unknown";
}

std::string_view stateName(State s) {
  switch (s) {
    case State::Init: return "INIT";
    case State::Backup: return "BACKUP";
    case State::Master: return "MASTER";
  }
  return "UNKNOWN";
}

std::string_view toString(Reason r) {
  switch (r) {
    case Reason::Startup: return "startup";
    case Reason::LinkUp: return "link_up";
    case Reason::LinkDown: return "link_down";
    case Reason::MasterDown: return "master_down";
    case Reason::Preempt: return "preempt";
    case Reason::PreemptAfterDelay: return "preempt_after_delay";
    case Reason::HigherPriorityMaster: return "higher_priority_master";
    case Reason::GuaranteedTimeout: return "guaranteed_timeout";
    case Reason::BowOutReceived: return "bow_out_received";
    case Reason::DemoteHigherThanPeer: return "demote_higher_than_peer";
    case Reason::Shutdown: return "shutdown";
    case Reason::ConfigChanged: return "config_changed";
    case Reason::ClaimedSilentVhid: return "claimed_silent_vhid";
  }
  return "unknown";
}

std::string_view toString(DropReason r) {
  switch (r) {
    case DropReason::NotIpv4: return "not_ipv4";
    case DropReason::BadIpHeader: return "bad_ip_header";
    case DropReason::BadProtocol: return "bad_protocol";
    case DropReason::BadTtl: return "bad_ttl";
    case DropReason::TooShort: return "too_short";
    case DropReason::BadLength: return "bad_length";
    case DropReason::BadVersion: return "bad_version";
    case DropReason::BadType: return "bad_type";
    case DropReason::BadChecksum: return "bad_checksum";
    case DropReason::UnknownVhid: return "unknown_vhid";
    case DropReason::BadHmac: return "bad_hmac";
    case DropReason::Replayed: return "replayed";
    case DropReason::OwnPacket: return "own_packet";
    case DropReason::NotReady: return "not_ready";
  }
  return "unknown";
}

uint64_t DropCounters::total() const {
  uint64_t t = 0;
  for (uint64_t v : byReason) {
    t += v;
  }
  return t;
}

}  // namespace carplb::agent::carp
