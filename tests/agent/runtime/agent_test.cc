#include "agent/runtime/agent.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/fake_address_table.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_transport.h"

namespace carplb::agent::runtime {
namespace {

using carp::Ipv4Address;
using carp::State;
using namespace std::chrono_literals;

Ipv4Address ip(const char* s) { return *Ipv4Address::parse(s); }
config::Ipv4 cip(const char* s) { return *config::Ipv4::parse(s); }

config::VhostConfig vhost(int vhid, const char* vip, int advskew = 0, const char* ifname = "eth0") {
  config::VhostConfig v;
  v.vhid = vhid;
  v.interface = ifname;
  v.addresses = {cip(vip)};
  v.advskew = advskew;
  v.password = "love";
  return v;
}

LinkStatus upLink(const char* own = "192.0.2.1") { return LinkStatus{true, true, {{ip(own), 24, false}}}; }

struct Harness {
  testing::FakeClock clock;
  testing::FakeAddressTable table;
  testing::FakeCarpTransport tx;
  testing::FakeArpAnnouncer arp;
  testing::FakeRandom rnd;
  Registry reg;
  std::vector<std::string> lines;
  Agent agent{AgentDeps{tx, table, arp, rnd,
                        Logger("agent", LogLevel::Debug, [this](std::string_view l) { lines.emplace_back(l); }), reg}};

  Status apply(std::vector<config::VhostConfig> vhosts) {
    config::AgentConfig cfg;
    cfg.vhids = std::move(vhosts);
    return agent.apply(cfg, clock.now());
  }
  void runFor(Duration d) {
    TimePoint end = clock.now() + d;
    for (int guard = 0; guard < 100000; ++guard) {
      auto next = agent.nextDeadline();
      if (!next || *next > end) break;
      clock.set(std::max(*next, clock.now()));
      agent.timerFired(clock.now());
    }
    clock.set(end);
  }
  // An advert from a peer, as the raw socket would deliver it.
  void peerAdvert(int vhid, const char* vip, int advbase, int advskew, const char* from = "192.0.2.2",
                  const std::string& password = "love", const char* ifname = "eth0") {
    carp::Advert a;
    a.vhid = static_cast<uint8_t>(vhid);
    a.advbase = static_cast<uint8_t>(advbase);
    a.advskew = static_cast<uint8_t>(advskew);
    a.counter = 77 + counter_++;
    auto key = carp::HmacKey::prepare(password, carp::Vhid(static_cast<uint8_t>(vhid)), {ip(vip)});
    a.hmac = key->compute(a.counter);
    auto pkt = carp::encodeIpv4Packet(a, ip(from));
    agent.packetReceived(ifname, pkt, clock.now());
  }
  bool logged(const std::string& needle) const {
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  double metric(const std::string& family, const Labels& labels) {
    return reg.counter(family, "").get(labels);
  }
  int counter_ = 0;
};

TEST(Agent, BecomesMasterWhenNobodyAdvertises) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100")}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);
  EXPECT_TRUE(h.tx.open.count("eth0"));
  EXPECT_TRUE(h.logged("msg=\"state change\" vhid=7 interface=eth0 from=INIT to=BACKUP reason=startup"));

  h.runFor(2s);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);  // master-down is 3 s
  EXPECT_FALSE(h.table.has("eth0", ip("192.0.2.100")));

  h.runFor(2s);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);
  EXPECT_TRUE(h.logged("msg=\"state change\" vhid=7 interface=eth0 from=BACKUP to=MASTER reason=master_down"));
  EXPECT_TRUE(h.table.has("eth0", ip("192.0.2.100")));
  ASSERT_FALSE(h.tx.sent.empty());
  EXPECT_EQ(h.tx.sent.front().source, ip("192.0.2.1"));  // srcip defaults to the interface's address
  EXPECT_EQ(h.tx.sent.front().advert.vhid, 7);
  ASSERT_FALSE(h.arp.announced.empty());
  EXPECT_EQ(h.arp.announced.front().second, ip("192.0.2.100"));
  EXPECT_EQ(h.metric("carplb_agent_transitions_total", {{"interface", "eth0"}, {"vhid", "7"}, {"from", "BACKUP"},
                                                       {"to", "MASTER"}, {"reason", "master_down"}}),
            1);
  EXPECT_NE(h.reg.render().find("carplb_agent_vhid_state{interface=\"eth0\",vhid=\"7\"} 2"), std::string::npos);
}

