// Per-vhid key derivation and credential checks (pure).
#include <gtest/gtest.h>

#include <set>

#include "controller/grpc/vhid_key.h"

namespace carplb::controller::rpc {
namespace {

constexpr std::string_view Secret = "0123456789abcdef0123456789abcdef";

// Vectors computed independently of this code with the operator recipe from vhid_key.h:
//   printf carplb-vhid-1 | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef -binary |
//     base64 | tr '+/' '-_' | cut -c1-19
// (and Python's hmac/base64.urlsafe_b64encode for the others).
TEST(DeriveVhidKey, KnownVectors) {
  struct Vector {
    std::string_view secret;
    int vhid;
    std::string_view key;
  };
  const Vector vectors[] = {
      {Secret, 1, "wB74ewj8OSGQExDwZpN"},
      {Secret, 2, "9Eru1MxWozv3VVTEEXm"},
      {Secret, 255, "8kViGkjANdLZ0eVs0hG"},
      {"another-cluster-secret-32-bytes!!", 1, "oHtnvZ-K-Jm9vjOCVEB"},
  };
  for (const auto& v : vectors) {
    auto key = deriveVhidKey(v.secret, v.vhid);
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(*key, v.key) << "vhid " << v.vhid;
  }
}

TEST(DeriveVhidKey, EveryVhidHasItsOwnPrintableKeyOfNineteenBytes) {
  std::set<std::string> seen;
  for (int vhid = 1; vhid <= 255; ++vhid) {
    auto key = deriveVhidKey(Secret, vhid);
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->size(), CarpKeyMaxBytes);
    for (char c : *key) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << "vhid " << vhid;
    }
    seen.insert(*key);
  }
  EXPECT_EQ(seen.size(), 255u);
}

TEST(DeriveVhidKey, DependsOnTheSecret) {
  EXPECT_NE(*deriveVhidKey(Secret, 9), *deriveVhidKey("0123456789abcdef0123456789abcdeX", 9));
}

TEST(DeriveVhidKey, RefusesBadInputWithoutEchoingTheSecret) {
  auto shortSecret = deriveVhidKey("tooshort", 1);
  ASSERT_FALSE(shortSecret.ok());
  EXPECT_NE(shortSecret.error().message.find("clusterSecret: must be at least 16 bytes, got 8"), std::string::npos);
  EXPECT_EQ(shortSecret.error().message.find("tooshort"), std::string::npos);
  for (int vhid : {0, 256, -1}) {
    auto bad = deriveVhidKey(Secret, vhid);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message, "vhid: must be between 1 and 255, got " + std::to_string(vhid));
  }
}

TEST(Base64Url, Rfc4648Vectors) {
  // RFC 4648 section 10 vectors, without padding.
  EXPECT_EQ(base64Url(""), "");
  EXPECT_EQ(base64Url("f"), "Zg");
  EXPECT_EQ(base64Url("fo"), "Zm8");
  EXPECT_EQ(base64Url("foo"), "Zm9v");
  EXPECT_EQ(base64Url("foob"), "Zm9vYg");
  EXPECT_EQ(base64Url("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64Url("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Url(std::string("\xfb\xff", 2)), "-_8");  // the url-safe characters
}

TEST(Credentials, ConstantTimeMatch) {
  EXPECT_TRUE(credentialMatches("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(credentialMatches("s3cret-tokeN", "s3cret-token"));
  EXPECT_FALSE(credentialMatches("s3cret", "s3cret-token"));
  EXPECT_FALSE(credentialMatches("", ""));  // an unset token never matches
}

TEST(Credentials, BearerToken) {
  EXPECT_EQ(bearerToken("Bearer abc.def").value_or("?"), "abc.def");
  EXPECT_EQ(bearerToken("bearer abc").value_or("?"), "abc");
  EXPECT_FALSE(bearerToken("Bearer ").has_value());
  EXPECT_FALSE(bearerToken("Basic abc").has_value());
  EXPECT_FALSE(bearerToken("Bearer a b").has_value());
  EXPECT_FALSE(bearerToken("abc").has_value());
}

}  // namespace
}  // namespace carplb::controller::rpc
