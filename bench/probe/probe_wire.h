#pragma once
// Wire format of the carplb-probe UDP probes (pure: no sockets, no clocks).
//
// Request (16 bytes): magic "CLBP" | u32 target index | u64 sequence number, big-endian.
// Reply: the 16 request bytes followed by the responder's name (1..64 bytes, [A-Za-z0-9._-]),
// so the prober knows which probe was answered and WHO answered it.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace carplb::bench::probe {

inline constexpr uint32_t ProbeMagic = 0x434c4250;  // "CLBP"
inline constexpr size_t RequestSize = 16;
inline constexpr size_t MaxNameSize = 64;

struct ProbeRequest {
  uint32_t target = 0;
  uint64_t seq = 0;
};

struct ProbeReply {
  ProbeRequest request;
  std::string responder;
};

std::vector<uint8_t> encodeRequest(const ProbeRequest& req);
Result<ProbeRequest> decodeRequest(std::span<const uint8_t> bytes);

// Fails when the name is empty, too long or holds characters outside [A-Za-z0-9._-].
Result<std::vector<uint8_t>> encodeReply(const ProbeRequest& req, const std::string& responder);
Result<ProbeReply> decodeReply(std::span<const uint8_t> bytes);

bool validResponderName(const std::string& name);

}  // namespace carplb::bench::probe
