// Byte-exact interop: adverts captured from Debian's ucarp 1.5.2 (see testdata/README.md).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "agent/carp/advert.h"
#include "agent/carp/hmac.h"

namespace carplb::agent::carp {
namespace {

std::vector<std::vector<uint8_t>> readHexLines(const std::string& name) {
  std::ifstream in(std::string(CARPLB_SOURCE_DIR) + "/tests/agent/carp/testdata/" + name);
  std::vector<std::vector<uint8_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    std::vector<uint8_t> bytes;
    for (std::size_t i = 0; i + 1 < line.size(); i += 2) {
      bytes.push_back(static_cast<uint8_t>(std::stoul(line.substr(i, 2), nullptr, 16)));
    }
    out.push_back(std::move(bytes));
  }
  return out;
}

struct Vector {
  const char* file;
  uint8_t vhid;
  const char* password;
  uint8_t advbase;
  uint8_t advskew;
  std::size_t count;
};

class UcarpVectors : public ::testing::TestWithParam<Vector> {};

TEST_P(UcarpVectors, DecodeVerifyAndReencodeByteForByte) {
  const Vector& v = GetParam();
  auto packets = readHexLines(v.file);
  ASSERT_EQ(packets.size(), v.count) << "missing testdata " << v.file;
  const Ipv4Address vip = Ipv4Address::fromBytes(192, 0, 2, 100);
  const Ipv4Address src = Ipv4Address::fromBytes(192, 0, 2, 1);
  auto key = HmacKey::prepare(v.password, Vhid(v.vhid), {vip});
  ASSERT_TRUE(key.ok());
  auto wrongKey = HmacKey::prepare("wrong", Vhid(v.vhid), {vip}).value();
  for (const auto& p : packets) {
    ASSERT_EQ(p.size(), Ipv4PacketSize);
    auto d = decodeAdvert(p);
    ASSERT_TRUE(d.ok()) << toString(d.drop());
    EXPECT_EQ(d->source, SourceAddress(src));
    EXPECT_EQ(d->advert.vhid, v.vhid);
    EXPECT_EQ(d->advert.advbase, v.advbase);
    EXPECT_EQ(d->advert.advskew, v.advskew);
    EXPECT_EQ(d->advert.demote, 0);
    EXPECT_EQ(d->advert.authlen, 7);
    EXPECT_TRUE(key->verify(d->advert)) << "HMAC with the ucarp password";
    EXPECT_FALSE(wrongKey.verify(d->advert));
    EXPECT_EQ(key->compute(d->advert.counter), d->advert.hmac);

    // Re-encode: the CARP part from our encoder, and the whole packet with ucarp's IP id.
    auto carp = encodeAdvert(d->advert);
    EXPECT_EQ(std::vector<uint8_t>(carp.begin(), carp.end()), std::vector<uint8_t>(p.begin() + 20, p.end()));
    uint16_t ipId = static_cast<uint16_t>((p[4] << 8) | p[5]);
    auto full = encodeIpv4Packet(d->advert, src, ipId);
    EXPECT_EQ(std::vector<uint8_t>(full.begin(), full.end()), p);
  }
}

INSTANTIATE_TEST_SUITE_P(Captured, UcarpVectors,
                         ::testing::Values(Vector{"ucarp_vhid42_love_b1_s10.hex", 42, "love", 1, 10, 4},
                                           Vector{"ucarp_vhid7_s3cret_b2_s100.hex", 7, "s3cret", 2, 100, 3},
                                           Vector{"ucarp_vhid200_advbase0_s20.hex", 200, "0123456789abcdefghi", 0, 20, 5}));

// The other direction: testdata/carplb_vhid42_love_b1_s0.hex was written by an independent
// python implementation (make_carplb_vectors.py) and is what interop_ucarp.sh showed a live
// ucarp 1.5.2 accepting. Our encoder must produce exactly those bytes.
TEST(CarplbVectors, EncoderReproducesTheAdvertsUcarpAccepted) {
  auto packets = readHexLines("carplb_vhid42_love_b1_s0.hex");
  ASSERT_EQ(packets.size(), 10u);
  auto key = HmacKey::prepare("love", Vhid(42), {Ipv4Address::fromBytes(192, 0, 2, 100)}).value();
  for (std::size_t i = 0; i < packets.size(); ++i) {
    Advert a;
    a.vhid = 42;
    a.advbase = 1;
    a.advskew = 0;
    a.counter = 0x1122334455667788ull + i;
    a.hmac = key.compute(a.counter);
    auto p = encodeIpv4Packet(a, Ipv4Address::fromBytes(192, 0, 2, 2));
    EXPECT_EQ(std::vector<uint8_t>(p.begin(), p.end()), packets[i]) << "advert " << i;
  }
}

}  // namespace
}  // namespace carplb::agent::carp
