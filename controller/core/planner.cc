#include "controller/core/planner.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <unordered_set>

namespace carplb::controller::core {
namespace {

using NodeId = uint32_t;
using KeyId = uint32_t;
constexpr NodeId NoNode = std::numeric_limits<NodeId>::max();
// How many sources / targets a balance step tries before giving up (constraints such as
// failback "never", Local policy or spread can make a pair of nodes unable to trade).
constexpr int BalanceTries = 8;

struct Compat {
  Failback failback;
  int allowedId = 0;  // 0 = every eligible node
  bool operator==(const Compat&) const = default;
};

}  // namespace

std::string_view toString(Unplaced u) {
  switch (u) {
    case Unplaced::NoEligibleNodes:
      return "NoEligibleNodes";
    case Unplaced::VhidsExhausted:
      return "VhidsExhausted";
  }
  return "Unknown";
}

Result<PlannerConfig> plannerConfigFrom(const ControllerConfig& config) {
  PlannerConfig pc;
  if (config.vhidMin < 1 || config.vhidMin > 255) {
    return makeError("vhidMin: must be 1..255, got " + std::to_string(config.vhidMin));
  }
  if (config.vhidMax < config.vhidMin || config.vhidMax > 255) {
    return makeError("vhidMax: must be vhidMin.." + std::to_string(255) + ", got " + std::to_string(config.vhidMax));
  }
  for (size_t i = 0; i < config.excludedVhids.size(); ++i) {
    int v = config.excludedVhids[i];
    if (v < 1 || v > 255) {
      return makeError("excludedVhids[" + std::to_string(i) + "]: must be 1..255, got " + std::to_string(v));
    }
    pc.excludedVhids.insert(v);
  }
  if (config.maxBackups < 0 || config.maxBackups > 16) {
    return makeError("maxBackups: must be 0..16, got " + std::to_string(config.maxBackups));
  }
  if (config.advskewSpacing < 1 || config.maxBackups * config.advskewSpacing > MaxPlannedAdvskew) {
    return makeError("advskewSpacing: must be >= 1 with maxBackups * advskewSpacing <= " +
                     std::to_string(MaxPlannedAdvskew) + ", got " + std::to_string(config.advskewSpacing) + " x " +
                     std::to_string(config.maxBackups));
  }
  pc.vhidMin = config.vhidMin;
  pc.vhidMax = config.vhidMax;
  pc.maxBackups = config.maxBackups;
  pc.advskewSpacing = config.advskewSpacing;
  return pc;
}

struct Planner::Impl {
  struct Node {
    std::string name;
    bool alive = false;
    uint32_t vips = 0;       // VIPs mastered
    std::set<int> mastered;  // vhids mastered
    std::set<int> backupOf;  // vhids where the node is a backup
    uint32_t firstBackupOf = 0;  // vhids where the node is the first backup
    std::string cursor;      // first backup given to this master's last new group
  };
  struct Group {
    int vhid = 0;
    std::vector<NodeId> order;  // master first; empty = orphan (no node can hold it)
    std::set<Ipv4> vips;
    Compat compat;
  };
  struct Vip {
    VipSpec spec;
    KeyId key = 0;  // interned spec.spreadKey
    int vhid = 0;  // 0 = pending
    Unplaced reason = Unplaced::NoEligibleNodes;
    Compat compat;
  };
  struct AllowedSet {
    std::vector<NodeId> byName;
    std::unordered_set<NodeId> members;
  };
  using Index = std::set<std::pair<uint32_t, NodeId>>;

  PlannerConfig cfg;
  std::vector<Node> nodes;                          // NodeId -> node (dead ones kept for reuse)
  std::unordered_map<std::string, NodeId> nodeIds;  // name -> NodeId
  std::map<std::string, NodeId> ring;               // alive nodes by name (backup rotation)
  Index byGroups;                                   // alive nodes by groups mastered
  Index masters;                                    // alive nodes mastering >= 1 group, by VIPs mastered
  std::map<int, Group> groups;                      // vhid -> group
  std::set<int> freeVhids;
  std::map<std::vector<std::string>, int> allowedIds;  // sorted names -> id (1-based)
  std::vector<AllowedSet> allowedSets;                 // id - 1 -> set
  std::map<Ipv4, Vip> vips;
  struct KeyRec {  // one spread key (Service)
    std::string name;
    uint32_t refs = 0;                               // VIPs with this key
    std::unordered_map<NodeId, uint32_t> masters;    // node -> VIPs of this key it masters
    bool dirty = false;                              // queued in dirtyKeys
  };
  std::vector<KeyRec> keys;                          // KeyId -> key
  std::unordered_map<std::string, KeyId> keyIds;     // name -> KeyId
  std::vector<KeyId> freeKeys;
  std::unordered_set<uint32_t> changed;              // Ipv4 values
  std::set<Ipv4> pending;          // VIPs without a group
  std::vector<KeyId> dirtyKeys;    // spread keys to check in the next rebalance
  std::set<int> shortGroups;       // vhids whose order has fewer than 1 + maxBackups nodes
  bool batch = false;

