#include "controller/kube/rest_client.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include <boost/asio/ssl.hpp>
#include <fstream>
#include <sstream>

namespace carplb::controller::kube {

namespace http = web::http;

struct RestClient::Impl {
  http::client::http_client client;  // requestTimeout
  http::client::http_client watchClient;  // watchTimeout
  pplx::cancellation_token_source cts;
  Impl(const std::string& base, const http::client::http_client_config& cfg,
       const http::client::http_client_config& watchCfg)
      : client(base, cfg), watchClient(base, watchCfg) {}
};

struct StreamCanceller::State {
  pplx::cancellation_token_source cts;
};
StreamCanceller::StreamCanceller() : state_(std::make_shared<State>()) {}
StreamCanceller::~StreamCanceller() = default;
void StreamCanceller::cancel() { state_->cts.cancel(); }
bool StreamCanceller::cancelled() const { return state_->cts.get_token().is_canceled(); }

namespace {

Result<std::string> slurp(const std::string& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeError("kube client " + field + " " + path + ": cannot read");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Applies CA and client credentials to an OpenSSL context. Throws boost::system::system_error.
void configureTls(boost::asio::ssl::context& ctx, const ClientConfig& c) {
  if (!c.caData.empty()) {
    ctx.add_certificate_authority(boost::asio::buffer(c.caData.data(), c.caData.size()));
  }
  if (!c.clientCertData.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(c.clientCertData.data(), c.clientCertData.size()));
  }
  if (!c.clientKeyData.empty()) {
    ctx.use_private_key(boost::asio::buffer(c.clientKeyData.data(), c.clientKeyData.size()),
                        boost::asio::ssl::context::pem);
  }
}

std::string reasonText(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

ApiError httpError(const std::string& method, const std::string& path, const HttpResponse& r) {
  ApiError e;
  e.httpStatus = r.status;
  e.kind = classifyHttpStatus(r.status);
  e.status = parseApiStatusText(r.body);
  std::string pathOnly = path.substr(0, path.find('?'));
  e.message = method + " " + pathOnly + ": " + std::to_string(r.status);
  if (auto t = reasonText(r.status); !t.empty()) e.message += " " + t;
  if (e.status && !e.status->message.empty()) {
    e.message += ": " + e.status->message;
  }
  return e;
}

ApiError transportError(const std::string& method, const std::string& path, const std::string& what) {
  return ApiError{ApiErrorKind::Transport, 0, method + " " + path.substr(0, path.find('?')) + ": " + what, std::nullopt};
}

}  // namespace

std::string_view toString(RetryDecision d) {
  switch (d) {
    case RetryDecision::NotRetryable: return "NotRetryable";
    case RetryDecision::RetriesExhausted: return "RetriesExhausted";
    case RetryDecision::OverBudget: return "OverBudget";
    case RetryDecision::ServerRetryAfter: return "ServerRetryAfter";
    case RetryDecision::ReadBackoff: return "ReadBackoff";
    case RetryDecision::NotSent: return "NotSent";
  }
  return "Unknown";
}

RetryPlan retryPlan(const RetryQuery& q, int maxRetries, Duration retryBudget) {
  const bool read = q.method == "GET" || q.method == "HEAD";
  RetryPlan plan;
  if (q.httpStatus == 0) {
    if (q.transport == TransportFailure::NotSent) {
      plan = {RetryDecision::NotSent, q.backoff};
    } else if (read) {
      plan = {RetryDecision::ReadBackoff, q.backoff};
    } else {
      return {RetryDecision::NotRetryable, {}};
    }
  } else {
    const ApiErrorKind kind = classifyHttpStatus(q.httpStatus);
    // 501/505 will not change by asking again.
    if ((kind != ApiErrorKind::TooManyRequests && kind != ApiErrorKind::ServerError) || q.httpStatus == 501 ||
        q.httpStatus == 505) {
      return {RetryDecision::NotRetryable, {}};
    }
    if (q.retryAfter) {
      plan = {RetryDecision::ServerRetryAfter, std::max(*q.retryAfter, Duration::zero())};
    } else if (read) {
      plan = {RetryDecision::ReadBackoff, q.backoff};
    } else {
      return {RetryDecision::NotRetryable, {}};
    }
  }
  if (q.retriesSoFar >= maxRetries) {
    return {RetryDecision::RetriesExhausted, {}};
  }
  if (q.elapsed + plan.wait > retryBudget) {
    return {RetryDecision::OverBudget, {}};
  }
  return plan;
}

std::string queryEscape(const std::string& v) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string apiPath(const std::string& group, const std::string& version, const std::string& plural,
                    const std::string& ns, const std::string& name) {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) p += "/" + name;
  return p;
}

RestClient::RestClient(const ClientConfig& config, RestClientOptions options, const Clock& clock, Logger logger)
    : config_(config),
      options_(std::move(options)),
      clock_(clock),
      logger_(std::move(logger)),
      tokens_(clock, config.token, config.tokenFile, options_.tokenRefresh),
      limiter_(options_.qps, options_.burst) {}

RestClient::~RestClient() { shutdown(); }

Result<std::unique_ptr<RestClient>> RestClient::create(const ClientConfig& in, RestClientOptions options,
                                                       const Clock& clock, Logger logger) {
  ClientConfig c = in;
  if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0) {
    return makeError("kube client server: must start with https:// or http://, got \"" + c.server + "\"");
  }
  if (!c.caFile.empty()) {
    auto d = slurp(c.caFile, "certificate-authority");
    if (!d) return d.error();
    c.caData = *d;
  }
  if (!c.clientCertFile.empty()) {
    auto d = slurp(c.clientCertFile, "client-certificate");
    if (!d) return d.error();
    c.clientCertData = *d;
  }
  if (!c.clientKeyFile.empty()) {
    auto d = slurp(c.clientKeyFile, "client-key");
    if (!d) return d.error();
    c.clientKeyData = *d;
  }
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
    configureTls(probe, c);
  } catch (const std::exception& e) {
    return makeError(std::string("kube client TLS credentials (certificate-authority/client-certificate/client-key): ") +
                     e.what());
  }
  if (!c.tlsServerName.empty()) {
    logger.warn("tls-server-name is not supported by the HTTP client; verifying the server URL host instead",
                {{"tls_server_name", c.tlsServerName}});
  }
  std::unique_ptr<RestClient> rc(new RestClient(c, std::move(options), clock, std::move(logger)));
  http::client::http_client_config hc;
  hc.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(rc->options_.requestTimeout));
  hc.set_validate_certificates(!c.insecureSkipTlsVerify);
  hc.set_ssl_context_callback([c](boost::asio::ssl::context& ctx) { configureTls(ctx, c); });
  http::client::http_client_config wc = hc;
  wc.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(rc->options_.watchTimeout));
  try {
    rc->impl_ = std::make_unique<Impl>(c.server, hc, wc);
  } catch (const std::exception& e) {
    return makeError("kube client server \"" + c.server + "\": " + e.what());
  }
  return rc;
}

