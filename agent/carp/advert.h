#pragma once
// CARP v2 advertisement on the wire (/work/shared/docs/carp-protocol.md section 1).
//
//   offset size field
//   0      1    version<<4 | type       0x21 (built by hand, no bitfields)
//   1      1    vhid
//   2      1    advskew
//   3      1    authlen                  7
//   4      1    demote                   OpenBSD demotion count, 0 from FreeBSD/ucarp
//   5      1    advbase
//   6      2    checksum                 Internet checksum over these 36 bytes only
//   8      8    counter                  big-endian (two 32-bit words, high first)
//   16     20   md                       HMAC-SHA1 (hmac.h)
#include <array>
#include <cstdint>
#include <span>
#include <variant>

#include "agent/carp/types.h"

namespace carplb::agent::carp {

inline constexpr std::size_t CarpHeaderSize = 36;
inline constexpr std::size_t Ipv4HeaderSize = 20;
inline constexpr std::size_t Ipv4PacketSize = Ipv4HeaderSize + CarpHeaderSize;  // 56
inline constexpr uint8_t CarpProtocol = 112;
inline constexpr uint8_t CarpTtl = 255;
inline constexpr uint8_t CarpVersion = 2;
inline constexpr uint8_t CarpTypeAdvertisement = 1;
inline constexpr uint8_t CarpAuthLen = 7;
inline constexpr uint8_t CarpTos = 0x10;  // OpenBSD and ucarp; nobody checks it
inline constexpr Ipv4Address CarpGroupV4 = Ipv4Address::fromBytes(224, 0, 0, 18);
inline constexpr uint8_t BowOutAdvBase = 255;
inline constexpr uint8_t BowOutAdvSkew = 255;

using Hmac = std::array<uint8_t, 20>;
using CarpHeaderBytes = std::array<uint8_t, CarpHeaderSize>;
using Ipv4PacketBytes = std::array<uint8_t, Ipv4PacketSize>;

// Wire fields exactly as carried (advskew may be 255 in a bow-out, so raw bytes here).
struct Advert {
  uint8_t vhid = 0;
  uint8_t advbase = 0;
  uint8_t advskew = 0;
  uint8_t demote = 0;
  uint8_t authlen = CarpAuthLen;  // always 7 when we send; kept as received when decoding
  uint64_t counter = 0;
  Hmac hmac{};

  bool isBowOut() const { return advbase == BowOutAdvBase && advskew == BowOutAdvSkew; }
  friend bool operator==(const Advert&, const Advert&) = default;
};

// A decoded advert plus what the receiver knows about the packet.
struct ReceivedAdvert {
  Advert advert;
  SourceAddress source;
  friend bool operator==(const ReceivedAdvert&, const ReceivedAdvert&) = default;
};

// Advert-or-DropReason (untrusted input never throws).
template <typename T>
class Decoded {
public:
  Decoded(T value) : v_(std::move(value)) {}     // NOLINT(google-explicit-constructor)
  Decoded(DropReason r) : v_(r) {}                // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const { return std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  DropReason drop() const { return std::get<1>(v_); }

private:
  std::variant<T, DropReason> v_;
};

// RFC 1071 Internet checksum (one's complement of the one's complement sum), in host order:
// write it big-endian. Over a buffer that contains a correct checksum it returns 0.
uint16_t internetChecksum(std::span<const uint8_t> bytes);

// The 36-byte CARP header with the checksum filled in.
CarpHeaderBytes encodeAdvert(const Advert& advert);

// Parses a CARP header (at least 36 bytes; extra bytes ignored) whose TTL/hop limit the
// caller learnt from the IP layer (IPv6 shells get it from IPV6_RECVHOPLIMIT).
// Gauntlet, cheapest first: TTL, length, version, type, checksum. (OpenBSD checks the
// checksum before the version; we test the two nibbles first because it is cheaper and a
// VRRPv3 packet then shows up as bad_version, which is the more useful reason.)
// authlen is not checked (no implementation does); vhid/HMAC/replay are checked by the
// runtime and VirtualHost, which know the configured vhids and keys.
Decoded<Advert> decodeCarpHeader(std::span<const uint8_t> carp, uint8_t ttl);

// Parses a full IPv4 packet as a raw IPPROTO_CARP socket delivers it (IP header + CARP):
// IP version, IHL, protocol 112, TTL 255, total length, then decodeCarpHeader().
Decoded<ReceivedAdvert> decodeAdvert(std::span<const uint8_t> packet);

// Builds the complete 56-byte IPv4 packet: 0x45, TOS 0x10, total length 56, `ipId`, DF,
// TTL 255, protocol 112, header checksum, source, destination 224.0.0.18, then the advert.
// For tests and for senders that use IP_HDRINCL.
Ipv4PacketBytes encodeIpv4Packet(const Advert& advert, Ipv4Address source, uint16_t ipId = 0,
                                 Ipv4Address destination = CarpGroupV4);

}  // namespace carplb::agent::carp
