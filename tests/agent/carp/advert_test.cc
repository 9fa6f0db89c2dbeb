#include "agent/carp/advert.h"

#include <gtest/gtest.h>

#include <vector>

namespace carplb::agent::carp {
namespace {

Advert sampleAdvert() {
  Advert a;
  a.vhid = 42;
  a.advbase = 1;
  a.advskew = 10;
  a.demote = 3;
  a.counter = 0x0102030405060708ull;
  for (std::size_t i = 0; i < a.hmac.size(); ++i) {
    a.hmac[i] = static_cast<uint8_t>(0xa0 + i);
  }
  return a;
}

const Ipv4Address Source = Ipv4Address::fromBytes(192, 0, 2, 1);

std::vector<uint8_t> packet(const Advert& a = sampleAdvert()) {
  auto p = encodeIpv4Packet(a, Source);
  return {p.begin(), p.end()};
}

TEST(InternetChecksum, MatchesRfc1071Example) {
  // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d.
  std::vector<uint8_t> b{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(internetChecksum(b), 0x220d);
  b.push_back(0x22);
  b.push_back(0x0d);
  EXPECT_EQ(internetChecksum(b), 0);
  std::vector<uint8_t> odd{0x01};  // odd length pads with a zero byte
  EXPECT_EQ(internetChecksum(odd), static_cast<uint16_t>(~0x0100 & 0xffff));
}

TEST(EncodeAdvert, LaysOutTheCarpHeaderByHand) {
  auto b = encodeAdvert(sampleAdvert());
  EXPECT_EQ(b[0], 0x21);
  EXPECT_EQ(b[1], 42);
  EXPECT_EQ(b[2], 10);
  EXPECT_EQ(b[3], 7);
  EXPECT_EQ(b[4], 3);
  EXPECT_EQ(b[5], 1);
  EXPECT_EQ(internetChecksum(b), 0) << "checksum field must make the 36 bytes sum to zero";
  EXPECT_EQ(std::vector<uint8_t>(b.begin() + 8, b.begin() + 16),
            (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(b[16], 0xa0);
  EXPECT_EQ(b[35], 0xa0 + 19);
}

TEST(EncodeIpv4Packet, BuildsTheStandardHeader) {
  auto p = encodeIpv4Packet(sampleAdvert(), Source, 0x1234);
  EXPECT_EQ(p.size(), 56u);
  EXPECT_EQ(p[0], 0x45);
  EXPECT_EQ(p[1], 0x10);
  EXPECT_EQ(p[2], 0);
  EXPECT_EQ(p[3], 56);
  EXPECT_EQ(p[4], 0x12);
  EXPECT_EQ(p[5], 0x34);
  EXPECT_EQ(p[6], 0x40);  // DF
  EXPECT_EQ(p[7], 0);
  EXPECT_EQ(p[8], 255);
  EXPECT_EQ(p[9], 112);
  EXPECT_EQ(internetChecksum(std::span<const uint8_t>(p).first(20)), 0);
  EXPECT_EQ((std::vector<uint8_t>(p.begin() + 12, p.begin() + 16)), (std::vector<uint8_t>{192, 0, 2, 1}));
  EXPECT_EQ((std::vector<uint8_t>(p.begin() + 16, p.begin() + 20)), (std::vector<uint8_t>{224, 0, 0, 18}));
}

TEST(DecodeAdvert, RoundTripsAndReportsTheSource) {
  auto d = decodeAdvert(packet());
  ASSERT_TRUE(d.ok()) << toString(d.drop());
  EXPECT_EQ(d->advert, sampleAdvert());
  EXPECT_EQ(d->source, SourceAddress(Source));
  // Trailing bytes beyond the IP total length (e.g. Ethernet padding) are ignored.
  auto padded = packet();
  padded.resize(64, 0xee);
  EXPECT_TRUE(decodeAdvert(padded).ok());
}

// One named case per decode-level DropReason (the VirtualHost-level ones are in vhost_test.cc).
TEST(DecodeAdvert, GauntletReportsEachDropReason) {
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    DropReason want;
  };
  std::vector<Case> cases;
  cases.push_back({"empty buffer", {}, DropReason::NotIpv4});
  const std::vector<uint8_t> good = packet();
  cases.push_back({"19 bytes", std::vector<uint8_t>(good.begin(), good.begin() + 19), DropReason::NotIpv4});
  {
    auto p = packet();
    p[0] = 0x65;  // IPv6 version nibble
    cases.push_back({"ip version 6", p, DropReason::NotIpv4});
  }
  {
    auto p = packet();
    p[0] = 0x44;  // IHL 4 (16 bytes)
    cases.push_back({"ihl below 5", p, DropReason::BadIpHeader});
  }
  {
    auto p = std::vector<uint8_t>(good.begin(), good.begin() + 24);
    p[0] = 0x47;  // IHL 7 = 28 bytes > 24 available
    cases.push_back({"ihl beyond buffer", p, DropReason::BadIpHeader});
  }
  {
    auto p = packet();
    p[9] = 17;
    cases.push_back({"udp", p, DropReason::BadProtocol});
  }
  {
    auto p = packet();
    p[8] = 1;  // routed from elsewhere
    cases.push_back({"ttl 1", p, DropReason::BadTtl});
  }
  cases.push_back({"truncated carp", std::vector<uint8_t>(good.begin(), good.begin() + 55), DropReason::TooShort});
  {
    auto p = packet();
    p[3] = 40;  // total length says 40: CARP part only 20 bytes (a VRRPv2 packet with one address)
    cases.push_back({"total length covers 20 carp bytes", p, DropReason::TooShort});
  }
  {
    auto p = packet();
    p[2] = 0;
    p[3] = 10;  // shorter than the IP header itself
    cases.push_back({"total length below header", p, DropReason::BadLength});
  }
  {
    auto p = packet();
    p[20] = 0x31;  // VRRPv3 advertisement on protocol 112
    cases.push_back({"vrrp v3", p, DropReason::BadVersion});
  }
  {
    auto p = packet();
    p[20] = 0x22;
    cases.push_back({"type 2", p, DropReason::BadType});
  }
  {
    auto p = packet();
    p[22] ^= 0x01;  // advskew edited without fixing the checksum
    cases.push_back({"bad checksum", p, DropReason::BadChecksum});
  }
  for (const auto& c : cases) {
    auto d = decodeAdvert(c.bytes);
    ASSERT_FALSE(d.ok()) << c.name;
    EXPECT_EQ(d.drop(), c.want) << c.name << ": got " << toString(d.drop());
  }
}

TEST(DecodeCarpHeader, ChecksTtlFromTheCallerAndLengthOfTheHeader) {
  auto h = encodeAdvert(sampleAdvert());
  EXPECT_TRUE(decodeCarpHeader(h, 255).ok());
  EXPECT_EQ(decodeCarpHeader(h, 64).drop(), DropReason::BadTtl);
  EXPECT_EQ(decodeCarpHeader(std::span<const uint8_t>(h).first(35), 255).drop(), DropReason::TooShort);
  EXPECT_EQ(decodeCarpHeader(h, 255).value(), sampleAdvert());
}

TEST(Advert, BowOutIsAdvbaseAndAdvskew255) {
  Advert a = sampleAdvert();
  EXPECT_FALSE(a.isBowOut());
  a.advbase = 255;
  a.advskew = 255;
  EXPECT_TRUE(a.isBowOut());
}

}  // namespace
}  // namespace carplb::agent::carp
