#include "kube_double/server.h"

#include "common/unique_fd.h"
#include "kube_double/table.h"
#include "kube_double/time_format.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ssl.hpp>
#include <cpprest/http_listener.h>
#include <cpprest/producerconsumerstream.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <sstream>

namespace carplb::kubedouble {

namespace {

using nlohmann::json;
using web::http::http_request;
using web::http::http_response;
using web::http::methods;
namespace listener = web::http::experimental::listener;

constexpr size_t MaxWatchBacklogBytes = 16 * 1024 * 1024;
constexpr const char* ServerVersion = "v1.36.0-carplb-kube-double";

// One watch response body. Events become JSON lines in a producer/consumer buffer that the
// listener streams out as HTTP chunks.
class StreamSink final : public WatchSink {
public:
  StreamSink(ResourceType type, bool table, const Clock& clock) : type_(std::move(type)), table_(table), clock_(clock) {}

  bool send(const WatchEvent& e) override {
    if (!buf_.can_write()) {
      return false;
    }
    if (buf_.in_avail() > MaxWatchBacklogBytes) {  // the client stopped reading
      buf_.close(std::ios_base::out).wait();
      return false;
    }
    json obj = e.object;
    if (table_) {
      const json md = {{"resourceVersion", e.object["metadata"].value("resourceVersion", "")}};
      if (e.type == "BOOKMARK") {
        obj = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", e.object["metadata"]},
               {"columnDefinitions", json::array()}, {"rows", json::array()}};
      } else {
        obj = renderTable(type_, {e.object}, clock_.wallNow(), TableOptions{true, first_});
        obj["metadata"] = md;
        first_ = false;
      }
    }
    write(json{{"type", e.type}, {"object", obj}}.dump() + "\n");
    return true;
  }

  void sendError(const ApiError& err) { write(json{{"type", "ERROR"}, {"object", err.toStatus()}}.dump() + "\n"); }

  void close() override {
    if (buf_.can_write()) {
      buf_.close(std::ios_base::out).wait();
    }
  }

  concurrency::streams::istream body() { return buf_.create_istream(); }

private:
  void write(const std::string& line) {
    buf_.putn_nocopy(reinterpret_cast<const uint8_t*>(line.data()), line.size()).wait();
    buf_.sync().wait();
  }

  ResourceType type_;
  bool table_;
  const Clock& clock_;
  bool first_ = true;
  concurrency::streams::producer_consumer_buffer<uint8_t> buf_;
};

struct Route {
  std::string group;
  std::string version;
  std::string ns;
  bool hasNamespace = false;
  std::string plural;
  std::string name;
  std::string subresource;
};

std::string header(const http_request& req, const char* name) {
  auto it = req.headers().find(name);
  return it == req.headers().end() ? std::string() : it->second;
}

json resourceListEntry(const ResourceType& t) {
  json e = {{"name", t.plural},
            {"singularName", t.singular},
            {"namespaced", t.namespaced},
            {"kind", t.kind},
            {"verbs", json::array({"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"})}};
  if (!t.shortNames.empty()) {
    e["shortNames"] = t.shortNames;
  }
  if (!t.categories.empty()) {
    e["categories"] = t.categories;
  }
  return e;
}

ApiResult<int> freePort(const std::string& host) {
  const bool v6 = host.find(':') != std::string::npos;
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0));
  if (!fd) {
    return ApiError{500, "InternalError", "listen: socket: " + std::string(std::strerror(errno)), {}};
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    if (::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) {
      return ApiError{400, "BadRequest", "listen: host \"" + host + "\" is not an IPv6 address", {}};
    }
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    if (::inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) {
      return ApiError{400, "BadRequest", "listen: host \"" + host + "\" is not an IPv4 address", {}};
    }
    len = sizeof(sockaddr_in);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return ApiError{500, "InternalError", "listen: bind " + host + ":0: " + std::strerror(errno), {}};
  }
  return ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

class Server::Impl {
public:
  Impl(Store& store, const Clock& clock, const Logger& logger, ServerOptions options)
      : store_(store), clock_(clock), log_(logger), options_(std::move(options)), faults_(options_.faults) {}

  ~Impl() { stop(); }

