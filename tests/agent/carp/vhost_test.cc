#include "agent/carp/vhost.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fakes/fake_clock.h"

namespace carplb::agent::carp {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const Ipv4Address Vip = Ipv4Address::fromBytes(192, 0, 2, 100);
const Ipv4Address Vip2 = Ipv4Address::fromBytes(192, 0, 2, 101);
const Ipv4Address Self = Ipv4Address::fromBytes(192, 0, 2, 1);
const Ipv4Address PeerAddr = Ipv4Address::fromBytes(192, 0, 2, 2);

VhostConfig baseConfig() {
  VhostConfig c;
  c.vhid = Vhid(42);
  c.advbase = AdvBase(1);
  c.advskew = AdvSkew(10);
  c.password = "love";
  c.vips = {Vip};
  return c;
}

VirtualHost makeHost(const VhostConfig& c = baseConfig(), uint64_t counter = 1000) {
  auto v = VirtualHost::create(c, counter);
  EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().message);
  VirtualHost host = std::move(v.value());
  host.setLocalAddresses({Self});
  return host;
}

// Another node speaking on the same vhid (same password and VIPs unless told otherwise).
class Peer {
public:
  explicit Peer(const VhostConfig& c = baseConfig(), std::string password = "")
      : key_(HmacKey::prepare(password.empty() ? c.password : password, c.vhid, c.vips, c.vips6).value()),
        vhid_(c.vhid.value()) {}
  ReceivedAdvert advert(uint8_t advbase, uint8_t advskew, uint8_t demote = 0, Ipv4Address from = PeerAddr) {
    Advert a;
    a.vhid = vhid_;
    a.advbase = advbase;
    a.advskew = advskew;
    a.demote = demote;
    a.counter = counter_++;
    a.hmac = key_.compute(a.counter);
    return ReceivedAdvert{a, from};
  }

private:
  HmacKey key_;
  uint8_t vhid_;
  uint64_t counter_ = 0x5000;
};

std::vector<std::string_view> names(const Actions& a) {
  std::vector<std::string_view> out;
  for (const auto& x : a) {
    out.push_back(actionName(x));
  }
  return out;
}

std::optional<StateChanged> transition(const Actions& a) {
  for (const auto& x : a) {
    if (auto* s = std::get_if<StateChanged>(&x)) {
      return *s;
    }
  }
  return std::nullopt;
}

template <typename T>
const T* find(const Actions& a) {
  for (const auto& x : a) {
    if (auto* s = std::get_if<T>(&x)) {
      return s;
    }
  }
  return nullptr;
}

// ----- scenario tables ------------------------------------------------------------------------
struct Step {
  std::string name;
  Duration at;  // since t0
  Event event;
  State state;                              // expected state afterwards
  std::vector<std::string_view> actions;    // expected action names, in order
  std::optional<Reason> reason = {};        // expected transition reason (when a transition)
  std::optional<DropReason> drop = {};      // expected drop
};

void run(VirtualHost& v, TimePoint t0, const std::vector<Step>& steps) {
  for (const auto& s : steps) {
    SCOPED_TRACE("step \"" + s.name + "\"");
    Actions out = v.step(s.event, t0 + s.at);
    EXPECT_EQ(v.state(), s.state) << "state " << toString(v.state());
    EXPECT_EQ(names(out), s.actions);
    auto t = transition(out);
    if (s.reason) {
      ASSERT_TRUE(t.has_value());
      EXPECT_EQ(t->reason, *s.reason) << toString(t->reason);
      EXPECT_EQ(t->to, s.state);
    } else {
      EXPECT_FALSE(t.has_value()) << "unexpected transition, reason " << toString(t->reason);
    }
    EXPECT_EQ(out.dropped, s.drop);
    EXPECT_EQ(v.addressesBound(), v.state() == State::Master);
  }
}

const Duration T = advertInterval(1, 10);         // 1.0390625 s
const Duration MD = masterDownInterval(1, 10);    // 3.0390625 s
const std::vector<std::string_view> BecomeMaster{"state_changed", "bind_addresses", "send_advert",
                                                 "send_gratuitous_arp"};
const std::vector<std::string_view> LeaveMaster{"state_changed", "unbind_addresses"};
const std::vector<std::string_view> Transition{"state_changed"};
const std::vector<std::string_view> None{};

