#include "controller/core/pools.h"

#include <gtest/gtest.h>

#include "controller/core/reasons.h"

namespace carplb::controller::core {
namespace {

std::vector<Pool> pools() {
  return parsePools({{"public", {"192.0.2.8/30", "192.0.2.20-192.0.2.21"}, true},
                     {"private", {"198.51.100.0/29"}, false}})
      .value();
}

ServiceIntent intent(std::string key, std::vector<ServicePort> ports = {{"TCP", 80}}) {
  ServiceIntent i;
  i.key = std::move(key);
  i.ports = std::move(ports);
  return i;
}

Ipv4 ip(const char* s) { return parseIpv4(s).value(); }

TEST(PoolsTest, ParsesAndValidatesPools) {
  auto p = pools();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].size(), 4u);  // .9 .10 + .20 .21
  EXPECT_TRUE(p[0].contains(ip("192.0.2.21")));
  EXPECT_FALSE(p[0].contains(ip("192.0.2.8")));
  EXPECT_NE(parsePools({{"a", {"192.0.2.0/24"}, true}, {"b", {"192.0.2.10-192.0.2.12"}, true}})
                .error()
                .message.find("pools[1].ranges[0]"),
            std::string::npos);
  EXPECT_NE(parsePools({{"a", {"192.0.2.0/24"}, true}, {"a", {"198.51.100.0/24"}, true}}).error().message.find(
                "duplicate"),
            std::string::npos);
  EXPECT_NE(parsePools({{"a", {"nope"}, true}}).error().message.find("pools[0].ranges[0]"), std::string::npos);
  EXPECT_NE(parsePools({{"Bad Name", {"192.0.2.0/24"}, true}}).error().message.find("pools[0].name"),
            std::string::npos);
  EXPECT_NE(parsePools({{"a", {}, true}}).error().message.find("no ranges"), std::string::npos);
}

TEST(PoolsTest, AllocatesLowestFreeAndKeepsPrevious) {
  AddressBook book(pools());
  auto a = intent("ns/a");
  auto got = book.claim({&a, 1, {}});
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->addresses.at(0).toString(), "192.0.2.9");
  EXPECT_EQ(got->pool, "public");
  auto b = intent("ns/b");
  b.count = 2;
  got = book.claim({&b, 2, {ip("192.0.2.21")}});  // keeps what it had, then lowest free
  ASSERT_TRUE(got);
  ASSERT_EQ(got->addresses.size(), 2u);
  EXPECT_EQ(got->addresses[0].toString(), "192.0.2.10");
  EXPECT_EQ(got->addresses[1].toString(), "192.0.2.21");
  // Claiming again is idempotent.
  got = book.claim({&b, 2, {ip("192.0.2.10"), ip("192.0.2.21")}});
  EXPECT_EQ(got->addresses.size(), 2u);
  // Non-auto pools are used only when named.
  auto c = intent("ns/c");
  c.pool = "private";
  got = book.claim({&c, 1, {}});
  EXPECT_EQ(got->addresses.at(0).toString(), "198.51.100.1");
}

TEST(PoolsTest, ReleasedAddressesAreReusedLowestFirst) {
  AddressBook book(pools());
  auto a = intent("ns/a"), b = intent("ns/b"), c = intent("ns/c"), d = intent("ns/d");
  EXPECT_EQ(book.claim({&a, 1, {}})->addresses.at(0).toString(), "192.0.2.9");
  EXPECT_EQ(book.claim({&b, 1, {}})->addresses.at(0).toString(), "192.0.2.10");
  EXPECT_EQ(book.claim({&c, 1, {}})->addresses.at(0).toString(), "192.0.2.20");
  book.release("ns/a");
  EXPECT_EQ(book.claim({&d, 1, {}})->addresses.at(0).toString(), "192.0.2.9");
  auto e = intent("ns/e");
  EXPECT_EQ(book.claim({&e, 1, {}})->addresses.at(0).toString(), "192.0.2.21");
  auto f = intent("ns/f");
  EXPECT_FALSE(book.claim({&f, 1, {}}));  // full
  book.release("ns/c");
  EXPECT_EQ(book.claim({&f, 1, {}})->addresses.at(0).toString(), "192.0.2.20");
}

