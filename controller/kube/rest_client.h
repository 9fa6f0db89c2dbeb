#pragma once
// SHELL: the Kubernetes REST client on cpprestsdk.
//
//  - TLS: CA file/data, client certificate + key (file or data), insecure-skip-tls-verify;
//    bearer token from a TokenSource (static or rotated file; re-read and retried once on 401).
//  - Client-side rate limit: token bucket (default 5 QPS, burst 10, client-go's defaults);
//    watches are not rate limited after they start.
//  - Retries (see retryPlan(); client-go's rules, bounded so one request never holds the
//    controller's single worker for long):
//      * any verb: 429/5xx carrying a Retry-After (header, or Status details.retryAfterSeconds)
//        -- the server asked us to come back; and a connection that failed before the request
//        was sent (refused/unreachable) -- the server never saw it;
//      * GET/HEAD only: 5xx and 429 without Retry-After, and other transport errors (reset,
//        EOF, timeout), with jittered exponential backoff;
//      * writes (POST/PUT/PATCH/DELETE) on a plain 5xx or a broken connection come back at
//        once: the server may have acted on them; the caller's work queue retries.
//    At most `maxRetries` retries, and no retry whose wait would end more than `retryBudget`
//    after the first attempt. Other errors come back as ApiError at once. (Below this policy,
//    cpprestsdk re-sends any request once when a reused keep-alive connection ends before a
//    status line; see docs/kube-client.md.)
//  - Timeouts (cpprestsdk's, per connection pool): `requestTimeout` (default 70 s, just above
//    kube-apiserver's own 60 s --request-timeout) for every call but stream(), so a hung
//    server cannot hold a caller for long; `watchTimeout` (default 11 min) for stream():
//    longer than any watch timeoutSeconds we ask for (<= 600 s).
//
// Threading: all methods are thread-safe and blocking; call them from worker threads, never
// from a cpprestsdk callback. shutdown() cancels in-flight requests and waits, and makes every
// later call fail with ApiErrorKind::Transport ("client shut down").
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/clock.h"
#include "common/log.h"
#include "common/random.h"
#include "common/result.h"
#include "controller/kube/model/api_status.h"
#include "controller/kube/model/backoff.h"
#include "controller/kube/model/kubeconfig.h"
#include "controller/kube/token_source.h"

namespace carplb::controller::kube {

struct ApiError {
  ApiErrorKind kind = ApiErrorKind::Other;
  int httpStatus = 0;  // 0 for transport errors
  std::string message;  // "PUT /api/v1/namespaces/default/services/web: 409 Conflict: ..."
  std::optional<ApiStatus> status;
  Error toError() const { return Error{message, isRetryable(kind)}; }
};

template <typename T>
class [[nodiscard]] ApiResult {
public:
  ApiResult(T value) : v_(std::move(value)) {}      // NOLINT
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const ApiError& error() const { return std::get<1>(v_); }
  ApiErrorKind kind() const { return ok() ? ApiErrorKind::None : error().kind; }

private:
  std::variant<T, ApiError> v_;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retryAfter;  // raw Retry-After header
};

// How a request failed below HTTP.
enum class TransportFailure {
  NotSent,  // connect refused/unreachable, or the request headers could not be written
  Unknown,  // reset, EOF, timeout, TLS...: the server may have received and acted on it
};

enum class RetryDecision {
  NotRetryable,      // success, a final status (4xx), or a write the server may have applied
  RetriesExhausted,  // maxRetries retries made already
  OverBudget,        // the wait would end past the retry budget
  ServerRetryAfter,  // 429/5xx with Retry-After: the server asked us to come back (any verb)
  ReadBackoff,       // GET/HEAD: 5xx, 429 without Retry-After or a transport error: back off
  NotSent,           // nothing reached the server (any verb): back off
};
std::string_view toString(RetryDecision d);

struct RetryQuery {
  std::string_view method;                // "GET", "POST", ...
  int retriesSoFar = 0;
  int httpStatus = 0;                     // 0 for a transport failure
  TransportFailure transport = TransportFailure::Unknown;  // when httpStatus == 0
  std::optional<Duration> retryAfter;     // the server's Retry-After, if any
  Duration backoff{};                     // our next jittered backoff delay
  Duration elapsed{};                     // since the first attempt started
};

struct RetryPlan {
  RetryDecision decision = RetryDecision::NotRetryable;
  Duration wait{};  // before the next attempt, when retry()
  bool retry() const {
    return decision == RetryDecision::ServerRetryAfter || decision == RetryDecision::ReadBackoff ||
           decision == RetryDecision::NotSent;
  }
};

// Pure: whether and when to send a failed request again.
RetryPlan retryPlan(const RetryQuery& q, int maxRetries, Duration retryBudget);

struct RestClientOptions {
  Duration requestTimeout = std::chrono::seconds(70);
  Duration watchTimeout = std::chrono::minutes(11);
  double qps = 5.0;
  int burst = 10;
  int maxRetries = 5;
  // Retries stop once the next wait would end this long after the first attempt.
  Duration retryBudget = std::chrono::seconds(10);
  ExponentialBackoff::Options retryBackoff{.initial = std::chrono::milliseconds(200),
                                           .max = std::chrono::seconds(4)};
  Duration tokenRefresh = std::chrono::seconds(60);
  std::string userAgent = "carplb-controller";
};

// Cancels one stream() from another thread (e.g. an informer's stop()). Cancelling is final.
class StreamCanceller {
public:
  StreamCanceller();
  ~StreamCanceller();
  void cancel();
  bool cancelled() const;
  struct State;
  std::shared_ptr<State> state() const { return state_; }

private:
  std::shared_ptr<State> state_;
};

enum class WatchEnd {
  Closed,    // server ended the stream cleanly (timeoutSeconds ran out): watch again, no relist
  Stopped,   // the chunk callback asked to stop, or the client shut down
};

class RestClient {
public:
  // Validates the config (reads CA/cert/key files now so errors name them).
  static Result<std::unique_ptr<RestClient>> create(const ClientConfig& config, RestClientOptions options,
                                                    const Clock& clock, Logger logger);
  ~RestClient();
  RestClient(const RestClient&) = delete;
  RestClient& operator=(const RestClient&) = delete;

