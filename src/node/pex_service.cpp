#include "node/pex_service.hpp"

#include <optional>
#include <utility>

#include <boost/asio/steady_timer.hpp>

#include "node/connection.hpp"

namespace starling::node {

namespace {

/// Inbound /starling/pex/1.0.0: write the list, close. The asker sends nothing; whatever it
/// sends is dropped unread (never buffered).
class pex_server final : public stream_handler {
 public:
  explicit pex_server(std::function<std::vector<pex::peer_record>(const std::string&)> list)
      : m_list(std::move(list)) {}
  void on_open(stream& s) override {
    const std::string asker = s.peer().to_string();
    std::vector<pex::peer_record> peers;
    if (m_list) peers = m_list(asker);
    const bool loopback = s.conn().remote_addr().is_loopback();
    s.write(pex::encode_frame(pex::filter_for_asker(std::move(peers), asker, loopback)));
    s.close_write();
  }
  void on_data(stream&, bytes_view) override {}

 private:
  std::function<std::vector<pex::peer_record>(const std::string&)> m_list;
};

/// Outbound /starling/pex/1.0.0: read one message, report it once.
class pex_client final : public stream_handler {
 public:
  using done_fn = std::function<void(result<std::vector<pex::peer_record>>)>;
  pex_client(host* h, std::chrono::milliseconds timeout, done_fn done)
      : m_timeout(timeout), m_done(std::move(done)), m_alive(std::make_shared<bool>(true)) {
    if (h) m_timer.emplace(h->context());
  }
  ~pex_client() override { *m_alive = false; }

  void on_open(stream& s) override {
    m_stream = &s;
    s.close_write();  // the request is the stream itself
    if (!m_timer) return;
    m_timer->expires_after(m_timeout);
    m_timer->async_wait([this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
      auto a = alive.lock();
      if (ec || !a || !*a || m_reported) return;
      report(std::make_error_code(std::errc::timed_out));
      if (m_stream) m_stream->reset();
    });
  }
  void on_data(stream& s, bytes_view data) override {
    auto r = m_reader.feed(data);
    if (!r) {
      report(r.error());
      s.reset();
      return;
    }
    if (*r) report(std::move(**r));
  }
  void on_read_closed(stream& s) override {
    if (auto r = m_reader.on_eof(); !r) report(r.error());
    s.close_write();
  }
  void on_closed(stream&, std::error_code ec) override {
    m_stream = nullptr;
    if (m_timer) m_timer->cancel();
    report(ec ? ec : make_error_code(pex::errc::no_message));
  }

 private:
  void report(result<std::vector<pex::peer_record>> r) {
    if (m_reported) return;
    m_reported = true;
    if (m_timer) m_timer->cancel();
    if (m_done) m_done(std::move(r));
  }

  pex::reader m_reader;
  std::chrono::milliseconds m_timeout;
  std::optional<boost::asio::steady_timer> m_timer;
  done_fn m_done;
  std::shared_ptr<bool> m_alive;
  stream* m_stream = nullptr;
  bool m_reported = false;
};

}  // namespace

handler_factory make_pex_server(
    std::function<std::vector<pex::peer_record>(const std::string& asker)> list) {
  return [list = std::move(list)] { return std::make_unique<pex_server>(list); };
}

std::unique_ptr<stream_handler> make_pex_client(
    std::function<void(result<std::vector<pex::peer_record>>)> done) {
  return std::make_unique<pex_client>(nullptr, std::chrono::milliseconds(0), std::move(done));
}

std::unique_ptr<stream_handler> make_pex_client(
    host& h, std::chrono::milliseconds timeout,
    std::function<void(result<std::vector<pex::peer_record>>)> done) {
  return std::make_unique<pex_client>(&h, timeout, std::move(done));
}

}  // namespace starling::node
