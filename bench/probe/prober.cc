#include "bench/probe/prober.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "bench/probe/probe_wire.h"

namespace carplb::bench::probe {
namespace {

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

Result<UniqueFd> udpSocket() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return makeError(errnoText("probe socket"));
  }
  return fd;
}

Prober::Prober(Key /*key*/, ProberOptions options, UniqueFd sock) : options_(std::move(options)), sock_(std::move(sock)) {}

Result<std::unique_ptr<Prober>> Prober::start(ProberOptions options, UniqueFd sock) {
  if (options.targets.empty()) {
    return makeError("prober: targets: at least one target is needed");
  }
  if (options.interval <= Duration{0}) {
    return makeError("prober: interval: must be positive");
  }
  for (size_t i = 0; i < options.targets.size(); ++i) {
    in_addr a{};
    if (::inet_pton(AF_INET, options.targets[i].c_str(), &a) != 1) {
      return makeError("prober: targets[" + std::to_string(i) + "]: not an IPv4 address: '" + options.targets[i] + "'");
    }
  }
  if (!sock) {
    return makeError("prober: socket: not open");
  }
  auto p = std::make_unique<Prober>(Key{}, std::move(options), std::move(sock));
  p->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!p->wake_) {
    return makeError(errnoText("prober: eventfd"));
  }
  p->slots_.resize(p->options_.targets.size());
  p->start_ = MonoClock::now();
  p->thread_ = std::thread([raw = p.get()] { raw->run(); });
  return p;
}

Prober::~Prober() { stop(); }

void Prober::stop() {
  if (stopped_.exchange(true)) {
    return;
  }
  uint64_t one = 1;
  ssize_t n = ::write(wake_.get(), &one, sizeof one);
  (void)n;
  if (thread_.joinable()) {
    thread_.join();
  }
}

size_t Prober::targetIndex(const std::string& target) const {
  for (size_t i = 0; i < options_.targets.size(); ++i) {
    if (options_.targets[i] == target) {
      return i;
    }
  }
  return options_.targets.size();
}

void Prober::run() {
  std::vector<sockaddr_in> addrs(options_.targets.size());
  for (size_t i = 0; i < addrs.size(); ++i) {
    addrs[i].sin_family = AF_INET;
    addrs[i].sin_port = htons(options_.port);
    ::inet_pton(AF_INET, options_.targets[i].c_str(), &addrs[i].sin_addr);
  }
  uint64_t seq = 0;   // record index
  uint64_t tick = 0;  // schedule slot
  uint8_t buf[256];
  for (;;) {
    TimePoint now = MonoClock::now();
    TimePoint due = start_ + options_.interval * static_cast<int64_t>(tick);
    if (now >= due) {
      Duration sentAt = now - start_;
      {
        std::lock_guard lock(mu_);
        for (auto& slot : slots_) {
          slot.records.push_back(ProbeRecord{seq, sentAt, std::nullopt, Duration{0}});
        }
      }
      for (size_t i = 0; i < addrs.size(); ++i) {
        auto bytes = encodeRequest(ProbeRequest{static_cast<uint32_t>(i), seq});
        // A send error (e.g. EHOSTUNREACH while ARP fails) is just a lost probe.
        (void)::sendto(sock_.get(), bytes.data(), bytes.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addrs[i]),
                       sizeof addrs[i]);
      }
      ++seq;
      ++tick;
      // If we fell far behind (CPU starvation), do not burst: resynchronise the schedule.
      TimePoint after = MonoClock::now();
      while (start_ + options_.interval * static_cast<int64_t>(tick) + options_.interval < after) {
        ++tick;
      }
      continue;
    }
    auto waitMs = std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count();
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int rc = ::poll(fds, 2, static_cast<int>(waitMs));
    if (rc < 0 && errno != EINTR) {
      return;
    }
    if (fds[1].revents & POLLIN) {
      return;
    }
    if (!(fds[0].revents & POLLIN)) {
      continue;
    }
    for (;;) {
      ssize_t n = ::recv(sock_.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        break;
      }
      TimePoint got = MonoClock::now();
      auto reply = decodeReply(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
      std::lock_guard lock(mu_);
      if (!reply || reply->request.target >= slots_.size() ||
          reply->request.seq >= slots_[reply->request.target].records.size()) {
        ++foreign_;
        continue;
      }
      auto& rec = slots_[reply->request.target].records[reply->request.seq];
      Duration rtt = (got - start_) - rec.sentAt;
      if (rec.answeredBy) {
        continue;  // duplicate
      }
      if (rtt > options_.timeout) {
        ++late_;
        continue;
      }
      rec.answeredBy = reply->responder;
      rec.rtt = rtt;
    }
  }
}