  explicit Impl(PlannerConfig c) : cfg(std::move(c)) { resetFreeVhids(); }

  void resetFreeVhids() {
    freeVhids.clear();
    for (int v = cfg.vhidMin; v <= cfg.vhidMax; ++v) {
      if (!cfg.excludedVhids.count(v) && !groups.count(v)) {
        freeVhids.insert(v);
      }
    }
  }

  bool vhidUsable(int v) const { return v >= cfg.vhidMin && v <= cfg.vhidMax && !cfg.excludedVhids.count(v); }

  NodeId intern(const std::string& name) {
    auto [it, inserted] = nodeIds.emplace(name, static_cast<NodeId>(nodes.size()));
    if (inserted) {
      nodes.push_back(Node{name, false, 0, {}, {}, 0, {}});
    }
    return it->second;
  }

  // ---- indexes -------------------------------------------------------------------------
  template <typename F>
  void updateNode(NodeId id, F&& f) {
    Node& n = nodes[id];
    const uint32_t groupsBefore = static_cast<uint32_t>(n.mastered.size());
    if (n.alive) {
      byGroups.erase({groupsBefore, id});
      masters.erase({n.vips, id});
    }
    f(n);
    if (n.alive) {
      byGroups.insert({static_cast<uint32_t>(n.mastered.size()), id});
      if (!n.mastered.empty()) {
        masters.insert({n.vips, id});
      }
    }
  }

  bool allowed(const Compat& c, NodeId id) const {
    return c.allowedId == 0 || allowedSets[c.allowedId - 1].members.count(id) != 0;
  }

  KeyId acquireKey(const std::string& name) {
    auto [it, inserted] = keyIds.emplace(name, 0);
    if (inserted) {
      if (!freeKeys.empty()) {
        it->second = freeKeys.back();
        freeKeys.pop_back();
      } else {
        it->second = static_cast<KeyId>(keys.size());
        keys.emplace_back();
      }
      keys[it->second].name = name;
    }
    ++keys[it->second].refs;
    return it->second;
  }

  void releaseKey(KeyId k) {
    KeyRec& r = keys[k];
    if (--r.refs == 0) {
      keyIds.erase(r.name);
      r = KeyRec{};
      freeKeys.push_back(k);
    }
  }

  void markDirty(KeyId k) {
    if (!keys[k].dirty) {
      keys[k].dirty = true;
      dirtyKeys.push_back(k);
    }
  }

  uint32_t spreadOf(KeyId key, NodeId id) const {
    const auto& m = keys[key].masters;
    auto it = m.find(id);
    return it == m.end() ? 0 : it->second;
  }

  // Sum over a group's VIPs of how many VIPs of the same key `id` already masters.
  uint32_t spreadCost(const Group& g, NodeId id) const {
    uint32_t cost = 0;
    for (Ipv4 a : g.vips) {
      cost += spreadOf(vips.at(a).key, id);
    }
    return cost;
  }

  // Moving g from src to dst never lowers the number of distinct masters of a key: for each
  // VIP, dst masters fewer VIPs of its key than src does.
  bool spreadAllowsMove(const Group& g, NodeId src, NodeId dst) const {
    for (Ipv4 a : g.vips) {
      const KeyId key = vips.at(a).key;
      if (spreadOf(key, dst) + 1 > spreadOf(key, src)) {
        return false;
      }
    }
    return true;
  }

  void addSpread(KeyId key, NodeId id, int delta) {
    auto& m = keys[key].masters;
    uint32_t& c = m[id];
    c = static_cast<uint32_t>(static_cast<int>(c) + delta);
    if (c == 0) {
      m.erase(id);
    }
  }

  // ---- group orders --------------------------------------------------------------------
  void detach(Group& g) {
    shortGroups.erase(g.vhid);
    for (size_t i = 0; i < g.order.size(); ++i) {
      NodeId id = g.order[i];
      if (i == 0) {
        updateNode(id, [&](Node& n) {
          n.mastered.erase(g.vhid);
          n.vips -= static_cast<uint32_t>(g.vips.size());
        });
        for (Ipv4 a : g.vips) {
          addSpread(vips.at(a).key, id, -1);
        }
      } else {
        nodes[id].backupOf.erase(g.vhid);
        nodes[id].firstBackupOf -= i == 1 ? 1 : 0;
      }
    }
  }

