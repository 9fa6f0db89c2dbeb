#pragma once
// ARP capture on one lab host (AF_PACKET, ETH_P_ARP, bound to the host's interface), for the
// annotation -> first gratuitous ARP benchmark and the e2e tests. Each packet is stamped by
// the kernel (SO_TIMESTAMPNS, CLOCK_REALTIME) so scheduling delays of the capture thread do
// not count; compare with std::chrono::system_clock::now() taken before the API request.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "tests/e2e/lab/netlab.h"

namespace carplb::e2e::cluster {

struct ArpPacket {
  WallTime at;
  int op = 0;              // 1 request, 2 reply
  std::string senderIp;
  std::string targetIp;
  std::string senderMac;   // aa:bb:cc:dd:ee:ff
  bool gratuitous() const { return senderIp == targetIp; }
};

// Parses an Ethernet II frame holding an IPv4-over-Ethernet ARP packet; nullopt otherwise.
std::optional<ArpPacket> parseArpFrame(const uint8_t* data, size_t size, WallTime at);

class ArpCapture {
  struct Key {};

public:
  static Result<std::unique_ptr<ArpCapture>> start(const Host& host);
  ArpCapture(Key key, UniqueFd sock, UniqueFd stop);
  ~ArpCapture();
  ArpCapture(const ArpCapture&) = delete;
  ArpCapture& operator=(const ArpCapture&) = delete;

  std::vector<ArpPacket> packets() const;
  // The first gratuitous ARP (request or reply, sender = target = vip) at or after `after`.
  std::optional<ArpPacket> firstGratuitous(const std::string& vip, WallTime after) const;

private:
  void run();
  UniqueFd sock_;
  UniqueFd stop_;
  mutable std::mutex mu_;
  std::vector<ArpPacket> packets_;
  std::thread thread_;
};

}  // namespace carplb::e2e::cluster
