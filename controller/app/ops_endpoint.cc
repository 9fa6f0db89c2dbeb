#include "controller/app/ops_endpoint.h"

#include <cpprest/http_listener.h>

namespace carplb::controller::app {

namespace http = web::http;

struct OpsEndpoint::Impl {
  Registry& metrics;
  ReadyFn ready;
  StateFn state;
  Logger log;
  std::unique_ptr<http::experimental::listener::http_listener> listener;

  void handle(const http::http_request& req) {
    const auto path = req.relative_uri().path();
    http::http_response resp;
    const char* text = "text/plain; charset=utf-8";
    if (req.method() != http::methods::GET) {
      resp.set_status_code(http::status_codes::MethodNotAllowed);
      resp.set_body("only GET\n", text);
    } else if (path == "/metrics") {
      resp.set_status_code(http::status_codes::OK);
      resp.set_body(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
    } else if (path == "/healthz") {
      resp.set_status_code(http::status_codes::OK);
      resp.set_body("ok\n", text);
    } else if (path == "/readyz") {
      bool ok = ready();
      resp.set_status_code(ok ? http::status_codes::OK : http::status_codes::ServiceUnavailable);
      resp.set_body(ok ? "ok\n" : "not leading or caches not synced\n", text);
    } else if (path == "/state") {
      resp.set_status_code(http::status_codes::OK);
      resp.set_body(state(), "application/json");
    } else {
      resp.set_status_code(http::status_codes::NotFound);
      resp.set_body("not found (try /metrics, /healthz, /readyz, /state)\n", text);
    }
    req.reply(resp).then([](const pplx::task<void>& t) {
      try {
        t.get();
      } catch (...) {  // the client went away
      }
    });
  }
};

OpsEndpoint::OpsEndpoint(Registry& metrics, ReadyFn ready, StateFn state, Logger log)
    : impl_(std::make_unique<Impl>(Impl{metrics, std::move(ready), std::move(state), std::move(log), nullptr})) {}

OpsEndpoint::~OpsEndpoint() { stop(); }

Status OpsEndpoint::start(const std::string& listen) {
  std::string hostPort = listen;
  if (!hostPort.empty() && hostPort.front() == ':') {
    hostPort = "0.0.0.0" + hostPort;
  }
  auto colon = hostPort.rfind(':');
  if (colon == std::string::npos || colon + 1 >= hostPort.size()) {
    return makeError("--http-listen: must be host:port or :port, got \"" + listen + "\"");
  }
  try {
    impl_->listener = std::make_unique<http::experimental::listener::http_listener>(web::uri("http://" + hostPort));
    Impl* impl = impl_.get();
    impl_->listener->support([impl](const http::http_request& req) {
      try {
        impl->handle(req);
      } catch (const std::exception& e) {
        impl->log.warn("http request failed", {{"error", e.what()}});
      }
    });
    impl_->listener->open().wait();
  } catch (const std::exception& e) {
    impl_->listener.reset();
    return makeError("--http-listen: cannot listen on " + listen + ": " + e.what());
  }
  impl_->log.info("http endpoint listening", {{"address", hostPort}});
  return okStatus();
}

void OpsEndpoint::stop() {
  if (!impl_ || !impl_->listener) return;
  try {
    impl_->listener->close().wait();
  } catch (...) {
  }
  impl_->listener.reset();
}

}  // namespace carplb::controller::app
