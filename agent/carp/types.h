#pragma once
// carplb::agent::carp — vocabulary of the pure CARP v2 core.
//
// Table of contents of agent/carp/ (read top to bottom, following a packet):
//   types.h   strong wire types (Vhid, AdvBase, AdvSkew), addresses, State/Reason/DropReason
//   advert.h  Advert <-> 36-byte CARP header, full IPv4 packet decode (gauntlet) and build
//   hmac.h    HmacKey: HMAC-SHA1 prepared once per vhid, constant-time verify
//   timing.h  advert interval, master-down interval, demotion, "better master" rules
//   vhost.h   VirtualHost: the per-vhid state machine, events in, Actions out
//
// Everything here is pure: no clocks, sleeps, logs, sockets or global state.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.h"

namespace carplb::agent::carp {

// ---------------------------------------------------------------------------------------------
// Strong wire types. Construction from untrusted integers goes through parse(), whose error
// names the field ("vhids[1].advskew: must be between 0 and 254, got 300").

class Vhid {
public:
  static constexpr int Min = 1;
  static constexpr int Max = 255;
  // Precondition: 1 <= v <= 255 (use parse() for untrusted values).
  constexpr explicit Vhid(uint8_t v) : v_(v) {}
  static Result<Vhid> parse(int64_t v, std::string_view field = "vhid");
  constexpr uint8_t value() const { return v_; }
  friend constexpr bool operator==(Vhid, Vhid) = default;
  friend constexpr auto operator<=>(Vhid, Vhid) = default;

private:
  uint8_t v_;
};

// Whole seconds of the advertisement interval, 0..255 (0 = sub-second operation).
class AdvBase {
public:
  static constexpr int Min = 0;
  static constexpr int Max = 255;
  constexpr explicit AdvBase(uint8_t v) : v_(v) {}
  static Result<AdvBase> parse(int64_t v, std::string_view field = "advbase");
  constexpr uint8_t value() const { return v_; }
  friend constexpr bool operator==(AdvBase, AdvBase) = default;
  friend constexpr auto operator<=>(AdvBase, AdvBase) = default;

private:
  uint8_t v_;
};

// Skew in 1/256 s, 0..254 for configuration (255 only ever appears in bow-out adverts).
class AdvSkew {
public:
  static constexpr int Min = 0;
  static constexpr int Max = 254;
  // Precondition: v <= 254 (use parse() for untrusted values).
  constexpr explicit AdvSkew(uint8_t v) : v_(v) {}
  static Result<AdvSkew> parse(int64_t v, std::string_view field = "advskew");
  constexpr uint8_t value() const { return v_; }
  friend constexpr bool operator==(AdvSkew, AdvSkew) = default;
  friend constexpr auto operator<=>(AdvSkew, AdvSkew) = default;

private:
  uint8_t v_;
};

// ---------------------------------------------------------------------------------------------
// Addresses. Ipv4Address holds the address as a host-order number, so operator< is the
// numeric order the HMAC needs; toBytes() gives network order.

class Ipv4Address {
public:
  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(uint32_t hostOrder) : v_(hostOrder) {}
  static constexpr Ipv4Address fromBytes(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return Ipv4Address((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d);
  }
  // Dotted quad, strict ("192.0.2.1"); error names `field`.
  static Result<Ipv4Address> parse(std::string_view text, std::string_view field = "address");
  constexpr uint32_t value() const { return v_; }
  std::array<uint8_t, 4> toBytes() const;
  std::string toString() const;
  friend constexpr bool operator==(Ipv4Address, Ipv4Address) = default;
  friend constexpr auto operator<=>(Ipv4Address, Ipv4Address) = default;

private:
  uint32_t v_ = 0;
};

// IPv6 address in network byte order (scope id not part of it). Ordered with memcmp
// semantics (lexicographic bytes), as the HMAC needs.
struct Ipv6Address {
  std::array<uint8_t, 16> bytes{};
  // Standard text forms including "::" compression; no scope suffix, no embedded IPv4.
  static Result<Ipv6Address> parse(std::string_view text, std::string_view field = "address");
  std::string toString() const;  // full lower-case hex groups with "::" compression
  friend bool operator==(const Ipv6Address&, const Ipv6Address&) = default;
  friend auto operator<=>(const Ipv6Address&, const Ipv6Address&) = default;
};

// Where an advert came from (IPv4 source, or IPv6 source from the shell's recvmsg).
using SourceAddress = std::variant<Ipv4Address, Ipv6Address>;
std::string toString(const SourceAddress& a);

// ---------------------------------------------------------------------------------------------
// State machine vocabulary. toString() gives snake_case names used as log values and metric
// labels; stateName() gives the conventional upper-case CARP name (INIT/BACKUP/MASTER).

enum class State { Init, Backup, Master };

// Why a state changed (one per transition edge of the machine).
enum class Reason {
  Startup,               // start() with the link up: INIT -> BACKUP
  LinkUp,                // carrier/address came back: INIT -> BACKUP
  LinkDown,              // carrier/address lost: any -> INIT
  MasterDown,            // BACKUP's master-down timer fired: BACKUP -> MASTER
  Preempt,               // BACKUP heard a slower master, preempt on: BACKUP -> MASTER
  PreemptAfterDelay,     // a preemption that preemptDelay held back, done once it passed
  HigherPriorityMaster,  // MASTER heard a master with T <= ours (demote weighed): -> BACKUP
  GuaranteedTimeout,     // BACKUP: sender's T longer than our master-down time: -> MASTER
  BowOutReceived,        // BACKUP heard a bow-out advert (advbase 255, advskew 255): -> MASTER
  DemoteHigherThanPeer,  // BACKUP heard a master whose demote count is higher than ours
  Shutdown,              // shutdown(): any -> INIT (MASTER sends a bow-out first)
  ConfigChanged,         // the runtime removed/disabled the vhid (shutdown with this reason)
  ClaimedSilentVhid,     // start() with claim: a new vhid nobody was heard on -> MASTER at once
                         // (agent/carp/claim.h)
};

// Why a received packet was not acted upon. Cheapest checks first (see decodeAdvert()).
enum class DropReason {
  NotIpv4,       // IP version nibble is not 4 / header shorter than 20 bytes
  BadIpHeader,   // IHL < 5 or beyond the buffer
  BadProtocol,   // IP protocol is not 112
  BadTtl,        // TTL / hop limit is not 255
  TooShort,      // fewer than 36 CARP bytes
  BadLength,     // IP total length inconsistent with the buffer or header
  BadVersion,    // CARP version is not 2 (e.g. VRRPv3 on protocol 112)
  BadType,       // CARP type is not 1 (advertisement)
  BadChecksum,   // Internet checksum over the 36 CARP bytes does not verify
  UnknownVhid,   // no VirtualHost for this vhid (counted by the runtime) or wrong vhid
  BadHmac,       // HMAC does not verify: a foreign speaker on our vhid
  Replayed,      // counter equals the last one we sent
  OwnPacket,     // source is one of our own addresses (multicast loopback)
  NotReady,      // VirtualHost is in INIT / not started: adverts are ignored
};

inline constexpr std::size_t DropReasonCount = static_cast<std::size_t>(DropReason::NotReady) + 1;
inline constexpr std::size_t ReasonCount = static_cast<std::size_t>(Reason::ClaimedSilentVhid) + 1;

std::string_view toString(State s);   // "init", "backup", "master"
std::string_view stateName(State s);  // "INIT", "BACKUP", "MASTER"
std::string_view toString(Reason r);  // e.g. "master_down", "bow_out_received"
std::string_view toString(DropReason r);  // e.g. "bad_ttl", "bad_hmac"

// Per-reason drop counters (index = enum value); the shell/runtime may keep one for drops
// that happen before a vhid is known.
struct DropCounters {
  std::array<uint64_t, DropReasonCount> byReason{};
  void add(DropReason r) { ++byReason[static_cast<std::size_t>(r)]; }
  uint64_t get(DropReason r) const { return byReason[static_cast<std::size_t>(r)]; }
  uint64_t total() const;
};

}  // namespace carplb::agent::carp
