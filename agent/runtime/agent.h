#pragma once
// Agent: the engine of carplb-agent. Owns one carp::VirtualHost per (interface, vhid),
// executes their Actions through the io interfaces, routes received packets, diffs configs.
//
// Single-threaded and clock-free: every event carries `now`; the shell (Daemon) calls
// timerFired() at nextDeadline(). It logs (through the Logger passed in) and updates the
// Prometheus Registry passed in; it never touches sockets or netlink itself (io interfaces).
//
// Isolation: every vhid has its own error handling. A failing VIP bind or repeated advert
// send errors log, count, and demote THAT vhid for TroubleHoldDown (so a healthy peer takes
// over), never touching the others.
//
// apply(desired) is the one entry point for desired state: from --config, SIGHUP reloads and
// (later) the controller's plan stream. Keys are (interface, vhid): unchanged entries are not
// touched at all, changed ones are reconfigured in place, removed ones bow out and unbind.
//
// Listening and claims (agent/carp/claim.h): once an interface has carried a vhid (or
// listen() was called for it) its CARP socket stays open until shutdown(), also with no vhid
// left, and a carp::ListenHistory records since when the link is heard (socket open, link up)
// and when each vhid number was last heard (every protocol-112 packet counts, ours or not; a
// bow-out releases the vhid). A new vhid whose config says `claim` (the controller's planned
// master of a vhid it just created) starts as MASTER at once when claimVerdict() says so and
// the vhid is not demoted; otherwise it is an ordinary BACKUP. The verdict is logged.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "agent/carp/claim.h"
#include "agent/carp/vhost.h"
#include "agent/config/agent_config.h"
#include "agent/io/address_table.h"
#include "agent/io/transport.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/random.h"
#include "common/result.h"

namespace carplb::agent::runtime {

// How long a vhid stays demoted after a VIP bind failure or a run of send errors.
inline constexpr Duration TroubleHoldDown = std::chrono::seconds(10);
// Consecutive advert send failures that demote a vhid.
inline constexpr int SendErrorsBeforeDemote = 3;
// Demotion count added while a vhid has local trouble.
inline constexpr uint8_t TroubleDemote = 1;

// What the shell knows about one interface (link watcher + address dump).
struct LinkStatus {
  bool exists = false;
  bool up = false;  // IFF_UP and carrier (IFF_RUNNING / IFF_LOWER_UP)
  std::vector<io::InterfaceAddress> addresses;  // all IPv4 addresses, ours marked
  friend bool operator==(const LinkStatus&, const LinkStatus&) = default;
};

struct AgentDeps {
  io::CarpTransport& transport;
  io::AddressTable& addresses;
  io::ArpAnnouncer& arp;
  Random& random;
  Logger log;
  Registry& metrics;
};

struct VhostKey {
  std::string interface;
  int vhid = 0;
  friend auto operator<=>(const VhostKey&, const VhostKey&) = default;
};

class Agent {
public:
  explicit Agent(AgentDeps deps);
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Desired state. Validates everything first: on error nothing changes and the error names
  // the field. Vhids whose config is unchanged are left completely alone.
  Status apply(const config::AgentConfig& desired, TimePoint now);

  // Carrier / address changes for an interface (also the initial state). Vhids on it go to
  // INIT at once when it is down or has no usable source address, and back to BACKUP.
  void linkChanged(const std::string& ifname, const LinkStatus& status, TimePoint now);

  // One packet from the proto-112 socket of `ifname` (full IPv4 packet).
  void packetReceived(const std::string& ifname, std::span<const uint8_t> packet, TimePoint now);

  // Observed vs desired VIPs on `ifname`: re-adds a VIP of a MASTER vhid that is missing
  // (someone deleted it by hand) and removes addresses marked ours that no MASTER vhid wants
  // (left over from a crash). Call at startup and on netlink address events.
  void reconcileAddresses(const std::string& ifname, TimePoint now);

  void timerFired(TimePoint now);
  std::optional<TimePoint> nextDeadline() const;

