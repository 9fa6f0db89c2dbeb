#pragma once
// CARP timers and the "better master" rules (/work/shared/docs/carp-protocol.md sections 3-4).
// T = advbase + advskew/256 s (all three implementations). Master-down: FreeBSD's
// 3*advbase + advskew/256 when advbase >= 1, OpenBSD's 3*T for sub-second operation (advbase 0,
// where FreeBSD's formula would be one interval and flap, as ucarp does). See masterDownInterval.
// One place computes every interval; everything takes wire bytes so that peer values
// (advskew 255 in a bow-out) use the same formula.
#include <chrono>
#include <cstdint>

#include "agent/carp/types.h"
#include "common/clock.h"

namespace carplb::agent::carp {

// 1/256 s is exactly 3,906,250 ns, so all CARP intervals are exact in nanoseconds.
inline constexpr Duration SkewUnit = std::chrono::nanoseconds(3'906'250);
inline constexpr uint8_t DemotionAdvSkew = 240;  // advskew sent while demoted (cap 240)
inline constexpr int MasterDownMultiplier = 3;

// T = advbase s + advskew/256 s (exact). May be zero (advbase 0, advskew 0).
Duration advertInterval(uint8_t advbase, uint8_t advskew);
inline Duration advertInterval(AdvBase b, AdvSkew s) { return advertInterval(b.value(), s.value()); }

// How often a MASTER sends: T, with T = 0 treated as 1/256 s (OpenBSD). Never zero.
Duration advertPeriod(uint8_t advbase, uint8_t advskew);

// How long a BACKUP waits for an advert before it takes over. A local timer policy (it is not on
// the wire, so interop does not depend on it):
//   advbase >= 1: 3*advbase + advskew/256 s (FreeBSD). The skew still orders the backups
//                 (advskew 50 vs 100 take over 195 ms apart) but is not tripled, so detection is
//                 as fast as keepalived's 3*advert_int + (256-priority)/256 at equal timers
//                 (OpenBSD's 3*T would be 3*advskew/256 s slower: 117 ms at advskew 10).
//   advbase 0:    3*T with T = advskew/256 s (OpenBSD), T = 0 counting as 1/256 s.
// Never zero.
Duration masterDownInterval(uint8_t advbase, uint8_t advskew);
inline Duration masterDownInterval(AdvBase b, AdvSkew s) { return masterDownInterval(b.value(), s.value()); }

// The advskew we send: when demoted (demote > 0) at least 240 (OpenBSD: a demoted node loses
// to any non-demoted peer); never lowers a configured advskew above 240.
uint8_t effectiveAdvSkew(uint8_t advskew, uint8_t demote);

// What a node advertises (or would advertise): the inputs of every comparison.
struct Priority {
  uint8_t advbase = 1;
  uint8_t advskew = 0;  // effective (already demoted) value
  uint8_t demote = 0;
  Duration interval() const { return advertInterval(advbase, advskew); }
};

// MASTER hearing a peer master: step down if the peer's T is shorter than or equal to ours
// and its demote count is not higher, or if its demote count is lower (OpenBSD).
// Equal T yields; there is deliberately no address tie-break (it deadlocks against ucarp).
bool masterShouldYield(const Priority& ours, const Priority& peer);

// BACKUP hearing a master: what to do. Checked in this order.
enum class BackupVerdict {
  BowOut,             // bow-out advert (255/255): the guaranteed-timeout rule, named apart
  Preempt,            // preempt allowed, peer's T longer than ours, peer demote >= ours
  DemoteHigherThanPeer,  // peer's demote count higher than ours (regardless of preempt)
  GuaranteedTimeout,  // our master-down time is shorter than the peer's T
  Wait,               // restart the master-down timer
};
// `preempt` = preemption is configured AND currently allowed (preempt delay passed).
// (VirtualHost asks again with preempt=true to learn whether a delayed preemption is due.)
BackupVerdict evaluateAsBackup(const Priority& ours, const Priority& peer, bool preempt);

}  // namespace carplb::agent::carp
