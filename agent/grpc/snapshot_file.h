#pragma once
// The agent's copy of the last applied snapshot (fail static across restarts). SHELL.
//
// File format: the line "carplb-snapshot-v1\n" followed by the binary carplb.v1.Snapshot.
// It holds CARP keys: written 0600, atomically (temporary file in the same directory,
// fsync, rename, fsync of the directory), so a crash leaves the old or the new file.
#include <string>

#include "carplb/v1/agent.pb.h"
#include "common/result.h"

namespace carplb::agent::rpc {

// proto::validateSnapshot, except that an empty Vhost.interface is allowed: it means "the
// agent's default interface" (--interface; the controller leaves it empty unless a node
// annotation names one). Errors name the field.
Status validateAgentSnapshot(const v1::Snapshot& snapshot);

Status saveSnapshotFile(const std::string& path, const v1::Snapshot& snapshot);

// Reads and validates (validateAgentSnapshot). Errors name the path; a missing file is
// an error with retryable=false and the text "<path>: no such file".
Result<v1::Snapshot> loadSnapshotFile(const std::string& path);

}  // namespace carplb::agent::rpc
