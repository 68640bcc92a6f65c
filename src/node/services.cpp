#include "node/services.hpp"

#include <array>
#include <map>

#include <spdlog/spdlog.h>

#include "core/abuse/token_bucket.hpp"
#include "node/host.hpp"
#include "node/timer.hpp"

namespace starling::node {

namespace {

// ---- identify ----

/// Inbound /ipfs/id/1.0.0: send our record, close.
///
/// The FIN is held back for a moment: js-libp2p (3.x) fails its dialer-side
/// multistream-select when the echo, the record and the FIN arrive before it has dispatched
/// the echo (its stream closes the readable end before it can put the record back).
class identify_server final : public stream_handler {
 public:
  explicit identify_server(host& h) : m_host(h), m_timer(h.context()) {}
  void on_open(stream& s) override {
    s.write(identify::encode(make_identify_info(m_host, s.conn())));
    m_stream = &s;
    m_timer.schedule(identify_fin_delay, [this] {
      if (m_stream) m_stream->close_write();
    });
  }
  void on_data(stream&, bytes_view) override {}  // the dialer sends nothing; ignore
  void on_read_closed(stream& s) override { s.close_write(); }
  void on_closed(stream&, std::error_code) override {
    m_stream = nullptr;
    m_timer.cancel();
  }

 private:
  static constexpr std::chrono::milliseconds identify_fin_delay{20};
  host& m_host;
  timer m_timer;
  stream* m_stream = nullptr;
};

/// Outbound /ipfs/id/push/1.0.0: send our current record, close.
class identify_pusher final : public stream_handler {
 public:
  explicit identify_pusher(host& h) : m_host(h) {}
  void on_open(stream& s) override {
    s.write(identify::encode(make_identify_info(m_host, s.conn())));
    s.close_write();
  }
  void on_data(stream&, bytes_view) override {}  // the listener sends nothing
  void on_read_closed(stream& s) override { s.close_write(); }

 private:
  host& m_host;
};

class identify_reader final : public stream_handler {
 public:
  explicit identify_reader(std::function<void(stream&, result<identify::info>)> done)
      : m_done(std::move(done)) {}
  void on_open(stream& s) override {
    if (s.inbound()) return;  // push: the peer writes and closes
    s.close_write();          // request: we send nothing
  }
  void on_data(stream& s, bytes_view data) override {
    if (auto r = m_reader.feed(data); !r) {
      report(s, r.error());
      s.reset();
    }
  }
  void on_read_closed(stream& s) override {
    report(s, m_reader.on_eof());
    s.close_write();
  }
  void on_closed(stream& s, std::error_code ec) override {
    if (!m_reported) report(s, ec ? ec : make_error_code(identify::errc::no_message));
  }

 private:
  void report(stream& s, result<identify::info> r) {
    if (m_reported) return;
    m_reported = true;
    if (m_done) m_done(s, std::move(r));
  }
  identify::reader m_reader;
  std::function<void(stream&, result<identify::info>)> m_done;
  bool m_reported = false;
};

// ---- ping ----

class ping_server final : public stream_handler {
 public:
  void on_data(stream& s, bytes_view data) override {
    if (auto r = m_core.feed(data); !r) {
      s.reset();
      return;
    }
    m_buf.clear();
    m_core.poll_transmit(m_buf);
    s.write(m_buf);
  }
  void on_read_closed(stream& s) override { s.close_write(); }

 private:
  ping::server m_core;
  bytes m_buf;
};

class ping_client final : public stream_handler {
 public:
  ping_client(host& h, ping_options o, std::function<void(int, result<clock_duration>)> on_reply,
              std::function<void()> on_done)
      : m_host(h),
        m_opts(o),
        m_core(o.timeout),
        m_timer(h.context()),
        m_on_reply(std::move(on_reply)),
        m_on_done(std::move(on_done)) {}

  void on_open(stream& s) override {
    m_stream = &s;
    send_one();
  }
  void on_data(stream& s, bytes_view data) override {
    if (auto r = m_core.feed(data, m_host.clock().now()); !r) {
      fail(r.error());
      s.reset();
      return;
    }
    if (auto rtt = m_core.poll_event()) {
      m_on_reply(m_seq, *rtt);
      if (m_seq >= m_opts.count) {
        finish();
        return;
      }
      m_timer.schedule(m_opts.interval, [this] { send_one(); });
    }
  }
  void on_closed(stream&, std::error_code ec) override {
    m_stream = nullptr;
    m_timer.cancel();
    if (!m_done) {
      if (ec) m_on_reply(m_seq, ec);
      finish();
    }
  }

