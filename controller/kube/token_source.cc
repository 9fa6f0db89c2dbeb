#include "controller/kube/token_source.h"

#include <fstream>
#include <sstream>

namespace carplb::controller::kube {

TokenSource::TokenSource(const Clock& clock, std::string staticToken, std::string tokenFile, Duration refreshEvery)
    : clock_(clock), file_(std::move(tokenFile)), refreshEvery_(refreshEvery), token_(std::move(staticToken)) {}

bool TokenSource::reloadLocked() {
  lastRead_ = clock_.now();
  std::ifstream in(file_, std::ios::binary);
  if (!in) {
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.empty() || t == token_) {
    return false;
  }
  token_ = std::move(t);
  return true;
}

std::string TokenSource::token() {
  std::lock_guard lock(mu_);
  if (!file_.empty() && (!lastRead_ || clock_.now() - *lastRead_ >= refreshEvery_)) {
    reloadLocked();
  }
  return token_;
}

bool TokenSource::forceRefresh() {
  std::lock_guard lock(mu_);
  if (file_.empty()) {
    return false;
  }
  return reloadLocked();
}

}  // namespace carplb::controller::kube
