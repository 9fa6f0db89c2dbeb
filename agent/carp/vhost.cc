#include "agent/carp/vhost.h"

#include <algorithm>

namespace carplb::agent::carp {
namespace {

template <typename T>
std::vector<T> minus(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> out;
  for (const auto& x : a) {
    if (std::find(b.begin(), b.end(), x) == b.end()) {
      out.push_back(x);
    }
  }
  return out;
}

template <typename T>
bool hasDuplicates(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return std::adjacent_find(v.begin(), v.end()) != v.end();
}

}  // namespace

Status validateConfig(const VhostConfig& c, std::string_view object) {
  std::string o(object);
  if (c.vhid.value() < Vhid::Min) {
    return makeError(o + ".vhid: must be between 1 and 255, got 0");
  }
  if (c.advskew.value() > AdvSkew::Max) {
    return makeError(o + ".advskew: must be between 0 and 254, got " + std::to_string(c.advskew.value()));
  }
  if (c.password.size() > MaxPasswordLength) {
    return makeError(o + ".password: must be at most 19 bytes, got " + std::to_string(c.password.size()));
  }
  if (c.vips.empty() && c.vips6.empty()) {
    return makeError(o + ".vips: at least one virtual address is required");
  }
  if (hasDuplicates(c.vips)) {
    return makeError(o + ".vips: duplicate IPv4 address");
  }
  if (hasDuplicates(c.vips6)) {
    return makeError(o + ".vips6: duplicate IPv6 address");
  }
  if (c.preemptDelay < Duration::zero()) {
    return makeError(o + ".preemptDelay: must not be negative");
  }
  if (c.garpRefreshInterval < Duration::zero()) {
    return makeError(o + ".garpRefreshInterval: must not be negative");
  }
  if (c.garpSecondRoundAfterAdverts < 0 || c.garpSecondRoundAfterAdverts > 100) {
    return makeError(o + ".garpSecondRoundAfterAdverts: must be between 0 and 100, got " +
                     std::to_string(c.garpSecondRoundAfterAdverts));
  }
  return okStatus();
}

std::string_view actionName(const Action& a) {
  struct Visitor {
    std::string_view operator()(const StateChanged&) const { return "state_changed"; }
    std::string_view operator()(const SendAdvert&) const { return "send_advert"; }
    std::string_view operator()(const BindAddresses&) const { return "bind_addresses"; }
    std::string_view operator()(const UnbindAddresses&) const { return "unbind_addresses"; }
    std::string_view operator()(const SendGratuitousArp&) const { return "send_gratuitous_arp"; }
  };
  return std::visit(Visitor{}, a);
}

Result<VirtualHost> VirtualHost::create(VhostConfig config, uint64_t initialCounter) {
  auto valid = validateConfig(config);
  if (!valid) {
    return valid.error();
  }
  auto key = HmacKey::prepare(config.password, config.vhid, config.vips, config.vips6);
  if (!key) {
    return key.error();
  }
  return VirtualHost(std::move(config), std::move(key.value()), initialCounter);
}

Priority VirtualHost::priority() const {
  return Priority{config_.advbase.value(), effectiveAdvSkew(config_.advskew.value(), demote_), demote_};
}

Advert VirtualHost::buildAdvert(bool bowOut) const {
  Priority p = priority();
  Advert a;
  a.vhid = config_.vhid.value();
  a.advbase = bowOut ? BowOutAdvBase : p.advbase;
  a.advskew = bowOut ? BowOutAdvSkew : p.advskew;
  a.demote = demote_;
  a.authlen = CarpAuthLen;
  a.counter = counter_;
  a.hmac = key_.compute(counter_);
  return a;
}

// ----- transitions (the only place state_ changes) --------------------------------------------

void VirtualHost::setState(State to, Reason reason, TimePoint now, Actions& out) {
  if (to == state_) {
    return;
  }
  out.items.emplace_back(StateChanged{state_, to, reason});
  state_ = to;
  ++stats_.transitions;
  ++stats_.transitionsByReason[static_cast<std::size_t>(reason)];
  stats_.lastTransitionAt = now;
  stats_.lastTransitionReason = reason;
}

void VirtualHost::becomeMaster(Reason reason, TimePoint now, Actions& out) {
  setState(State::Master, reason, now, out);
  preemptAt_.reset();
  if (!bound_) {
    out.items.emplace_back(BindAddresses{config_.vips, config_.vips6});
    bound_ = true;
  }
  advertsSinceMaster_ = 0;
  sendAdvert(now, out);
  garpRound_ = 0;
  garp(1, now, out);
  garpRefreshAt_.reset();
  if (config_.garpRefreshInterval > Duration::zero()) {
    garpRefreshAt_ = now + config_.garpRefreshInterval;
  }
}

void VirtualHost::becomeBackup(Reason reason, TimePoint now, Actions& out) {
  setState(State::Backup, reason, now, out);
  if (bound_) {
    out.items.emplace_back(UnbindAddresses{config_.vips, config_.vips6});
    bound_ = false;
  }
  garpRefreshAt_.reset();
  preemptAt_.reset();
  backupSince_ = now;
  lastMasterSignal_ = now;
  Priority p = priority();
  masterDownAt_ = now + masterDownInterval(p.advbase, p.advskew);
}

void VirtualHost::enterInit(Reason reason, TimePoint now, Actions& out) {
  setState(State::Init, reason, now, out);
  if (bound_) {
    out.items.emplace_back(UnbindAddresses{config_.vips, config_.vips6});
    bound_ = false;
  }
  garpRefreshAt_.reset();
  preemptAt_.reset();
}

void VirtualHost::sendAdvert(TimePoint now, Actions& out, bool bowOut) {
  out.items.emplace_back(SendAdvert{buildAdvert(bowOut), bowOut});
  lastSentCounter_ = counter_;
  ++counter_;
  ++stats_.advertsSent;
  if (!bowOut) {
    Priority p = priority();
    lastAdvertAt_ = now;
    nextAdvertAt_ = now + advertPeriod(p.advbase, p.advskew);
  }
}

void VirtualHost::garp(int round, TimePoint /*now*/, Actions& out) {
  out.items.emplace_back(SendGratuitousArp{config_.vips, config_.vips6, round});
  garpRound_ = round;
  ++stats_.gratuitousArpRounds;
}

void VirtualHost::drop(DropReason r, Actions& out) {
  stats_.drops.add(r);
  out.dropped = r;
}

bool VirtualHost::isLocal(const SourceAddress& a) const {
  return std::find(local_.begin(), local_.end(), a) != local_.end();
}

// ----- events ---------------------------------------------------------------------------------

Actions VirtualHost::start(TimePoint now, bool linkUp, bool claim) {
  Actions out;
  if (started_) {
    return out;
  }
  started_ = true;
  linkUp_ = linkUp;
  if (!linkUp) {
    return out;
  }
  if (claim && demote_ == 0) {
    // The BACKUP bookkeeping a later yield relies on, then straight to MASTER (one
    // INIT -> MASTER transition, not a BACKUP flash).
    backupSince_ = now;
    lastMasterSignal_ = now;
    becomeMaster(Reason::ClaimedSilentVhid, now, out);
    return out;
  }
  becomeBackup(Reason::Startup, now, out);
  return out;
}

Actions VirtualHost::linkChanged(bool up, TimePoint now) {
  Actions out;
  bool was = linkUp_;
  linkUp_ = up;
  if (!started_ || was == up) {
    return out;
  }
  if (up) {
    becomeBackup(Reason::LinkUp, now, out);
  } else {
    enterInit(Reason::LinkDown, now, out);
  }
  return out;
}

Actions VirtualHost::advertReceived(const ReceivedAdvert& in, TimePoint now) {
  Actions out;
  const Advert& a = in.advert;
  // Cheapest first; each failure has its own counter.
  if (a.vhid != config_.vhid.value()) {
    drop(DropReason::UnknownVhid, out);
    return out;
  }
  if (isLocal(in.source)) {
    drop(DropReason::OwnPacket, out);
    return out;
  }
  if (!key_.verify(a)) {
    drop(DropReason::BadHmac, out);
    ++stats_.foreignSpeakerPackets;
    stats_.lastForeignSource = in.source;
    stats_.lastForeignAt = now;
    return out;
  }
  if (lastSentCounter_ && a.counter == *lastSentCounter_) {
    drop(DropReason::Replayed, out);
    return out;
  }
  if (!started_ || state_ == State::Init) {
    drop(DropReason::NotReady, out);
    return out;
  }
  ++stats_.advertsReceived;
  stats_.lastMaster = PeerInfo{in.source, a.advbase, a.advskew, a.demote, now};

  Priority ours = priority();
  Priority peer{a.advbase, a.advskew, a.demote};
  if (state_ == State::Master) {
    if (masterShouldYield(ours, peer)) {
      becomeBackup(Reason::HigherPriorityMaster, now, out);
    }
    return out;
  }

  // BACKUP
  bool delayActive = config_.preemptDelay > Duration::zero() && now < backupSince_ + config_.preemptDelay;
  switch (evaluateAsBackup(ours, peer, config_.preempt && !delayActive)) {
    case BackupVerdict::BowOut:
      becomeMaster(Reason::BowOutReceived, now, out);
      return out;
    case BackupVerdict::Preempt:
      becomeMaster(preemptAt_ ? Reason::PreemptAfterDelay : Reason::Preempt, now, out);
      return out;
    case BackupVerdict::DemoteHigherThanPeer:
      becomeMaster(Reason::DemoteHigherThanPeer, now, out);
      return out;
    case BackupVerdict::GuaranteedTimeout:
      becomeMaster(Reason::GuaranteedTimeout, now, out);
      return out;
    case BackupVerdict::Wait:
      break;
  }
  lastMasterSignal_ = now;
  masterDownAt_ = now + masterDownInterval(ours.advbase, ours.advskew);
  if (delayActive && config_.preempt && evaluateAsBackup(ours, peer, true) == BackupVerdict::Preempt) {
    preemptAt_ = backupSince_ + config_.preemptDelay;  // held back: preempt when the delay ends
  } else {
    preemptAt_.reset();
  }
  return out;
}

Actions VirtualHost::timerFired(TimePoint now) {
  Actions out;
  if (!started_) {
    return out;
  }
  switch (state_) {
    case State::Init:
      break;
    case State::Backup:
      if (preemptAt_ && now >= *preemptAt_) {
        becomeMaster(Reason::PreemptAfterDelay, now, out);
      } else if (now >= masterDownAt_) {
        becomeMaster(Reason::MasterDown, now, out);
      }
      break;
    case State::Master:
      if (now >= nextAdvertAt_) {
        // One advert even if we were stalled for several periods (no catch-up burst).
        sendAdvert(now, out);
        ++advertsSinceMaster_;
        if (config_.garpSecondRoundAfterAdverts > 0 && advertsSinceMaster_ == config_.garpSecondRoundAfterAdverts) {
          garp(2, now, out);
        }
      }
      if (garpRefreshAt_ && now >= *garpRefreshAt_) {
        garp(std::max(garpRound_ + 1, 3), now, out);
        garpRefreshAt_ = now + config_.garpRefreshInterval;
      }
      break;
  }
  return out;
}

Actions VirtualHost::shutdown(TimePoint now, Reason reason) {
  Actions out;
  if (!started_) {
    return out;
  }
  bool wasMaster = state_ == State::Master;
  setState(State::Init, reason, now, out);
  if (wasMaster) {
    sendAdvert(now, out, /*bowOut=*/true);  // backups take over at once (guaranteed timeout)
  }
  if (bound_) {
    out.items.emplace_back(UnbindAddresses{config_.vips, config_.vips6});
    bound_ = false;
  }
  garpRefreshAt_.reset();
  preemptAt_.reset();
  started_ = false;
  return out;
}

Actions VirtualHost::setDemote(uint8_t demote, TimePoint now) {
  Actions out;
  if (demote == demote_) {
    return out;
  }
  demote_ = demote;
  if (!started_) {
    return out;
  }
  Priority p = priority();
  if (state_ == State::Master) {
    sendAdvert(now, out);  // tell peers at once so a better node can preempt
  } else if (state_ == State::Backup) {
    masterDownAt_ = lastMasterSignal_ + masterDownInterval(p.advbase, p.advskew);
  }
  return out;
}

Result<Actions> VirtualHost::reconfigure(const VhostConfig& config, TimePoint now) {
  if (config.vhid != config_.vhid) {
    return makeError("vhid: cannot change from " + std::to_string(config_.vhid.value()) + " to " +
                     std::to_string(config.vhid.value()) + "; replace the virtual host");
  }
  auto valid = validateConfig(config, "vhid " + std::to_string(config.vhid.value()));
  if (!valid) {
    return valid.error();
  }
  Actions out;
  if (config == config_) {
    return out;
  }
  bool keyChanged = config.password != config_.password || config.vips != config_.vips || config.vips6 != config_.vips6;
  if (keyChanged) {
    auto key = HmacKey::prepare(config.password, config.vhid, config.vips, config.vips6);
    if (!key) {
      return key.error();
    }
    key_ = std::move(key.value());
  }
  VhostConfig old = std::move(config_);
  config_ = config;
  Priority p = priority();

  if (state_ == State::Master) {
    if (bound_) {
      auto removed4 = minus(old.vips, config_.vips);
      auto removed6 = minus(old.vips6, config_.vips6);
      auto added4 = minus(config_.vips, old.vips);
      auto added6 = minus(config_.vips6, old.vips6);
      if (!removed4.empty() || !removed6.empty()) {
        out.items.emplace_back(UnbindAddresses{removed4, removed6});
      }
      if (!added4.empty() || !added6.empty()) {
        out.items.emplace_back(BindAddresses{added4, added6});
        out.items.emplace_back(SendGratuitousArp{added4, added6, 1});
        ++stats_.gratuitousArpRounds;
      }
    }
    nextAdvertAt_ = lastAdvertAt_ + advertPeriod(p.advbase, p.advskew);
    if (config_.garpRefreshInterval != old.garpRefreshInterval) {
      garpRefreshAt_.reset();
      if (config_.garpRefreshInterval > Duration::zero()) {
        garpRefreshAt_ = now + config_.garpRefreshInterval;
      }
    }
  } else if (state_ == State::Backup) {
    masterDownAt_ = lastMasterSignal_ + masterDownInterval(p.advbase, p.advskew);
    if (!config_.preempt) {
      preemptAt_.reset();
    } else if (preemptAt_) {
      preemptAt_ = backupSince_ + config_.preemptDelay;
    }
    // The new timers make us better than the master we last heard (in this BACKUP period):
    // preempt now instead of at its next advert. That master may be gone already: when a
    // re-plan shifts advskews (a drained master's backups move up one slot), two backups can
    // briefly run the same advskew, both take over on the drained master's bow-out, see each
    // other's equal T and both step down. Without this the newly planned master then waited a
    // full master-down interval with nobody MASTER (the cluster e2e drain case).
    const auto& heard = stats_.lastMaster;
    if (config_.preempt && heard && heard->seenAt >= backupSince_) {
      Priority peer{heard->advbase, heard->advskew, heard->demote};
      if (evaluateAsBackup(p, peer, true) == BackupVerdict::Preempt) {
        const bool delayActive = config_.preemptDelay > Duration::zero() && now < backupSince_ + config_.preemptDelay;
        if (delayActive) {
          preemptAt_ = backupSince_ + config_.preemptDelay;
        } else {
          becomeMaster(Reason::Preempt, now, out);
        }
      }
    }
  }
  return out;
}

void VirtualHost::setLocalAddresses(std::vector<SourceAddress> addresses) { local_ = std::move(addresses); }

Actions VirtualHost::step(const Event& event, TimePoint now) {
  struct Visitor {
    VirtualHost& v;
    TimePoint now;
    Actions operator()(const StartEvent& e) const { return v.start(now, e.linkUp, e.claim); }
    Actions operator()(const LinkEvent& e) const { return v.linkChanged(e.up, now); }
    Actions operator()(const AdvertEvent& e) const { return v.advertReceived(e.advert, now); }
    Actions operator()(const TimerEvent&) const { return v.timerFired(now); }
    Actions operator()(const ShutdownEvent& e) const { return v.shutdown(now, e.reason); }
    Actions operator()(const DemoteEvent& e) const { return v.setDemote(e.demote, now); }
  };
  return std::visit(Visitor{*this, now}, event);
}

std::optional<TimePoint> VirtualHost::nextDeadline() const {
  if (!started_) {
    return std::nullopt;
  }
  switch (state_) {
    case State::Init:
      return std::nullopt;
    case State::Backup:
      return preemptAt_ ? std::min(*preemptAt_, masterDownAt_) : masterDownAt_;
    case State::Master:
      return garpRefreshAt_ ? std::min(*garpRefreshAt_, nextAdvertAt_) : nextAdvertAt_;
  }
  return std::nullopt;
}

}  // namespace carplb::agent::carp
