#include "agent/carp/types.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace carplb::agent::carp {
namespace {

TEST(StrongTypes, ParseChecksRangesAndNamesTheField) {
  EXPECT_EQ(Vhid::parse(1).value().value(), 1);
  EXPECT_EQ(Vhid::parse(255).value().value(), 255);
  auto zero = Vhid::parse(0, "vhids[3].vhid");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message, "vhids[3].vhid: must be between 1 and 255, got 0");
  EXPECT_FALSE(Vhid::parse(256).ok());
  EXPECT_EQ(AdvBase::parse(0).value().value(), 0);
  EXPECT_FALSE(AdvBase::parse(-1).ok());
  EXPECT_EQ(AdvSkew::parse(254).value().value(), 254);
  auto skew = AdvSkew::parse(300, "vhids[1].advskew");
  ASSERT_FALSE(skew.ok());
  EXPECT_EQ(skew.error().message, "vhids[1].advskew: must be between 0 and 254, got 300");
  EXPECT_FALSE(AdvSkew::parse(255).ok());  // 255 only appears in bow-out adverts
}

TEST(Ipv4Address, ParsesAndFormatsStrictDottedQuads) {
  auto a = Ipv4Address::parse("192.0.2.100");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->value(), 0xc0000264u);
  EXPECT_EQ(a->toString(), "192.0.2.100");
  EXPECT_EQ(a->toBytes(), (std::array<uint8_t, 4>{192, 0, 2, 100}));
  EXPECT_EQ(Ipv4Address::fromBytes(198, 51, 100, 7).toString(), "198.51.100.7");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "1..3.4", "1234.1.1.1"}) {
    auto r = Ipv4Address::parse(bad, "vips[0]");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().message.rfind("vips[0]: not an IPv4 address", 0), 0u) << r.error().message;
    }
  }
  // Numeric order is the HMAC order: 192.0.2.9 < 192.0.2.10 although "10" < "9" as text.
  EXPECT_LT(Ipv4Address::parse("192.0.2.9").value(), Ipv4Address::parse("192.0.2.10").value());
}

TEST(Ipv6Address, ParsesCompressedFormsAndFormatsPerRfc5952) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const Case& c : {Case{"2001:db8::1", "2001:db8::1"}, Case{"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
                        Case{"::", "::"}, Case{"::1", "::1"}, Case{"2001:db8::", "2001:db8::"},
                        Case{"2001:db8:1:0:0:1:0:0", "2001:db8:1::1:0:0"},
                        Case{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"}}) {
    auto a = Ipv6Address::parse(c.in);
    ASSERT_TRUE(a.ok()) << c.in;
    EXPECT_EQ(a->toString(), c.out) << c.in;
  }
  auto a = Ipv6Address::parse("2001:db8::1").value();
  EXPECT_EQ(a.bytes[0], 0x20);
  EXPECT_EQ(a.bytes[1], 0x01);
  EXPECT_EQ(a.bytes[15], 0x01);
  for (const char* bad : {"", ":", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "2001:db8::1::2", "12345::", "g::", "fe80::1%eth0",
                          "1:2:3:4:5:6:7::8"}) {
    EXPECT_FALSE(Ipv6Address::parse(bad).ok()) << bad;
  }
}

TEST(Names, EveryEnumValueHasAUniqueSnakeCaseName) {
  auto snake = [](std::string_view s) {
    if (s.empty() || s == "unknown") {
      return false;
    }
    for (char c : s) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
        return false;
      }
    }
    return true;
  };
  std::set<std::string_view> reasons;
  for (std::size_t i = 0; i < ReasonCount; ++i) {
    auto n = toString(static_cast<Reason>(i));
    EXPECT_TRUE(snake(n)) << i;
    reasons.insert(n);
  }
  EXPECT_EQ(reasons.size(), ReasonCount);
  std::set<std::string_view> drops;
  for (std::size_t i = 0; i < DropReasonCount; ++i) {
    auto n = toString(static_cast<DropReason>(i));
    EXPECT_TRUE(snake(n)) << i;
    drops.insert(n);
  }
  EXPECT_EQ(drops.size(), DropReasonCount);
  EXPECT_EQ(toString(Reason::MasterDown), "master_down");
  EXPECT_EQ(toString(DropReason::BadHmac), "bad_hmac");
  EXPECT_EQ(toString(State::Backup), "backup");
  EXPECT_EQ(stateName(State::Master), "MASTER");
}

TEST(DropCounters, CountsPerReason) {
  DropCounters c;
  c.add(DropReason::BadTtl);
  c.add(DropReason::BadTtl);
  c.add(DropReason::Replayed);
  EXPECT_EQ(c.get(DropReason::BadTtl), 2u);
  EXPECT_EQ(c.get(DropReason::Replayed), 1u);
  EXPECT_EQ(c.get(DropReason::BadHmac), 0u);
  EXPECT_EQ(c.total(), 3u);
}

}  // namespace
}  // namespace carplb::agent::carp
