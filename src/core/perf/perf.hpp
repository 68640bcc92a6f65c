#pragma once
/// libp2p perf (perf/perf.md): the client writes an 8-byte big-endian count of bytes it wants
/// back, then its upload, then closes its write side; the server reads to EOF, then sends that
/// many bytes and closes. Data bytes are zeros and are generated lazily in chunks.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/common/time.hpp"

namespace starling::perf {

/// The protocol id.
inline constexpr std::string_view protocol_id = "/perf/1.0.0";
/// Size of the request header (big-endian uint64 download size).
inline constexpr std::size_t header_size = 8;
/// Default largest chunk poll_transmit() hands out.
inline constexpr std::size_t default_chunk = 64 * 1024;
/// Default cap on what a server agrees to send (1 TiB; never allocated, only counted).
inline constexpr std::uint64_t default_max_download = std::uint64_t{1} << 40;

enum class errc {
  too_much_data = 1,  ///< client: the server sent more than requested
  too_little_data,    ///< client: EOF before all requested bytes arrived
  early_eof,          ///< client: EOF before we finished our upload
  header_truncated,   ///< server: EOF inside the 8-byte header
  request_too_large,  ///< server: the requested download is above our cap
  data_after_eof,     ///< feed() after on_eof()
};
/// The "perf" error category.
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// One line of `--json` output.
struct report {
  enum class kind { intermediary, final };
  kind type = kind::intermediary;
  double time_seconds = 0;         ///< interval length (intermediary) or whole run (final)
  std::uint64_t upload_bytes = 0;  ///< bytes in that interval (intermediary) or in total (final)
  std::uint64_t download_bytes = 0;
};

/// Formats `r` as the perf test-plan JSON line (no trailing newline), e.g.
/// `{"type":"final","timeSeconds":1.5,"uploadBytes":100,"downloadBytes":0}`.
std::string to_json(const report& r);

/// Client side of one perf stream.
class client {
 public:
  /// A run that uploads `upload_bytes` and asks for `download_bytes`, starting at `start`,
  /// with an intermediary report every `interval`.
  client(std::uint64_t upload_bytes, std::uint64_t download_bytes, time_point start,
         clock_duration interval = std::chrono::seconds(1));

  /// Appends up to `max_chunk` bytes to send (header first, then zeros); returns how many.
  /// Returns 0 once everything was handed out: then should_close_write() is true.
  std::size_t poll_transmit(bytes& out, std::size_t max_chunk = default_chunk);
  /// Like poll_transmit() for the zero data bytes, without writing them: returns how many the
  /// caller must send (from a zero buffer of its own). Returns 0 while the header has not been
  /// handed out in full, and once everything was.
  std::size_t take_upload(std::size_t max_chunk);

  /// True once the header and whole upload were handed out: the caller half-closes (once).
  bool should_close_write() const noexcept {
    return m_header_sent == header_size && m_sent == m_upload;
  }

  /// Counts downloaded bytes. Errors: too_much_data, data_after_eof (final: reset the stream).
  [[nodiscard]] result<void> feed(bytes_view in, time_point now);

  /// The server closed its side. Queues the final report. Errors: early_eof,
  /// too_little_data, data_after_eof (final).
  [[nodiscard]] result<void> on_eof(time_point now);

  /// True after a successful on_eof().
  bool is_done() const noexcept { return m_done; }

  /// Next intermediary report time; no_deadline once finished.
  time_point next_deadline() const noexcept;
  /// Queues an intermediary report when `now` reached next_deadline().
  void on_deadline(time_point now);
  /// Next report to print, in order.
  std::optional<report> poll_event();

  std::uint64_t uploaded() const noexcept { return m_sent; }        ///< upload bytes handed out
  std::uint64_t downloaded() const noexcept { return m_received; }  ///< bytes received

 private:
  std::uint64_t m_upload;
  std::uint64_t m_download;
  time_point m_start;
  clock_duration m_interval;
  std::uint8_t m_header[header_size];
  std::size_t m_header_sent = 0;
  std::uint64_t m_sent = 0;
  std::uint64_t m_received = 0;
  time_point m_last_report;
  std::uint64_t m_sent_at_report = 0;
  std::uint64_t m_received_at_report = 0;
  bool m_eof = false;
  bool m_done = false;
  std::optional<report> m_intermediary;
  std::optional<report> m_final;
};

/// Server side of one perf stream.
class server {
 public:
  /// A server that refuses to send more than `max_download` bytes.
  explicit server(std::uint64_t max_download = default_max_download) : m_max(max_download) {}

  /// Consumes bytes from the client: the header (possibly split), then upload bytes, which are
  /// only counted. Errors: request_too_large (once the header is complete), data_after_eof.
  /// Final: the caller resets the stream.
  [[nodiscard]] result<void> feed(bytes_view in);

  /// The client closed its write side: sending may start. Errors: header_truncated,
  /// data_after_eof (a second call).
  [[nodiscard]] result<void> on_eof();

  /// After on_eof(), appends up to `max_chunk` zero bytes; returns how many (0 when done).
  std::size_t poll_transmit(bytes& out, std::size_t max_chunk = default_chunk);
  /// Like poll_transmit() without writing the zero bytes: returns how many the caller must
  /// send (from a zero buffer of its own); 0 before on_eof() and when done.
  std::size_t take(std::size_t max_chunk);

  /// True once every requested byte was handed out: the caller closes its write side.
  bool is_done() const noexcept { return m_eof && !m_error && m_sent == m_requested; }

  std::uint64_t requested() const noexcept { return m_requested; }  ///< from the header
  std::uint64_t uploaded() const noexcept { return m_uploaded; }    ///< client upload bytes

 private:
  std::uint64_t m_max;
  std::uint8_t m_header[header_size] = {};
  std::size_t m_header_got = 0;
  std::uint64_t m_requested = 0;
  std::uint64_t m_uploaded = 0;
  std::uint64_t m_sent = 0;
  bool m_eof = false;
  std::error_code m_error;
};

}  // namespace starling::perf

template <>
struct std::is_error_code_enum<starling::perf::errc> : std::true_type {};
