#include "core/data/hlc.hpp"

#include <cstdio>
#include <ctime>

namespace starling::data {

namespace {

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
constexpr std::uint64_t ntp_unix_offset = 2'208'988'800ULL;

class hlc_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hlc"; }
  std::string message(int c) const override {
    switch (static_cast<hlc_errc>(c)) {
      case hlc_errc::too_far_ahead:
        return "timestamp too far in the future";
    }
    return "unknown hlc error";
  }
};

}  // namespace

const std::error_category& hlc_category() noexcept {
  static const hlc_category_impl c;
  return c;
}

std::uint64_t ntp64_span(std::chrono::nanoseconds d) noexcept {
  if (d.count() <= 0) return 0;
  const auto ns = static_cast<std::uint64_t>(d.count());
  const std::uint64_t secs = ns / 1'000'000'000ULL;
  const std::uint64_t rem = ns % 1'000'000'000ULL;
  // rem < 1e9 < 2^30, so rem << 32 fits in 64 bits.
  return (secs << 32) + (rem << 32) / 1'000'000'000ULL;
}

std::uint64_t ntp64_from_unix(std::chrono::nanoseconds since_unix_epoch) noexcept {
  return (ntp_unix_offset << 32) + ntp64_span(since_unix_epoch);
}

std::chrono::nanoseconds unix_from_ntp64(std::uint64_t ntp) noexcept {
  const std::uint64_t secs = ntp >> 32;
  if (secs < ntp_unix_offset) return std::chrono::nanoseconds(0);
  const std::uint64_t frac = ntp & 0xffffffffULL;
  const std::uint64_t ns = ((frac * 1'000'000'000ULL) >> 32);
  return std::chrono::seconds(secs - ntp_unix_offset) + std::chrono::nanoseconds(ns);
}

std::string format_ntp64(std::uint64_t ntp) {
  const auto since = unix_from_ntp64(ntp);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto ns = (since - secs).count();
  const std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ns));
  return buf;
}

std::uint64_t hlc::stamp(std::uint64_t physical_ntp) noexcept {
  const std::uint64_t tick = physical_ntp & ~counter_mask;
  m_last = tick > m_last ? tick : m_last + 1;
  return m_last;
}

result<void> hlc::update(std::uint64_t remote, std::uint64_t physical_ntp) noexcept {
  if (remote > physical_ntp && remote - physical_ntp > m_drift) return hlc_errc::too_far_ahead;
  if (remote > m_last) m_last = remote;
  return {};
}

}  // namespace starling::data
