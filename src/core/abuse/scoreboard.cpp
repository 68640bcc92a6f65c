#include "core/abuse/scoreboard.hpp"

#include <algorithm>

namespace starling::abuse {

std::string_view name(offence o) noexcept {
  switch (o) {
    case offence::malformed:
      return "malformed";
    case offence::bad_signature:
      return "bad_signature";
    case offence::access_violation:
      return "access_violation";
    case offence::flood:
      return "flood";
    case offence::refused_entry:
      return "refused_entry";
  }
  return "unknown";
}

double scoreboard::decayed(const entry& e, time_point now) const {
  const double secs = std::max(0.0, std::chrono::duration<double>(now - e.scored_at).count());
  return std::max(0.0, e.score - secs * m_cfg.forgive_per_second);
}

void scoreboard::make_room(time_point now) {
  // The lowest score not under a ban goes; all banned: no room (the new peer is not tracked).
  auto victim = m_peers.end();
  double lowest = 0;
  for (auto it = m_peers.begin(); it != m_peers.end(); ++it) {
    if (it->second.banned_until > now) continue;
    const double s = decayed(it->second, now);
    if (victim == m_peers.end() || s < lowest) {
      victim = it;
      lowest = s;
    }
  }
  if (victim != m_peers.end()) m_peers.erase(victim);
}

report_result scoreboard::report(const peer_id& peer, offence o, time_point now,
                                 std::uint32_t count) {
  auto it = m_peers.find(peer);
  if (it == m_peers.end()) {
    if (m_peers.size() >= m_cfg.max_peers) make_room(now);
    if (m_peers.size() >= m_cfg.max_peers) return {};  // every slot holds a ban
    it = m_peers.emplace(peer, entry{}).first;
  }
  entry& e = it->second;
  if (e.bans > 0 && now - e.last_offence > m_cfg.forget_after) e.bans = 0;
  e.last_offence = now;
  report_result r;
  if (e.banned_until > now) {
    // Already banned: nothing adds to it (its connections are closed anyway).
    r.banned_until = e.banned_until;
    r.bans = e.bans;
    return r;
  }
  e.score = decayed(e, now) + m_cfg.weights[static_cast<std::size_t>(o)] * count;
  e.scored_at = now;
  if (e.score >= m_cfg.ban_score) {
    clock_duration length = m_cfg.first_ban;
    for (std::uint32_t i = 0; i < e.bans && length < m_cfg.max_ban; ++i)
      length *= 2;
    length = std::min(length, m_cfg.max_ban);
    ++e.bans;
    e.banned_until = now + length;
    e.score = 0;
    r.banned_now = true;
  }
  r.score = e.score;
  r.banned_until = e.banned_until;
  r.bans = e.bans;
  return r;
}

std::optional<time_point> scoreboard::banned_until(const peer_id& peer, time_point now) const {
  auto it = m_peers.find(peer);
  if (it == m_peers.end() || it->second.banned_until <= now) return std::nullopt;
  return it->second.banned_until;
}

std::size_t scoreboard::banned(time_point now) const {
  return static_cast<std::size_t>(
      std::count_if(m_peers.begin(), m_peers.end(),
                    [&](const auto& kv) { return kv.second.banned_until > now; }));
}

double scoreboard::score(const peer_id& peer, time_point now) const {
  auto it = m_peers.find(peer);
  return it == m_peers.end() ? 0.0 : decayed(it->second, now);
}

void scoreboard::sweep(time_point now) {
  std::erase_if(m_peers, [&](const auto& kv) {
    const entry& e = kv.second;
    return e.banned_until <= now && decayed(e, now) <= 0 &&
           now - e.last_offence > m_cfg.forget_after;
  });
}

}  // namespace starling::abuse
