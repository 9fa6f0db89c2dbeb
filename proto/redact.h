#pragma once
// Printing protocol messages without secrets, and checking snapshots from the wire.
// Part of carplb_proto_util (shell: links protobuf).
#include <google/protobuf/message.h>

#include <string>

#include "carplb/v1/agent.pb.h"
#include "common/result.h"

namespace carplb::proto {

inline constexpr const char* RedactedText = "<redacted>";

// A copy of `msg` in which every field marked [(carplb.v1.sensitive) = true], at any depth
// (nested and repeated messages included), holds "<redacted>" (strings/bytes; other types
// are cleared). Non-empty values only: an empty key stays empty so "no key" stays visible.
std::unique_ptr<google::protobuf::Message> redactedCopy(const google::protobuf::Message& msg);

// One-line text form for logs and debugging (ShortDebugString of the redacted copy).
// The only way carplb code may print a protocol message.
std::string redactedDebugString(const google::protobuf::Message& msg);

// Checks a snapshot received from the network before anything uses it. Errors name the
// field: "snapshot.vhosts[1].advskew: must be between 0 and 254, got 300". Never echoes
// auth_key. Checks: generation > 0, epoch non-empty, vhid 1..255 and unique, interface
// 1..15 characters, srcip empty or an address, vips non-empty addresses (IPv4 or IPv6
// text), advbase 1..255, advskew 0..254, auth_key 1..19 printable ASCII bytes.
Status validateSnapshot(const v1::Snapshot& snapshot);

}  // namespace carplb::proto