TEST(VirtualHostScenario, LifeOfOneVhid) {
  testing::FakeClock clock;
  TimePoint t0 = clock.now();
  VirtualHost v = makeHost();
  Peer peer;
  Duration heardAt = MD + 3 * T + milliseconds(400);
  run(v, t0,
      {
          {"start with link up enters BACKUP", seconds(0), StartEvent{true}, State::Backup, Transition, Reason::Startup},
          {"timer 1 ns early does nothing", MD - nanoseconds(1), TimerEvent{}, State::Backup, None},
          {"master-down timer fires", MD, TimerEvent{}, State::Master, BecomeMaster, Reason::MasterDown},
          {"advert after T", MD + T, TimerEvent{}, State::Master, {"send_advert"}},
          {"second advert brings GARP round 2", MD + 2 * T, TimerEvent{}, State::Master,
           {"send_advert", "send_gratuitous_arp"}},
          {"third advert", MD + 3 * T, TimerEvent{}, State::Master, {"send_advert"}},
          {"slower master heard while MASTER is ignored", MD + 3 * T + milliseconds(100),
           AdvertEvent{peer.advert(1, 100)}, State::Master, None},
          {"link down unbinds", MD + 3 * T + milliseconds(200), LinkEvent{false}, State::Init, LeaveMaster,
           Reason::LinkDown},
          {"adverts ignored in INIT", MD + 3 * T + milliseconds(250), AdvertEvent{peer.advert(1, 0)}, State::Init, None,
           std::nullopt, DropReason::NotReady},
          {"timer in INIT does nothing", MD + 3 * T + milliseconds(260), TimerEvent{}, State::Init, None},
          {"link up again", MD + 3 * T + milliseconds(300), LinkEvent{true}, State::Backup, Transition, Reason::LinkUp},
          {"faster master keeps us BACKUP", heardAt, AdvertEvent{peer.advert(1, 0)}, State::Backup, None},
          {"master-down restarted by the advert", heardAt + MD - nanoseconds(1), TimerEvent{}, State::Backup, None},
          {"slower master with preempt: take over", heardAt + seconds(1), AdvertEvent{peer.advert(1, 100)},
           State::Master, BecomeMaster, Reason::Preempt},
          {"faster master: step down", heardAt + seconds(2), AdvertEvent{peer.advert(1, 0)}, State::Backup,
           LeaveMaster, Reason::HigherPriorityMaster},
          {"bow-out: take over at once", heardAt + seconds(3), AdvertEvent{peer.advert(255, 255)}, State::Master,
           BecomeMaster, Reason::BowOutReceived},
          {"shutdown while MASTER bows out then unbinds", heardAt + seconds(4), ShutdownEvent{}, State::Init,
           {"state_changed", "send_advert", "unbind_addresses"}, Reason::Shutdown},
          {"timer after shutdown does nothing", heardAt + seconds(10), TimerEvent{}, State::Init, None},
      });
  EXPECT_FALSE(v.started());
  EXPECT_FALSE(v.nextDeadline().has_value());
}

TEST(VirtualHostScenario, StartWithLinkDownWaitsInInit) {
  testing::FakeClock clock;
  VirtualHost v = makeHost();
  run(v, clock.now(),
      {
          {"start with link down stays INIT", seconds(0), StartEvent{false}, State::Init, None},
          {"no deadline in INIT", seconds(5), TimerEvent{}, State::Init, None},
          {"link up", seconds(6), LinkEvent{true}, State::Backup, Transition, Reason::LinkUp},
          {"repeated link up is a no-op", seconds(7), LinkEvent{true}, State::Backup, None},
          {"second start is a no-op", seconds(7), StartEvent{true}, State::Backup, None},
          {"master down 3T after link up", seconds(6) + MD, TimerEvent{}, State::Master, BecomeMaster,
           Reason::MasterDown},
      });
}

// Every Reason, each produced by the smallest scenario that reaches it.
TEST(VirtualHostReasons, EveryTransitionReasonIsReachable) {
  struct Case {
    std::string name;
    VhostConfig config;
    std::vector<Step> steps;  // last step is the one under test
  };
  auto cfg = [](auto f) {
    VhostConfig c = baseConfig();
    f(c);
    return c;
  };
  auto noop = [](VhostConfig&) {};
  Peer p;
  std::vector<Case> cases = {
      {"startup", baseConfig(), {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup}}},
      {"link_up", baseConfig(),
       {{"start down", seconds(0), StartEvent{false}, State::Init, None},
        {"up", seconds(1), LinkEvent{true}, State::Backup, Transition, Reason::LinkUp}}},
      {"link_down from backup", baseConfig(),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"down", seconds(1), LinkEvent{false}, State::Init, Transition, Reason::LinkDown}}},
      {"master_down", baseConfig(),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"fire", MD, TimerEvent{}, State::Master, BecomeMaster, Reason::MasterDown}}},
      {"preempt", baseConfig(),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"slower", seconds(1), AdvertEvent{p.advert(1, 200)}, State::Master, BecomeMaster, Reason::Preempt}}},
      {"preempt_after_delay (timer)", cfg([](VhostConfig& c) { c.preemptDelay = seconds(10); }),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"slower, held back", seconds(1), AdvertEvent{p.advert(1, 200)}, State::Backup, None},
        {"delay ends", seconds(10), TimerEvent{}, State::Master, BecomeMaster, Reason::PreemptAfterDelay}}},
      {"higher_priority_master", baseConfig(),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"fire", MD, TimerEvent{}, State::Master, BecomeMaster, Reason::MasterDown},
        {"faster", MD + seconds(1), AdvertEvent{p.advert(1, 0)}, State::Backup, LeaveMaster,
         Reason::HigherPriorityMaster}}},
      {"guaranteed_timeout", cfg([](VhostConfig& c) { c.preempt = false; }),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"very slow master", seconds(1), AdvertEvent{p.advert(10, 0)}, State::Master, BecomeMaster,
         Reason::GuaranteedTimeout}}},
      {"bow_out_received", cfg([](VhostConfig& c) { c.preempt = false; }),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"bow-out", seconds(1), AdvertEvent{p.advert(255, 255)}, State::Master, BecomeMaster,
         Reason::BowOutReceived}}},
      {"demote_higher_than_peer", cfg([](VhostConfig& c) { c.preempt = false; }),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"demoted faster master", seconds(1), AdvertEvent{p.advert(1, 0, 1)}, State::Master, BecomeMaster,
         Reason::DemoteHigherThanPeer}}},
      {"shutdown from backup", baseConfig(),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"stop", seconds(1), ShutdownEvent{}, State::Init, Transition, Reason::Shutdown}}},
      {"config_changed (vhid removed from the plan)", baseConfig(),
       {{"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
        {"fire", MD, TimerEvent{}, State::Master, BecomeMaster, Reason::MasterDown},
        {"removed", MD + seconds(1), ShutdownEvent{Reason::ConfigChanged}, State::Init,
         {"state_changed", "send_advert", "unbind_addresses"}, Reason::ConfigChanged}}},
      {"claimed_silent_vhid", baseConfig(),
       {{"start claiming", seconds(0), StartEvent{true, true}, State::Master, BecomeMaster,
         Reason::ClaimedSilentVhid}}},
  };
  (void)noop;
  std::array<uint64_t, ReasonCount> seen{};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    testing::FakeClock clock;
    VirtualHost v = makeHost(c.config);
    run(v, clock.now(), c.steps);
    for (std::size_t i = 0; i < ReasonCount; ++i) {
      seen[i] += v.stats().transitionsByReason[i];
    }
    ASSERT_TRUE(c.steps.back().reason.has_value());
    EXPECT_EQ(v.stats().lastTransitionReason, c.steps.back().reason);
  }
  for (std::size_t i = 0; i < ReasonCount; ++i) {
    EXPECT_GT(seen[i], 0u) << "reason never produced: " << toString(static_cast<Reason>(i));
  }
}