TEST(Agent, MasterYieldsToBetterPeerAndUnbinds) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100", 100)}).ok());
  h.runFor(5s);
  ASSERT_EQ(h.agent.state({"eth0", 7}), State::Master);
  h.peerAdvert(7, "192.0.2.100", 1, 10);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);
  EXPECT_FALSE(h.table.has("eth0", ip("192.0.2.100")));
  EXPECT_TRUE(h.logged("from=MASTER to=BACKUP reason=higher_priority_master"));
  EXPECT_EQ(h.metric("carplb_agent_adverts_received_total", {{"interface", "eth0"}, {"vhid", "7"}}), 1);

  // The peer keeps advertising: we stay BACKUP.
  for (int i = 0; i < 5; ++i) {
    h.runFor(1s);
    h.peerAdvert(7, "192.0.2.100", 1, 10);
  }
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);
  auto j = h.agent.stateJson(h.clock.now(), h.clock.wallNow());
  EXPECT_EQ(j["vhids"][0]["masterSeen"]["source"], "192.0.2.2");
  EXPECT_EQ(j["vhids"][0]["masterSeen"]["advskew"], 10);
  EXPECT_EQ(j["vhids"][0]["lastTransition"]["reason"], "higher_priority_master");
  EXPECT_EQ(j["vhids"][0]["counters"]["advertsReceived"], 6);
}

TEST(Agent, LinkDownGoesToInitAtOnceAndBack) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100")}).ok());
  h.runFor(4s);
  ASSERT_EQ(h.agent.state({"eth0", 7}), State::Master);

  LinkStatus down = upLink();
  down.up = false;
  h.agent.linkChanged("eth0", down, h.clock.now());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Init);
  EXPECT_FALSE(h.table.has("eth0", ip("192.0.2.100")));
  EXPECT_TRUE(h.logged("from=MASTER to=INIT reason=link_down"));
  EXPECT_FALSE(h.agent.nextDeadline().has_value());

  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);
  EXPECT_TRUE(h.logged("from=INIT to=BACKUP reason=link_up"));
}

TEST(Agent, NoSourceAddressMeansInit) {
  Harness h;
  h.agent.linkChanged("eth0", LinkStatus{true, true, {}}, h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100")}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Init);
  EXPECT_TRUE(h.logged("why=no_ipv4_address"));
  // A VIP that happens to be on the interface is never used as the source.
  h.agent.linkChanged("eth0", LinkStatus{true, true, {{ip("192.0.2.100"), 32, true}}}, h.clock.now());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Init);
  h.agent.linkChanged("eth0", upLink("192.0.2.5"), h.clock.now());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);

  // An explicit srcip works without an address dump.
  Harness h2;
  h2.agent.linkChanged("eth0", LinkStatus{true, true, {}}, h2.clock.now());
  auto v = vhost(7, "192.0.2.100");
  v.srcip = cip("192.0.2.9");
  ASSERT_TRUE(h2.apply({v}).ok());
  EXPECT_EQ(h2.agent.state({"eth0", 7}), State::Backup);
  h2.runFor(4s);
  ASSERT_FALSE(h2.tx.sent.empty());
  EXPECT_EQ(h2.tx.sent.back().source, ip("192.0.2.9"));
}

