#include "core/member/log.hpp"

#include <algorithm>
#include <type_traits>

namespace starling::member {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "member_log"; }
  std::string message(int c) const override {
    switch (static_cast<log_errc>(c)) {
      case log_errc::malformed:
        return "malformed log entry";
      case log_errc::bad_version:
        return "unknown log entry version";
      case log_errc::unknown_kind:
        return "unknown log entry kind";
      case log_errc::bad_role:
        return "bad role name or role list";
      case log_errc::bad_name:
        return "bad network name";
      case log_errc::body_too_large:
        return "log entry body or policy text too large";
      case log_errc::wrong_network:
        return "log entry of another network";
      case log_errc::bad_genesis:
        return "bad genesis (not by the owner, or not at the root)";
      case log_errc::bad_signature:
        return "bad log entry signature";
      case log_errc::bad_height:
        return "log entry height is not its parent's + 1";
      case log_errc::not_authorised:
        return "author may not write this log entry";
      case log_errc::owner_subject:
        return "the owner key cannot be revoked, delegated or undelegated";
      case log_errc::not_a_member:
        return "subject is not a member";
      case log_errc::already_member:
        return "subject is already a member";
      case log_errc::revoked_subject:
        return "subject is revoked";
      case log_errc::already_revoked:
        return "subject is already revoked";
      case log_errc::already_admin:
        return "subject is already an admin";
      case log_errc::not_an_admin:
        return "subject is not an admin";
      case log_errc::stale_epoch:
        return "role epoch not above the current one";
      case log_errc::stale_policy:
        return "policy version not above the current one";
      case log_errc::would_leave_no_admin:
        return "entry would leave no administrator";
      case log_errc::log_full:
        return "membership log full";
      case log_errc::no_head:
        return "membership log is empty (no genesis)";
      case log_errc::unknown_entry:
        return "unknown log entry";
    }
    return "unknown member_log error";
  }
};

std::error_code err(log_errc e) {
  return make_error_code(e);
}

const std::string admin_role = "admin";

// ---- writing ----

void put_u8(bytes& out, std::uint8_t v) {
  out.push_back(v);
}
void put_u32(bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    out.push_back(static_cast<std::uint8_t>(v >> s));
}
void put_u64(bytes& out, std::uint64_t v) {
  for (int s = 56; s >= 0; s -= 8)
    out.push_back(static_cast<std::uint8_t>(v >> s));
}
template <std::size_t N>
void put_array(bytes& out, const std::array<std::uint8_t, N>& a) {
  out.insert(out.end(), a.begin(), a.end());
}
void put_role(bytes& out, const std::string& role) {
  put_u8(out, static_cast<std::uint8_t>(role.size()));
  append(out, as_bytes(role));
}
void put_roles(bytes& out, const std::vector<std::string>& roles) {
  put_u8(out, static_cast<std::uint8_t>(roles.size()));
  for (const auto& r : roles)
    put_role(out, r);
}

void put_body(bytes& out, const entry_body& body) {
  std::visit(
      [&out](const auto& b) {
        using body_type = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<body_type, genesis_body>) {
          put_u8(out, static_cast<std::uint8_t>(b.name.size()));
          append(out, as_bytes(b.name));
        } else if constexpr (std::is_same_v<body_type, bump_epoch_body>) {
          put_role(out, b.role);
          put_u64(out, b.epoch);
        } else if constexpr (std::is_same_v<body_type, policy_body>) {
          put_u64(out, b.version);
          append(out, b.text);
        } else {
          // Every other kind: a subject key, and a role list for join and set_roles.
          put_array(out, b.subject);
          if constexpr (requires { b.roles; }) put_roles(out, b.roles);
        }
      },
      body);
}

void put_unsigned(bytes& out, const entry& e) {
  put_u8(out, e.version);
  put_array(out, e.network.bytes);
  put_array(out, e.parent.bytes);
  put_u64(out, e.height);
  put_array(out, e.author);
  put_u64(out, e.time);
  put_u8(out, static_cast<std::uint8_t>(kind_of(e.body)));
  const std::size_t length_at = out.size();
  put_u32(out, 0);
  const std::size_t body_at = out.size();
  put_body(out, e.body);
  const auto n = static_cast<std::uint32_t>(out.size() - body_at);
  for (int i = 0; i < 4; ++i)
    out[length_at + i] = static_cast<std::uint8_t>(n >> (24 - 8 * i));
}

// ---- reading ----

class reader {
 public:
  explicit reader(bytes_view in) : m_in(in) {}
  bool ok() const noexcept { return m_ok; }
  bool done() const noexcept { return m_ok && m_pos == m_in.size(); }
  std::size_t left() const noexcept { return m_in.size() - m_pos; }