TEST(VirtualHostDrops, EveryVhostLevelDropReasonIsCounted) {
  testing::FakeClock clock;
  VirtualHost v = makeHost();
  Peer peer;
  Peer foreign(baseConfig(), "other-password");
  VhostConfig other = baseConfig();
  other.vhid = Vhid(43);
  Peer otherVhid(other);

  auto before = v.advertReceived(peer.advert(1, 0), clock.now());
  EXPECT_EQ(before.dropped, DropReason::NotReady) << "not started";
  (void)v.start(clock.now());
  clock.advance(MD);
  Actions becameMaster = v.timerFired(clock.now());
  const SendAdvert* ours = find<SendAdvert>(becameMaster);
  ASSERT_NE(ours, nullptr);

  struct Case {
    const char* name;
    ReceivedAdvert in;
    DropReason want;
  };
  ReceivedAdvert reflected{ours->advert, PeerAddr};  // our own advert, echoed by someone else
  const Case cases[] = {
      {"other vhid", otherVhid.advert(1, 0), DropReason::UnknownVhid},
      {"our own source address", peer.advert(1, 0, 0, Self), DropReason::OwnPacket},
      {"wrong password: foreign speaker", foreign.advert(1, 0, 0, Ipv4Address::fromBytes(192, 0, 2, 77)),
       DropReason::BadHmac},
      {"counter equal to our last one", reflected, DropReason::Replayed},
  };
  for (const auto& c : cases) {
    Actions out = v.advertReceived(c.in, clock.now());
    EXPECT_EQ(out.dropped, c.want) << c.name;
    EXPECT_TRUE(out.empty()) << c.name;
    EXPECT_EQ(v.state(), State::Master) << c.name << ": a dropped packet never changes state";
  }
  const auto& s = v.stats();
  EXPECT_EQ(s.drops.get(DropReason::NotReady), 1u);
  EXPECT_EQ(s.drops.get(DropReason::UnknownVhid), 1u);
  EXPECT_EQ(s.drops.get(DropReason::OwnPacket), 1u);
  EXPECT_EQ(s.drops.get(DropReason::BadHmac), 1u);
  EXPECT_EQ(s.drops.get(DropReason::Replayed), 1u);
  EXPECT_EQ(s.foreignSpeakerPackets, 1u);
  ASSERT_TRUE(s.lastForeignSource.has_value());
  EXPECT_EQ(toString(*s.lastForeignSource), "192.0.2.77");
  EXPECT_EQ(s.lastForeignAt, clock.now());
  EXPECT_EQ(s.advertsReceived, 0u);
  // Different password = foreign speaker, never a takeover: even a bow-out with a bad HMAC.
  VirtualHost b = makeHost();
  (void)b.start(clock.now());
  Actions out = b.advertReceived(foreign.advert(255, 255), clock.now());
  EXPECT_EQ(out.dropped, DropReason::BadHmac);
  EXPECT_EQ(b.state(), State::Backup);
}

