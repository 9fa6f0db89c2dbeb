#include "agent/runtime/agent.h"

#include <algorithm>
#include <ctime>
#include <set>

#include <nlohmann/json.hpp>

namespace carplb::agent::runtime {
namespace {

using nlohmann::json;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string isoTime(WallTime t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  if (ms < 0) ms += 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string vipList(const std::vector<carp::Ipv4Address>& vips) {
  std::string out;
  for (const auto& v : vips) {
    if (!out.empty()) out += ',';
    out += v.toString();
  }
  return out;
}

double stateValue(carp::State s) {
  switch (s) {
    case carp::State::Init: return 0;
    case carp::State::Backup: return 1;
    case carp::State::Master: return 2;
  }
  return 0;
}

json dropsJson(const carp::DropCounters& a, const carp::DropCounters* b = nullptr) {
  json out = json::object();
  for (size_t i = 0; i < carp::DropReasonCount; ++i) {
    uint64_t n = a.byReason[i] + (b ? b->byReason[i] : 0);
    if (n > 0) out[std::string(carp::toString(static_cast<carp::DropReason>(i)))] = n;
  }
  return out;
}

bool sameExceptClaim(config::VhostConfig a, config::VhostConfig b) {
  a.claim = false;
  b.claim = false;
  return a == b;
}

}  // namespace

carp::VhostConfig toCarpConfig(const config::VhostConfig& v) {
  carp::VhostConfig c;
  c.vhid = carp::Vhid(static_cast<uint8_t>(v.vhid));
  c.advbase = carp::AdvBase(static_cast<uint8_t>(v.advbase));
  c.advskew = carp::AdvSkew(static_cast<uint8_t>(v.advskew));
  c.password = v.password;
  for (const auto& a : v.addresses) c.vips.emplace_back(a.value);
  c.preempt = v.preempt;
  c.preemptDelay = v.preemptDelay;
  c.garpRefreshInterval = v.garpRefresh;
  return c;
}

Agent::Agent(AgentDeps deps)
    : d_(std::move(deps)),
      stateGauge_(d_.metrics.gauge("carplb_agent_vhid_state", "CARP state per vhid: 0 INIT, 1 BACKUP, 2 MASTER")),
      transitions_(d_.metrics.counter("carplb_agent_transitions_total", "State changes by from, to and reason")),
      sent_(d_.metrics.counter("carplb_agent_adverts_sent_total", "CARP adverts sent")),
      received_(d_.metrics.counter("carplb_agent_adverts_received_total", "Valid CARP adverts received")),
      rejected_(d_.metrics.counter("carplb_agent_adverts_rejected_total", "Received packets dropped, by reason")),
      garp_(d_.metrics.counter("carplb_agent_gratuitous_arp_total", "Gratuitous ARP frames sent")),
      sendErrors_(d_.metrics.counter("carplb_agent_send_errors_total", "Advert or GARP send failures")),
      addressErrors_(d_.metrics.counter("carplb_agent_address_errors_total", "VIP add/remove failures, by op")),
      readded_(d_.metrics.counter("carplb_agent_vip_readded_total", "VIPs found missing while MASTER and re-added")),
      demoted_(d_.metrics.gauge("carplb_agent_vhid_demote", "Demotion count a vhid advertises (0 = healthy)")),
      claims_(d_.metrics.counter("carplb_agent_claims_total",
                                 "New vhids the controller marked claim, by result (claim = MASTER at once)")) {}

Labels Agent::vhidLabels(const VhostKey& key) const {
  return {{"interface", key.interface}, {"vhid", std::to_string(key.vhid)}};
}

Status Agent::apply(const config::AgentConfig& desired, TimePoint now) {
  // 1. Validate everything and build new VirtualHosts before touching anything.
  auto st = config::validateConfig(desired);
  if (!st) return st;
  std::map<VhostKey, const config::VhostConfig*> want;
  std::map<VhostKey, carp::VirtualHost> created;
  for (size_t i = 0; i < desired.vhids.size(); ++i) {
    const auto& v = desired.vhids[i];
    std::string field = "vhids[" + std::to_string(i) + "]";
    auto cc = toCarpConfig(v);
    auto cst = carp::validateConfig(cc, field);
    if (!cst) return cst.error();
    VhostKey key{v.interface, v.vhid};
    want.emplace(key, &v);
    if (!vhosts_.count(key)) {
      auto vh = carp::VirtualHost::create(cc, d_.random.next64());
      if (!vh) return makeError(field + ": " + vh.error().message);
      created.emplace(key, std::move(*vh));
    }
  }

  // 2. Removed vhids bow out first (a VIP may move to another vhid in the same apply).
  for (auto it = vhosts_.begin(); it != vhosts_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    d_.log.info("vhid removed", {{"vhid", it->first.vhid}, {"interface", it->first.interface}});
    auto next = std::next(it);
    removeEntry(it, carp::Reason::ConfigChanged, now);
    it = next;
  }

  // 3. Changed vhids are reconfigured in place; unchanged ones are not touched. The claim
  //    flag only matters when a vhid is added: a change of it alone changes nothing.
  for (auto& [key, e] : vhosts_) {
    const auto& v = *want.at(key);
    if (sameExceptClaim(v, e.cfg)) {
      e.cfg.claim = v.claim;
      continue;
    }
    auto old = e.cfg;
    auto acts = e.vh.reconfigure(toCarpConfig(v), now);
    if (!acts) {  // validated above; a failure here is a carp/runtime mismatch
      d_.log.error("vhid reconfigure failed", {{"vhid", key.vhid}, {"interface", key.interface},
                                                {"error", acts.error().message}});
      continue;
    }
    e.cfg = v;
    d_.log.info("vhid reconfigured", {{"vhid", key.vhid}, {"interface", key.interface},
                                       {"addresses", vipList(toCarpConfig(v).vips)},
                                       {"advbase", v.advbase}, {"advskew", v.advskew}});
    execute(key, e, *acts, now);
    refreshLink(key, e, now);
    updateDemote(key, e, now);
  }

  // 4. New vhids: socket, start (BACKUP when the link is usable, else INIT; MASTER at once
  //    when the controller marked it claim and nobody was heard on it, see decideClaim()).
  for (auto& [key, vh] : created) {
    const auto& v = *want.at(key);
    openListening(key.interface, now);
    Entry entry(v, std::move(vh));
    entry.generation = nextGeneration_++;
    auto [it, _] = vhosts_.emplace(key, std::move(entry));
    Entry& e = it->second;
    stateGauge_.set(vhidLabels(key), 0);
    demoted_.set(vhidLabels(key), 0);
    d_.log.info("vhid added", {{"vhid", key.vhid}, {"interface", key.interface},
                                {"addresses", vipList(e.vh.config().vips)}, {"advbase", v.advbase},
                                {"advskew", v.advskew}, {"preempt", v.preempt ? "true" : "false"}});
    refreshLink(key, e, now);
    const bool claim = decideClaim(key, e, now);
    execute(key, e, e.vh.start(now, e.usable, claim), now);
    updateDemote(key, e, now);
  }
  return okStatus();
}

bool Agent::decideClaim(const VhostKey& key, const Entry& e, TimePoint now) {
  if (!e.cfg.claim) return false;
  std::string result;
  if (e.cfg.demote > 0 || e.troubleUntil) {
    result = "demoted";
  } else if (!e.usable) {
    result = "link_not_usable";
  } else {
    auto l = listening_.find(key.interface);
    const Duration quiet = carp::masterDownInterval(static_cast<uint8_t>(e.cfg.advbase), static_cast<uint8_t>(e.cfg.advskew));
    result = l == listening_.end()
                 ? std::string(carp::toString(carp::ClaimVerdict::NotListening))
                 : std::string(carp::toString(carp::claimVerdict(l->second.history,
                                                                 carp::Vhid(static_cast<uint8_t>(key.vhid)), quiet, now)));
  }
  const bool claim = result == carp::toString(carp::ClaimVerdict::Claim);
  claims_.inc({{"interface", key.interface}, {"result", result}});
  d_.log.info(claim ? "vhid claimed: nobody heard on it" : "vhid claim declined; starting as BACKUP",
              {{"vhid", key.vhid}, {"interface", key.interface}, {"result", result}});
  return claim;
}

void Agent::openListening(const std::string& ifname, TimePoint now) {
  auto& l = listening_[ifname];
  auto open = d_.transport.openInterface(ifname);
  if (!open) {
    d_.log.error("cannot open CARP socket", {{"interface", ifname}, {"error", open.error().message}});
  }
  l.socketOpen = open.ok();
  updateListening(ifname, now);
}

void Agent::updateListening(const std::string& ifname, TimePoint now) {
  auto it = listening_.find(ifname);
  if (it == listening_.end()) return;
  Listening& l = it->second;
  if (!l.socketOpen) l.socketOpen = d_.transport.openInterface(ifname).ok();  // it may exist by now
  auto link = links_.find(ifname);
  const bool hearing = l.socketOpen && link != links_.end() && link->second.exists && link->second.up;
  if (hearing) {
    l.history.startListening(now);
  } else {
    l.history.stopListening();
  }
}

Status Agent::listen(const std::string& ifname, TimePoint now) {
  if (ifname.empty()) return makeError("listen: interface name is empty");
  openListening(ifname, now);
  return listening_.at(ifname).socketOpen ? okStatus()
                                          : Status(makeError("listen on " + ifname + ": the CARP socket is not open"));
}

const carp::ListenHistory* Agent::listenHistory(const std::string& ifname) const {
  auto it = listening_.find(ifname);
  return it == listening_.end() ? nullptr : &it->second.history;
}

void Agent::removeEntry(std::map<VhostKey, Entry>::iterator it, carp::Reason reason, TimePoint now) {
  VhostKey key = it->first;
  execute(key, it->second, it->second.vh.shutdown(now, reason), now);
  stateGauge_.remove(vhidLabels(key));
  demoted_.remove(vhidLabels(key));
  vhosts_.erase(it);
  // The socket stays open with no vhid left: the interface is still listened to, so the next
  // vhid the controller creates here can be claimed (shutdown() closes everything).
}

void Agent::refreshLink(const VhostKey& key, Entry& e, TimePoint now) {
  auto lit = links_.find(key.interface);
  LinkStatus link = lit == links_.end() ? LinkStatus{} : lit->second;
  std::set<carp::Ipv4Address> allVips;
  for (const auto& [k, other] : vhosts_) {
    for (const auto& a : other.cfg.addresses) allVips.insert(carp::Ipv4Address(a.value));
  }
  std::optional<carp::Ipv4Address> source;
  std::vector<carp::SourceAddress> local;
  for (const auto& a : link.addresses) {
    if (a.ours || allVips.count(a.address)) continue;
    if (!source) source = a.address;
    local.emplace_back(a.address);
  }
  if (e.cfg.srcip) {
    source = carp::Ipv4Address(e.cfg.srcip->value);
    local.emplace_back(*source);
  }
  e.vh.setLocalAddresses(std::move(local));
  bool usable = link.exists && link.up && source.has_value();
  if (source != e.source && source && e.source) {
    d_.log.info("advert source changed", {{"vhid", key.vhid}, {"interface", key.interface},
                                           {"srcip", source->toString()}});
  }
  e.source = source;
  bool firstLook = !e.vh.started();
  if (usable == e.usable && !firstLook) return;
  e.usable = usable;
  if (!usable) {
    std::string why = !link.exists ? "interface_missing" : !link.up ? "link_down" : "no_ipv4_address";
    d_.log.warn("vhid not usable", {{"vhid", key.vhid}, {"interface", key.interface}, {"why", why}});
  }
  if (e.vh.started()) execute(key, e, e.vh.linkChanged(usable, now), now);
}

void Agent::linkChanged(const std::string& ifname, const LinkStatus& status, TimePoint now) {
  links_[ifname] = status;
  updateListening(ifname, now);
  for (auto& [key, e] : vhosts_) {
    if (key.interface == ifname) refreshLink(key, e, now);
  }
}

void Agent::countDrop(const std::string& ifname, std::optional<int> vhid, carp::DropReason r) {
  unroutedDrops_[ifname].add(r);
  rejected_.inc({{"interface", ifname}, {"vhid", vhid ? std::to_string(*vhid) : "none"},
                 {"reason", std::string(carp::toString(r))}});
}

void Agent::packetReceived(const std::string& ifname, std::span<const uint8_t> packet, TimePoint now) {
  auto decoded = carp::decodeAdvert(packet);
  // The listening record first: any protocol-112 packet whose vhid/VRID byte is readable
  // counts (CARP with any password, VRRP), whatever happens to it below; a CARP bow-out
  // releases its vhid.
  if (auto l = listening_.find(ifname); l != listening_.end()) {
    if (decoded) {
      if (decoded->advert.isBowOut()) {
        l->second.history.heardBowOut(decoded->advert.vhid);
      } else {
        l->second.history.heard(decoded->advert.vhid, now);
      }
    } else if (packet.size() >= carp::Ipv4HeaderSize && packet[9] == carp::CarpProtocol) {
      size_t ihl = static_cast<size_t>(packet[0] & 0x0f) * 4;
      if (ihl >= carp::Ipv4HeaderSize && packet.size() > ihl + 1) l->second.history.heard(packet[ihl + 1], now);
    }
  }
  if (!decoded) {
    // Attribute the drop to a vhid when the CARP vhid byte is readable and ours.
    if (packet.size() >= carp::Ipv4HeaderSize) {
      size_t ihl = static_cast<size_t>(packet[0] & 0x0f) * 4;
      if (ihl >= carp::Ipv4HeaderSize && packet.size() > ihl + 1) {
        auto it = vhosts_.find(VhostKey{ifname, packet[ihl + 1]});
        if (it != vhosts_.end()) {
          it->second.preDecodeDrops.add(decoded.drop());
          rejected_.inc({{"interface", ifname}, {"vhid", std::to_string(it->first.vhid)},
                         {"reason", std::string(carp::toString(decoded.drop()))}});
          return;
        }
      }
    }
    countDrop(ifname, std::nullopt, decoded.drop());
    return;
  }
  int vhid = decoded->advert.vhid;
  auto it = vhosts_.find(VhostKey{ifname, vhid});
  if (it == vhosts_.end()) {
    countDrop(ifname, vhid, carp::DropReason::UnknownVhid);
    return;
  }
  auto acts = it->second.vh.advertReceived(*decoded, now);
  if (acts.dropped) {
    rejected_.inc({{"interface", ifname}, {"vhid", std::to_string(vhid)},
                   {"reason", std::string(carp::toString(*acts.dropped))}});
    if (*acts.dropped == carp::DropReason::BadHmac) {
      d_.log.debug("foreign speaker on vhid", {{"vhid", vhid}, {"interface", ifname},
                                                {"source", carp::toString(decoded->source)}});
    }
  } else {
    received_.inc(vhidLabels(it->first));
  }
  execute(it->first, it->second, acts, now);
}

void Agent::execute(const VhostKey& key, Entry& e, const carp::Actions& actions, TimePoint now) {
  for (const auto& action : actions) {
    std::visit(
        Overloaded{
            [&](const carp::StateChanged& sc) {
              d_.log.info("state change", {{"vhid", key.vhid}, {"interface", key.interface},
                                            {"from", carp::stateName(sc.from)}, {"to", carp::stateName(sc.to)},
                                            {"reason", carp::toString(sc.reason)}});
              e.lastTransition = Transition{sc.from, sc.to, sc.reason, now};
              transitions_.inc({{"interface", key.interface}, {"vhid", std::to_string(key.vhid)},
                                {"from", std::string(carp::stateName(sc.from))},
                                {"to", std::string(carp::stateName(sc.to))},
                                {"reason", std::string(carp::toString(sc.reason))}});
              stateGauge_.set(vhidLabels(key), stateValue(sc.to));
            },
            [&](const carp::SendAdvert& sa) {
              if (!e.source) {
                d_.log.debug("advert not sent: no source address", {{"vhid", key.vhid}, {"interface", key.interface}});
                return;
              }
              auto st = d_.transport.send(key.interface, *e.source, carp::encodeAdvert(sa.advert));
              if (st) {
                sent_.inc(vhidLabels(key));
                if (e.consecutiveSendErrors > 0) {
                  d_.log.info("advert send recovered", {{"vhid", key.vhid}, {"interface", key.interface}});
                }
                e.consecutiveSendErrors = 0;
                return;
              }
              ++e.sendErrors;
              ++e.consecutiveSendErrors;
              sendErrors_.inc({{"interface", key.interface}, {"vhid", std::to_string(key.vhid)}, {"kind", "advert"}});
              if (e.consecutiveSendErrors == 1 || e.consecutiveSendErrors == SendErrorsBeforeDemote) {
                d_.log.warn("advert send failed", {{"vhid", key.vhid}, {"interface", key.interface},
                                                    {"error", st.error().message},
                                                    {"consecutive", e.consecutiveSendErrors}});
              }
              if (e.consecutiveSendErrors >= SendErrorsBeforeDemote && !sa.bowOut) {
                e.troubleUntil = now + TroubleHoldDown;
              }
            },
            [&](const carp::BindAddresses& b) {
              for (const auto& vip : b.vips) {
                auto st = d_.addresses.add(key.interface, vip);
                if (st) {
                  d_.log.info("VIP bound", {{"vhid", key.vhid}, {"interface", key.interface}, {"vip", vip.toString()}});
                  continue;
                }
                ++e.addressErrors;
                addressErrors_.inc({{"interface", key.interface}, {"vhid", std::to_string(key.vhid)}, {"op", "add"}});
                d_.log.error("VIP bind failed; demoting vhid",
                             {{"vhid", key.vhid}, {"interface", key.interface}, {"vip", vip.toString()},
                              {"error", st.error().message}});
                e.troubleUntil = now + TroubleHoldDown;
              }
            },
            [&](const carp::UnbindAddresses& u) {
              for (const auto& vip : u.vips) {
                auto r = d_.addresses.remove(key.interface, vip);
                if (!r) {
                  ++e.addressErrors;
                  addressErrors_.inc(
                      {{"interface", key.interface}, {"vhid", std::to_string(key.vhid)}, {"op", "remove"}});
                  d_.log.error("VIP unbind failed", {{"vhid", key.vhid}, {"interface", key.interface},
                                                      {"vip", vip.toString()}, {"error", r.error().message}});
                } else if (*r == io::RemoveOutcome::NotOurs) {
                  d_.log.warn("VIP left in place: not added by carplb",
                              {{"vhid", key.vhid}, {"interface", key.interface}, {"vip", vip.toString()}});
                } else {
                  d_.log.info("VIP unbound", {{"vhid", key.vhid}, {"interface", key.interface}, {"vip", vip.toString()}});
                }
              }
            },
            [&](const carp::SendGratuitousArp& g) {
              for (const auto& vip : g.vips) {
                auto st = d_.arp.announce(key.interface, vip);
                if (st) {
                  garp_.inc(vhidLabels(key));
                  continue;
                }
                ++e.garpErrors;
                sendErrors_.inc({{"interface", key.interface}, {"vhid", std::to_string(key.vhid)}, {"kind", "garp"}});
                d_.log.warn("gratuitous ARP failed", {{"vhid", key.vhid}, {"interface", key.interface},
                                                       {"vip", vip.toString()}, {"round", g.round},
                                                       {"error", st.error().message}});
              }
              if (g.round <= 2) {
                d_.log.debug("gratuitous ARP", {{"vhid", key.vhid}, {"interface", key.interface}, {"round", g.round}});
              }
            },
        },
        action);
  }
  updateDemote(key, e, now);
}

void Agent::updateDemote(const VhostKey& key, Entry& e, TimePoint now) {
  if (e.troubleUntil && now >= *e.troubleUntil) {
    e.troubleUntil.reset();
    d_.log.info("vhid trouble hold-down over", {{"vhid", key.vhid}, {"interface", key.interface}});
  }
  int want = e.cfg.demote + (e.troubleUntil ? TroubleDemote : 0);
  auto demote = static_cast<uint8_t>(std::min(want, 255));
  if (demote == e.vh.demote()) return;
  d_.log.info("vhid demotion", {{"vhid", key.vhid}, {"interface", key.interface}, {"demote", demote}});
  demoted_.set(vhidLabels(key), demote);
  execute(key, e, e.vh.setDemote(demote, now), now);
}

void Agent::reconcileAddresses(const std::string& ifname, TimePoint now) {
  bool any = std::any_of(vhosts_.begin(), vhosts_.end(), [&](const auto& kv) { return kv.first.interface == ifname; });
  auto observed = d_.addresses.list(ifname);
  if (!observed) {
    if (any) d_.log.warn("cannot list addresses", {{"interface", ifname}, {"error", observed.error().message}});
    return;
  }
  std::map<carp::Ipv4Address, const io::InterfaceAddress*> present;
  for (const auto& a : *observed) present[a.address] = &a;
  std::set<carp::Ipv4Address> wanted;
  for (auto& [key, e] : vhosts_) {
    if (key.interface != ifname || !e.vh.addressesBound()) continue;
    bool readded = false;
    for (const auto& vip : e.vh.config().vips) {
      wanted.insert(vip);
      if (present.count(vip)) continue;
      auto st = d_.addresses.add(ifname, vip);
      if (!st) {
        ++e.addressErrors;
        addressErrors_.inc({{"interface", ifname}, {"vhid", std::to_string(key.vhid)}, {"op", "add"}});
        d_.log.error("VIP missing while MASTER; re-add failed",
                     {{"vhid", key.vhid}, {"interface", ifname}, {"vip", vip.toString()}, {"error", st.error().message}});
        e.troubleUntil = now + TroubleHoldDown;
        continue;
      }
      ++e.vipsReadded;
      readded_.inc(vhidLabels(key));
      d_.log.warn("VIP missing while MASTER; re-added", {{"vhid", key.vhid}, {"interface", ifname}, {"vip", vip.toString()}});
      readded = true;
      auto garp = d_.arp.announce(ifname, vip);
      if (garp) garp_.inc(vhidLabels(key));
    }
    if (readded || e.troubleUntil) updateDemote(key, e, now);
  }
  for (const auto& a : *observed) {
    if (!a.ours || wanted.count(a.address)) continue;
    auto r = d_.addresses.remove(ifname, a.address);
    if (r && *r == io::RemoveOutcome::Removed) {
      d_.log.info("removed stale VIP", {{"interface", ifname}, {"vip", a.address.toString()}});
    } else if (!r) {
      d_.log.warn("cannot remove stale VIP", {{"interface", ifname}, {"vip", a.address.toString()},
                                               {"error", r.error().message}});
    }
  }
}

void Agent::timerFired(TimePoint now) {
  for (auto& [key, e] : vhosts_) {
    auto dl = e.vh.nextDeadline();
    if (dl && *dl <= now) execute(key, e, e.vh.timerFired(now), now);
    updateDemote(key, e, now);
  }
}

std::optional<TimePoint> Agent::nextDeadline() const {
  std::optional<TimePoint> best;
  auto consider = [&](std::optional<TimePoint> t) {
    if (t && (!best || *t < *best)) best = t;
  };
  for (const auto& [key, e] : vhosts_) {
    consider(e.vh.nextDeadline());
    consider(e.troubleUntil);
  }
  return best;
}

void Agent::shutdown(TimePoint now) {
  while (!vhosts_.empty()) {
    removeEntry(vhosts_.begin(), carp::Reason::Shutdown, now);
  }
  for (const auto& [ifname, l] : listening_) d_.transport.closeInterface(ifname);
  listening_.clear();
}

std::vector<std::string> Agent::interfaces() const {
  std::set<std::string> s;
  for (const auto& [key, e] : vhosts_) s.insert(key.interface);
  for (const auto& [ifname, l] : listening_) s.insert(ifname);
  return {s.begin(), s.end()};
}

std::optional<carp::State> Agent::state(const VhostKey& key) const {
  auto it = vhosts_.find(key);
  if (it == vhosts_.end()) return std::nullopt;
  return it->second.vh.state();
}

const carp::VirtualHost* Agent::vhost(const VhostKey& key) const {
  auto it = vhosts_.find(key);
  return it == vhosts_.end() ? nullptr : &it->second.vh;
}

uint64_t Agent::generation(const VhostKey& key) const {
  auto it = vhosts_.find(key);
  return it == vhosts_.end() ? 0 : it->second.generation;
}

nlohmann::json Agent::stateJson(TimePoint now, WallTime wallNow) const {
  auto wall = [&](TimePoint t) {
    return isoTime(wallNow - std::chrono::duration_cast<WallTime::duration>(now - t));
  };
  json out;
  out["vhids"] = json::array();
  for (const auto& [key, e] : vhosts_) {
    const auto& vh = e.vh;
    const auto& st = vh.stats();
    json j;
    j["vhid"] = key.vhid;
    j["interface"] = key.interface;
    j["addresses"] = json::array();
    for (const auto& a : vh.config().vips) j["addresses"].push_back(a.toString());
    j["srcip"] = e.source ? json(e.source->toString()) : json(nullptr);
    j["state"] = std::string(carp::stateName(vh.state()));
    j["usable"] = e.usable;
    j["advbase"] = e.cfg.advbase;
    j["advskew"] = e.cfg.advskew;
    auto prio = vh.priority();
    j["advertised"] = {{"advbase", prio.advbase}, {"advskew", prio.advskew}, {"demote", prio.demote}};
    j["preempt"] = e.cfg.preempt;
    j["addressesBound"] = vh.addressesBound();
    if (st.lastMaster) {
      j["masterSeen"] = {{"source", carp::toString(st.lastMaster->source)},
                         {"advbase", st.lastMaster->advbase},
                         {"advskew", st.lastMaster->advskew},
                         {"demote", st.lastMaster->demote},
                         {"at", wall(st.lastMaster->seenAt)}};
    } else {
      j["masterSeen"] = nullptr;
    }
    if (e.lastTransition) {
      j["lastTransition"] = {{"from", std::string(carp::stateName(e.lastTransition->from))},
                             {"to", std::string(carp::stateName(e.lastTransition->to))},
                             {"reason", std::string(carp::toString(e.lastTransition->reason))},
                             {"at", wall(e.lastTransition->at)}};
    } else {
      j["lastTransition"] = nullptr;
    }
    if (st.lastForeignSource) {
      j["foreignSpeaker"] = {{"source", carp::toString(*st.lastForeignSource)},
                             {"packets", st.foreignSpeakerPackets},
                             {"at", st.lastForeignAt ? json(wall(*st.lastForeignAt)) : json(nullptr)}};
    }
    j["trouble"] = e.troubleUntil.has_value();
    j["counters"] = {{"advertsSent", st.advertsSent},
                     {"advertsReceived", st.advertsReceived},
                     {"advertsRejected", dropsJson(st.drops, &e.preDecodeDrops)},
                     {"transitions", st.transitions},
                     {"gratuitousArpRounds", st.gratuitousArpRounds},
                     {"sendErrors", e.sendErrors},
                     {"garpErrors", e.garpErrors},
                     {"addressErrors", e.addressErrors},
                     {"vipsReadded", e.vipsReadded}};
    out["vhids"].push_back(std::move(j));
  }
  json unrouted = json::object();
  for (const auto& [ifname, drops] : unroutedDrops_) unrouted[ifname] = dropsJson(drops);
  out["unroutedRejected"] = std::move(unrouted);
  return out;
}

}  // namespace carplb::agent::runtime