  void attach(Group& g) {
    if (g.order.size() < 1 + static_cast<size_t>(cfg.maxBackups)) {
      shortGroups.insert(g.vhid);
    } else {
      shortGroups.erase(g.vhid);
    }
    for (size_t i = 0; i < g.order.size(); ++i) {
      NodeId id = g.order[i];
      if (i == 0) {
        updateNode(id, [&](Node& n) {
          n.mastered.insert(g.vhid);
          n.vips += static_cast<uint32_t>(g.vips.size());
        });
        for (Ipv4 a : g.vips) {
          addSpread(vips.at(a).key, id, +1);
        }
      } else {
        nodes[id].backupOf.insert(g.vhid);
        nodes[id].firstBackupOf += i == 1 ? 1 : 0;
      }
    }
  }

  void setOrder(Group& g, std::vector<NodeId> order) {
    if (order == g.order) {
      return;
    }
    detach(g);
    g.order = std::move(order);
    attach(g);
    for (Ipv4 a : g.vips) {
      changed.insert(a.value);
      markDirty(vips.at(a).key);
    }
  }

  // Calls f(NodeId) on alive, allowed nodes in name order, cyclically, starting after `after`;
  // stops when f returns false.
  template <typename F>
  void forCandidatesAfter(const Compat& c, const std::string& after, F&& f) const {
    if (c.allowedId == 0) {
      if (ring.empty()) {
        return;
      }
      auto it = ring.upper_bound(after);
      for (size_t i = 0; i < ring.size(); ++i, ++it) {
        if (it == ring.end()) {
          it = ring.begin();
        }
        if (!f(it->second)) {
          return;
        }
      }
      return;
    }
    const auto& v = allowedSets[c.allowedId - 1].byName;
    auto start = std::upper_bound(v.begin(), v.end(), after,
                                  [&](const std::string& name, NodeId id) { return name < nodes[id].name; });
    size_t pos = static_cast<size_t>(start - v.begin());
    for (size_t i = 0; i < v.size(); ++i) {
      NodeId id = v[(pos + i) % v.size()];
      if (nodes[id].alive && !f(id)) {
        return;
      }
    }
  }

  // Fills g's order up to 1 + maxBackups. A fresh order (only the master) starts after the
  // master's rotation cursor, so one master's groups get different first backups.
  std::vector<NodeId> withBackups(const Group& g, std::vector<NodeId> order, bool fresh) {
    const size_t want = 1 + static_cast<size_t>(cfg.maxBackups);
    if (order.empty() || order.size() >= want) {
      order.resize(std::min(order.size(), want));
      return order;
    }
    Node& master = nodes[order.front()];
    std::string after = fresh ? (master.cursor.empty() ? master.name : master.cursor) : nodes[order.back()].name;
    if (fresh && !byGroups.empty() && byGroups.begin()->first == 0) {
      // Some nodes master nothing (more nodes than vhids or VIPs): the first backup is one of
      // them, so a failure lands on an idle node and needs no re-balancing afterwards.
      forCandidatesAfter(g.compat, after, [&](NodeId id) {
        if (id != order.front() && nodes[id].mastered.empty()) {
          order.push_back(id);
          after = nodes[id].name;
          return false;
        }
        return true;
      });
    }
    forCandidatesAfter(g.compat, after, [&](NodeId id) {
      if (std::find(order.begin(), order.end(), id) == order.end()) {
        order.push_back(id);
      }
      return order.size() < want;
    });
    if (fresh && order.size() > 1) {
      master.cursor = nodes[order[1]].name;
    }
    return order;
  }

  // Best new master for g: fewest VIPs of g's keys, then fewest groups, then fewest first-backup
  // roles (so a node that would take over another group on failure is not loaded now), then
  // fewest VIPs.
  NodeId pickMaster(const Group& g) const {
    NodeId best = NoNode;
    std::tuple<uint32_t, uint32_t, uint32_t, uint32_t> bestScore{};
    auto consider = [&](NodeId id) {
      const Node& n = nodes[id];
      std::tuple<uint32_t, uint32_t, uint32_t, uint32_t> score{
          spreadCost(g, id), static_cast<uint32_t>(n.mastered.size()), n.firstBackupOf, n.vips};
      if (best == NoNode || score < bestScore) {
        best = id;
        bestScore = score;
      }
    };
    if (g.compat.allowedId != 0) {
      for (NodeId id : allowedSets[g.compat.allowedId - 1].byName) {
        if (nodes[id].alive) {
          consider(id);
        }
      }
      return best;
    }
    // Unrestricted: walk nodes by groups mastered; only nodes already mastering these keys can
    // have a spread cost, so past the lowest tier with a cost-free node nobody can do better.
    for (const auto& [load, id] : byGroups) {
      if (best != NoNode && load > std::get<1>(bestScore) && std::get<0>(bestScore) == 0) {
        break;
      }
      if (best != NoNode && std::get<0>(bestScore) == 0 && std::get<2>(bestScore) == 0 && load >= std::get<1>(bestScore)) {
        break;  // cannot beat a cost-free node without first-backup roles in the lowest tier
      }
      consider(id);
    }
    return best;
  }

