#include "node/membership.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "core/member/cert.hpp"
#include "core/member/invite_code.hpp"
#include "core/multiformats/keys.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "core/multiformats/peer_id.hpp"
#include "node/data_dir.hpp"
#include "node/policy_file.hpp"

namespace starling::node {

namespace fs = std::filesystem;

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "membership"; }
  std::string message(int c) const override {
    switch (static_cast<membership_errc>(c)) {
      case membership_errc::no_network:
        return "this node belongs to no network";
      case membership_errc::already_member:
        return "this node already belongs to a network";
      case membership_errc::not_admin:
        return "this node may not make that change";
      case membership_errc::bad_argument:
        return "bad argument";
      case membership_errc::refused:
        return "the membership log refused the change";
      case membership_errc::join_failed:
        return "joining failed";
      case membership_errc::storage:
        return "cannot read or write the network files";
    }
    return "membership error";
  }
};

detailed_error fail(membership_errc e, std::string message) {
  return {make_error_code(e), std::move(message)};
}

// The files of a network in the data directory.
fs::path network_dir(const fs::path& data_dir) {
  return data_dir / "network";
}
fs::path member_file(const fs::path& data_dir) {
  return network_dir(data_dir) / "member.bin";
}
fs::path log_file(const fs::path& data_dir) {
  return network_dir(data_dir) / "log.bin";
}
fs::path owner_file(const fs::path& data_dir) {
  return network_dir(data_dir) / "owner.key";
}
fs::path time_file(const fs::path& data_dir) {
  return network_dir(data_dir) / "time";
}

std::optional<bytes> read_file(const fs::path& p, std::size_t max) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() > max) return std::nullopt;
  return data;
}

void put_u32(bytes& out, std::uint32_t v) {
  for (int k = 3; k >= 0; --k)
    out.push_back(static_cast<std::uint8_t>(v >> (8 * k)));
}
std::uint32_t get_u32(bytes_view b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         b[3];
}
std::uint64_t get_u64(bytes_view b) {
  std::uint64_t v = 0;
  for (std::size_t k = 0; k < 8; ++k)
    v = (v << 8) | b[k];
  return v;
}

// Splits a file of [u32 length][entry]... records; false on a torn or oversized record.
bool split_records(bytes_view data, std::vector<bytes>& out) {
  std::size_t off = 0;
  while (off < data.size()) {
    if (data.size() - off < 4) return false;
    const std::uint32_t n = get_u32(data.subspan(off, 4));
    off += 4;
    if (n > member::max_body + member::entry_overhead || data.size() - off < n) return false;
    out.emplace_back(data.begin() + static_cast<std::ptrdiff_t>(off),
                     data.begin() + static_cast<std::ptrdiff_t>(off + n));
    off += n;
  }
  return true;
}

std::uint64_t wall_unix() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::string peer_of(const member::public_key& k) {
  return multiformats::peer_id::from_public_key(k).to_string();
}

std::optional<member::public_key> key_of(const std::string& peer_id) {
  auto p = multiformats::peer_id::parse(peer_id);
  if (!p) return std::nullopt;
  return p->ed25519_public_key();
}

// Frames of /starling/members/1: u32 length || type || payload.
constexpr std::uint8_t frame_get_from = 1;  // payload: u64 height
constexpr std::uint8_t frame_entry = 2;     // payload: one encoded entry
constexpr std::size_t max_members_frame = 1 + member::max_body + member::entry_overhead;
// Entries sent for one get_from; the asker asks again from the last height when it got as many.
constexpr std::size_t entries_per_request = 1024;

bytes frame(std::uint8_t type, bytes_view payload) {
  bytes out;
  put_u32(out, static_cast<std::uint32_t>(payload.size() + 1));
  out.push_back(type);
  append(out, payload);
  return out;
}

// A log whose policy entries must parse and leave an administrator among the roles members
// hold (the same check on entries written here and received).
std::unique_ptr<member::membership_log> make_log(const member::public_key& owner) {
  member::log_config cfg;
  cfg.policy_hook = [](bytes_view text, const std::set<std::string>& held) -> result<void> {
    auto doc = parse_policy(as_chars(text), "policy");
    if (!doc) return make_error_code(membership_errc::bad_argument);
    if (!access::has_admin(doc->policy, held)) return make_error_code(membership_errc::refused);
    return {};
  };
  return std::make_unique<member::membership_log>(owner, std::move(cfg));
}

}  // namespace

const std::error_category& membership_category() noexcept {
  static const category_impl c;
  return c;
}

// ---- /starling/members/1 ------------------------------------------------------------------

/// Both directions of the log replication protocol: a stream carries get_from requests (the
/// other side answers with entry frames and closes its write side) and pushed entry frames.
/// Only members' streams reach it (guests cannot open it).
class membership::members_stream final : public stream_handler {
 public:
  members_stream(membership& m, std::shared_ptr<bool> alive) : m_m(m), m_alive(std::move(alive)) {}
  void on_data(stream& s, bytes_view data) override {
    if (!*m_alive) return s.reset();
    append(m_buf, data);
    std::size_t off = 0;
    while (m_buf.size() - off >= 4) {
      const std::uint32_t n = get_u32(bytes_view(m_buf).subspan(off, 4));
      if (n == 0 || n > max_members_frame) {
        spdlog::debug("members stream from {}: bad frame length {}", s.peer().to_string(), n);
        return s.reset();
      }
      if (m_buf.size() - off - 4 < n) break;
      const bytes_view body = bytes_view(m_buf).subspan(off + 4, n);
      off += 4 + n;
      if (body[0] == frame_get_from && body.size() == 9) {
        serve(s, get_u64(body.subspan(1)));
      } else if (body[0] == frame_entry) {
        if (++m_received > 4 * entries_per_request) return s.reset();
        m_entries.emplace_back(body.begin() + 1, body.end());
      } else {
        return s.reset();
      }
    }
    m_buf.erase(m_buf.begin(), m_buf.begin() + static_cast<std::ptrdiff_t>(off));
  }
  void on_read_closed(stream& s) override {
    if (!*m_alive) return;
    if (!s.write_closed()) s.close_write();
    flush(s);
  }
  void on_closed(stream& s, std::error_code) override {
    if (*m_alive) flush(s);
  }

