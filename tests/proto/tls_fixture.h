#pragma once
// Test TLS material: a throw-away CA, a server certificate for "localhost"/127.0.0.1 and
// client certificates, made with the openssl CLI in a private temp dir that is removed
// afterwards. Header-only, shared by the gRPC test folders.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <chrono>

namespace carplb::testing {

class TempDir {
public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "carplb-grpc-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

inline std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TlsMaterial {
  std::string caPem;
  std::string serverCertPem;
  std::string serverKeyPem;
  // Client certificates signed by the same CA, CN = node name.
  std::string clientCertPem(const std::string& cn);
  std::string clientKeyPem(const std::string& cn) { return readText(dir_->file(cn + ".key")); }

  explicit TlsMaterial(const TempDir& dir);

private:
  const TempDir* dir_;
  void run(const std::string& cmd) const {
    const std::string full = "cd '" + dir_->path() + "' && " + cmd + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) {
      throw std::runtime_error("command failed: " + cmd);
    }
  }
};

inline TlsMaterial::TlsMaterial(const TempDir& dir) : dir_(&dir) {
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=carplb-test-ca -keyout ca.key -out ca.pem");
  run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
      "-keyout server.key -out server.csr");
  run("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile server.ext -out server.pem");
  caPem = readText(dir.file("ca.pem"));
  serverCertPem = readText(dir.file("server.pem"));
  serverKeyPem = readText(dir.file("server.key"));
}

inline std::string TlsMaterial::clientCertPem(const std::string& cn) {
  run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + cn + " -keyout " + cn +
      ".key -out " + cn + ".csr");
  run("printf 'extendedKeyUsage=clientAuth\\n' > client.ext && openssl x509 -req -in " + cn +
      ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out " + cn + ".pem");
  return readText(dir_->file(cn + ".pem"));
}

// Polls `pred` until it is true or `timeout` passes (no fixed sleeps in tests).
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::yield();
    ::usleep(2000);
  }
  return pred();
}

}  // namespace carplb::testing
