// carplb-carp-bench: cost of the CARP receive and send paths, per packet (std::chrono).
//   decode       decodeAdvert() of a valid 56-byte IPv4 packet
//   verify       HmacKey::verify() (HMAC-SHA1, OpenSSL) of a valid advert
//   receive      decode + VirtualHost::advertReceived() (BACKUP restarting master-down)
//   bad_hmac     decode + advertReceived() of a foreign-speaker packet (flood case)
//   send         VirtualHost::timerFired() as MASTER + encodeIpv4Packet()
//   ref_hmac     reference, same run: OpenSSL's one-shot HMAC() over the same message
//                (what a non-prepared implementation pays per packet)
// Usage: carplb-carp-bench [--iterations N]   (default 200000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "agent/carp/advert.h"
#include "agent/carp/vhost.h"

using namespace carplb;
using namespace carplb::agent::carp;

namespace {

volatile uint64_t sink = 0;

template <typename F>
void measure(const char* name, long iterations, F&& f) {
  for (long i = 0; i < iterations / 10; ++i) {
    f(i);  // warm-up
  }
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    f(i);
  }
  auto elapsed = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("%-10s %10.1f ns/op %12.0f op/s\n", name, elapsed / iterations, 1e9 * iterations / elapsed);
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 200000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0) {
      iterations = std::atol(argv[i + 1]);
    }
  }
  if (iterations <= 0) {
    std::fprintf(stderr, "--iterations: must be positive\n");
    return 2;
  }
  const Ipv4Address vip = Ipv4Address::fromBytes(192, 0, 2, 100);
  const Ipv4Address peer = Ipv4Address::fromBytes(192, 0, 2, 2);
  VhostConfig c;
  c.vhid = Vhid(42);
  c.advskew = AdvSkew(100);
  c.password = "love";
  c.vips = {vip};
  auto key = HmacKey::prepare("love", Vhid(42), {vip}).value();
  auto foreignKey = HmacKey::prepare("hate", Vhid(42), {vip}).value();

  Advert a;
  a.vhid = 42;
  a.advbase = 1;
  a.advskew = 0;
  a.counter = 0x1122334455667788ull;
  a.hmac = key.compute(a.counter);
  auto good = encodeIpv4Packet(a, peer);
  Advert f = a;
  f.hmac = foreignKey.compute(f.counter);
  auto foreign = encodeIpv4Packet(f, peer);

  std::printf("iterations %ld\n", iterations);
  measure("decode", iterations, [&](long) { sink = sink + decodeAdvert(good)->advert.counter; });
  measure("verify", iterations, [&](long) { sink = sink + (key.verify(a) ? 1 : 0); });
  std::vector<uint8_t> msg = key.messagePrefix();
  for (int i = 0; i < 8; ++i) {
    msg.push_back(static_cast<uint8_t>(a.counter >> (56 - 8 * i)));
  }
  measure("ref_hmac", iterations, [&](long) {
    unsigned char md[20];
    unsigned int len = 0;
    HMAC(EVP_sha1(), "love", 4, msg.data(), msg.size(), md, &len);
    sink = sink + md[0];
  });

  VirtualHost backup = VirtualHost::create(c, 1).value();
  TimePoint now{};
  (void)backup.start(now);
  measure("receive", iterations, [&](long i) {
    auto d = decodeAdvert(good);
    sink = sink + backup.advertReceived(*d, now + std::chrono::microseconds(i)).size();
  });
  if (backup.state() != State::Backup || backup.stats().advertsReceived == 0) {
    std::fprintf(stderr, "receive path did not accept the adverts\n");
    return 1;
  }
  measure("bad_hmac", iterations, [&](long) {
    auto d = decodeAdvert(foreign);
    sink = sink + backup.advertReceived(*d, now).size();
  });

  c.advskew = AdvSkew(0);
  VirtualHost master = VirtualHost::create(c, 1).value();
  (void)master.start(now);
  (void)master.timerFired(now + std::chrono::seconds(3));
  if (master.state() != State::Master) {
    std::fprintf(stderr, "could not become master\n");
    return 1;
  }
  TimePoint t = now + std::chrono::seconds(3);
  measure("send", iterations, [&](long) {
    t += std::chrono::seconds(1);
    auto out = master.timerFired(t);
    for (const auto& act : out) {
      if (auto* s = std::get_if<SendAdvert>(&act)) {
        sink = sink + encodeIpv4Packet(s->advert, peer)[55];
      }
    }
  });
  return 0;
}
