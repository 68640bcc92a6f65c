#include "core/dial/multi_dial.hpp"

namespace starling::dial {

multi_dial::multi_dial(std::size_t attempts, std::error_code no_address)
    : m_connecting(attempts), m_last_error(no_address) {}

bool multi_dial::on_connected(std::size_t attempt) {
  if (m_connecting > 0) --m_connecting;
  if (m_finished) return false;
  m_queue.push_back(attempt);
  return true;
}

void multi_dial::on_connect_failed(std::size_t /*attempt*/, std::error_code ec) {
  if (m_connecting > 0) --m_connecting;
  if (!m_finished && ec) m_last_error = ec;
}

void multi_dial::on_handshake_failed(std::size_t /*attempt*/, std::error_code ec) {
  m_handshaking = false;
  if (!m_finished && ec) m_last_error = ec;
}

void multi_dial::on_handshake_done(std::size_t attempt) {
  m_handshaking = false;
  if (m_finished) return;
  m_won = true;
  m_winner = attempt;
}

multi_dial::finish multi_dial::end(end_reason r, std::error_code ec, std::size_t attempt) {
  m_finished = true;
  m_queue.clear();
  return finish{r, ec, attempt};
}

multi_dial::step multi_dial::next(bool room, bool shutting_down) {
  if (m_finished) return wait{};
  if (m_won) return end(end_reason::connected, {}, m_winner);
  if (m_handshaking) return wait{};
  if (shutting_down) return end(end_reason::shutting_down);
  if (!m_queue.empty()) {
    if (!room) return end(end_reason::no_room);
    const std::size_t a = m_queue.front();
    m_queue.pop_front();
    m_handshaking = true;
    return start_handshake{a};
  }
  if (m_connecting == 0) return end(end_reason::failed, m_last_error);
  return wait{};
}

survivor resolve_duplicate(const multiformats::peer_id& local, const multiformats::peer_id& remote,
                           conn::direction older_dir, conn::direction newer_dir) noexcept {
  if (older_dir == newer_dir) return survivor::older;
  // Different dialers: keep the one whose dialer has the smaller id.
  const auto& newer_dialer = newer_dir == conn::direction::outbound ? local : remote;
  const auto& older_dialer = older_dir == conn::direction::outbound ? local : remote;
  return newer_dialer < older_dialer ? survivor::newer : survivor::older;
}

}  // namespace starling::dial
