#pragma once
// FakeCarpTransport / FakeArpAnnouncer: record what the runtime sends; inject failures.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/io/transport.h"
#include "common/random.h"

namespace carplb::testing {

class FakeCarpTransport final : public agent::io::CarpTransport {
public:
  struct Sent {
    std::string ifname;
    agent::carp::Ipv4Address source;
    agent::carp::Advert advert;  // decoded back from the bytes the runtime encoded
  };

  Status openInterface(const std::string& ifname) override {
    open.insert(ifname);
    return okStatus();
  }
  void closeInterface(const std::string& ifname) override { open.erase(ifname); }
  Status send(const std::string& ifname, agent::carp::Ipv4Address source,
              const agent::carp::CarpHeaderBytes& header) override {
    if (failSend.count(ifname)) return makeError("send on " + ifname + ": injected failure");
    auto decoded = agent::carp::decodeCarpHeader(header, agent::carp::CarpTtl);
    if (decoded) sent.push_back({ifname, source, *decoded});
    return okStatus();
  }

  std::vector<Sent> sentFor(int vhid) const {
    std::vector<Sent> out;
    for (const auto& s : sent) {
      if (s.advert.vhid == vhid) out.push_back(s);
    }
    return out;
  }

  std::set<std::string> open;
  std::set<std::string> failSend;
  std::vector<Sent> sent;
};

class FakeArpAnnouncer final : public agent::io::ArpAnnouncer {
public:
  Status announce(const std::string& ifname, agent::carp::Ipv4Address vip) override {
    announced.emplace_back(ifname, vip);
    return okStatus();
  }
  std::vector<std::pair<std::string, agent::carp::Ipv4Address>> announced;
};

// A Random that returns a fixed sequence (deterministic advert counters).
class FakeRandom final : public Random {
public:
  uint64_t next64() override { return next_++; }

private:
  uint64_t next_ = 1000;
};

}  // namespace carplb::testing
