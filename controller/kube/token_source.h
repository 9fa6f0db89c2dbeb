#pragma once
// SHELL: the bearer token for API requests. A static token, or a token file that the kubelet
// rotates (atomic symlink swap): re-read at most every `refreshEvery` (60 s) and at once after
// a 401 (forceRefresh). Thread-safe. Missing/unreadable file keeps the last good token.
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"

namespace carplb::controller::kube {

class TokenSource {
public:
  TokenSource(const Clock& clock, std::string staticToken, std::string tokenFile,
              Duration refreshEvery = std::chrono::seconds(60));
  // The current token ("" when none).
  std::string token();
  // Re-reads the file now (after a 401); returns true if the token changed.
  bool forceRefresh();
  bool hasFile() const { return !file_.empty(); }

private:
  bool reloadLocked();
  const Clock& clock_;
  std::string file_;
  Duration refreshEvery_;
  std::mutex mu_;
  std::string token_;
  std::optional<TimePoint> lastRead_;
};

}  // namespace carplb::controller::kube
