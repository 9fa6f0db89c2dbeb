#pragma once
// The only reader of raw carplb.io/* annotations (and the related spec fields):
// ServiceInput -> ServiceIntent, or a list of field errors naming the annotation.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "controller/core/inputs.h"
#include "controller/core/ip.h"

namespace carplb::controller::core {

namespace annotation {
inline constexpr std::string_view LoadBalancerIPs = "carplb.io/loadBalancerIPs";
inline constexpr std::string_view AddressPool = "carplb.io/address-pool";
inline constexpr std::string_view AllowSharedIp = "carplb.io/allow-shared-ip";
inline constexpr std::string_view Failback = "carplb.io/failback";
inline constexpr std::string_view AddressCount = "carplb.io/address-count";
inline constexpr std::string_view Prefix = "carplb.io/";
}  // namespace annotation

inline constexpr uint32_t MaxAddressesPerService = 64;
inline constexpr std::chrono::milliseconds MaxFailbackDelay = std::chrono::hours(1);

enum class FailbackMode { Immediate, Delay, Never };

// Maps onto the agents' preempt / preemptDelay for the VIP's vhid.
struct Failback {
  FailbackMode mode = FailbackMode::Immediate;
  std::chrono::milliseconds delay{0};  // only for Delay
  bool operator==(const Failback&) const = default;
  bool preempt() const { return mode != FailbackMode::Never; }
};
std::string toString(const Failback& f);

enum class AddressSource { Annotation, LoadBalancerIP, Pool };

struct ServiceIntent {
  std::string key;                   // namespace/name
  AddressSource source = AddressSource::Pool;
  std::vector<Ipv4> requested;       // Annotation / LoadBalancerIP: the addresses asked for
  std::optional<std::string> pool;   // carplb.io/address-pool
  uint32_t count = 1;                // addresses to take from a pool
  bool allNodes = false;             // carplb.io/address-count: all-nodes
  std::optional<std::string> sharingKey;
  Failback failback;
  bool localTraffic = false;         // externalTrafficPolicy: Local
  std::vector<ServicePort> ports;
};

struct FieldError {
  std::string field;    // "metadata.annotations[carplb.io/failback]", "spec.loadBalancerIP"
  std::string message;  // names the field and the bad value
  std::string_view reason;  // reasons::InvalidAnnotation | reasons::UnsupportedFamily
};

struct IntentResult {
  ServiceIntent intent;             // meaningful only when errors is empty
  std::vector<FieldError> errors;
  bool ok() const { return errors.empty(); }
  std::string summary() const;      // all messages joined with "; "
};

IntentResult parseServiceIntent(const ServiceInput& svc);

// Go-style duration: one or more <integer><unit>, unit ms|s|m|h ("30s", "1m30s", "500ms").
Result<std::chrono::milliseconds> parseDuration(std::string_view text);
Result<Failback> parseFailback(std::string_view text);

}  // namespace carplb::controller::core
