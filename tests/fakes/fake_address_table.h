#pragma once
// FakeAddressTable: an in-memory io::AddressTable following its contract (idempotent add,
// remove only ours, list with the ours mark). Tests can inject failures and "admin" edits.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/io/address_table.h"

namespace carplb::testing {

class FakeAddressTable final : public agent::io::AddressTable {
public:
  using Ipv4 = agent::carp::Ipv4Address;

  Status add(const std::string& ifname, Ipv4 vip) override {
    ++adds;
    if (failAdd.count(vip)) return makeError("add " + vip.toString() + " on " + ifname + ": injected failure");
    auto& list = table[ifname];
    for (const auto& a : list) {
      if (a.address == vip) return okStatus();
    }
    list.push_back({vip, 32, true});
    return okStatus();
  }

  Result<agent::io::RemoveOutcome> remove(const std::string& ifname, Ipv4 vip) override {
    ++removes;
    auto& list = table[ifname];
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (it->address != vip) continue;
      if (!it->ours) return agent::io::RemoveOutcome::NotOurs;
      list.erase(it);
      return agent::io::RemoveOutcome::Removed;
    }
    return agent::io::RemoveOutcome::Absent;
  }

  Result<std::vector<agent::io::InterfaceAddress>> list(const std::string& ifname) override {
    auto it = table.find(ifname);
    if (it == table.end()) return std::vector<agent::io::InterfaceAddress>{};
    return it->second;
  }

  // Test helpers.
  bool has(const std::string& ifname, Ipv4 vip) const {
    auto it = table.find(ifname);
    if (it == table.end()) return false;
    for (const auto& a : it->second) {
      if (a.address == vip) return true;
    }
    return false;
  }
  void adminAdd(const std::string& ifname, Ipv4 addr, int prefix, bool ours = false) {
    table[ifname].push_back({addr, prefix, ours});
  }
  void adminRemove(const std::string& ifname, Ipv4 addr) {
    auto& list = table[ifname];
    std::erase_if(list, [&](const auto& a) { return a.address == addr; });
  }

  std::map<std::string, std::vector<agent::io::InterfaceAddress>> table;
  std::set<Ipv4> failAdd;
  int adds = 0;
  int removes = 0;
};

}  // namespace carplb::testing
