// Arbitrary bytes -> decodeAdvert / decodeCarpHeader: never crash, and whatever decodes
// re-encodes to an advert that decodes to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "agent/carp/advert.h"

using namespace carplb::agent::carp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto d = decodeAdvert(bytes);
  if (d.ok()) {
    auto source = std::get<Ipv4Address>(d->source);
    auto again = decodeAdvert(encodeIpv4Packet(d->advert, source));
    if (!again.ok() || again->advert != d->advert || again->source != d->source) {
      std::abort();
    }
  } else if (static_cast<std::size_t>(d.drop()) >= DropReasonCount) {
    std::abort();
  }
  if (size > 0) {
    auto h = decodeCarpHeader(bytes.subspan(1), data[0]);
    if (h.ok()) {
      auto e = encodeAdvert(h.value());
      auto back = decodeCarpHeader(e, CarpTtl);
      if (!back.ok() || back.value() != h.value()) {
        std::abort();
      }
    }
  }
  // Structured path: a valid packet built from the input, then one byte overwritten, so the
  // accepting path and every checksum/field check are reached without a seed corpus.
  if (size >= 34) {
    Advert a;
    a.vhid = data[0];
    a.advbase = data[1];
    a.advskew = data[2];
    a.demote = data[3];
    uint64_t counter = 0;
    for (int i = 0; i < 8; ++i) {
      counter = (counter << 8) | data[4 + i];
    }
    a.counter = counter;
    for (std::size_t i = 0; i < a.hmac.size(); ++i) {
      a.hmac[i] = data[12 + i];
    }
    Ipv4Address src((uint32_t{data[32]} << 24) | data[33]);
    auto packet = encodeIpv4Packet(a, src);
    auto ok = decodeAdvert(packet);
    if (!ok.ok() || ok->advert != a || ok->source != SourceAddress(src)) {
      std::abort();
    }
    if (size >= 36) {
      packet[data[34] % packet.size()] = data[35];
      auto m = decodeAdvert(packet);
      if (m.ok()) {  // still valid (e.g. the byte kept its value): must round-trip
        auto r = decodeAdvert(encodeIpv4Packet(m->advert, std::get<Ipv4Address>(m->source)));
        if (!r.ok() || r->advert != m->advert) {
          std::abort();
        }
      }
    }
  }
  return 0;
}
