// e2e (root + network namespaces): two carplb-agent processes on a veth pair elect exactly one
// master for a vhid; SIGTERM on the master bows out and the backup takes over at once.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "agent/io/netns_lab.h"

extern char** environ;

namespace carplb::agent::runtime {
namespace {

using testing::NetnsPair;

const std::string AgentBin = std::string(CARPLB_BINARY_DIR) + "/agent/carplb-agent";

std::string capture(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  if (!p) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p.get())) out += buf;
  return out;
}

class AgentProcess {
public:
  AgentProcess(const std::string& ns, const std::string& ifname, int advskew, const std::string& logPath)
      : log_(logPath) {
    std::vector<std::string> args = {"ip", "netns", "exec", ns, AgentBin, "--interface", ifname,
                                     "--vhid", "7", "--pass", "love", "--addr", "192.0.2.100",
                                     "--advbase", "0", "--advskew", std::to_string(advskew),
                                     "--status-listen", "off", "--log-level", "debug"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawnp(&pid_, "ip", &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~AgentProcess() { stop(); }
  // SIGTERM and wait; returns the exit status (or -1).
  int stop() {
    if (pid_ <= 0) return exit_;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {  // up to 10 s
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return exit_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  bool running() const { return pid_ > 0; }

private:
  pid_t pid_ = -1;
  int exit_ = -1;
  std::string log_;
};

bool hasVip(const std::string& ns, const std::string& ifname) {
  return capture("ip -n " + ns + " -4 addr show dev " + ifname).find("192.0.2.100/32") != std::string::npos;
}

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

TEST(TwoAgents, ElectOneMasterAndFailOverOnSigterm) {
  NetnsPair lab("rt");
  ASSERT_TRUE(lab.ok) << "cannot create network namespaces (need root)";
  std::string tmp = ::testing::TempDir();
  AgentProcess a(lab.a, lab.ifA, 40, tmp + "/carplb-agent-a.log");   // T = 40/256 s: preferred
  AgentProcess b(lab.b, lab.ifB, 120, tmp + "/carplb-agent-b.log");  // T = 120/256 s
  ASSERT_TRUE(a.running() && b.running());

  ASSERT_TRUE(waitFor([&] { return hasVip(lab.a, lab.ifA); }, std::chrono::seconds(10))) << a.log();
  // Give B time to have heard A for many intervals: it must stay BACKUP.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(hasVip(lab.a, lab.ifA));
  EXPECT_FALSE(hasVip(lab.b, lab.ifB)) << b.log();
  EXPECT_NE(a.log().find("msg=\"state change\" vhid=7 interface=" + lab.ifA + " from=BACKUP to=MASTER"),
            std::string::npos)
      << a.log();
  EXPECT_EQ(b.log().find("to=MASTER"), std::string::npos) << b.log();

  // Clean stop of the master: bow-out, VIP removed, exit 0; B takes over at once.
  EXPECT_EQ(a.stop(), 0) << a.log();
  EXPECT_FALSE(hasVip(lab.a, lab.ifA));
  ASSERT_TRUE(waitFor([&] { return hasVip(lab.b, lab.ifB); }, std::chrono::seconds(5))) << b.log();
  EXPECT_NE(b.log().find("from=BACKUP to=MASTER reason=bow_out_received"), std::string::npos) << b.log();
  EXPECT_EQ(b.stop(), 0) << b.log();
  EXPECT_FALSE(hasVip(lab.b, lab.ifB));
}

}  // namespace
}  // namespace carplb::agent::runtime