  bytes_view take(std::size_t n) {
    if (!m_ok || left() < n) {
      m_ok = false;
      return {};
    }
    const auto v = m_in.subspan(m_pos, n);
    m_pos += n;
    return v;
  }
  std::uint64_t uint(std::size_t n) {
    std::uint64_t v = 0;
    for (auto b : take(n))
      v = v << 8 | b;
    return v;
  }
  template <std::size_t N>
  std::array<std::uint8_t, N> array() {
    std::array<std::uint8_t, N> a{};
    const auto v = take(N);
    if (m_ok) std::copy(v.begin(), v.end(), a.begin());
    return a;
  }

 private:
  bytes_view m_in;
  std::size_t m_pos = 0;
  bool m_ok = true;
};

result<std::string> read_role(reader& r) {
  const auto n = r.uint(1);
  const auto v = r.take(n);
  if (!r.ok()) return err(log_errc::malformed);
  std::string role(as_chars(v));
  if (auto ok = validate_role(role); !ok) return ok.error();
  return role;
}

result<std::vector<std::string>> read_roles(reader& r) {
  const auto n = r.uint(1);
  if (!r.ok()) return err(log_errc::malformed);
  if (n > max_roles) return err(log_errc::bad_role);
  std::vector<std::string> roles;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto role = STARLING_TRY(read_role(r));
    if (!roles.empty() && !(roles.back() < role)) return err(log_errc::bad_role);
    roles.push_back(std::move(role));
  }
  return roles;
}

result<entry_body> read_body(entry_kind kind, bytes_view in) {
  reader r(in);
  entry_body body;
  switch (kind) {
    case entry_kind::genesis: {
      const auto n = r.uint(1);
      const auto v = r.take(n);
      if (!r.ok()) return err(log_errc::malformed);
      if (n == 0 || n > max_network_name) return err(log_errc::bad_name);
      body = genesis_body{std::string(as_chars(v))};
      break;
    }
    case entry_kind::join: {
      join_body b{r.array<32>(), {}};
      b.roles = STARLING_TRY(read_roles(r));
      body = std::move(b);
      break;
    }
    case entry_kind::set_roles: {
      set_roles_body b{r.array<32>(), {}};
      b.roles = STARLING_TRY(read_roles(r));
      body = std::move(b);
      break;
    }
    case entry_kind::revoke:
      body = revoke_body{r.array<32>()};
      break;
    case entry_kind::delegate:
      body = delegate_body{r.array<32>()};
      break;
    case entry_kind::undelegate:
      body = undelegate_body{r.array<32>()};
      break;
    case entry_kind::bump_epoch: {
      bump_epoch_body b;
      b.role = STARLING_TRY(read_role(r));
      b.epoch = r.uint(8);
      body = std::move(b);
      break;
    }
    case entry_kind::policy: {
      policy_body b;
      b.version = r.uint(8);
      if (!r.ok()) return err(log_errc::malformed);
      if (r.left() > max_policy_text) return err(log_errc::body_too_large);
      const auto text = r.take(r.left());
      b.text.assign(text.begin(), text.end());
      body = std::move(b);
      break;
    }
  }
  if (!r.done()) return err(log_errc::malformed);
  return body;
}

// ---- state ----

const public_key* subject_of(const entry_body& body) {
  return std::visit(
      [](const auto& b) -> const public_key* {
        if constexpr (requires { b.subject; }) {
          return &b.subject;
        } else {
          return nullptr;
        }
      },
      body);
}

// Deny entries only take rights away: they are sticky and never void.
bool is_deny(entry_kind k) {
  return k == entry_kind::revoke || k == entry_kind::undelegate || k == entry_kind::bump_epoch;
}

void apply_revoke(log_state& s, const public_key& subject) {
  auto& m = s.members[subject];
  m.revoked = true;
  m.roles.clear();
  s.admins.erase(subject);
}

void apply_epoch(log_state& s, const bump_epoch_body& b) {
  auto& epoch = s.epochs[b.role];
  epoch = std::max(epoch, b.epoch);
}

// Applies a checked entry of the chain to `s`.
void apply(log_state& s, const public_key& owner, const entry& e) {
  struct visitor {
    log_state& s;
    const public_key& owner;
    void operator()(const genesis_body& b) const {
      s.network_name = b.name;
      auto& m = s.members[owner];
      m.joined = true;
      m.roles = {admin_role};
    }
    void operator()(const join_body& b) const {
      auto& m = s.members[b.subject];
      m.joined = true;
      m.roles = b.roles;
    }
    void operator()(const set_roles_body& b) const { s.members[b.subject].roles = b.roles; }
    void operator()(const revoke_body& b) const { apply_revoke(s, b.subject); }
    void operator()(const delegate_body& b) const { s.admins.insert(b.subject); }
    void operator()(const undelegate_body& b) const { s.admins.erase(b.subject); }
    void operator()(const bump_epoch_body& b) const { apply_epoch(s, b); }
    void operator()(const policy_body& b) const {
      s.policy_version = b.version;
      s.policy_text = b.text;
    }
  };
  std::visit(visitor{s, owner}, e.body);
  s.height = e.height;
}

