#pragma once
// A tiny HTTP/1.1 server on 127.0.0.1 port 0 for the kube client's integration tests: each
// connection gets a thread; the test's handler answers with a full body or a chunked stream it
// drives (watch events split at arbitrary byte boundaries, dropped connections).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace carplb::controller::kube::testing {

struct FakeRequest {
  std::string method;
  std::string path;   // without query
  std::string query;  // raw, without '?'
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string param(const std::string& name) const {
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      size_t eq = kv.find('=');
      if (kv.substr(0, eq) == name) return eq == std::string::npos ? "" : kv.substr(eq + 1);
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
    return "";
  }
  bool has(const std::string& name) const { return ("&" + query + "&").find("&" + name + "=") != std::string::npos; }
};

class ResponseWriter {
public:
  explicit ResponseWriter(int fd) : fd_(fd) {}
  void send(int status, const std::string& body, const std::map<std::string, std::string>& headers = {}) {
    std::string h = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n";
    for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
    writeAll(h + "\r\n" + body);
  }
  void startChunked(int status = 200) {
    writeAll("HTTP/1.1 " + std::to_string(status) +
             " OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  }
  bool chunk(const std::string& data) {
    if (data.empty()) return ok_;
    char len[32];
    std::snprintf(len, sizeof len, "%zx\r\n", data.size());
    return writeAll(len + data + "\r\n");
  }
  void endChunked() { writeAll("0\r\n\r\n"); }
  // Close the connection abruptly (no terminating chunk): a dropped watch.
  void drop() {
    ::shutdown(fd_, SHUT_RDWR);
    dropped_ = true;
  }
  bool dropped() const { return dropped_; }
  bool ok() const { return ok_; }

private:
  bool writeAll(const std::string& s) {
    size_t off = 0;
    while (ok_ && off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) ok_ = false;
      else off += static_cast<size_t>(n);
    }
    return ok_;
  }
  int fd_;
  bool ok_ = true;
  bool dropped_ = false;
};

class FakeApiServer {
public:
  using Handler = std::function<void(const FakeRequest&, ResponseWriter&)>;
  explicit FakeApiServer(Handler h) : handler_(std::move(h)) {
    listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_.get(), 64) != 0) {
      throw std::runtime_error("fake api server: bind/listen failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~FakeApiServer() { stop(); }
  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(listen_.get(), SHUT_RDWR);
    {
      std::lock_guard lock(mu_);
      for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
      cv_.notify_all();
    }
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> ts;
    {
      std::lock_guard lock(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FakeRequest> requests() const {
    std::lock_guard lock(mu_);
    return log_;
  }
  size_t countRequests(const std::string& method, const std::string& pathPrefix, const std::string& queryPart = "") const {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& r : log_) {
      if (r.method == method && r.path.rfind(pathPrefix, 0) == 0 && r.query.find(queryPart) != std::string::npos) ++n;
    }
    return n;
  }
  bool stopped() const { return stopped_.load(); }

private:
  void acceptLoop() {
    for (;;) {
      int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard lock(mu_);
      if (stopped_) {
        ::close(fd);
        return;
      }
      conns_.push_back(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }
  static bool readRequest(int fd, std::string& buf, FakeRequest& req) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      char tmp[4096];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    size_t lineEnd = head.find("\r\n");
    std::string line = head.substr(0, lineEnd);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    req.method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    req.query = q == std::string::npos ? "" : target.substr(q + 1);
    size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      std::string h = head.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
      size_t c = h.find(':');
      if (c != std::string::npos) {
        std::string k = h.substr(0, c);
        for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        size_t v = h.find_first_not_of(' ', c + 1);
        req.headers[k] = v == std::string::npos ? "" : h.substr(v);
      }
      if (e == std::string::npos) break;
      pos = e + 2;
    }
    size_t len = req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
    while (buf.size() < len) {
      char tmp[4096];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
    req.body = buf.substr(0, len);
    buf.erase(0, len);
    return true;
  }
  void serve(int fd) {
    UniqueFd owned(fd);
    std::string buf;
    while (!stopped_) {
      FakeRequest req;
      if (!readRequest(fd, buf, req)) break;
      {
        std::lock_guard lock(mu_);
        log_.push_back(req);
      }
      ResponseWriter w(fd);
      handler_(req, w);
      if (w.dropped() || !w.ok()) break;
    }
    std::lock_guard lock(mu_);
    conns_.erase(std::remove(conns_.begin(), conns_.end(), fd), conns_.end());
  }

  Handler handler_;
  UniqueFd listen_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> conns_;
  std::vector<std::thread> threads_;
  std::vector<FakeRequest> log_;
  std::thread acceptor_;
};

// A queue of watch-stream actions a test pushes and a watch handler plays.
class WatchFeed {
public:
  enum class Kind { Bytes, End, Drop };
  struct Item {
    Kind kind;
    std::string bytes;
  };
  void push(Kind k, std::string b = {}) {
    std::lock_guard lock(mu_);
    items_.push_back(Item{k, std::move(b)});
    cv_.notify_all();
  }
  // Sends one event line split in 3-byte chunks (chunks never align with lines).
  void event(const std::string& line) {
    std::string s = line + "\n";
    for (size_t i = 0; i < s.size(); i += 3) push(Kind::Bytes, s.substr(i, 3));
  }
  // Plays items until End/Drop (or server stop). Call from the handler.
  void play(ResponseWriter& w, const FakeApiServer& server) {
    w.startChunked();
    for (;;) {
      Item it;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return !items_.empty(); });
        if (items_.empty()) {
          if (server.stopped()) return;
          continue;
        }
        it = std::move(items_.front());
        items_.pop_front();
      }
      switch (it.kind) {
        case Kind::Bytes:
          if (!w.chunk(it.bytes)) return;
          break;
        case Kind::End:
          w.endChunked();
          return;
        case Kind::Drop:
          w.drop();
          return;
      }
    }
  }
  void stopAll() {
    std::lock_guard lock(mu_);
    items_.push_back(Item{Kind::Drop, {}});
    cv_.notify_all();
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> items_;
};

}  // namespace carplb::controller::kube::testing