  Status open(int port) {
    port_ = port;
    listener::http_listener_config cfg;
    cfg.set_timeout(utility::seconds(3600));
    const bool tls = !options_.tlsCertFile.empty();
    if (tls) {
      std::string cert = options_.tlsCertFile;
      std::string key = options_.tlsKeyFile;
      cfg.set_ssl_context_callback([cert, key](boost::asio::ssl::context& ctx) {
        ctx.set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                        boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                        boost::asio::ssl::context::no_tlsv1_1);
        ctx.use_certificate_chain_file(cert);
        ctx.use_private_key_file(key, boost::asio::ssl::context::pem);
      });
    }
    std::string host = options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
    std::string uri = std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port) + "/";
    try {
      auto l = std::make_unique<listener::http_listener>(uri, cfg);
      l->support([this](http_request req) { handle(std::move(req)); });
      l->open().wait();
      std::lock_guard lock(listenerMu_);
      listener_ = std::move(l);
    } catch (const std::exception& e) {
      return makeError("listen " + uri + ": " + e.what(), true);
    }
    return okStatus();
  }

  void closeListener() {
    std::unique_ptr<listener::http_listener> l;
    {
      std::lock_guard lock(listenerMu_);
      l = std::move(listener_);
    }
    if (l) {
      try {
        l->close().wait();
      } catch (const std::exception& e) {
        log_.warn("listener close failed", {{"reason", e.what()}});
      }
    }
  }

  void startHousekeeping() {
    housekeeper_ = std::thread([this] { housekeeping(); });
  }

  void stop() {
    {
      std::lock_guard lock(hkMu_);
      if (stopping_) {
        return;
      }
      stopping_ = true;
    }
    hkCv_.notify_all();
    if (housekeeper_.joinable()) {
      housekeeper_.join();
    }
    store_.closeAllWatches();
    closeListener();
  }

  void setFaults(const Faults& f) {
    std::lock_guard lock(faultMu_);
    faults_ = f;
  }
  Faults faults() const {
    std::lock_guard lock(faultMu_);
    return faults_;
  }
  void requestRestart(bool forget) {
    {
      std::lock_guard lock(hkMu_);
      restartRequested_ = true;
      restartForget_ = restartForget_ || forget;
    }
    hkCv_.notify_all();
  }

  const std::string& host() const { return options_.host; }
  uint64_t deniedCount() const {
    std::lock_guard lock(ledgerMu_);
    return ledger_.deniedCount();
  }
  size_t dropWatches() { return store_.closeAllWatches(); }

  std::string url() const {
    std::string host = options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
    return std::string(options_.tlsCertFile.empty() ? "http://" : "https://") + host + ":" + std::to_string(port_);
  }

