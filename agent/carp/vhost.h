#pragma once
// VirtualHost: the CARP state machine of one vhid (/work/shared/docs/carp-protocol.md §4).
//
// Pure and single-threaded: the shell (agent/runtime + agent/io) owns one VirtualHost per vhid,
// feeds it events with an explicit `now`, executes the returned Actions in order, and calls
// timerFired() at nextDeadline(). No clocks, sockets, logs or randomness inside: the initial
// advert counter comes from the caller.
//
// States and events:
//   INIT    while not started or the link is down; adverts ignored (counted as not_ready).
//           start(claim = true) with the link up and no demotion -> MASTER at once
//           (claimed_silent_vhid; the caller decided with claimVerdict(), claim.h).
//   BACKUP  master-down timer (3*T) armed. Timer -> MASTER (master_down). Valid advert:
//           bow-out -> MASTER (bow_out_received); preempt on and peer T longer -> MASTER
//           (preempt / preempt_after_delay); peer demote higher -> MASTER
//           (demote_higher_than_peer); our master-down < peer T -> MASTER
//           (guaranteed_timeout); otherwise restart the master-down timer. reconfigure() to
//           timers that would preempt the master last heard in this BACKUP period -> MASTER
//           (preempt; or preempt_after_delay once a preempt delay passes).
//   MASTER  advert every T (sent advskew raised to >= 240 while demoted, demote byte set).
//           Peer with T <= ours (demote weighed) -> BACKUP (higher_priority_master).
//           shutdown(): one bow-out advert (advbase 255, advskew 255), unbind, -> INIT.
// Entering MASTER: StateChanged, BindAddresses, SendAdvert, SendGratuitousArp{round 1};
// round 2 goes with the `garpSecondRoundAfterAdverts`-th advert after that; then an optional
// periodic refresh every `garpRefreshInterval`. Leaving MASTER: UnbindAddresses.
//
// Receive rules (in order): wrong vhid (unknown_vhid), source is one of our local addresses
// (own_packet), HMAC fails (bad_hmac: counted as a foreign speaker with its source), counter
// equals the last one we sent (replayed), INIT (not_ready). Counters are never required to
// increase: ucarp sends random counters and then adopts its peer's, so we stay compatible.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "agent/carp/advert.h"
#include "agent/carp/hmac.h"
#include "agent/carp/timing.h"
#include "agent/carp/types.h"
#include "common/clock.h"
#include "common/result.h"

namespace carplb::agent::carp {

struct VhostConfig {
  Vhid vhid{1};
  AdvBase advbase{1};
  AdvSkew advskew{0};
  std::string password;               // at most 19 bytes
  std::vector<Ipv4Address> vips;      // VIPs of this vhid (covered by the HMAC)
  std::vector<Ipv6Address> vips6;     // IPv6 VIPs (HMAC covered; not ucarp-compatible)
  bool preempt = true;
  Duration preemptDelay{0};           // after entering BACKUP, don't preempt for this long
  Duration garpRefreshInterval{0};    // 0 = no periodic GARP refresh while MASTER
  int garpSecondRoundAfterAdverts = 2;  // 0 = no second round

