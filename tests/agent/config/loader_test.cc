#include "agent/config/loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace carplb::agent::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "carplb-config-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }

private:
  std::string path_;
};

TEST(Loader, YamlFile) {
  TempDir dir;
  std::string pw = dir.write("pw", "s3cret\n");
  std::string cfg = dir.write("agent.yaml", R"(# two vhids on one link
statusListen: 127.0.0.1:9464
logLevel: warn
vhids:
  - vhid: 7
    interface: eth0
    addresses: [192.0.2.100]
    password: 0123
    advskew: 100
    preempt: yes
    preemptDelay: 500ms
  - vhid: 8
    interface: eth0
    srcip: 192.0.2.1
    addresses:
      - 192.0.2.101
      - 192.0.2.102
    passwordFile: )" + pw + "\n");
  auto r = loadConfigFile(cfg);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->vhids.size(), 2u);
  EXPECT_EQ(r->vhids[0].password, "0123");  // scalars stay strings: no octal/int surprises
  EXPECT_EQ(r->vhids[0].advskew, 100);
  EXPECT_TRUE(r->vhids[0].preempt);
  EXPECT_EQ(r->vhids[0].preemptDelay, Duration(500ms));
  EXPECT_EQ(r->vhids[1].password, "s3cret");
  EXPECT_EQ(r->vhids[1].addresses.size(), 2u);
  EXPECT_EQ(r->logLevel, LogLevel::Warn);
}

TEST(Loader, JsonFile) {
  TempDir dir;
  std::string cfg = dir.write("agent.json",
      R"({"vhids":[{"vhid":3,"interface":"eth0","addresses":["198.51.100.3"],"password":"pw","advbase":2}]})");
  auto r = loadConfigFile(cfg);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->vhids[0].advbase, 2);
}

TEST(Loader, ErrorsNameFileAndField) {
  TempDir dir;
  std::string cfg = dir.write("bad.yaml", "vhids:\n  - vhid: 7\n    interface: eth0\n    addresses: [192.0.2.1]\n"
                                          "    password: x\n    advskew: 300\n");
  auto r = loadConfigFile(cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, cfg + ": vhids[0].advskew: must be between 0 and 254, got 300");

  std::string syntax = dir.write("syntax.yaml", "vhids: [\n  - vhid: 7\n");
  auto s = loadConfigFile(syntax);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(syntax + ": line "), std::string::npos) << s.error().message;

  std::string dup = dir.write("dup.yaml", "logLevel: info\nlogLevel: debug\nvhids: []\n");
  auto d = loadConfigFile(dup);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("duplicate key \"logLevel\""), std::string::npos) << d.error().message;

  auto missing = loadConfigFile(dir.write("x", "") + ".nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("cannot open"), std::string::npos);

  std::string nopw = dir.write("nopw.yaml", "vhids:\n  - vhid: 7\n    interface: eth0\n    addresses: [192.0.2.1]\n"
                                            "    passwordFile: /nonexistent/carplb-pw\n");
  auto n = loadConfigFile(nopw);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message, nopw + ": vhids[0].passwordFile: cannot open /nonexistent/carplb-pw");
}

}  // namespace
}  // namespace carplb::agent::config