std::vector<ProbeRecord> Prober::records(size_t target) const {
  Duration horizon = elapsed() - options_.timeout;
  std::lock_guard lock(mu_);
  if (target >= slots_.size()) {
    return {};
  }
  const auto& all = slots_[target].records;
  std::vector<ProbeRecord> out;
  out.reserve(all.size());
  for (const auto& r : all) {
    if (!r.answeredBy && r.sentAt > horizon) {
      break;  // still pending
    }
    out.push_back(r);
  }
  return out;
}

TargetSummary Prober::summary(size_t target) const {
  std::string name = target < options_.targets.size() ? options_.targets[target] : "?";
  return summarize(name, records(target), options_.interval);
}

TargetSummary Prober::summarySince(size_t target, Duration from) const {
  std::string name = target < options_.targets.size() ? options_.targets[target] : "?";
  return summarize(name, recordsSince(records(target), from), options_.interval);
}

Duration Prober::elapsed() const { return MonoClock::now() - start_; }

uint64_t Prober::lateReplies() const {
  std::lock_guard lock(mu_);
  return late_;
}

uint64_t Prober::foreignPackets() const {
  std::lock_guard lock(mu_);
  return foreign_;
}

Result<UniqueFd> responderSocket(uint16_t port) {
  auto sock = udpSocket();
  if (!sock) {
    return sock.error();
  }
  int on = 1;
  ::setsockopt(sock->get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::setsockopt(sock->get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) {
    return makeError(errnoText("responder: IP_PKTINFO"));
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(port);
  local.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(sock->get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    return makeError(errnoText("responder: bind port " + std::to_string(port)));
  }
  return std::move(*sock);
}

Status respond(const std::string& name, uint16_t port, int stopFd) {
  if (!validResponderName(name)) {
    return makeError("responder: name: must be 1..64 characters of [A-Za-z0-9._-], got '" + name + "'");
  }
  auto sock = responderSocket(port);
  if (!sock) {
    return sock.error();
  }
  return respondLoop(sock->get(), name, stopFd);
}

Status respondLoop(int sockFd, const std::string& name, int stopFd) {
  if (!validResponderName(name)) {
    return makeError("responder: name: must be 1..64 characters of [A-Za-z0-9._-], got '" + name + "'");
  }
  uint8_t buf[512];
  alignas(cmsghdr) char control[256];
  for (;;) {
    pollfd fds[2] = {{sockFd, POLLIN, 0}, {stopFd, POLLIN, 0}};
    int rc = ::poll(fds, stopFd >= 0 ? 2 : 1, -1);
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      return makeError(errnoText("responder: poll"));
    }
    if (stopFd >= 0 && (fds[1].revents & POLLIN)) {
      return okStatus();
    }
    for (;;) {
      sockaddr_in peer{};
      iovec iov{buf, sizeof buf};
      msghdr msg{};
      msg.msg_name = &peer;
      msg.msg_namelen = sizeof peer;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(sockFd, &msg, MSG_DONTWAIT);
      if (n < 0) {
        break;
      }
      auto req = decodeRequest(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
      if (!req) {
        continue;  // not ours: never crash on foreign traffic
      }
      auto reply = encodeReply(*req, name);
      if (!reply) {
        continue;
      }
      in_pktinfo info{};
      bool haveInfo = false;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          std::memcpy(&info, CMSG_DATA(c), sizeof info);
          haveInfo = true;
        }
      }
      iovec out{reply->data(), reply->size()};
      msghdr rmsg{};
      rmsg.msg_name = &peer;
      rmsg.msg_namelen = sizeof peer;
      rmsg.msg_iov = &out;
      rmsg.msg_iovlen = 1;
      alignas(cmsghdr) char rcontrol[CMSG_SPACE(sizeof(in_pktinfo))] = {};
      if (haveInfo) {
        rmsg.msg_control = rcontrol;
        rmsg.msg_controllen = sizeof rcontrol;
        cmsghdr* c = CMSG_FIRSTHDR(&rmsg);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo src{};
        src.ipi_spec_dst = info.ipi_addr;  // answer from the VIP the probe was sent to
        std::memcpy(CMSG_DATA(c), &src, sizeof src);
      }
      (void)::sendmsg(sockFd, &rmsg, MSG_DONTWAIT);
    }
  }
}

}  // namespace carplb::bench::probe