const member_record* find_member(const log_state& s, const public_key& key) {
  const auto it = s.members.find(key);
  return it == s.members.end() ? nullptr : &it->second;
}

// Whether some admin could act after `e` is applied to `s`, worked out without copying `s`.
bool some_admin_after(const log_state& s, const public_key& owner, const entry& e) {
  const auto kind = kind_of(e.body);
  const public_key* subject = subject_of(e.body);
  std::size_t admins = s.admins.size();  // admins never hold a revoked key
  if (subject && s.admins.count(*subject) &&
      (kind == entry_kind::revoke || kind == entry_kind::undelegate)) {
    --admins;
  }
  if (subject && kind == entry_kind::delegate && !s.admins.count(*subject)) ++admins;
  if (admins != 0 || kind == entry_kind::genesis) return true;
  const member_record* m = find_member(s, owner);
  if (!m || !m->joined || m->revoked) return false;
  const auto* roles = &m->roles;
  if (const auto* b = std::get_if<set_roles_body>(&e.body); b && b->subject == owner) {
    roles = &b->roles;
  }
  return std::find(roles->begin(), roles->end(), admin_role) != roles->end();
}

std::set<std::string> held_roles(const log_state& s) {
  std::set<std::string> out;
  for (const auto& [k, m] : s.members)
    if (m.joined && !m.revoked) out.insert(m.roles.begin(), m.roles.end());
  return out;
}

// How many remembered states of each kind are kept, and how far apart head-chain checkpoints
// are.
constexpr std::size_t memo_recent = 16;
constexpr std::size_t memo_checkpoints = 4;
constexpr std::uint64_t checkpoint_every = 256;

}  // namespace

const std::error_category& log_category() noexcept {
  static const category_impl c;
  return c;
}

bool entry_id::is_zero() const noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::string to_hex(const entry_id& id) {
  return starling::to_hex(bytes_view(id.bytes));
}

entry_kind kind_of(const entry_body& body) noexcept {
  return static_cast<entry_kind>(body.index());
}

result<void> validate_role(std::string_view role) {
  // The one role-name rule of core/member/role.hpp (declared here rather than included so
  // that this change stays inside this function).
  bool is_valid_role_name(std::string_view name) noexcept;
  if (!is_valid_role_name(role)) return err(log_errc::bad_role);
  return {};
}

result<std::vector<std::string>> make_roles(std::vector<std::string> roles) {
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  if (roles.size() > max_roles) return err(log_errc::bad_role);
  for (const auto& r : roles)
    if (auto ok = validate_role(r); !ok) return ok.error();
  return roles;
}

bytes encode(const entry& e) {
  bytes out;
  put_unsigned(out, e);
  put_array(out, e.sig);
  return out;
}

bytes signing_input(const entry& e) {
  bytes out(log_sign_domain.begin(), log_sign_domain.end());
  put_unsigned(out, e);
  return out;
}

entry_id id_of_encoding(bytes_view encoded) {
  return entry_id{crypto::sha256(encoded)};
}

entry_id id_of(const entry& e) {
  return id_of_encoding(encode(e));
}

void sign_entry(entry& e, const crypto::ed25519_keypair& kp) {
  e.author = kp.pub;
  e.sig = crypto::ed25519_sign(kp, signing_input(e));
}

result<entry> decode(bytes_view in) {
  reader r(in);
  entry e;
  e.version = static_cast<std::uint8_t>(r.uint(1));
  if (!r.ok()) return err(log_errc::malformed);
  if (e.version != log_version) return err(log_errc::bad_version);
  e.network.bytes = r.array<32>();
  e.parent.bytes = r.array<32>();
  e.height = r.uint(8);
  e.author = r.array<32>();
  e.time = r.uint(8);
  const auto kind = r.uint(1);
  const auto length = r.uint(4);
  if (!r.ok()) return err(log_errc::malformed);
  if (kind > static_cast<std::uint8_t>(entry_kind::policy)) return err(log_errc::unknown_kind);
  if (length > max_body) return err(log_errc::body_too_large);
  const auto body = r.take(length);
  e.sig = r.array<64>();
  if (!r.done()) return err(log_errc::malformed);
  e.body = STARLING_TRY(read_body(static_cast<entry_kind>(kind), body));
  return e;
}

// ---- the log ----

membership_log::membership_log(const public_key& owner, log_config config)
    : m_owner(owner), m_network(network_id_of(owner)), m_config(std::move(config)) {}

bool membership_log::is_member(const public_key& key) const {
  const auto* m = find_member(m_state, key);
  return m && m->joined && !m->revoked;
}

std::vector<std::string> membership_log::roles_of(const public_key& key) const {
  const auto* m = find_member(m_state, key);
  if (!m || !m->joined || m->revoked) return {};
  return m->roles;
}