TEST(Agent, RoutesPacketsByVhidAndCountsDrops) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100", 100), vhost(8, "192.0.2.101", 100)}).ok());
  h.runFor(5s);
  ASSERT_EQ(h.agent.state({"eth0", 7}), State::Master);
  ASSERT_EQ(h.agent.state({"eth0", 8}), State::Master);

  h.peerAdvert(8, "192.0.2.101", 1, 0);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);  // other vhid untouched
  EXPECT_EQ(h.agent.state({"eth0", 8}), State::Backup);

  h.peerAdvert(9, "192.0.2.102", 1, 0);  // not ours
  EXPECT_EQ(h.metric("carplb_agent_adverts_rejected_total",
                     {{"interface", "eth0"}, {"vhid", "9"}, {"reason", "unknown_vhid"}}),
            1);

  h.peerAdvert(7, "192.0.2.100", 1, 0, "192.0.2.2", "wrong");  // foreign speaker on vhid 7
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);
  EXPECT_EQ(h.metric("carplb_agent_adverts_rejected_total",
                     {{"interface", "eth0"}, {"vhid", "7"}, {"reason", "bad_hmac"}}),
            1);

  // A corrupted packet whose vhid byte names vhid 7 is attributed to it.
  carp::Advert a;
  a.vhid = 7;
  a.advbase = 1;
  auto pkt = carp::encodeIpv4Packet(a, ip("192.0.2.2"));
  pkt[8] = 64;  // TTL
  h.agent.packetReceived("eth0", pkt, h.clock.now());
  EXPECT_EQ(h.metric("carplb_agent_adverts_rejected_total", {{"interface", "eth0"}, {"vhid", "7"}, {"reason", "bad_ttl"}}),
            1);
  // Garbage is counted without a vhid.
  std::vector<uint8_t> junk = {1, 2, 3};
  h.agent.packetReceived("eth0", junk, h.clock.now());
  EXPECT_EQ(h.metric("carplb_agent_adverts_rejected_total", {{"interface", "eth0"}, {"vhid", "none"}, {"reason", "not_ipv4"}}),
            1);
  // Same vhid on another interface is another vhost: a packet there is not routed to eth0's.
  h.peerAdvert(7, "192.0.2.100", 1, 0, "192.0.2.2", "love", "eth1");
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);

  auto j = h.agent.stateJson(h.clock.now(), h.clock.wallNow());
  EXPECT_EQ(j["vhids"][0]["counters"]["advertsRejected"]["bad_hmac"], 1);
  EXPECT_EQ(j["vhids"][0]["counters"]["advertsRejected"]["bad_ttl"], 1);
  EXPECT_EQ(j["vhids"][0]["foreignSpeaker"]["source"], "192.0.2.2");
  EXPECT_EQ(j["unroutedRejected"]["eth0"]["unknown_vhid"], 1);
}

