#pragma once
// A lab the demo drivers (carplb-lab, carplb-cluster-lab) leave running with --keep, and its
// removal by their `clean` command. The state file lists the namespace prefix, the work
// directory and every kept process as "pid <pid> <start time>": a pid together with its start
// time (field 22 of /proc/PID/stat) names a process unambiguously, so `clean` never signals a
// recycled pid.
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace carplb::e2e {

struct KeptLab {
  std::string prefix;   // namespace prefix, carplb-<tag>-...
  std::string workDir;  // /tmp/carplb-<tag>-...
  std::vector<pid_t> pids;
};

// Field 22 of /proc/PID/stat; empty when the process is gone.
std::string processStartTime(pid_t pid);

// Writes `lab` to `statePath` (each pid with its current start time).
Status writeKeptLab(const std::string& statePath, const KeptLab& lab);

// Removes the lab recorded in `statePath`: each recorded process that still has its start
// time gets SIGTERM (its group, then itself), SIGKILL to its group after `stopWait`; the
// namespaces <prefix>-* are deleted (the switch <prefix>-sw last) and the work directory
// removed, only when they carry the carplb-<tag>- names the drivers give them; then the state
// file goes. Each step is reported through `say`. False when there is no state file.
bool cleanKeptLab(const std::string& statePath, const std::string& tag, Duration stopWait,
                  const std::function<void(const std::string&)>& say);

}  // namespace carplb::e2e