bool membership_log::is_revoked(const public_key& key) const {
  const auto* m = find_member(m_state, key);
  return m && m->revoked;
}

bool membership_log::is_admin(const public_key& key) const {
  return m_state.admins.count(key) != 0;
}

std::uint64_t membership_log::epoch_of(std::string_view role) const {
  const auto it = m_state.epochs.find(std::string(role));
  return it == m_state.epochs.end() ? 0 : it->second;
}

result<void> membership_log::check_stateless(const entry& e) const {
  if (e.network != m_network) return err(log_errc::wrong_network);
  const bool genesis = kind_of(e.body) == entry_kind::genesis;
  if (genesis != e.parent.is_zero()) return err(log_errc::bad_genesis);
  if (genesis && (e.author != m_owner || e.height != 0)) return err(log_errc::bad_genesis);
  if (!genesis && e.height == 0) return err(log_errc::bad_height);
  if (!crypto::ed25519_verify(e.author, signing_input(e), e.sig)) {
    return err(log_errc::bad_signature);
  }
  return {};
}

result<void> membership_log::check_against(const log_state& s, const entry& e,
                                           bool run_hook) const {
  const bool by_owner = e.author == m_owner;
  const bool by_admin = s.admins.count(e.author) != 0;
  if (!by_owner && !by_admin) return err(log_errc::not_authorised);
  const auto kind = kind_of(e.body);
  const public_key* subject = subject_of(e.body);
  const member_record* m = subject ? find_member(s, *subject) : nullptr;
  const bool subject_is_admin = subject && s.admins.count(*subject) != 0;
  const bool subject_is_owner = subject && *subject == m_owner;
  const bool subject_is_author = subject && *subject == e.author;

  if (subject_is_owner && (kind == entry_kind::revoke || kind == entry_kind::delegate ||
                           kind == entry_kind::undelegate)) {
    return err(log_errc::owner_subject);
  }
  if (!by_owner) {
    if (subject_is_owner) return err(log_errc::not_authorised);
    // What acts on another admin is the owner's: removing it, revoking it, or changing its
    // roles; and so is a bump of the admin role's epoch, which would void every other admin's
    // certificates (and the chains they issued) at once.
    if ((kind == entry_kind::undelegate || kind == entry_kind::revoke ||
         kind == entry_kind::set_roles) &&
        subject_is_admin && !subject_is_author) {
      return err(log_errc::not_authorised);
    }
    if (kind == entry_kind::bump_epoch && std::get<bump_epoch_body>(e.body).role == "admin") {
      return err(log_errc::not_authorised);
    }
  }

  switch (kind) {
    case entry_kind::genesis:
      return err(log_errc::bad_genesis);  // only at the root, never here
    case entry_kind::join:
      if (m && m->revoked) return err(log_errc::revoked_subject);
      if (m && m->joined) return err(log_errc::already_member);
      break;
    case entry_kind::set_roles:
      if (m && m->revoked) return err(log_errc::revoked_subject);
      if (!m || !m->joined) return err(log_errc::not_a_member);
      break;
    case entry_kind::revoke:
      if (m && m->revoked) return err(log_errc::already_revoked);
      break;
    case entry_kind::delegate:
      if (m && m->revoked) return err(log_errc::revoked_subject);
      if (subject_is_admin) return err(log_errc::already_admin);
      break;
    case entry_kind::undelegate:
      if (!subject_is_admin) return err(log_errc::not_an_admin);
      break;
    case entry_kind::bump_epoch: {
      const auto& b = std::get<bump_epoch_body>(e.body);
      const auto it = s.epochs.find(b.role);
      if (b.epoch <= (it == s.epochs.end() ? 0 : it->second)) return err(log_errc::stale_epoch);
      break;
    }
    case entry_kind::policy: {
      const auto& b = std::get<policy_body>(e.body);
      if (b.version <= s.policy_version) return err(log_errc::stale_policy);
      if (run_hook && m_config.policy_hook) {
        if (auto ok = m_config.policy_hook(b.text, held_roles(s)); !ok) return ok.error();
      }
      break;
    }
  }

  if (!some_admin_after(s, m_owner, e)) return err(log_errc::would_leave_no_admin);
  return {};
}

log_state membership_log::state_at(const entry_id& id) const {
  if (m_state.head && id == *m_state.head) return m_chain_state;
  // Walk back to a remembered state (or the root), then fold forward.
  std::vector<const entry*> path;
  const log_state* base = nullptr;
  for (entry_id cur = id;;) {
    if (const auto memo = m_recent_states.find(cur); memo != m_recent_states.end()) {
      base = &memo->second;
      break;
    }
    if (const auto memo = m_checkpoint_states.find(cur); memo != m_checkpoint_states.end()) {
      base = &memo->second;
      break;
    }
    const auto& h = m_entries.at(cur);
    path.push_back(&h.e);
    if (h.e.parent.is_zero()) break;
    cur = h.e.parent;
  }
  log_state s = base ? *base : log_state{};
  for (auto e = path.rbegin(); e != path.rend(); ++e)
    apply(s, m_owner, **e);
  s.head = id;
  return s;
}