TEST(VirtualHostCounter, StartsAtCallerValueIncrementsAndAcceptsPeerCountersInAnyOrder) {
  testing::FakeClock clock;
  VirtualHost v = makeHost(baseConfig(), 0xfffffffffffffffeull);
  auto key = HmacKey::prepare("love", Vhid(42), {Vip}).value();
  (void)v.start(clock.now());
  clock.advance(MD);
  auto a1 = v.timerFired(clock.now());
  clock.advance(T);
  auto a2 = v.timerFired(clock.now());
  clock.advance(T);
  auto a3 = v.timerFired(clock.now());
  const SendAdvert* s1 = find<SendAdvert>(a1);
  const SendAdvert* s2 = find<SendAdvert>(a2);
  const SendAdvert* s3 = find<SendAdvert>(a3);
  ASSERT_TRUE(s1 && s2 && s3);
  EXPECT_EQ(s1->advert.counter, 0xfffffffffffffffeull);
  EXPECT_EQ(s2->advert.counter, 0xffffffffffffffffull);
  EXPECT_EQ(s3->advert.counter, 0u) << "wraps";
  EXPECT_EQ(v.lastSentCounter(), 0u);
  EXPECT_EQ(v.counter(), 1u);
  for (const auto* s : {s1, s2, s3}) {
    EXPECT_TRUE(key.verify(s->advert));
    EXPECT_EQ(s->advert.vhid, 42);
    EXPECT_EQ(s->advert.advbase, 1);
    EXPECT_EQ(s->advert.advskew, 10);
    EXPECT_EQ(s->advert.demote, 0);
    EXPECT_FALSE(s->bowOut);
  }
  EXPECT_EQ(v.stats().advertsSent, 3u);
  // ucarp sends random counters, then adopts ours: neither "backwards" nor equal-but-one is a replay.
  Peer peer;
  VirtualHost b = makeHost();
  (void)b.start(clock.now());
  for (uint64_t c : {uint64_t{900}, uint64_t{5}, uint64_t{0xffffffffffffffffull}, uint64_t{1001}}) {
    Advert a;
    a.vhid = 42;
    a.advbase = 1;
    a.advskew = 0;
    a.counter = c;
    a.hmac = key.compute(c);
    Actions out = b.advertReceived({a, PeerAddr}, clock.now());
    EXPECT_FALSE(out.dropped.has_value()) << c;
  }
  EXPECT_EQ(b.stats().advertsReceived, 4u);
  ASSERT_TRUE(b.stats().lastMaster.has_value());
  EXPECT_EQ(toString(b.stats().lastMaster->source), "192.0.2.2");
  EXPECT_EQ(b.stats().lastMaster->advskew, 0);
  EXPECT_EQ(b.stats().lastMaster->seenAt, clock.now());
}

TEST(VirtualHostTiming, DeadlinesFollowTheFormulas) {
  testing::FakeClock clock;
  TimePoint t0 = clock.now();
  VirtualHost v = makeHost();
  EXPECT_FALSE(v.nextDeadline().has_value()) << "not started";
  (void)v.start(t0);
  EXPECT_EQ(v.nextDeadline(), t0 + MD);
  (void)v.timerFired(t0 + MD + milliseconds(7));  // late wake-up
  EXPECT_EQ(v.state(), State::Master);
  EXPECT_EQ(v.nextDeadline(), t0 + MD + milliseconds(7) + T);
  // A stalled shell sends one advert, not a burst, and reschedules from now.
  Actions late = v.timerFired(t0 + MD + seconds(30));
  EXPECT_EQ(names(late), (std::vector<std::string_view>{"send_advert"}));
  EXPECT_EQ(v.nextDeadline(), t0 + MD + seconds(30) + T);
}

TEST(VirtualHostTiming, AdvbaseZeroRunsSubSecond) {
  testing::FakeClock clock;
  TimePoint t0 = clock.now();
  VhostConfig c = baseConfig();
  c.advbase = AdvBase(0);
  c.advskew = AdvSkew(20);
  VirtualHost v = makeHost(c);
  const Duration t = nanoseconds(78'125'000);
  const Duration md = nanoseconds(234'375'000);
  run(v, t0,
      {
          {"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
          {"not yet", md - nanoseconds(1), TimerEvent{}, State::Backup, None},
          {"234.375 ms master-down", md, TimerEvent{}, State::Master, BecomeMaster, Reason::MasterDown},
          {"78.125 ms later", md + t, TimerEvent{}, State::Master, {"send_advert"}},
      });
  EXPECT_EQ(v.nextDeadline(), t0 + md + 2 * t);
  // advbase 0 and advskew 0: T counts as 1/256 s, never a zero-period busy loop.
  c.advskew = AdvSkew(0);
  VirtualHost z = makeHost(c);
  (void)z.start(t0);
  EXPECT_EQ(z.nextDeadline(), t0 + 3 * SkewUnit);
  (void)z.timerFired(t0 + 3 * SkewUnit);
  EXPECT_EQ(z.state(), State::Master);
  EXPECT_EQ(z.nextDeadline(), t0 + 4 * SkewUnit);
}

TEST(VirtualHostDemotion, RaisesSentAdvskewSetsDemoteByteAndAdvertisesAtOnce) {
  testing::FakeClock clock;
  VirtualHost v = makeHost();
  (void)v.start(clock.now());
  EXPECT_TRUE(v.setDemote(0, clock.now()).empty()) << "unchanged demote: no actions";
  clock.advance(MD);
  (void)v.timerFired(clock.now());
  ASSERT_EQ(v.state(), State::Master);
  clock.advance(milliseconds(100));
  Actions out = v.setDemote(1, clock.now());
  ASSERT_EQ(names(out), (std::vector<std::string_view>{"send_advert"}));
  const auto& a = std::get<SendAdvert>(out[0]).advert;
  EXPECT_EQ(a.advskew, DemotionAdvSkew);
  EXPECT_EQ(a.demote, 1);
  EXPECT_EQ(v.priority().advskew, 240);
  EXPECT_EQ(v.nextDeadline(), clock.now() + advertInterval(1, 240));
  EXPECT_EQ(v.state(), State::Master) << "demotion alone does not step down";

  // A healthy backup with advskew 100 hears the demoted master and preempts.
  VhostConfig bc = baseConfig();
  bc.advskew = AdvSkew(100);
  VirtualHost b = makeHost(bc);
  (void)b.start(clock.now());
  Actions taken = b.advertReceived({a, PeerAddr}, clock.now());
  auto t = transition(taken);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->reason, Reason::Preempt);
  // ... and the demoted master yields to it: the healthy node's demote (0) is lower.
  const SendAdvert* healthy = find<SendAdvert>(taken);
  ASSERT_NE(healthy, nullptr);
  Actions yielded = v.advertReceived({healthy->advert, PeerAddr}, clock.now());
  EXPECT_EQ(v.state(), State::Backup);
  EXPECT_EQ(transition(yielded)->reason, Reason::HigherPriorityMaster);
  // A demoted backup waits longer before taking over (master-down from the effective advskew).
  EXPECT_EQ(v.nextDeadline(), clock.now() + masterDownInterval(1, 240));
  (void)v.setDemote(0, clock.now());
  EXPECT_EQ(v.nextDeadline(), clock.now() + MD);
}

