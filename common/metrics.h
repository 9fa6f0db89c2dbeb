#pragma once
// A small Prometheus registry: counter and gauge families with labels, rendered in
// the text exposition format (version 0.0.4). One Registry per process, owned by main
// and passed in (no global). Thread-safe.
//
//   Registry reg;
//   auto& rx = reg.counter("carplb_agent_adverts_rejected_total", "Adverts dropped, by reason");
//   rx.inc({{"vhid", "7"}, {"reason", "bad_hmac"}});
//   std::string text = reg.render();
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace carplb {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricFamily {
public:
  enum class Type { Counter, Gauge };
  MetricFamily(std::string name, std::string help, Type type)
      : name_(std::move(name)), help_(std::move(help)), type_(type) {}

  void inc(const Labels& labels = {}, double delta = 1.0);
  void set(const Labels& labels, double value);  // gauges
  double get(const Labels& labels = {}) const;   // 0 when absent
  void remove(const Labels& labels);             // forget one series (e.g. a removed vhid)
  void clear();
  void render(std::string& out) const;
  const std::string& name() const { return name_; }

private:
  std::string name_;
  std::string help_;
  Type type_;
  mutable std::mutex mu_;
  std::map<Labels, double> series_;
};

class Registry {
public:
  MetricFamily& counter(const std::string& name, const std::string& help);
  MetricFamily& gauge(const std::string& name, const std::string& help);
  std::string render() const;

private:
  MetricFamily& family(const std::string& name, const std::string& help, MetricFamily::Type type);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_;
};

}  // namespace carplb
