#include "controller/kube/model/time_format.h"

#include <gtest/gtest.h>

namespace carplb::controller::kube {
namespace {

using namespace std::chrono;

TEST(TimeFormat, FormatsAndParses) {
  WallTime t = sys_days{year{2026} / 11 / 25} + hours(15) + minutes(6) + seconds(27) + microseconds(123456);
  EXPECT_EQ(formatTime(t), "2026-11-25T15:06:27Z");
  EXPECT_EQ(formatMicroTime(t), "2026-11-25T15:06:27.123456Z");
  EXPECT_EQ(parseTime("2026-11-25T15:06:27.123456Z"), std::optional<WallTime>(t));
  EXPECT_EQ(parseTime("2026-11-25T16:06:27.123456+01:00"), std::optional<WallTime>(t));
  EXPECT_EQ(parseTime("2026-11-25T15:06:27Z"), std::optional<WallTime>(t - microseconds(123456)));
  EXPECT_FALSE(parseTime("2026-13-25T15:06:27Z").has_value());
  EXPECT_FALSE(parseTime("2026-11-25 15:06:27Z").has_value());
  EXPECT_FALSE(parseTime("2026-11-25T15:06:27").has_value());
  EXPECT_FALSE(parseTime("garbage").has_value());
  EXPECT_FALSE(parseTime("2026-11-25T15:06:27.Z").has_value());
}

}  // namespace
}  // namespace carplb::controller::kube