TEST(VirtualHostPreemptDelay, HeldBackUntilTheDelayThenImmediate) {
  testing::FakeClock clock;
  TimePoint t0 = clock.now();
  VhostConfig c = baseConfig();
  c.advskew = AdvSkew(0);
  c.preemptDelay = seconds(20);
  VirtualHost v = makeHost(c);
  Peer peer;
  run(v, t0,
      {
          {"node returns", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
          {"slower master within the delay: wait", seconds(1), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"still held back", seconds(2), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"timer before the delay ends: nothing", seconds(3), TimerEvent{}, State::Backup, None},
      });
  // The master-down timer keeps being restarted by the slower master, the preemption waits.
  EXPECT_EQ(v.nextDeadline(), t0 + seconds(5)) << "master-down (2 s + 3 s) comes first";
  run(v, t0,
      {
          {"more adverts", seconds(4), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"more adverts", seconds(6), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"more adverts", seconds(8), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"more adverts", seconds(10), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"more adverts", seconds(12), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"more adverts", seconds(14), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"more adverts", seconds(16), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
          {"more adverts", seconds(18), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
      });
  EXPECT_EQ(v.nextDeadline(), t0 + seconds(20)) << "preemption due when the delay ends";
  run(v, t0, {{"delay over", seconds(20), TimerEvent{}, State::Master, BecomeMaster, Reason::PreemptAfterDelay}});

  // Without any master advertising, master-down takeover is immediate despite the delay.
  VirtualHost w = makeHost(c);
  run(w, t0,
      {
          {"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
          {"nobody advertises", seconds(3), TimerEvent{}, State::Master, BecomeMaster, Reason::MasterDown},
      });

  // A faster master cancels a pending preemption.
  VirtualHost x = makeHost(c);
  Peer fast;
  run(x, t0,
      {
          {"start", seconds(0), StartEvent{}, State::Backup, Transition, Reason::Startup},
          {"slower master", seconds(1), AdvertEvent{peer.advert(1, 100)}, State::Backup, None},
      });
  EXPECT_EQ(x.nextDeadline(), t0 + seconds(4)) << "master-down first, preemption pending at 20 s";
  run(x, t0, {{"replaced by a faster one", seconds(2), AdvertEvent{fast.advert(0, 200)}, State::Backup, None}});
  EXPECT_EQ(x.nextDeadline(), t0 + seconds(2) + masterDownInterval(1, 0)) << "only the master-down timer is armed";
  for (int s = 3; s <= 21; ++s) {
    run(x, t0, {{"faster master keeps advertising", seconds(s), AdvertEvent{fast.advert(0, 200)}, State::Backup, None}});
  }
  run(x, t0, {{"after the delay: nothing to preempt", seconds(21) + milliseconds(1), TimerEvent{}, State::Backup, None}});
}

TEST(VirtualHostGarp, SecondRoundAndPeriodicRefresh) {
  testing::FakeClock clock;
  TimePoint t0 = clock.now();
  VhostConfig c = baseConfig();
  c.advskew = AdvSkew(0);
  c.vips = {Vip, Vip2};
  c.garpRefreshInterval = milliseconds(2500);
  VirtualHost v = makeHost(c);
  (void)v.start(t0);
  Actions m = v.timerFired(t0 + seconds(3));
  const auto* g1 = find<SendGratuitousArp>(m);
  ASSERT_NE(g1, nullptr);
  EXPECT_EQ(g1->round, 1);
  EXPECT_EQ(g1->vips, (std::vector<Ipv4Address>{Vip, Vip2}));
  const auto* bind = find<BindAddresses>(m);
  ASSERT_NE(bind, nullptr);
  EXPECT_EQ(bind->vips, (std::vector<Ipv4Address>{Vip, Vip2}));
  EXPECT_EQ(v.nextDeadline(), t0 + seconds(4));
  EXPECT_EQ(names(v.timerFired(t0 + seconds(4))), (std::vector<std::string_view>{"send_advert"}));
  Actions r2 = v.timerFired(t0 + seconds(5));
  ASSERT_NE(find<SendGratuitousArp>(r2), nullptr);
  EXPECT_EQ(find<SendGratuitousArp>(r2)->round, 2);
  EXPECT_EQ(v.nextDeadline(), t0 + milliseconds(5500)) << "refresh 2.5 s after becoming MASTER";
  Actions r3 = v.timerFired(t0 + milliseconds(5500));
  EXPECT_EQ(names(r3), (std::vector<std::string_view>{"send_gratuitous_arp"}));
  EXPECT_EQ(find<SendGratuitousArp>(r3)->round, 3);
  EXPECT_EQ(names(v.timerFired(t0 + seconds(6))), (std::vector<std::string_view>{"send_advert"}));
  (void)v.timerFired(t0 + seconds(7));
  Actions r4 = v.timerFired(t0 + seconds(8));  // advert at 8 s and refresh at 8 s together
  EXPECT_EQ(names(r4), (std::vector<std::string_view>{"send_advert", "send_gratuitous_arp"}));
  EXPECT_EQ(find<SendGratuitousArp>(r4)->round, 4);
  EXPECT_EQ(v.stats().gratuitousArpRounds, 4u);
}

TEST(VirtualHostReconfigure, UnchangedConfigIsNoActionAndChangesDoNotDisturb) {
  testing::FakeClock clock;
  TimePoint t0 = clock.now();
  VirtualHost v = makeHost();
  (void)v.start(t0);
  (void)v.timerFired(t0 + MD);
  ASSERT_EQ(v.state(), State::Master);
  uint64_t transitions = v.stats().transitions;

  auto same = v.reconfigure(baseConfig(), t0 + MD + milliseconds(10));
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());

  VhostConfig slower = baseConfig();
  slower.advskew = AdvSkew(50);
  slower.preempt = false;
  auto r = v.reconfigure(slower, t0 + MD + milliseconds(20));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(v.state(), State::Master);
  EXPECT_EQ(v.nextDeadline(), t0 + MD + advertInterval(1, 50)) << "next advert from the last one with the new T";
  Actions next = v.timerFired(t0 + MD + advertInterval(1, 50));
  ASSERT_NE(find<SendAdvert>(next), nullptr);
  EXPECT_EQ(find<SendAdvert>(next)->advert.advskew, 50);

  VhostConfig more = slower;
  more.vips = {Vip, Vip2};
  auto add = v.reconfigure(more, t0 + seconds(5));
  ASSERT_TRUE(add.ok());
  ASSERT_EQ(names(*add), (std::vector<std::string_view>{"bind_addresses", "send_gratuitous_arp"}));
  EXPECT_EQ(std::get<BindAddresses>((*add)[0]).vips, (std::vector<Ipv4Address>{Vip2}));
  EXPECT_EQ(std::get<SendGratuitousArp>((*add)[1]).vips, (std::vector<Ipv4Address>{Vip2}));
  // The HMAC now covers both addresses (sorted).
  auto key2 = HmacKey::prepare("love", Vhid(42), {Vip2, Vip}).value();
  EXPECT_TRUE(key2.verify(v.buildAdvert()));

  VhostConfig fewer = more;
  fewer.vips = {Vip2};
  auto rem = v.reconfigure(fewer, t0 + seconds(6));
  ASSERT_TRUE(rem.ok());
  ASSERT_EQ(names(*rem), (std::vector<std::string_view>{"unbind_addresses"})) << "only the removed VIP";
  EXPECT_EQ(std::get<UnbindAddresses>((*rem)[0]).vips, (std::vector<Ipv4Address>{Vip}));
  EXPECT_EQ(v.state(), State::Master);
  EXPECT_EQ(v.stats().transitions, transitions) << "reconfigure never transitions";
}

TEST(VirtualHostReconfigure, RejectsInvalidConfigAndVhidChange) {
  testing::FakeClock clock;
  VirtualHost v = makeHost();
  VhostConfig other = baseConfig();
  other.vhid = Vhid(43);
  auto r = v.reconfigure(other, clock.now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "vhid: cannot change from 42 to 43; replace the virtual host");
  VhostConfig longPw = baseConfig();
  longPw.password = std::string(20, 'x');
  auto p = v.reconfigure(longPw, clock.now());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message, "vhid 42.password: must be at most 19 bytes, got 20");
  EXPECT_EQ(v.config(), baseConfig()) << "a rejected config changes nothing";
}

TEST(VirtualHostReconfigure, BackupRecomputesMasterDownFromTheLastAdvert) {
  testing::FakeClock clock;
  TimePoint t0 = clock.now();
  VirtualHost v = makeHost();
  Peer peer;
  (void)v.start(t0);
  (void)v.advertReceived(peer.advert(1, 0), t0 + seconds(1));
  VhostConfig c = baseConfig();
  c.advskew = AdvSkew(128);
  auto r = v.reconfigure(c, t0 + seconds(2));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(v.state(), State::Backup);
  EXPECT_EQ(v.nextDeadline(), t0 + seconds(1) + masterDownInterval(1, 128));
}

TEST(VirtualHostCopy, ACopyIsAnIndependentMachine) {
  testing::FakeClock clock;
  VirtualHost v = makeHost();
  (void)v.start(clock.now());
  VirtualHost c = v;
  Actions out = c.timerFired(clock.now() + MD);
  EXPECT_EQ(c.state(), State::Master);
  EXPECT_EQ(v.state(), State::Backup) << "the original is untouched";
  const SendAdvert* s = find<SendAdvert>(out);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(HmacKey::prepare("love", Vhid(42), {Vip}).value().verify(s->advert)) << "the copy's HMAC key works";
}

TEST(VhostConfigValidation, NamesTheField) {
  struct Case {
    const char* name;
    void (*edit)(VhostConfig&);
    const char* message;
  };
  const Case cases[] = {
      {"long password", [](VhostConfig& c) { c.password = std::string(25, 'p'); },
       "vhids[1].password: must be at most 19 bytes, got 25"},
      {"no vips", [](VhostConfig& c) { c.vips.clear(); }, "vhids[1].vips: at least one virtual address is required"},
      {"duplicate vip", [](VhostConfig& c) { c.vips = {Vip, Vip}; }, "vhids[1].vips: duplicate IPv4 address"},
      {"vhid 0", [](VhostConfig& c) { c.vhid = Vhid(0); }, "vhids[1].vhid: must be between 1 and 255, got 0"},
      {"advskew 255", [](VhostConfig& c) { c.advskew = AdvSkew(255); },
       "vhids[1].advskew: must be between 0 and 254, got 255"},
      {"negative delay", [](VhostConfig& c) { c.preemptDelay = seconds(-1); },
       "vhids[1].preemptDelay: must not be negative"},
      {"garp rounds", [](VhostConfig& c) { c.garpSecondRoundAfterAdverts = -1; },
       "vhids[1].garpSecondRoundAfterAdverts: must be between 0 and 100, got -1"},
  };
  EXPECT_TRUE(validateConfig(baseConfig(), "vhids[1]").ok());
  for (const auto& c : cases) {
    VhostConfig cfg = baseConfig();
    c.edit(cfg);
    auto s = validateConfig(cfg, "vhids[1]");
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.error().message, c.message) << c.name;
    EXPECT_FALSE(VirtualHost::create(cfg, 0).ok()) << c.name;
  }
  VhostConfig v6only = baseConfig();
  v6only.vips.clear();
  v6only.vips6 = {Ipv6Address::parse("2001:db8::100").value()};
  EXPECT_TRUE(VirtualHost::create(v6only, 0).ok());
}

}  // namespace
// ----- claim (agent/carp/claim.h decides; start(claim) acts) ------------------------------------
TEST(VirtualHostClaim, ClaimGoesFromInitToMasterInOneStepWithEverythingAMasterSends) {
  testing::FakeClock clock;
  VirtualHost v = makeHost();
  Actions out = v.start(clock.now(), /*linkUp=*/true, /*claim=*/true);
  EXPECT_EQ(names(out), BecomeMaster);
  auto t = transition(out);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, State::Init) << "no BACKUP flash in between";
  EXPECT_EQ(t->to, State::Master);
  EXPECT_EQ(t->reason, Reason::ClaimedSilentVhid);
  const auto* bind = find<BindAddresses>(out);
  ASSERT_NE(bind, nullptr);
  EXPECT_EQ(bind->vips, std::vector<Ipv4Address>{Vip});
  const auto* garp = find<SendGratuitousArp>(out);
  ASSERT_NE(garp, nullptr);
  EXPECT_EQ(garp->round, 1);
  EXPECT_EQ(v.nextDeadline(), clock.now() + T) << "adverts every T from now on";
  EXPECT_EQ(v.stats().transitionsByReason[static_cast<size_t>(Reason::ClaimedSilentVhid)], 1u);
}

