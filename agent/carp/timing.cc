#include "agent/carp/timing.h"

namespace carplb::agent::carp {

Duration advertInterval(uint8_t advbase, uint8_t advskew) {
  return std::chrono::seconds(advbase) + SkewUnit * advskew;
}

Duration advertPeriod(uint8_t advbase, uint8_t advskew) {
  Duration t = advertInterval(advbase, advskew);
  return t == Duration::zero() ? Duration(SkewUnit) : t;
}

Duration masterDownInterval(uint8_t advbase, uint8_t advskew) {
  if (advbase >= 1) {
    return std::chrono::seconds(advbase) * MasterDownMultiplier + SkewUnit * advskew;
  }
  return advertPeriod(advbase, advskew) * MasterDownMultiplier;
}

uint8_t effectiveAdvSkew(uint8_t advskew, uint8_t demote) {
  if (demote > 0 && advskew < DemotionAdvSkew) {
    return DemotionAdvSkew;
  }
  return advskew;
}

bool masterShouldYield(const Priority& ours, const Priority& peer) {
  Duration ourT = ours.interval();
  Duration peerT = peer.interval();
  return (peerT <= ourT && peer.demote <= ours.demote) || peer.demote < ours.demote;
}

BackupVerdict evaluateAsBackup(const Priority& ours, const Priority& peer, bool preempt) {
  if (peer.advbase == 255 && peer.advskew == 255) {
    return BackupVerdict::BowOut;
  }
  if (preempt && ours.interval() < peer.interval() && peer.demote >= ours.demote) {
    return BackupVerdict::Preempt;
  }
  if (peer.demote > ours.demote) {
    return BackupVerdict::DemoteHigherThanPeer;
  }
  if (masterDownInterval(ours.advbase, ours.advskew) < peer.interval()) {
    return BackupVerdict::GuaranteedTimeout;
  }
  return BackupVerdict::Wait;
}

}  // namespace carplb::agent::carp
