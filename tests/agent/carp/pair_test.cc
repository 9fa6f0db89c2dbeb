// Two nodes wired together in memory, the classic mirrored-advskew setup:
//   node A (192.0.2.1): vhid 1 advskew 0,   vhid 2 advskew 100
//   node B (192.0.2.2): vhid 1 advskew 100, vhid 2 advskew 0
// so A is the preferred master of VIP1 and B of VIP2. Packets travel through the real wire
// format (encodeIpv4Packet -> decodeAdvert) with zero latency; time is simulated.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/carp/vhost.h"
#include "fakes/fake_clock.h"

namespace carplb::agent::carp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Ipv4Address Vip1 = Ipv4Address::fromBytes(192, 0, 2, 101);
const Ipv4Address Vip2 = Ipv4Address::fromBytes(192, 0, 2, 102);

struct Transition {
  TimePoint at;
  std::string node;
  uint8_t vhid;
  StateChanged change;
};

class Lab {
public:
  struct Options {
    bool preempt = true;
    Duration preemptDelay{0};
    uint8_t advbase = 1;
    uint8_t goodSkew = 0;
    uint8_t badSkew = 100;
  };

  explicit Lab(Options o) : opts_(o) {
    nodes_["A"].addr = Ipv4Address::fromBytes(192, 0, 2, 1);
    nodes_["B"].addr = Ipv4Address::fromBytes(192, 0, 2, 2);
    start("A");
    start("B");
  }

  TimePoint now() const { return clock_.now(); }

  // Runs timers and packet delivery until `until` (absolute).
  void runUntil(TimePoint until) {
    while (true) {
      std::optional<std::pair<std::string, uint8_t>> next;
      TimePoint best = until;
      for (auto& [name, n] : nodes_) {
        if (!n.alive) {
          continue;
        }
        for (auto& [vhid, host] : n.hosts) {
          auto d = host.nextDeadline();
          if (d && *d <= best) {
            best = *d;
            next = std::make_pair(name, vhid);
          }
        }
      }
      if (!next) {
        clock_.set(until);
        return;
      }
      clock_.set(std::max(best, clock_.now()));
      auto& host = nodes_[next->first].hosts.at(next->second);
      apply(next->first, next->second, host.timerFired(clock_.now()));
      checkInvariants();
    }
  }
  void runFor(Duration d) { runUntil(now() + d); }

  void crash(const std::string& name) {  // power loss: no bow-out, addresses vanish
    auto& n = nodes_[name];
    n.alive = false;
    n.bound.clear();
    n.hosts.clear();
  }
  void cleanShutdown(const std::string& name) {
    auto& n = nodes_[name];
    n.alive = false;  // stops receiving first: the takeover advert must not reach it
    std::vector<std::pair<uint8_t, Actions>> out;
    for (auto& [vhid, host] : n.hosts) {
      out.emplace_back(vhid, host.shutdown(now()));
    }
    for (const auto& [vhid, actions] : out) {
      apply(name, vhid, actions);
    }
    EXPECT_TRUE(n.bound.empty()) << name << " left addresses bound";
    n.hosts.clear();
  }
  void start(const std::string& name) {
    auto& n = nodes_[name];
    bool isA = name == "A";
    for (uint8_t vhid : {uint8_t{1}, uint8_t{2}}) {
      VhostConfig c;
      c.vhid = Vhid(vhid);
      c.advbase = AdvBase(opts_.advbase);
      bool preferred = (vhid == 1) == isA;
      c.advskew = AdvSkew(preferred ? opts_.goodSkew : opts_.badSkew);
      c.password = "mirror";
      c.vips = {vhid == 1 ? Vip1 : Vip2};
      c.preempt = opts_.preempt;
      c.preemptDelay = opts_.preemptDelay;
      auto h = VirtualHost::create(c, (isA ? 1000u : 900000u) + vhid * 100000u);
      ASSERT_TRUE(h.ok());
      h->setLocalAddresses({n.addr});
      n.hosts.insert_or_assign(vhid, std::move(h.value()));
    }
    n.alive = true;
    for (auto& [vhid, host] : n.hosts) {
      apply(name, vhid, host.start(now()));
    }
  }
  void partition(bool on) { partitioned_ = on; }

