#include "common/metrics.h"

#include <cmath>
#include <cstdio>

namespace carplb {
namespace {

std::string escapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

}  // namespace

void MetricFamily::inc(const Labels& labels, double delta) {
  std::lock_guard<std::mutex> l(mu_);
  series_[labels] += delta;
}

void MetricFamily::set(const Labels& labels, double value) {
  std::lock_guard<std::mutex> l(mu_);
  series_[labels] = value;
}

double MetricFamily::get(const Labels& labels) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0.0 : it->second;
}

void MetricFamily::remove(const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  series_.erase(labels);
}

void MetricFamily::clear() {
  std::lock_guard<std::mutex> l(mu_);
  series_.clear();
}

void MetricFamily::render(std::string& out) const {
  std::lock_guard<std::mutex> l(mu_);
  out += "# HELP " + name_ + " " + help_ + "\n";
  out += "# TYPE " + name_ + (type_ == Type::Counter ? " counter\n" : " gauge\n");
  for (const auto& [labels, value] : series_) {
    out += name_;
    if (!labels.empty()) {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out += ',';
        first = false;
        out += k + "=\"" + escapeLabel(v) + "\"";
      }
      out += '}';
    }
    out += ' ' + formatValue(value) + '\n';
  }
}

MetricFamily& Registry::family(const std::string& name, const std::string& help, MetricFamily::Type type) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& f : families_) {
    if (f->name() == name) return *f;
  }
  families_.push_back(std::make_unique<MetricFamily>(name, help, type));
  return *families_.back();
}

MetricFamily& Registry::counter(const std::string& name, const std::string& help) {
  return family(name, help, MetricFamily::Type::Counter);
}

MetricFamily& Registry::gauge(const std::string& name, const std::string& help) {
  return family(name, help, MetricFamily::Type::Gauge);
}

std::string Registry::render() const {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  for (const auto& f : families_) f->render(out);
  return out;
}

}  // namespace carplb