 private:
  void serve(stream& s, std::uint64_t height) {
    if (!m_m.m_log) return s.close_write();
    for (const auto& e : m_m.m_log->entries_from_height(height, entries_per_request))
      s.write(frame(frame_entry, e));
    s.close_write();
  }
  void flush(stream& s) {
    if (m_entries.empty()) return;
    auto entries = std::move(m_entries);
    m_entries.clear();
    const std::size_t got = entries.size();
    std::uint64_t last_height = 0;
    for (const auto& e : entries) {
      if (auto d = member::decode(e)) last_height = std::max(last_height, d->height);
    }
    auto fresh = m_m.take_entries(entries, s.conn());
    if (!fresh.empty()) m_m.on_log_changed(fresh, &s.conn());
    // A full batch: there may be more.
    if (got >= entries_per_request && !s.conn().closing())
      m_m.request_entries(s.conn(), last_height);
  }

  membership& m_m;
  std::shared_ptr<bool> m_alive;
  bytes m_buf;
  std::vector<bytes> m_entries;
  std::size_t m_received = 0;
};

// ---- /starling/join/1, inviter side --------------------------------------------------------

class membership::join_server final : public stream_handler {
 public:
  join_server(membership& m, std::shared_ptr<bool> alive) : m_m(m), m_alive(std::move(alive)) {}
  void on_open(stream& s) override {
    if (!m_m.m_book || !m_m.m_log) return s.reset();
    auto key = s.peer().ed25519_public_key();
    if (!key) return s.reset();
    auto id = m_m.m_book->open_session(*key, m_m.m_host.clock().now());
    if (!id) return s.reset();
    m_session = *id;
    m_joiner = *key;
    m_m.m_join_streams[id->value] = &s;
    m_m.arm_join_deadline();
  }
  void on_data(stream& s, bytes_view data) override {
    if (!*m_alive || !m_session || !m_m.m_book) return s.reset();
    auto step = m_m.m_book->feed(*m_session, data, m_m.m_host.clock().now(), m_m.m_host.rng());
    if (!step) return s.reset();
    if (!step->out.empty()) s.write(step->out);
    if (!step->event) return;
    if (auto* refused = std::get_if<member::join_refused>(&*step->event)) {
      ++m_m.m_stats.joins_refused;
      spdlog::info("join attempt by {} refused: {}", s.peer().to_string(),
                   member::to_string(refused->why));
      end_session();
      s.close_write();
      return;
    }
    const auto& ok = std::get<member::join_confirmed>(*step->event);
    auto grant = m_m.grant_for(ok.joiner, ok.role);
    if (!grant) {
      spdlog::warn("join by {}: cannot grant: {}", s.peer().to_string(), grant.error().message());
      if (auto out = m_m.m_book->close_session(*m_session, m_m.m_host.clock().now())) s.write(*out);
      end_session();
      s.close_write();
      return;
    }
    auto sealed = m_m.m_book->grant(*m_session, *grant);
    end_session();
    if (!sealed) return s.reset();
    s.write(*sealed);
    s.close_write();
    ++m_m.m_stats.joins_granted;
    spdlog::info("{} joined the network with role \"{}\"", s.peer().to_string(), ok.role);
  }
  void on_closed(stream&, std::error_code) override {
    if (!*m_alive || !m_session) return;
    m_m.m_join_streams.erase(m_session->value);
    if (m_m.m_book) m_m.m_book->close_session(*m_session, m_m.m_host.clock().now());
  }

 private:
  void end_session() {
    if (m_session) m_m.m_join_streams.erase(m_session->value);
    m_session.reset();
  }

  membership& m_m;
  std::shared_ptr<bool> m_alive;
  std::optional<member::session_id> m_session;
  member::public_key m_joiner{};
};

// ---- joiner side ------------------------------------------------------------------------------

struct membership::join_attempt {
  member::invite_code code;
  std::vector<join_candidate> candidates;
  std::size_t next = 0;
  std::function<void(detailed_result<network_view>)> done;
  std::string last_error = "no peer on the network matches the code's inviter";
  std::unique_ptr<timer> deadline;
  std::uint64_t generation = 0;  ///< of the candidate being tried
  bool finished = false;
};

class membership::joiner_stream final : public stream_handler {
 public:
  joiner_stream(membership& m, std::shared_ptr<join_attempt> a, std::uint64_t gen,
                crypto::ed25519_public inviter, std::shared_ptr<bool> alive)
      : m_m(m), m_a(std::move(a)), m_gen(gen), m_inviter(inviter), m_alive(std::move(alive)) {}
  void on_open(stream& s) override {
    auto hello = m_j.start(m_a->code, m_m.m_host.identity().pub, m_inviter, m_m.m_host.rng());
    if (!hello) return give_up(s, hello.error().message());
    s.write(*hello);
  }
  void on_data(stream& s, bytes_view data) override {
    if (!live()) return s.reset();
    auto step = m_j.feed(data);
    if (!step) return give_up(s, step.error().message());
    if (!step->out.empty()) s.write(step->out);
    if (!step->event) return;
    m_done = true;
    if (auto* f = std::get_if<member::join_failed>(&*step->event)) {
      s.close_write();
      return next(f->why == member::join_errc::wrong_code ? "the code is wrong, expired or used up"
                                                          : "join refused: " + f->why.message());
    }
    const bytes grant = std::get<member::join_granted>(*step->event).grant;
    s.close_write();
    auto r = m_m.adopt_grant(grant, m_inviter);
    if (!r) return next(r.error().message);
    m_m.finish_join(m_a, std::move(r));
  }
  void on_closed(stream&, std::error_code ec) override {
    if (!m_done && live())
      next(ec ? "the inviter closed the stream: " + ec.message() : "the inviter closed the stream");
  }