void RestClient::shutdown() {
  if (stopped_.exchange(true)) {
    return;
  }
  if (impl_) {
    impl_->cts.cancel();
  }
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

bool RestClient::sleepFor(Duration d) {
  if (d <= Duration::zero()) {
    return !stopped_.load();
  }
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopped_.load(); });
}

void RestClient::rateLimit() {
  Duration wait;
  {
    std::lock_guard lock(mu_);
    wait = limiter_.reserve(clock_.now());
  }
  sleepFor(wait);
}

ApiResult<HttpResponse> RestClient::once(const std::string& method, const std::string& path,
                                         const std::optional<std::string>& body, const std::string& contentType,
                                         TransportFailure& failure) {
  failure = TransportFailure::Unknown;
  if (stopped_.load()) {
    return transportError(method, path, "client shut down");
  }
  ++stats_.requests;
  try {
    http::http_request req(method);
    req.set_request_uri(path);
    req.headers().add("Accept", "application/json");
    req.headers().add("User-Agent", options_.userAgent);
    if (std::string t = tokens_.token(); !t.empty()) {
      req.headers().add("Authorization", "Bearer " + t);
    }
    if (body) {
      req.set_body(*body, contentType);
    }
    http::http_response resp = impl_->client.request(req, impl_->cts.get_token()).get();
    HttpResponse out;
    out.status = resp.status_code();
    if (resp.headers().has("Retry-After")) {
      out.retryAfter = resp.headers()["Retry-After"];
    }
    concurrency::streams::container_buffer<std::string> buf;
    resp.body().read_to_end(buf).get();
    out.body = std::move(buf.collection());
    return out;
  } catch (const http::http_exception& e) {
    // cpprestsdk's asio client reports every failed connect (refused, unreachable, connect
    // timeout) and a broken pipe while writing the request headers as EHOSTUNREACH: in both
    // cases no complete request reached the server.
    if (e.error_code() == std::errc::host_unreachable) {
      failure = TransportFailure::NotSent;
    }
    return transportError(method, path, stopped_.load() ? "client shut down" : e.what());
  } catch (const std::exception& e) {
    return transportError(method, path, stopped_.load() ? "client shut down" : e.what());
  }
}

