// libFuzzer: bytes -> a sequence of agent reports (valid and invalid), time moves forward.
// Checks the invariants AgentObservations promises whatever agents send.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/observe/observations.h"
#include "controller/observe/status.h"

namespace {

using namespace carplb;
using namespace carplb::controller::observe;

class Bytes {
public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t next() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::string text(size_t max) {
    size_t n = next() % (max + 1);
    std::string out;
    for (size_t i = 0; i < n && !empty(); ++i) {
      out.push_back(static_cast<char>(next()));
    }
    return out;
  }

private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  static const char* const Nodes[] = {"node-a", "node-b", "node-c", ""};
  AgentObservations obs(ObservationsConfig{.splitBrainGrace = std::chrono::seconds(in.next() % 4),
                                           .foreignSpeakerTtl = std::chrono::seconds(1 + in.next() % 20),
                                           .maxForeignSourcesPerVhid = 4,
                                           .maxPendingNotices = 32});
  WallTime now = WallTime{} + std::chrono::seconds(1'700'000'000);
  while (!in.empty()) {
    const uint8_t op = in.next();
    now += std::chrono::milliseconds(in.next() * 20);
    std::string node = (op & 0x80) ? in.text(8) : Nodes[in.next() % 4];
    const int vhid = static_cast<int>(in.next()) - 2;  // -2..253
    const WallTime agentTime = now - std::chrono::seconds(in.next() % 8);
    AgentReport report;
    switch (op % 7) {
      case 0: report = Connected{node}; break;
      case 1: report = Disconnected{node, in.text(8)}; break;
      case 2:
        report = ForeignSpeaker{node, vhid, in.text(6), in.text(6), static_cast<ForeignProtocol>(in.next() % 3),
                                static_cast<int>(in.next()) * 3 - 100, static_cast<int>(in.next()) * 3 - 100, agentTime};
        break;
      case 3: report = ApplyError{node, in.text(4), in.next(), vhid, in.text(16)}; break;
      case 4: obs.forgetNode(node, now); continue;
      case 5: (void)obs.takeNotices(now); continue;
      default:
        report = StateChange{node, vhid, static_cast<CarpState>(in.next() % 4), static_cast<CarpState>(in.next() % 4),
                             in.text(8), (in.next() & 1) ? agentTime : WallTime{}};
    }
    (void)obs.apply(report, now);
  }
  for (const auto& n : obs.takeNotices(now)) {
    check(!n.message.empty() && n.message.size() <= 1024);
  }
  for (int vhid : obs.vhids()) {
    auto v = obs.vhidView(vhid);
    check(v.has_value() && vhid >= 1 && vhid <= 255);
    check(v->actualMaster.empty() == v->masters.empty());
    check(!v->splitBrain || v->masters.size() >= 2);
    check(v->splitBrain == v->splitBrainCondition.status);
    check(v->foreignSpeakers.empty() != v->foreignSpeakerCondition.status);
    check(v->foreignSpeakers.size() <= 4);
    for (const auto& n : v->nodes) {
      check(obs.agentHealth(n.node) != AgentHealth::Lost || n.state == CarpState::Unknown);
    }
    (void)statusFragment(*v).dump();  // throws (and aborts) on invalid UTF-8
  }
  return 0;
}