 private:
  bool live() const { return *m_alive && !m_a->finished && m_a->generation == m_gen; }
  void give_up(stream& s, std::string why) {
    m_done = true;
    s.reset();
    next(std::move(why));
  }
  void next(std::string why) {
    m_done = true;
    if (!live()) return;
    m_a->last_error = std::move(why);
    m_m.try_next_candidate(m_a);
  }

  membership& m_m;
  std::shared_ptr<join_attempt> m_a;
  std::uint64_t m_gen;
  crypto::ed25519_public m_inviter;
  std::shared_ptr<bool> m_alive;
  member::joiner m_j;
  bool m_done = false;
};

// ---- the service --------------------------------------------------------------------------

membership::membership(host& h, fs::path data_dir, membership_config cfg)
    : m_host(h),
      m_dir(std::move(data_dir)),
      m_cfg(cfg),
      m_join_timer(std::make_unique<timer>(h.context())),
      m_guest_timer(std::make_unique<timer>(h.context())),
      m_expiry_timer(std::make_unique<timer>(h.context())),
      m_guard([this](const data::peer_id& p) {
        // The log's roles: empty for a non-member, a revoked key or a non-Ed25519 id.
        auto key = p.ed25519_public_key();
        return key && m_log ? m_log->roles_of(*key) : std::vector<std::string>{};
      }) {}

membership::~membership() {
  if (m_log) save_time_floor();
  *m_alive = false;
  m_host.set_admission(nullptr);
}

detailed_result<std::unique_ptr<membership>> membership::start(
    host& h, fs::path data_dir, membership_config cfg,
    std::function<std::vector<join_candidate>()> known_peers) {
  std::unique_ptr<membership> m(new membership(h, std::move(data_dir), cfg));
  m->m_known_peers = std::move(known_peers);
  if (auto r = m->load(); !r) return r.error();
  auto* self = m.get();
  const auto alive = m->m_alive;
  h.set_handler(std::string(join_protocol_id),
                [self, alive] { return std::make_unique<join_server>(*self, alive); });
  h.set_handler(std::string(members_protocol_id),
                [self, alive] { return std::make_unique<members_stream>(*self, alive); });
  h.set_guest_protocols(
      {"/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", std::string(join_protocol_id)});
  h.set_admission(self);
  if (m->m_log) {
    spdlog::info("network {} (\"{}\"): {} log entries; admitting members only",
                 member::short_name(m->m_log->network()), m->m_log->state().network_name,
                 m->m_log->size());
  } else {
    spdlog::warn(
        "this node belongs to no network: it admits every peer and serves it everything "
        "(run `starling network create` or `starling join CODE`)");
  }
  return m;
}

detailed_result<void> membership::load() {
  const fs::path mf = member_file(m_dir);
  std::error_code ec;
  if (!fs::exists(mf, ec)) return {};
  auto data = read_file(mf, 1 << 20);
  if (!data) return fail(membership_errc::storage, "cannot read " + mf.string());
  auto g = member::decode_grant(*data);
  if (!g)
    return fail(membership_errc::storage, mf.string() + " is corrupt: " + g.error().message());
  auto log = make_log(g->owner);
  const fs::path lf = log_file(m_dir);
  auto log_data = read_file(lf, std::size_t{128} << 20);
  std::vector<bytes> records;
  if (!log_data || !split_records(*log_data, records)) {
    return fail(membership_errc::storage, lf.string() + " is missing or torn");
  }
  std::uint64_t newest = 0;
  for (const auto& r : records) {
    auto ins = log->insert(r);
    if (!ins) {
      spdlog::warn("{}: skipping an entry the log refuses: {}", lf.string(), ins.error().message());
      continue;
    }
    if (auto d = member::decode(r)) newest = std::max(newest, d->time);
  }
  if (!log->head()) return fail(membership_errc::storage, lf.string() + " holds no genesis");
  m_newest_entry_time = newest;
  if (auto t = read_file(time_file(m_dir), 64)) {
    std::uint64_t v = 0;
    for (auto b : *t) {
      if (b < '0' || b > '9' || v > 1'000'000'000'000ULL) break;
      v = v * 10 + (b - '0');
    }
    m_time_floor = v;
  }
  std::optional<crypto::ed25519_keypair> owner;
  if (fs::exists(owner_file(m_dir), ec)) {
    auto k = load_private_key(owner_file(m_dir));
    if (!k) return fail(membership_errc::storage, k.error().message);
    if (k->pub != g->owner) {
      return fail(membership_errc::storage,
                  owner_file(m_dir).string() + " is not the owner key of this network");
    }
    owner = *k;
  }
  set_network(std::move(log), g->chain, owner);
  return {};
}

void membership::set_network(std::unique_ptr<member::membership_log> log, bytes chain,
                             std::optional<crypto::ed25519_keypair> owner) {
  m_log = std::move(log);
  m_chain = std::move(chain);
  m_owner = std::move(owner);
  m_book = std::make_unique<member::invite_book>(m_host.identity().pub);
  refresh_proof();
  refresh_access();
}

void membership::refresh_access() {
  if (!m_log) {
    m_guard.open();
    m_guard_policy = UINT64_MAX;
  } else if (const std::uint64_t v = m_log->state().policy_version; v != m_guard_policy) {
    auto p = current_policy();
    auto ok = p ? m_guard.set_policy(std::move(*p))
                : result<void>(make_error_code(std::errc::invalid_argument));
    if (!ok) {
      // Cannot happen (the log's policy hook compiled it before accepting it); fail closed.
      spdlog::error(
          "access policy version {} does not compile ({}): denying every data "
          "operation until a valid policy arrives",
          v, ok.error().message());
      (void)m_guard.set_policy(access::policy{v, {}});
    }
    m_guard_policy = v;
  }
  m_guard.roles_changed();
  if (m_access_changed) m_access_changed();
}