void membership_log::remember(const entry_id& id, log_state s,
                              std::map<entry_id, log_state>& states, std::deque<entry_id>& fifo,
                              std::size_t keep) {
  if (!states.insert_or_assign(id, std::move(s)).second) return;  // already remembered
  fifo.push_back(id);
  if (fifo.size() > keep) {
    states.erase(fifo.front());  // (it may have been taken already)
    fifo.pop_front();
  }
}

result<void> membership_log::check_room(const entry& e, std::size_t encoded_size) const {
  // The last 1% is headroom: deny entries may use its first half, the owner all of it.
  const auto kind = kind_of(e.body);
  const bool by_owner = e.author == m_owner;
  const bool deauth = kind == entry_kind::revoke || kind == entry_kind::undelegate;
  const auto limit = [&](std::size_t max, std::size_t floor) {
    const std::size_t reserve = std::max(floor, max / 100);
    const std::size_t keep = by_owner ? 0 : deauth ? reserve / 2 : reserve;
    return max > keep ? max - keep : 0;
  };
  if (m_entries.size() + 1 > limit(m_config.max_entries, 1) ||
      m_total_bytes + encoded_size > limit(m_config.max_total_bytes, 0)) {
    return err(log_errc::log_full);
  }
  return {};
}

result<void> membership_log::add_verified(const entry_id& id, const entry& e,
                                          std::size_t encoded_size) {
  std::uint64_t owner_count = 0;
  std::uint64_t deny_count = 0;
  std::optional<log_state> chain_after;  // the chain state after `e`, when not on the head
  if (!e.parent.is_zero()) {
    const auto& parent = m_entries.at(e.parent);
    if (e.height != parent.e.height + 1) return err(log_errc::bad_height);
    // Only the owner and keys some entry delegated can be authorised: others are refused
    // before the parent's state is folded (a stranger's signed entries cost no fold).
    if (e.author != m_owner && !m_ever_delegated.count(e.author)) {
      return err(log_errc::not_authorised);
    }
    if (m_state.head && e.parent == *m_state.head) {
      STARLING_TRY(check_against(m_chain_state, e, true));
    } else {
      // A branch that grows one entry at a time moves its remembered state on to the new
      // entry instead of copying it (a sibling that comes later folds from a checkpoint).
      const auto recent = m_recent_states.find(e.parent);
      const bool taken = recent != m_recent_states.end();
      log_state s = taken ? std::move(recent->second) : state_at(e.parent);
      if (taken) m_recent_states.erase(recent);
      if (auto ok = check_against(s, e, true); !ok) {
        if (taken) m_recent_states.emplace(e.parent, std::move(s));  // its fifo slot is kept
        return ok.error();
      }
      apply(s, m_owner, e);
      s.head = id;
      chain_after = std::move(s);
    }
    owner_count = parent.owner_count;
    deny_count = parent.deny_count;
  } else {
    log_state s;
    apply(s, m_owner, e);
    s.head = id;
    chain_after = std::move(s);
  }
  STARLING_TRY(check_room(e, encoded_size));

  const auto kind = kind_of(e.body);
  m_entries.emplace(id, held{e, encoded_size, owner_count + (e.author == m_owner ? 1 : 0),
                             deny_count + (is_deny(kind) ? 1 : 0)});
  m_total_bytes += encoded_size;
  if (is_deny(kind)) m_deny.push_back(id);
  if (kind == entry_kind::revoke || kind == entry_kind::undelegate) {
    m_deauth.emplace(*subject_of(e.body), id);
  }
  if (const auto* d = std::get_if<delegate_body>(&e.body)) m_ever_delegated.insert(d->subject);

  const auto [it, fresh] = m_by_parent_author.try_emplace({e.parent, e.author}, id);
  if (!fresh) m_equivocations.push_back({e.author, it->second, id});

  update_head(id, chain_after ? &*chain_after : nullptr);
  if (chain_after) {
    remember(id, std::move(*chain_after), m_recent_states, m_recent_order, memo_recent);
  }
  return {};
}

bool membership_log::on_head_chain(const entry_id& id, std::uint64_t height) const {
  return height < m_head_chain.size() && m_head_chain[height] == id;
}

bool membership_log::outranks(const entry_id& a, const entry_id& b) const {
  const auto& x = m_entries.at(a);
  const auto& y = m_entries.at(b);
  if (x.owner_count != y.owner_count) return x.owner_count > y.owner_count;
  if (x.e.height != y.e.height) return x.e.height > y.e.height;
  if (x.deny_count != y.deny_count) return x.deny_count > y.deny_count;
  return a < b;
}