  void placeGroup(Group& g, std::vector<NodeId> order) {
    if (order.empty()) {
      NodeId m = pickMaster(g);
      if (m != NoNode) {
        order.push_back(m);
        order = withBackups(g, std::move(order), true);
      }
    } else {
      order = withBackups(g, std::move(order), false);
    }
    setOrder(g, std::move(order));
  }

  // ---- VIPs ----------------------------------------------------------------------------
  Compat compatFor(const VipSpec& spec) {
    Compat c{spec.failback, 0};
    if (spec.allowedNodes) {
      std::vector<std::string> names = *spec.allowedNodes;
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      auto [it, inserted] = allowedIds.emplace(names, static_cast<int>(allowedSets.size()) + 1);
      if (inserted) {
        AllowedSet s;
        for (const auto& n : names) {
          NodeId id = intern(n);
          s.byName.push_back(id);
          s.members.insert(id);
        }
        allowedSets.push_back(std::move(s));
      }
      c.allowedId = it->second;
    }
    return c;
  }

  void joinGroup(Group& g, Ipv4 a) {
    Vip& v = vips.at(a);
    v.vhid = g.vhid;
    g.vips.insert(a);
    if (!g.order.empty()) {
      updateNode(g.order.front(), [&](Node& n) { n.vips += 1; });
      addSpread(v.key, g.order.front(), +1);
    }
    changed.insert(a.value);
    markDirty(v.key);
  }

  void leaveGroup(Ipv4 a) {
    Vip& v = vips.at(a);
    auto it = groups.find(v.vhid);
    v.vhid = 0;
    if (it == groups.end()) {
      return;
    }
    Group& g = it->second;
    if (!g.order.empty()) {
      updateNode(g.order.front(), [&](Node& n) { n.vips -= 1; });
      addSpread(v.key, g.order.front(), -1);
    }
    g.vips.erase(a);
    changed.insert(a.value);
    if (g.vips.empty()) {
      detach(g);
      freeVhids.insert(g.vhid);
      groups.erase(it);
    }
  }

  Group& newGroup(int vhid, const Compat& c) {
    freeVhids.erase(vhid);
    Group& g = groups[vhid];
    g.vhid = vhid;
    g.compat = c;
    return g;
  }

  std::vector<NodeId> mapOrder(const std::vector<std::string>& names, const Compat& c) {
    std::vector<NodeId> order;
    for (const auto& n : names) {
      auto it = nodeIds.find(n);
      if (it != nodeIds.end() && nodes[it->second].alive && allowed(c, it->second) &&
          std::find(order.begin(), order.end(), it->second) == order.end()) {
        order.push_back(it->second);
      }
    }
    return order;
  }

  // Best existing group for a VIP once vhids ran out: compatible, its master masters no VIP
  // of the same key if possible, fewest VIPs mastered, smallest group.
  Group* groupToJoin(const Vip& v) {
    Group* best = nullptr;
    std::tuple<uint32_t, uint32_t, size_t, int> bestScore{};
    auto consider = [&](Group& g) {
      if (!(g.compat == v.compat)) {
        return;
      }
      const uint32_t cost = g.order.empty() ? 1000000 : spreadOf(v.key, g.order.front());
      const uint32_t load = g.order.empty() ? 1000000 : nodes[g.order.front()].vips;
      std::tuple<uint32_t, uint32_t, size_t, int> score{cost, load, g.vips.size(), g.vhid};
      if (best == nullptr || score < bestScore) {
        best = &g;
        bestScore = score;
      }
    };
    for (const auto& [load, id] : masters) {
      if (best != nullptr && std::get<0>(bestScore) == 0 && load >= std::get<1>(bestScore)) {
        break;  // masters are sorted by load: nobody later can do better
      }
      for (int vhid : nodes[id].mastered) {
        consider(groups.at(vhid));
      }
    }
    if (best == nullptr) {
      for (auto& [vhid, g] : groups) {
        if (g.order.empty()) {
          consider(g);
        }
      }
    }
    return best;
  }

