#include "bench/probe/probe_analysis.h"

#include <gtest/gtest.h>

namespace carplb::bench::probe {
namespace {

using std::chrono::milliseconds;

// One probe every 10 ms; `who` per probe, "" = lost.
std::vector<ProbeRecord> series(const std::vector<std::string>& who) {
  std::vector<ProbeRecord> out;
  for (size_t i = 0; i < who.size(); ++i) {
    ProbeRecord r;
    r.seq = i;
    r.sentAt = milliseconds(10 * static_cast<int64_t>(i));
    if (!who[i].empty()) {
      r.answeredBy = who[i];
      r.rtt = milliseconds(1);
    }
    out.push_back(r);
  }
  return out;
}

TEST(ProbeAnalysis, NoLossNoMoves) {
  auto s = summarize("192.0.2.200", series({"node1", "node1", "node1"}), milliseconds(10));
  EXPECT_EQ(s.sent, 3u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.moves, 0u);
  EXPECT_EQ(s.longestOutage, Duration{0});
  ASSERT_EQ(s.segments.size(), 1u);
  EXPECT_EQ(s.segments[0].probes, 3u);
  EXPECT_EQ(s.lastResponder, "node1");
}

TEST(ProbeAnalysis, FailoverOutageIsFromFirstLostToNextAnswer) {
  auto s = summarize("vip", series({"node1", "node1", "", "", "", "node2", "node2"}), milliseconds(10));
  EXPECT_EQ(s.lost, 3u);
  EXPECT_EQ(s.answered, 4u);
  EXPECT_EQ(s.moves, 1u);
  ASSERT_EQ(s.outages.size(), 1u);
  EXPECT_EQ(s.outages[0].start, milliseconds(20));
  EXPECT_EQ(s.outages[0].length, milliseconds(30));
  EXPECT_EQ(s.outages[0].lostProbes, 3u);
  EXPECT_EQ(s.longestOutage, milliseconds(30));
  ASSERT_EQ(s.segments.size(), 2u);
  EXPECT_EQ(s.segments[0].responder, "node1");
  EXPECT_EQ(s.segments[0].to, milliseconds(10));
  EXPECT_EQ(s.segments[1].responder, "node2");
  EXPECT_EQ(s.segments[1].from, milliseconds(50));
  EXPECT_EQ(s.lastResponder, "node2");
}

TEST(ProbeAnalysis, LongestOfSeveralAndTrailingOutage) {
  auto s = summarize("vip", series({"", "a", "", "", "a", "", "", "", ""}), milliseconds(10));
  ASSERT_EQ(s.outages.size(), 3u);
  EXPECT_EQ(s.outages[0].length, milliseconds(10));
  EXPECT_EQ(s.outages[1].length, milliseconds(20));
  // Still out at the end: until one interval past the last probe.
  EXPECT_EQ(s.outages[2].length, milliseconds(40));
  EXPECT_EQ(s.longestOutage, milliseconds(40));
  EXPECT_EQ(s.moves, 0u);  // losses do not count as moves
}

TEST(ProbeAnalysis, LateBurstOfRepliesIsAnOutageEvenWithoutLoss) {
  // Probes 2..9 were queued by the client while it resolved the new MAC and all answered at
  // t = 95 ms: nothing lost, but no reply arrived between 11 ms and 95 ms.
  auto recs = series({"a", "a", "b", "b", "b", "b", "b", "b", "b", "b", "b", "b"});
  for (size_t i = 2; i <= 9; ++i) {
    recs[i].rtt = milliseconds(95) - recs[i].sentAt;
  }
  auto s = summarize("vip", recs, milliseconds(10));
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.delayed, 7u);  // probes 2..8 (probe 9 waited only 5 ms)
  ASSERT_EQ(s.outages.size(), 1u);
  EXPECT_EQ(s.outages[0].start, milliseconds(11));
  EXPECT_EQ(s.outages[0].length, milliseconds(74));  // gap 84 ms minus one interval
  EXPECT_EQ(s.longestOutage, milliseconds(74));
  EXPECT_EQ(s.longestReplyGap, milliseconds(74));
}

TEST(ProbeAnalysis, LossRunAndArrivalGapOfTheSameEventMerge) {
  auto s = summarize("vip", series({"a", "", "", "", "b"}), milliseconds(10));
  // Loss run: 10 ms -> 40 ms = 30 ms; arrival gap 11 -> 41 ms = 30 ms minus 10 = 20 ms.
  ASSERT_EQ(s.outages.size(), 1u);
  EXPECT_EQ(s.outages[0].length, milliseconds(30));
  EXPECT_EQ(s.longestOutage, milliseconds(30));
}

TEST(ProbeAnalysis, MovesCountEveryChangeOfResponder) {
  auto s = summarize("vip", series({"a", "b", "", "b", "a", "a"}), milliseconds(10));
  EXPECT_EQ(s.moves, 2u);
  EXPECT_EQ(s.segments.size(), 3u);
}

TEST(ProbeAnalysis, EmptyAndSinceWindow) {
  auto e = summarize("vip", {}, milliseconds(10));
  EXPECT_EQ(e.sent, 0u);
  EXPECT_FALSE(e.lastResponder.has_value());

  auto all = series({"a", "", "b", "b"});
  auto tail = recordsSince(all, milliseconds(15));
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail.front().seq, 2u);
  EXPECT_EQ(recordsSince(all, milliseconds(1000)).size(), 0u);
}

TEST(ProbeAnalysis, JsonAndDescription) {
  auto s = summarize("192.0.2.200", series({"node1", "", "node2"}), milliseconds(10));
  auto j = toJson(s);
  EXPECT_EQ(j["lost"], 1);
  EXPECT_EQ(j["moves"], 1);
  EXPECT_DOUBLE_EQ(j["longest_outage_ms"].get<double>(), 10.0);
  EXPECT_EQ(j["answerers"].size(), 2u);
  EXPECT_EQ(j["last_responder"], "node2");
  EXPECT_EQ(describe(s), "192.0.2.200: sent 3 lost 1 longest outage 10 ms moves 1 now node2");
}

}  // namespace
}  // namespace carplb::bench::probe