 private:
  void send_one() {
    if (!m_stream) return;
    ++m_seq;
    // The timeout timer is armed before the clock starts: re-arming a timer is a syscall, and
    // it should not count in the round trip. It fires a little before the core's deadline and
    // then waits out the rest (see check_timeout).
    const time_point now = m_host.clock().now();
    arm_timeout(now + m_opts.timeout);
    if (auto r = m_core.start(now, m_host.rng()); !r) {
      fail(r.error());
      return;
    }
    m_buf.clear();
    m_core.poll_transmit(m_buf);
    m_stream->write(m_buf);
  }
  void arm_timeout(time_point at) {
    m_timer.schedule_at(at, m_host.clock(), [this] { check_timeout(); });
  }
  void check_timeout() {
    if (auto r = m_core.on_deadline(m_host.clock().now()); !r) {
      fail(r.error());
      if (m_stream) m_stream->reset();
      return;
    }
    if (const auto at = m_core.next_deadline(); at != no_deadline) arm_timeout(at);
  }
  void fail(std::error_code ec) {
    if (m_done) return;
    m_on_reply(m_seq, ec);
    finish();
  }
  void finish() {
    if (m_done) return;
    m_done = true;
    m_timer.cancel();
    if (m_stream) m_stream->close_write();
    if (m_on_done) m_on_done();
  }

  host& m_host;
  ping_options m_opts;
  ping::client m_core;
  timer m_timer;
  std::function<void(int, result<clock_duration>)> m_on_reply;
  std::function<void()> m_on_done;
  stream* m_stream = nullptr;
  bytes m_buf;
  int m_seq = 0;
  bool m_done = false;
};

// ---- perf ----

/// perf data is zeros: one shared buffer, never rewritten.
const std::array<std::uint8_t, 256 * 1024> perf_zeros{};
/// What a sender writes when the muxer has no room: queued in the stream, it brings
/// on_writable() once there is room again, and is small enough that its copy is noise.
constexpr std::size_t perf_probe = 16 * 1024;

/// Sends perf's zero bytes (`take(max)` says how many of them are still due): exactly as many
/// as the muxer takes at once, so that they go from perf_zeros into the Yamux buffer with no
/// copy into the stream's own queue.
template <class Take>
void write_zeros(stream& s, Take take) {
  while (!s.write_closed()) {
    const std::size_t room = s.write_room();
    if (room == 0 && s.buffered() > 0) return;  // a probe is queued: on_writable() follows
    const std::size_t n = take(room > 0 ? std::min(room, perf_zeros.size()) : perf_probe);
    if (n == 0) return;
    s.write(bytes_view(perf_zeros).first(n));
    if (room == 0) return;
  }
}

/// Requests per peer (perf_server_limits::requests_per_minute), shared by the server's
/// handlers.
struct perf_budgets {
  host& h;
  perf_server_limits limits;
  std::map<multiformats::peer_id, abuse::token_bucket> by_peer;
};

class perf_server final : public stream_handler {
 public:
  explicit perf_server(std::shared_ptr<perf_budgets> budgets)
      : m_budgets(std::move(budgets)),
        m_max(m_budgets->limits.max_bytes),
        m_core(m_budgets->limits.max_bytes) {}
  void on_open(stream& s) override {
    perf_budgets& b = *m_budgets;
    if (b.limits.requests_per_minute <= 0) return;
    if (b.by_peer.size() > 1024) b.by_peer.clear();
    auto it =
        b.by_peer.try_emplace(s.peer(), b.limits.requests_per_minute / 60.0, b.limits.request_burst)
            .first;
    if (!it->second.take(b.h.clock().now())) {
      spdlog::info("perf: refused a request of {} (more than {} a minute)", s.peer().to_string(),
                   b.limits.requests_per_minute);
      b.h.report_misbehaviour(s.peer(), abuse::offence::flood);
      s.reset();
    }
  }
  void on_data(stream& s, bytes_view data) override {
    if (auto r = m_core.feed(data); !r) {
      if (r.error() == perf::errc::request_too_large) {
        spdlog::info("perf: refused {} bytes to {} (this node sends at most {} per request)",
                     m_core.requested(), s.peer().to_string(), m_max);
      }
      s.reset();
    }
  }
  void on_read_closed(stream& s) override {
    if (auto r = m_core.on_eof(); !r) {
      s.reset();
      return;
    }
    send_more(s);
  }
  void on_writable(stream& s) override { send_more(s); }

