#include "core/mss/listener.hpp"

#include <algorithm>
#include <utility>

#include "core/multiformats/varint.hpp"

namespace starling::mss {

listener::listener(std::vector<std::string> supported) : m_advertised(std::move(supported)) {
  detail::write_message(header, m_out);
}

listener::listener(predicate accept, std::vector<std::string> advertised)
    : m_accept(std::move(accept)), m_advertised(std::move(advertised)) {
  detail::write_message(header, m_out);
}

result<void> listener::fail(errc e) {
  m_state = state::failed;
  m_error = make_error_code(e);
  m_in.clear();
  return m_error;
}

// The "ls" answer as js and rust write it: one message whose payload is every protocol as its
// own length-prefixed "proto\n" line, followed by a final '\n'. (go omits the final '\n'.)
void listener::write_ls() {
  bytes body;
  for (const auto& p : m_advertised) {
    if (detail::valid_protocol(p)) detail::write_message(p, body);
  }
  body.push_back('\n');
  varint::write_frame(body, m_out);
}

bool listener::accepts(std::string_view proposal) const {
  if (m_accept) return m_accept(proposal);
  return std::find(m_advertised.begin(), m_advertised.end(), proposal) != m_advertised.end();
}

result<void> listener::on_proposal(std::string_view proposal) {
  if (proposal != "ls" && detail::valid_protocol(proposal) && accepts(proposal)) {
    m_selected.assign(proposal);
    detail::write_message(proposal, m_out);
    m_state = state::done;
    return {};
  }
  if (++m_attempts > max_attempts) return fail(errc::too_many_attempts);
  if (proposal == "ls") {
    write_ls();
  } else {
    detail::write_message("na", m_out);
  }
  return {};
}

result<void> listener::feed(bytes_view in) {
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
      m_state = state::await_proposal;
    } else {
      auto r = on_proposal(msg->text);
      if (!r) return r;
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

void listener::poll_transmit(bytes& out) {
  append(out, m_out);
  m_out.clear();
}

}  // namespace starling::mss