void membership::sweep_guests() {
  m_guest_sweep_armed = false;
  const auto now = m_host.clock().now();
  bool left = false;
  for (auto& c : m_host.connections()) {
    if (!c->established() || c->closing() || c->admitted_as() != peer_class::guest) continue;
    if (now - c->since() >= m_cfg.guest_lifetime) {
      spdlog::debug("closing guest {}: connected for {} s", c->peer().to_string(),
                    m_cfg.guest_lifetime.count());
      c->close();
    } else {
      left = true;
    }
  }
  if (left) {
    m_guest_sweep_armed = true;
    m_guest_timer->schedule(std::chrono::seconds(5), [this, alive = m_alive] {
      if (*alive) sweep_guests();
    });
  }
}

void membership::arm_join_deadline() {
  if (!m_book) return;
  const auto at = m_book->next_deadline();
  if (!at) return;
  m_join_timer->schedule_at(*at, m_host.clock(), [this, alive = m_alive] {
    if (!*alive || !m_book) return;
    for (auto& ex : m_book->expire(m_host.clock().now())) {
      auto it = m_join_streams.find(ex.id.value);
      if (it == m_join_streams.end()) continue;
      stream* s = it->second;
      m_join_streams.erase(it);
      ++m_stats.joins_refused;
      spdlog::info("join attempt by {} timed out", s->peer().to_string());
      s->write(ex.out);
      s->close_write();
    }
    arm_join_deadline();
  });
}

void membership::refresh_proof() {
  if (!m_log) {
    m_proof.clear();
    return;
  }
  member::membership_proof p;
  p.network = m_log->network();
  p.head_height = m_log->state().height;
  p.head = m_log->head().value_or(member::entry_id{});
  p.chain = m_chain;
  m_proof = member::encode_proof(p);
}

std::uint64_t membership::now_unix() const {
  return std::max({wall_unix(), m_newest_entry_time, m_time_floor});
}

void membership::save_time_floor() {
  const std::string t = std::to_string(now_unix());
  if (auto w = write_private_file(network_dir(m_dir), time_file(m_dir), as_bytes(t)); !w)
    spdlog::warn("{}", w.error().message);
}

void membership::arm_expiry(std::uint64_t valid_until) {
  if (m_next_expiry != 0 && m_next_expiry <= valid_until) return;
  m_next_expiry = valid_until;
  const auto now = now_unix();
  const std::uint64_t secs = valid_until > now ? valid_until - now : 0;
  // At most a day ahead: the wall clock may jump meanwhile; a re-check re-arms.
  m_expiry_timer->schedule(std::chrono::seconds(std::min<std::uint64_t>(secs + 1, 86400)),
                           [this, alive = m_alive] {
                             if (!*alive) return;
                             m_next_expiry = 0;
                             recheck_connections();
                           });
}

std::optional<network_view> membership::network() const {
  if (!m_log) return std::nullopt;
  network_view v;
  v.network_id = member::to_hex(m_log->network());
  v.name = m_log->state().network_name;
  v.roles = m_log->roles_of(m_host.identity().pub);
  v.owner = m_owner.has_value();
  v.log_height = m_log->state().height;
  return v;
}

detailed_result<peer_class> membership::admit(const connection& c, const conn::established& e) {
  if (!m_log) return peer_class::member;  // open node
  auto r = member::admit(e.remote_membership, e.remote_identity, *m_log, now_unix());
  if (r) {
    ++m_stats.admitted;
    arm_expiry(r->valid_until);
    // Heads differ: the side that is ahead (or on another branch) sends what the other may
    // lack, once the connection is up. The peer's proof was made when its handshake started,
    // so an entry written meanwhile reaches it this way too.
    const auto our_height = m_log->state().height;
    const bool same = m_log->head() && r->peer_head == *m_log->head();
    if (!same) {
      const bool ask = r->peer_head_height >= our_height;
      const auto from = ask ? (our_height > 16 ? our_height - 16 : 0)
                            : (r->peer_head_height > 16 ? r->peer_head_height - 16 : 0);
      boost::asio::post(m_host.context(), [this, alive = m_alive, conn = &c, from, ask] {
        if (!*alive || !m_log) return;
        for (auto& sc : m_host.connections()) {
          if (sc.get() != conn || !sc->established() || sc->closing()) continue;
          if (ask) {
            request_entries(*sc, from);
          } else {
            push_entries_to(*sc, m_log->entries_from_height(from, 1024));
          }
        }
      });
    }
    return peer_class::member;
  }
  const bool invite_open = m_book && m_book->open_invites(m_host.clock().now()) > 0;
  // Guests are peers that came to us (a joiner); one we dialled ourselves is just refused, so
  // that the dialler (the mesh) sees a failure and backs off.
  if ((m_cfg.allow_guests || invite_open) && c.dir() == conn::direction::inbound) {
    std::size_t guests = 0;
    for (auto& o : m_host.connections()) {
      if (o.get() != &c && o->established() && !o->closing() &&
          o->admitted_as() == peer_class::guest) {
        ++guests;
      }
    }
    if (guests >= m_cfg.max_guests) {
      ++m_stats.refused;
      return detailed_error{make_error_code(r.error().code), "not admitted: " + r.error().detail +
                                                                 "; and " + std::to_string(guests) +
                                                                 " guests are connected already"};
    }
    ++m_stats.guests;
    if (!m_guest_sweep_armed) {
      m_guest_sweep_armed = true;
      m_guest_timer->schedule(std::chrono::seconds(5), [this, alive = m_alive] {
        if (*alive) sweep_guests();
      });
    }
    return peer_class::guest;
  }
  ++m_stats.refused;
  return detailed_error{make_error_code(r.error().code), "not admitted: " + r.error().detail};
}