  void place(Ipv4 a) {
    Vip& v = vips.at(a);
    const VipSpec& s = v.spec;
    if (s.previousVhid && vhidUsable(*s.previousVhid)) {
      auto it = groups.find(*s.previousVhid);
      if (it != groups.end() && it->second.compat == v.compat) {
        joinGroup(it->second, a);
        pending.erase(a);
        return;
      }
      if (it == groups.end()) {
        Group& g = newGroup(*s.previousVhid, v.compat);
        joinGroup(g, a);
        placeGroup(g, mapOrder(s.previousOrder, v.compat));
        pending.erase(a);
        return;
      }
    }
    if (!freeVhids.empty()) {
      Group& g = newGroup(*freeVhids.begin(), v.compat);
      joinGroup(g, a);
      placeGroup(g, {});
      pending.erase(a);
      return;
    }
    if (Group* g = groupToJoin(v)) {
      joinGroup(*g, a);
      pending.erase(a);
      return;
    }
    v.reason = Unplaced::VhidsExhausted;
    pending.insert(a);
    changed.insert(a.value);
  }

  // ---- balance -------------------------------------------------------------------------
  bool pinned(const Group& g) const { return g.compat.failback.mode == FailbackMode::Never; }

  // A group of `src` that can move to `dst` without hurting spread; prefers groups that
  // already list dst as a backup (a promotion), then small groups, then low vhids.
  Group* movableGroup(NodeId src, NodeId dst) {
    Group* best = nullptr;
    std::tuple<int, size_t, int> bestScore{};
    for (int vhid : nodes[src].mastered) {
      Group& g = groups.at(vhid);
      if (pinned(g) || !allowed(g.compat, dst) || !spreadAllowsMove(g, src, dst)) {
        continue;
      }
      const bool listed = std::find(g.order.begin(), g.order.end(), dst) != g.order.end();
      std::tuple<int, size_t, int> score{listed ? 0 : 1, g.vips.size(), vhid};
      if (best == nullptr || score < bestScore) {
        best = &g;
        bestScore = score;
      }
    }
    return best;
  }

  void moveGroup(Group& g, NodeId dst) {
    std::vector<NodeId> order{dst};
    for (NodeId id : g.order) {
      if (id != dst) {
        order.push_back(id);
      }
    }
    placeGroup(g, std::move(order));
  }

  // Moves one group from a node with the most groups to one with the fewest.
  bool balanceGroupsOnce() {
    if (byGroups.size() < 2) {
      return false;
    }
    const uint32_t lo = byGroups.begin()->first;
    int srcTries = 0;
    for (auto s = byGroups.rbegin(); s != byGroups.rend() && srcTries < BalanceTries; ++s, ++srcTries) {
      if (s->first < lo + 2) {
        return false;
      }
      int dstTries = 0;
      for (auto d = byGroups.begin(); d != byGroups.end() && dstTries < BalanceTries; ++d, ++dstTries) {
        if (d->first + 2 > s->first) {
          break;
        }
        if (Group* g = movableGroup(s->second, d->second)) {
          moveGroup(*g, d->second);
          return true;
        }
      }
    }
    return false;
  }

  // With grouping: moves one VIP from a group of the most loaded master to a compatible
  // group of the least loaded one.
  bool balanceVipsOnce() {
    if (masters.size() < 2) {
      return false;
    }
    const uint32_t lo = masters.begin()->first;
    int srcTries = 0;
    for (auto s = masters.rbegin(); s != masters.rend() && srcTries < BalanceTries; ++s, ++srcTries) {
      if (s->first < lo + 2) {
        return false;
      }
      int dstTries = 0;
      for (auto d = masters.begin(); d != masters.end() && dstTries < BalanceTries; ++d, ++dstTries) {
        if (d->first + 2 > s->first) {
          break;
        }
        if (moveOneVip(s->second, d->second)) {
          return true;
        }
      }
    }
    return false;
  }

  bool moveOneVip(NodeId src, NodeId dst) {
    for (int vhid : nodes[src].mastered) {
      Group& from = groups.at(vhid);
      if (pinned(from) || from.vips.size() < 2) {  // never dissolve a group to balance
        continue;
      }
      Group* to = nullptr;
      for (int dv : nodes[dst].mastered) {
        Group& cand = groups.at(dv);
        if (cand.compat == from.compat && (to == nullptr || cand.vips.size() < to->vips.size())) {
          to = &cand;
        }
      }
      if (to == nullptr) {
        continue;
      }
      for (Ipv4 a : from.vips) {
        const KeyId key = vips.at(a).key;
        if (spreadOf(key, dst) < spreadOf(key, src)) {
          Group& target = *to;
          leaveGroup(a);  // may erase `from`; do not touch it afterwards
          joinGroup(target, a);
          return true;
        }
      }
    }
    return false;
  }

