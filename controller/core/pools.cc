#include "controller/core/pools.h"

#include <algorithm>
#include <set>

#include "controller/core/reasons.h"

namespace carplb::controller::core {

bool Pool::contains(Ipv4 a) const {
  return std::any_of(ranges.begin(), ranges.end(), [&](const Ipv4Range& r) { return r.contains(a); });
}

uint64_t Pool::size() const {
  uint64_t n = 0;
  for (const auto& r : ranges) {
    n += r.size();
  }
  return n;
}

Result<std::vector<Pool>> parsePools(const std::vector<PoolConfig>& config) {
  std::vector<Pool> pools;
  std::set<std::string> names;
  std::vector<std::pair<Ipv4Range, std::string>> all;  // range -> "pools[i].ranges[j]"
  for (size_t i = 0; i < config.size(); ++i) {
    const auto& pc = config[i];
    const std::string at = "pools[" + std::to_string(i) + "]";
    if (pc.name.empty() || pc.name.size() > 253 ||
        !std::all_of(pc.name.begin(), pc.name.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
        })) {
      return makeError(at + ".name: must be lowercase letters, digits, '-' or '.', got \"" + pc.name + "\"");
    }
    if (!names.insert(pc.name).second) {
      return makeError(at + ".name: duplicate pool name \"" + pc.name + "\"");
    }
    if (pc.ranges.empty()) {
      return makeError(at + ".ranges: pool \"" + pc.name + "\" has no ranges");
    }
    Pool pool{pc.name, {}, pc.autoAssign};
    for (size_t j = 0; j < pc.ranges.size(); ++j) {
      const std::string where = at + ".ranges[" + std::to_string(j) + "]";
      auto r = parseIpv4Range(pc.ranges[j]);
      if (!r) {
        return makeError(where + ": " + r.error().message);
      }
      for (const auto& [other, otherWhere] : all) {
        if (r->first <= other.last && other.first <= r->last) {
          return makeError(where + ": " + pc.ranges[j] + " overlaps " + otherWhere);
        }
      }
      all.emplace_back(*r, where);
      pool.ranges.push_back(*r);
    }
    std::sort(pool.ranges.begin(), pool.ranges.end());
    pools.push_back(std::move(pool));
  }
  return pools;
}

bool portsClash(const std::vector<ServicePort>& a, const std::vector<ServicePort>& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x.port == y.port && x.protocol == y.protocol) {
        return true;
      }
    }
  }
  return false;
}

const std::vector<AddressHolder>* AddressBook::holders(Ipv4 address) const {
  auto it = held_.find(address);
  return it == held_.end() ? nullptr : &it->second;
}

const Pool* AddressBook::poolOf(Ipv4 address) const {
  for (const auto& p : pools_) {
    if (p.contains(address)) {
      return &p;
    }
  }
  return nullptr;
}

