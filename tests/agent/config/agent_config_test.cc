#include "agent/config/agent_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace carplb::agent::config {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json minimal() {
  return json::parse(R"({"vhids":[{"vhid":7,"interface":"eth0","addresses":["192.0.2.100"],"password":"love"}]})");
}

std::string errorOf(const json& j) {
  auto r = configFromJson(j);
  EXPECT_FALSE(r.ok()) << j.dump();
  return r.ok() ? std::string() : r.error().message;
}

TEST(Ipv4, ParsesAndFormats) {
  auto ip = Ipv4::parse("198.51.100.7");
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(ip->value, (198u << 24) | (51u << 16) | (100u << 8) | 7u);
  EXPECT_EQ(ip->str(), "198.51.100.7");
  EXPECT_FALSE(Ipv4::parse("198.51.100").ok());
  EXPECT_FALSE(Ipv4::parse("198.51.100.256").ok());
  EXPECT_FALSE(Ipv4::parse("2001:db8::1").ok());
  EXPECT_FALSE(Ipv4::parse("").ok());
  EXPECT_LT(*Ipv4::parse("192.0.2.9"), *Ipv4::parse("192.0.2.10"));
}

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(*parseDuration("500ms"), Duration(500ms));
  EXPECT_EQ(*parseDuration("2s"), Duration(2s));
  EXPECT_EQ(*parseDuration("1.5s"), Duration(1500ms));
  EXPECT_EQ(*parseDuration("1m"), Duration(60s));
  EXPECT_EQ(*parseDuration("250us"), Duration(250us));
  EXPECT_EQ(*parseDuration("3"), Duration(3s));
  EXPECT_EQ(*parseDuration("0"), Duration(0));
  for (const char* bad : {"", "ms", "5 s", "-1s", "1.2.3s", "5x", ".5s", "1e99h"}) {
    EXPECT_FALSE(parseDuration(bad).ok()) << bad;
  }
  EXPECT_EQ(formatDuration(1500ms), "1500ms");
  EXPECT_EQ(formatDuration(2s), "2s");
  EXPECT_EQ(formatDuration(0s), "0s");
}

TEST(ConfigFromJson, MinimalGetsDefaults) {
  auto r = configFromJson(minimal());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->vhids.size(), 1u);
  const auto& v = r->vhids[0];
  EXPECT_EQ(v.vhid, 7);
  EXPECT_EQ(v.interface, "eth0");
  EXPECT_EQ(v.advbase, 1);
  EXPECT_EQ(v.advskew, 0);
  EXPECT_FALSE(v.preempt);
  EXPECT_FALSE(v.srcip.has_value());
  EXPECT_EQ(v.preemptDelay, Duration(0));
  EXPECT_EQ(r->statusListen, "127.0.0.1:9464");
  EXPECT_EQ(r->logLevel, LogLevel::Info);
}

TEST(ConfigFromJson, FullEntryWithStringScalars) {
  // What the YAML loader produces: every scalar is a string.
  json j = json::parse(R"({
    "statusListen": "off", "logLevel": "debug",
    "vhids": [{"vhid": "12", "interface": "carplb-a", "srcip": "192.0.2.1",
               "addresses": ["192.0.2.100", "192.0.2.101"], "advbase": "0", "advskew": "20",
               "password": "1234", "preempt": "true", "preemptDelay": "5s",
               "garpRefresh": "30s", "demote": "10"}]})");
  auto r = configFromJson(j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& v = r->vhids[0];
  EXPECT_EQ(v.vhid, 12);
  EXPECT_EQ(v.srcip->str(), "192.0.2.1");
  EXPECT_EQ(v.addresses.size(), 2u);
  EXPECT_EQ(v.advbase, 0);
  EXPECT_EQ(v.advskew, 20);
  EXPECT_EQ(v.password, "1234");
  EXPECT_TRUE(v.preempt);
  EXPECT_EQ(v.preemptDelay, Duration(5s));
  EXPECT_EQ(v.garpRefresh, Duration(30s));
  EXPECT_EQ(v.demote, 10);
  EXPECT_EQ(r->statusListen, "off");
  EXPECT_EQ(r->logLevel, LogLevel::Debug);
}