  // Spread: a key whose VIPs share a master while an allowed node masters none of them.
  void fixSpread() {
    std::vector<KeyId> todo;
    todo.swap(dirtyKeys);
    for (KeyId k : todo) {
      keys[k].dirty = false;
    }
    for (KeyId k : todo) {
      for (int guard = 0; keys[k].refs > 0 && guard < 64; ++guard) {
        if (!fixSpreadOnce(k)) {
          break;
        }
      }
    }
  }

  void clearDirty() {
    for (KeyId k : dirtyKeys) {
      keys[k].dirty = false;
    }
    dirtyKeys.clear();
  }

  bool fixSpreadOnce(KeyId key) {
    for (const auto& [node, count] : keys[key].masters) {
      if (count < 2) {
        continue;
      }
      for (int vhid : nodes[node].mastered) {
        Group& g = groups.at(vhid);
        if (g.vips.size() != 1 || pinned(g) || vips.at(*g.vips.begin()).key != key) {
          continue;
        }
        NodeId m = pickMaster(g);  // counts this group's own master as cost 1
        if (m != NoNode && m != node && spreadCost(g, m) == 0) {
          moveGroup(g, m);  // invalidates the iterators above: return at once
          return true;
        }
      }
    }
    return false;
  }

  void placePending() {
    std::vector<Ipv4> todo(pending.begin(), pending.end());
    for (Ipv4 a : todo) {
      place(a);
    }
    for (auto& [vhid, g] : groups) {
      if (g.order.empty()) {
        placeGroup(g, {});
      }
    }
  }

  void rebalance() {
    if (batch) {
      return;
    }
    placePending();
    fixSpread();
    const size_t cap = 4 * (groups.size() + nodes.size()) + 16;
    for (size_t i = 0; i < cap && balanceGroupsOnce(); ++i) {
    }
    for (size_t i = 0; i < cap && freeVhids.empty() && balanceVipsOnce(); ++i) {
    }
    clearDirty();
  }

  // ---- nodes ---------------------------------------------------------------------------
  void addNode(const std::string& name) {
    NodeId id = intern(name);
    if (nodes[id].alive) {
      return;
    }
    nodes[id].alive = true;
    ring.emplace(name, id);
    byGroups.insert({static_cast<uint32_t>(nodes[id].mastered.size()), id});
    // Groups short of backups take the new node as their last backup.
    std::vector<int> shortOnes(shortGroups.begin(), shortGroups.end());
    for (int vhid : shortOnes) {
      Group& g = groups.at(vhid);
      if (!g.order.empty() && allowed(g.compat, id)) {
        std::vector<NodeId> order = g.order;
        order.push_back(id);
        setOrder(g, std::move(order));
      }
    }
    rebalance();
  }

  // New order for a group that lost `gone`: the first remaining node that masters none of the
  // group's keys (CARP's own choice when it is the first backup), else the best other node.
  std::vector<NodeId> orderWithout(const Group& g, NodeId gone, std::unordered_map<NodeId, uint32_t>& taken) {
    std::vector<NodeId> order;
    for (NodeId id : g.order) {
      if (id != gone) {
        order.push_back(id);
      }
    }
    if (g.order.empty() || g.order.front() != gone) {
      return order;
    }
    if (!order.empty() && spreadCost(g, order.front()) == 0) {
      return order;  // the first backup: exactly what CARP does on its own
    }
    // The first backup masters a VIP of the same Service: take the least loaded other backup
    // that does not (a spread-conflicted takeover should not pile onto one node).
    size_t best = order.size();
    for (size_t i = 1; i < order.size(); ++i) {
      if (spreadCost(g, order[i]) != 0) {
        continue;
      }
      if (best == order.size() || std::pair(taken[order[i]], nodes[order[i]].vips) <
                                      std::pair(taken[order[best]], nodes[order[best]].vips)) {
        best = i;
      }
    }
    NodeId m = pickMaster(g);  // the best node overall, backup or not
    const bool mOk = m != NoNode && m != gone && spreadCost(g, m) == 0;
    if (best < order.size() &&
        (!mOk || std::pair(taken[order[best]], nodes[order[best]].vips) <= std::pair(taken[m], nodes[m].vips))) {
      std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(best),
                  order.begin() + static_cast<std::ptrdiff_t>(best) + 1);
      return order;
    }
    if (mOk) {
      std::erase(order, m);
      order.insert(order.begin(), m);
    }
    return order;
  }

