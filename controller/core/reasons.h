#pragma once
// Every Event reason and condition type the controller writes, in one place (see
// docs/controller.md). Reasons are CamelCase, as Kubernetes expects.
#include <string_view>

namespace carplb::controller::core::reasons {

// Condition types (domain-prefixed, as recommended for custom conditions).
inline constexpr std::string_view ConditionVipAssigned = "carplb.io/VipAssigned";  // on a Service
inline constexpr std::string_view ConditionPlanned = "Planned";                     // on a VirtualIP

// Finalizer owned by LoadBalancer implementations.
inline constexpr std::string_view LoadBalancerCleanupFinalizer = "service.kubernetes.io/load-balancer-cleanup";

// Normal Event / condition reasons.
inline constexpr std::string_view VipAssigned = "VipAssigned";    // Service got its VIP(s)
inline constexpr std::string_view VipMoved = "VipMoved";          // a VIP changed master node
inline constexpr std::string_view VipReleased = "VipReleased";    // Service no longer ours: VIP released
inline constexpr std::string_view Planned = "Planned";            // VirtualIP has a master

// Warning Event / False condition reasons.
inline constexpr std::string_view InvalidAnnotation = "InvalidAnnotation";    // malformed carplb.io/* annotation
inline constexpr std::string_view AddressConflict = "AddressConflict";        // address used by another Service
inline constexpr std::string_view PoolExhausted = "PoolExhausted";            // no free address in the pool
inline constexpr std::string_view NoPool = "NoPool";                          // no pool configured / unknown pool
inline constexpr std::string_view AddressNotInPool = "AddressNotInPool";      // requested address outside pools
inline constexpr std::string_view UnsupportedFamily = "UnsupportedFamily";    // IPv6 (not supported yet)
inline constexpr std::string_view NoEligibleNodes = "NoEligibleNodes";        // nobody can master the VIP
inline constexpr std::string_view VhidsExhausted = "VhidsExhausted";          // no vhid and no compatible group

// Why a planned master changed (VirtualIP status.lastFailover.reason, VipMoved Events).
inline constexpr std::string_view MoveNodeNotReady = "NodeNotReady";
inline constexpr std::string_view MoveNodeUnschedulable = "NodeUnschedulable";
inline constexpr std::string_view MoveNodeDraining = "NodeDraining";
inline constexpr std::string_view MoveNodeExcluded = "NodeExcluded";          // selector / exclude label
inline constexpr std::string_view MoveNodeGone = "NodeGone";
inline constexpr std::string_view MoveNoLocalEndpoints = "NoLocalEndpoints";
inline constexpr std::string_view MoveRebalanced = "Rebalanced";

}  // namespace carplb::controller::core::reasons
