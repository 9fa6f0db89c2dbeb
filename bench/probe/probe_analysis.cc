#include "bench/probe/probe_analysis.h"

#include <algorithm>
#include <cstdio>

namespace carplb::bench::probe {

double toMs(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

TargetSummary summarize(const std::string& target, const std::vector<ProbeRecord>& records, Duration interval) {
  TargetSummary s;
  s.target = target;
  std::optional<Outage> open;
  for (const auto& r : records) {
    ++s.sent;
    if (!r.answeredBy) {
      ++s.lost;
      if (!open) {
        open = Outage{r.sentAt, Duration{0}, 0};
      }
      ++open->lostProbes;
      continue;
    }
    ++s.answered;
    s.maxRtt = std::max(s.maxRtt, r.rtt);
    if (open) {
      open->length = r.sentAt - open->start;
      s.outages.push_back(*open);
      open.reset();
    }
    if (s.segments.empty() || s.segments.back().responder != *r.answeredBy) {
      if (!s.segments.empty()) {
        ++s.moves;
      }
      s.segments.push_back(Segment{*r.answeredBy, r.sentAt, r.sentAt, 0});
    }
    s.segments.back().to = r.sentAt;
    ++s.segments.back().probes;
    s.lastResponder = r.answeredBy;
  }
  if (open) {
    open->length = records.back().sentAt - open->start + interval;
    s.outages.push_back(*open);
  }
  // Gaps between reply arrivals (arrival = sentAt + rtt), in arrival order.
  std::vector<Duration> arrivals;
  for (const auto& r : records) {
    if (r.answeredBy) {
      arrivals.push_back(r.sentAt + r.rtt);
      if (r.rtt > interval) {
        ++s.delayed;
      }
    }
  }
  std::sort(arrivals.begin(), arrivals.end());
  for (size_t i = 1; i < arrivals.size(); ++i) {
    Duration gap = arrivals[i] - arrivals[i - 1];
    if (gap - interval > s.longestReplyGap) {
      s.longestReplyGap = gap - interval;
    }
    if (gap > 2 * interval) {
      Outage o{arrivals[i - 1], gap - interval, 0};
      bool covered = false;
      for (auto& existing : s.outages) {
        // Same event as a run of lost probes: keep the longer measure.
        if (o.start <= existing.start + existing.length && existing.start <= o.start + o.length) {
          existing.length = std::max(existing.length, o.length);
          covered = true;
        }
      }
      if (!covered) {
        s.outages.push_back(o);
      }
    }
  }
  std::sort(s.outages.begin(), s.outages.end(), [](const Outage& a, const Outage& b) { return a.start < b.start; });
  for (const auto& o : s.outages) {
    s.longestOutage = std::max(s.longestOutage, o.length);
  }
  return s;
}

std::vector<ProbeRecord> recordsSince(const std::vector<ProbeRecord>& records, Duration from) {
  auto it = std::lower_bound(records.begin(), records.end(), from,
                             [](const ProbeRecord& r, Duration t) { return r.sentAt < t; });
  return {it, records.end()};
}

nlohmann::json toJson(const TargetSummary& s) {
  nlohmann::json j;
  j["target"] = s.target;
  j["sent"] = s.sent;
  j["answered"] = s.answered;
  j["lost"] = s.lost;
  j["longest_outage_ms"] = toMs(s.longestOutage);
  j["max_rtt_ms"] = toMs(s.maxRtt);
  j["moves"] = s.moves;
  j["delayed"] = s.delayed;
  j["longest_reply_gap_ms"] = toMs(s.longestReplyGap);
  j["outages"] = nlohmann::json::array();
  for (const auto& o : s.outages) {
    j["outages"].push_back({{"start_ms", toMs(o.start)}, {"length_ms", toMs(o.length)}, {"lost", o.lostProbes}});
  }
  j["answerers"] = nlohmann::json::array();
  for (const auto& seg : s.segments) {
    j["answerers"].push_back(
        {{"responder", seg.responder}, {"from_ms", toMs(seg.from)}, {"to_ms", toMs(seg.to)}, {"probes", seg.probes}});
  }
  j["last_responder"] = s.lastResponder ? nlohmann::json(*s.lastResponder) : nlohmann::json(nullptr);
  return j;
}

std::string describe(const TargetSummary& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: sent %llu lost %llu longest outage %.0f ms moves %llu now %s", s.target.c_str(),
                static_cast<unsigned long long>(s.sent), static_cast<unsigned long long>(s.lost),
                toMs(s.longestOutage), static_cast<unsigned long long>(s.moves),
                s.lastResponder ? s.lastResponder->c_str() : "-");
  return buf;
}

}  // namespace carplb::bench::probe
