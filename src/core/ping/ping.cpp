#include "core/ping/ping.hpp"

#include <algorithm>
#include <string>

namespace starling::ping {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ping"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::mismatch:
        return "ping echo does not match";
      case errc::timeout:
        return "ping timed out";
      case errc::unexpected_data:
        return "unexpected bytes on ping stream";
      case errc::busy:
        return "a ping is already outstanding";
      case errc::backlog:
        return "ping echo backlog full";
    }
    return "unknown ping error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

result<void> client::fail(errc e) {
  m_error = make_error_code(e);
  m_in_flight = false;
  m_to_send = false;
  return m_error;
}

result<void> client::start(time_point now, crypto::rng& rng) {
  if (m_error) return m_error;
  if (m_in_flight) return make_error_code(errc::busy);
  rng.fill(m_payload);
  m_received = 0;
  m_in_flight = true;
  m_to_send = true;
  m_sent_at = now;
  return {};
}

void client::poll_transmit(bytes& out) {
  if (!m_to_send) return;
  append(out, m_payload);
  m_to_send = false;
}

result<void> client::feed(bytes_view in, time_point now) {
  if (m_error) return m_error;
  if (in.empty()) return {};
  if (!m_in_flight || in.size() > payload_size - m_received) return fail(errc::unexpected_data);
  if (!std::equal(in.begin(), in.end(),
                  m_payload.begin() + static_cast<std::ptrdiff_t>(m_received))) {
    return fail(errc::mismatch);
  }
  m_received += in.size();
  if (m_received == payload_size) {
    m_in_flight = false;
    m_rtt = now - m_sent_at;
  }
  return {};
}

time_point client::next_deadline() const noexcept {
  return m_in_flight ? m_sent_at + m_timeout : no_deadline;
}

result<void> client::on_deadline(time_point now) {
  if (m_error) return m_error;
  if (m_in_flight && now >= m_sent_at + m_timeout) return fail(errc::timeout);
  return {};
}

result<void> server::feed(bytes_view in) {
  while (!in.empty()) {
    const std::size_t n = std::min(in.size(), payload_size - m_partial_size);
    std::copy_n(in.begin(), n, m_partial.begin() + static_cast<std::ptrdiff_t>(m_partial_size));
    m_partial_size += n;
    in = in.subspan(n);
    if (m_partial_size == payload_size) {
      if (m_out.size() + payload_size > max_backlog) return make_error_code(errc::backlog);
      append(m_out, m_partial);
      m_partial_size = 0;
    }
  }
  return {};
}

void server::poll_transmit(bytes& out) {
  append(out, m_out);
  m_out.clear();
}

}  // namespace starling::ping
