#pragma once
// Claiming a silent new vhid: a fast first master for a vhid the controller has just created.
//
// Plain CARP makes a new vhid wait its master-down interval in BACKUP on every node before
// anybody takes over (3 s at advbase 1, 3 x T at advbase 0), even though nobody is master.
// The controller knows when a vhid is brand new (it allocated it and no agent reports any
// state for it) and marks it "claim" in the snapshot of the planned master only
// (docs/protocol.md, Vhost.claim). That alone is not enough: a foreign CARP/VRRP speaker the
// controller has never heard of may already use the vhid number on the link. So the agent
// decides with what it heard itself:
//
//   A node that has been listening on the link for at least the vhid's master-down interval,
//   and heard no advert carrying that vhid number during that interval, is in exactly the
//   state a BACKUP is in when its master-down timer fires. It may go MASTER at once.
//
// ListenHistory is that record, one per interface: since when the agent has been listening
// (socket open, link usable) and, per vhid number 1..255, when it last heard any protocol-112
// packet carrying it (CARP with any password, VRRP: the vhid/VRID is byte 1 of both headers).
// A bow-out advert (advbase 255 / advskew 255) is the sender leaving: backups take over at
// once on it, so it releases the vhid here too (what was heard before it is forgotten).
//
// The rule is claimVerdict(). It is stricter than the BACKUP it replaces in one way: an
// advert heard within ClaimMemory (10 s) blocks the claim even when the vhid's own
// master-down interval is shorter, so a foreign master with slower timers (ucarp/keepalived
// default to 1 s adverts) that the node heard a moment ago is not overrun. The runtime starts the VirtualHost with claim = true only on
// ClaimVerdict::Claim. Backups (no claim flag) never claim, demoted vhids never claim.
// Pure: times come in as arguments.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "agent/carp/types.h"
#include "common/clock.h"

namespace carplb::agent::carp {

class ListenHistory {
public:
  // The agent can hear the link from `now` on (socket open, link up). No-op while listening.
  void startListening(TimePoint now);
  // It cannot any more (link down, interface gone, socket closed). Everything heard is
  // forgotten: a later claim needs a whole new quiet interval.
  void stopListening();
  bool listening() const { return since_.has_value(); }
  std::optional<TimePoint> listeningSince() const { return since_; }

  // A protocol-112 packet carrying vhid/VRID byte `vhid` arrived at `at`. Ignored while not
  // listening and for vhid 0 (not a valid vhid / VRID).
  void heard(uint8_t vhid, TimePoint at);
  // A CARP bow-out advert for `vhid`: the sender left, the vhid is released.
  void heardBowOut(uint8_t vhid);
  std::optional<TimePoint> lastHeard(uint8_t vhid) const { return last_[vhid]; }

private:
  std::optional<TimePoint> since_;
  std::array<std::optional<TimePoint>, 256> last_{};
};

// How long a heard advert blocks a claim, at least (see above).
inline constexpr Duration ClaimMemory = std::chrono::seconds(10);

enum class ClaimVerdict {
  Claim,              // listened long enough, heard nothing: go MASTER now
  NotListening,       // the link is not being listened to
  ListenedTooShort,   // listening for less than the quiet interval
  HeardRecently,      // an advert with this vhid number arrived within max(quiet, ClaimMemory)
};
std::string_view toString(ClaimVerdict v);  // "claim", "not_listening", "listened_too_short", "heard_recently"

// `quiet` is the vhid's own master-down interval (masterDownInterval(advbase, advskew)):
// the time a BACKUP of this vhid would wait for an advert before taking over. Claim when
// listening for at least `quiet` and nothing (not released by a bow-out) was heard for the vhid
// number within max(quiet, ClaimMemory).
ClaimVerdict claimVerdict(const ListenHistory& history, Vhid vhid, Duration quiet, TimePoint now);

}  // namespace carplb::agent::carp