TEST(Agent, ApplyDiffLeavesUnchangedVhidsAlone) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  auto a = vhost(7, "192.0.2.100");
  auto b = vhost(8, "192.0.2.101");
  auto c = vhost(9, "192.0.2.102");
  ASSERT_TRUE(h.apply({a, b, c}).ok());
  h.runFor(4s);
  ASSERT_EQ(h.agent.state({"eth0", 7}), State::Master);
  auto genA = h.agent.generation({"eth0", 7});
  auto counterA = h.agent.vhost({"eth0", 7})->counter();
  size_t sentBefore = h.tx.sentFor(7).size();
  size_t linesBefore = h.lines.size();

  // Same config again: nothing at all happens.
  ASSERT_TRUE(h.apply({a, b, c}).ok());
  EXPECT_EQ(h.lines.size(), linesBefore);
  EXPECT_EQ(h.tx.sentFor(7).size(), sentBefore);

  // b changes advskew, c is removed, d is new; a stays as it is.
  b.advskew = 50;
  auto d = vhost(10, "192.0.2.103");
  ASSERT_TRUE(h.apply({a, b, d}).ok());
  EXPECT_EQ(h.agent.generation({"eth0", 7}), genA);
  EXPECT_EQ(h.agent.vhost({"eth0", 7})->counter(), counterA);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);
  EXPECT_EQ(h.tx.sentFor(7).size(), sentBefore);
  EXPECT_EQ(h.agent.vhost({"eth0", 8})->config().advskew.value(), 50);
  EXPECT_EQ(h.agent.state({"eth0", 8}), State::Master);  // timing changes never change state
  EXPECT_EQ(h.agent.state({"eth0", 9}), std::nullopt);
  EXPECT_FALSE(h.table.has("eth0", ip("192.0.2.102")));
  auto bow = h.tx.sentFor(9);
  ASSERT_FALSE(bow.empty());
  EXPECT_TRUE(bow.back().advert.isBowOut());
  EXPECT_EQ(h.agent.state({"eth0", 10}), State::Backup);
  EXPECT_TRUE(h.logged("msg=\"vhid removed\" vhid=9"));
  EXPECT_TRUE(h.logged("msg=\"vhid reconfigured\" vhid=8"));

  // An invalid config is rejected and the running one kept.
  auto bad = vhost(7, "192.0.2.100");
  bad.advskew = 300;
  auto st = h.apply({bad, b, d});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "vhids[0].advskew: must be between 0 and 254, got 300");
  EXPECT_EQ(h.agent.size(), 3u);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);

  // Moving a VIP from one vhid to another in one apply works (removal runs first).
  auto moved = vhost(11, "192.0.2.100");
  ASSERT_TRUE(h.apply({moved, b, d}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 7}), std::nullopt);
  EXPECT_EQ(h.agent.state({"eth0", 11}), State::Backup);
}

TEST(Agent, ChangingVipsWhileMasterRebinds) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  auto a = vhost(7, "192.0.2.100");
  ASSERT_TRUE(h.apply({a}).ok());
  h.runFor(4s);
  ASSERT_TRUE(h.table.has("eth0", ip("192.0.2.100")));
  a.addresses = {cip("192.0.2.110")};
  ASSERT_TRUE(h.apply({a}).ok());
  EXPECT_FALSE(h.table.has("eth0", ip("192.0.2.100")));
  EXPECT_TRUE(h.table.has("eth0", ip("192.0.2.110")));
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);
}

TEST(Agent, BindFailureDemotesOnlyThatVhid) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  h.table.failAdd.insert(ip("192.0.2.100"));
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100", 10), vhost(8, "192.0.2.101", 10)}).ok());
  h.runFor(4s);
  EXPECT_TRUE(h.logged("msg=\"VIP bind failed; demoting vhid\" vhid=7"));
  EXPECT_EQ(h.agent.vhost({"eth0", 7})->demote(), TroubleDemote);
  EXPECT_EQ(h.agent.vhost({"eth0", 8})->demote(), 0);
  EXPECT_GE(h.agent.vhost({"eth0", 7})->priority().advskew, 240);
  EXPECT_EQ(h.agent.vhost({"eth0", 8})->priority().advskew, 10);
  EXPECT_TRUE(h.table.has("eth0", ip("192.0.2.101")));
  // A healthy peer takes over vhid 7 (its demote is lower than ours), vhid 8 keeps MASTER.
  h.peerAdvert(7, "192.0.2.100", 1, 50);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);
  EXPECT_EQ(h.agent.state({"eth0", 8}), State::Master);
  // The hold-down ends: demotion cleared.
  h.table.failAdd.clear();
  h.runFor(TroubleHoldDown);
  EXPECT_EQ(h.agent.vhost({"eth0", 7})->demote(), 0);
}

TEST(Agent, RepeatedSendErrorsDemote) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  h.agent.linkChanged("eth1", upLink("198.51.100.1"), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100"), vhost(8, "198.51.100.100", 0, "eth1")}).ok());
  h.tx.failSend.insert("eth0");
  h.runFor(7s);
  EXPECT_EQ(h.agent.vhost({"eth0", 7})->demote(), TroubleDemote);
  EXPECT_EQ(h.agent.vhost({"eth1", 8})->demote(), 0);
  EXPECT_GE(h.metric("carplb_agent_send_errors_total", {{"interface", "eth0"}, {"vhid", "7"}, {"kind", "advert"}}), 3);
  EXPECT_TRUE(h.logged("msg=\"advert send failed\" vhid=7"));
}

