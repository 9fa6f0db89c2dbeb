#include "controller/core/ip.h"

#include <gtest/gtest.h>

namespace carplb::controller::core {
namespace {

TEST(IpTest, ParsesStrictDottedQuads) {
  EXPECT_EQ(parseIpv4("192.0.2.10")->value, 0xC000020Au);
  EXPECT_EQ(parseIpv4("0.0.0.0")->value, 0u);
  EXPECT_EQ(parseIpv4("255.255.255.255")->value, 0xFFFFFFFFu);
  EXPECT_EQ(parseIpv4("203.0.113.7")->toString(), "203.0.113.7");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "a.b.c.d",
                          "1..2.3", "1.2.3.-4", "2001:db8::1", "1.2.3.4/32", "1234.1.1.1"}) {
    EXPECT_FALSE(parseIpv4(bad)) << bad;
  }
}

TEST(IpTest, RecognisesIpv6) {
  EXPECT_TRUE(isIpv6("2001:db8::1"));
  EXPECT_TRUE(isIpv6("::1"));
  EXPECT_FALSE(isIpv6("192.0.2.1"));
  EXPECT_FALSE(isIpv6("2001:db8::zz"));
  EXPECT_FALSE(isIpv6(""));
}

TEST(IpTest, ParsesCidrsAndRanges) {
  auto r = parseIpv4Range("192.0.2.0/24").value();
  EXPECT_EQ(r.first.toString(), "192.0.2.1");  // network and broadcast skipped
  EXPECT_EQ(r.last.toString(), "192.0.2.254");
  EXPECT_EQ(r.size(), 254u);
  auto one = parseIpv4Range("192.0.2.10/32").value();
  EXPECT_EQ(one.size(), 1u);
  auto two = parseIpv4Range("192.0.2.10/31").value();
  EXPECT_EQ(two.size(), 2u);
  auto range = parseIpv4Range("198.51.100.10-198.51.100.20").value();
  EXPECT_EQ(range.size(), 11u);
  EXPECT_TRUE(range.contains(parseIpv4("198.51.100.15").value()));
  EXPECT_FALSE(range.contains(parseIpv4("198.51.100.21").value()));
  EXPECT_NE(parseIpv4Range("192.0.2.1/24").error().message.find("host bits"), std::string::npos);
  EXPECT_NE(parseIpv4Range("192.0.2.0/33").error().message.find("prefix length"), std::string::npos);
  EXPECT_NE(parseIpv4Range("192.0.2.9-192.0.2.1").error().message.find("before its start"), std::string::npos);
  EXPECT_FALSE(parseIpv4Range("192.0.2.0"));
  EXPECT_FALSE(parseIpv4Range("192.0.2.0/"));
  EXPECT_FALSE(parseIpv4Range("x-y"));
}

}  // namespace
}  // namespace carplb::controller::core