  std::vector<std::string> holders(Ipv4Address vip) const {
    std::vector<std::string> out;
    for (const auto& [name, n] : nodes_) {
      if (n.bound.count(vip) != 0) {
        out.push_back(name);
      }
    }
    return out;
  }
  State state(const std::string& name, uint8_t vhid) const { return nodes_.at(name).hosts.at(vhid).state(); }
  const std::vector<Transition>& transitions() const { return log_; }
  std::optional<Transition> lastTransitionTo(const std::string& node, uint8_t vhid, State to) const {
    for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
      if (it->node == node && it->vhid == vhid && it->change.to == to) {
        return *it;
      }
    }
    return std::nullopt;
  }

private:
  struct Node {
    Ipv4Address addr;
    bool alive = false;
    std::map<uint8_t, VirtualHost> hosts;
    std::set<Ipv4Address> bound;
  };
  struct Packet {
    std::string from;
    Ipv4PacketBytes bytes;
  };

  void apply(const std::string& name, uint8_t vhid, const Actions& actions) {
    std::deque<Packet> wire;
    handle(name, vhid, actions, wire);
    while (!wire.empty()) {
      Packet p = wire.front();
      wire.pop_front();
      if (partitioned_) {
        continue;
      }
      for (auto& [other, n] : nodes_) {
        if (other == p.from || !n.alive) {
          continue;
        }
        auto d = decodeAdvert(p.bytes);
        ASSERT_TRUE(d.ok()) << toString(d.drop());
        auto it = n.hosts.find(d->advert.vhid);
        if (it == n.hosts.end()) {
          continue;
        }
        Actions out = it->second.advertReceived(*d, now());
        EXPECT_FALSE(out.dropped.has_value()) << "dropped: " << toString(*out.dropped);
        handle(other, it->first, out, wire);
      }
    }
  }

  void handle(const std::string& name, uint8_t vhid, const Actions& actions, std::deque<Packet>& wire) {
    auto& n = nodes_[name];
    for (const auto& a : actions) {
      if (auto* s = std::get_if<SendAdvert>(&a)) {
        wire.push_back({name, encodeIpv4Packet(s->advert, n.addr)});
      } else if (auto* b = std::get_if<BindAddresses>(&a)) {
        for (auto vip : b->vips) {
          EXPECT_TRUE(n.bound.insert(vip).second) << name << " bound " << vip.toString() << " twice";
        }
      } else if (auto* u = std::get_if<UnbindAddresses>(&a)) {
        for (auto vip : u->vips) {
          EXPECT_EQ(n.bound.erase(vip), 1u) << name << " unbound " << vip.toString() << " it did not hold";
        }
      } else if (auto* c = std::get_if<StateChanged>(&a)) {
        log_.push_back({now(), name, vhid, *c});
      }
    }
  }

  void checkInvariants() {
    for (const auto& [name, n] : nodes_) {
      for (const auto& [vhid, host] : n.hosts) {
        bool holds = n.bound.count(vhid == 1 ? Vip1 : Vip2) != 0;
        EXPECT_EQ(holds, host.state() == State::Master) << name << " vhid " << int(vhid);
      }
    }
  }

  Options opts_;
  testing::FakeClock clock_;
  std::map<std::string, Node> nodes_;
  std::vector<Transition> log_;
  bool partitioned_ = false;
};

const Duration TA = advertInterval(1, 0);      // preferred: 1 s
const Duration TB = advertInterval(1, 100);    // other: 1.390625 s
const Duration MDB = masterDownInterval(1, 100);

TEST(TwoNodes, SteadyStateEachNodeMastersItsVhid) {
  Lab lab({});
  TimePoint t0 = lab.now();
  lab.runFor(seconds(10));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"A"});
  EXPECT_EQ(lab.holders(Vip2), std::vector<std::string>{"B"});
  auto a1 = lab.lastTransitionTo("A", 1, State::Master);
  ASSERT_TRUE(a1.has_value());
  EXPECT_EQ(a1->at, t0 + masterDownInterval(1, 0)) << "first master after 3 T";
  EXPECT_EQ(a1->change.reason, Reason::MasterDown);
  EXPECT_FALSE(lab.lastTransitionTo("B", 1, State::Master).has_value()) << "B never mastered vhid 1";
  EXPECT_FALSE(lab.lastTransitionTo("A", 2, State::Master).has_value()) << "A never mastered vhid 2";
}

