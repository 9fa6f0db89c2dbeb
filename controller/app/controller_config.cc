#include "controller/app/controller_config.h"

#include <set>

namespace carplb::controller::app {
namespace {

using Json = nlohmann::json;

struct Reader {
  const std::string& what;
  std::string error;

  bool fail(const std::string& key, const std::string& msg) {
    if (error.empty()) {
      error = what + ": " + key + ": " + msg;
    }
    return false;
  }

  bool integer(const Json& j, const std::string& key, int lo, int hi, int& out) {
    if (!j.is_number_integer() && !j.is_number_unsigned()) {
      return fail(key, "must be an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + j.dump());
    }
    auto v = j.get<int64_t>();
    if (v < lo || v > hi) {
      return fail(key, "must be " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + std::to_string(v));
    }
    out = static_cast<int>(v);
    return true;
  }

  bool string(const Json& j, const std::string& key, std::string& out) {
    if (!j.is_string()) {
      return fail(key, "must be a string, got " + j.dump());
    }
    out = j.get<std::string>();
    return true;
  }

  bool boolean(const Json& j, const std::string& key, bool& out) {
    if (!j.is_boolean()) {
      return fail(key, "must be true or false, got " + j.dump());
    }
    out = j.get<bool>();
    return true;
  }
};

}  // namespace

Result<ControllerFileConfig> parseControllerConfig(const Json& doc, const std::string& what) {
  ControllerFileConfig cfg;
  if (doc.is_null()) {
    return cfg;  // empty file: defaults
  }
  if (!doc.is_object()) {
    return makeError(what + ": must be a mapping of keys");
  }
  Reader r{what, {}};
  static const std::set<std::string> known = {"loadBalancerClass", "defaultClass", "pools",       "nodeSelector",
                                              "vhidMin",           "vhidMax",      "excludedVhids", "maxBackups",
                                              "timerProfile",      "advbase",      "advskewBase", "advskewSpacing"};
  for (const auto& [key, value] : doc.items()) {
    if (!known.count(key)) {
      return makeError(what + ": " + key + ": unknown key (known: loadBalancerClass, defaultClass, pools, "
                                          "nodeSelector, vhidMin, vhidMax, excludedVhids, maxBackups, "
                                          "timerProfile, advbase, advskewBase, advskewSpacing)");
    }
    bool ok = true;
    if (key == "loadBalancerClass") {
      ok = r.string(value, key, cfg.core.loadBalancerClass);
    } else if (key == "defaultClass") {
      ok = r.boolean(value, key, cfg.core.defaultClass);
    } else if (key == "vhidMin") {
      ok = r.integer(value, key, 1, 255, cfg.core.vhidMin);
    } else if (key == "vhidMax") {
      ok = r.integer(value, key, 1, 255, cfg.core.vhidMax);
    } else if (key == "maxBackups") {
      ok = r.integer(value, key, 0, 16, cfg.core.maxBackups);
    } else if (key == "advskewSpacing") {
      ok = r.integer(value, key, 1, 200, cfg.core.advskewSpacing);
      cfg.timers.advskewSpacing = cfg.core.advskewSpacing;
    } else if (key == "advbase") {
      ok = r.integer(value, key, 0, 255, cfg.timers.advbase);
    } else if (key == "advskewBase") {
      ok = r.integer(value, key, 0, 200, cfg.timers.advskewBase);
    } else if (key == "timerProfile") {
      ok = r.string(value, key, cfg.timers.profile);
    } else if (key == "excludedVhids") {
      if (!value.is_array() && !value.is_null()) {
        ok = r.fail(key, "must be a list of vhids");
      } else if (value.is_array()) {
        for (size_t i = 0; ok && i < value.size(); ++i) {
          int v = 0;
          ok = r.integer(value[i], key + "[" + std::to_string(i) + "]", 1, 255, v);
          cfg.core.excludedVhids.push_back(v);
        }
      }
    } else if (key == "nodeSelector") {
      if (!value.is_object() && !value.is_null()) {
        ok = r.fail(key, "must be a mapping of label: value");
      } else if (value.is_object()) {
        for (const auto& [lk, lv] : value.items()) {
          std::string s;
          ok = r.string(lv, key + "." + lk, s);
          if (!ok) break;
          cfg.core.nodeSelector[lk] = s;
        }
      }
    } else if (key == "pools") {
      if (!value.is_array() && !value.is_null()) {
        ok = r.fail(key, "must be a list of {name, ranges, autoAssign}");
      } else if (value.is_array()) {
        std::set<std::string> names;
        for (size_t i = 0; ok && i < value.size(); ++i) {
          const std::string at = "pools[" + std::to_string(i) + "]";
          const Json& p = value[i];
          if (!p.is_object()) {
            ok = r.fail(at, "must be a mapping with name and ranges");
            break;
          }
          core::PoolConfig pool;
          for (const auto& [pk, pv] : p.items()) {
            if (pk == "name") {
              ok = r.string(pv, at + ".name", pool.name);
            } else if (pk == "autoAssign") {
              ok = r.boolean(pv, at + ".autoAssign", pool.autoAssign);
            } else if (pk == "ranges" || pk == "cidrs") {
              if (!pv.is_array()) {
                ok = r.fail(at + "." + pk, "must be a list of CIDRs or first-last ranges");
              } else {
                for (size_t k = 0; ok && k < pv.size(); ++k) {
                  std::string s;
                  ok = r.string(pv[k], at + "." + pk + "[" + std::to_string(k) + "]", s);
                  pool.ranges.push_back(s);
                }
              }
            } else {
              ok = r.fail(at + "." + pk, "unknown key (known: name, ranges, autoAssign)");
            }
            if (!ok) break;
          }
          if (ok && pool.name.empty()) {
            ok = r.fail(at + ".name", "is required");
          }
          if (ok && !names.insert(pool.name).second) {
            ok = r.fail(at + ".name", "duplicate pool name \"" + pool.name + "\"");
          }
          if (ok) cfg.core.pools.push_back(std::move(pool));
        }
      }
    }
    if (!ok) {
      return makeError(r.error);
    }
  }
  if (cfg.core.vhidMin > cfg.core.vhidMax) {
    return makeError(what + ": vhidMin: must not exceed vhidMax (" + std::to_string(cfg.core.vhidMin) + " > " +
                     std::to_string(cfg.core.vhidMax) + ")");
  }
  if (cfg.timers.advbase == 0 && cfg.timers.advskewBase == 0) {
    return makeError(what + ": advskewBase: advbase 0 needs advskewBase >= 1 (the advert interval would be 0)");
  }
  int top = cfg.timers.advskewBase + cfg.core.maxBackups * cfg.core.advskewSpacing;
  if (top > 200) {
    return makeError(what + ": advskewSpacing: advskewBase + maxBackups * advskewSpacing must be <= 200, got " +
                     std::to_string(top));
  }
  return cfg;
}

}  // namespace carplb::controller::app