const Pool* AddressBook::findPool(std::string_view name) const {
  for (const auto& p : pools_) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

bool AddressBook::canUse(Ipv4 address, const ServiceIntent& intent, std::string* why) const {
  const auto* hs = holders(address);
  if (hs == nullptr) {
    return true;
  }
  for (const auto& h : *hs) {
    if (h.serviceKey == intent.key) {
      continue;
    }
    if (!intent.sharingKey || !h.sharingKey || *intent.sharingKey != *h.sharingKey) {
      if (why != nullptr) {
        *why = address.toString() + " is in use by " + h.serviceKey + " (no common carplb.io/allow-shared-ip key)";
      }
      return false;
    }
    if (portsClash(intent.ports, h.ports)) {
      if (why != nullptr) {
        *why = address.toString() + " is shared with " + h.serviceKey + " but their ports clash";
      }
      return false;
    }
  }
  return true;
}

Error AddressBook::failure(std::string_view reason, std::string message) {
  lastFailure_ = AllocationFailure{reason, message};
  return makeError(std::move(message));
}

Result<Allocation> AddressBook::claim(const AllocationRequest& request) {
  const ServiceIntent& intent = *request.intent;
  lastFailure_.reset();
  release(intent.key);
  const std::string svc = "service " + intent.key + ": ";

  const Pool* named = nullptr;
  if (intent.pool) {
    named = findPool(*intent.pool);
    if (named == nullptr) {
      return failure(reasons::NoPool, svc + std::string(annotation::AddressPool) + ": no pool named \"" + *intent.pool +
                                          "\"");
    }
  }

  Allocation out;
  if (intent.source != AddressSource::Pool) {
    for (Ipv4 a : intent.requested) {
      const Pool* p = poolOf(a);
      if (named != nullptr && p != named) {
        return failure(reasons::AddressNotInPool, svc + a.toString() + " is not in pool \"" + named->name + "\"");
      }
      if (p == nullptr) {
        return failure(reasons::AddressNotInPool, svc + a.toString() + " is outside every configured pool");
      }
      std::string why;
      if (!canUse(a, intent, &why)) {
        return failure(reasons::AddressConflict, svc + why);
      }
      out.pool = p->name;
    }
    out.addresses = intent.requested;
  } else {
    // Candidate pools: the named one, else auto-assign pools in config order.
    std::vector<const Pool*> candidates;
    if (named != nullptr) {
      candidates.push_back(named);
    } else {
      for (const auto& p : pools_) {
        if (p.autoAssign) {
          candidates.push_back(&p);
        }
      }
    }
    if (candidates.empty()) {
      return failure(reasons::NoPool, svc + "no address requested and no auto-assign pool configured");
    }
    const uint32_t want = std::max<uint32_t>(1, request.count);
    const bool atLeastOne = intent.allNodes;  // all-nodes: as many as possible, at least one
    std::string lastWhy;
    for (const Pool* pool : candidates) {
      std::vector<Ipv4> got;
      std::set<Ipv4> taken;
      auto take = [&](Ipv4 a) {
        if (got.size() < want && !taken.count(a) && pool->contains(a) && canUse(a, intent, nullptr)) {
          got.push_back(a);
          taken.insert(a);
        }
      };
      std::vector<Ipv4> prev = request.previous;
      std::sort(prev.begin(), prev.end());
      for (Ipv4 a : prev) {
        take(a);
      }
      if (intent.sharingKey) {
        for (const auto& [a, hs] : held_) {
          if (got.size() >= want) {
            break;
          }
          if (std::any_of(hs.begin(), hs.end(), [&](const AddressHolder& h) { return h.sharingKey == intent.sharingKey; })) {
            take(a);
          }
        }
      }
      // Lowest free addresses, starting where the last scan found the pool full.
      const uint32_t from = scanFrom_.count(pool->name) ? scanFrom_.at(pool->name) : 0;
      uint64_t stop = from;
      for (const auto& r : pool->ranges) {
        for (uint64_t v = std::max<uint64_t>(r.first.value, from); v <= r.last.value && got.size() < want; ++v) {
          Ipv4 a{static_cast<uint32_t>(v)};
          if (!held_.count(a)) {
            take(a);
          }
          stop = v;
        }
      }
      if (got.size() == want || (atLeastOne && !got.empty())) {
        if (prev.empty() && !intent.sharingKey) {  // every address below `stop` is now held
          scanFrom_[pool->name] = static_cast<uint32_t>(std::min<uint64_t>(stop, UINT32_MAX));
        }
        std::sort(got.begin(), got.end());
        out.addresses = std::move(got);
        out.pool = pool->name;
        break;
      }
      // No free count in the text: it would change with other Services and re-fire the Warning.
      lastWhy = "pool \"" + pool->name + "\" (" + std::to_string(pool->size()) + " addresses) cannot provide " +
                std::to_string(want) + " free address(es)";
    }
    if (out.addresses.empty()) {
      return failure(reasons::PoolExhausted, svc + lastWhy);
    }
  }
  for (Ipv4 a : out.addresses) {
    held_[a].push_back(AddressHolder{intent.key, intent.sharingKey, intent.ports});
  }
  byService_[intent.key] = out.addresses;
  return out;
}

void AddressBook::release(const std::string& serviceKey) {
  auto it = byService_.find(serviceKey);
  if (it == byService_.end()) {
    return;
  }
  for (Ipv4 a : it->second) {
    auto h = held_.find(a);
    if (h == held_.end()) {
      continue;
    }
    std::erase_if(h->second, [&](const AddressHolder& x) { return x.serviceKey == serviceKey; });
    if (h->second.empty()) {
      held_.erase(h);
      for (auto& [pool, from] : scanFrom_) {  // freed: scans must look at it again
        from = std::min(from, a.value);
      }
    }
  }
  byService_.erase(it);
}

}  // namespace carplb::controller::core