TEST(VirtualHostClaim, AClaimingMasterStillYieldsToABetterOneAndFollowsTheUsualRules) {
  testing::FakeClock clock;
  TimePoint t0 = clock.now();
  VirtualHost v = makeHost();
  Peer peer;
  run(v, t0,
      {
          {"claim", seconds(0), StartEvent{true, true}, State::Master, BecomeMaster, Reason::ClaimedSilentVhid},
          {"first periodic advert", T, TimerEvent{}, State::Master, {"send_advert"}},
          {"second advert brings GARP round 2", 2 * T, TimerEvent{}, State::Master,
           {"send_advert", "send_gratuitous_arp"}},
          {"a faster master appears: step down", 2 * T + milliseconds(10), AdvertEvent{peer.advert(1, 0)},
           State::Backup, LeaveMaster, Reason::HigherPriorityMaster},
          {"and wait for it as any BACKUP", 2 * T + milliseconds(10) + MD - nanoseconds(1), TimerEvent{},
           State::Backup, None},
      });
}

TEST(VirtualHostClaim, NoClaimWithTheLinkDownOrWhileDemoted) {
  testing::FakeClock clock;
  {
    VirtualHost v = makeHost();
    run(v, clock.now(),
        {
            {"claim with the link down stays INIT", seconds(0), StartEvent{false, true}, State::Init, None},
            {"link up later is an ordinary BACKUP", seconds(1), LinkEvent{true}, State::Backup, Transition,
             Reason::LinkUp},
            {"which waits the full master-down interval", seconds(1) + MD - nanoseconds(1), TimerEvent{},
             State::Backup, None},
        });
  }
  {
    VirtualHost v = makeHost();
    (void)v.setDemote(1, clock.now());  // before start: a demoted node never claims
    run(v, clock.now(),
        {
            {"claim while demoted is an ordinary start", seconds(0), StartEvent{true, true}, State::Backup,
             Transition, Reason::Startup},
        });
  }
  {
    VirtualHost v = makeHost();
    run(v, clock.now(),
        {
            {"started without claim", seconds(0), StartEvent{true, false}, State::Backup, Transition,
             Reason::Startup},
            {"a second start with claim is a no-op", seconds(1), StartEvent{true, true}, State::Backup, None},
        });
  }
}