TEST(ConfigFromJson, ErrorsNameTheField) {
  struct Case {
    const char* desc;
    std::function<void(json&)> edit;
    std::string want;
  };
  std::vector<Case> cases = {
      {"advskew too big", [](json& j) { j["vhids"][0]["advskew"] = 300; },
       "vhids[0].advskew: must be between 0 and 254, got 300"},
      {"vhid zero", [](json& j) { j["vhids"][0]["vhid"] = 0; }, "vhids[0].vhid: must be between 1 and 255, got 0"},
      {"vhid missing", [](json& j) { j["vhids"][0].erase("vhid"); }, "vhids[0].vhid: required"},
      {"advbase not a number", [](json& j) { j["vhids"][0]["advbase"] = "fast"; },
       "vhids[0].advbase: must be an integer, got \"fast\""},
      {"bad address", [](json& j) { j["vhids"][0]["addresses"][0] = "192.0.2.300"; },
       "vhids[0].addresses[0]: not an IPv4 address: \"192.0.2.300\""},
      {"multicast VIP", [](json& j) { j["vhids"][0]["addresses"][0] = "224.0.0.18"; },
       "vhids[0].addresses[0]: must be a unicast address, got 224.0.0.18"},
      {"no addresses", [](json& j) { j["vhids"][0]["addresses"] = json::array(); },
       "vhids[0].addresses: at least one address is required"},
      {"password too long", [](json& j) { j["vhids"][0]["password"] = "01234567890123456789"; },
       "vhids[0].password: at most 19 bytes, got 20"},
      {"no password", [](json& j) { j["vhids"][0].erase("password"); },
       "vhids[0].password: required (or passwordFile)"},
      {"password and file", [](json& j) { j["vhids"][0]["passwordFile"] = "/x"; },
       "vhids[0].passwordFile: set either password or passwordFile, not both"},
      {"zero interval", [](json& j) { j["vhids"][0]["advbase"] = 0; },
       "vhids[0].advskew: must be above 0 when advbase is 0 (the interval would be 0)"},
      {"bad duration", [](json& j) { j["vhids"][0]["preemptDelay"] = "soon"; },
       "vhids[0].preemptDelay: not a duration: \"soon\" (use e.g. \"500ms\", \"2s\", \"1m\")"},
      {"bool", [](json& j) { j["vhids"][0]["preempt"] = "maybe"; },
       "vhids[0].preempt: must be true or false, got \"maybe\""},
      {"log level", [](json& j) { j["logLevel"] = "loud"; },
       "logLevel: must be one of debug, info, warn, error, got \"loud\""},
      {"status listen", [](json& j) { j["statusListen"] = "localhost"; },
       "statusListen: must be \"host:port\" or \"off\", got \"localhost\""},
      {"status port", [](json& j) { j["statusListen"] = "127.0.0.1:70000"; },
       "statusListen: port must be 0..65535, got \"70000\""},
      {"vhids not a list", [](json& j) { j["vhids"] = "x"; }, "vhids: must be a list, got \"x\""},
      {"vhids missing", [](json& j) { j.erase("vhids"); }, "vhids: required (a list of vhid entries)"},
      {"demote", [](json& j) { j["vhids"][0]["demote"] = 241; }, "vhids[0].demote: must be between 0 and 240, got 241"},
      {"garp refresh tiny", [](json& j) { j["vhids"][0]["garpRefresh"] = "10ms"; },
       "vhids[0].garpRefresh: must be 0 (off) or at least 100ms, got 10ms"},
      {"srcip is a VIP", [](json& j) { j["vhids"][0]["srcip"] = "192.0.2.100"; },
       "vhids[0].srcip: must be the node's own address, not one of the VIPs (192.0.2.100)"},
      {"interface long", [](json& j) { j["vhids"][0]["interface"] = "a-very-long-ifname"; },
       "vhids[0].interface: names are at most 15 characters, got \"a-very-long-ifname\""},
  };
  for (const auto& c : cases) {
    json j = minimal();
    c.edit(j);
    EXPECT_EQ(errorOf(j), c.want) << c.desc;
  }
}

TEST(ConfigFromJson, UnknownKeysGetAHint) {
  json j = minimal();
  j["vhids"][0]["advksew"] = 5;
  EXPECT_EQ(errorOf(j), "vhids[0].advksew: unknown key (did you mean \"advskew\"?)");
  j = minimal();
  j["statusListem"] = "off";
  EXPECT_EQ(errorOf(j), "statusListem: unknown key (did you mean \"statusListen\"?)");
  j = minimal();
  j["zzzzzzzzzz"] = 1;
  EXPECT_EQ(errorOf(j), "zzzzzzzzzz: unknown key (known keys: vhids statusListen logLevel)");
}

TEST(ConfigFromJson, DuplicatesAcrossVhids) {
  json j = minimal();
  j["vhids"].push_back(j["vhids"][0]);
  j["vhids"][1]["addresses"][0] = "192.0.2.101";
  EXPECT_EQ(errorOf(j), "vhids[1].vhid: vhid 7 on eth0 is already used by vhids[0]");

  // Same vhid on another interface is fine.
  j["vhids"][1]["interface"] = "eth1";
  EXPECT_TRUE(configFromJson(j).ok());

  j["vhids"][1]["vhid"] = 8;
  j["vhids"][1]["interface"] = "eth0";
  j["vhids"][1]["addresses"][0] = "192.0.2.100";
  EXPECT_EQ(errorOf(j), "vhids[1].addresses[0]: 192.0.2.100 is already a VIP of vhids[0]");

  json d = minimal();
  d["vhids"][0]["addresses"].push_back("192.0.2.100");
  EXPECT_EQ(errorOf(d), "vhids[0].addresses[1]: duplicate address 192.0.2.100");
}

TEST(ConfigFromJson, UntrustedShapesNeverThrow) {
  for (const char* text : {"null", "[]", "1", "\"x\"", R"({"vhids":[null]})", R"({"vhids":[[1]]})",
                           R"({"vhids":[{"vhid":{"a":1}}]})", R"({"vhids":[{"vhid":1.5}]})",
                           R"({"vhids":[{"vhid":1,"addresses":{"a":1}}]})",
                           R"({"vhids":[{"vhid":99999999999999999999}]})"}) {
    auto j = json::parse(text);
    EXPECT_NO_THROW({
      auto r = configFromJson(j);
      EXPECT_FALSE(r.ok()) << text;
    });
  }
}

TEST(ConfigToJson, RoundTripsWithoutThePassword) {
  auto r = configFromJson(minimal());
  ASSERT_TRUE(r.ok());
  json out = configToJson(*r);
  EXPECT_FALSE(out["vhids"][0].contains("password"));
  out["vhids"][0]["password"] = "love";
  auto again = configFromJson(out);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, *r);
}

}  // namespace
}  // namespace carplb::agent::config
