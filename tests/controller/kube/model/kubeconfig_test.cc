#include "controller/kube/model/kubeconfig.h"

#include <gtest/gtest.h>

namespace carplb::controller::kube {
namespace {

nlohmann::json base() {
  return nlohmann::json::parse(R"({
    "apiVersion":"v1","kind":"Config","current-context":"lab",
    "clusters":[{"name":"lab","cluster":{"server":"https://127.0.0.1:6443/","certificate-authority":"ca.crt",
                  "tls-server-name":"kubernetes"}},
                {"name":"other","cluster":{"server":"https://198.51.100.1:6443",
                  "certificate-authority-data":"LS0tLS1CRUdJTg==","insecure-skip-tls-verify":true}}],
    "users":[{"name":"admin","user":{"client-certificate":"certs/admin.crt","client-key":"/abs/admin.key"}},
             {"name":"bot","user":{"tokenFile":"token","token":"static"}},
             {"name":"ex","user":{"exec":{"command":"aws"}}},
             {"name":"half","user":{"client-certificate-data":"YQ=="}},
             {"name":"bad","user":{"client-key-data":"!!!","client-certificate-data":"YQ=="}}],
    "contexts":[{"name":"lab","context":{"cluster":"lab","user":"admin","namespace":"carplb"}},
                {"name":"o","context":{"cluster":"other","user":"bot"}},
                {"name":"e","context":{"cluster":"lab","user":"ex"}},
                {"name":"h","context":{"cluster":"lab","user":"half"}},
                {"name":"b","context":{"cluster":"lab","user":"bad"}},
                {"name":"missing","context":{"cluster":"nope","user":"bot"}}]})");
}

TEST(Kubeconfig, CurrentContextWithRelativePaths) {
  auto c = resolveKubeconfig(base(), "/home/u/.kube");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->caFile, "/home/u/.kube/ca.crt");
  EXPECT_EQ(c->tlsServerName, "kubernetes");
  EXPECT_EQ(c->clientCertFile, "/home/u/.kube/certs/admin.crt");
  EXPECT_EQ(c->clientKeyFile, "/abs/admin.key");
  EXPECT_EQ(c->namespace_, "carplb");
  EXPECT_EQ(c->contextName, "lab");
}

TEST(Kubeconfig, DataFieldsTokenFileAndOverride) {
  auto c = resolveKubeconfig(base(), "/k/", "o");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->caData, "-----BEGIN");
  EXPECT_TRUE(c->insecureSkipTlsVerify);
  EXPECT_EQ(c->token, "static");
  EXPECT_EQ(c->tokenFile, "/k/token");
  EXPECT_EQ(c->namespace_, "default");
}

TEST(Kubeconfig, ClearErrors) {
  EXPECT_EQ(resolveKubeconfig(base(), "/k", "e").error().message,
            "kubeconfig users[ex].user.exec: exec credential plugins are not supported (use token, tokenFile or "
            "client certificates)");
  EXPECT_EQ(resolveKubeconfig(base(), "/k", "h").error().message,
            "kubeconfig users[half].user: client-certificate and client-key must be given together");
  EXPECT_EQ(resolveKubeconfig(base(), "/k", "b").error().message,
            "kubeconfig users[bad].user.client-key-data: base64: invalid character at offset 0");
  EXPECT_EQ(resolveKubeconfig(base(), "/k", "missing").error().message,
            "kubeconfig clusters: no entry named \"nope\"");
  EXPECT_EQ(resolveKubeconfig(base(), "/k", "zzz").error().message, "kubeconfig contexts: no entry named \"zzz\"");
  auto noCtx = base();
  noCtx.erase("current-context");
  EXPECT_EQ(resolveKubeconfig(noCtx, "/k").error().message,
            "kubeconfig current-context: not set (and no context given)");
  EXPECT_FALSE(resolveKubeconfig(nlohmann::json::array(), "/k").ok());
}

TEST(Kubeconfig, InClusterServer) {
  EXPECT_EQ(inClusterServer("10.96.0.1", "443").value(), "https://10.96.0.1:443");
  EXPECT_EQ(inClusterServer("2001:db8::1", "443").value(), "https://[2001:db8::1]:443");
  EXPECT_FALSE(inClusterServer("", "443").ok());
  EXPECT_FALSE(inClusterServer("10.96.0.1", "https").ok());
}

}  // namespace
}  // namespace carplb::controller::kube