  void removeNode(const std::string& name) {
    auto it = nodeIds.find(name);
    if (it == nodeIds.end() || !nodes[it->second].alive) {
      return;
    }
    NodeId id = it->second;
    // Still attached while its groups are re-ordered; out of every candidate list already.
    ring.erase(name);
    byGroups.erase({static_cast<uint32_t>(nodes[id].mastered.size()), id});
    masters.erase({nodes[id].vips, id});
    nodes[id].alive = false;
    // Groups whose first backup can simply take over go first (what CARP does anyway); groups
    // that need another choice then see those takeovers in the loads.
    std::vector<int> affected(nodes[id].mastered.begin(), nodes[id].mastered.end());
    std::stable_partition(affected.begin(), affected.end(), [&](int vhid) {
      const Group& g = groups.at(vhid);
      return g.order.size() > 1 && spreadCost(g, g.order[1]) == 0;
    });
    affected.insert(affected.end(), nodes[id].backupOf.begin(), nodes[id].backupOf.end());
    std::unordered_map<NodeId, uint32_t> taken;  // takeovers each survivor got so far
    for (int vhid : affected) {
      Group& g = groups.at(vhid);
      const bool wasMaster = !g.order.empty() && g.order.front() == id;
      placeGroup(g, orderWithout(g, id, taken));
      if (wasMaster && !g.order.empty()) {
        ++taken[g.order.front()];
      }
    }
    rebalance();
  }

  // ---- outputs -------------------------------------------------------------------------
  std::vector<NodeSlot> slots(const Group& g) const {
    std::vector<NodeSlot> out;
    for (size_t i = 0; i < g.order.size(); ++i) {
      out.push_back(NodeSlot{nodes[g.order[i]].name, static_cast<int>(i) * cfg.advskewSpacing});
    }
    return out;
  }
};

