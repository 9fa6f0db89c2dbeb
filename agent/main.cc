// carplb-agent: flags -> options, wiring, signals (agent/runtime/daemon.h). No logic here.
#include <iostream>
#include <string>
#include <vector>

#include "agent/config/flags.h"
#include "agent/config/loader.h"
#include "agent/runtime/daemon.h"
#include "common/log.h"

#ifndef CARPLB_VERSION
#define CARPLB_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace carplb;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cl = agent::config::parseCommandLine(args);
  if (!cl) {
    std::cerr << "carplb-agent: " << cl.error().message << "\n";
    return 2;
  }
  if (cl->help) {
    std::cout << agent::config::usageText();
    return 0;
  }
  if (cl->version) {
    std::cout << "carplb-agent " << CARPLB_VERSION << "\n";
    return 0;
  }
  agent::runtime::DaemonOptions opts;
  opts.version = CARPLB_VERSION;
  opts.commandLine = *cl;
  if (cl->configPath) {
    auto cfg = agent::config::loadConfigFile(*cl->configPath);
    if (!cfg) {
      std::cerr << "carplb-agent: " << cfg.error().message << "\n";
      return 2;
    }
    agent::config::applyOverrides(*cl, *cfg);
    auto st = agent::config::validateConfig(*cfg);
    if (!st) {
      std::cerr << "carplb-agent: " << st.error().message << "\n";
      return 2;
    }
    opts.configPath = cl->configPath;
    opts.initial = std::move(*cfg);
  } else {
    auto cfg = *cl->single;
    auto st = agent::config::resolvePasswordFiles(cfg);
    if (!st) {
      std::cerr << "carplb-agent: " << st.error().message << "\n";
      return 2;
    }
    opts.initial = std::move(cfg);
  }
  Logger log("agent", opts.initial.logLevel);
  return agent::runtime::runDaemon(opts, log);
}
