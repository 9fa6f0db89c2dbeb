#pragma once
// VirtualIP status from agent observations (PURE): the reported part of
// status (actualMaster, nodes[], lastFailover, conditions SplitBrain and ForeignSpeaker).
// The shell merges it with the planned part (master, backups, ...) the planner side writes.
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "controller/observe/observations.h"

namespace carplb::controller::observe {

// RFC 3339, UTC, seconds: "2026-11-25T15:06:27Z" (meta/v1 Time). Times before 1970 and
// after 9999 are clamped.
std::string formatRfc3339(WallTime t);

// {"actualMaster": "node-b" ("" when no node reports MASTER),
//  "nodes": [{"node","state","reason","since"}...] (sorted by node; reason omitted if empty),
//  "lastFailover": {"time","from","to","reason"} (only once one happened),
//  "conditions": [{"type":"SplitBrain",...}, {"type":"ForeignSpeaker",...}]}
// Conditions carry status "True"/"False", reason, message and lastTransitionTime.
nlohmann::json statusFragment(const VhidView& view);

// Kubernetes condition merge: `updates` replace conditions of the same type in `existing`;
// when the status did not change the existing lastTransitionTime is kept. Conditions of
// other types (e.g. "Planned") stay as they are, in order; entries that are not objects
// with a string "type" are dropped. A non-array `existing` counts as empty.
nlohmann::json mergeConditions(const nlohmann::json& existing, const nlohmann::json& updates);

}  // namespace carplb::controller::observe
