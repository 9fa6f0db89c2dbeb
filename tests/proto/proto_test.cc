// Redaction of secrets in printed protocol messages and validation of snapshots.
#include <gtest/gtest.h>

#include "proto/redact.h"

namespace carplb::proto {
namespace {

v1::Snapshot sampleSnapshot() {
  v1::Snapshot s;
  s.set_controller_epoch("e1");
  s.set_generation(3);
  s.set_node_name("node-a");
  auto* v = s.add_vhosts();
  v->set_vhid(7);
  v->set_interface("eth0");
  v->add_vips("192.0.2.100");
  v->set_advbase(1);
  v->set_advskew(100);
  v->set_auth_key("wB74ewj8OSGQExDwZpN");
  auto* w = s.add_vhosts();
  w->set_vhid(8);
  w->set_interface("eth0");
  w->add_vips("2001:db8::8");
  w->set_advbase(2);
  w->set_auth_key("SecondKey-123456789");
  return s;
}

TEST(Redact, DebugStringOfSnapshotHidesEveryKey) {
  const v1::Snapshot s = sampleSnapshot();
  ASSERT_NE(s.ShortDebugString().find("wB74ewj8OSGQExDwZpN"), std::string::npos);  // the unsafe printer shows it
  const std::string text = redactedDebugString(s);
  EXPECT_EQ(text.find("wB74ewj8OSGQExDwZpN"), std::string::npos) << text;
  EXPECT_EQ(text.find("SecondKey"), std::string::npos) << text;
  EXPECT_NE(text.find("<redacted>"), std::string::npos) << text;
  EXPECT_NE(text.find("192.0.2.100"), std::string::npos) << text;  // the rest stays visible
  EXPECT_NE(text.find("advskew: 100"), std::string::npos) << text;
  // The original is not modified.
  EXPECT_EQ(s.vhosts(0).auth_key(), "wB74ewj8OSGQExDwZpN");
}

TEST(Redact, NestedInControllerMessage) {
  v1::ControllerMessage m;
  *m.mutable_snapshot() = sampleSnapshot();
  const std::string text = redactedDebugString(m);
  EXPECT_EQ(text.find("wB74ewj8OSGQExDwZpN"), std::string::npos) << text;
  EXPECT_NE(text.find("vhid: 8"), std::string::npos) << text;
}

TEST(Redact, EmptyKeyStaysEmpty) {
  v1::Vhost v;
  v.set_vhid(1);
  auto copy = redactedCopy(v);
  EXPECT_EQ(static_cast<v1::Vhost&>(*copy).auth_key(), "");
}

TEST(Redact, OnlyAuthKeyIsMarkedSensitive) {
  const auto* d = v1::Vhost::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    EXPECT_EQ(d->field(i)->options().GetExtension(v1::sensitive), d->field(i)->name() == "auth_key")
        << d->field(i)->name();
  }
}

TEST(ValidateSnapshot, AcceptsSample) { EXPECT_TRUE(validateSnapshot(sampleSnapshot()).ok()); }

TEST(ValidateSnapshot, AcceptsSubSecondTimers) {
  auto s = sampleSnapshot();
  s.mutable_vhosts(0)->set_advbase(0);  // advskew 100: T = 100/256 s (the "fast" profile)
  EXPECT_TRUE(validateSnapshot(s).ok());
}

TEST(ValidateSnapshot, ErrorsNameTheField) {
  struct Case {
    const char* name;
    std::function<void(v1::Snapshot&)> mutate;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"no epoch", [](v1::Snapshot& s) { s.clear_controller_epoch(); }, "snapshot.controller_epoch"},
      {"generation 0", [](v1::Snapshot& s) { s.set_generation(0); }, "snapshot.generation"},
      {"vhid 0", [](v1::Snapshot& s) { s.mutable_vhosts(1)->set_vhid(0); }, "snapshot.vhosts[1].vhid: must be between 1 and 255, got 0"},
      {"vhid 256", [](v1::Snapshot& s) { s.mutable_vhosts(0)->set_vhid(256); }, "snapshot.vhosts[0].vhid"},
      {"duplicate", [](v1::Snapshot& s) { s.mutable_vhosts(1)->set_vhid(7); }, "snapshot.vhosts[1].vhid: duplicate vhid 7"},
      {"no interface", [](v1::Snapshot& s) { s.mutable_vhosts(0)->clear_interface(); }, "snapshot.vhosts[0].interface"},
      {"long interface", [](v1::Snapshot& s) { s.mutable_vhosts(0)->set_interface("0123456789abcdef"); }, "snapshot.vhosts[0].interface"},
      {"bad srcip", [](v1::Snapshot& s) { s.mutable_vhosts(0)->set_srcip("198.51.100"); }, "snapshot.vhosts[0].srcip"},
      {"no vips", [](v1::Snapshot& s) { s.mutable_vhosts(0)->clear_vips(); }, "snapshot.vhosts[0].vips"},
      {"bad vip", [](v1::Snapshot& s) { s.mutable_vhosts(0)->add_vips("192.0.2.300"); }, "snapshot.vhosts[0].vips[1]"},
      {"advbase 0 advskew 0",
       [](v1::Snapshot& s) {
         s.mutable_vhosts(0)->set_advbase(0);
         s.mutable_vhosts(0)->set_advskew(0);
       },
       "snapshot.vhosts[0].advskew: must be at least 1 when advbase is 0"},
      {"advbase 256", [](v1::Snapshot& s) { s.mutable_vhosts(0)->set_advbase(256); }, "snapshot.vhosts[0].advbase: must be between 0 and 255"},
      {"advskew 255", [](v1::Snapshot& s) { s.mutable_vhosts(0)->set_advskew(255); }, "snapshot.vhosts[0].advskew: must be between 0 and 254, got 255"},
      {"no key", [](v1::Snapshot& s) { s.mutable_vhosts(0)->clear_auth_key(); }, "snapshot.vhosts[0].auth_key"},
      {"long key", [](v1::Snapshot& s) { s.mutable_vhosts(0)->set_auth_key("01234567890123456789"); }, "snapshot.vhosts[0].auth_key: must be 1..19 bytes, got 20"},
      {"key with space", [](v1::Snapshot& s) { s.mutable_vhosts(0)->set_auth_key("has space"); }, "snapshot.vhosts[0].auth_key: must be printable"},
  };
  for (const auto& c : cases) {
    v1::Snapshot s = sampleSnapshot();
    c.mutate(s);
    auto st = validateSnapshot(s);
    ASSERT_FALSE(st.ok()) << c.name;
    EXPECT_NE(st.error().message.find(c.expected), std::string::npos) << c.name << ": " << st.error().message;
    EXPECT_EQ(st.error().message.find("wB74ewj8OSGQExDwZpN"), std::string::npos) << c.name;
  }
}

}  // namespace
}  // namespace carplb::proto