detailed_result<network_view> membership::create_network(std::string name) {
  if (m_log)
    return fail(membership_errc::already_member,
                "this node already belongs to network " + member::short_name(m_log->network()));
  if (name.empty() || name.size() > member::max_network_name) {
    return fail(membership_errc::bad_argument, "a network name has 1 to 64 bytes");
  }
  const auto owner = crypto::ed25519_generate(m_host.rng());
  const auto now = now_unix();
  auto log = make_log(owner.pub);
  const auto& me = m_host.identity();
  std::vector<bytes> entries;
  for (member::entry_body body :
       {member::entry_body{member::genesis_body{name}},
        member::entry_body{member::join_body{me.pub, {std::string(member::admin_role)}}},
        member::entry_body{member::delegate_body{me.pub}}}) {
    auto e = log->append(owner, std::move(body), now);
    if (!e)
      return fail(membership_errc::refused, "cannot write the genesis: " + e.error().message());
    entries.push_back(std::move(*e));
  }
  member::cert_fields f;
  f.network = log->network();
  f.subject = me.pub;
  f.roles = {std::string(member::admin_role)};
  f.not_before = now > 300 ? now - 300 : 0;
  f.not_after = now + static_cast<std::uint64_t>(m_cfg.cert_validity.count());
  auto cert = member::issue(owner, f);
  if (!cert) return fail(membership_errc::refused, cert.error().message());
  std::vector<member::certificate> chain = {*cert};
  auto chain_bytes = member::encode_chain(chain);
  if (!chain_bytes) return fail(membership_errc::refused, chain_bytes.error().message());

  if (auto w = write_private_file(network_dir(m_dir), owner_file(m_dir),
                                  multiformats::encode_private_key(owner));
      !w) {
    return fail(membership_errc::storage, w.error().message);
  }
  m_newest_entry_time = now;
  set_network(std::move(log), std::move(*chain_bytes), owner);
  if (auto s = save_member_file(); !s) return s.error();
  if (auto s = rewrite_log_file(); !s) return s.error();
  spdlog::info("created network {} (\"{}\"); this node is its owner and admin",
               member::short_name(m_log->network()), name);
  // Nobody connected is a member: they reconnect with proofs, or stay out.
  for (auto& c : m_host.connections())
    c->close();
  return *network();
}

detailed_result<void> membership::provision(const fs::path& data_dir,
                                            const member::join_grant& grant,
                                            const crypto::ed25519_keypair* owner_key) {
  member::join_grant head = grant;
  head.entries.clear();
  auto enc = member::encode_grant(head);
  if (!enc) return fail(membership_errc::storage, "cannot encode the member file");
  if (auto w = write_private_file(network_dir(data_dir), member_file(data_dir), *enc); !w)
    return fail(membership_errc::storage, w.error().message);
  bytes all;
  for (const auto& e : grant.entries) {
    put_u32(all, static_cast<std::uint32_t>(e.size()));
    append(all, e);
  }
  if (auto w = write_private_file(network_dir(data_dir), log_file(data_dir), all); !w)
    return fail(membership_errc::storage, w.error().message);
  if (owner_key) {
    if (auto w = write_private_file(network_dir(data_dir), owner_file(data_dir),
                                    multiformats::encode_private_key(*owner_key));
        !w) {
      return fail(membership_errc::storage, w.error().message);
    }
  }
  return {};
}

detailed_result<void> membership::save_member_file() {
  member::join_grant g;
  g.owner = m_log->owner();
  g.chain = m_chain;
  auto enc = member::encode_grant(g);
  if (!enc) return fail(membership_errc::storage, "cannot encode the member file");
  auto w = write_private_file(network_dir(m_dir), member_file(m_dir), *enc);
  if (!w) return fail(membership_errc::storage, w.error().message);
  return {};
}

detailed_result<void> membership::rewrite_log_file() {
  bytes all;
  for (std::uint64_t h = 0;;) {
    auto batch = m_log->entries_from_height(h, 4096);
    for (const auto& e : batch) {
      put_u32(all, static_cast<std::uint32_t>(e.size()));
      append(all, e);
    }
    if (batch.size() < 4096) break;
    auto last = member::decode(batch.back());
    if (!last) break;
    h = last->height + 1;
  }
  auto w = write_private_file(network_dir(m_dir), log_file(m_dir), all);
  if (!w) return fail(membership_errc::storage, w.error().message);
  return {};
}

detailed_result<void> membership::append_log_file(bytes_view entry) {
  std::ofstream out(log_file(m_dir), std::ios::binary | std::ios::app);
  bytes rec;
  put_u32(rec, static_cast<std::uint32_t>(entry.size()));
  append(rec, entry);
  out.write(reinterpret_cast<const char*>(rec.data()), static_cast<std::streamsize>(rec.size()));
  out.flush();
  if (!out) return fail(membership_errc::storage, "cannot append to " + log_file(m_dir).string());
  return {};
}

detailed_result<std::string> membership::invite(std::string role, std::chrono::seconds ttl) {
  if (!m_log) {
    return fail(membership_errc::no_network,
                "this node belongs to no network: run `starling network create` first");
  }
  if (!m_owner && !m_log->is_admin(m_host.identity().pub)) {
    return fail(membership_errc::not_admin, "only an admin may invite, and this node is not one");
  }
  if (auto ok = member::validate_role(role); !ok) {
    return fail(membership_errc::bad_argument,
                "bad role \"" + role + "\": 1 to 32 characters of a-z, 0-9, _ and -");
  }
  if (ttl.count() <= 0 || ttl > std::chrono::hours(24 * 30)) {
    return fail(membership_errc::bad_argument, "an invite lasts from 1 second to 30 days");
  }
  const auto now = m_host.clock().now();
  auto code = m_book->issue(role, now + ttl, now, m_host.rng());
  if (!code) return fail(membership_errc::refused, "cannot invite: " + code.error().message());
  spdlog::info("invite for role \"{}\" open for {} s", role, ttl.count());
  return *code;
}

