#include "agent/carp/advert.h"

namespace carplb::agent::carp {
namespace {

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

void putBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

uint64_t be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

void putBe64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

uint16_t internetChecksum(std::span<const uint8_t> bytes) {
  uint32_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) {
    sum += static_cast<uint32_t>((bytes[i] << 8) | bytes[i + 1]);
  }
  if (i < bytes.size()) {
    sum += static_cast<uint32_t>(bytes[i] << 8);
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

CarpHeaderBytes encodeAdvert(const Advert& a) {
  CarpHeaderBytes b{};
  b[0] = static_cast<uint8_t>((CarpVersion << 4) | CarpTypeAdvertisement);  // 0x21
  b[1] = a.vhid;
  b[2] = a.advskew;
  b[3] = a.authlen;
  b[4] = a.demote;
  b[5] = a.advbase;
  // b[6..7] checksum, zero while summing
  putBe64(&b[8], a.counter);
  for (std::size_t i = 0; i < a.hmac.size(); ++i) {
    b[16 + i] = a.hmac[i];
  }
  putBe16(&b[6], internetChecksum(b));
  return b;
}

Decoded<Advert> decodeCarpHeader(std::span<const uint8_t> c, uint8_t ttl) {
  if (ttl != CarpTtl) {
    return DropReason::BadTtl;
  }
  if (c.size() < CarpHeaderSize) {
    return DropReason::TooShort;
  }
  if ((c[0] >> 4) != CarpVersion) {
    return DropReason::BadVersion;
  }
  if ((c[0] & 0x0f) != CarpTypeAdvertisement) {
    return DropReason::BadType;
  }
  if (internetChecksum(c.first(CarpHeaderSize)) != 0) {
    return DropReason::BadChecksum;
  }
  Advert a;
  a.vhid = c[1];
  a.advskew = c[2];
  a.authlen = c[3];
  a.demote = c[4];
  a.advbase = c[5];
  a.counter = be64(&c[8]);
  for (std::size_t i = 0; i < a.hmac.size(); ++i) {
    a.hmac[i] = c[16 + i];
  }
  return a;
}

Decoded<ReceivedAdvert> decodeAdvert(std::span<const uint8_t> p) {
  // IP layer first: it tells us where CARP starts and carries the TTL.
  if (p.size() < Ipv4HeaderSize || (p[0] >> 4) != 4) {
    return DropReason::NotIpv4;
  }
  std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  if (ihl < Ipv4HeaderSize || ihl > p.size()) {
    return DropReason::BadIpHeader;
  }
  if (p[9] != CarpProtocol) {
    return DropReason::BadProtocol;
  }
  if (p[8] != CarpTtl) {
    return DropReason::BadTtl;
  }
  // Linux raw sockets deliver tot_len in network order; it must cover the header, and a
  // packet cut short by the buffer is too short rather than "bad length".
  std::size_t totalLength = be16(&p[2]);
  if (totalLength < ihl) {
    return DropReason::BadLength;
  }
  std::size_t end = totalLength < p.size() ? totalLength : p.size();
  auto carp = p.subspan(ihl, end - ihl);
  if (carp.size() < CarpHeaderSize) {
    return DropReason::TooShort;
  }
  auto advert = decodeCarpHeader(carp, p[8]);
  if (!advert) {
    return advert.drop();
  }
  Ipv4Address source((uint32_t{p[12]} << 24) | (uint32_t{p[13]} << 16) | (uint32_t{p[14]} << 8) | p[15]);
  return ReceivedAdvert{advert.value(), source};
}

Ipv4PacketBytes encodeIpv4Packet(const Advert& advert, Ipv4Address source, uint16_t ipId,
                                 Ipv4Address destination) {
  Ipv4PacketBytes b{};
  b[0] = 0x45;
  b[1] = CarpTos;
  putBe16(&b[2], static_cast<uint16_t>(Ipv4PacketSize));
  putBe16(&b[4], ipId);
  putBe16(&b[6], 0x4000);  // DF, fragment offset 0
  b[8] = CarpTtl;
  b[9] = CarpProtocol;
  auto src = source.toBytes();
  auto dst = destination.toBytes();
  for (std::size_t i = 0; i < 4; ++i) {
    b[12 + i] = src[i];
    b[16 + i] = dst[i];
  }
  putBe16(&b[10], internetChecksum(std::span<const uint8_t>(b).first(Ipv4HeaderSize)));
  auto carp = encodeAdvert(advert);
  for (std::size_t i = 0; i < carp.size(); ++i) {
    b[Ipv4HeaderSize + i] = carp[i];
  }
  return b;
}

}  // namespace carplb::agent::carp
