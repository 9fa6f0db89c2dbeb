#pragma once
// HMAC-SHA1 of a vhid (/work/shared/docs/carp-protocol.md section 2).
//
// Key = the password (at most 19 bytes). Message, in order:
//   0x02 0x01, vhid, IPv4 addresses sorted numerically (4 bytes each, network order),
//   IPv6 addresses sorted with memcmp (16 bytes each), the 8 counter bytes as on the wire.
// With exactly one IPv4 address this is byte-identical to ucarp, OpenBSD and FreeBSD.
//
// Prepared once per vhid (rebuild it when the password or addresses change): an OpenSSL 3
// EVP_MAC HMAC-SHA1 context is keyed and fed the prefix once; each compute() duplicates it and
// adds only the counter (what carp_hmac_prepare does in the kernels). verify() compares in
// constant time (CRYPTO_memcmp). Copyable; not for concurrent use from several threads.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/carp/advert.h"
#include "agent/carp/types.h"
#include "common/result.h"

struct evp_mac_ctx_st;  // OpenSSL's EVP_MAC_CTX, kept out of this header

namespace carplb::agent::carp {

inline constexpr std::size_t MaxPasswordLength = 19;

class HmacKey {
public:
  // Errors (config errors, name the field): password longer than 19 bytes.
  // Addresses are sorted and de-duplicated here; order of the arguments does not matter.
  static Result<HmacKey> prepare(std::string_view password, Vhid vhid,
                                 std::vector<Ipv4Address> ipv4,
                                 std::vector<Ipv6Address> ipv6 = {});

  // HMAC-SHA1 over the prepared prefix and `counter` (big-endian, as on the wire).
  Hmac compute(uint64_t counter) const;
  // Constant-time comparison of advert.hmac with compute(advert.counter). The advert's
  // vhid is not re-checked here (the prefix already binds our vhid into the MAC).
  bool verify(const Advert& advert) const;

  Vhid vhid() const { return vhid_; }
  // The message bytes before the counter (02 01 vhid addresses...); for tests and docs.
  const std::vector<uint8_t>& messagePrefix() const { return prefix_; }

  HmacKey(const HmacKey& other);
  HmacKey& operator=(const HmacKey& other);
  HmacKey(HmacKey&&) noexcept = default;
  HmacKey& operator=(HmacKey&&) noexcept = default;
  ~HmacKey() = default;

private:
  struct CtxDeleter {
    void operator()(evp_mac_ctx_st* ctx) const;
  };
  using CtxPtr = std::unique_ptr<evp_mac_ctx_st, CtxDeleter>;
  HmacKey(Vhid vhid, std::vector<uint8_t> prefix, CtxPtr prepared)
      : vhid_(vhid), prefix_(std::move(prefix)), prepared_(std::move(prepared)) {}
  Vhid vhid_;
  std::vector<uint8_t> prefix_;
  CtxPtr prepared_;  // keyed, prefix absorbed; never finalised (compute() works on a copy)
};

}  // namespace carplb::agent::carp
