#include "agent/config/flags.h"

#include <gtest/gtest.h>

namespace carplb::agent::config {
namespace {

using namespace std::chrono_literals;

Result<CommandLine> parse(std::vector<std::string> args) { return parseCommandLine(args); }

TEST(Flags, HelpAndVersion) {
  auto h = parse({"--help"});
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->help);
  auto v = parse({"-V"});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->version);
  EXPECT_NE(usageText().find("--preempt-delay"), std::string::npos);
}

TEST(Flags, ConfigFile) {
  auto r = parse({"--config", "/etc/carplb/agent.yaml", "--status-listen=off", "--log-level", "debug"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r->configPath, "/etc/carplb/agent.yaml");
  EXPECT_FALSE(r->single.has_value());
  AgentConfig cfg;
  applyOverrides(*r, cfg);
  EXPECT_EQ(cfg.statusListen, "off");
  EXPECT_EQ(cfg.logLevel, LogLevel::Debug);
}

TEST(Flags, UcarpLikeSingleVip) {
  auto r = parse({"--interface", "eth0", "--srcip", "192.0.2.1", "--vhid", "42", "--pass", "love", "--addr",
                  "192.0.2.100", "-a", "192.0.2.101", "--advbase", "2", "--advskew=50", "--preempt",
                  "--preempt-delay", "3s", "--garp-refresh", "1m", "--status-listen", "127.0.0.1:0"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->single.has_value());
  ASSERT_EQ(r->single->vhids.size(), 1u);
  const auto& v = r->single->vhids[0];
  EXPECT_EQ(v.interface, "eth0");
  EXPECT_EQ(v.srcip->str(), "192.0.2.1");
  EXPECT_EQ(v.vhid, 42);
  EXPECT_EQ(v.password, "love");
  ASSERT_EQ(v.addresses.size(), 2u);
  EXPECT_EQ(v.addresses[1].str(), "192.0.2.101");
  EXPECT_EQ(v.advbase, 2);
  EXPECT_EQ(v.advskew, 50);
  EXPECT_TRUE(v.preempt);
  EXPECT_EQ(v.preemptDelay, Duration(3s));
  EXPECT_EQ(v.garpRefresh, Duration(60s));
  EXPECT_EQ(r->single->statusListen, "127.0.0.1:0");
}

TEST(Flags, ShortForms) {
  auto r = parse({"-i", "eth1", "-v", "1", "-p", "x", "-a", "198.51.100.5", "-b", "1", "-k", "10", "-P"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->single->vhids[0].interface, "eth1");
  EXPECT_TRUE(r->single->vhids[0].preempt);
  EXPECT_EQ(r->single->vhids[0].advskew, 10);
}

TEST(Flags, Errors) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  std::vector<Case> cases = {
      {{}, "no configuration: use --config FILE or --interface/--vhid/--pass/--addr (see --help)"},
      {{"--bogus"}, "--bogus: unknown option (see --help)"},
      {{"stray"}, "stray: unexpected argument (see --help)"},
      {{"--config"}, "--config: requires a value"},
      {{"--preempt=yes"}, "--preempt: takes no value"},
      {{"--config", "a.yaml", "--vhid", "3"},
       "--config: cannot be combined with the single-VIP flags (--interface, --vhid, --addr, ...)"},
      {{"-i", "eth0", "-v", "300", "-p", "x", "-a", "192.0.2.1"}, "--vhid: must be between 1 and 255, got 300"},
      {{"-i", "eth0", "-v", "3", "-p", "x", "-a", "192.0.2.1", "-k", "255"},
       "--advskew: must be between 0 and 254, got 255"},
      {{"-i", "eth0", "-p", "x", "-a", "192.0.2.1"}, "--vhid: required"},
      {{"-v", "3", "-p", "x", "-a", "192.0.2.1"}, "--interface: required"},
      {{"-i", "eth0", "-v", "3", "-a", "192.0.2.1"}, "--pass: required (or passwordFile)"},
      {{"-i", "eth0", "-v", "3", "-p", "x"}, "--addr: at least one address is required"},
      {{"-i", "eth0", "-v", "3", "-p", "x", "-a", "nope"}, "--addr: not an IPv4 address: \"nope\""},
      {{"-i", "eth0", "-v", "3", "-p", "01234567890123456789", "-a", "192.0.2.1"},
       "--pass: at most 19 bytes, got 20"},
      {{"-i", "eth0", "-v", "3", "-p", "x", "-a", "192.0.2.1", "--preempt-delay", "later"},
       "--preempt-delay: not a duration: \"later\" (use e.g. \"500ms\", \"2s\", \"1m\")"},
      {{"--config", "a.yaml", "--status-listen", "nowhere"},
       "--status-listen: must be \"host:port\" or \"off\", got \"nowhere\""},
      {{"--config", "a.yaml", "--log-level", "chatty"},
       "--log-level: must be one of debug, info, warn, error, got \"chatty\""},
  };
  for (const auto& c : cases) {
    auto r = parseCommandLine(c.args);
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_EQ(r.error().message, c.want);
  }
}

TEST(Flags, ClusterModeAsTheChartPassesThem) {
  auto r = parse({"--controller=carplb-controller.carplb-system.svc:9443", "--node-name=node-1",
                  "--tls-ca-file=/etc/carplb/tls/ca.crt", "--tls-cert-file=/etc/carplb/tls/tls.crt",
                  "--tls-key-file=/etc/carplb/tls/tls.key", "--token-file=/etc/carplb/tls/token",
                  "--interface=auto", "--snapshot-file=/var/lib/carplb/snapshot",
                  "--status-listen=0.0.0.0:9464", "--log-level=debug"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->cluster.has_value());
  EXPECT_FALSE(r->single.has_value());
  EXPECT_FALSE(r->configPath.has_value());
  const ClusterFlags& c = *r->cluster;
  EXPECT_EQ(c.controller, "carplb-controller.carplb-system.svc:9443");
  EXPECT_EQ(c.nodeName, "node-1");
  EXPECT_EQ(c.tlsCaFile, "/etc/carplb/tls/ca.crt");
  EXPECT_EQ(c.tlsCertFile, "/etc/carplb/tls/tls.crt");
  EXPECT_EQ(c.tlsKeyFile, "/etc/carplb/tls/tls.key");
  EXPECT_EQ(c.tokenFile, "/etc/carplb/tls/token");
  EXPECT_EQ(c.snapshotFile, "/var/lib/carplb/snapshot");
  EXPECT_EQ(c.interface, "auto");
  EXPECT_EQ(c.tlsServerName, "");
  EXPECT_EQ(*r->statusListen, "0.0.0.0:9464");
  EXPECT_EQ(*r->logLevel, LogLevel::Debug);
}

TEST(Flags, ClusterModeDefaultsAndOverrides) {
  auto r = parse({"--controller", "[2001:db8::1]:9443", "--node-name", "n", "--tls-ca-file", "ca.pem",
                  "--token-file", "token", "-i", "eth1", "--tls-server-name", "localhost"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cluster->interface, "eth1");
  EXPECT_EQ(r->cluster->tlsServerName, "localhost");
  EXPECT_EQ(r->cluster->snapshotFile, "");
  auto d = parse({"--controller", "ctl:1", "--node-name", "n", "--tls-ca-file", "ca", "--tls-cert-file", "c",
                  "--tls-key-file", "k"});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->cluster->interface, "auto");  // default
  EXPECT_EQ(d->cluster->tokenFile, "");       // a client certificate alone is enough
  auto u = parse({"--controller", "unix:/run/carplb.sock", "--node-name", "n", "--tls-ca-file", "ca",
                  "--token-file", "t"});
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_NE(usageText().find("--controller HOST:PORT"), std::string::npos);
  EXPECT_NE(usageText().find("--tls-server-name"), std::string::npos);
  EXPECT_NE(usageText().find("--snapshot-file"), std::string::npos);
}

TEST(Flags, ClusterModeErrors) {
  const std::vector<std::string> base = {"--node-name", "n", "--tls-ca-file", "ca", "--token-file", "t"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  std::vector<Case> cases = {
      {with({"--controller", "ctl:9443", "--config", "a.yaml"}),
       "--controller: cannot be combined with --config (one source of vhids)"},
      {{"--config", "a.yaml", "--controller", "ctl:9443"},
       "--controller: cannot be combined with --config (one source of vhids)"},
      {with({"--controller", "ctl:9443", "--vhid", "3"}),
       "--vhid: cannot be combined with --controller (cluster mode takes its vhids from the controller)"},
      {with({"--controller", "ctl:9443", "-a", "192.0.2.1"}),
       "--addr: cannot be combined with --controller (cluster mode takes its vhids from the controller)"},
      {{"--node-name", "n", "--config", "a.yaml"}, "--node-name: only valid with --controller"},
      {{"--token-file", "t", "-i", "eth0", "-v", "1", "-p", "x", "-a", "192.0.2.1"},
       "--token-file: only valid with --controller"},
      {with({"--controller", "ctl"}), "--controller: must be \"host:port\", got \"ctl\""},
      {with({"--controller", "ctl:99999"}), "--controller: port must be 1..65535, got \"99999\""},
      {with({"--controller", "ctl:"}), "--controller: port must be 1..65535, got \"\""},
      {with({"--controller", "2001:db8::1:9443"}),
       "--controller: IPv6 addresses need brackets (\"[2001:db8::1]:9443\"), got \"2001:db8::1:9443\""},
      {with({"--controller="}), "--controller: must not be empty"},
      {{"--controller", "ctl:1", "--tls-ca-file", "ca", "--token-file", "t"}, "--node-name: required with --controller"},
      {{"--controller", "ctl:1", "--node-name", "n", "--token-file", "t"},
       "--tls-ca-file: required with --controller (TLS is mandatory)"},
      {{"--controller", "ctl:1", "--node-name", "n", "--tls-ca-file", "ca"},
       "--token-file: required with --controller unless --tls-cert-file/--tls-key-file give a client certificate"},
      {with({"--controller", "ctl:1", "--tls-cert-file", "c"}), "--tls-key-file: required with --tls-cert-file"},
      {with({"--controller", "ctl:1", "--tls-key-file", "k"}), "--tls-cert-file: required with --tls-key-file"},
      {with({"--controller", "ctl:1", "--interface", "a-very-long-interface"}),
       "--interface: at most 15 characters, got \"a-very-long-interface\""},
      {with({"--controller", "ctl:1", "--status-listen", "nowhere"}),
       "--status-listen: must be \"host:port\" or \"off\", got \"nowhere\""},
  };
  for (const auto& c : cases) {
    auto r = parseCommandLine(c.args);
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_EQ(r.error().message, c.want);
  }
}

// ---------------------------------------------------------------- cluster binary lookup

TEST(ClusterBinaryCandidates, NextToTheRunningBinaryThenTheInstallDir) {
  EXPECT_EQ(clusterBinaryCandidates(nullptr, "/opt/carplb/bin/carplb-agent", "/usr/local/bin"),
            (std::vector<std::string>{"/opt/carplb/bin/carplb-agent-cluster", "/usr/local/bin/carplb-agent-cluster"}));
}

TEST(ClusterBinaryCandidates, EnvironmentOverrideIsTheOnlyCandidate) {
  EXPECT_EQ(clusterBinaryCandidates("/srv/x/cluster-agent", "/opt/carplb/bin/carplb-agent", "/usr/local/bin"),
            (std::vector<std::string>{"/srv/x/cluster-agent"}));
}

TEST(ClusterBinaryCandidates, EmptyOverrideIsIgnoredAndDuplicatesDropped) {
  EXPECT_EQ(clusterBinaryCandidates("", "/usr/local/bin/carplb-agent", "/usr/local/bin/"),
            (std::vector<std::string>{"/usr/local/bin/carplb-agent-cluster"}));
}

TEST(ClusterBinaryCandidates, UnknownSelfPathFallsBackToTheInstallDir) {
  EXPECT_EQ(clusterBinaryCandidates(nullptr, "", "/usr/bin"),
            (std::vector<std::string>{"/usr/bin/carplb-agent-cluster"}));
  EXPECT_TRUE(clusterBinaryCandidates(nullptr, "", "").empty());
}

}  // namespace
}  // namespace carplb::agent::config
