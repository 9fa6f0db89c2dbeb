#include "agent/status/status_server.h"

#include <cpprest/http_listener.h>

#include <charconv>

namespace carplb::agent::status {

namespace http = web::http;

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
  std::unique_ptr<http::experimental::listener::http_listener> listener;

  void handle(http::http_request req) {
    auto path = req.relative_uri().path();
    http::http_response resp;
    if (req.method() != http::methods::GET) {
      resp.set_status_code(http::status_codes::MethodNotAllowed);
      resp.set_body("only GET\n", "text/plain; charset=utf-8");
    } else if (path == "/state") {
      auto body = stateFn();
      if (body) {
        resp.set_status_code(http::status_codes::OK);
        resp.set_body(*body, "application/json");
      } else {
        resp.set_status_code(http::status_codes::ServiceUnavailable);
        resp.set_body("state snapshot timed out\n", "text/plain; charset=utf-8");
      }
    } else if (path == "/metrics") {
      resp.set_status_code(http::status_codes::OK);
      resp.set_body(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
    } else if (path == "/healthz") {
      resp.set_status_code(http::status_codes::OK);
      resp.set_body("ok\n", "text/plain; charset=utf-8");
    } else {
      resp.set_status_code(http::status_codes::NotFound);
      resp.set_body("not found (try /state, /metrics, /healthz)\n", "text/plain; charset=utf-8");
    }
    req.reply(resp).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (...) {  // client went away
      }
    });
  }
};

StatusServer::StatusServer(StateFn stateFn, Registry& metrics, Logger log)
    : impl_(std::make_unique<Impl>(Impl{std::move(stateFn), metrics, std::move(log), nullptr})) {}

StatusServer::~StatusServer() { stop(); }

Status StatusServer::start(const std::string& hostPort) {
  auto uri = listenUri(hostPort);
  if (!uri) return uri.error();
  try {
    impl_->listener = std::make_unique<http::experimental::listener::http_listener>(web::uri(*uri));
    Impl* impl = impl_.get();
    impl_->listener->support([impl](http::http_request req) {
      try {
        impl->handle(std::move(req));
      } catch (const std::exception& e) {
        impl->log.warn("status request failed", {{"error", e.what()}});
      }
    });
    impl_->listener->open().wait();
  } catch (const std::exception& e) {
    impl_->listener.reset();
    return makeError("statusListen: cannot listen on " + hostPort + ": " + e.what());
  }
  impl_->log.info("status endpoint listening", {{"address", hostPort}});
  return okStatus();
}

void StatusServer::stop() {
  if (!impl_ || !impl_->listener) return;
  try {
    impl_->listener->close().wait();
  } catch (...) {
  }
  impl_->listener.reset();
}

}  // namespace carplb::agent::status
