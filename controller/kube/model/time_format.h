#pragma once
// API timestamps. meta/v1 Time is RFC 3339 in seconds ("2026-11-25T15:06:27Z"); MicroTime
// (Lease acquireTime/renewTime, Event eventTime) has microseconds ("...27.123456Z").
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace carplb::controller::kube {

std::string formatTime(WallTime t);       // seconds, UTC, 'Z'
std::string formatMicroTime(WallTime t);  // microseconds, UTC, 'Z'
// Accepts both forms (and any fraction length, 'Z' or +hh:mm offsets); nullopt otherwise.
std::optional<WallTime> parseTime(std::string_view text);

}  // namespace carplb::controller::kube