TEST(TwoNodes, FailoverWithinMasterDownOfTheBackup) {
  Lab lab({});
  lab.runFor(seconds(10));
  TimePoint crash = lab.now();
  lab.crash("A");
  lab.runFor(seconds(10));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"B"});
  EXPECT_EQ(lab.holders(Vip2), std::vector<std::string>{"B"});
  auto t = lab.lastTransitionTo("B", 1, State::Master);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->change.reason, Reason::MasterDown);
  EXPECT_LE(t->at - crash, MDB);
  EXPECT_GT(t->at - crash, MDB - TA) << "B last heard A at most one interval before the crash";
}

TEST(TwoNodes, ReturnWithPreemptTakesTheVipBackWithinOneInterval) {
  Lab lab({});
  lab.runFor(seconds(10));
  lab.crash("A");
  lab.runFor(seconds(10));
  TimePoint back = lab.now();
  lab.start("A");
  lab.runFor(seconds(10));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"A"});
  EXPECT_EQ(lab.holders(Vip2), std::vector<std::string>{"B"});
  auto a = lab.lastTransitionTo("A", 1, State::Master);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->change.reason, Reason::Preempt);
  EXPECT_LE(a->at - back, TB) << "at B's next advert";
  auto b = lab.lastTransitionTo("B", 1, State::Backup);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->change.reason, Reason::HigherPriorityMaster);
  EXPECT_EQ(b->at, a->at) << "B yields on A's first advert";
}

TEST(TwoNodes, ReturnWithoutPreemptLeavesTheVipWhereItIs) {
  Lab lab({.preempt = false});
  lab.runFor(seconds(10));
  lab.crash("A");
  lab.runFor(seconds(10));
  lab.start("A");
  lab.runFor(seconds(60));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"B"});
  EXPECT_EQ(lab.state("A", 1), State::Backup);
}

TEST(TwoNodes, ReturnWithPreemptDelayWaitsThenPreempts) {
  Lab lab({.preempt = true, .preemptDelay = seconds(15)});
  lab.runFor(seconds(10));
  lab.crash("A");
  lab.runFor(seconds(10));
  TimePoint back = lab.now();
  lab.start("A");
  lab.runFor(seconds(15) - milliseconds(1));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"B"}) << "held back by the delay";
  lab.runFor(seconds(5));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"A"});
  auto a = lab.lastTransitionTo("A", 1, State::Master);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->change.reason, Reason::PreemptAfterDelay);
  EXPECT_EQ(a->at, back + seconds(15));
}

TEST(TwoNodes, PartitionHealConvergesWithinOneInterval) {
  Lab lab({});
  lab.runFor(seconds(10));
  lab.partition(true);
  lab.runFor(seconds(10));
  EXPECT_EQ(lab.holders(Vip1), (std::vector<std::string>{"A", "B"})) << "both sides master during the partition";
  EXPECT_EQ(lab.holders(Vip2), (std::vector<std::string>{"A", "B"}));
  TimePoint heal = lab.now();
  lab.partition(false);
  lab.runFor(std::max(TA, TB));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"A"});
  EXPECT_EQ(lab.holders(Vip2), std::vector<std::string>{"B"});
  for (auto [node, vhid] : {std::pair<const char*, uint8_t>{"B", 1}, {"A", 2}}) {
    auto t = lab.lastTransitionTo(node, vhid, State::Backup);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->change.reason, Reason::HigherPriorityMaster);
    EXPECT_LE(t->at - heal, std::max(TA, TB));
  }
}

TEST(TwoNodes, CleanShutdownBowsOutAndTheVipMovesAtOnce) {
  Lab lab({});
  lab.runFor(seconds(10));
  TimePoint stop = lab.now();
  lab.cleanShutdown("A");
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"B"}) << "in the same instant";
  auto t = lab.lastTransitionTo("B", 1, State::Master);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->change.reason, Reason::BowOutReceived);
  EXPECT_EQ(t->at, stop);
  lab.runFor(seconds(10));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"B"});
}

TEST(TwoNodes, SubSecondFailoverWithAdvbaseZero) {
  Lab lab({.advbase = 0, .goodSkew = 20, .badSkew = 60});
  lab.runFor(seconds(2));
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"A"});
  TimePoint crash = lab.now();
  lab.crash("A");
  lab.runFor(seconds(2));
  auto t = lab.lastTransitionTo("B", 1, State::Master);
  ASSERT_TRUE(t.has_value());
  EXPECT_LE(t->at - crash, masterDownInterval(0, 60));  // 703.125 ms
  EXPECT_EQ(lab.holders(Vip1), std::vector<std::string>{"B"});
}

}  // namespace
}  // namespace carplb::agent::carp
