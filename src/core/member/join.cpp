#include "core/member/join.hpp"

#include <algorithm>

#include "core/crypto/aead_backends.hpp"
#include "core/multiformats/varint.hpp"

namespace starling::member {

namespace cp = crypto::cpace;

namespace {

enum msg : std::uint8_t { hello = 1, challenge = 2, confirm = 3, grant_msg = 4, abort_msg = 5 };
enum abort_reason : std::uint8_t { abort_wrong_code = 1, abort_malformed = 2, abort_refused = 3 };

constexpr std::size_t hello_size = 2 + 3 + 1 + 16 + 32;
constexpr std::size_t challenge_size = 2 + 32 + 32;
constexpr std::size_t confirm_size = 2 + 32;
constexpr std::size_t abort_size = 3;
constexpr std::size_t max_control_frame = 128;
constexpr std::size_t max_grant_frame = 2 + max_grant_size + crypto::aead_tag_size;
constexpr std::string_view ci_label = "starling/join/v1";
constexpr std::string_view grant_ad = "starling/join/v1 grant";

struct keys {
  std::array<std::uint8_t, 32> inviter_tag{}, joiner_tag{}, grant_key{};
};

keys derive_keys(const cp::isk& isk) {
  keys k;
  k.inviter_tag = crypto::hmac_sha256(isk, as_bytes("starling/join/v1 inviter tag"));
  k.joiner_tag = crypto::hmac_sha256(isk, as_bytes("starling/join/v1 joiner tag"));
  k.grant_key = crypto::hmac_sha256(isk, as_bytes("starling/join/v1 grant key"));
  return k;
}

bytes channel_id(const public_key& inviter, const public_key& joiner) {
  return cp::lv_cat({as_bytes(ci_label), inviter, joiner});
}

bytes frame(std::uint8_t type, std::initializer_list<bytes_view> fields) {
  bytes body = {join_version, type};
  for (bytes_view f : fields)
    append(body, f);
  bytes out;
  varint::write_frame(body, out);
  return out;
}

bytes abort_frame(std::uint8_t reason) {
  const std::uint8_t r[1] = {reason};
  return frame(abort_msg, {r});
}

// Takes one complete frame off the front of `buf`. nullopt with `ec` clear: need more bytes.
std::optional<bytes> next_frame(bytes& buf, std::size_t max_len, std::error_code& ec) {
  const auto f = varint::read_frame(buf, max_len, ec);
  if (!f) return std::nullopt;
  bytes body(f->payload.begin(), f->payload.end());
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(f->consumed));
  return body;
}

// Checks version, type and size. Returns the error, or none.
std::optional<join_errc> check_body(bytes_view body, std::uint8_t type, std::size_t size) {
  if (body.size() < 2) return join_errc::malformed;
  if (body[0] != join_version) return join_errc::bad_version;
  if (body[1] != type) return join_errc::unexpected_message;
  if (body.size() != size) return join_errc::malformed;
  return std::nullopt;
}

template <std::size_t N>
std::array<std::uint8_t, N> take(bytes_view b, std::size_t off) {
  std::array<std::uint8_t, N> a{};
  std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(off), N, a.begin());
  return a;
}

constexpr std::array<std::uint8_t, crypto::aead_nonce_size> zero_nonce{};

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "join"; }
  std::string message(int c) const override {
    switch (static_cast<join_errc>(c)) {
      case join_errc::wrong_code:
        return "wrong setup code (or the code is used, expired or blocked)";
      case join_errc::malformed:
        return "malformed join message";
      case join_errc::bad_version:
        return "unsupported join protocol version";
      case join_errc::unexpected_message:
        return "unexpected join message";
      case join_errc::invalid_point:
        return "invalid PAKE message";
      case join_errc::bad_grant:
        return "the grant did not authenticate";
      case join_errc::refused:
        return "the inviter refused to grant membership";
      case join_errc::wrong_inviter:
        return "this peer is not the inviter named by the code";
      case join_errc::bad_state:
        return "join call out of order";
      case join_errc::unknown_session:
        return "unknown join session";
      case join_errc::busy:
        return "too many join sessions open";
      case join_errc::too_many_invites:
        return "too many open invites";
      case join_errc::bad_expiry:
        return "the invite's expiry is not in the future";
      case join_errc::grant_too_large:
        return "grant larger than " + std::to_string(max_grant_size) + " bytes";
    }
    return "unknown join error";
  }
};

}  // namespace

