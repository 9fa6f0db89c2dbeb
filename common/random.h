#pragma once
// Randomness is a dependency too (jitter, CARP counters, tokens). Not thread-safe:
// each owner keeps its own instance.
#include <cstdint>
#include <random>

namespace carplb {

class Random {
public:
  virtual ~Random() = default;
  virtual uint64_t next64() = 0;
  // Uniform in [0, 1).
  double uniform01() { return static_cast<double>(next64() >> 11) * (1.0 / 9007199254740992.0); }
};

class SystemRandom final : public Random {
public:
  SystemRandom() : engine_(std::random_device{}()) {}
  explicit SystemRandom(uint64_t seed) : engine_(seed) {}
  uint64_t next64() override { return engine_(); }

private:
  std::mt19937_64 engine_;
};

}  // namespace carplb
