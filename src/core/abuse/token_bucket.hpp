#pragma once
/// A token bucket for rate limits (issue 14, "Abuse"): pure, time passed in.

#include <algorithm>
#include <chrono>

#include "core/common/time.hpp"

namespace starling::abuse {

/// A token bucket: `rate` tokens a second, at most `burst` saved. Starts full.
class token_bucket {
 public:
  token_bucket(double rate, double burst) : m_rate(rate), m_burst(burst), m_tokens(burst) {}
  /// Takes `n` tokens at `now` if there are that many; false (nothing taken) otherwise.
  bool take(time_point now, double n = 1) {
    if (m_started) {
      const double secs = std::chrono::duration<double>(now - m_last).count();
      if (secs > 0) m_tokens = std::min(m_burst, m_tokens + secs * m_rate);
    }
    m_started = true;
    if (now > m_last) m_last = now;
    if (m_tokens < n) return false;
    m_tokens -= n;
    return true;
  }

 private:
  double m_rate;
  double m_burst;
  double m_tokens;
  time_point m_last{};
  bool m_started = false;
};

}  // namespace starling::abuse
