#pragma once
// IPv4 addresses and ranges as plain values. IPv6 is recognised (so it can be refused
// with a precise message) but not yet planned.
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace carplb::controller::core {

struct Ipv4 {
  uint32_t value = 0;  // host order
  auto operator<=>(const Ipv4&) const = default;
  std::string toString() const;
};

// Strict dotted quad: four decimal octets 0..255, no leading zeros, no whitespace.
Result<Ipv4> parseIpv4(std::string_view text);
// True when text is a syntactically valid IPv6 address.
bool isIpv6(std::string_view text);

// Inclusive range [first, last].
struct Ipv4Range {
  Ipv4 first;
  Ipv4 last;
  uint64_t size() const { return uint64_t{last.value} - first.value + 1; }
  bool contains(Ipv4 a) const { return first <= a && a <= last; }
  auto operator<=>(const Ipv4Range&) const = default;
};

// "192.0.2.0/24" (network and broadcast excluded for prefixes /0../30), "192.0.2.10/32",
// or "192.0.2.10-192.0.2.20" (inclusive). The CIDR's host bits must be zero.
Result<Ipv4Range> parseIpv4Range(std::string_view text);

}  // namespace carplb::controller::core