// ----- reconfigure in BACKUP: preempt the master last heard at once -----------------------------
namespace {

const SendAdvert* advertIn(const Actions& a) { return find<SendAdvert>(a); }

}  // namespace

// The cluster e2e drain race (one run in two under load): A masters the vhid with advskew 0,
// B (40) and C (80) back it up. A is drained: the new plan is B 0, C 40, and A bows out.
// C applied its new plan first, so when A's bow-out arrives B and C both run advskew 40: both
// take over, hear each other's equal T, and both step down (equal T yields, no address
// tie-break). B's new timers (advskew 0) arrive a moment later; before the fix B then waited a
// whole master-down interval (3 s) with nobody MASTER.
TEST(VirtualHostReconfigure, DrainDuelOfEqualBackupsEndsWhenThePromotedOneGetsItsNewTimers) {
  testing::FakeClock clock;
  auto cfg = [](uint8_t skew) {
    VhostConfig c = baseConfig();
    c.advskew = AdvSkew(skew);
    return c;
  };
  const Ipv4Address addrA = Ipv4Address::fromBytes(192, 0, 2, 11);
  const Ipv4Address addrB = Ipv4Address::fromBytes(192, 0, 2, 12);
  const Ipv4Address addrC = Ipv4Address::fromBytes(192, 0, 2, 13);
  VirtualHost b = makeHost(cfg(40), 2000);
  VirtualHost c = makeHost(cfg(80), 3000);
  b.setLocalAddresses({addrB});
  c.setLocalAddresses({addrC});
  Peer a(cfg(0));
  (void)b.start(clock.now());
  (void)c.start(clock.now());
  clock.advance(seconds(1));
  (void)b.advertReceived(a.advert(1, 0, 0, addrA), clock.now());
  (void)c.advertReceived(a.advert(1, 0, 0, addrA), clock.now());
  ASSERT_EQ(b.state(), State::Backup);
  ASSERT_EQ(c.state(), State::Backup);

  clock.advance(milliseconds(300));
  ASSERT_TRUE(c.reconfigure(cfg(40), clock.now()).ok());  // C's new plan first
  EXPECT_EQ(c.state(), State::Backup);

  clock.advance(milliseconds(1));
  Actions bTook = b.advertReceived(a.advert(255, 255, 0, addrA), clock.now());  // A bows out
  Actions cTook = c.advertReceived(a.advert(255, 255, 0, addrA), clock.now());
  ASSERT_EQ(b.state(), State::Master);
  ASSERT_EQ(c.state(), State::Master);
  const SendAdvert* fromB = advertIn(bTook);
  const SendAdvert* fromC = advertIn(cTook);
  ASSERT_NE(fromB, nullptr);
  ASSERT_NE(fromC, nullptr);
  clock.advance(milliseconds(1));
  (void)b.advertReceived(ReceivedAdvert{fromC->advert, addrC}, clock.now());
  (void)c.advertReceived(ReceivedAdvert{fromB->advert, addrB}, clock.now());
  ASSERT_EQ(b.state(), State::Backup) << "equal T: both step down";
  ASSERT_EQ(c.state(), State::Backup);

  clock.advance(milliseconds(5));
  auto r = b.reconfigure(cfg(0), clock.now());  // B's new plan: the planned master
  ASSERT_TRUE(r.ok());
  auto t = transition(*r);
  ASSERT_TRUE(t.has_value()) << "B must not wait a master-down interval with nobody MASTER";
  EXPECT_EQ(t->to, State::Master);
  EXPECT_EQ(t->reason, Reason::Preempt);
  EXPECT_EQ(names(*r), BecomeMaster);
  // C hears B's better advert and stays BACKUP.
  const SendAdvert* nowB = advertIn(*r);
  ASSERT_NE(nowB, nullptr);
  EXPECT_TRUE(c.advertReceived(ReceivedAdvert{nowB->advert, addrB}, clock.now()).empty());
  EXPECT_EQ(c.state(), State::Backup);
}

