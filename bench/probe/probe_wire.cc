#include "bench/probe/probe_wire.h"

namespace carplb::bench::probe {
namespace {

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<uint8_t>(v >> shift));
  }
}

void put64(std::vector<uint8_t>& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<uint8_t>(v >> shift));
  }
}

uint64_t getBE(std::span<const uint8_t> bytes, size_t offset, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) {
    v = (v << 8) | bytes[offset + i];
  }
  return v;
}

}  // namespace

bool validResponderName(const std::string& name) {
  if (name.empty() || name.size() > MaxNameSize) {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::vector<uint8_t> encodeRequest(const ProbeRequest& req) {
  std::vector<uint8_t> out;
  out.reserve(RequestSize);
  put32(out, ProbeMagic);
  put32(out, req.target);
  put64(out, req.seq);
  return out;
}

Result<ProbeRequest> decodeRequest(std::span<const uint8_t> bytes) {
  if (bytes.size() < RequestSize) {
    return makeError("probe request: length: need " + std::to_string(RequestSize) + " bytes, got " +
                     std::to_string(bytes.size()));
  }
  if (getBE(bytes, 0, 4) != ProbeMagic) {
    return makeError("probe request: magic: not a carplb probe");
  }
  ProbeRequest req;
  req.target = static_cast<uint32_t>(getBE(bytes, 4, 4));
  req.seq = getBE(bytes, 8, 8);
  return req;
}

Result<std::vector<uint8_t>> encodeReply(const ProbeRequest& req, const std::string& responder) {
  if (!validResponderName(responder)) {
    return makeError("probe reply: responder: must be 1.." + std::to_string(MaxNameSize) +
                     " characters of [A-Za-z0-9._-], got '" + responder + "'");
  }
  auto out = encodeRequest(req);
  out.insert(out.end(), responder.begin(), responder.end());
  return out;
}

Result<ProbeReply> decodeReply(std::span<const uint8_t> bytes) {
  auto req = decodeRequest(bytes);
  if (!req) {
    return makeError("probe reply: " + req.error().message.substr(std::string("probe request: ").size()));
  }
  ProbeReply reply;
  reply.request = *req;
  reply.responder.assign(bytes.begin() + RequestSize, bytes.end());
  if (!validResponderName(reply.responder)) {
    return makeError("probe reply: responder: invalid name (" + std::to_string(reply.responder.size()) +
                     " bytes)");
  }
  return reply;
}

}  // namespace carplb::bench::probe