  // Every vhid bows out (MASTER sends advbase/advskew 255) and unbinds; the agent is empty
  // and listens nowhere.
  void shutdown(TimePoint now);

  // Listen on `ifname` from now on even before it carries a vhid (e.g. the cluster default
  // interface at startup), so the first vhid the controller creates there can be claimed.
  // Feed its link state with linkChanged() as for any interface. Idempotent.
  Status listen(const std::string& ifname, TimePoint now);
  // The listening record of `ifname` (nullptr: never listened there).
  const carp::ListenHistory* listenHistory(const std::string& ifname) const;

  // Interfaces with at least one vhid or listened to (the shell watches these).
  std::vector<std::string> interfaces() const;
  std::optional<carp::State> state(const VhostKey& key) const;
  const carp::VirtualHost* vhost(const VhostKey& key) const;
  size_t size() const { return vhosts_.size(); }
  // How often the VirtualHost of `key` was (re)created; unchanged across no-op applies.
  uint64_t generation(const VhostKey& key) const;

  // GET /state body: per-vhid state, master seen, last transition, counters.
  nlohmann::json stateJson(TimePoint now, WallTime wallNow) const;

private:
  struct Transition {
    carp::State from;
    carp::State to;
    carp::Reason reason;
    TimePoint at;
  };
  struct Entry {
    Entry(config::VhostConfig c, carp::VirtualHost v) : cfg(std::move(c)), vh(std::move(v)) {}
    config::VhostConfig cfg;
    carp::VirtualHost vh;
    uint64_t generation = 0;
    std::optional<carp::Ipv4Address> source;  // resolved srcip
    bool usable = false;
    int consecutiveSendErrors = 0;
    std::optional<TimePoint> troubleUntil;
    std::optional<Transition> lastTransition;
    uint64_t sendErrors = 0;
    uint64_t addressErrors = 0;
    uint64_t vipsReadded = 0;
    uint64_t garpErrors = 0;
    carp::DropCounters preDecodeDrops;  // packets for this vhid rejected before the VirtualHost
  };

  void execute(const VhostKey& key, Entry& e, const carp::Actions& actions, TimePoint now);
  void updateDemote(const VhostKey& key, Entry& e, TimePoint now);
  void refreshLink(const VhostKey& key, Entry& e, TimePoint now);
  void countDrop(const std::string& ifname, std::optional<int> vhid, carp::DropReason r);
  // Listening: open the socket, start/stop the history with the link state.
  void openListening(const std::string& ifname, TimePoint now);
  void updateListening(const std::string& ifname, TimePoint now);
  // Whether a new vhid may start as MASTER (and the log line saying why or why not).
  bool decideClaim(const VhostKey& key, const Entry& e, TimePoint now);
  void removeEntry(std::map<VhostKey, Entry>::iterator it, carp::Reason reason, TimePoint now);
  Labels vhidLabels(const VhostKey& key) const;

  AgentDeps d_;
  std::map<VhostKey, Entry> vhosts_;
  std::map<std::string, LinkStatus> links_;
  std::map<std::string, carp::DropCounters> unroutedDrops_;  // by interface
  struct Listening {
    bool socketOpen = false;  // the transport accepted openInterface()
    carp::ListenHistory history;
  };
  std::map<std::string, Listening> listening_;  // interfaces kept open (until shutdown)
  uint64_t nextGeneration_ = 1;

  MetricFamily& stateGauge_;
  MetricFamily& transitions_;
  MetricFamily& sent_;
  MetricFamily& received_;
  MetricFamily& rejected_;
  MetricFamily& garp_;
  MetricFamily& sendErrors_;
  MetricFamily& addressErrors_;
  MetricFamily& readded_;
  MetricFamily& demoted_;
  MetricFamily& claims_;
};

// carp::VhostConfig for a validated config entry.
carp::VhostConfig toCarpConfig(const config::VhostConfig& v);

}  // namespace carplb::agent::runtime