const std::error_category& join_category() noexcept {
  static const category_impl c;
  return c;
}

std::string_view to_string(refusal r) noexcept {
  switch (r) {
    case refusal::unknown:
      return "unknown code";
    case refusal::expired:
      return "expired";
    case refusal::used:
      return "already used";
    case refusal::burnt:
      return "too many failed attempts";
    case refusal::rate_limited:
      return "rate limited";
    case refusal::wrong_code:
      return "wrong code";
    case refusal::protocol:
      return "protocol error";
  }
  return "refused";
}

// ---- joiner ----

joiner::~joiner() {
  cp::wipe(m_y);
  cp::wipe(m_grant_key);
}

result<bytes> joiner::start(const invite_code& code, const public_key& mine,
                            const public_key& inviter, crypto::rng& r) {
  if (m_state != state::idle) return join_errc::bad_state;
  if (hint_of(inviter) != code.hint) return join_errc::wrong_inviter;
  m_ci = channel_id(inviter, mine);
  r.fill(m_sid);
  m_ada = {code.hint[0], code.hint[1], code.hint[2], code.slot};
  cp::point g{};
  if (!cp::calculate_generator(code.secret, m_ci, m_sid, g)) return join_errc::invalid_point;
  m_y = cp::sample_scalar(r);
  if (!cp::public_share(m_y, g, m_ya)) return join_errc::invalid_point;
  m_state = state::sent_hello;
  return frame(hello, {m_ada, m_sid, m_ya});
}

joiner_step joiner::fail(join_errc why, std::uint8_t reason) {
  m_state = state::done;
  cp::wipe(m_y);
  cp::wipe(m_grant_key);
  m_buf.clear();
  joiner_step st;
  if (reason != 0) st.out = abort_frame(reason);
  st.event = join_failed{make_error_code(why)};
  return st;
}

joiner_step joiner::on_frame(bytes_view body) {
  if (body.size() == abort_size && body[0] == join_version && body[1] == abort_msg)
    return fail(body[2] == abort_refused     ? join_errc::refused
                : body[2] == abort_malformed ? join_errc::malformed
                                             : join_errc::wrong_code,
                0);
  if (m_state == state::sent_hello) {
    if (const auto e = check_body(body, challenge, challenge_size))
      return fail(*e, abort_malformed);
    const auto yb = take<32>(body, 2);
    const auto tag = take<32>(body, 34);
    cp::point k{};
    if (!cp::scalar_mult_vfy(m_y, yb, k)) return fail(join_errc::invalid_point, abort_malformed);
    const auto isk = cp::derive_isk_ir(m_sid, k, m_ya, m_ada, yb, {});
    cp::wipe(m_y);
    auto ks = derive_keys(isk);
    if (!cp::tags_equal(tag, ks.inviter_tag)) return fail(join_errc::wrong_code, abort_wrong_code);
    m_grant_key = ks.grant_key;
    m_state = state::sent_confirm;
    joiner_step st;
    st.out = frame(confirm, {ks.joiner_tag});
    cp::wipe(ks.grant_key);
    return st;
  }
  // sent_confirm: the grant.
  if (body.size() < 2) return fail(join_errc::malformed, abort_malformed);
  if (body[0] != join_version) return fail(join_errc::bad_version, abort_malformed);
  if (body[1] != grant_msg) return fail(join_errc::unexpected_message, abort_malformed);
  bytes plain;
  const auto st = crypto::aead_open(crypto::aead_backend::libsodium, m_grant_key, zero_nonce,
                                    as_bytes(grant_ad), body.subspan(2), plain);
  if (st != crypto::aead_status::ok) return fail(join_errc::bad_grant, abort_malformed);
  m_state = state::done;
  cp::wipe(m_grant_key);
  joiner_step out;
  out.event = join_granted{std::move(plain)};
  return out;
}

