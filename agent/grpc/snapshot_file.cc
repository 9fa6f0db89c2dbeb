#include "agent/grpc/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "proto/redact.h"

namespace carplb::agent::rpc {
namespace {

constexpr std::string_view Magic = "carplb-snapshot-v1\n";
constexpr std::size_t MaxFileBytes = 16 * 1024 * 1024;

std::string errnoText(int err) { return std::strerror(err); }

Status writeAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return makeError(path + ": write: " + errnoText(errno), true);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return okStatus();
}

}  // namespace

Status validateAgentSnapshot(const v1::Snapshot& snapshot) {
  bool anyEmpty = false;
  for (const auto& v : snapshot.vhosts()) anyEmpty = anyEmpty || v.interface().empty();
  if (!anyEmpty) return proto::validateSnapshot(snapshot);
  v1::Snapshot copy = snapshot;
  for (auto& v : *copy.mutable_vhosts()) {
    if (v.interface().empty()) v.set_interface("default");  // placeholder: the agent's --interface
  }
  return proto::validateSnapshot(copy);
}

Status saveSnapshotFile(const std::string& path, const v1::Snapshot& snapshot) {
  std::string data(Magic);
  if (!snapshot.AppendToString(&data)) {
    return makeError(path + ": cannot serialise snapshot");
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return makeError(tmp + ": open: " + errnoText(errno), true);
  }
  // O_CREAT's mode is filtered by the umask and ignored for an existing file: force 0600.
  if (::fchmod(fd.get(), 0600) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return makeError(tmp + ": fchmod: " + errnoText(err), true);
  }
  if (auto st = writeAll(fd.get(), data, tmp); !st) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::fsync(fd.get()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return makeError(tmp + ": fsync: " + errnoText(err), true);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return makeError(path + ": rename: " + errnoText(err), true);
  }
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) {
    ::fsync(dfd.get());  // best effort: the rename is already visible
  }
  return okStatus();
}

Result<v1::Snapshot> loadSnapshotFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) {
      return makeError(path + ": no such file");
    }
    return makeError(path + ": open: " + errnoText(errno), true);
  }
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return makeError(path + ": read: " + errnoText(errno), true);
    }
    if (n == 0) {
      break;
    }
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > MaxFileBytes) {
      return makeError(path + ": larger than " + std::to_string(MaxFileBytes) + " bytes");
    }
  }
  if (data.compare(0, Magic.size(), Magic) != 0) {
    return makeError(path + ": not a carplb snapshot file (bad header)");
  }
  v1::Snapshot snapshot;
  if (!snapshot.ParseFromArray(data.data() + Magic.size(), static_cast<int>(data.size() - Magic.size()))) {
    return makeError(path + ": corrupt snapshot (protobuf parse failed)");
  }
  if (auto st = validateAgentSnapshot(snapshot); !st) {
    return makeError(path + ": " + st.error().message);
  }
  return snapshot;
}

}  // namespace carplb::agent::rpc
