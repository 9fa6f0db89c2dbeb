#include "agent/carp/hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

namespace carplb::agent::carp {

Result<HmacKey> HmacKey::prepare(std::string_view password, Vhid vhid, std::vector<Ipv4Address> ipv4,
                                 std::vector<Ipv6Address> ipv6) {
  if (password.size() > MaxPasswordLength) {
    return makeError("vhid " + std::to_string(vhid.value()) + ": password: must be at most " +
                     std::to_string(MaxPasswordLength) + " bytes, got " + std::to_string(password.size()));
  }
  std::sort(ipv4.begin(), ipv4.end());
  ipv4.erase(std::unique(ipv4.begin(), ipv4.end()), ipv4.end());
  std::sort(ipv6.begin(), ipv6.end());
  ipv6.erase(std::unique(ipv6.begin(), ipv6.end()), ipv6.end());

  std::vector<uint8_t> prefix{CarpVersion, CarpTypeAdvertisement, vhid.value()};
  for (const auto& a : ipv4) {
    auto b = a.toBytes();
    prefix.insert(prefix.end(), b.begin(), b.end());
  }
  for (const auto& a : ipv6) {
    prefix.insert(prefix.end(), a.bytes.begin(), a.bytes.end());
  }
  return HmacKey(std::string(password), vhid, std::move(prefix));
}

Hmac HmacKey::compute(uint64_t counter) const {
  std::vector<uint8_t> msg = prefix_;
  for (int shift = 56; shift >= 0; shift -= 8) {
    msg.push_back(static_cast<uint8_t>(counter >> shift));
  }
  Hmac out{};
  unsigned int len = 0;
  // An empty key is valid HMAC; OpenSSL wants a non-null pointer even for length 0.
  static constexpr unsigned char EmptyKey[1] = {0};
  const void* key = key_.empty() ? static_cast<const void*>(EmptyKey) : static_cast<const void*>(key_.data());
  HMAC(EVP_sha1(), key, static_cast<int>(key_.size()), msg.data(), msg.size(), out.data(), &len);
  return out;
}

bool HmacKey::verify(const Advert& advert) const {
  Hmac expected = compute(advert.counter);
  return CRYPTO_memcmp(expected.data(), advert.hmac.data(), expected.size()) == 0;
}

}  // namespace carplb::agent::carp
