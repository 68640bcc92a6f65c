#include "core/mss/dialer.hpp"

#include <utility>

namespace starling::mss {

result<dialer> dialer::create(std::vector<std::string> protocols, mode m) {
  if (protocols.empty() || (m == mode::lazy && protocols.size() != 1)) {
    return make_error_code(errc::invalid_argument);
  }
  for (const auto& p : protocols) {
    if (!detail::valid_protocol(p)) return make_error_code(errc::invalid_protocol);
  }
  return dialer(std::move(protocols), m);
}

dialer::dialer(std::vector<std::string> protocols, mode m)
    : m_protocols(std::move(protocols)), m_mode(m) {
  detail::write_message(header, m_out);
  detail::write_message(m_protocols[0], m_out);
}

result<void> dialer::fail(errc e) {
  m_state = state::failed;
  m_error = make_error_code(e);
  m_in.clear();
  return m_error;
}

result<void> dialer::feed(bytes_view in) {
  if (m_state == state::failed) return m_error;
  if (m_state == state::done) return make_error_code(errc::already_done);
  append(m_in, in);
  std::size_t pos = 0;
  while (m_state != state::done) {
    std::error_code ec;
    auto msg = detail::read_message(bytes_view(m_in).subspan(pos), ec);
    if (ec) return fail(static_cast<errc>(ec.value()));
    if (!msg) break;
    pos += msg->consumed;
    if (m_state == state::await_header) {
      if (msg->text != header) return fail(errc::wrong_header);
      m_state = state::await_reply;
    } else if (msg->text == m_protocols[m_index]) {
      m_state = state::done;
    } else if (msg->text == "na") {
      if (m_mode == mode::lazy) return fail(errc::rejected);
      if (++m_index == m_protocols.size()) {
        m_index = m_protocols.size() - 1;
        return fail(errc::no_protocol);
      }
      detail::write_message(m_protocols[m_index], m_out);
    } else {
      return fail(errc::unexpected_message);
    }
  }
  if (m_state == state::done) {
    m_remaining.assign(m_in.begin() + static_cast<std::ptrdiff_t>(pos), m_in.end());
    m_in.clear();
  } else {
    m_in.erase(m_in.begin(), m_in.begin() + static_cast<std::ptrdiff_t>(pos));
  }
  return {};
}

void dialer::poll_transmit(bytes& out) {
  append(out, m_out);
  m_out.clear();
}

}  // namespace starling::mss