result<bytes> membership::grant_for(const member::public_key& joiner, const std::string& role) {
  if (!m_log) return make_error_code(membership_errc::no_network);
  const auto now = now_unix();
  const auto& me = m_host.identity();
  // The log first: a refused join (a revoked key) grants nothing.
  if (!m_log->state().members.count(joiner) || !m_log->state().members.at(joiner).joined) {
    auto e = m_log->append(m_owner ? *m_owner : me, member::join_body{joiner, {role}}, now);
    if (!e) return e.error();
    on_log_changed({*e}, nullptr);
  } else if (m_log->is_revoked(joiner)) {
    return make_error_code(member::log_errc::revoked_subject);
  }
  member::cert_fields f;
  f.network = m_log->network();
  f.subject = joiner;
  f.roles = {role};
  f.role_epoch = static_cast<std::uint32_t>(m_log->epoch_of(role));
  f.not_before = now > 300 ? now - 300 : 0;
  f.not_after = now + static_cast<std::uint64_t>(m_cfg.cert_validity.count());
  auto leaf = member::issue(me, f);
  if (!leaf) return leaf.error();
  auto mine = member::decode_chain(m_chain);
  if (!mine) return make_error_code(mine.error().code);
  std::vector<member::certificate> chain = {*leaf};
  chain.insert(chain.end(), mine->begin(), mine->end());
  if (chain.size() > member::max_chain_length)
    return make_error_code(member::cert_errc::chain_too_long);
  auto enc = member::encode_chain(chain);
  if (!enc) return enc.error();
  member::join_grant g;
  g.owner = m_log->owner();
  g.chain = std::move(*enc);
  g.entries = m_log->entries_from_height(0, member::max_grant_entries);
  return member::encode_grant(g);
}

detailed_result<network_view> membership::adopt_grant(const bytes& grant,
                                                      const crypto::ed25519_public& from) {
  if (m_log) return fail(membership_errc::already_member, "this node already belongs to a network");
  auto g = member::decode_grant(grant);
  if (!g) return fail(membership_errc::join_failed, "the inviter sent a bad grant");
  auto log = make_log(g->owner);
  std::uint64_t newest = 0;
  for (const auto& e : g->entries) {
    if (log->insert(e)) {
      if (auto d = member::decode(e)) newest = std::max(newest, d->time);
    }
  }
  m_newest_entry_time = std::max(m_newest_entry_time, newest);
  member::membership_proof p;
  p.network = log->network();
  p.chain = g->chain;
  auto ok = member::admit(member::encode_proof(p), m_host.identity().pub, *log, now_unix());
  if (!ok) {
    return fail(membership_errc::join_failed,
                "the inviter's grant does not admit this node: " + ok.error().detail);
  }
  set_network(std::move(log), g->chain, std::nullopt);
  if (auto s = save_member_file(); !s) return s.error();
  if (auto s = rewrite_log_file(); !s) return s.error();
  std::string roles;
  for (const auto& r : ok->roles)
    roles += (roles.empty() ? "" : ",") + r;
  spdlog::info("joined network {} (\"{}\") with roles {}, invited by {}",
               member::short_name(m_log->network()), m_log->state().network_name, roles,
               multiformats::peer_id::from_public_key(from).to_string());
  return *network();
}

void membership::join(std::string code_text, std::vector<std::string> extra,
                      std::function<void(detailed_result<network_view>)> done) {
  if (m_log) {
    return done(fail(membership_errc::already_member, "this node already belongs to network " +
                                                          member::short_name(m_log->network())));
  }
  if (m_joining && !m_joining->finished) {
    return done(fail(membership_errc::bad_argument, "a join is already under way"));
  }
  auto code = member::parse_invite_code(code_text);
  if (!code) return done(fail(membership_errc::bad_argument, code.error().message()));
  auto a = std::make_shared<join_attempt>();
  a->code = *code;
  a->done = std::move(done);
  a->deadline = std::make_unique<timer>(m_host.context());
  // Candidates: connected peers, then known peers, then the given addresses; only keys that
  // match the code's hint (a fake peer can match it too: every match is tried).
  std::vector<std::string> seen;
  auto consider = [&](const std::string& id, std::vector<std::string> addrs) {
    auto key = key_of(id);
    if (!key || member::hint_of(*key) != code->hint) return;
    if (std::find(seen.begin(), seen.end(), id) != seen.end()) return;
    seen.push_back(id);
    a->candidates.push_back({id, std::move(addrs)});
  };
  for (auto& c : m_host.connections()) {
    if (c->established() && !c->closing()) consider(c->peer().to_string(), {});
  }
  if (m_known_peers) {
    for (auto& k : m_known_peers())
      consider(k.peer_id, k.addrs);
  }
  for (auto& addr : extra) {
    auto ma = multiformats::multiaddr::parse(addr);
    if (!ma) {
      return a->done(fail(membership_errc::bad_argument, "bad address " + addr));
    }
    auto id = ma->peer();
    if (!id) {
      return a->done(
          fail(membership_errc::bad_argument, "the address " + addr + " has no /p2p/ peer id"));
    }
    consider(id->to_string(), {addr});
  }
  m_joining = a;
  try_next_candidate(a);
}

void membership::try_next_candidate(const std::shared_ptr<join_attempt>& a) {
  if (a->finished) return;
  if (a->next >= a->candidates.size()) {
    return finish_join(a, fail(membership_errc::join_failed, a->last_error));
  }
  const join_candidate cand = a->candidates[a->next++];
  const std::uint64_t gen = ++a->generation;
  a->deadline->schedule(m_cfg.join_timeout, [this, a, gen, alive = m_alive] {
    if (!*alive || a->finished || a->generation != gen) return;
    a->last_error = "the inviter did not answer in time";
    try_next_candidate(a);
  });
  auto open = [this, a, gen, alive = m_alive](const std::shared_ptr<connection>& c) {
    if (!*alive || a->finished || a->generation != gen) return;
    auto key = c->peer().ed25519_public_key();
    if (!key) return try_next_candidate(a);
    c->open_stream({std::string(join_protocol_id)},
                   std::make_unique<joiner_stream>(*this, a, gen, *key, alive),
                   [this, a, gen, alive](std::error_code ec) {
                     if (!*alive || a->finished || a->generation != gen) return;
                     a->last_error = "the inviter does not accept joins (" + ec.message() + ")";
                     try_next_candidate(a);
                   });
  };
  for (auto& c : m_host.connections()) {
    if (c->established() && !c->closing() && c->peer().to_string() == cand.peer_id) return open(c);
  }
  std::vector<multiformats::multiaddr> addrs;
  for (auto& t : cand.addrs) {
    if (auto ma = multiformats::multiaddr::parse(t)) addrs.push_back(*ma);
  }
  auto pid = multiformats::peer_id::parse(cand.peer_id);
  if (addrs.empty() || !pid) return try_next_candidate(a);
  m_host.dial_any(*pid, addrs, std::chrono::milliseconds(1500),
                  [this, a, gen, open, alive = m_alive](result<std::shared_ptr<connection>> r) {
                    if (!*alive || a->finished || a->generation != gen) return;
                    if (!r) {
                      a->last_error = "cannot reach the inviter: " + r.error().message();
                      return try_next_candidate(a);
                    }
                    open(*r);
                  });
}