result<joiner_step> joiner::feed(bytes_view in) {
  if (m_state == state::idle || m_state == state::done) return join_errc::bad_state;
  append(m_buf, in);
  joiner_step acc;
  while (m_state != state::done) {
    std::error_code ec;
    const std::size_t max = m_state == state::sent_confirm ? max_grant_frame : max_control_frame;
    auto body = next_frame(m_buf, max, ec);
    if (ec) return fail(join_errc::malformed, abort_malformed);
    if (!body) break;
    auto st = on_frame(*body);
    append(acc.out, st.out);
    if (st.event) acc.event = std::move(st.event);
  }
  return acc;
}

// ---- invite_book ----

invite_book::invite_book(const public_key& mine, invite_limits limits)
    : m_mine(mine), m_hint(hint_of(mine)), m_limits(limits) {
  m_limits.max_open_invites = std::min(m_limits.max_open_invites, code_slots);
}

std::size_t invite_book::open_invites(time_point now) const {
  return static_cast<std::size_t>(std::count_if(m_slots.begin(), m_slots.end(), [&](const slot& s) {
    return s.state == slot_state::open && s.expires_at > now && s.attempts < m_limits.max_attempts;
  }));
}

result<std::string> invite_book::issue(std::string role, time_point expires_at, time_point now,
                                       crypto::rng& r) {
  if (expires_at <= now) return join_errc::bad_expiry;
  if (open_invites(now) >= m_limits.max_open_invites) return join_errc::too_many_invites;
  // A slot that holds no live invite, in rotation so that an old code rarely meets a new
  // invite in its slot. A slot with a session in flight is skipped.
  for (std::size_t i = 0; i < code_slots; ++i) {
    const std::size_t n = (m_next_slot + i) % code_slots;
    slot& s = m_slots[n];
    const bool live =
        s.state == slot_state::open && s.expires_at > now && s.attempts < m_limits.max_attempts;
    const bool busy = std::any_of(m_sessions.begin(), m_sessions.end(), [&](const auto& kv) {
      return !kv.second.decoy && kv.second.slot_no == n && kv.second.generation == s.generation &&
             kv.second.ph != phase::await_hello;
    });
    if (live || busy) continue;
    const auto code = make_invite_code(m_mine, static_cast<std::uint8_t>(n), r);
    cp::wipe(s.secret);
    s = slot{slot_state::open, m_next_generation++, code.secret, std::move(role), expires_at, 0};
    m_next_slot = (n + 1) % code_slots;
    return to_string(code);
  }
  return join_errc::too_many_invites;
}

bool invite_book::revoke(const invite_code& code) {
  if (code.hint != m_hint || code.slot >= code_slots) return false;
  slot& s = m_slots[code.slot];
  if (s.state != slot_state::open || !cp::tags_equal(s.secret, code.secret)) return false;
  s.state = slot_state::revoked;
  cp::wipe(s.secret);
  return true;
}

result<session_id> invite_book::open_session(const public_key& joiner, time_point now) {
  if (m_sessions.size() >= m_limits.max_sessions) return join_errc::busy;
  const session_id id{m_next_session++};
  session& s = m_sessions[id];
  s.joiner = joiner;
  s.deadline = now + m_limits.session_timeout;
  return id;
}

std::optional<time_point> invite_book::next_deadline() const {
  std::optional<time_point> next;
  for (const auto& [id, s] : m_sessions) {
    if (waiting(s) && (!next || s.deadline < *next)) next = s.deadline;
  }
  return next;
}

std::vector<expired_session> invite_book::expire(time_point now) {
  std::vector<expired_session> out;
  for (auto it = m_sessions.begin(); it != m_sessions.end();) {
    session& s = it->second;
    if (!waiting(s) || now < s.deadline) {
      ++it;
      continue;
    }
    out.push_back(expired_session{it->first, end_expired(s)});
    it = m_sessions.erase(it);
  }
  return out;
}

