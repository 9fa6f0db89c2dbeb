#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "common/result.h"
#include "fakes/fake_clock.h"

namespace carplb {
namespace {

TEST(Logger, WritesLogfmtWithQuotedValues) {
  std::vector<std::string> lines;
  Logger log("agent", LogLevel::Info, [&](std::string_view l) { lines.emplace_back(l); });
  log.debug("hidden");
  log.info("state change", {{"vhid", 7}, {"reason", "master down"}});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("component=agent msg=\"state change\" vhid=7 reason=\"master down\""), std::string::npos)
      << lines[0];
}

TEST(Metrics, RendersCountersAndGaugesWithEscapedLabels) {
  Registry reg;
  auto& c = reg.counter("carplb_test_total", "A test counter");
  c.inc({{"reason", "bad\"x"}});
  c.inc({{"reason", "bad\"x"}}, 2);
  reg.gauge("carplb_state", "state").set({{"vhid", "1"}}, 2);
  std::string text = reg.render();
  EXPECT_NE(text.find("# TYPE carplb_test_total counter\ncarplb_test_total{reason=\"bad\\\"x\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("carplb_state{vhid=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_EQ(c.get({{"reason", "bad\"x"}}), 3);
}

TEST(Result, HoldsValueOrError) {
  Result<int> a = 3;
  Result<int> b = makeError("spec.x: bad");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 3);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message, "spec.x: bad");
}

TEST(FakeClock, AdvancesOnlyWhenTold) {
  testing::FakeClock clock;
  auto t0 = clock.now();
  clock.advance(std::chrono::milliseconds(5));
  EXPECT_EQ(clock.now() - t0, std::chrono::milliseconds(5));
}

}  // namespace
}  // namespace carplb
