#pragma once
// SHELL: a self-signed serving certificate for --tls-self-signed (ECDSA P-256, CA:TRUE so that
// kubectl can trust it as its own CA; SANs for the listen address, 127.0.0.1, ::1, localhost).
#include "common/result.h"

#include <string>

namespace carplb::kubedouble {

struct CertFiles {
  std::string certFile;
  std::string keyFile;
};

// Writes DIR/tls.crt and DIR/tls.key (key mode 0600). DIR must exist.
Result<CertFiles> writeSelfSignedCert(const std::string& dir, const std::string& host);

}  // namespace carplb::kubedouble
