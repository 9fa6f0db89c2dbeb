#pragma once
// Address pools (named IPv4 ranges from the controller config) and the address book:
// which Service holds which address, shared on purpose or refused.
//
// Allocation is deterministic and stable: addresses a Service already holds (from the
// cluster: its VirtualIPs / status) are claimed first and kept; new addresses are the
// lowest free ones of the pool, after the addresses of Services with the same sharing key.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "controller/core/annotations.h"
#include "controller/core/inputs.h"
#include "controller/core/ip.h"

namespace carplb::controller::core {

struct Pool {
  std::string name;
  std::vector<Ipv4Range> ranges;  // sorted, non-overlapping
  bool autoAssign = true;
  bool contains(Ipv4 a) const;
  uint64_t size() const;
};

// Validates and parses the configured pools: "pools[1].ranges[0]: ..." on error; names must be
// unique and ranges may not overlap (within or across pools).
Result<std::vector<Pool>> parsePools(const std::vector<PoolConfig>& config);

// One Service using an address.
struct AddressHolder {
  std::string serviceKey;
  std::optional<std::string> sharingKey;
  std::vector<ServicePort> ports;
};

struct AllocationRequest {
  const ServiceIntent* intent = nullptr;
  uint32_t count = 1;                // pool addresses wanted (resolved all-nodes count)
  std::vector<Ipv4> previous;        // addresses the Service holds today (kept when still valid)
};

struct AllocationFailure {
  std::string_view reason;  // reasons::AddressConflict | PoolExhausted | NoPool | AddressNotInPool
  std::string message;      // names the Service and the address / pool
};

struct Allocation {
  std::vector<Ipv4> addresses;  // sorted
  std::string pool;             // pool the addresses belong to ("" when outside every pool)
};

class AddressBook {
public:
  explicit AddressBook(std::vector<Pool> pools) : pools_(std::move(pools)) {}

  // Checks every constraint before changing anything; on failure nothing is claimed.
  // Claiming again for a Service first releases what it held.
  Result<Allocation> claim(const AllocationRequest& request);
  // Idempotent.
  void release(const std::string& serviceKey);

  const std::vector<AddressHolder>* holders(Ipv4 address) const;
  const Pool* poolOf(Ipv4 address) const;
  const Pool* findPool(std::string_view name) const;
  // Error text for the last failed claim, for tests: see AllocationFailure.
  const std::optional<AllocationFailure>& lastFailure() const { return lastFailure_; }

private:
  // Can `intent` use `address` next to its current holders?
  bool canUse(Ipv4 address, const ServiceIntent& intent, std::string* why) const;
  Error failure(std::string_view reason, std::string message);

  std::vector<Pool> pools_;
  std::map<Ipv4, std::vector<AddressHolder>> held_;            // address -> Services using it
  std::map<std::string, std::vector<Ipv4>> byService_;         // serviceKey -> addresses held
  std::map<std::string, uint32_t> scanFrom_;  // pool -> every pool address below it is held
  std::optional<AllocationFailure> lastFailure_;
};

// True when two port lists collide (same protocol and port).
bool portsClash(const std::vector<ServicePort>& a, const std::vector<ServicePort>& b);

}  // namespace carplb::controller::core
