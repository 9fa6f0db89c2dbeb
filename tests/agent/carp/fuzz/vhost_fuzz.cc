// Arbitrary event sequences drive one VirtualHost; invariants are checked after every step:
//  - StateChanged.from is the previous state, .to the new one, never from == to;
//  - addresses are bound exactly while MASTER; Bind only what is unbound, Unbind only bound;
//  - every SendAdvert carries a valid HMAC for the current config; bow-outs only on shutdown;
//  - nextDeadline() is set exactly when started and not INIT, and lies after `now` after a
//    timer event; a dropped packet never produces actions.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <set>

#include "agent/carp/vhost.h"

using namespace carplb;
using namespace carplb::agent::carp;

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

const Ipv4Address Vips[] = {Ipv4Address::fromBytes(192, 0, 2, 100), Ipv4Address::fromBytes(192, 0, 2, 101),
                            Ipv4Address::fromBytes(198, 51, 100, 7)};
const Ipv4Address Self = Ipv4Address::fromBytes(192, 0, 2, 1);

VhostConfig makeConfig(FuzzedDataProvider& fdp) {
  VhostConfig c;
  c.vhid = Vhid(7);
  c.advbase = AdvBase(fdp.ConsumeIntegralInRange<uint8_t>(0, 3));
  c.advskew = AdvSkew(fdp.ConsumeIntegralInRange<uint8_t>(0, 254));
  c.password = fdp.ConsumeBool() ? "love" : "other";
  c.vips = {Vips[0]};
  if (fdp.ConsumeBool()) {
    c.vips.push_back(Vips[fdp.ConsumeIntegralInRange<int>(1, 2)]);
  }
  c.preempt = fdp.ConsumeBool();
  c.preemptDelay = std::chrono::milliseconds(fdp.ConsumeIntegralInRange<int>(0, 5000));
  c.garpRefreshInterval = std::chrono::milliseconds(fdp.ConsumeIntegralInRange<int>(0, 3000));
  c.garpSecondRoundAfterAdverts = fdp.ConsumeIntegralInRange<int>(0, 3);
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  VhostConfig config = makeConfig(fdp);
  auto created = VirtualHost::create(config, fdp.ConsumeIntegral<uint64_t>());
  check(created.ok());
  VirtualHost v = std::move(created.value());
  v.setLocalAddresses({Self});
  auto peerKey = HmacKey::prepare("love", Vhid(7), {Vips[0]}).value();
  std::set<Ipv4Address> bound;
  Advert lastSent;
  bool haveSent = false;
  TimePoint now{};

  for (int i = 0; i < 200 && fdp.remaining_bytes() > 0; ++i) {
    now += std::chrono::microseconds(fdp.ConsumeIntegralInRange<int64_t>(0, 5'000'000));
    State before = v.state();
    uint8_t kind = fdp.ConsumeIntegralInRange<uint8_t>(0, 8);
    bool timer = false;
    bool isShutdown = false;
    Actions out;
    switch (kind) {
      case 0:
        out = v.start(now, fdp.ConsumeBool(), fdp.ConsumeBool());
        break;
      case 1:
        out = v.linkChanged(fdp.ConsumeBool(), now);
        break;
      case 2:
      case 3: {  // a peer advert, usually with a valid HMAC
        Advert a;
        a.vhid = fdp.ConsumeBool() ? 7 : fdp.ConsumeIntegral<uint8_t>();
        a.advbase = fdp.ConsumeIntegral<uint8_t>();
        a.advskew = fdp.ConsumeIntegral<uint8_t>();
        a.demote = fdp.ConsumeIntegralInRange<uint8_t>(0, 2);
        a.counter = fdp.ConsumeIntegral<uint64_t>();
        a.hmac = fdp.ConsumeBool() ? peerKey.compute(a.counter) : Hmac{};
        Ipv4Address from = fdp.ConsumeBool() ? Ipv4Address::fromBytes(192, 0, 2, 2) : Self;
        out = v.advertReceived({a, from}, now);
        break;
      }
      case 4:
        timer = true;
        out = v.timerFired(now);
        break;
      case 5:
        isShutdown = true;
        out = v.shutdown(now, fdp.ConsumeBool() ? Reason::Shutdown : Reason::ConfigChanged);
        break;
      case 6:
        out = v.setDemote(fdp.ConsumeIntegralInRange<uint8_t>(0, 3), now);
        break;
      case 7: {
        VhostConfig next = makeConfig(fdp);
        auto r = v.reconfigure(next, now);
        check(r.ok());
        out = std::move(r.value());
        // Only a BACKUP preempting the master it last heard may change state here.
        check(v.state() == before || (before == State::Backup && v.state() == State::Master));
        break;
      }
      case 8:
        if (haveSent) {  // our own advert reflected back
          out = v.advertReceived({lastSent, Ipv4Address::fromBytes(192, 0, 2, 3)}, now);
          check(out.dropped == DropReason::Replayed || out.dropped == DropReason::BadHmac ||
                out.dropped == DropReason::NotReady);
        }
        break;
    }

    if (out.dropped) {
      check(out.empty());
    }
    State cur = before;
    auto key = HmacKey::prepare(v.config().password, v.vhid(), v.config().vips, v.config().vips6).value();
    for (const auto& a : out) {
      if (auto* s = std::get_if<StateChanged>(&a)) {
        check(s->from == cur && s->to != s->from);
        cur = s->to;
      } else if (auto* b = std::get_if<BindAddresses>(&a)) {
        for (auto vip : b->vips) {
          check(bound.insert(vip).second);
        }
      } else if (auto* u = std::get_if<UnbindAddresses>(&a)) {
        for (auto vip : u->vips) {
          check(bound.erase(vip) == 1);
        }
      } else if (auto* sa = std::get_if<SendAdvert>(&a)) {
        check(key.verify(sa->advert));
        check(sa->advert.vhid == 7);
        check(sa->bowOut == sa->advert.isBowOut());
        check(!sa->bowOut || isShutdown);
        lastSent = sa->advert;
        haveSent = true;
      }
    }
    check(cur == v.state());
    bool master = v.state() == State::Master;
    check(v.addressesBound() == master);
    check(master ? bound == std::set<Ipv4Address>(v.config().vips.begin(), v.config().vips.end()) : bound.empty());
    check(!master || v.started());
    auto deadline = v.nextDeadline();
    check(deadline.has_value() == (v.started() && v.state() != State::Init));
    if (timer && deadline) {
      check(*deadline > now);
    }
  }
  return 0;
}