void membership::finish_join(const std::shared_ptr<join_attempt>& a,
                             detailed_result<network_view> r) {
  if (a->finished) return;
  a->finished = true;
  a->deadline->cancel();
  if (r) {
    // Every connection was made without a proof: reconnect as a member.
    for (auto& c : m_host.connections())
      c->close();
  }
  auto done = std::move(a->done);
  if (m_joining == a) m_joining.reset();
  done(std::move(r));
}

std::vector<member_view> membership::members() const {
  std::vector<member_view> out;
  if (!m_log) return out;
  const auto& me = m_host.identity().pub;
  for (const auto& [key, rec] : m_log->state().members) {
    member_view v;
    v.peer_id = peer_of(key);
    v.roles = rec.roles;
    v.admin = m_log->is_admin(key) || key == m_log->owner();
    v.owner = key == m_log->owner();
    v.revoked = rec.revoked;
    v.self = key == me;
    for (auto& c : m_host.connections()) {
      if (c->established() && !c->closing() && c->admitted_as() == peer_class::member &&
          c->peer().ed25519_public_key() == key) {
        v.connected = true;
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

detailed_result<void> membership::write_entry(member::entry_body body, bool owner_only) {
  if (!m_log) {
    return fail(membership_errc::no_network,
                "this node belongs to no network: run `starling network create` first");
  }
  const auto& me = m_host.identity();
  const crypto::ed25519_keypair* signer = nullptr;
  if (m_owner) {
    signer = &*m_owner;
  } else if (!owner_only && m_log->is_admin(me.pub)) {
    signer = &me;
  }
  if (!signer) {
    return fail(membership_errc::not_admin,
                owner_only ? "only the network owner's node may make that change"
                           : "only an admin may change the membership, and this node is not one");
  }
  auto e = m_log->append(*signer, std::move(body), now_unix());
  if (!e) return fail(membership_errc::refused, "refused: " + e.error().message());
  on_log_changed({*e}, nullptr);
  return {};
}

detailed_result<void> membership::revoke(const std::string& peer_id) {
  auto key = key_of(peer_id);
  if (!key) return fail(membership_errc::bad_argument, "not an Ed25519 peer id: " + peer_id);
  const bool owner_only = m_log && m_log->is_admin(*key);
  return write_entry(member::revoke_body{*key}, owner_only);
}

detailed_result<void> membership::set_roles(const std::string& peer_id,
                                            std::vector<std::string> roles) {
  auto key = key_of(peer_id);
  if (!key) return fail(membership_errc::bad_argument, "not an Ed25519 peer id: " + peer_id);
  auto canon = member::make_roles(std::move(roles));
  if (!canon || canon->empty()) {
    return fail(membership_errc::bad_argument,
                "roles are 1 to 16 names of 1 to 32 characters of a-z, 0-9, _ and -");
  }
  const bool owner_only = m_log && m_log->is_admin(*key);
  return write_entry(member::set_roles_body{*key, std::move(*canon)}, owner_only);
}

std::vector<bytes> membership::take_entries(const std::vector<bytes>& entries, connection& from) {
  std::vector<bytes> fresh;
  if (!m_log) return fresh;
  bool orphan = false;
  // A budget of entries per peer: a catch-up of a few thousand passes, an endless stream of
  // (valid or invalid) entries does not cost us signature checks for ever.
  auto [budget, fresh_peer] = m_entry_budgets.try_emplace(from.peer(), entry_budget_per_second,
                                                          static_cast<double>(entry_budget_burst));
  if (fresh_peer && m_entry_budgets.size() > 1024) {
    m_entry_budgets.clear();
    budget = m_entry_budgets
                 .try_emplace(from.peer(), entry_budget_per_second,
                              static_cast<double>(entry_budget_burst))
                 .first;
  }
  const auto now = m_host.clock().now();
  for (const auto& e : entries) {
    if (!budget->second.take(now)) {
      ++m_stats.entries_refused;
      spdlog::info("{} sent more log entries than its budget ({}/s); dropping the rest",
                   from.peer().to_string(), entry_budget_per_second);
      m_host.report_misbehaviour(from.peer(), abuse::offence::flood);
      break;
    }
    ++m_stats.entries_received;
    auto r = m_log->insert(e);
    if (!r) {
      ++m_stats.entries_refused;
      spdlog::debug("log entry from {} refused: {}", from.peer().to_string(), r.error().message());
      // An honest member only passes on entries it verified: a forged signature, bytes that
      // do not parse or an entry of another network is an offence. (Other refusals, such as
      // a revocation already held or a full log, can happen to honest peers.)
      const auto ec = r.error();
      if (ec == member::log_errc::bad_signature) {
        m_host.report_misbehaviour(from.peer(), abuse::offence::bad_signature);
      } else if (ec == member::log_errc::malformed || ec == member::log_errc::wrong_network ||
                 ec == member::log_errc::bad_version || ec == member::log_errc::unknown_kind) {
        m_host.report_misbehaviour(from.peer(), abuse::offence::malformed);
      }
      continue;
    }
    if (r->status == member::insert_status::added) {
      fresh.push_back(e);
      if (auto d = member::decode(e)) m_newest_entry_time = std::max(m_newest_entry_time, d->time);
    }
    if (r->status == member::insert_status::orphan) orphan = true;
  }
  if (orphan) {
    const auto h = m_log->state().height;
    request_entries(from, h > 16 ? h - 16 : 0);
  }
  return fresh;
}

void membership::on_log_changed(const std::vector<bytes>& new_entries, const connection* from) {
  for (const auto& e : new_entries) {
    if (auto w = append_log_file(e); !w) spdlog::warn("{}", w.error().message);
  }
  save_time_floor();
  refresh_proof();
  push_entries(new_entries, from);
  recheck_connections();
  refresh_access();
}

void membership::recheck_connections() {
  if (!m_log) return;
  const auto now = now_unix();
  for (auto& c : m_host.connections()) {
    if (!c->established() || c->closing() || c->admitted_as() != peer_class::member) continue;
    auto key = c->peer().ed25519_public_key();
    if (!key) continue;
    auto r = member::admit(c->remote_proof(), *key, *m_log, now);
    if (!r) {
      spdlog::info("closing the connection to {}: {}", c->peer().to_string(), r.error().detail);
      c->abort(make_error_code(r.error().code));
    } else {
      arm_expiry(r->valid_until);
    }
  }
  if (m_log->is_revoked(m_host.identity().pub)) {
    spdlog::warn("this node's own key is revoked in network {}: members will refuse it",
                 member::short_name(m_log->network()));
  }
}

void membership::push_entries(const std::vector<bytes>& entries, const connection* except) {
  if (entries.empty()) return;
  for (auto& c : m_host.connections()) {
    if (c.get() == except || !c->established() || c->closing() ||
        c->admitted_as() != peer_class::member) {
      continue;
    }
    push_entries_to(*c, entries);
  }
}

void membership::push_entries_to(connection& conn, const std::vector<bytes>& entries) {
  if (entries.empty()) return;
  bytes out;
  for (const auto& e : entries)
    append(out, frame(frame_entry, e));
  {
    auto* c = &conn;
    struct pusher final : stream_handler {
      bytes data;
      void on_open(stream& s) override {
        s.write(data);
        s.close_write();
      }
      void on_data(stream&, bytes_view) override {}
    };
    auto h = std::make_unique<pusher>();
    h->data = out;
    spdlog::debug("pushing {} log entries to {}", entries.size(), c->peer().to_string());
    c->open_stream({std::string(members_protocol_id)}, std::move(h),
                   [peer = c->peer().to_string()](std::error_code ec) {
                     spdlog::debug("cannot push log entries to {}: {}", peer, ec.message());
                   });
  }
}

void membership::request_entries(connection& c, std::uint64_t from_height) {
  struct asker final : stream_handler {
    std::uint64_t from = 0;
    std::unique_ptr<stream_handler> inner;
    void on_open(stream& s) override {
      bytes payload;
      for (int k = 7; k >= 0; --k)
        payload.push_back(static_cast<std::uint8_t>(from >> (8 * k)));
      s.write(frame(frame_get_from, payload));
      s.close_write();
    }
    void on_data(stream& s, bytes_view d) override { inner->on_data(s, d); }
    void on_read_closed(stream& s) override { inner->on_read_closed(s); }
    void on_closed(stream& s, std::error_code ec) override { inner->on_closed(s, ec); }
  };
  auto h = std::make_unique<asker>();
  h->from = from_height;
  h->inner = std::make_unique<members_stream>(*this, m_alive);
  c.open_stream({std::string(members_protocol_id)}, std::move(h));
}

}  // namespace starling::node

namespace starling::node {

std::optional<access::policy> membership::current_policy() const {
  if (!m_log) return std::nullopt;
  if (m_log->state().policy_version == 0) return access::default_policy();
  auto doc = parse_policy(as_chars(m_log->state().policy_text), "policy");
  if (!doc) return std::nullopt;  // cannot happen: the hook parsed it before it was accepted
  return doc->policy;
}

detailed_result<std::uint64_t> membership::set_policy(const std::string& text) {
  if (!m_log) {
    return fail(membership_errc::no_network,
                "this node belongs to no network: run `starling network create` first");
  }
  auto doc = parse_policy(text, "policy");
  if (!doc) return fail(membership_errc::bad_argument, doc.error().message);
  const auto failures = run_tests(doc->policy, doc->tests);
  if (!failures.empty()) {
    return fail(membership_errc::bad_argument,
                "the policy fails its own test: " + failures.front().message);
  }
  std::set<std::string> held;
  for (const auto& [key, rec] : m_log->state().members) {
    if (rec.joined && !rec.revoked) held.insert(rec.roles.begin(), rec.roles.end());
  }
  if (!access::has_admin(doc->policy, held)) {
    return fail(membership_errc::refused,
                "refused: after this policy no member could administer the network (no role "
                "that a member holds keeps \"admin\" on \"**\")");
  }
  const std::uint64_t version = m_log->state().policy_version + 1;
  auto w = write_entry(member::policy_body{version, bytes(text.begin(), text.end())}, false);
  if (!w) return w.error();
  return version;
}

detailed_result<std::string> membership::explain(const std::string& peer_id, const std::string& op,
                                                 const std::string& key) const {
  if (!m_log) {
    return fail(membership_errc::no_network,
                "this node belongs to no network: every peer may do everything");
  }
  auto k = key_of(peer_id);
  if (!k) return fail(membership_errc::bad_argument, "not an Ed25519 peer id: " + peer_id);
  auto o = access::operation_from_name(op);
  if (!o) {
    std::string names;
    for (auto n : access::operation_names)
      names += (names.empty() ? "" : ", ") + std::string(n);
    return fail(membership_errc::bad_argument,
                "unknown operation '" + op + "' (one of " + names + ")");
  }
  auto p = current_policy();
  if (!p) return fail(membership_errc::storage, "the log's policy does not parse");
  const auto roles = m_log->roles_of(*k);
  if (roles.empty()) {
    return std::string("deny: ") + peer_id +
           " is not a member (or is revoked): it is refused at the connection";
  }
  auto e = access::explain(*p, roles, *o, key);
  if (!e)
    return fail(membership_errc::bad_argument, "bad key '" + key + "': " + e.error().message());
  return *e;
}

}  // namespace starling::node