private:
  void housekeeping() {
    TimePoint lastBookmark = clock_.now();
    TimePoint lastDrop = clock_.now();
    std::unique_lock lock(hkMu_);
    while (!stopping_) {
      hkCv_.wait_for(lock, std::chrono::milliseconds(100));
      if (stopping_) {
        break;
      }
      bool restart = std::exchange(restartRequested_, false);
      bool forget = std::exchange(restartForget_, false);
      lock.unlock();
      const TimePoint now = clock_.now();
      store_.closeExpiredWatches(now);
      if (now - lastBookmark >= options_.bookmarkInterval) {
        store_.sendBookmarks();
        lastBookmark = now;
      }
      const auto every = faults().dropWatchesEvery;
      if (every.count() > 0 && now - lastDrop >= every) {
        size_t n = store_.closeAllWatches();
        log_.info("fault: dropped watches", {{"count", n}});
        lastDrop = now;
      }
      if (restart) {
        doRestart(forget);
      }
      lock.lock();
    }
  }

  void doRestart(bool forget) {
    // Closing the listener waits for requests in flight; a client that re-opens a watch right
    // after closeAllWatches() would hold it forever (the restart never completed). So: refuse
    // new API requests (503, like a server going away), and keep ending watch streams until
    // the listener is closed.
    refusing_.store(true);
    size_t n = store_.closeAllWatches();
    if (forget) {
      store_.compact();
    }
    auto closing = std::async(std::launch::async, [this] { closeListener(); });
    while (closing.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      n += store_.closeAllWatches();
    }
    auto s = open(port_);
    refusing_.store(false);
    restarts_.fetch_add(1);
    log_.info("fault: restarted", {{"watches", n}, {"forget_history", forget ? "true" : "false"},
                                   {"reason", s.ok() ? "ok" : s.error().message}});
  }

  void reply(http_request& req, int code, const json& body, const std::map<std::string, std::string>& headers = {}) {
    http_response resp(static_cast<web::http::status_code>(code));
    resp.set_body(body.dump());
    resp.headers().set_content_type("application/json");
    for (const auto& [k, v] : headers) {
      resp.headers().add(k, v);
    }
    req.reply(resp).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (...) {  // client went away
      }
    });
  }

  void replyError(http_request& req, const ApiError& err) {
    std::map<std::string, std::string> h;
    if (err.code == 429 || err.code == 503) {
      h["Retry-After"] = "1";
    }
    reply(req, err.code, err.toStatus(), h);
  }

  void handle(http_request req) {
    try {
      dispatch(req);
    } catch (const std::exception& e) {
      replyError(req, ApiError{500, "InternalError", std::string("internal error: ") + e.what(), {}});
    }
  }

  // Who sent the request: the administrator (superuser, never authorized), a token user, or
  // nobody known (401).
  std::optional<UserInfo> authenticate(const http_request& req) const {
    static const UserInfo admin{"carplb-kube-double:admin", {"system:masters", "system:authenticated"}, true};
    const std::string h = header(req, "Authorization");
    if (options_.token.empty() && options_.tokenUsers.empty()) {
      return admin;  // no authentication configured
    }
    if (h.empty()) {
      if (options_.token.empty()) return admin;  // open mode: only token users are restricted
      return std::nullopt;
    }
    if (h.rfind("Bearer ", 0) != 0) {
      return std::nullopt;
    }
    const std::string t = h.substr(7);
    if (!options_.token.empty() && t == options_.token) {
      return admin;
    }
    auto it = options_.tokenUsers.find(t);
    if (it == options_.tokenUsers.end()) {
      return std::nullopt;
    }
    return it->second;
  }

  // RBAC: true when the request may go on; otherwise answered with 403 and logged.
  bool authorize(http_request& req, const UserInfo& user, const std::string& path,
                 const std::map<std::string, std::string>& query) {
    if (!options_.rbac || user.superuser) {
      return true;
    }
    const RequestAttributes attrs = requestAttributes(std::string(req.method()), path, query);
    const Decision d = options_.rbac->authorize(user, attrs);
    {
      std::lock_guard lock(ledgerMu_);
      ledger_.record(user, attrs, d);
    }
    if (d.allowed) {
      return true;
    }
    const ApiError err = forbidden(user, attrs);
    log_.warn("forbidden", {{"user", user.name}, {"verb", attrs.verb}, {"api_group", attrs.apiGroup},
                            {"resource", attrs.resourceRequest ? attrs.combinedResource() : std::string()},
                            {"namespace", attrs.ns}, {"name", attrs.name}, {"path", path}, {"reason", err.message}});
    replyError(req, err);
    return false;
  }

public:
  json authzReport() const {
    if (!options_.rbac) {
      return json{{"users", json::array()}, {"enabled", false}};
    }
    std::vector<UserInfo> users;
    for (const auto& [token, u] : options_.tokenUsers) users.push_back(u);
    std::lock_guard lock(ledgerMu_);
    json r = ledger_.report(*options_.rbac, users);
    r["enabled"] = true;
    r["denied"] = ledger_.deniedCount();
    return r;
  }