// The lowest head-chain height at which a revoke or undelegate off the head chain voids its
// subject's entries: one above its highest ancestor on the head chain (0 when it shares no
// ancestor with it: another genesis).
std::uint64_t membership_log::void_from_of(const entry_id& deny) const {
  for (entry_id cur = m_entries.at(deny).e.parent; !cur.is_zero();) {
    const auto& h = m_entries.at(cur);
    if (on_head_chain(cur, h.e.height)) return h.e.height + 1;
    cur = h.e.parent;
  }
  return 0;
}

std::map<public_key, std::uint64_t> membership_log::compute_void_from() const {
  std::map<public_key, std::uint64_t> out;
  for (const auto& [subject, id] : m_deauth) {
    if (on_head_chain(id, m_entries.at(id).e.height)) continue;
    const auto from = void_from_of(id);
    const auto [it, fresh] = out.try_emplace(subject, from);
    if (!fresh) it->second = std::min(it->second, from);
  }
  return out;
}

// Folds the head-chain entry at `height` into the effective state `eff`; false when it is
// void (skipped).
bool membership_log::effective_step(log_state& eff, std::uint64_t height) const {
  const entry_id& id = m_head_chain[height];
  const entry& e = m_entries.at(id).e;
  bool effective = true;
  if (kind_of(e.body) != entry_kind::genesis && !is_deny(kind_of(e.body))) {
    const auto v = m_void_from.find(e.author);
    if (e.author != m_owner && v != m_void_from.end() && height >= v->second) {
      effective = false;
    } else {
      effective = static_cast<bool>(check_against(eff, e, false));
    }
  }
  if (effective) apply(eff, m_owner, e);
  eff.head = id;
  eff.height = height;
  return effective;
}

void membership_log::reapply_off_chain(log_state& s, const entry& e) const {
  if (const public_key* subject = subject_of(e.body)) {
    if (m_off_revoked.count(*subject)) apply_revoke(s, *subject);
    if (m_off_undelegated.count(*subject)) s.admins.erase(*subject);
  }
  if (const auto* b = std::get_if<bump_epoch_body>(&e.body)) {
    if (const auto it = m_off_epochs.find(b->role); it != m_off_epochs.end()) {
      apply_epoch(s, bump_epoch_body{b->role, it->second});
    }
  }
}

void membership_log::add_off_chain_deny(const entry& e) {
  if (const auto* r = std::get_if<revoke_body>(&e.body)) {
    m_off_revoked.insert(r->subject);
    apply_revoke(m_state, r->subject);
  } else if (const auto* u = std::get_if<undelegate_body>(&e.body)) {
    m_off_undelegated.insert(u->subject);
    m_state.admins.erase(u->subject);
  } else if (const auto* b = std::get_if<bump_epoch_body>(&e.body)) {
    auto& epoch = m_off_epochs[b->role];
    epoch = std::max(epoch, b->epoch);
    apply_epoch(m_state, *b);
  }
}

void membership_log::update_head(const entry_id& id, log_state* chain_after) {
  const auto& c = m_entries.at(id);
  const auto kind = kind_of(c.e.body);
  if (m_state.head && !outranks(id, *m_state.head)) {
    // Off the head chain: only a deny entry changes the state.
    if (!is_deny(kind)) return;
    add_off_chain_deny(c.e);
    if (kind == entry_kind::bump_epoch) return;
    const public_key& subject = *subject_of(c.e.body);
    const std::uint64_t from = void_from_of(id);
    const auto [it, fresh] = m_void_from.try_emplace(subject, from);
    if (!fresh && it->second <= from) return;  // nothing more becomes void
    it->second = from;
    // Only a delegated key can have written entries that now become void.
    if (m_ever_delegated.count(subject)) refold(from);
    return;
  }
  if (m_state.head && c.e.parent == *m_state.head) {
    // On the head: one step of each fold, no copy.
    apply(m_chain_state, m_owner, c.e);
    m_chain_state.head = id;
    m_head_chain.push_back(id);
    if (c.e.height % checkpoint_every == 0) {
      remember(id, m_chain_state, m_checkpoint_states, m_checkpoint_order, memo_checkpoints);
    }
    if (effective_step(m_effective, c.e.height)) {
      apply(m_state, m_owner, c.e);
      reapply_off_chain(m_state, c.e);
    }
    m_state.head = id;
    m_state.height = c.e.height;
    if (c.e.height % checkpoint_every == 0) {
      m_effective_checkpoints.emplace_back(c.e.height, m_effective);
      if (m_effective_checkpoints.size() > memo_checkpoints) m_effective_checkpoints.pop_front();
    }
    return;
  }
  // A new branch wins: the head chain becomes the common part and the branch up to `id`.
  std::vector<entry_id> branch;
  for (entry_id cur = id;;) {
    const auto& h = m_entries.at(cur);
    if (on_head_chain(cur, h.e.height)) break;
    branch.push_back(cur);
    if (h.e.parent.is_zero()) break;
    cur = h.e.parent;
  }
  const std::uint64_t fork = m_entries.at(branch.back()).e.height;  // first height that changed
  m_head_chain.resize(fork);
  for (auto it = branch.rbegin(); it != branch.rend(); ++it)
    m_head_chain.push_back(*it);
  m_chain_state = *chain_after;  // an entry off the old head always brings its chain state

  m_off_revoked.clear();
  m_off_undelegated.clear();
  m_off_epochs.clear();
  for (const auto& d : m_deny) {
    const auto& h = m_entries.at(d);
    if (on_head_chain(d, h.e.height)) continue;
    if (const auto* r = std::get_if<revoke_body>(&h.e.body)) {
      m_off_revoked.insert(r->subject);
    } else if (const auto* u = std::get_if<undelegate_body>(&h.e.body)) {
      m_off_undelegated.insert(u->subject);
    } else if (const auto* b = std::get_if<bump_epoch_body>(&h.e.body)) {
      auto& epoch = m_off_epochs[b->role];
      epoch = std::max(epoch, b->epoch);
    }
  }
  auto void_from = compute_void_from();
  std::uint64_t from = fork;
  for (const auto* map : {&void_from, &m_void_from}) {
    const auto* other = map == &void_from ? &m_void_from : &void_from;
    for (const auto& [key, height] : *map) {
      const auto it = other->find(key);
      if (it == other->end() || it->second != height) from = std::min(from, height);
    }
  }
  m_void_from = std::move(void_from);
  refold(from);
}

