#include "agent/carp/claim.h"

#include <algorithm>

namespace carplb::agent::carp {

void ListenHistory::startListening(TimePoint now) {
  if (!since_) {
    since_ = now;
  }
}

void ListenHistory::stopListening() {
  since_.reset();
  last_.fill(std::nullopt);
}

void ListenHistory::heard(uint8_t vhid, TimePoint at) {
  if (!since_ || vhid == 0) {
    return;
  }
  auto& l = last_[vhid];
  if (!l || *l < at) {
    l = at;
  }
}

void ListenHistory::heardBowOut(uint8_t vhid) { last_[vhid].reset(); }

std::string_view toString(ClaimVerdict v) {
  switch (v) {
    case ClaimVerdict::Claim: return "claim";
    case ClaimVerdict::NotListening: return "not_listening";
    case ClaimVerdict::ListenedTooShort: return "listened_too_short";
    case ClaimVerdict::HeardRecently: return "heard_recently";
  }
  return "unknown";
}

ClaimVerdict claimVerdict(const ListenHistory& history, Vhid vhid, Duration quiet, TimePoint now) {
  auto since = history.listeningSince();
  if (!since) {
    return ClaimVerdict::NotListening;
  }
  if (now - *since < quiet) {
    return ClaimVerdict::ListenedTooShort;
  }
  // Heard within the interval a BACKUP would wait for the next advert (or ClaimMemory): a
  // master of that vhid may still be there.
  const Duration memory = std::max(quiet, ClaimMemory);
  if (auto last = history.lastHeard(vhid.value()); last && now - *last < memory) {
    return ClaimVerdict::HeardRecently;
  }
  return ClaimVerdict::Claim;
}

}  // namespace carplb::agent::carp
