#include "controller/core/annotations.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "controller/core/reasons.h"

namespace carplb::controller::core {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string annotationField(std::string_view key) {
  return "metadata.annotations[" + std::string(key) + "]";
}

// Keep user text short and printable in messages.
std::string quote(std::string_view value) {
  std::string out = "\"";
  for (char c : value.substr(0, 80)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (value.size() > 80) {
    out += "...";
  }
  return out + "\"";
}

bool isKnownAnnotation(std::string_view key) {
  for (auto k : {annotation::LoadBalancerIPs, annotation::AddressPool, annotation::AllowSharedIp, annotation::Failback,
                 annotation::AddressCount}) {
    if (key == k) {
      return true;
    }
  }
  return false;
}

bool isDnsLabelish(std::string_view s, size_t maxLen) {
  if (s.empty() || s.size() > maxLen) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

class Parser {
public:
  explicit Parser(const ServiceInput& svc) : svc_(svc) { result_.intent.key = svc.key(); }

  IntentResult run() {
    checkUnknown();
    parseFamilies();
    parseAddresses();
    parsePool();
    parseCount();
    parseSharing();
    parseFailbackAnnotation();
    result_.intent.localTraffic = svc_.externalTrafficPolicy == "Local";
    result_.intent.ports = svc_.ports;
    return std::move(result_);
  }

private:
  const std::string* get(std::string_view key) const {
    auto it = svc_.annotations.find(std::string(key));
    return it == svc_.annotations.end() ? nullptr : &it->second;
  }

  void fail(std::string field, std::string message, std::string_view reason = reasons::InvalidAnnotation) {
    result_.errors.push_back(FieldError{field, field + ": " + std::move(message), reason});
  }

  void checkUnknown() {
    for (const auto& [key, value] : svc_.annotations) {
      if (key.starts_with(annotation::Prefix) && !isKnownAnnotation(key)) {
        fail(annotationField(key), "unknown carplb.io annotation (known: loadBalancerIPs, address-pool, "
                                   "allow-shared-ip, failback, address-count)");
      }
    }
  }

  void parseFamilies() {
    const auto& fam = svc_.ipFamilies;
    if (!fam.empty() && std::find(fam.begin(), fam.end(), "IPv4") == fam.end()) {
      fail("spec.ipFamilies", "only IPv4 is supported yet, got " + quote(fam.front()), reasons::UnsupportedFamily);
    }
  }

  // One address from a list: IPv4 accepted, IPv6 refused as unsupported, anything else invalid.
  std::optional<Ipv4> parseOne(const std::string& field, std::string_view text) {
    if (auto ip = parseIpv4(text)) {
      return *ip;
    }
    if (isIpv6(text)) {
      fail(field, quote(text) + " is IPv6, which carplb does not support yet", reasons::UnsupportedFamily);
    } else {
      fail(field, quote(text) + " is not an IP address");
    }
    return std::nullopt;
  }

  void parseAddresses() {
    auto& intent = result_.intent;
    if (const auto* list = get(annotation::LoadBalancerIPs)) {
      const auto field = annotationField(annotation::LoadBalancerIPs);
      intent.source = AddressSource::Annotation;
      std::string_view rest = *list;
      std::set<Ipv4> seen;
      size_t items = 0;
      while (true) {
        auto comma = rest.find(',');
        auto item = trim(rest.substr(0, comma));
        ++items;
        if (item.empty()) {
          fail(field, "empty entry in " + quote(*list));
        } else if (auto ip = parseOne(field, item)) {
          if (!seen.insert(*ip).second) {
            fail(field, "duplicate address " + ip->toString());
          } else {
            intent.requested.push_back(*ip);
          }
        }
        if (comma == std::string_view::npos) {
          break;
        }
        rest.remove_prefix(comma + 1);
      }
      if (items > MaxAddressesPerService) {
        fail(field, "at most " + std::to_string(MaxAddressesPerService) + " addresses, got " + std::to_string(items));
      }
      return;
    }
    if (!svc_.loadBalancerIP.empty()) {
      intent.source = AddressSource::LoadBalancerIP;
      if (auto ip = parseOne("spec.loadBalancerIP", trim(svc_.loadBalancerIP))) {
        intent.requested.push_back(*ip);
      }
    }
  }

  void parsePool() {
    if (const auto* pool = get(annotation::AddressPool)) {
      if (!isDnsLabelish(*pool, 253)) {
        fail(annotationField(annotation::AddressPool),
             quote(*pool) + " is not a pool name (lowercase letters, digits, '-' and '.')");
        return;
      }
      result_.intent.pool = *pool;
    }
  }

  void parseCount() {
    const auto* count = get(annotation::AddressCount);
    if (count == nullptr) {
      return;
    }
    const auto field = annotationField(annotation::AddressCount);
    auto& intent = result_.intent;
    std::string_view text = trim(*count);
    if (text == "all-nodes") {
      intent.allNodes = true;
    } else {
      uint32_t n = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || n < 1 ||
          n > MaxAddressesPerService) {
        fail(field, "must be an integer 1.." + std::to_string(MaxAddressesPerService) + " or \"all-nodes\", got " +
                        quote(*count));
        return;
      }
      intent.count = n;
    }
    if (intent.source != AddressSource::Pool) {
      if (intent.allNodes || intent.count != intent.requested.size()) {
        fail(field, "conflicts with the listed addresses (" + std::to_string(intent.requested.size()) +
                        " listed); remove one of the two");
      }
    }
  }

  void parseSharing() {
    if (const auto* key = get(annotation::AllowSharedIp)) {
      std::string_view k = trim(*key);
      bool printable = std::all_of(k.begin(), k.end(), [](char c) { return c > 0x20 && c < 0x7f; });
      if (k.empty() || k.size() > 128 || !printable) {
        fail(annotationField(annotation::AllowSharedIp),
             "must be 1..128 printable characters without spaces, got " + quote(*key));
        return;
      }
      result_.intent.sharingKey = std::string(k);
    }
  }

  void parseFailbackAnnotation() {
    if (const auto* f = get(annotation::Failback)) {
      auto parsed = parseFailback(trim(*f));
      if (!parsed) {
        fail(annotationField(annotation::Failback), parsed.error().message);
        return;
      }
      result_.intent.failback = *parsed;
    }
  }

  const ServiceInput& svc_;
  IntentResult result_;
};

}  // namespace

std::string toString(const Failback& f) {
  switch (f.mode) {
    case FailbackMode::Immediate:
      return "immediate";
    case FailbackMode::Never:
      return "never";
    case FailbackMode::Delay:
      break;
  }
  return "delay=" + std::to_string(f.delay.count()) + "ms";
}

std::string IntentResult::summary() const {
  std::string out;
  for (const auto& e : errors) {
    out += (out.empty() ? "" : "; ") + e.message;
  }
  return out;
}

IntentResult parseServiceIntent(const ServiceInput& svc) { return Parser(svc).run(); }

Result<std::chrono::milliseconds> parseDuration(std::string_view text) {
  auto bad = [&] {
    return makeError(quote(text) + " is not a duration (e.g. 500ms, 30s, 1m30s, 2h)");
  };
  if (text.empty() || text.size() > 32) {
    return bad();
  }
  std::chrono::milliseconds total{0};
  while (!text.empty()) {
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || ptr == text.data() || n > 1'000'000'000ULL) {
      return bad();
    }
    text.remove_prefix(static_cast<size_t>(ptr - text.data()));
    int64_t unitMs = 0;
    if (text.starts_with("ms")) {
      unitMs = 1;
      text.remove_prefix(2);
    } else if (text.starts_with("s")) {
      unitMs = 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("m")) {
      unitMs = 60'000;
      text.remove_prefix(1);
    } else if (text.starts_with("h")) {
      unitMs = 3'600'000;
      text.remove_prefix(1);
    } else {
      return bad();
    }
    total += std::chrono::milliseconds(static_cast<int64_t>(n) * unitMs);
    if (total > std::chrono::hours(24 * 365)) {
      return bad();
    }
  }
  return total;
}

Result<Failback> parseFailback(std::string_view text) {
  if (text == "immediate") {
    return Failback{FailbackMode::Immediate, {}};
  }
  if (text == "never") {
    return Failback{FailbackMode::Never, {}};
  }
  if (text.starts_with("delay=")) {
    auto d = parseDuration(text.substr(6));
    if (!d) {
      return makeError("delay: " + d.error().message);
    }
    if (d->count() <= 0 || *d > MaxFailbackDelay) {
      return makeError("delay must be above 0 and at most 1h, got " + quote(text.substr(6)));
    }
    return Failback{FailbackMode::Delay, *d};
  }
  return makeError("must be immediate, never or delay=<duration>, got " + quote(text));
}

}  // namespace carplb::controller::core