// Refolds the effective state from head-chain height `from` (from the highest effective
// checkpoint below it) and rebuilds the state.
void membership_log::refold(std::uint64_t from) {
  while (!m_effective_checkpoints.empty() && m_effective_checkpoints.back().first >= from)
    m_effective_checkpoints.pop_back();
  std::uint64_t next = 0;
  if (m_effective_checkpoints.empty()) {
    m_effective = log_state{};
  } else {
    m_effective = m_effective_checkpoints.back().second;
    next = m_effective_checkpoints.back().first + 1;
  }
  for (std::uint64_t h = next; h < m_head_chain.size(); ++h) {
    effective_step(m_effective, h);
    if (h % checkpoint_every == 0 && h != 0) {
      m_effective_checkpoints.emplace_back(h, m_effective);
      if (m_effective_checkpoints.size() > memo_checkpoints) m_effective_checkpoints.pop_front();
    }
  }
  m_state = m_effective;
  for (const auto& k : m_off_revoked)
    apply_revoke(m_state, k);
  for (const auto& k : m_off_undelegated)
    m_state.admins.erase(k);
  for (const auto& [role, epoch] : m_off_epochs)
    apply_epoch(m_state, bump_epoch_body{role, epoch});
}

void membership_log::drop_orphan(const entry_id& id) {
  const auto it = m_orphans.find(id);
  if (it == m_orphans.end()) return;
  const auto range = m_waiting.equal_range(it->second.e.parent);
  for (auto w = range.first; w != range.second; ++w) {
    if (w->second == id) {
      m_waiting.erase(w);
      break;
    }
  }
  const auto q = m_orphans_per_quota.find(it->second.quota);
  if (q != m_orphans_per_quota.end() && --q->second == 0) m_orphans_per_quota.erase(q);
  m_orphan_bytes -= it->second.encoded_size;
  m_orphans.erase(it);
}

void membership_log::make_room_for_orphan(const public_key& quota, std::size_t encoded_size) {
  const auto stale = [this](const std::pair<std::uint64_t, entry_id>& o) {
    const auto it = m_orphans.find(o.second);
    return it == m_orphans.end() || it->second.seq != o.first;
  };
  // An author over its quota loses its own oldest orphan, not someone else's.
  const std::size_t per_quota = std::max<std::size_t>(1, m_config.max_orphans / 8);
  const auto held_by_quota = m_orphans_per_quota.find(quota);
  if (held_by_quota != m_orphans_per_quota.end() && held_by_quota->second >= per_quota) {
    for (const auto& o : m_orphan_order) {
      if (!stale(o) && m_orphans.at(o.second).quota == quota) {
        drop_orphan(o.second);
        break;
      }
    }
  }
  while (!m_orphan_order.empty() && (m_orphans.size() >= m_config.max_orphans ||
                                     m_orphan_bytes + encoded_size > m_config.max_orphan_bytes)) {
    if (!stale(m_orphan_order.front())) drop_orphan(m_orphan_order.front().second);
    m_orphan_order.pop_front();
  }
  if (m_orphan_order.size() >= 2 * m_config.max_orphans) {
    // Forget the arrival order of orphans that left (adopted, refused or dropped), so the
    // queue stays bounded.
    std::erase_if(m_orphan_order, stale);
  }
}

