#include "controller/core/annotations.h"

#include <gtest/gtest.h>

#include "controller/core/reasons.h"

namespace carplb::controller::core {
namespace {

ServiceInput svc(std::map<std::string, std::string> annotations = {}) {
  ServiceInput s;
  s.namespace_ = "default";
  s.name = "web";
  s.type = "LoadBalancer";
  s.loadBalancerClass = "carplb.io/carp";
  s.annotations = std::move(annotations);
  s.ports = {{"TCP", 80}};
  return s;
}

TEST(AnnotationsTest, DefaultsToOneAddressFromAPool) {
  auto r = parseServiceIntent(svc());
  ASSERT_TRUE(r.ok()) << r.summary();
  EXPECT_EQ(r.intent.key, "default/web");
  EXPECT_EQ(r.intent.source, AddressSource::Pool);
  EXPECT_EQ(r.intent.count, 1u);
  EXPECT_FALSE(r.intent.allNodes);
  EXPECT_EQ(r.intent.failback.mode, FailbackMode::Immediate);
  EXPECT_FALSE(r.intent.localTraffic);
}

TEST(AnnotationsTest, ReadsEveryAnnotation) {
  auto s = svc({{"carplb.io/loadBalancerIPs", "192.0.2.10, 192.0.2.11"},
                {"carplb.io/address-pool", "public"},
                {"carplb.io/allow-shared-ip", "team-a"},
                {"carplb.io/failback", "delay=1m30s"},
                {"carplb.io/address-count", "2"}});
  s.externalTrafficPolicy = "Local";
  auto r = parseServiceIntent(s);
  ASSERT_TRUE(r.ok()) << r.summary();
  EXPECT_EQ(r.intent.source, AddressSource::Annotation);
  ASSERT_EQ(r.intent.requested.size(), 2u);
  EXPECT_EQ(r.intent.requested[1].toString(), "192.0.2.11");
  EXPECT_EQ(r.intent.pool, "public");
  EXPECT_EQ(r.intent.sharingKey, "team-a");
  EXPECT_EQ(r.intent.failback.mode, FailbackMode::Delay);
  EXPECT_EQ(r.intent.failback.delay, std::chrono::seconds(90));
  EXPECT_TRUE(r.intent.failback.preempt());
  EXPECT_TRUE(r.intent.localTraffic);
}

TEST(AnnotationsTest, FallsBackToSpecLoadBalancerIP) {
  auto s = svc();
  s.loadBalancerIP = "198.51.100.7";
  auto r = parseServiceIntent(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.intent.source, AddressSource::LoadBalancerIP);
  EXPECT_EQ(r.intent.requested.at(0).toString(), "198.51.100.7");
  // The annotation wins over the spec field.
  s.annotations["carplb.io/loadBalancerIPs"] = "198.51.100.8";
  r = parseServiceIntent(s);
  EXPECT_EQ(r.intent.requested.at(0).toString(), "198.51.100.8");
}

TEST(AnnotationsTest, FailbackValues) {
  EXPECT_EQ(parseFailback("never")->mode, FailbackMode::Never);
  EXPECT_FALSE(parseFailback("never")->preempt());
  EXPECT_EQ(parseFailback("immediate")->mode, FailbackMode::Immediate);
  EXPECT_EQ(parseFailback("delay=500ms")->delay, std::chrono::milliseconds(500));
  EXPECT_EQ(parseFailback("delay=2m")->delay, std::chrono::minutes(2));
  EXPECT_FALSE(parseFailback("delay=0s"));
  EXPECT_FALSE(parseFailback("delay=2h"));  // above the 1h cap
  EXPECT_FALSE(parseFailback("delay="));
  EXPECT_FALSE(parseFailback("delay=5"));
  EXPECT_FALSE(parseFailback("sometimes"));
  EXPECT_EQ(toString(*parseFailback("delay=30s")), "delay=30000ms");
}

struct BadCase {
  std::string name;
  std::map<std::string, std::string> annotations;
  std::string loadBalancerIP;
  std::string expectField;
  std::string_view expectReason;
};

TEST(AnnotationsTest, EveryMalformedAnnotationIsAFieldError) {
  const std::vector<BadCase> cases = {
      {"not an IP", {{"carplb.io/loadBalancerIPs", "192.0.2.300"}}, "", "carplb.io/loadBalancerIPs",
       reasons::InvalidAnnotation},
      {"word", {{"carplb.io/loadBalancerIPs", "web"}}, "", "carplb.io/loadBalancerIPs", reasons::InvalidAnnotation},
      {"IPv6", {{"carplb.io/loadBalancerIPs", "2001:db8::10"}}, "", "carplb.io/loadBalancerIPs",
       reasons::UnsupportedFamily},
      {"duplicate", {{"carplb.io/loadBalancerIPs", "192.0.2.1,192.0.2.1"}}, "", "carplb.io/loadBalancerIPs",
       reasons::InvalidAnnotation},
      {"empty entry", {{"carplb.io/loadBalancerIPs", "192.0.2.1,,192.0.2.2"}}, "", "carplb.io/loadBalancerIPs",
       reasons::InvalidAnnotation},
      {"empty list", {{"carplb.io/loadBalancerIPs", ""}}, "", "carplb.io/loadBalancerIPs", reasons::InvalidAnnotation},
      {"failback", {{"carplb.io/failback", "later"}}, "", "carplb.io/failback", reasons::InvalidAnnotation},
      {"failback delay", {{"carplb.io/failback", "delay=soon"}}, "", "carplb.io/failback", reasons::InvalidAnnotation},
      {"count zero", {{"carplb.io/address-count", "0"}}, "", "carplb.io/address-count", reasons::InvalidAnnotation},
      {"count huge", {{"carplb.io/address-count", "99999999999"}}, "", "carplb.io/address-count",
       reasons::InvalidAnnotation},
      {"count word", {{"carplb.io/address-count", "many"}}, "", "carplb.io/address-count", reasons::InvalidAnnotation},
      {"count vs list", {{"carplb.io/loadBalancerIPs", "192.0.2.1"}, {"carplb.io/address-count", "3"}}, "",
       "carplb.io/address-count", reasons::InvalidAnnotation},
      {"pool name", {{"carplb.io/address-pool", "Public Pool"}}, "", "carplb.io/address-pool",
       reasons::InvalidAnnotation},
      {"sharing key", {{"carplb.io/allow-shared-ip", "a b"}}, "", "carplb.io/allow-shared-ip",
       reasons::InvalidAnnotation},
      {"typo", {{"carplb.io/failover", "never"}}, "", "carplb.io/failover", reasons::InvalidAnnotation},
      {"spec IP", {}, "not-an-ip", "spec.loadBalancerIP", reasons::InvalidAnnotation},
      {"spec IPv6", {}, "2001:db8::1", "spec.loadBalancerIP", reasons::UnsupportedFamily},
  };
  for (const auto& c : cases) {
    auto s = svc(c.annotations);
    s.loadBalancerIP = c.loadBalancerIP;
    auto r = parseServiceIntent(s);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_NE(r.errors.front().field.find(c.expectField), std::string::npos) << c.name << ": " << r.summary();
    EXPECT_NE(r.errors.front().message.find(c.expectField), std::string::npos) << c.name;
    EXPECT_EQ(r.errors.front().reason, c.expectReason) << c.name;
  }
}

TEST(AnnotationsTest, ReportsAllErrorsAtOnceAndIgnoresOtherPrefixes) {
  auto r = parseServiceIntent(svc({{"carplb.io/failback", "x"},
                                   {"carplb.io/address-count", "x"},
                                   {"metallb.io/loadBalancerIPs", "garbage"},
                                   {"example.com/carplb.io/x", "y"}}));
  EXPECT_EQ(r.errors.size(), 2u) << r.summary();
}

TEST(AnnotationsTest, Ipv6OnlyFamilyIsUnsupported) {
  auto s = svc();
  s.ipFamilies = {"IPv6"};
  auto r = parseServiceIntent(s);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "spec.ipFamilies");
  EXPECT_EQ(r.errors[0].reason, reasons::UnsupportedFamily);
  s.ipFamilies = {"IPv6", "IPv4"};  // dual-stack: we serve the IPv4 side
  EXPECT_TRUE(parseServiceIntent(s).ok());
}

TEST(AnnotationsTest, AllNodesCount) {
  auto r = parseServiceIntent(svc({{"carplb.io/address-count", "all-nodes"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.intent.allNodes);
}

TEST(AnnotationsTest, SurvivesHostileValues) {
  std::string junk(100000, '\xff');
  auto r = parseServiceIntent(svc({{"carplb.io/loadBalancerIPs", junk + "," + junk},
                                   {"carplb.io/failback", "delay=" + std::string(1000, '9') + "h"},
                                   {"carplb.io/address-count", std::string("\0\0", 2)}}));
  EXPECT_FALSE(r.ok());
  EXPECT_LT(r.summary().size(), 4000u);  // values are truncated in messages
  std::string many;
  for (int i = 0; i < 70; ++i) {
    many += "192.0.2." + std::to_string(i + 1) + ",";
  }
  many.pop_back();
  EXPECT_FALSE(parseServiceIntent(svc({{"carplb.io/loadBalancerIPs", many}})).ok());
}

}  // namespace
}  // namespace carplb::controller::core