  // `path` is absolute and may carry a query ("/api/v1/services?limit=500").
  ApiResult<nlohmann::json> get(const std::string& path);
  ApiResult<nlohmann::json> create(const std::string& collectionPath, const nlohmann::json& body);
  // PUT; the body must carry metadata.resourceVersion (Leases and CRs reject a PUT without it).
  ApiResult<nlohmann::json> update(const std::string& path, const nlohmann::json& body);
  // application/merge-patch+json; put metadata.resourceVersion in the patch for a precondition.
  ApiResult<nlohmann::json> mergePatch(const std::string& path, const nlohmann::json& patch);
  ApiResult<nlohmann::json> remove(const std::string& path);

  // GET -> mutate -> PUT with the fetched resourceVersion; on 409 re-read and try again, up to
  // `attempts` times. `mutate` returns the new object (start from its argument, so unknown
  // fields survive) or an Error to abort. Use path + "/status" for the status subresource.
  ApiResult<nlohmann::json> updateWithRetry(const std::string& path,
                                            const std::function<Result<nlohmann::json>(nlohmann::json)>& mutate,
                                            int attempts = 5);

  // One raw request with the retry policy above.
  ApiResult<HttpResponse> request(const std::string& method, const std::string& path,
                                  const std::optional<std::string>& body, const std::string& contentType);

  // Opens a watch (path must include watch=true) and passes raw body bytes to `onChunk` as they
  // arrive (chunks need not align with lines: use LineSplitter). onChunk returns false to stop.
  // An HTTP error status (e.g. 410) comes back as ApiError; so does a broken connection.
  ApiResult<WatchEnd> stream(const std::string& path, const std::function<bool(std::string_view)>& onChunk,
                             const StreamCanceller* canceller = nullptr);

  // Cancels in-flight requests and interrupts retry waits. Idempotent.
  void shutdown();
  bool isShutdown() const { return stopped_.load(); }
  // Sleeps up to d unless shutdown() happens first; false when interrupted.
  bool sleepFor(Duration d);

  const ClientConfig& config() const { return config_; }
  const Clock& clock() const { return clock_; }
  const Logger& logger() const { return logger_; }

  // Counters (for tests and metrics).
  struct Stats {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> retries429{0};
    std::atomic<uint64_t> retries5xx{0};
    std::atomic<uint64_t> retriesTransport{0};
    // Failures returned without a retry although the status class is retryable for reads
    // (a write on a plain 5xx or broken connection, budget or retries used up).
    std::atomic<uint64_t> notRetried{0};
    std::atomic<uint64_t> tokenRefreshes{0};
  };
  const Stats& stats() const { return stats_; }

private:
  struct Impl;
  RestClient(const ClientConfig& config, RestClientOptions options, const Clock& clock, Logger logger);
  ApiResult<HttpResponse> once(const std::string& method, const std::string& path,
                               const std::optional<std::string>& body, const std::string& contentType,
                               TransportFailure& failure);
  ApiResult<nlohmann::json> jsonCall(const std::string& method, const std::string& path,
                                     const std::optional<nlohmann::json>& body, const std::string& contentType);
  void rateLimit();

  ClientConfig config_;
  RestClientOptions options_;
  const Clock& clock_;
  Logger logger_;
  TokenSource tokens_;
  std::unique_ptr<Impl> impl_;
  std::mutex mu_;  // guards limiter_, random_, backoff use
  std::condition_variable cv_;
  TokenBucket limiter_;
  SystemRandom random_;
  std::atomic<bool> stopped_{false};
  Stats stats_;
};

// Helpers to build paths: apiPath("", "v1", "services", "default", "web") ->
// /api/v1/namespaces/default/services/web; group "coordination.k8s.io" -> /apis/...
std::string apiPath(const std::string& group, const std::string& version, const std::string& plural,
                    const std::string& ns = {}, const std::string& name = {});
// Percent-encodes a query value.
std::string queryEscape(const std::string& v);

}  // namespace carplb::controller::kube