std::size_t membership_log::adopt_orphans(const entry_id& parent) {
  std::size_t adopted = 0;
  std::vector<entry_id> ready{parent};
  while (!ready.empty()) {
    const entry_id p = ready.back();
    ready.pop_back();
    std::vector<entry_id> children;
    const auto range = m_waiting.equal_range(p);
    for (auto w = range.first; w != range.second; ++w)
      children.push_back(w->second);
    for (const auto& child : children) {
      const auto it = m_orphans.find(child);
      if (it == m_orphans.end()) continue;
      const orphan o = it->second;
      drop_orphan(child);
      if (add_verified(child, o.e, o.encoded_size)) {
        ++adopted;
        ready.push_back(child);
      }
    }
  }
  return adopted;
}

result<insert_outcome> membership_log::insert(bytes_view encoded) {
  auto e = STARLING_TRY(decode(encoded));
  const entry_id id = id_of_encoding(encoded);
  if (m_entries.count(id) || m_orphans.count(id)) {
    return insert_outcome{insert_status::duplicate, id, 0};
  }
  STARLING_TRY(check_stateless(e));
  if (!e.parent.is_zero() && !m_entries.count(e.parent)) {
    if (encoded.size() > m_config.max_orphan_bytes || m_config.max_orphans == 0) {
      return err(log_errc::log_full);
    }
    // Keys the log knows as writers have a quota each; all others share one (the zero key,
    // which signs nothing under the strict check).
    const public_key quota =
        e.author == m_owner || m_ever_delegated.count(e.author) ? e.author : public_key{};
    make_room_for_orphan(quota, encoded.size());
    const std::uint64_t seq = m_orphan_seq++;
    m_waiting.emplace(e.parent, id);
    m_orphan_bytes += encoded.size();
    ++m_orphans_per_quota[quota];
    m_orphans.emplace(id, orphan{std::move(e), encoded.size(), seq, quota});
    m_orphan_order.emplace_back(seq, id);
    return insert_outcome{insert_status::orphan, id, 0};
  }
  STARLING_TRY(add_verified(id, e, encoded.size()));
  const std::size_t adopted = adopt_orphans(id);
  return insert_outcome{insert_status::added, id, adopted};
}

result<bytes> membership_log::append(const crypto::ed25519_keypair& kp, entry_body body,
                                     std::uint64_t now_unix) {
  entry e;
  e.network = m_network;
  e.time = now_unix;
  if (kind_of(body) != entry_kind::genesis) {
    if (!m_state.head) return err(log_errc::no_head);
    e.parent = *m_state.head;
    e.height = m_state.height + 1;
  }
  e.body = std::move(body);
  sign_entry(e, kp);
  bytes out = encode(e);
  // Through decode, so that an entry this node builds meets exactly the rules of one it
  // receives (role lists, lengths).
  STARLING_TRY(insert(out));
  return out;
}

std::optional<bytes> membership_log::get(const entry_id& id) const {
  const auto it = m_entries.find(id);
  if (it == m_entries.end()) return std::nullopt;
  return encode(it->second.e);
}

std::vector<bytes> membership_log::entries_from_height(std::uint64_t height,
                                                       std::size_t max) const {
  std::vector<std::pair<std::uint64_t, entry_id>> ids;
  for (const auto& [id, h] : m_entries)
    if (h.e.height >= height) ids.emplace_back(h.e.height, id);
  std::sort(ids.begin(), ids.end());
  if (ids.size() > max) ids.resize(max);
  std::vector<bytes> out;
  out.reserve(ids.size());
  for (const auto& [hgt, id] : ids)
    out.push_back(encode(m_entries.at(id).e));
  return out;
}

result<std::vector<bytes>> membership_log::entries_after(const entry_id& id,
                                                         std::size_t max) const {
  const auto it = m_entries.find(id);
  if (it == m_entries.end()) return err(log_errc::unknown_entry);
  return entries_from_height(it->second.e.height + 1, max);
}

std::vector<entry_id> membership_log::missing_parents() const {
  std::vector<entry_id> out;
  for (const auto& [parent, child] : m_waiting) {
    if (m_entries.count(parent) || m_orphans.count(parent)) continue;
    if (out.empty() || out.back() != parent) out.push_back(parent);
  }
  return out;
}

std::vector<entry_id> membership_log::orphaned_by_fork() const {
  std::vector<std::pair<std::uint64_t, entry_id>> ids;
  for (const auto& [id, h] : m_entries) {
    const auto kind = kind_of(h.e.body);
    if (is_deny(kind) || kind == entry_kind::genesis) continue;
    if (!on_head_chain(id, h.e.height)) ids.emplace_back(h.e.height, id);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<entry_id> out;
  out.reserve(ids.size());
  for (const auto& [hgt, id] : ids)
    out.push_back(id);
  return out;
}

}  // namespace starling::member
