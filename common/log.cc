#include "common/log.h"

#include <chrono>
#include <ctime>
#include <iostream>

namespace carplb {
namespace {

std::string timestampNow() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

const char* levelName(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "info";
}

}  // namespace

std::string logfmtValue(std::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    return std::string(v);
  }
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

Logger::Logger(std::string component, LogLevel min)
    : Logger(std::move(component), min, [](std::string_view line) {
        std::cerr << line << '\n' << std::flush;
      }) {}

Logger::Logger(std::string component, LogLevel min, LogSink sink)
    : component_(std::move(component)), shared_(std::make_shared<Shared>()) {
  shared_->min = min;
  shared_->sink = std::move(sink);
}

Logger Logger::child(std::string component) const { return Logger(std::move(component), shared_); }

void Logger::log(LogLevel level, std::string_view msg, const LogFields& fields) const {
  if (level < shared_->min) {
    return;
  }
  std::string line = "ts=" + timestampNow() + " level=" + levelName(level) + " component=" +
                     logfmtValue(component_) + " msg=" + logfmtValue(msg);
  for (const auto& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    line += logfmtValue(f.value);
  }
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->sink(line);
}

bool Logger::parseLevel(std::string_view text, LogLevel& out) {
  if (text == "debug") { out = LogLevel::Debug; return true; }
  if (text == "info") { out = LogLevel::Info; return true; }
  if (text == "warn" || text == "warning") { out = LogLevel::Warn; return true; }
  if (text == "error") { out = LogLevel::Error; return true; }
  return false;
}

}  // namespace carplb
