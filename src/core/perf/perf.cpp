#include "core/perf/perf.hpp"

#include <algorithm>
#include <charconv>

namespace starling::perf {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "perf"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::too_much_data:
        return "perf server sent more than requested";
      case errc::too_little_data:
        return "perf server sent less than requested";
      case errc::early_eof:
        return "perf stream closed before the upload finished";
      case errc::header_truncated:
        return "perf stream closed inside the header";
      case errc::request_too_large:
        return "perf download request above the limit";
      case errc::data_after_eof:
        return "perf data after end of stream";
    }
    return "unknown perf error";
  }
};

std::string number(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

double seconds(clock_duration d) {
  return std::chrono::duration<double>(d).count();
}

std::size_t append_zeros(bytes& out, std::uint64_t remaining, std::size_t max_chunk) {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, max_chunk));
  out.resize(out.size() + n, 0);
  return n;
}
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

std::string to_json(const report& r) {
  std::string s = "{\"type\":\"";
  s += r.type == report::kind::final ? "final" : "intermediary";
  s += "\",\"timeSeconds\":" + number(r.time_seconds);
  s += ",\"uploadBytes\":" + std::to_string(r.upload_bytes);
  s += ",\"downloadBytes\":" + std::to_string(r.download_bytes) + "}";
  return s;
}

client::client(std::uint64_t upload_bytes, std::uint64_t download_bytes, time_point start,
               clock_duration interval)
    : m_upload(upload_bytes),
      m_download(download_bytes),
      m_start(start),
      m_interval(interval),
      m_last_report(start) {
  for (std::size_t i = 0; i < header_size; ++i) {
    m_header[i] = static_cast<std::uint8_t>(download_bytes >> (8 * (header_size - 1 - i)));
  }
}

std::size_t client::poll_transmit(bytes& out, std::size_t max_chunk) {
  std::size_t n = 0;
  if (m_header_sent < header_size) {
    n = std::min(header_size - m_header_sent, max_chunk);
    out.insert(out.end(), m_header + m_header_sent, m_header + m_header_sent + n);
    m_header_sent += n;
  }
  const std::size_t z = append_zeros(out, m_upload - m_sent, max_chunk - n);
  m_sent += z;
  return n + z;
}

std::size_t client::take_upload(std::size_t max_chunk) {
  if (m_header_sent < header_size) return 0;
  const std::size_t n =
      static_cast<std::size_t>(std::min<std::uint64_t>(m_upload - m_sent, max_chunk));
  m_sent += n;
  return n;
}

result<void> client::feed(bytes_view in, time_point now) {
  (void)now;
  if (m_eof) return make_error_code(errc::data_after_eof);
  if (in.size() > m_download - m_received) return make_error_code(errc::too_much_data);
  m_received += in.size();
  return {};
}

result<void> client::on_eof(time_point now) {
  if (m_eof) return make_error_code(errc::data_after_eof);
  m_eof = true;
  if (!should_close_write()) return make_error_code(errc::early_eof);
  if (m_received != m_download) return make_error_code(errc::too_little_data);
  m_done = true;
  m_final = report{report::kind::final, seconds(now - m_start), m_sent, m_received};
  return {};
}

time_point client::next_deadline() const noexcept {
  return m_eof ? no_deadline : m_last_report + m_interval;
}

void client::on_deadline(time_point now) {
  if (m_eof || now < m_last_report + m_interval) return;
  m_intermediary = report{report::kind::intermediary, seconds(now - m_last_report),
                          m_sent - m_sent_at_report, m_received - m_received_at_report};
  m_last_report = now;
  m_sent_at_report = m_sent;
  m_received_at_report = m_received;
}

std::optional<report> client::poll_event() {
  if (m_intermediary) return std::exchange(m_intermediary, std::nullopt);
  return std::exchange(m_final, std::nullopt);
}

result<void> server::feed(bytes_view in) {
  if (m_error) return m_error;
  if (m_eof) return m_error = make_error_code(errc::data_after_eof);
  if (m_header_got < header_size) {
    const std::size_t n = std::min(header_size - m_header_got, in.size());
    std::copy_n(in.begin(), n, m_header + m_header_got);
    m_header_got += n;
    in = in.subspan(n);
    if (m_header_got == header_size) {
      for (auto b : m_header)
        m_requested = (m_requested << 8) | b;
      if (m_requested > m_max) return m_error = make_error_code(errc::request_too_large);
    }
  }
  m_uploaded += in.size();
  return {};
}

result<void> server::on_eof() {
  if (m_error) return m_error;
  if (m_eof) return m_error = make_error_code(errc::data_after_eof);
  m_eof = true;
  if (m_header_got < header_size) return m_error = make_error_code(errc::header_truncated);
  return {};
}

std::size_t server::poll_transmit(bytes& out, std::size_t max_chunk) {
  if (!m_eof || m_error) return 0;
  const std::size_t n = append_zeros(out, m_requested - m_sent, max_chunk);
  m_sent += n;
  return n;
}

std::size_t server::take(std::size_t max_chunk) {
  if (!m_eof || m_error) return 0;
  const std::size_t n =
      static_cast<std::size_t>(std::min<std::uint64_t>(m_requested - m_sent, max_chunk));
  m_sent += n;
  return n;
}

}  // namespace starling::perf
