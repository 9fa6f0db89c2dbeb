#pragma once
// Test helper: a tiny blocking HTTP/1.1 client over loopback TCP (no TLS) that can also follow
// a chunked watch stream line by line with a timeout. Enough to test the double's wire format.
#include "common/unique_fd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace carplb::kubedouble::testing {

struct HttpResponse {
  int code = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class HttpConnection {
public:
  HttpConnection(int port, const std::string& method, const std::string& path, const std::string& body = "",
                 const std::map<std::string, std::string>& headers = {}) {
    fd_.reset(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      fd_.reset();
      return;
    }
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    for (const auto& [k, v] : headers) {
      req += k + ": " + v + "\r\n";
    }
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      if (!headers.count("Content-Type")) {
        req += "Content-Type: application/json\r\n";
      }
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    size_t off = 0;
    while (off < req.size()) {
      ssize_t n = ::send(fd_.get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        fd_.reset();
        return;
      }
      off += static_cast<size_t>(n);
    }
  }

  bool connected() const { return fd_.valid(); }

  // Reads the status line and headers. False on timeout or a closed connection.
  bool readHead(HttpResponse& out, std::chrono::milliseconds timeout) {
    size_t end;
    while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(timeout)) {
        return false;
      }
    }
    std::string head = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    size_t sp = head.find(' ');
    out.code = std::atoi(head.c_str() + sp + 1);
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string k = line.substr(0, colon);
        for (auto& c : k) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        size_t v = line.find_first_not_of(' ', colon + 1);
        out.headers[k] = v == std::string::npos ? "" : line.substr(v);
      }
      pos = next;
    }
    chunked_ = out.headers["transfer-encoding"].find("chunked") != std::string::npos;
    if (out.headers.count("content-length")) {
      remaining_ = std::stoul(out.headers["content-length"]);
    }
    return true;
  }

  // Next body bytes decoded (chunked or not); empty optional on timeout, "" at end of body.
  std::optional<std::string> readSome(std::chrono::milliseconds timeout) {
    if (!chunked_) {
      if (raw_.empty() && !fill(timeout)) {
        return eof_ ? std::optional<std::string>("") : std::nullopt;
      }
      std::string s = std::move(raw_);
      raw_.clear();
      return s;
    }
    while (true) {
      size_t crlf = raw_.find("\r\n");
      if (crlf != std::string::npos) {
        size_t len = std::stoul(raw_.substr(0, crlf), nullptr, 16);
        if (len == 0) {
          eof_ = true;
          return std::string();
        }
        if (raw_.size() >= crlf + 2 + len + 2) {
          std::string data = raw_.substr(crlf + 2, len);
          raw_.erase(0, crlf + 2 + len + 2);
          return data;
        }
      }
      if (!fill(timeout)) {
        return eof_ ? std::optional<std::string>("") : std::nullopt;
      }
    }
  }

  // Whole body (until Content-Length, end of chunks or EOF).
  std::string readBody(std::chrono::milliseconds timeout) {
    std::string body;
    while (true) {
      if (!chunked_ && remaining_ && body.size() + raw_.size() >= *remaining_) {
        body += raw_;
        raw_.clear();
        return body;
      }
      auto part = readSome(timeout);
      if (!part || part->empty()) {
        return body;
      }
      body += *part;
    }
  }

  // Next watch event line; nullopt on timeout; {"eof":true} when the stream ended.
  std::optional<nlohmann::json> nextEvent(std::chrono::milliseconds timeout) {
    while (true) {
      size_t nl = lines_.find('\n');
      if (nl != std::string::npos) {
        std::string line = lines_.substr(0, nl);
        lines_.erase(0, nl + 1);
        return nlohmann::json::parse(line, nullptr, false);
      }
      auto part = readSome(timeout);
      if (!part) {
        return std::nullopt;
      }
      if (part->empty()) {
        return nlohmann::json{{"eof", true}};
      }
      lines_ += *part;
    }
  }

private:
  bool fill(std::chrono::milliseconds timeout) {
    if (!fd_.valid() || eof_) {
      return false;
    }
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
      return false;
    }
    char buf[65536];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    raw_.append(buf, static_cast<size_t>(n));
    return true;
  }

  UniqueFd fd_;
  std::string raw_;
  std::string lines_;
  bool chunked_ = false;
  bool eof_ = false;
  std::optional<size_t> remaining_;
};

inline std::string urlEscape(const std::string& s) {
  static constexpr char Hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += Hex[c >> 4];
      out += Hex[c & 15];
    }
  }
  return out;
}

inline HttpResponse httpRequest(int port, const std::string& method, const std::string& path,
                                const std::string& body = "", const std::map<std::string, std::string>& headers = {}) {
  HttpConnection c(port, method, path, body, headers);
  HttpResponse r;
  if (!c.connected() || !c.readHead(r, std::chrono::seconds(10))) {
    return r;
  }
  r.body = c.readBody(std::chrono::seconds(10));
  return r;
}

}  // namespace carplb::kubedouble::testing
