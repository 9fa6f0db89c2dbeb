#pragma once
// Per-vhid CARP passwords and agent credentials. PURE: OpenSSL crypto only, no I/O.
//
// Every vhid gets its own CARP password, derived from one cluster Secret, so a key
// leaked from one vhid (it is on the wire as an HMAC key only, but it is in each
// node's snapshot file) does not open the others:
//
//   key(vhid) = first 19 characters of base64url(HMAC-SHA256(clusterSecret, "carplb-vhid-<vhid>"))
//
// <vhid> is decimal without leading zeros. base64url (A-Z a-z 0-9 - _, no padding) is
// printable and shell-safe, so an operator can give ucarp the same key:
//   printf carplb-vhid-7 | openssl dgst -sha256 -hmac "$SECRET" -binary | base64 | tr '+/' '-_' | cut -c1-19
// 19 characters = 114 bits, the most CARP carries (kernels truncate at 19, ucarp refuses more).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace carplb::controller::rpc {

inline constexpr std::size_t CarpKeyMaxBytes = 19;
// A cluster secret shorter than this is refused (a short secret makes every vhid key guessable).
inline constexpr std::size_t MinClusterSecretBytes = 16;

// Errors: "clusterSecret: ..." when shorter than MinClusterSecretBytes,
// "vhid: must be between 1 and 255, got N" when out of range. The message never
// contains secret material.
Result<std::string> deriveVhidKey(std::string_view clusterSecret, int vhid);

// base64url without padding (RFC 4648 section 5).
std::string base64Url(std::string_view bytes);

// Constant-time comparison of a presented credential with the expected one. The time
// depends only on the lengths, never on where the first difference is. Empty expected
// never matches.
bool credentialMatches(std::string_view presented, std::string_view expected);

// The token from an "authorization" metadata value "Bearer <token>" (scheme
// case-insensitive, one space); nullopt for any other shape or an empty token.
std::optional<std::string_view> bearerToken(std::string_view authorizationValue);

}  // namespace carplb::controller::rpc