bytes invite_book::end_expired(session& s) {
  // The attempt (if its hello came) stays counted against the code and the budget.
  s.ph = phase::done;
  cp::wipe(s.grant_key);
  return abort_frame(abort_refused);
}

std::optional<refusal> invite_book::admit(std::uint8_t n, time_point now) const {
  if (n >= code_slots) return refusal::unknown;
  const slot& s = m_slots[n];
  switch (s.state) {
    case slot_state::empty:
    case slot_state::revoked:
      return refusal::unknown;
    case slot_state::used:
      return refusal::used;
    case slot_state::open:
      break;
  }
  if (s.expires_at <= now) return refusal::expired;
  if (s.attempts >= m_limits.max_attempts) return refusal::burnt;
  return std::nullopt;
}

bool invite_book::budget_spent(time_point now) const {
  const auto w = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count());
  return w == m_window && m_window_failures >= m_limits.failures_per_minute;
}

void invite_book::charge(session& s, time_point now) {
  const auto w = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count());
  if (w != m_window) {
    m_window = w;
    m_window_failures = 0;
  }
  ++m_window_failures;
  s.charged_window = w + 1;
}

inviter_step invite_book::on_hello(session& s, bytes_view body, time_point now, crypto::rng& r) {
  inviter_step st;
  if (const auto e = check_body(body, hello, hello_size)) {
    s.ph = phase::done;
    st.out = abort_frame(abort_malformed);
    st.event = join_refused{refusal::protocol};
    return st;
  }
  const auto hint = take<3>(body, 2);
  const std::uint8_t slot_no = body[5];
  const auto sid = take<16>(body, 6);
  const auto ya = take<32>(body, 22);
  const auto ada = take<4>(body, 2);

  std::optional<refusal> why;
  if (budget_spent(now))
    why = refusal::rate_limited;
  else if (hint != m_hint)
    why = refusal::unknown;
  else
    why = admit(slot_no, now);

  // A refused attempt is a decoy: the same CPace computation on a random password nobody
  // knows, and a session that waits for the confirm like a live one. The joiner fails its
  // tag check exactly as with a wrong code, and neither the work done, the bytes sent nor
  // the moment the session ends tell a dead slot from a live one.
  std::array<std::uint8_t, 9> prs{};
  if (why) {
    r.fill(prs);
  } else {
    slot& sl = m_slots[slot_no];
    charge(s, now);
    ++sl.attempts;
    s.slot_no = slot_no;
    s.generation = sl.generation;
    prs = sl.secret;
  }
  s.decoy = why;
  const bytes ci = channel_id(m_mine, s.joiner);
  cp::point g{}, yb{}, k{};
  auto y = cp::sample_scalar(r);
  const bool ok = cp::calculate_generator(prs, ci, sid, g) && cp::public_share(y, g, yb) &&
                  cp::scalar_mult_vfy(y, ya, k);
  cp::wipe(y);
  cp::wipe(prs);
  if (!ok) {
    s.ph = phase::done;
    st.out = abort_frame(abort_malformed);
    st.event = join_refused{refusal::protocol};
    return st;
  }
  const auto isk = cp::derive_isk_ir(sid, k, ya, ada, yb, {});
  const auto ks = derive_keys(isk);
  s.joiner_tag = ks.joiner_tag;
  s.grant_key = ks.grant_key;
  s.ph = phase::await_confirm;
  st.out = frame(challenge, {yb, ks.inviter_tag});
  return st;
}