TEST(Agent, ReconcileReaddsDeletedVipAndRemovesStaleOnesOnly) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  h.table.adminAdd("eth0", ip("192.0.2.200"), 32, true);   // ours, left over from a crash
  h.table.adminAdd("eth0", ip("192.0.2.201"), 32, false);  // someone else's
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100")}).ok());
  h.agent.reconcileAddresses("eth0", h.clock.now());
  EXPECT_FALSE(h.table.has("eth0", ip("192.0.2.200")));
  EXPECT_TRUE(h.table.has("eth0", ip("192.0.2.201")));
  EXPECT_TRUE(h.logged("msg=\"removed stale VIP\" interface=eth0 vip=192.0.2.200"));

  h.runFor(4s);
  ASSERT_EQ(h.agent.state({"eth0", 7}), State::Master);
  size_t garps = h.arp.announced.size();
  h.table.adminRemove("eth0", ip("192.0.2.100"));
  h.agent.reconcileAddresses("eth0", h.clock.now());
  EXPECT_TRUE(h.table.has("eth0", ip("192.0.2.100")));
  EXPECT_TRUE(h.logged("msg=\"VIP missing while MASTER; re-added\" vhid=7"));
  EXPECT_EQ(h.arp.announced.size(), garps + 1);
  EXPECT_EQ(h.metric("carplb_agent_vip_readded_total", {{"interface", "eth0"}, {"vhid", "7"}}), 1);
}

TEST(Agent, UnbindLeavesForeignAddressAlone) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100")}).ok());
  h.runFor(4s);
  // An admin replaced our /32 with their own address of the same value.
  h.table.adminRemove("eth0", ip("192.0.2.100"));
  h.table.adminAdd("eth0", ip("192.0.2.100"), 24, false);
  h.peerAdvert(7, "192.0.2.100", 0, 10);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);
  EXPECT_TRUE(h.table.has("eth0", ip("192.0.2.100")));
  EXPECT_TRUE(h.logged("msg=\"VIP left in place: not added by carplb\" vhid=7"));
}

TEST(Agent, ShutdownBowsOutThenUnbinds) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100"), vhost(8, "192.0.2.101", 0, "eth0")}).ok());
  h.runFor(4s);
  h.agent.shutdown(h.clock.now());
  EXPECT_EQ(h.agent.size(), 0u);
  EXPECT_TRUE(h.table.table["eth0"].empty() ||
              (!h.table.has("eth0", ip("192.0.2.100")) && !h.table.has("eth0", ip("192.0.2.101"))));
  EXPECT_TRUE(h.tx.sentFor(7).back().advert.isBowOut());
  EXPECT_TRUE(h.tx.sentFor(8).back().advert.isBowOut());
  EXPECT_TRUE(h.tx.open.empty());
  EXPECT_FALSE(h.agent.nextDeadline().has_value());
}

TEST(Agent, StateJsonShape) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100", 20)}).ok());
  h.runFor(4s);
  auto j = h.agent.stateJson(h.clock.now(), h.clock.wallNow());
  ASSERT_EQ(j["vhids"].size(), 1u);
  const auto& v = j["vhids"][0];
  EXPECT_EQ(v["vhid"], 7);
  EXPECT_EQ(v["interface"], "eth0");
  EXPECT_EQ(v["addresses"][0], "192.0.2.100");
  EXPECT_EQ(v["srcip"], "192.0.2.1");
  EXPECT_EQ(v["state"], "MASTER");
  EXPECT_EQ(v["advbase"], 1);
  EXPECT_EQ(v["advskew"], 20);
  EXPECT_TRUE(v["masterSeen"].is_null());
  EXPECT_EQ(v["lastTransition"]["from"], "BACKUP");
  EXPECT_EQ(v["lastTransition"]["to"], "MASTER");
  EXPECT_EQ(v["lastTransition"]["reason"], "master_down");
  EXPECT_TRUE(v["lastTransition"]["at"].get<std::string>().ends_with("Z"));
  EXPECT_GE(v["counters"]["advertsSent"].get<int>(), 1);
  EXPECT_EQ(v["counters"]["transitions"], 2);
}

