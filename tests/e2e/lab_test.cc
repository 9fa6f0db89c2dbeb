// The lab itself: namespaces and bridge, reachability, link down, partition, processes in
// namespaces, and that nothing is left behind.
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/e2e/e2e_helpers.h"

namespace carplb::e2e::testing {
namespace {

std::vector<std::string> namespacesWithPrefix(const std::string& prefix) {
  std::vector<std::string> out;
  auto list = runCommand({"ip", "netns", "list"});
  EXPECT_TRUE(list.ok()) << list.error().message;
  std::istringstream in(list.ok() ? *list : "");
  std::string line;
  while (std::getline(in, line)) {
    std::string name = line.substr(0, line.find(' '));
    if (name.rfind(prefix, 0) == 0) {
      out.push_back(name);
    }
  }
  return out;
}

// Alive and not a zombie (an orphan may wait a moment for init to reap it).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return false;
  }
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

TEST(Lab, BuildsInsideNamespacesOnlyAndCleansUp) {
  sweepOwnNamespaces();
  auto rootLinksBefore = runCommand({"ip", "-o", "link", "show"});
  ASSERT_TRUE(rootLinksBefore.ok()) << rootLinksBefore.error().message;
  std::string prefix, workDir;
  {
    LabOptions o;
    o.tag = "labt";
    o.nodes = 3;
    auto lab = Lab::create(o);
    ASSERT_TRUE(lab.ok()) << "e2e tests need root and network namespaces: " << lab.error().message;
    prefix = (*lab)->prefix();
    workDir = (*lab)->workDir();
    EXPECT_EQ(namespacesWithPrefix(prefix).size(), 5u);  // switch, 3 nodes, client
    EXPECT_EQ((*lab)->node(2).address, "192.0.2.12");
    auto addrs = (*lab)->addresses((*lab)->node(2));
    ASSERT_TRUE(addrs.ok()) << addrs.error().message;
    EXPECT_EQ(*addrs, std::vector<std::string>{"192.0.2.12"});
    // The bridge must not snoop IGMP (it would drop 224.0.0.18).
    auto br = (*lab)->switchNs().ip({"-d", "-j", "link", "show", "carplb-br0"});
    ASSERT_TRUE(br.ok()) << br.error().message;
    auto j = nlohmann::json::parse(*br);
    EXPECT_EQ(j[0]["linkinfo"]["info_data"]["mcast_snooping"], 0);
    // Nothing of ours in the root namespace.
    auto rootLinks = runCommand({"ip", "-o", "link", "show"});
    ASSERT_TRUE(rootLinks.ok());
    EXPECT_EQ(rootLinks->find("carplb-"), std::string::npos) << *rootLinks;
  }
  EXPECT_TRUE(namespacesWithPrefix(prefix).empty());
  EXPECT_FALSE(std::filesystem::exists(workDir));
  auto rootLinksAfter = runCommand({"ip", "-o", "link", "show"});
  ASSERT_TRUE(rootLinksAfter.ok());
  EXPECT_EQ(rootLinksAfter->find("carplb-"), std::string::npos);
}

TEST(Lab, RejectsBadOptions) {
  LabOptions o;
  o.tag = "Bad Tag";
  auto lab = Lab::create(o);
  ASSERT_FALSE(lab.ok());
  EXPECT_NE(lab.error().message.find("tag"), std::string::npos);
  o.tag = "ok";
  o.nodes = 0;
  lab = Lab::create(o);
  ASSERT_FALSE(lab.ok());
  EXPECT_NE(lab.error().message.find("nodes"), std::string::npos);
}

TEST(Lab, ClientReachesNodesAndSeesLinkDownAndPartition) {
  auto env = makeLabEnv("reach", 2, {nodeAddress(1), nodeAddress(2)});
  ASSERT_TRUE(env);
  auto& lab = *env->lab;
  ASSERT_TRUE(env->waitAnswerer(nodeAddress(1), "node1", 3s)) << describeSince(*env, nodeAddress(1), 0s);
  ASSERT_TRUE(env->waitAnswerer(nodeAddress(2), "node2", 3s)) << describeSince(*env, nodeAddress(2), 0s);

  auto down = env->prober->elapsed();
  ASSERT_TRUE(lab.linkDown(lab.node(1)).ok());
  std::this_thread::sleep_for(300ms);
  env->settle();
  auto s1 = env->since(nodeAddress(1), down + 50ms);
  EXPECT_GT(s1.sent, 10u);
  EXPECT_EQ(s1.answered, 0u) << bench::probe::describe(s1);
  EXPECT_EQ(env->since(nodeAddress(2), down).lost, 0u);  // the other node is unaffected
  ASSERT_TRUE(lab.linkUp(lab.node(1)).ok());
  EXPECT_TRUE(env->waitAnswerer(nodeAddress(1), "node1", 3s));

  auto cut = env->prober->elapsed();
  ASSERT_TRUE(lab.detach(lab.node(2)).ok());
  std::this_thread::sleep_for(300ms);
  env->settle();
  auto s2 = env->since(nodeAddress(2), cut + 50ms);
  EXPECT_GT(s2.sent, 10u);
  EXPECT_EQ(s2.answered, 0u) << bench::probe::describe(s2);
  // Partitioned, not link down: node2 keeps its carrier.
  auto link = lab.node(2).ns.ip({"-j", "link", "show", "carplb-eth0"});
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(nlohmann::json::parse(*link)[0]["operstate"], "UP");
  ASSERT_TRUE(lab.attach(lab.node(2)).ok());
  EXPECT_TRUE(env->waitAnswerer(nodeAddress(2), "node2", 3s));
}

TEST(Lab, ProcessesRunInsideTheNamespaceAndStopByPid) {
  LabOptions o;
  o.tag = "proc";
  o.nodes = 1;
  o.client = false;
  auto lab = Lab::create(o);
  ASSERT_TRUE(lab.ok()) << lab.error().message;
  auto& node = (*lab)->node(1);

  auto ipOut = (*lab)->spawn(node, {"ip", "-o", "-4", "addr", "show"}, "ip.log");
  ASSERT_TRUE(ipOut.ok()) << ipOut.error().message;
  ASSERT_TRUE(waitUntil([&] { return !ipOut->running(); }, 5s));
  EXPECT_NE(ipOut->log().find("192.0.2.11/24"), std::string::npos) << ipOut->log();
  // /sys shows the namespace's links (like `ip netns exec`).
  auto sys = (*lab)->spawn(node, {"ls", "/sys/class/net"}, "sys.log");
  ASSERT_TRUE(sys.ok());
  ASSERT_TRUE(waitUntil([&] { return !sys->running(); }, 5s));
  EXPECT_NE(sys->log().find("carplb-eth0"), std::string::npos) << sys->log();

  auto polite = (*lab)->spawn(node, {"sleep", "100"}, "");
  ASSERT_TRUE(polite.ok());
  EXPECT_TRUE(polite->running());
  EXPECT_TRUE(polite->terminate(3s));
  ASSERT_TRUE(polite->exitStatus().has_value());
  EXPECT_TRUE(WIFSIGNALED(*polite->exitStatus()));
  EXPECT_EQ(WTERMSIG(*polite->exitStatus()), SIGTERM);

  // Ignores SIGTERM, and has a child in its group: both must go.
  auto stubborn = (*lab)->spawn(node, {"sh", "-c", "trap '' TERM; sleep 100 & echo $! ; wait"}, "stubborn.log");
  ASSERT_TRUE(stubborn.ok());
  ASSERT_TRUE(waitUntil([&] { return !stubborn->log().empty(); }, 5s));
  pid_t child = std::stoi(stubborn->log());
  EXPECT_FALSE(stubborn->terminate(300ms));
  EXPECT_FALSE(stubborn->running());
  EXPECT_TRUE(waitUntil([&] { return !alive(child); }, 2s)) << "group member " << child << " survived";

  auto missing = (*lab)->spawn(node, {"/nonexistent/carplb-binary"}, "");
  ASSERT_TRUE(missing.ok());
  ASSERT_TRUE(waitUntil([&] { return !missing->running(); }, 5s));
  EXPECT_EQ(WEXITSTATUS(*missing->exitStatus()), 127);
}

TEST(Lab, HttpGetFailsCleanlyWhenNothingListens) {
  LabOptions o;
  o.tag = "http";
  o.nodes = 1;
  o.client = false;
  auto lab = Lab::create(o);
  ASSERT_TRUE(lab.ok()) << lab.error().message;
  auto r = httpGetJson((*lab)->node(1).ns, 9, "/state", 500ms);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/state"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace carplb::e2e::testing