inviter_step invite_book::on_confirm(session& s, bytes_view body, time_point now) {
  inviter_step st;
  s.ph = phase::done;
  // A decoy session ends like a wrong code on the wire; locally it reports why it was refused.
  const auto refused = [&](refusal live) { return join_refused{s.decoy.value_or(live)}; };
  if (body.size() == abort_size && body[0] == join_version && body[1] == abort_msg) {
    st.event = refused(body[2] == abort_wrong_code ? refusal::wrong_code : refusal::protocol);
    return st;
  }
  if (check_body(body, confirm, confirm_size)) {
    st.out = abort_frame(abort_malformed);
    st.event = refused(refusal::protocol);
    return st;
  }
  const bool tag_ok = cp::tags_equal(body.subspan(2), s.joiner_tag);
  if (!tag_ok || s.decoy) {
    st.out = abort_frame(abort_wrong_code);
    st.event = refused(refusal::wrong_code);
    return st;
  }
  slot& sl = m_slots[s.slot_no];
  if (sl.generation != s.generation || sl.state != slot_state::open) {
    // Another session used (or the owner revoked) the invite meanwhile.
    st.out = abort_frame(abort_refused);
    st.event = join_refused{sl.state == slot_state::used ? refusal::used : refusal::unknown};
    return st;
  }
  if (sl.expires_at <= now) {
    // It expired between hello and confirm. The joiner proved it holds the code, so it may
    // learn that it was refused.
    st.out = abort_frame(abort_refused);
    st.event = join_refused{refusal::expired};
    return st;
  }
  // Single use from here on, even if the caller never grants (close_session gives it back).
  sl.state = slot_state::used;
  if (s.charged_window != 0 && s.charged_window == m_window + 1 && m_window_failures > 0)
    --m_window_failures;  // a success is not a failure
  s.ph = phase::confirmed;
  st.event = join_confirmed{s.joiner, sl.role};
  return st;
}

result<inviter_step> invite_book::feed(session_id id, bytes_view in, time_point now,
                                       crypto::rng& r) {
  const auto it = m_sessions.find(id);
  if (it == m_sessions.end()) return join_errc::unknown_session;
  session& s = it->second;
  inviter_step acc;
  if (waiting(s) && now >= s.deadline) {
    // Too late, whatever the bytes say: as if expire() had run on time.
    acc.out = end_expired(s);
    acc.event = join_refused{refusal::protocol};
    m_sessions.erase(it);
    return acc;
  }
  append(s.buf, in);
  while (waiting(s)) {
    std::error_code ec;
    auto body = next_frame(s.buf, max_control_frame, ec);
    if (ec) {
      s.ph = phase::done;
      acc.out = abort_frame(abort_malformed);
      acc.event = join_refused{refusal::protocol};
      break;
    }
    if (!body) break;
    auto st = s.ph == phase::await_hello ? on_hello(s, *body, now, r) : on_confirm(s, *body, now);
    append(acc.out, st.out);
    if (st.event) acc.event = std::move(st.event);
  }
  if (s.ph == phase::confirmed && !s.buf.empty()) {
    // Nothing may follow a confirm; refuse the grant.
    s.ph = phase::done;
    m_slots[s.slot_no].state = slot_state::open;
    acc.out = abort_frame(abort_malformed);
    acc.event = join_refused{refusal::protocol};
  }
  if (s.ph == phase::done) {
    cp::wipe(s.grant_key);
    m_sessions.erase(it);
  }
  return acc;
}

result<bytes> invite_book::grant(session_id id, bytes_view grant) {
  const auto it = m_sessions.find(id);
  if (it == m_sessions.end()) return join_errc::unknown_session;
  if (it->second.ph != phase::confirmed) return join_errc::bad_state;
  if (grant.size() > max_grant_size) return join_errc::grant_too_large;
  bytes sealed;
  if (crypto::aead_seal(crypto::aead_backend::libsodium, it->second.grant_key, zero_nonce,
                        as_bytes(grant_ad), grant, sealed) != crypto::aead_status::ok)
    return join_errc::bad_grant;
  cp::wipe(it->second.grant_key);
  m_sessions.erase(it);
  return frame(grant_msg, {sealed});
}

std::optional<bytes> invite_book::close_session(session_id id, time_point) {
  const auto it = m_sessions.find(id);
  if (it == m_sessions.end()) return std::nullopt;
  session& s = it->second;
  if (s.ph == phase::confirmed) {
    slot& sl = m_slots[s.slot_no];
    if (sl.generation == s.generation && sl.state == slot_state::used) sl.state = slot_state::open;
  }
  cp::wipe(s.grant_key);
  m_sessions.erase(it);
  return abort_frame(abort_refused);
}

}  // namespace starling::member
