#pragma once
/// Per-stream flow control: the receive window we grant (with auto-tuning) and the send window
/// the peer grants us.

#include <algorithm>
#include <cstdint>

#include "core/common/time.hpp"
#include "core/yamux/frame.hpp"

namespace starling::yamux::detail {

/// The receive side. Invariant: credit + unconsumed + pending == size.
/// - credit: bytes the peer may still send (what it believes our window is);
/// - unconsumed: bytes received but not yet consume()d by the application;
/// - pending: bytes consumed (or added by growth) and not yet announced in a window update.
class receive_window {
 public:
  /// A window of `size` bytes of which the peer knows only the spec's default so far.
  explicit receive_window(std::uint32_t size) noexcept
      : m_size(std::max(size, default_window)),
        m_credit(default_window),
        m_pending(m_size - default_window),
        m_announce(m_pending > 0) {}

  /// Accounts a Data frame of `len` bytes; false when it exceeds the credit (protocol error).
  [[nodiscard]] bool on_data(std::uint32_t len) noexcept {
    if (len > m_credit) return false;
    m_credit -= len;
    m_unconsumed += len;
    return true;
  }
  /// The application processed `n` bytes; false when n exceeds the unconsumed bytes.
  [[nodiscard]] bool consume(std::uint64_t n) noexcept {
    if (n > m_unconsumed) return false;
    m_unconsumed -= n;
    m_pending += n;
    return true;
  }
  /// A window update is worth sending: half the window is free again, or growth is pending.
  bool update_due() const noexcept {
    return m_announce || (m_pending > 0 && m_pending >= m_size / 2);
  }

  /// Takes the delta for the next window update and restarts the measuring epoch. When the peer
  /// used the previous window within a few RTTs, the window doubles (up to `max`) first, so that
  /// one window covers the bandwidth-delay product (the rule go-yamux and js-yamux use).
  std::uint32_t take_update(time_point now, clock_duration rtt, std::uint32_t max) noexcept {
    if (!m_announce && rtt.count() > 0 && m_size < max && now - m_epoch < rtt * 4) {
      const std::uint32_t grown =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(std::uint64_t{m_size} * 2, max));
      m_pending += grown - m_size;
      m_size = grown;
    }
    m_epoch = now;
    m_announce = false;
    const auto delta = static_cast<std::uint32_t>(std::min<std::uint64_t>(m_pending, UINT32_MAX));
    m_pending -= delta;
    m_credit += delta;
    return delta;
  }
  /// Starts the tuning epoch (when the stream opens).
  void start(time_point now) noexcept { m_epoch = now; }

  std::uint32_t size() const noexcept { return m_size; }
  std::uint64_t credit() const noexcept { return m_credit; }
  std::uint64_t unconsumed() const noexcept { return m_unconsumed; }

 private:
  std::uint32_t m_size;
  std::uint64_t m_credit;
  std::uint64_t m_unconsumed = 0;
  std::uint64_t m_pending;
  bool m_announce;
  time_point m_epoch{};
};

/// The send side: credit granted by the peer, capped so a huge grant cannot make us buffer
/// without bound.
class send_window {
 public:
  /// Adds a window update's delta (saturating at 2^32-1).
  void grow(std::uint32_t delta) noexcept {
    m_window = std::min<std::uint64_t>(m_window + delta, UINT32_MAX);
  }
  /// Spends `n` bytes of credit on a Data frame (n <= available()).
  void spend(std::uint64_t n) noexcept { m_window -= n; }
  std::uint64_t available() const noexcept { return m_window; }
  /// Bytes write() may buffer in total: the credit (at most `cap`) plus `slack`.
  std::uint64_t buffer_limit(std::uint64_t cap, std::uint64_t slack) const noexcept {
    return std::min(m_window, cap) + slack;
  }

 private:
  std::uint64_t m_window = default_window;
};

}  // namespace starling::yamux::detail