// ----- claim: a silent new vhid goes MASTER at once on its planned master ----------------------
config::VhostConfig claimed(config::VhostConfig v) {
  v.claim = true;
  return v;
}

TEST(AgentClaim, ClaimedVhidIsMasterAtOnceAfterListeningQuietly) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.agent.listen("eth0", h.clock.now()).ok());
  EXPECT_TRUE(h.tx.open.count("eth0"));
  h.clock.advance(4s);  // longer than the 3 s master-down of advbase 1
  ASSERT_TRUE(h.apply({claimed(vhost(7, "192.0.2.100"))}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);
  EXPECT_TRUE(h.table.has("eth0", ip("192.0.2.100")));
  ASSERT_EQ(h.arp.announced.size(), 1u) << "the first GARP round goes out in the same step";
  EXPECT_EQ(h.arp.announced.front().second, ip("192.0.2.100"));
  ASSERT_EQ(h.tx.sentFor(7).size(), 1u);
  EXPECT_TRUE(h.logged("msg=\"vhid claimed: nobody heard on it\" vhid=7 interface=eth0 result=claim"));
  EXPECT_TRUE(h.logged("from=INIT to=MASTER reason=claimed_silent_vhid"));
  EXPECT_EQ(h.metric("carplb_agent_claims_total", {{"interface", "eth0"}, {"result", "claim"}}), 1);
}

TEST(AgentClaim, NotListenedLongEnoughStartsAsAnOrdinaryBackup) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.agent.listen("eth0", h.clock.now()).ok());
  h.clock.advance(2s);  // < 3 s
  ASSERT_TRUE(h.apply({claimed(vhost(7, "192.0.2.100"))}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);
  EXPECT_TRUE(h.arp.announced.empty());
  EXPECT_TRUE(h.logged("msg=\"vhid claim declined; starting as BACKUP\" vhid=7 interface=eth0 result=listened_too_short"));
  h.runFor(3s);
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);
  EXPECT_TRUE(h.logged("from=BACKUP to=MASTER reason=master_down"));
}

TEST(AgentClaim, AForeignAdvertOnThatVhidNumberBlocksTheClaim) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.agent.listen("eth0", h.clock.now()).ok());
  h.clock.advance(10s);
  // A ucarp pair nobody told the controller about, other password: unrouted here (no vhid 7
  // yet), but heard.
  h.peerAdvert(7, "192.0.2.100", 1, 0, "192.0.2.77", "foreign");
  h.clock.advance(4s);
  ASSERT_TRUE(h.apply({claimed(vhost(7, "192.0.2.100"))}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup);
  EXPECT_TRUE(h.logged("result=heard_recently"));
  EXPECT_EQ(h.metric("carplb_agent_claims_total", {{"interface", "eth0"}, {"result", "heard_recently"}}), 1);
  // Another vhid number on the same link is not affected.
  ASSERT_TRUE(h.apply({claimed(vhost(7, "192.0.2.100")), claimed(vhost(8, "192.0.2.101"))}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 8}), State::Master);
}

TEST(AgentClaim, AVrrpPacketWithThatVridBlocksTheClaimToo) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.agent.listen("eth0", h.clock.now()).ok());
  h.clock.advance(10s);
  carp::Advert a;
  a.vhid = 9;
  auto pkt = carp::encodeIpv4Packet(a, ip("192.0.2.66"));
  pkt[carp::Ipv4HeaderSize] = 0x31;  // VRRPv3 advertisement on protocol 112: version 3, type 1
  h.agent.packetReceived("eth0", pkt, h.clock.now());
  h.clock.advance(4s);
  ASSERT_TRUE(h.apply({claimed(vhost(9, "192.0.2.100"))}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 9}), State::Backup);
  EXPECT_TRUE(h.logged("result=heard_recently"));
}

