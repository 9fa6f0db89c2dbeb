#include "kube_double/time_format.h"

#include <cstdio>

namespace carplb::kubedouble {

namespace {

std::string formatWith(WallTime t, bool micro) {
  using namespace std::chrono;
  auto secs = floor<seconds>(t);
  auto days = floor<std::chrono::days>(secs);
  year_month_day ymd{days};
  hh_mm_ss hms{secs - days};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02lld", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  std::string out(buf);
  if (micro) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(duration_cast<microseconds>(t - secs).count()));
    out += buf;
  }
  return out + "Z";
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::string formatRfc3339(WallTime t) { return formatWith(t, false); }
std::string formatRfc3339Micro(WallTime t) { return formatWith(t, true); }

std::optional<WallTime> parseRfc3339(std::string_view s) {
  using namespace std::chrono;
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se)) {
    return std::nullopt;
  }
  size_t pos = 19;
  long long frac_ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    long long scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ns += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || se > 60) {
    return std::nullopt;
  }
  sys_days days{ymd};
  auto tp = time_point_cast<system_clock::duration>(days + hours{h} + minutes{mi} + seconds{se} -
                                                     minutes{offset_min} + nanoseconds{frac_ns});
  return tp;
}

std::string humanDuration(std::chrono::seconds d) {
  long long seconds = d.count();
  auto f = [](const char* fmt, long long a, long long b = 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, fmt, a, b);
    return std::string(buf);
  };
  if (seconds < -1) {
    return "<invalid>";
  }
  if (seconds < 0) {
    return "0s";
  }
  if (seconds < 60 * 2) {
    return f("%llds", seconds);
  }
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    return s == 0 ? f("%lldm", minutes) : f("%lldm%llds", minutes, s);
  }
  if (minutes < 60 * 3) {
    return f("%lldm", minutes);
  }
  long long hours = seconds / 3600;
  if (hours < 8) {
    long long m = minutes % 60;
    return m == 0 ? f("%lldh", hours) : f("%lldh%lldm", hours, m);
  }
  if (hours < 48) {
    return f("%lldh", hours);
  }
  if (hours < 24 * 8) {
    long long h = hours % 24;
    return h == 0 ? f("%lldd", hours / 24) : f("%lldd%lldh", hours / 24, h);
  }
  if (hours < 24 * 365 * 2) {
    return f("%lldd", hours / 24);
  }
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    return dy == 0 ? f("%lldy", hours / 24 / 365) : f("%lldy%lldd", hours / 24 / 365, dy);
  }
  return f("%lldy", hours / 24 / 365);
}

}  // namespace carplb::kubedouble