private:

  // Returns true when the request was answered by an injected fault.
  bool injectFaults(http_request& req, const std::string& path) {
    Faults f;
    bool fail = false;
    {
      std::lock_guard lock(faultMu_);
      f = faults_;
      if (faults_.failCount > 0 && path.rfind(faults_.failPathPrefix, 0) == 0 &&
          (faults_.failMethod.empty() || faults_.failMethod == std::string(req.method()))) {
        --faults_.failCount;
        fail = true;
      }
    }
    if (f.latency.count() > 0) {
      std::this_thread::sleep_for(f.latency);
    }
    if (!fail) {
      return false;
    }
    std::string reason = "InternalError";
    if (f.failCode == 429) reason = "TooManyRequests";
    if (f.failCode == 503) reason = "ServiceUnavailable";
    if (f.failCode == 409) reason = req.method() == methods::POST ? "AlreadyExists" : "Conflict";
    ApiError err{f.failCode, reason, "injected fault (carplb-kube-double)", {}};
    std::map<std::string, std::string> h;
    if (f.retryAfterSeconds > 0) {
      h["Retry-After"] = std::to_string(f.retryAfterSeconds);
      err.details = {{"retryAfterSeconds", f.retryAfterSeconds}};
    }
    reply(req, f.failCode, err.toStatus(), h);
    return true;
  }

  void dispatch(http_request& req) {
    const std::string rawPath = req.relative_uri().path();
    const std::string path = web::uri::decode(rawPath);
    std::map<std::string, std::string> query;
    for (const auto& [k, v] : web::uri::split_query(req.relative_uri().query())) {
      query[web::uri::decode(k)] = web::uri::decode(v);
    }
    if (path == "/healthz" || path == "/livez" || path == "/readyz") {
      http_response resp(web::http::status_codes::OK);
      resp.set_body(std::string("ok"));
      req.reply(resp);
      return;
    }
    if (refusing_.load() && path.rfind("/_double/", 0) != 0) {
      replyError(req, ApiError{503, "ServiceUnavailable", "the server is restarting (carplb-kube-double)", {}});
      return;
    }
    const auto user = authenticate(req);
    if (!user) {
      replyError(req, ApiError{401, "Unauthorized", "Unauthorized", {}});
      return;
    }
    if (path.rfind("/_double/", 0) == 0) {
      if (!user->superuser) {
        replyError(req, ApiError{403, "Forbidden", "forbidden: User \"" + user->name + "\" cannot use the double's "
                                 "control endpoint " + path + " (administrator only)", {}});
        return;
      }
      handleControl(req, path);
      return;
    }
    if (!authorize(req, *user, path, query)) {
      return;
    }
    if (injectFaults(req, path)) {
      return;
    }
    const auto method = req.method();
    if (path == "/version" || path == "/version/") {
      reply(req, 200, json{{"major", "1"}, {"minor", "36"}, {"gitVersion", ServerVersion}, {"gitCommit", "0"},
                           {"gitTreeState", "clean"}, {"buildDate", "2026-01-01T00:00:00Z"}, {"goVersion", "go1.25"},
                           {"compiler", "gc"}, {"platform", "linux/amd64"}});
      return;
    }
    if (path.rfind("/openapi/", 0) == 0) {
      handleOpenApi(req, path);
      return;
    }
    auto segs = web::uri::split_path(path);
    if (segs.empty() || (segs[0] != "api" && segs[0] != "apis")) {
      replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource", {}});
      return;
    }
    if (method == methods::GET && handleDiscovery(req, segs)) {
      return;
    }
    Route r;
    size_t i;
    if (segs[0] == "api") {
      if (segs.size() < 2) {
        replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource", {}});
        return;
      }
      r.version = segs[1];
      i = 2;
    } else {
      if (segs.size() < 3) {
        replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource", {}});
        return;
      }
      r.group = segs[1];
      r.version = segs[2];
      i = 3;
    }
    std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
    if (rest.size() >= 3 && rest[0] == "namespaces" && !(rest.size() == 3 && rest[2] == "status" && r.group.empty())) {
      r.hasNamespace = true;
      r.ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
    if (rest.empty() || rest.size() > 3) {
      replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource", {}});
      return;
    }
    r.plural = rest[0];
    if (rest.size() >= 2) {
      r.name = rest[1];
    }
    if (rest.size() == 3) {
      r.subresource = rest[2];
    }
    auto type = store_.findType(r.group, r.version, r.plural);
    if (!type || (r.hasNamespace && !type->namespaced) || (!r.subresource.empty() && r.subresource != "status") ||
        (r.subresource == "status" && !type->hasStatus)) {
      replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource", {}});
      return;
    }
    handleResource(req, *type, r, query);
  }

  void handleControl(http_request& req, const std::string& path) {
    json body = json::object();
    if (req.method() == methods::POST) {
      std::string text = req.extract_utf8string(true).get();
      if (!text.empty()) {
        body = json::parse(text, nullptr, false);
        if (body.is_discarded() || !body.is_object()) {
          replyError(req, badRequest("/_double: body must be a JSON object"));
          return;
        }
      }
    }
    if (path == "/_double/faults" && req.method() == methods::POST) {
      Faults f = faults();
      if (body.contains("latencyMs") && body["latencyMs"].is_number_integer()) {
        f.latency = std::chrono::milliseconds(body["latencyMs"].get<int>());
      }
      if (body.contains("failNext") && body["failNext"].is_object()) {
        const json& fn = body["failNext"];
        f.failCode = fn.value("code", 500);
        f.failCount = fn.value("count", 1);
        f.retryAfterSeconds = fn.value("retryAfter", 0);
        f.failPathPrefix = fn.value("pathPrefix", "");
        f.failMethod = fn.value("method", "");
      }
      if (body.contains("dropWatchesEverySeconds") && body["dropWatchesEverySeconds"].is_number_integer()) {
        f.dropWatchesEvery = std::chrono::seconds(body["dropWatchesEverySeconds"].get<int>());
      }
      setFaults(f);
      size_t dropped = 0;
      if (body.value("dropWatchesNow", false)) {
        dropped = store_.closeAllWatches();
      }
      log_.info("faults set", {{"latency_ms", static_cast<long>(f.latency.count())}, {"fail_code", f.failCode},
                               {"fail_count", f.failCount}, {"dropped", dropped}});
      reply(req, 200, json{{"latencyMs", f.latency.count()}, {"failNext", {{"code", f.failCode}, {"count", f.failCount},
                           {"retryAfter", f.retryAfterSeconds}, {"pathPrefix", f.failPathPrefix},
                           {"method", f.failMethod}}},
                           {"dropWatchesEverySeconds", f.dropWatchesEvery.count()}, {"droppedWatches", dropped}});
      return;
    }
    if (path == "/_double/compact" && req.method() == methods::POST) {
      store_.compact();
      reply(req, 200, json{{"compactedAt", std::to_string(store_.currentRv())}});
      return;
    }
    if (path == "/_double/restart" && req.method() == methods::POST) {
      reply(req, 202, json{{"restarting", true}, {"forgetHistory", body.value("forgetHistory", false)}});
      requestRestart(body.value("forgetHistory", false));
      return;
    }
    if (path == "/_double/state" && req.method() == methods::GET) {
      Faults f = faults();
      reply(req, 200, json{{"resourceVersion", std::to_string(store_.currentRv())}, {"watchers", store_.watcherCount()},
                           {"failNextRemaining", f.failCount}, {"latencyMs", f.latency.count()},
                           {"restarts", restarts_.load()}, {"forbidden", deniedCount()}});
      return;
    }
    if (path == "/_double/authz" && req.method() == methods::GET) {
      reply(req, 200, authzReport());
      return;
    }
    replyError(req, ApiError{404, "NotFound", "unknown control endpoint " + path +
                             " (POST /_double/faults, /_double/compact, /_double/restart; GET /_double/state)", {}});
  }

  // A minimal OpenAPI v3 surface: the root lists every group/version, and each group/version
  // document holds one PATCH operation per kind declaring the fieldValidation parameter.
  // That is what kubectl's QueryParamVerifierV3 looks for: kubectl then sends
  // ?fieldValidation=Strict instead of downloading schemas for client-side validation.
  // No component schemas are served, so kubectl computes apply patches from its built-in
  // types (strategic merge) or falls back to JSON merge patch for custom resources.
  bool handleOpenApiV3(http_request& req, const std::string& path) {
    const auto types = store_.types();
    std::string typeNames;
    for (const auto& t : types) {
      typeNames += t.key() + t.version + ";";
    }
    const std::string hash = std::to_string(std::hash<std::string>{}(typeNames));
    auto gvPath = [](const ResourceType& t) { return t.group.empty() ? "api/" + t.version : "apis/" + t.group + "/" + t.version; };
    if (path == "/openapi/v3" || path == "/openapi/v3/") {
      json paths = json::object();
      for (const auto& t : types) {
        paths[gvPath(t)] = {{"serverRelativeURL", "/openapi/v3/" + gvPath(t) + "?hash=" + hash}};
      }
      reply(req, 200, json{{"paths", paths}});
      return true;
    }
    const std::string want = path.substr(std::string("/openapi/v3/").size());
    json paths = json::object();
    for (const auto& t : types) {
      if (gvPath(t) != want) {
        continue;
      }
      std::string p = "/" + gvPath(t) + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural + "/{name}";
      json op = {{"operationId", "patch" + t.kind},
                 {"parameters", json::array({{{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
                                             {{"name", "fieldManager"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
                                             {{"name", "dryRun"}, {"in", "query"}, {"schema", {{"type", "string"}}}}})},
                 {"responses", {{"200", {{"description", "OK"}}}}},
                 {"x-kubernetes-action", "patch"},
                 {"x-kubernetes-group-version-kind", {{"group", t.group}, {"version", t.version}, {"kind", t.kind}}}};
      paths[p] = {{"patch", op}};
    }
    if (paths.empty()) {
      return false;
    }
    reply(req, 200, json{{"openapi", "3.0.0"}, {"info", {{"title", "carplb-kube-double"}, {"version", ServerVersion}}},
                         {"paths", paths}, {"components", {{"schemas", json::object()}}}});
    return true;
  }

  void handleOpenApi(http_request& req, const std::string& path) {
    if (path.rfind("/openapi/v3", 0) == 0 && handleOpenApiV3(req, path)) {
      return;
    }
    const std::string accept = header(req, "Accept");
    if (path == "/openapi/v2" && !options_.openapiFile.empty() &&
        (accept.empty() || accept.find("application/json") != std::string::npos || accept.find("*/*") != std::string::npos)) {
      std::ifstream in(options_.openapiFile);
      std::stringstream ss;
      ss << in.rdbuf();
      http_response resp(web::http::status_codes::OK);
      resp.set_body(ss.str());
      resp.headers().set_content_type("application/json");
      req.reply(resp);
      return;
    }
    replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource (the double serves "
                             "no OpenAPI in this format)", {}});
  }

  bool handleDiscovery(http_request& req, const std::vector<std::string>& segs) {
    const auto types = store_.types();
    if (segs.size() == 1 && segs[0] == "api") {
      reply(req, 200, json{{"kind", "APIVersions"}, {"versions", {"v1"}},
                           {"serverAddressByClientCIDRs", json::array({{{"clientCIDR", "0.0.0.0/0"},
                                                                        {"serverAddress", options_.host + ":" + std::to_string(port_)}}})}});
      return true;
    }
    auto groupJson = [&](const std::string& g) {
      std::string version;
      for (const auto& t : types) {
        if (t.group == g) {
          version = t.version;
        }
      }
      json gv = {{"groupVersion", g + "/" + version}, {"version", version}};
      return json{{"name", g}, {"versions", json::array({gv})}, {"preferredVersion", gv}};
    };
    if (segs.size() == 1 && segs[0] == "apis") {
      json groups = json::array();
      std::vector<std::string> seen;
      for (const auto& t : types) {
        if (!t.group.empty() && std::find(seen.begin(), seen.end(), t.group) == seen.end()) {
          seen.push_back(t.group);
          groups.push_back(groupJson(t.group));
        }
      }
      reply(req, 200, json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
      return true;
    }
    if (segs.size() == 2 && segs[0] == "apis") {
      for (const auto& t : types) {
        if (t.group == segs[1]) {
          json g = groupJson(segs[1]);
          g["kind"] = "APIGroup";
          g["apiVersion"] = "v1";
          reply(req, 200, g);
          return true;
        }
      }
      replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource", {}});
      return true;
    }
    std::string group;
    std::string version;
    if (segs.size() == 2 && segs[0] == "api") {
      version = segs[1];
    } else if (segs.size() == 3 && segs[0] == "apis") {
      group = segs[1];
      version = segs[2];
    } else {
      return false;
    }
    json resources = json::array();
    for (const auto& t : types) {
      if (t.group == group && t.version == version) {
        resources.push_back(resourceListEntry(t));
        if (t.hasStatus) {
          resources.push_back(json{{"name", t.plural + "/status"}, {"singularName", ""}, {"namespaced", t.namespaced},
                                   {"kind", t.kind}, {"verbs", {"get", "patch", "update"}}});
        }
      }
    }
    if (resources.empty()) {
      replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource", {}});
      return true;
    }
    reply(req, 200, json{{"kind", "APIResourceList"}, {"apiVersion", "v1"},
                         {"groupVersion", group.empty() ? version : group + "/" + version}, {"resources", resources}});
    return true;
  }

  ApiResult<Filter> filterFrom(const Route& r, const std::map<std::string, std::string>& q) {
    Filter f;
    f.ns = r.ns;
    auto it = q.find("labelSelector");
    if (it != q.end()) {
      auto s = Selector::parseLabels(it->second);
      if (!s) {
        return s.error();
      }
      f.labels = s.value();
    }
    it = q.find("fieldSelector");
    if (it != q.end()) {
      auto s = Selector::parseFields(it->second);
      if (!s) {
        return s.error();
      }
      f.fields = s.value();
    }
    return f;
  }

  static ApiResult<json> parseBody(http_request& req) {
    std::string text = req.extract_utf8string(true).get();
    if (text.empty()) {
      return json::object();
    }
    json body = json::parse(text, nullptr, false);
    if (body.is_discarded()) {
      return badRequest("request body is not valid JSON (the double accepts JSON only, not YAML or protobuf)");
    }
    return body;
  }

  void handleResource(http_request& req, const ResourceType& type, const Route& r,
                      const std::map<std::string, std::string>& q) {
    const auto method = req.method();
    const bool table = header(req, "Accept").find("as=Table") != std::string::npos;
    const Subresource sub = r.subresource == "status" ? Subresource::Status : Subresource::None;
    auto qv = [&](const char* k) {
      auto it = q.find(k);
      return it == q.end() ? std::string() : it->second;
    };
    TableOptions topts;
    topts.includeObject = qv("includeObject") != "None";
    if (type.namespaced && !r.hasNamespace && !r.name.empty()) {
      replyError(req, ApiError{404, "NotFound", "the server could not find the requested resource", {}});
      return;
    }
    auto respondObject = [&](int code, const json& obj) {
      if (table) {
        json t = renderTable(type, {obj}, clock_.wallNow(), topts);
        t["metadata"]["resourceVersion"] = obj["metadata"].value("resourceVersion", "");
        reply(req, code, t);
      } else {
        reply(req, code, obj);
      }
    };
    if (r.name.empty()) {
      auto filter = filterFrom(r, q);
      if (!filter) {
        replyError(req, filter.error());
        return;
      }
      if (method == methods::GET) {
        const std::string watch = qv("watch");
        if (watch == "true" || watch == "1") {
          startWatch(req, type, filter.value(), q, table);
          return;
        }
        ListRequest lr;
        lr.filter = filter.value();
        lr.continueToken = qv("continue");
        lr.resourceVersion = qv("resourceVersion");
        const std::string limit = qv("limit");
        if (!limit.empty()) {
          try {
            lr.limit = static_cast<size_t>(std::stoul(limit));
          } catch (const std::exception&) {
            replyError(req, badRequest("limit: invalid value \"" + limit + "\""));
            return;
          }
        }
        auto l = store_.list(type, lr);
        if (!l) {
          replyError(req, l.error());
          return;
        }
        json md = {{"resourceVersion", l->resourceVersion}};
        if (!l->continueToken.empty()) {
          md["continue"] = l->continueToken;
        }
        if (table) {
          json t = renderTable(type, l->items, clock_.wallNow(), topts);
          t["metadata"] = md;
          reply(req, 200, t);
        } else {
          reply(req, 200, json{{"kind", type.listKind}, {"apiVersion", type.groupVersion()}, {"metadata", md},
                               {"items", l->items}});
        }
        return;
      }
      if (method == methods::POST) {
        if (type.namespaced && !r.hasNamespace) {
          replyError(req, methodNotAllowed("POST " + type.plural + ": a namespace is required in the path"));
          return;
        }
        auto body = parseBody(req);
        if (!body) {
          replyError(req, body.error());
          return;
        }
        auto created = store_.create(type, r.ns, std::move(body).value());
        if (!created) {
          replyError(req, created.error());
          return;
        }
        respondObject(201, created.value());
        return;
      }
      if (method == methods::DEL) {
        auto removed = store_.removeCollection(type, filter.value());
        if (!removed) {
          replyError(req, removed.error());
          return;
        }
        reply(req, 200, json{{"kind", type.listKind}, {"apiVersion", type.groupVersion()},
                             {"metadata", {{"resourceVersion", removed->resourceVersion}}}, {"items", removed->items}});
        return;
      }
      replyError(req, methodNotAllowed(std::string(method) + " is not supported on a collection"));
      return;
    }
    if (method == methods::GET) {
      auto got = store_.get(type, r.ns, r.name);
      if (!got) {
        replyError(req, got.error());
        return;
      }
      respondObject(200, got.value());
      return;
    }
    if (method == methods::PUT || method == methods::PATCH || method == methods::DEL) {
      auto body = parseBody(req);
      if (!body) {
        replyError(req, body.error());
        return;
      }
      ApiResult<json> result = json();
      if (method == methods::PUT) {
        result = store_.update(type, r.ns, r.name, std::move(body).value(), sub);
      } else if (method == methods::PATCH) {
        auto pt = patchTypeFromContentType(header(req, "Content-Type"));
        if (!pt) {
          replyError(req, pt.error());
          return;
        }
        result = store_.patch(type, r.ns, r.name, body.value(), pt.value(), sub);
      } else {
        if (sub != Subresource::None) {
          replyError(req, methodNotAllowed("DELETE is not supported on /status"));
          return;
        }
        result = store_.remove(type, r.ns, r.name, body.value());
      }
      if (!result) {
        replyError(req, result.error());
        return;
      }
      respondObject(200, result.value());
      return;
    }
    replyError(req, methodNotAllowed(std::string(method) + " is not supported"));
  }

  void startWatch(http_request& req, const ResourceType& type, const Filter& filter,
                  const std::map<std::string, std::string>& q, bool table) {
    WatchRequest wr;
    wr.filter = filter;
    auto it = q.find("resourceVersion");
    wr.resourceVersion = it == q.end() ? "" : it->second;
    it = q.find("allowWatchBookmarks");
    wr.bookmarks = it != q.end() && (it->second == "true" || it->second == "1");
    it = q.find("sendInitialEvents");
    wr.sendInitialEvents = it != q.end() && (it->second == "true" || it->second == "1");
    if (wr.sendInitialEvents && !wr.bookmarks) {
      replyError(req, invalid("ListOptions", "", "allowWatchBookmarks: Required value: sendInitialEvents requires "
                              "allowWatchBookmarks=true"));
      return;
    }
    auto timeout = options_.defaultWatchTimeout;
    it = q.find("timeoutSeconds");
    if (it != q.end()) {
      try {
        timeout = std::chrono::seconds(std::stol(it->second));
      } catch (const std::exception&) {
        replyError(req, badRequest("timeoutSeconds: invalid value \"" + it->second + "\""));
        return;
      }
    }
    wr.deadline = clock_.now() + timeout;
    auto sink = std::make_shared<StreamSink>(type, table, clock_);
    auto id = store_.watch(type, wr, sink);
    if (!id) {
      if (id.error().code != 410) {
        replyError(req, id.error());
        return;
      }
      sink->sendError(id.error());  // like the real server: HTTP 200, then an ERROR event
      sink->close();
    }
    http_response resp(web::http::status_codes::OK);
    resp.set_body(sink->body(), "application/json");
    resp.headers().set_content_type("application/json");
    const uint64_t watchId = id ? id.value() : 0;
    // The reply completes when the stream ended or writing to the client failed (it went
    // away): either way the watcher is done.
    Store* store = &store_;  // outlives the server (see server.h)
    req.reply(resp).then([store, watchId](pplx::task<void> t) {
      try {
        t.get();
      } catch (...) {  // client went away
      }
      if (watchId != 0) {
        store->cancelWatch(watchId);
      }
    });
  }

  Store& store_;
  const Clock& clock_;
  Logger log_;
  ServerOptions options_;
  int port_ = 0;

  mutable std::mutex faultMu_;
  Faults faults_;

  std::mutex listenerMu_;
  std::unique_ptr<listener::http_listener> listener_;

  std::mutex hkMu_;
  std::condition_variable hkCv_;
  bool stopping_ = false;
  bool restartRequested_ = false;
  bool restartForget_ = false;
  std::atomic<int> restarts_{0};  // completed restarts, for /_double/state
  std::atomic<bool> refusing_{false};  // during a restart: API requests get 503

  mutable std::mutex ledgerMu_;
  AuthzLedger ledger_;
  std::thread housekeeper_;
};

Server::Server(Store& store, const Clock& clock, const Logger& logger, ServerOptions options)
    : impl_(std::make_unique<Impl>(store, clock, logger, options)), port_(options.port) {}

Server::~Server() = default;

Status Server::start() {
  Status last = makeError("listen: no attempt made");
  for (int attempt = 0; attempt < 5; ++attempt) {
    int port = port_;
    if (port == 0) {
      auto p = freePort(impl_->host());
      if (!p) {
        return makeError(p.error().message);
      }
      port = p.value();
    }
    last = impl_->open(port);
    if (last.ok()) {
      port_ = port;
      impl_->startHousekeeping();
      return last;
    }
    if (port_ != 0) {
      break;
    }
  }
  return last;
}

void Server::stop() { impl_->stop(); }
std::string Server::url() const { return impl_->url(); }
void Server::setFaults(const Faults& f) { impl_->setFaults(f); }
Faults Server::faults() const { return impl_->faults(); }
size_t Server::dropWatches() { return impl_->dropWatches(); }
void Server::requestRestart(bool forgetHistory) { impl_->requestRestart(forgetHistory); }
nlohmann::json Server::authzReport() const { return impl_->authzReport(); }

}  // namespace carplb::kubedouble