TEST(AgentClaim, ABowOutReleasesTheVhidForAClaim) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.agent.listen("eth0", h.clock.now()).ok());
  h.clock.advance(10s);
  h.peerAdvert(7, "192.0.2.100", 1, 0);      // the old master of a deleted Service...
  h.clock.advance(100ms);
  h.peerAdvert(7, "192.0.2.100", 255, 255);  // ...bows out
  h.clock.advance(100ms);
  ASSERT_TRUE(h.apply({claimed(vhost(7, "192.0.2.200"))}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Master);
}

TEST(AgentClaim, BackupsAndDemotedVhidsNeverClaim) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.agent.listen("eth0", h.clock.now()).ok());
  h.clock.advance(10s);
  auto drained = claimed(vhost(8, "192.0.2.101"));
  drained.demote = 240;
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100"), drained}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 7}), State::Backup) << "no claim flag: plain CARP";
  EXPECT_EQ(h.agent.state({"eth0", 8}), State::Backup);
  EXPECT_TRUE(h.logged("vhid=8 interface=eth0 result=demoted"));
  EXPECT_TRUE(h.arp.announced.empty());
}

TEST(AgentClaim, ListeningOutlivesTheLastVhidAndStopsWithTheLink) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100")}).ok());  // listening starts with the first vhid
  h.clock.advance(1s);
  ASSERT_TRUE(h.apply({}).ok());
  EXPECT_TRUE(h.tx.open.count("eth0")) << "the socket stays open with no vhid left";
  EXPECT_EQ(h.agent.interfaces(), std::vector<std::string>{"eth0"});
  h.clock.advance(3s);
  ASSERT_TRUE(h.apply({claimed(vhost(8, "192.0.2.101"))}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 8}), State::Master) << "listened 4 s with nothing heard for vhid 8";

  // Link down: we may miss adverts; the next claim needs a whole new quiet interval.
  h.agent.linkChanged("eth0", LinkStatus{true, false, {}}, h.clock.now());
  ASSERT_NE(h.agent.listenHistory("eth0"), nullptr);
  EXPECT_FALSE(h.agent.listenHistory("eth0")->listening());
  h.clock.advance(10s);
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  h.clock.advance(1s);
  ASSERT_TRUE(h.apply({claimed(vhost(8, "192.0.2.101")), claimed(vhost(9, "192.0.2.102"))}).ok());
  EXPECT_EQ(h.agent.state({"eth0", 9}), State::Backup);
  EXPECT_TRUE(h.logged("vhid=9 interface=eth0 result=listened_too_short"));

  h.agent.shutdown(h.clock.now());
  EXPECT_TRUE(h.tx.open.empty());
  EXPECT_EQ(h.agent.listenHistory("eth0"), nullptr);
}

TEST(AgentClaim, TheClaimFlagAloneChangesNothingOnARunningVhid) {
  Harness h;
  h.agent.linkChanged("eth0", upLink(), h.clock.now());
  ASSERT_TRUE(h.apply({claimed(vhost(7, "192.0.2.100"))}).ok());  // too short: BACKUP
  const auto gen = h.agent.generation({"eth0", 7});
  h.clock.advance(10s);
  h.lines.clear();
  ASSERT_TRUE(h.apply({vhost(7, "192.0.2.100")}).ok());
  ASSERT_TRUE(h.apply({claimed(vhost(7, "192.0.2.100"))}).ok());
  EXPECT_EQ(h.agent.generation({"eth0", 7}), gen);
  EXPECT_FALSE(h.logged("vhid reconfigured"));
  EXPECT_FALSE(h.logged("claim")) << "a vhid already running is never claimed";
}

}  // namespace
}  // namespace carplb::agent::runtime