  friend bool operator==(const VhostConfig&, const VhostConfig&) = default;
};

// Checks everything the strong types cannot: password length, at least one VIP, no duplicate
// VIPs, non-negative durations, garpSecondRoundAfterAdverts in 0..100. Errors name the field,
// prefixed with `object` (e.g. "vhids[1].password: must be at most 19 bytes, got 25").
Status validateConfig(const VhostConfig& config, std::string_view object = "vhost");

// ----- Actions (executed by the shell in order) ------------------------------------------------
struct StateChanged {
  State from;
  State to;
  Reason reason;
  friend bool operator==(const StateChanged&, const StateChanged&) = default;
};
struct SendAdvert {
  Advert advert;        // complete: counter and HMAC filled in; encodeAdvert() it
  bool bowOut = false;  // the shutdown bow-out (advbase 255, advskew 255)
  friend bool operator==(const SendAdvert&, const SendAdvert&) = default;
};
struct BindAddresses {
  std::vector<Ipv4Address> vips;
  std::vector<Ipv6Address> vips6;
  friend bool operator==(const BindAddresses&, const BindAddresses&) = default;
};
struct UnbindAddresses {
  std::vector<Ipv4Address> vips;
  std::vector<Ipv6Address> vips6;
  friend bool operator==(const UnbindAddresses&, const UnbindAddresses&) = default;
};
struct SendGratuitousArp {  // GARP per IPv4 VIP, unsolicited NA per IPv6 VIP
  std::vector<Ipv4Address> vips;
  std::vector<Ipv6Address> vips6;
  int round = 1;  // 1 = on becoming MASTER, 2 = second round, >= 3 periodic refresh
  friend bool operator==(const SendGratuitousArp&, const SendGratuitousArp&) = default;
};
using Action = std::variant<StateChanged, SendAdvert, BindAddresses, UnbindAddresses, SendGratuitousArp>;
std::string_view actionName(const Action& a);  // "state_changed", "send_advert", ...

// What one event produced: the actions in execution order, and why a packet was dropped.
struct Actions {
  std::vector<Action> items;
  std::optional<DropReason> dropped;  // set by advertReceived() when the packet was dropped

  bool empty() const { return items.empty(); }
  std::size_t size() const { return items.size(); }
  const Action& operator[](std::size_t i) const { return items[i]; }
  auto begin() const { return items.begin(); }
  auto end() const { return items.end(); }
};

// ----- Observable state (JSON state and Prometheus metrics) -----------------------------------
struct PeerInfo {
  SourceAddress source;
  uint8_t advbase = 0;
  uint8_t advskew = 0;
  uint8_t demote = 0;
  TimePoint seenAt{};
};

struct VhostStats {
  uint64_t advertsSent = 0;
  uint64_t advertsReceived = 0;   // valid adverts that passed every check
  uint64_t transitions = 0;
  std::array<uint64_t, ReasonCount> transitionsByReason{};
  DropCounters drops;
  uint64_t gratuitousArpRounds = 0;
  uint64_t foreignSpeakerPackets = 0;     // == drops.get(DropReason::BadHmac)
  std::optional<SourceAddress> lastForeignSource;
  std::optional<TimePoint> lastForeignAt;
  std::optional<TimePoint> lastTransitionAt;
  std::optional<Reason> lastTransitionReason;
  std::optional<PeerInfo> lastMaster;     // last valid advert heard from another node
};

// Events for step(); equivalent to calling the named methods.
struct StartEvent {
  bool linkUp = true;
  bool claim = false;
};
struct LinkEvent { bool up = true; };
struct AdvertEvent { ReceivedAdvert advert; };
struct TimerEvent {};
struct ShutdownEvent { Reason reason = Reason::Shutdown; };
struct DemoteEvent { uint8_t demote = 0; };
using Event = std::variant<StartEvent, LinkEvent, AdvertEvent, TimerEvent, ShutdownEvent, DemoteEvent>;

class VirtualHost {
public:
  // Validates the config and prepares the HMAC key. `initialCounter` should be random (from
  // the caller's Random); each advert sends the current counter, then increments it.
  static Result<VirtualHost> create(VhostConfig config, uint64_t initialCounter);

