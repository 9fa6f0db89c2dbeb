#include "bench/probe/probe_wire.h"

#include <gtest/gtest.h>

namespace carplb::bench::probe {
namespace {

TEST(ProbeWire, RequestRoundTripsBigEndian) {
  auto bytes = encodeRequest({7, 0x0102030405060708ULL});
  ASSERT_EQ(bytes.size(), RequestSize);
  EXPECT_EQ(bytes[0], 'C');
  EXPECT_EQ(bytes[3], 'P');
  EXPECT_EQ(bytes[7], 7);
  EXPECT_EQ(bytes[8], 0x01);
  EXPECT_EQ(bytes[15], 0x08);
  auto back = decodeRequest(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->target, 7u);
  EXPECT_EQ(back->seq, 0x0102030405060708ULL);
}

TEST(ProbeWire, ReplyCarriesResponderName) {
  auto bytes = encodeReply({1, 42}, "node2");
  ASSERT_TRUE(bytes.ok());
  auto back = decodeReply(*bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->request.seq, 42u);
  EXPECT_EQ(back->request.target, 1u);
  EXPECT_EQ(back->responder, "node2");
}

TEST(ProbeWire, RejectsShortForeignAndBadNames) {
  std::vector<uint8_t> shortBuf(5, 0);
  auto a = decodeRequest(shortBuf);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("length"), std::string::npos);

  auto foreign = encodeRequest({0, 1});
  foreign[0] = 'X';
  auto b = decodeRequest(foreign);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("magic"), std::string::npos);

  // A request without a name is not a reply.
  auto c = decodeReply(encodeRequest({0, 1}));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("responder"), std::string::npos);

  EXPECT_FALSE(encodeReply({0, 1}, "").ok());
  EXPECT_FALSE(encodeReply({0, 1}, "bad name").ok());
  EXPECT_FALSE(encodeReply({0, 1}, std::string(65, 'a')).ok());
  EXPECT_TRUE(encodeReply({0, 1}, std::string(64, 'a')).ok());

  auto withBinary = encodeRequest({0, 1});
  withBinary.push_back(0);
  EXPECT_FALSE(decodeReply(withBinary).ok());
}

TEST(ProbeWire, NeverCrashesOnAnyShortInput) {
  std::vector<uint8_t> buf;
  for (int len = 0; len < 40; ++len) {
    buf.assign(static_cast<size_t>(len), static_cast<uint8_t>(len * 37));
    (void)decodeRequest(buf);
    (void)decodeReply(buf);
  }
  SUCCEED();
}

}  // namespace
}  // namespace carplb::bench::probe
