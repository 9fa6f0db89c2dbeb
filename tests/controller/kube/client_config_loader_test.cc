#include "controller/kube/client_config_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "controller/kube/token_source.h"
#include "fakes/fake_clock.h"

namespace carplb::controller::kube {
namespace {

using namespace std::chrono_literals;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("carplb-kubecfg-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
};

TEST(ClientConfigLoader, KubeconfigYamlWithRelativePaths) {
  TempDir d;
  std::string file = d.write("kube/config", R"(apiVersion: v1
kind: Config
current-context: lab
clusters:
- name: lab
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: pki/ca.crt
    insecure-skip-tls-verify: false
users:
- name: me
  user:
    tokenFile: token
contexts:
- name: lab
  context: {cluster: lab, user: me, namespace: "007"}
)");
  auto c = loadKubeconfig(file);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->caFile, (d.path / "kube/pki/ca.crt").string());
  EXPECT_EQ(c->tokenFile, (d.path / "kube/token").string());
  EXPECT_FALSE(c->insecureSkipTlsVerify);
  EXPECT_EQ(c->namespace_, "007");  // quoted scalar stays a string
}

TEST(ClientConfigLoader, ExecPluginIsAClearError) {
  TempDir d;
  std::string file = d.write("config", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://198.51.100.1"}}]
users: [{name: u, user: {exec: {command: gke-gcloud-auth-plugin}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  auto c = loadKubeconfig(file);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "kubeconfig users[u].user.exec: exec credential plugins are not supported (use token, "
                               "tokenFile or client certificates) (in " + file + ")");
  EXPECT_FALSE(loadKubeconfig((d.path / "missing").string()).ok());
  std::string bad = d.write("bad", "a: [unclosed");
  EXPECT_NE(loadKubeconfig(bad).error().message.find("invalid YAML"), std::string::npos);
}

TEST(ClientConfigLoader, InCluster) {
  TempDir d;
  d.write("sa/token", "abc\n");
  d.write("sa/ca.crt", "pem");
  d.write("sa/namespace", "carplb-system\n");
  InClusterEnv env{"2001:db8::1", "443", (d.path / "sa").string()};
  auto c = loadInCluster(env);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server, "https://[2001:db8::1]:443");
  EXPECT_EQ(c->namespace_, "carplb-system");
  EXPECT_EQ(c->tokenFile, (d.path / "sa/token").string());
  EXPECT_FALSE(loadInCluster(InClusterEnv{"", "", (d.path / "sa").string()}).ok());
  EXPECT_FALSE(loadInCluster(InClusterEnv{"10.0.0.1", "443", (d.path / "none").string()}).ok());
}

TEST(TokenSource, RereadsEverySixtySecondsAndOnDemand) {
  TempDir d;
  std::string file = d.write("token", "one\n");
  carplb::testing::FakeClock clock;
  TokenSource ts(clock, "", file);
  EXPECT_EQ(ts.token(), "one");
  d.write("token", "two");
  clock.advance(59s);
  EXPECT_EQ(ts.token(), "one");  // cached
  clock.advance(1s);
  EXPECT_EQ(ts.token(), "two");
  d.write("token", "three");
  EXPECT_TRUE(ts.forceRefresh());
  EXPECT_EQ(ts.token(), "three");
  std::filesystem::remove(file);  // mid-rotation: keep the last good token
  EXPECT_FALSE(ts.forceRefresh());
  EXPECT_EQ(ts.token(), "three");
}

}  // namespace
}  // namespace carplb::controller::kube
