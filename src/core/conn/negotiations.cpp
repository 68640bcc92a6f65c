#include "core/conn/negotiations.hpp"

namespace starling::conn {

void negotiations::track(yamux::stream_id id, time_point now, bool inbound) {
  const time_point deadline = now + m_limits.timeout;
  const std::uint64_t order = m_next_order++;
  m_streams.emplace(id, tracked{deadline, order, inbound});
  m_by_deadline.emplace(deadline, order, id);
  if (inbound) ++m_inbound;
}

bool negotiations::admit_inbound(yamux::stream_id id, time_point now) {
  if (tracking(id)) return true;
  if (m_inbound >= m_limits.max_inbound) {
    ++m_refused;
    return false;
  }
  track(id, now, true);
  return true;
}

void negotiations::start_outbound(yamux::stream_id id, time_point now) {
  if (!tracking(id)) track(id, now, false);
}

void negotiations::leave(yamux::stream_id id) {
  auto it = m_streams.find(id);
  if (it == m_streams.end()) return;
  m_by_deadline.erase({it->second.deadline, it->second.order, id});
  if (it->second.inbound) --m_inbound;
  m_streams.erase(it);
}

time_point negotiations::next_deadline() const noexcept {
  return m_by_deadline.empty() ? no_deadline : std::get<0>(*m_by_deadline.begin());
}

std::vector<yamux::stream_id> negotiations::expire(time_point now) {
  std::vector<yamux::stream_id> out;
  while (!m_by_deadline.empty() && std::get<0>(*m_by_deadline.begin()) <= now) {
    const auto id = std::get<2>(*m_by_deadline.begin());
    leave(id);
    out.push_back(id);
  }
  m_timeouts += out.size();
  return out;
}

void negotiations::clear() noexcept {
  m_streams.clear();
  m_by_deadline.clear();
  m_inbound = 0;
}

}  // namespace starling::conn
