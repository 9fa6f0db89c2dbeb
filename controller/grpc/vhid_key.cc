#include "controller/grpc/vhid_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cctype>

namespace carplb::controller::rpc {

std::string base64Url(std::string_view bytes) {
  static constexpr char Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += Alphabet[(v >> 18) & 63];
    out += Alphabet[(v >> 12) & 63];
    out += Alphabet[(v >> 6) & 63];
    out += Alphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned v = byte(i) << 16;
    out += Alphabet[(v >> 18) & 63];
    out += Alphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += Alphabet[(v >> 18) & 63];
    out += Alphabet[(v >> 12) & 63];
    out += Alphabet[(v >> 6) & 63];
  }
  return out;
}

Result<std::string> deriveVhidKey(std::string_view clusterSecret, int vhid) {
  if (clusterSecret.size() < MinClusterSecretBytes) {
    return makeError("clusterSecret: must be at least " + std::to_string(MinClusterSecretBytes) + " bytes, got " +
                     std::to_string(clusterSecret.size()));
  }
  if (vhid < 1 || vhid > 255) {
    return makeError("vhid: must be between 1 and 255, got " + std::to_string(vhid));
  }
  const std::string message = "carplb-vhid-" + std::to_string(vhid);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int macLen = 0;
  if (HMAC(EVP_sha256(), clusterSecret.data(), static_cast<int>(clusterSecret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &macLen) == nullptr) {
    return makeError("vhid " + std::to_string(vhid) + ": HMAC-SHA256 failed");
  }
  std::string encoded = base64Url(std::string_view(reinterpret_cast<const char*>(mac.data()), macLen));
  OPENSSL_cleanse(mac.data(), mac.size());
  encoded.resize(CarpKeyMaxBytes);
  return encoded;
}

bool credentialMatches(std::string_view presented, std::string_view expected) {
  if (expected.empty() || presented.size() != expected.size()) {
    return false;
  }
  return CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

std::optional<std::string_view> bearerToken(std::string_view value) {
  constexpr std::string_view Scheme = "bearer ";
  if (value.size() <= Scheme.size()) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < Scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != Scheme[i]) {
      return std::nullopt;
    }
  }
  std::string_view token = value.substr(Scheme.size());
  for (char c : token) {
    if (c == ' ' || c == '\t') {
      return std::nullopt;
    }
  }
  return token;
}

}  // namespace carplb::controller::rpc