TEST(PoolsTest, ExhaustionAndUnknownPoolAreRefusedWithoutSideEffects) {
  AddressBook book(pools());
  auto a = intent("ns/a");
  auto got = book.claim({&a, 5, {}});
  EXPECT_FALSE(got);
  EXPECT_EQ(book.lastFailure()->reason, reasons::PoolExhausted);
  EXPECT_NE(got.error().message.find("ns/a"), std::string::npos);
  EXPECT_EQ(book.holders(ip("192.0.2.9")), nullptr);  // nothing claimed
  a.allNodes = true;  // all-nodes takes what there is
  got = book.claim({&a, 5, {}});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->addresses.size(), 4u);
  auto b = intent("ns/b");
  b.pool = "nope";
  EXPECT_FALSE(book.claim({&b, 1, {}}));
  EXPECT_EQ(book.lastFailure()->reason, reasons::NoPool);
  book.release("ns/a");
  book.release("ns/a");  // idempotent
  EXPECT_EQ(book.holders(ip("192.0.2.9")), nullptr);
}

TEST(PoolsTest, RequestedAddressesMustBeInAPool) {
  AddressBook book(pools());
  auto a = intent("ns/a");
  a.source = AddressSource::Annotation;
  a.requested = {ip("203.0.113.5")};
  EXPECT_FALSE(book.claim({&a, 1, {}}));
  EXPECT_EQ(book.lastFailure()->reason, reasons::AddressNotInPool);
  a.requested = {ip("198.51.100.3")};
  a.pool = "public";
  EXPECT_FALSE(book.claim({&a, 1, {}}));
  EXPECT_EQ(book.lastFailure()->reason, reasons::AddressNotInPool);
  a.pool.reset();
  auto got = book.claim({&a, 1, {}});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->pool, "private");  // explicit requests may use non-auto pools
}

TEST(PoolsTest, SharingNeedsTheSameKeyAndNoPortClash) {
  AddressBook book(pools());
  auto a = intent("ns/a", {{"TCP", 80}});
  a.source = AddressSource::Annotation;
  a.requested = {ip("192.0.2.10")};
  a.sharingKey = "k";
  ASSERT_TRUE(book.claim({&a, 1, {}}));

  auto b = intent("ns/b", {{"TCP", 443}});
  b.source = AddressSource::Annotation;
  b.requested = {ip("192.0.2.10")};
  EXPECT_FALSE(book.claim({&b, 1, {}}));  // no key
  EXPECT_EQ(book.lastFailure()->reason, reasons::AddressConflict);
  EXPECT_NE(book.lastFailure()->message.find("ns/a"), std::string::npos);
  b.sharingKey = "other";
  EXPECT_FALSE(book.claim({&b, 1, {}}));  // another key
  b.sharingKey = "k";
  ASSERT_TRUE(book.claim({&b, 1, {}}));  // same key, ports differ
  EXPECT_EQ(book.holders(ip("192.0.2.10"))->size(), 2u);

  auto c = intent("ns/c", {{"TCP", 80}});
  c.source = AddressSource::Annotation;
  c.requested = {ip("192.0.2.10")};
  c.sharingKey = "k";
  EXPECT_FALSE(book.claim({&c, 1, {}}));  // same key, port 80 clashes with ns/a
  EXPECT_NE(book.lastFailure()->message.find("clash"), std::string::npos);
  c.ports = {{"UDP", 80}};
  EXPECT_TRUE(book.claim({&c, 1, {}}));  // UDP/80 does not clash with TCP/80

  // A pool Service with the same key joins the shared address instead of a new one.
  auto d = intent("ns/d", {{"TCP", 8080}});
  d.sharingKey = "k";
  auto got = book.claim({&d, 1, {}});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->addresses.at(0).toString(), "192.0.2.10");
}

TEST(PoolsTest, PortsClash) {
  EXPECT_TRUE(portsClash({{"TCP", 80}}, {{"TCP", 80}, {"TCP", 81}}));
  EXPECT_FALSE(portsClash({{"TCP", 80}}, {{"UDP", 80}}));
  EXPECT_FALSE(portsClash({}, {{"UDP", 80}}));
}

}  // namespace
}  // namespace carplb::controller::core