Planner::Planner(PlannerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Planner::~Planner() = default;
Planner::Planner(Planner&&) noexcept = default;
Planner& Planner::operator=(Planner&&) noexcept = default;

void Planner::addNode(const std::string& name) { impl_->addNode(name); }
void Planner::removeNode(const std::string& name) { impl_->removeNode(name); }

void Planner::upsertVip(const VipSpec& spec) {
  Impl& d = *impl_;
  auto it = d.vips.find(spec.address);
  VipSpec effective = spec;
  if (it != d.vips.end()) {
    const VipSpec& old = it->second.spec;
    if (old.spreadKey == spec.spreadKey && old.failback == spec.failback && old.allowedNodes == spec.allowedNodes) {
      it->second.spec.previousVhid = spec.previousVhid;  // placement hints only: nothing to do
      it->second.spec.previousOrder = spec.previousOrder;
      return;
    }
    // Changed: re-place, preferring where it is now.
    if (auto p = placement(spec.address)) {
      effective.previousVhid = p->vhid;
      effective.previousOrder.clear();
      for (const auto& s : p->nodes) {
        effective.previousOrder.push_back(s.node);
      }
    }
    d.leaveGroup(spec.address);
    d.pending.erase(spec.address);
    d.releaseKey(it->second.key);
    d.vips.erase(it);
  }
  Impl::Vip v;
  v.spec = std::move(effective);
  v.compat = d.compatFor(v.spec);
  v.key = d.acquireKey(v.spec.spreadKey);
  d.vips.emplace(spec.address, std::move(v));
  d.place(spec.address);
  d.rebalance();
}

void Planner::removeVip(Ipv4 address) {
  Impl& d = *impl_;
  auto it = d.vips.find(address);
  if (it == d.vips.end()) {
    return;
  }
  d.leaveGroup(address);
  d.pending.erase(address);
  d.releaseKey(it->second.key);
  d.vips.erase(it);
  d.changed.insert(address.value);
  d.rebalance();
}

void Planner::setExcludedVhids(const std::set<int>& vhids) {
  Impl& d = *impl_;
  d.cfg.excludedVhids = vhids;
  d.resetFreeVhids();
  std::vector<int> moving;
  for (const auto& [vhid, g] : d.groups) {
    if (!d.vhidUsable(vhid)) {
      moving.push_back(vhid);
    }
  }
  for (int vhid : moving) {
    auto node = d.groups.extract(vhid);
    Impl::Group& g = node.mapped();
    if (!d.freeVhids.empty()) {  // same VIPs and nodes, another vhid
      int to = *d.freeVhids.begin();
      d.freeVhids.erase(to);
      d.detach(g);
      g.vhid = to;
      for (Ipv4 a : g.vips) {
        d.vips.at(a).vhid = to;
        d.changed.insert(a.value);
      }
      auto& placed = d.groups[to] = std::move(g);
      d.attach(placed);
      continue;
    }
    d.detach(g);  // no vhid left: its VIPs join other groups
    for (Ipv4 a : g.vips) {
      d.vips.at(a).vhid = 0;
      d.place(a);
    }
  }
  d.rebalance();
}

void Planner::beginBatch() { impl_->batch = true; }
void Planner::endBatch() {
  impl_->batch = false;
  impl_->rebalance();
}

std::optional<VipPlacement> Planner::placement(Ipv4 address) const {
  const Impl& d = *impl_;
  auto it = d.vips.find(address);
  if (it == d.vips.end() || it->second.vhid == 0) {
    return std::nullopt;
  }
  const Impl::Group& g = d.groups.at(it->second.vhid);
  if (g.order.empty()) {
    return std::nullopt;
  }
  return VipPlacement{address, g.vhid, d.slots(g), g.compat.failback, g.vips.size()};
}

std::optional<Unplaced> Planner::unplacedReason(Ipv4 address) const {
  const Impl& d = *impl_;
  auto it = d.vips.find(address);
  if (it == d.vips.end()) {
    return std::nullopt;
  }
  if (it->second.vhid == 0) {
    return it->second.reason;
  }
  if (d.groups.at(it->second.vhid).order.empty()) {
    return Unplaced::NoEligibleNodes;
  }
  return std::nullopt;
}

std::optional<int> Planner::vhidOf(Ipv4 address) const {
  auto it = impl_->vips.find(address);
  if (it == impl_->vips.end() || it->second.vhid == 0) {
    return std::nullopt;
  }
  return it->second.vhid;
}

std::vector<VhidPlan> Planner::vhids() const {
  std::vector<VhidPlan> out;
  for (const auto& [vhid, g] : impl_->groups) {
    out.push_back(VhidPlan{vhid, impl_->slots(g), {g.vips.begin(), g.vips.end()}, g.compat.failback});
  }
  return out;
}

std::vector<std::string> Planner::nodes() const {
  std::vector<std::string> out;
  for (const auto& [name, id] : impl_->ring) {
    out.push_back(name);
  }
  return out;
}

size_t Planner::vipCount() const { return impl_->vips.size(); }
size_t Planner::groupCount() const { return impl_->groups.size(); }

size_t Planner::mastersOf(const std::string& node) const {
  auto it = impl_->nodeIds.find(node);
  return it == impl_->nodeIds.end() ? 0 : impl_->nodes[it->second].vips;
}

size_t Planner::groupsMasteredBy(const std::string& node) const {
  auto it = impl_->nodeIds.find(node);
  return it == impl_->nodeIds.end() ? 0 : impl_->nodes[it->second].mastered.size();
}

std::vector<Ipv4> Planner::takeChanged() {
  std::vector<Ipv4> out;
  out.reserve(impl_->changed.size());
  for (uint32_t v : impl_->changed) {
    out.push_back(Ipv4{v});
  }
  std::sort(out.begin(), out.end());
  impl_->changed.clear();
  return out;
}

PlanResult computePlan(const PlannerConfig& config, std::vector<std::string> nodes, std::vector<VipSpec> vips) {
  Planner planner(config);
  planner.beginBatch();
  std::sort(nodes.begin(), nodes.end());
  for (const auto& n : nodes) {
    planner.addNode(n);
  }
  // VIPs with a previous placement first, so new ones cannot take their vhids.
  std::sort(vips.begin(), vips.end(), [](const VipSpec& a, const VipSpec& b) {
    return std::pair(!a.previousVhid.has_value(), a.address) < std::pair(!b.previousVhid.has_value(), b.address);
  });
  for (const auto& v : vips) {
    planner.upsertVip(v);
  }
  planner.endBatch();
  PlanResult out;
  for (const auto& v : vips) {
    if (auto p = planner.placement(v.address)) {
      out.placements.emplace(v.address, std::move(*p));
    } else if (auto r = planner.unplacedReason(v.address)) {
      out.unplaced.emplace(v.address, *r);
      if (auto vhid = planner.vhidOf(v.address)) {
        out.unplacedVhids.emplace(v.address, *vhid);
      }
    }
  }
  out.vhids = planner.vhids();
  return out;
}

}  // namespace carplb::controller::core
