#pragma once
// The controller's config file (/etc/carplb/controller.yaml in the chart; YAML or JSON) ->
// checked structs. Every key is documented in docs/controller.md and `carplb-controller --help`.
//
//   loadBalancerClass: carplb.io/carp     # Services with this class are ours
//   defaultClass: false                   # also take LoadBalancer Services without a class
//   pools: [{name: default, ranges: ["192.0.2.200/29"], autoAssign: true}]
//   nodeSelector: {carplb.io/vip-node: "true"}
//   vhidMin: 1                            # vhid range carplb may use on the segment
//   vhidMax: 255
//   excludedVhids: [1, 2]                 # vhids of foreign CARP/VRRP speakers
//   maxBackups: 3                         # backups per vhid
//   timerProfile: default                 # informational (default | fast | custom)
//   advbase: 1                            # CARP advbase of every vhid (seconds, 0..255)
//   advskewBase: 0                        # advskew of a vhid's master
//   advskewSpacing: 50                    # advskew step between a vhid's nodes
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "controller/core/inputs.h"

namespace carplb::controller::app {

struct TimerConfig {
  std::string profile = "default";
  int advbase = 1;
  int advskewBase = 0;
  int advskewSpacing = 50;
};

struct ControllerFileConfig {
  core::ControllerConfig core;
  TimerConfig timers;
};

// Errors name the key: "controller.yaml: vhidMax: must be an integer 1..255, got \"x\"".
Result<ControllerFileConfig> parseControllerConfig(const nlohmann::json& doc, const std::string& what);

}  // namespace carplb::controller::app
