#pragma once
// Structured logging: one line per record, logfmt style:
//   ts=2026-11-25T14:58:56.123Z level=info component=agent msg="state change" vhid=7 from=BACKUP to=MASTER reason=master_down
// A Logger is passed in (no global). Cores never log: they return reasons, shells log them.
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carplb {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  LogField(std::string_view k, N v) : key(k), value(std::to_string(v)) {}
  std::string key;
  std::string value;
};

using LogFields = std::vector<LogField>;

// Sink receives fully formatted lines (without trailing newline). Thread-safe use is
// the Logger's job: it serialises calls to the sink.
using LogSink = std::function<void(std::string_view line)>;

class Logger {
public:
  // Writes to stderr.
  explicit Logger(std::string component, LogLevel min = LogLevel::Info);
  Logger(std::string component, LogLevel min, LogSink sink);

  // A child logger with another component name sharing the sink and level.
  Logger child(std::string component) const;

  void log(LogLevel level, std::string_view msg, const LogFields& fields = {}) const;
  void debug(std::string_view msg, const LogFields& fields = {}) const { log(LogLevel::Debug, msg, fields); }
  void info(std::string_view msg, const LogFields& fields = {}) const { log(LogLevel::Info, msg, fields); }
  void warn(std::string_view msg, const LogFields& fields = {}) const { log(LogLevel::Warn, msg, fields); }
  void error(std::string_view msg, const LogFields& fields = {}) const { log(LogLevel::Error, msg, fields); }
  bool enabled(LogLevel level) const { return level >= shared_->min; }
  void setLevel(LogLevel level) { shared_->min = level; }

  // "debug" | "info" | "warn" | "error"; returns false on unknown text.
  static bool parseLevel(std::string_view text, LogLevel& out);

private:
  struct Shared {
    LogLevel min;
    LogSink sink;
    std::mutex mu;
  };
  Logger(std::string component, std::shared_ptr<Shared> shared)
      : component_(std::move(component)), shared_(std::move(shared)) {}
  std::string component_;
  std::shared_ptr<Shared> shared_;
};

// Quote a logfmt value when needed.
std::string logfmtValue(std::string_view v);

}  // namespace carplb