  // Begin operating: BACKUP (reason startup) if linkUp, else stay INIT until linkChanged(true).
  // With `claim` (the caller checked claimVerdict() == Claim: a brand-new vhid nobody was
  // heard on for a whole master-down interval, see claim.h) and the link up: MASTER at once
  // (reason claimed_silent_vhid), as a BACKUP whose master-down timer fired would. `claim`
  // is ignored while the vhid is demoted or the link is down.
  // Calling start() while already started is a no-op.
  Actions start(TimePoint now, bool linkUp = true, bool claim = false);
  // Link/carrier/usable-address state. Down: -> INIT (unbinding if MASTER). Up: INIT -> BACKUP.
  Actions linkChanged(bool up, TimePoint now);
  // A decoded advert (decodeAdvert()) for this vhid. Drops are counted and reported in
  // Actions::dropped.
  Actions advertReceived(const ReceivedAdvert& in, TimePoint now);
  // Call at (or after) nextDeadline(); early calls do nothing harmful.
  Actions timerFired(TimePoint now);
  // Leave: MASTER sends one bow-out advert then unbinds; -> INIT. start() may be called again.
  Actions shutdown(TimePoint now, Reason reason = Reason::Shutdown);
  // Demotion count (0 = healthy). While MASTER a change sends an advert at once.
  Actions setDemote(uint8_t demote, TimePoint now);
  // Apply a new config (same vhid). Equal config -> no actions. Timing/preempt changes change
  // state in one case only: a BACKUP whose new timers would preempt the master it last heard
  // (in this BACKUP period, preempt on) takes over now (preempt), as it would at that master's
  // next advert. VIP changes while MASTER unbind removed / bind + GARP added.
  // Errors: invalid config or a different vhid (the runtime must replace the VirtualHost).
  Result<Actions> reconfigure(const VhostConfig& config, TimePoint now);
  // The node's own addresses on the interface (own-packet rule). No actions.
  void setLocalAddresses(std::vector<SourceAddress> addresses);

  Actions step(const Event& event, TimePoint now);

  // When timerFired() must be called next; nullopt when nothing is armed (INIT).
  std::optional<TimePoint> nextDeadline() const;

  State state() const { return state_; }
  bool started() const { return started_; }
  bool addressesBound() const { return bound_; }
  const VhostConfig& config() const { return config_; }
  Vhid vhid() const { return config_.vhid; }
  uint8_t demote() const { return demote_; }
  uint64_t counter() const { return counter_; }  // the counter the next advert will carry
  std::optional<uint64_t> lastSentCounter() const { return lastSentCounter_; }
  const VhostStats& stats() const { return stats_; }
  // What we advertise now (effective advskew, demote).
  Priority priority() const;
  // The advert we would send next (counter/HMAC filled); for tests and the status page.
  Advert buildAdvert(bool bowOut = false) const;

private:
  VirtualHost(VhostConfig config, HmacKey key, uint64_t counter)
      : config_(std::move(config)), key_(std::move(key)), counter_(counter) {}

  void setState(State to, Reason reason, TimePoint now, Actions& out);
  void becomeMaster(Reason reason, TimePoint now, Actions& out);
  void becomeBackup(Reason reason, TimePoint now, Actions& out);
  void enterInit(Reason reason, TimePoint now, Actions& out);
  void sendAdvert(TimePoint now, Actions& out, bool bowOut = false);
  void garp(int round, TimePoint now, Actions& out);
  void drop(DropReason r, Actions& out);
  bool isLocal(const SourceAddress& a) const;

  VhostConfig config_;
  HmacKey key_;
  uint64_t counter_;
  std::optional<uint64_t> lastSentCounter_;
  std::vector<SourceAddress> local_;
  State state_ = State::Init;
  bool started_ = false;
  bool linkUp_ = false;
  bool bound_ = false;
  uint8_t demote_ = 0;

  // BACKUP
  TimePoint masterDownAt_{};
  TimePoint backupSince_{};
  TimePoint lastMasterSignal_{};      // entering BACKUP or last valid advert heard
  std::optional<TimePoint> preemptAt_;  // pending delayed preemption
  // MASTER
  TimePoint nextAdvertAt_{};
  TimePoint lastAdvertAt_{};
  int advertsSinceMaster_ = 0;
  int garpRound_ = 0;
  std::optional<TimePoint> garpRefreshAt_;

  VhostStats stats_;
};

}  // namespace carplb::agent::carp