ApiResult<HttpResponse> RestClient::request(const std::string& method, const std::string& path,
                                            const std::optional<std::string>& body, const std::string& contentType) {
  ExponentialBackoff backoff(options_.retryBackoff);
  bool tokenRetried = false;
  int retries = 0;
  const TimePoint started = clock_.now();
  for (;;) {
    rateLimit();
    TransportFailure failure = TransportFailure::Unknown;
    auto r = once(method, path, body, contentType, failure);
    if (stopped_.load()) {
      return r.ok() ? r : transportError(method, path, "client shut down");
    }
    RetryQuery q;
    q.method = method;
    q.retriesSoFar = retries;
    if (r.ok()) {
      ApiErrorKind kind = classifyHttpStatus(r->status);
      if (kind == ApiErrorKind::Unauthorized && !tokenRetried && tokens_.hasFile()) {
        // A 401 was not acted on: re-read the rotated token and try once more, any verb.
        tokenRetried = true;
        ++stats_.tokenRefreshes;
        tokens_.forceRefresh();
        logger_.info("401 from API server, re-read token file and retrying", {{"path", path}});
        continue;
      }
      if (kind != ApiErrorKind::TooManyRequests && kind != ApiErrorKind::ServerError) {
        return r;
      }
      q.httpStatus = r->status;
      q.retryAfter = parseRetryAfter(r->retryAfter);
      if (!q.retryAfter) {
        if (auto st = parseApiStatusText(r->body); st && st->retryAfterSeconds && *st->retryAfterSeconds >= 0) {
          q.retryAfter = std::chrono::seconds(std::min<int64_t>(*st->retryAfterSeconds, 3600));
        }
      }
    } else {
      q.transport = failure;
    }
    {
      std::lock_guard lock(mu_);
      q.backoff = backoff.next(clock_.now(), random_);
    }
    q.elapsed = clock_.now() - started;
    const RetryPlan plan = retryPlan(q, options_.maxRetries, options_.retryBudget);
    const std::string pathOnly = path.substr(0, path.find('?'));
    if (!plan.retry()) {
      ++stats_.notRetried;
      logger_.debug("API request failed, not retrying",
                    {{"method", method}, {"path", pathOnly}, {"status", q.httpStatus},
                     {"reason", std::string(toString(plan.decision))}});
      return r;
    }
    if (q.httpStatus == 0) {
      ++stats_.retriesTransport;
    } else {
      (q.httpStatus == 429 ? stats_.retries429 : stats_.retries5xx)++;
    }
    logger_.debug("retrying API request",
                  {{"method", method}, {"path", pathOnly}, {"status", q.httpStatus},
                   {"reason", std::string(toString(plan.decision))},
                   {"wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(plan.wait).count()}});
    ++retries;
    if (!sleepFor(plan.wait)) {
      return transportError(method, path, "client shut down");
    }
  }
}

ApiResult<nlohmann::json> RestClient::jsonCall(const std::string& method, const std::string& path,
                                               const std::optional<nlohmann::json>& body, const std::string& contentType) {
  std::optional<std::string> text;
  if (body) text = body->dump();
  auto r = request(method, path, text, contentType);
  if (!r.ok()) return r.error();
  if (classifyHttpStatus(r->status) != ApiErrorKind::None) {
    return httpError(method, path, *r);
  }
  if (r->body.empty()) {
    return nlohmann::json::object();
  }
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    return ApiError{ApiErrorKind::Other, r->status, method + " " + path + ": response is not JSON", std::nullopt};
  }
  return j;
}

ApiResult<nlohmann::json> RestClient::get(const std::string& path) { return jsonCall("GET", path, std::nullopt, ""); }

ApiResult<nlohmann::json> RestClient::create(const std::string& collectionPath, const nlohmann::json& body) {
  return jsonCall("POST", collectionPath, body, "application/json");
}

ApiResult<nlohmann::json> RestClient::update(const std::string& path, const nlohmann::json& body) {
  return jsonCall("PUT", path, body, "application/json");
}

ApiResult<nlohmann::json> RestClient::mergePatch(const std::string& path, const nlohmann::json& patch) {
  return jsonCall("PATCH", path, patch, "application/merge-patch+json");
}

ApiResult<nlohmann::json> RestClient::remove(const std::string& path) {
  return jsonCall("DELETE", path, std::nullopt, "");
}

ApiResult<nlohmann::json> RestClient::updateWithRetry(const std::string& path,
                                                      const std::function<Result<nlohmann::json>(nlohmann::json)>& mutate,
                                                      int attempts) {
  // The object lives at path without "/status"; the write goes to `path`.
  std::string readPath = path;
  if (readPath.size() > 7 && readPath.compare(readPath.size() - 7, 7, "/status") == 0) {
    readPath.resize(readPath.size() - 7);
  }
  ApiError last{ApiErrorKind::Conflict, 409, "PUT " + path + ": no attempt made", std::nullopt};
  for (int i = 0; i < std::max(1, attempts); ++i) {
    auto current = get(readPath);
    if (!current.ok()) return current.error();
    std::string rv;
    if (current->is_object() && current->contains("metadata") && (*current)["metadata"].is_object()) {
      rv = (*current)["metadata"].value("resourceVersion", "");
    }
    auto next = mutate(std::move(*current));
    if (!next.ok()) {
      return ApiError{ApiErrorKind::Other, 0, "update " + readPath + ": " + next.error().message, std::nullopt};
    }
    nlohmann::json body = std::move(*next);
    if (!body.is_object()) {
      return ApiError{ApiErrorKind::Other, 0, "update " + readPath + ": mutate returned a non-object", std::nullopt};
    }
    body["metadata"]["resourceVersion"] = rv;
    auto r = update(path, body);
    if (r.ok() || r.kind() != ApiErrorKind::Conflict) {
      return r;
    }
    last = r.error();
    logger_.debug("conflict on update, re-reading", {{"path", path}, {"attempt", i + 1}});
  }
  return last;
}

ApiResult<WatchEnd> RestClient::stream(const std::string& path, const std::function<bool(std::string_view)>& onChunk,
                                       const StreamCanceller* canceller) {
  bool tokenRetried = false;
  for (;;) {
    if (stopped_.load() || (canceller != nullptr && canceller->cancelled())) return WatchEnd::Stopped;
    rateLimit();
    ++stats_.requests;
    std::vector<pplx::cancellation_token> links{impl_->cts.get_token()};
    if (canceller != nullptr) links.push_back(canceller->state()->cts.get_token());
    pplx::cancellation_token_source local =
        pplx::cancellation_token_source::create_linked_source(links.begin(), links.end());
    try {
      http::http_request req(http::methods::GET);
      req.set_request_uri(path);
      req.headers().add("Accept", "application/json");
      req.headers().add("User-Agent", options_.userAgent);
      if (std::string t = tokens_.token(); !t.empty()) {
        req.headers().add("Authorization", "Bearer " + t);
      }
      http::http_response resp = impl_->watchClient.request(req, local.get_token()).get();
      if (resp.status_code() != 200) {
        HttpResponse out;
        out.status = resp.status_code();
        concurrency::streams::container_buffer<std::string> buf;
        resp.body().read_to_end(buf).get();
        out.body = std::move(buf.collection());
        if (out.status == 401 && !tokenRetried && tokens_.hasFile()) {
          tokenRetried = true;
          ++stats_.tokenRefreshes;
          tokens_.forceRefresh();
          continue;
        }
        return httpError("GET", path, out);
      }
      auto sb = resp.body().streambuf();
      std::string buf(64 * 1024, '\0');
      for (;;) {
        size_t n = sb.getn(reinterpret_cast<uint8_t*>(buf.data()), 1).get();
        if (n == 0) {
          return WatchEnd::Closed;
        }
        size_t avail = sb.in_avail();
        if (avail > 0) {
          // in_avail() bytes are buffered already: this getn completes without waiting.
          n += sb.getn(reinterpret_cast<uint8_t*>(buf.data()) + 1, std::min(avail, buf.size() - 1)).get();
        }
        if (!onChunk(std::string_view(buf.data(), n))) {
          local.cancel();
          return WatchEnd::Stopped;
        }
      }
    } catch (const std::exception& e) {
      local.cancel();
      if (stopped_.load() || (canceller != nullptr && canceller->cancelled())) return WatchEnd::Stopped;
      return transportError("GET", path, e.what());
    }
  }
}

}  // namespace carplb::controller::kube
