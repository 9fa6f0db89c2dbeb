#include "agent/status/status_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common/unique_fd.h"

namespace carplb::agent::status {

namespace {

constexpr const char* TextPlain = "text/plain; charset=utf-8";
constexpr unsigned ConnectionLimit = 32;     // a local scrape endpoint, not a web server
constexpr unsigned ConnectionTimeoutS = 10;  // idle keep-alive connections are closed after this
constexpr int ListenBacklog = 16;

struct Reply {
  unsigned code;
  std::string body;
  const char* contentType;
};

struct MhdResponseDeleter {
  void operator()(MHD_Response* r) const { MHD_destroy_response(r); }
};

MHD_Result queue(MHD_Connection* conn, const Reply& reply, bool allowHeader) {
  std::unique_ptr<MHD_Response, MhdResponseDeleter> resp(MHD_create_response_from_buffer(
      reply.body.size(), const_cast<char*>(reply.body.data()), MHD_RESPMEM_MUST_COPY));
  if (!resp) return MHD_NO;
  if (MHD_add_response_header(resp.get(), MHD_HTTP_HEADER_CONTENT_TYPE, reply.contentType) != MHD_YES) return MHD_NO;
  if (allowHeader && MHD_add_response_header(resp.get(), MHD_HTTP_HEADER_ALLOW, "GET") != MHD_YES) return MHD_NO;
  return MHD_queue_response(conn, reply.code, resp.get());
}

// "host:port" -> (host without brackets, port). listenUri() has validated the shape.
std::pair<std::string, std::string> splitHostPort(const std::string& hostPort) {
  auto colon = hostPort.rfind(':');
  std::string host = hostPort.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, hostPort.substr(colon + 1)};
}

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const { ::freeaddrinfo(a); }
};

// Binds and listens on the first address `hostPort` resolves to; errors name the field.
Result<UniqueFd> listenSocket(const std::string& hostPort) {
  auto [host, port] = splitHostPort(hostPort);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &raw);
  if (rc != 0) {
    return makeError("statusListen: cannot resolve host \"" + host + "\": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, AddrInfoDeleter> list(raw);
  std::string lastError = "no address";
  for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd) {
      lastError = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      lastError = std::string("bind: ") + std::strerror(errno);
      continue;
    }
    if (::listen(fd.get(), ListenBacklog) != 0) {
      lastError = std::string("listen: ") + std::strerror(errno);
      continue;
    }
    return fd;
  }
  return makeError("statusListen: cannot listen on " + hostPort + ": " + lastError);
}

}  // namespace

Result<std::string> listenUri(const std::string& hostPort) {
  auto colon = hostPort.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= hostPort.size()) {
    return makeError("statusListen: must be \"host:port\", got \"" + hostPort + "\"");
  }
  std::string port = hostPort.substr(colon + 1);
  int n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (ec != std::errc() || p != port.data() + port.size() || n < 1 || n > 65535) {
    return makeError("statusListen: port must be 1..65535, got \"" + port + "\"");
  }
  return "http://" + hostPort;
}

struct StatusServer::Impl {
  StateFn stateFn;
  Registry& metrics;
  Logger log;
  MHD_Daemon* daemon = nullptr;  // owned: MHD_stop_daemon() in stop()
  uint16_t port = 0;

  Reply route(const std::string& path) {
    if (path == "/state") {
      auto body = stateFn();
      if (body) return {MHD_HTTP_OK, std::move(*body), "application/json"};
      return {MHD_HTTP_SERVICE_UNAVAILABLE, "state snapshot timed out\n", TextPlain};
    }
    if (path == "/metrics") return {MHD_HTTP_OK, metrics.render(), "text/plain; version=0.0.4; charset=utf-8"};
    if (path == "/healthz") return {MHD_HTTP_OK, "ok\n", TextPlain};
    return {MHD_HTTP_NOT_FOUND, "not found (try /state, /metrics, /healthz)\n", TextPlain};
  }

  // libmicrohttpd access handler. First call per request: headers only (*reqCtx == nullptr);
  // GET is answered on the second call, other methods at once (their body is not read).
  static MHD_Result onRequest(void* cls, MHD_Connection* conn, const char* url, const char* method,
                              const char* /*version*/, const char* /*uploadData*/, size_t* uploadDataSize,
                              void** reqCtx) {
    auto* self = static_cast<Impl*>(cls);
    static constexpr int SeenHeaders = 0;  // address used as a marker, never written
    if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
      return queue(conn, {MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", TextPlain}, true);
    }
    if (*reqCtx == nullptr) {
      *reqCtx = const_cast<int*>(&SeenHeaders);
      return MHD_YES;
    }
    if (*uploadDataSize != 0) {  // a GET with a body: ignore the body
      *uploadDataSize = 0;
      return MHD_YES;
    }
    try {
      return queue(conn, self->route(url == nullptr ? "" : url), false);
    } catch (const std::exception& e) {
      self->log.warn("status request failed", {{"path", url == nullptr ? "" : url}, {"error", e.what()}});
      return MHD_NO;  // closes the connection
    }
  }

  static void onMhdLog(void* cls, const char* fmt, va_list ap) {
    auto* self = static_cast<Impl*>(cls);
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    std::string msg(buf);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    self->log.warn("http server", {{"error", msg}});
  }
};

StatusServer::StatusServer(StateFn stateFn, Registry& metrics, Logger log)
    : impl_(std::make_unique<Impl>(Impl{std::move(stateFn), metrics, std::move(log), nullptr, 0})) {}

StatusServer::~StatusServer() { stop(); }

Status StatusServer::start(const std::string& hostPort) {
  if (impl_->daemon != nullptr) return makeError("statusListen: already listening");
  auto uri = listenUri(hostPort);
  if (!uri) return uri.error();
  auto fd = listenSocket(hostPort);
  if (!fd) return fd.error();
  // One internal polling thread (poll/epoll chosen by the library), no thread pool.
  MHD_Daemon* d = MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &Impl::onRequest, impl_.get(),
      MHD_OPTION_EXTERNAL_LOGGER, &Impl::onMhdLog, impl_.get(),  // must be the first option
      MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(fd->get()),
      MHD_OPTION_CONNECTION_LIMIT, ConnectionLimit,
      MHD_OPTION_CONNECTION_TIMEOUT, ConnectionTimeoutS,
      MHD_OPTION_END);
  if (d == nullptr) {
    return makeError("statusListen: cannot start the HTTP server on " + hostPort + " (see the log)");
  }
  fd->release();  // MHD_stop_daemon() closes the listen socket
  impl_->daemon = d;
  const MHD_DaemonInfo* info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  impl_->port = info != nullptr ? info->port : 0;
  impl_->log.info("status endpoint listening", {{"address", hostPort}});
  return okStatus();
}

void StatusServer::stop() {
  if (!impl_ || impl_->daemon == nullptr) return;
  MHD_stop_daemon(impl_->daemon);
  impl_->daemon = nullptr;
  impl_->port = 0;
}

uint16_t StatusServer::port() const { return impl_ ? impl_->port : 0; }

}  // namespace carplb::agent::status
