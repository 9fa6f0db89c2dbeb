#pragma once
// SHELL: the client side of carplb-probe. Sends one UDP probe per target every `interval`
// from one socket and records, per probe, who answered (or that nobody did before `timeout`).
// Runs on its own thread; the socket is handed in so the caller can create it inside a
// network namespace (sockets keep the namespace they were created in).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/probe/probe_analysis.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace carplb::bench::probe {

inline constexpr uint16_t DefaultPort = 7777;

struct ProberOptions {
  std::vector<std::string> targets;  // IPv4 addresses
  uint16_t port = DefaultPort;
  Duration interval = std::chrono::milliseconds(10);
  Duration timeout = std::chrono::milliseconds(100);  // a reply later than this counts as lost
};

class Prober {
  struct Key {};

public:
  Prober(Key key, ProberOptions options, UniqueFd sock);  // use start()
  // sock: a UDP/IPv4 socket (unbound is fine). Starts probing at once.
  static Result<std::unique_ptr<Prober>> start(ProberOptions options, UniqueFd sock);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  void stop();  // idempotent; pending probes are resolved as lost only once their deadline passed
  const ProberOptions& options() const { return options_; }
  size_t targetIndex(const std::string& target) const;  // targets.size() when unknown

  // Resolved probes of one target (answered, or past their deadline), oldest first.
  std::vector<ProbeRecord> records(size_t target) const;
  TargetSummary summary(size_t target) const;
  TargetSummary summarySince(size_t target, Duration from) const;
  Duration elapsed() const;        // time since start
  uint64_t lateReplies() const;    // replies that arrived after their deadline
  uint64_t foreignPackets() const; // undecodable datagrams

private:
  void run();

  struct Slot {
    std::vector<ProbeRecord> records;  // index = seq
  };

  ProberOptions options_;
  UniqueFd sock_;
  UniqueFd wake_;  // eventfd to stop the thread
  TimePoint start_;
  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  uint64_t late_ = 0;
  uint64_t foreign_ = 0;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

// Creates a UDP socket in the calling thread's network namespace.
Result<UniqueFd> udpSocket();

// A UDP socket bound to 0.0.0.0:port with IP_PKTINFO, in the calling thread's namespace.
Result<UniqueFd> responderSocket(uint16_t port);
// Answers every probe arriving on `sock` with `name` until stopFd becomes readable (or
// forever when stopFd < 0). The reply leaves from the address the probe was sent to.
Status respondLoop(int sock, const std::string& name, int stopFd);
// responderSocket + respondLoop.
Status respond(const std::string& name, uint16_t port, int stopFd);

}  // namespace carplb::bench::probe
