#include "controller/core/ip.h"

#include <arpa/inet.h>

#include <charconv>

namespace carplb::controller::core {

std::string Ipv4::toString() const {
  return std::to_string(value >> 24) + "." + std::to_string((value >> 16) & 0xff) + "." +
         std::to_string((value >> 8) & 0xff) + "." + std::to_string(value & 0xff);
}

Result<Ipv4> parseIpv4(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return makeError("\"" + std::string(text) + "\" is not an IPv4 address (" + std::string(why) + ")");
  };
  if (text.empty() || text.size() > 15) {
    return bad("wrong length");
  }
  uint32_t value = 0;
  size_t pos = 0;
  for (int octet = 0; octet < 4; ++octet) {
    size_t end = pos;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
      ++end;
    }
    if (end == pos || end - pos > 3) {
      return bad("bad octet");
    }
    if (end - pos > 1 && text[pos] == '0') {
      return bad("leading zero");
    }
    unsigned n = 0;
    std::from_chars(text.data() + pos, text.data() + end, n);
    if (n > 255) {
      return bad("octet above 255");
    }
    value = (value << 8) | n;
    pos = end;
    if (octet < 3) {
      if (pos >= text.size() || text[pos] != '.') {
        return bad("expected four dot-separated octets");
      }
      ++pos;
    }
  }
  if (pos != text.size()) {
    return bad("trailing characters");
  }
  return Ipv4{value};
}

bool isIpv6(std::string_view text) {
  if (text.empty() || text.size() > 45 || text.find(':') == std::string_view::npos) {
    return false;
  }
  std::string s(text);
  unsigned char buf[16];
  return inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Result<Ipv4Range> parseIpv4Range(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  if (auto dash = text.find('-'); dash != std::string_view::npos) {
    auto a = parseIpv4(text.substr(0, dash));
    auto b = parseIpv4(text.substr(dash + 1));
    if (!a || !b) {
      return makeError(quoted + ": range ends must be IPv4 addresses");
    }
    if (*b < *a) {
      return makeError(quoted + ": range end is before its start");
    }
    return Ipv4Range{*a, *b};
  }
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return makeError(quoted + ": expected a CIDR (a.b.c.d/len) or a range (a.b.c.d-e.f.g.h)");
  }
  auto base = parseIpv4(text.substr(0, slash));
  if (!base) {
    return makeError(quoted + ": " + base.error().message);
  }
  auto lenText = text.substr(slash + 1);
  unsigned len = 0;
  auto [ptr, ec] = std::from_chars(lenText.data(), lenText.data() + lenText.size(), len);
  if (lenText.empty() || ec != std::errc{} || ptr != lenText.data() + lenText.size() || len > 32) {
    return makeError(quoted + ": prefix length must be 0..32");
  }
  const uint64_t span = uint64_t{1} << (32 - len);
  const uint32_t mask = len == 0 ? 0 : static_cast<uint32_t>(~uint64_t{0} << (32 - len));
  if ((base->value & ~mask) != 0) {
    return makeError(quoted + ": host bits are set (network is " + Ipv4{base->value & mask}.toString() + "/" +
                     std::to_string(len) + ")");
  }
  Ipv4Range r{*base, Ipv4{static_cast<uint32_t>(base->value + span - 1)}};
  if (len <= 30) {  // skip network and broadcast addresses
    r.first.value += 1;
    r.last.value -= 1;
  }
  return r;
}

}  // namespace carplb::controller::core
