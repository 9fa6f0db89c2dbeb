#include "tests/e2e/lab/kept_lab.h"

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/e2e/lab/netlab.h"

namespace carplb::e2e {

std::string processStartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) {
    return "";
  }
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) {
    return "";
  }
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
  }
  return field;
}

Status writeKeptLab(const std::string& statePath, const KeptLab& lab) {
  std::ofstream st(statePath);
  st << "prefix " << lab.prefix << "\nworkdir " << lab.workDir << "\n";
  for (pid_t p : lab.pids) {
    st << "pid " << p << " " << processStartTime(p) << "\n";
  }
  st.flush();
  if (!st) {
    return makeError("kept lab state file " + statePath + ": cannot write");
  }
  return okStatus();
}

bool cleanKeptLab(const std::string& statePath, const std::string& tag, Duration stopWait,
                  const std::function<void(const std::string&)>& say) {
  std::ifstream in(statePath);
  if (!in) {
    return false;
  }
  constexpr auto Poll = std::chrono::milliseconds(20);
  std::string line, prefix, workDir;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind;
    ls >> kind;
    if (kind == "prefix") {
      ls >> prefix;
    } else if (kind == "workdir") {
      ls >> workDir;
    } else if (kind == "pid") {
      pid_t pid = 0;
      std::string started;
      ls >> pid >> started;
      if (pid > 1 && !started.empty() && processStartTime(pid) == started) {
        ::kill(-pid, SIGTERM);
        ::kill(pid, SIGTERM);
        for (Duration waited{}; waited < stopWait && processStartTime(pid) == started; waited += Poll) {
          std::this_thread::sleep_for(Poll);
        }
        if (processStartTime(pid) == started) {
          ::kill(-pid, SIGKILL);
        }
        say("stopped pid " + std::to_string(pid));
      }
    }
  }
  const std::string ours = "carplb-" + tag + "-";
  if (prefix.rfind(ours, 0) == 0) {
    auto list = runCommand({"ip", "netns", "list"});
    std::istringstream ns(list ? *list : "");
    std::vector<std::string> names;
    while (std::getline(ns, line)) {
      std::string name = line.substr(0, line.find(' '));
      if (name.rfind(prefix + "-", 0) == 0) {
        names.push_back(name);
      }
    }
    // Hosts first, the switch last.
    std::stable_partition(names.begin(), names.end(), [&](const std::string& n) { return n != prefix + "-sw"; });
    for (const auto& name : names) {
      (void)runCommand({"ip", "netns", "del", name});
      say("deleted namespace " + name);
    }
  }
  if (workDir.rfind("/tmp/" + ours, 0) == 0) {
    std::error_code ec;
    std::filesystem::remove_all(workDir, ec);
  }
  std::filesystem::remove(statePath);
  return true;
}

}  // namespace carplb::e2e
