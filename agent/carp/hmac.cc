#include "agent/carp/hmac.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstdlib>

namespace carplb::agent::carp {
namespace {

// Keyed HMAC-SHA1 context with `prefix` absorbed; nullptr if OpenSSL fails (out of memory or
// no SHA1 provider), which the caller reports as an error.
evp_mac_ctx_st* prepareContext(std::string_view password, const std::vector<uint8_t>& prefix) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) {
    return nullptr;
  }
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  if (ctx == nullptr) {
    return nullptr;
  }
  char digest[] = "SHA1";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  // An empty key is valid HMAC; OpenSSL wants a non-null pointer even for length 0.
  static constexpr unsigned char EmptyKey[1] = {0};
  const auto* key = password.empty() ? EmptyKey : reinterpret_cast<const unsigned char*>(password.data());
  if (EVP_MAC_init(ctx, key, password.size(), params) != 1 || EVP_MAC_update(ctx, prefix.data(), prefix.size()) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

void HmacKey::CtxDeleter::operator()(evp_mac_ctx_st* ctx) const { EVP_MAC_CTX_free(ctx); }

HmacKey::HmacKey(const HmacKey& other) : vhid_(other.vhid_), prefix_(other.prefix_) {
  if (other.prepared_) {  // a moved-from key copies as moved-from (computes nothing valid)
    prepared_.reset(EVP_MAC_CTX_dup(other.prepared_.get()));
    if (!prepared_) {
      std::abort();  // out of memory duplicating a small context: nothing sensible to return
    }
  }
}

HmacKey& HmacKey::operator=(const HmacKey& other) {
  if (this != &other) {
    HmacKey copy(other);
    *this = std::move(copy);
  }
  return *this;
}

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
  CtxPtr ctx(prepareContext(password, prefix));
  if (!ctx) {
    return makeError("vhid " + std::to_string(vhid.value()) + ": password: OpenSSL could not prepare HMAC-SHA1",
                     /*retryable=*/true);
  }
  return HmacKey(vhid, std::move(prefix), std::move(ctx));
}

Hmac HmacKey::compute(uint64_t counter) const {
  Hmac out{};
  uint8_t ctr[8];
  for (int i = 0; i < 8; ++i) {
    ctr[i] = static_cast<uint8_t>(counter >> (56 - 8 * i));
  }
  if (!prepared_) {
    return Hmac{};  // moved-from key
  }
  CtxPtr ctx(EVP_MAC_CTX_dup(prepared_.get()));
  std::size_t len = 0;
  if (!ctx || EVP_MAC_update(ctx.get(), ctr, sizeof ctr) != 1 || EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 ||
      len != out.size()) {
    // Only on allocation failure (or a moved-from key). An all-zero MAC never verifies against a real one, so
    // receivers drop the packet and peers drop what we send: fail closed, never crash.
    return Hmac{};
  }
  return out;
}

bool HmacKey::verify(const Advert& advert) const {
  Hmac expected = compute(advert.counter);
  if (expected == Hmac{}) {
    return false;  // compute() failed (see above): never accept
  }
  return CRYPTO_memcmp(expected.data(), advert.hmac.data(), expected.size()) == 0;
}

}  // namespace carplb::agent::carp
