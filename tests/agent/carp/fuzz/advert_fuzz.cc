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
  return 0;
}