 private:
  void send_more(stream& s) {
    write_zeros(s, [this](std::size_t max) { return m_core.take(max); });
    if (m_core.is_done() && !s.write_closed()) s.close_write();
  }
  std::shared_ptr<perf_budgets> m_budgets;
  std::uint64_t m_max;
  perf::server m_core;
};

class perf_client final : public stream_handler {
 public:
  perf_client(host& h, std::uint64_t up, std::uint64_t down,
              std::function<void(const perf::report&)> on_report,
              std::function<void(std::error_code)> on_done)
      : m_clock(h.clock()),
        m_core(up, down, m_clock.now()),
        m_timer(h.context()),
        m_on_report(std::move(on_report)),
        m_on_done(std::move(on_done)) {}

  void on_open(stream& s) override {
    m_stream = &s;
    send_more(s);
    arm();
  }
  void on_writable(stream& s) override { send_more(s); }
  void on_data(stream& s, bytes_view data) override {
    if (auto r = m_core.feed(data, m_clock.now()); !r) {
      done(r.error());
      s.reset();
    }
    drain();
  }
  void on_read_closed(stream& s) override {
    auto r = m_core.on_eof(m_clock.now());
    drain();
    done(r ? std::error_code{} : r.error());
    s.close_write();
  }
  void on_closed(stream&, std::error_code ec) override {
    m_stream = nullptr;
    done(ec ? ec : make_error_code(perf::errc::too_little_data));
  }

 private:
  void send_more(stream& s) {
    if (!m_header_written) {  // the 8-byte header goes first, once
      m_header_written = true;
      m_buf.clear();
      m_core.poll_transmit(m_buf, perf::header_size);
      s.write(m_buf);
    }
    write_zeros(s, [this](std::size_t max) { return m_core.take_upload(max); });
    if (m_core.should_close_write() && !s.write_closed()) s.close_write();
  }
  void drain() {
    while (auto r = m_core.poll_event())
      m_on_report(*r);
  }
  void arm() {
    const auto at = m_core.next_deadline();
    if (at == no_deadline || m_finished) return;
    m_timer.schedule_at(at, m_clock, [this] {
      m_core.on_deadline(m_clock.now());
      drain();
      arm();
    });
  }
  void done(std::error_code ec) {
    if (m_finished) return;
    m_finished = true;
    m_timer.cancel();
    if (m_on_done) m_on_done(ec);
  }

  const clock_source& m_clock;
  perf::client m_core;
  timer m_timer;
  std::function<void(const perf::report&)> m_on_report;
  std::function<void(std::error_code)> m_on_done;
  stream* m_stream = nullptr;
  bytes m_buf;
  bool m_header_written = false;
  bool m_finished = false;
};

}  // namespace

std::unique_ptr<stream_handler> make_identify_reader(
    std::function<void(stream&, result<identify::info>)> done) {
  return std::make_unique<identify_reader>(std::move(done));
}

std::unique_ptr<stream_handler> make_identify_pusher(host& h) {
  return std::make_unique<identify_pusher>(h);
}

std::unique_ptr<stream_handler> make_ping_client(
    host& h, ping_options opts, std::function<void(int, result<clock_duration>)> on_reply,
    std::function<void()> on_done) {
  return std::make_unique<ping_client>(h, opts, std::move(on_reply), std::move(on_done));
}

std::unique_ptr<stream_handler> make_perf_client(host& h, std::uint64_t upload,
                                                 std::uint64_t download,
                                                 std::function<void(const perf::report&)> on_report,
                                                 std::function<void(std::error_code)> on_done) {
  return std::make_unique<perf_client>(h, upload, download, std::move(on_report),
                                       std::move(on_done));
}

void register_identify_services(host& h) {
  h.set_handler(std::string(identify::protocol_id),
                [&h] { return std::make_unique<identify_server>(h); });
  h.set_handler(std::string(identify::push_protocol_id), [&h] {
    return make_identify_reader([&h](stream& s, result<identify::info> r) {
      if (!r) {
        spdlog::debug("identify push from {} rejected: {}", s.peer().to_string(),
                      r.error().message());
        return;
      }
      h.identify_received(s.conn(), std::move(*r));
    });
  });
}

void register_ping_service(host& h) {
  h.set_handler(std::string(ping::protocol_id), [] { return std::make_unique<ping_server>(); });
}

void register_perf_service(host& h, perf_server_limits limits) {
  auto budgets = std::make_shared<perf_budgets>(perf_budgets{h, limits, {}});
  h.set_handler(std::string(perf::protocol_id),
                [budgets] { return std::make_unique<perf_server>(budgets); });
}

}  // namespace starling::node
