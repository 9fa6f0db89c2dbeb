#pragma once
// RFC 3339 timestamps as the API writes them, and kubectl's human-readable ages.
#include "common/clock.h"

#include <optional>
#include <string>
#include <string_view>

namespace carplb::kubedouble {

std::string formatRfc3339(WallTime t);       // 2026-01-02T03:04:05Z
std::string formatRfc3339Micro(WallTime t);  // 2026-01-02T03:04:05.123456Z
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)".
std::optional<WallTime> parseRfc3339(std::string_view text);
// k8s.io/apimachinery/pkg/util/duration.HumanDuration: "45s", "3m20s", "5h", "12d", "2y30d".
std::string humanDuration(std::chrono::seconds d);

}  // namespace carplb::kubedouble