TEST(VirtualHostReconfigure, BetterTimersInBackupPreemptOnlyWhatPlainCarpWouldPreempt) {
  testing::FakeClock clock;
  const TimePoint t0 = clock.now();
  Peer peer;
  auto cfg = [](uint8_t skew, bool preempt, Duration delay = Duration::zero()) {
    VhostConfig c = baseConfig();
    c.advskew = AdvSkew(skew);
    c.preempt = preempt;
    c.preemptDelay = delay;
    return c;
  };
  {  // worse or equal than the master heard: nothing happens
    VirtualHost v = makeHost(cfg(100, true));
    (void)v.start(t0);
    (void)v.advertReceived(peer.advert(1, 50), t0 + milliseconds(100));
    auto r = v.reconfigure(cfg(50, true), t0 + milliseconds(200));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty()) << "equal T: wait";
    EXPECT_EQ(v.state(), State::Backup);
  }
  {  // better, but preempt off: failback "never" is kept
    VirtualHost v = makeHost(cfg(100, false));
    (void)v.start(t0);
    (void)v.advertReceived(peer.advert(1, 50), t0 + milliseconds(100));
    auto r = v.reconfigure(cfg(10, false), t0 + milliseconds(200));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty());
    EXPECT_EQ(v.state(), State::Backup);
  }
  {  // better, preempt delay still running: preempts when the delay ends
    VirtualHost v = makeHost(cfg(100, true, seconds(2)));
    (void)v.start(t0);
    (void)v.advertReceived(peer.advert(1, 50), t0 + milliseconds(100));
    auto r = v.reconfigure(cfg(10, true, seconds(2)), t0 + milliseconds(200));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty());
    EXPECT_EQ(v.nextDeadline(), t0 + seconds(2)) << "the delay ends before the master-down timer";
    auto fired = v.timerFired(t0 + seconds(2));
    auto t = transition(fired);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->reason, Reason::PreemptAfterDelay);
  }
  {  // nothing heard in this BACKUP period: no preemption, the master-down timer decides
    VirtualHost v = makeHost(cfg(100, true));
    (void)v.start(t0);
    auto r = v.reconfigure(cfg(10, true), t0 + milliseconds(200));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty());
    EXPECT_EQ(v.state(), State::Backup);
  }
}

}  // namespace carplb::agent::carp
