// carplb-probe: client-visible availability of virtual IPs.
//
//   carplb-probe respond --name node1 [--port 7777]
//       answer every probe with this node's name (run it in each node's namespace)
//   carplb-probe probe --target 192.0.2.200 [--target ...] [--port 7777] [--interval-ms 10]
//       [--timeout-ms 100] [--duration-ms N] [--progress-ms 1000] [--json]
//       probe every target every interval until the duration ends or SIGINT/SIGTERM, then
//       print a summary (lost probes, longest outage, who answered over time)
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/probe/prober.h"

using namespace carplb;
using namespace carplb::bench::probe;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: carplb-probe respond --name NAME [--port P]\n"
               "       carplb-probe probe --target IP [--target IP ...] [--port P] [--interval-ms N]\n"
               "                          [--timeout-ms N] [--duration-ms N] [--progress-ms N] [--json]\n");
  return 2;
}

bool parseNumber(const char* text, long min, long max, long& out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    return false;
  }
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  std::string mode = argv[1];
  std::string name;
  long port = DefaultPort, intervalMs = 10, timeoutMs = 100, durationMs = 0, progressMs = 0;
  bool json = false;
  std::vector<std::string> targets;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "carplb-probe: %s: missing value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](const char* flag, long min, long max, long& out) {
      const char* v = value(flag);
      if (!parseNumber(v, min, max, out)) {
        std::fprintf(stderr, "carplb-probe: %s: must be an integer in %ld..%ld, got '%s'\n", flag, min, max, v);
        std::exit(2);
      }
    };
    if (a == "--name") {
      name = value("--name");
    } else if (a == "--port") {
      number("--port", 1, 65535, port);
    } else if (a == "--target") {
      targets.emplace_back(value("--target"));
    } else if (a == "--interval-ms") {
      number("--interval-ms", 1, 60000, intervalMs);
    } else if (a == "--timeout-ms") {
      number("--timeout-ms", 1, 60000, timeoutMs);
    } else if (a == "--duration-ms") {
      number("--duration-ms", 0, 86400000, durationMs);
    } else if (a == "--progress-ms") {
      number("--progress-ms", 0, 3600000, progressMs);
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "carplb-probe: unknown argument '%s'\n", a.c_str());
      return usage();
    }
  }

  if (mode == "respond") {
    auto st = respond(name, static_cast<uint16_t>(port), -1);
    std::fprintf(stderr, "carplb-probe: %s\n", st.error().message.c_str());
    return 1;
  }
  if (mode != "probe") {
    return usage();
  }

  // Block the stop signals before any thread starts; wait for them with a timeout.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto sock = udpSocket();
  if (!sock) {
    std::fprintf(stderr, "carplb-probe: %s\n", sock.error().message.c_str());
    return 1;
  }
  ProberOptions opts;
  opts.targets = targets;
  opts.port = static_cast<uint16_t>(port);
  opts.interval = std::chrono::milliseconds(intervalMs);
  opts.timeout = std::chrono::milliseconds(timeoutMs);
  auto prober = Prober::start(opts, std::move(*sock));
  if (!prober) {
    std::fprintf(stderr, "carplb-probe: %s\n", prober.error().message.c_str());
    return 2;
  }
  auto begin = MonoClock::now();
  auto nextProgress = begin + std::chrono::milliseconds(progressMs);
  for (;;) {
    auto now = MonoClock::now();
    if (durationMs > 0 && now - begin >= std::chrono::milliseconds(durationMs)) {
      break;
    }
    timespec ts{0, 50 * 1000 * 1000};
    if (sigtimedwait(&set, nullptr, &ts) > 0) {
      break;
    }
    if (progressMs > 0 && MonoClock::now() >= nextProgress) {
      nextProgress += std::chrono::milliseconds(progressMs);
      std::string line = "t=" + std::to_string(toMs((*prober)->elapsed()) / 1000.0).substr(0, 5) + "s";
      for (size_t t = 0; t < targets.size(); ++t) {
        auto s = (*prober)->summary(t);
        line += "  " + targets[t] + "=" + (s.lastResponder ? *s.lastResponder : "-") + " lost " +
                std::to_string(s.lost);
      }
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
  }
  // Let the last probes resolve, then stop.
  std::this_thread::sleep_for(opts.timeout);
  (*prober)->stop();
  nlohmann::json out = nlohmann::json::array();
  for (size_t t = 0; t < targets.size(); ++t) {
    auto s = (*prober)->summary(t);
    if (json) {
      out.push_back(toJson(s));
    } else {
      std::printf("%s\n", describe(s).c_str());
    }
  }
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
  }
  return 0;
}
