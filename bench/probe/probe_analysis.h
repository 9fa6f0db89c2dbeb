#pragma once
// Turns a sequence of probe outcomes into what a client saw: losses, outages, who answered
// when, how often the answerer changed. Pure: the records carry their own timestamps.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace carplb::bench::probe {

struct ProbeRecord {
  uint64_t seq = 0;
  Duration sentAt{0};                     // since the prober started
  std::optional<std::string> answeredBy;  // nullopt: lost (no reply before the deadline)
  Duration rtt{0};
};

// An outage is a stretch of time in which the client got no reply at all:
//  - a run of lost probes: from the send time of the first lost probe to the send time of
//    the next answered one (or one interval past the last probe when still out), or
//  - replies that arrive late in a burst (the client's kernel queues probes while it
//    resolves the VIP's MAC and delivers them once the new master answers, so nothing is
//    "lost"): a gap between consecutive reply ARRIVALS longer than two intervals counts as
//    an outage of (gap - interval).
// Overlapping findings are merged by taking the longer one.
struct Outage {
  Duration start{0};
  Duration length{0};
  uint64_t lostProbes = 0;
};

struct Segment {  // consecutive answered probes with the same responder (lost probes do not split it)
  std::string responder;
  Duration from{0};
  Duration to{0};
  uint64_t probes = 0;
};

struct TargetSummary {
  std::string target;
  uint64_t sent = 0;
  uint64_t answered = 0;
  uint64_t lost = 0;
  Duration longestOutage{0};
  Duration maxRtt{0};
  uint64_t moves = 0;  // responder changes between consecutive answered probes
  uint64_t delayed = 0;  // answered, but later than one interval
  Duration longestReplyGap{0};  // longest gap between reply arrivals, minus one interval
  std::vector<Outage> outages;
  std::vector<Segment> segments;
  std::optional<std::string> lastResponder;
};

// records must be sorted by sentAt; interval is the probe period (used for a trailing outage).
TargetSummary summarize(const std::string& target, const std::vector<ProbeRecord>& records, Duration interval);

// Only the records sent at or after `from`.
std::vector<ProbeRecord> recordsSince(const std::vector<ProbeRecord>& records, Duration from);

nlohmann::json toJson(const TargetSummary& s);
// One line: "192.0.2.200: sent 500 lost 3 longest outage 30 ms moves 1 now node2"
std::string describe(const TargetSummary& s);

double toMs(Duration d);

}  // namespace carplb::bench::probe
