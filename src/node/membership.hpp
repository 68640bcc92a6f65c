#pragma once
/// The node's membership service (issue 14): the network this node belongs to (owner key,
/// certificate chain and membership log, kept in `<data_dir>/network/`), admission of every
/// connection (node::admission_hook), the join protocol on both sides (`/starling/join/1`) and
/// log replication (`/starling/members/1`). docs/protocols/membership.md describes the design;
/// src/core/member holds the pure cores this drives.
///
/// A node with no network runs open: every peer is admitted as before, and status and the log
/// say so. A node with a network admits a peer only with a valid proof in its handshake; other
/// peers are refused, or admitted as guests (identify, ping and join only) while an invite of
/// this node is open or when `allow_guests` is set.
///
/// Network thread only.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/abuse/token_bucket.hpp"
#include "core/access/policy.hpp"
#include "core/data/guard.hpp"
#include "core/member/admission.hpp"
#include "core/member/join.hpp"
#include "core/member/log.hpp"
#include "node/detailed_error.hpp"
#include "node/host.hpp"
#include "node/timer.hpp"

namespace starling::node {

/// The join protocol's stream protocol id.
inline constexpr std::string_view join_protocol_id = "/starling/join/1";
/// The membership log replication protocol id.
inline constexpr std::string_view members_protocol_id = "/starling/members/1";

/// Options of the membership service.
struct membership_config {
  /// Admit peers without a valid proof as guests (identify, ping, join) at all times; off, they
  /// are guests only while an invite of this node is open, refused otherwise.
  bool allow_guests = false;
  /// How long the certificates this node issues are valid.
  std::chrono::seconds cert_validity{std::chrono::hours(24 * 365 * 10)};
  /// Guests connected at once at most; more peers without a proof are refused.
  std::size_t max_guests = 16;
  /// A guest connection is closed after this long (a join takes a few round trips).
  std::chrono::seconds guest_lifetime{60};
  /// A join attempt gives up on a candidate inviter after this long.
  std::chrono::milliseconds join_timeout{10000};
};

/// Errors of membership commands; the detailed_error's message says what to do.
enum class membership_errc {
  no_network = 1,  ///< the node belongs to no network (run `starling network create` or join)
  already_member,  ///< the node already belongs to a network
  not_admin,       ///< this node may not write that (not an admin, or an owner-only entry)
  bad_argument,    ///< a bad role, peer id, duration or code
  refused,         ///< the log refused the change (the message says why)
  join_failed,     ///< no inviter accepted the code
  storage,         ///< the network files could not be read or written
};
const std::error_category& membership_category() noexcept;
inline std::error_code make_error_code(membership_errc e) noexcept {
  return {static_cast<int>(e), membership_category()};
}

/// One member as `starling members` shows it.
struct member_view {
  std::string peer_id;
  std::vector<std::string> roles;
  bool admin = false;
  bool owner = false;  ///< the owner key itself (not a device)
  bool revoked = false;
  bool connected = false;
  bool self = false;
};

/// What `starling network create` and `starling join` report.
struct network_view {
  std::string network_id;  ///< hex
  std::string name;
  std::vector<std::string> roles;  ///< this node's roles
  bool owner = false;              ///< this node holds the owner key
  std::uint64_t log_height = 0;
};

/// A peer to try as an inviter: its id and addresses (multiaddr text).
struct join_candidate {
  std::string peer_id;
  std::vector<std::string> addrs;
};

class membership final : public admission_hook {
 public:
  /// Loads `<data_dir>/network/` (absent: the node runs open), registers the join and members
  /// protocols on `h` and becomes its admission hook. `known_peers` lists the peers discovery
  /// knows (inviter candidates for `join`). Errors: storage (a file that cannot be read, or
  /// that does not verify: the message names it).
  static detailed_result<std::unique_ptr<membership>> start(
      host& h, std::filesystem::path data_dir, membership_config cfg,
      std::function<std::vector<join_candidate>()> known_peers = {});
  /// Writes the network files of a member into `data_dir` without a running node (factory
  /// enrolment, tests): the grant's owner key, chain and log entries, and, for the owner's node,
  /// the owner key. The node started on that directory belongs to the network. Errors: storage.
  static detailed_result<void> provision(const std::filesystem::path& data_dir,
                                         const member::join_grant& grant,
                                         const crypto::ed25519_keypair* owner_key = nullptr);
  ~membership();
  membership(const membership&) = delete;
  membership& operator=(const membership&) = delete;

  bool has_network() const noexcept { return m_log != nullptr; }
  /// The network and this node's place in it; none when open.
  std::optional<network_view> network() const;
  /// The log, when the node belongs to a network.
  const member::membership_log* log() const noexcept { return m_log.get(); }

  // admission_hook
  bytes handshake_proof() const override { return m_proof; }
  detailed_result<peer_class> admit(const connection& c, const conn::established& e) override;

  /// Makes a new network owned by a new owner key in the data directory; this node becomes its
  /// first admin. Every open connection closes (its peers are not members). Errors:
  /// already_member, bad_argument (name), storage.
  detailed_result<network_view> create_network(std::string name);
  /// Opens an invite for `role` valid for `ttl`; returns the setup code. Errors: no_network,
  /// not_admin, bad_argument (role, ttl), refused (too many open invites).
  detailed_result<std::string> invite(std::string role, std::chrono::seconds ttl);
  /// Joins the network of the node that made `code`: tries every connected or known peer whose
  /// key matches the code's inviter hint (and `extra` addresses), one after the other, until one
  /// grants. `done` gets the new network, or join_failed / bad_argument / already_member.
  void join(std::string code, std::vector<std::string> extra,
            std::function<void(detailed_result<network_view>)> done);
  /// Every key the log names.
  std::vector<member_view> members() const;
  /// Revokes a peer (by peer id) for good. Errors: no_network, bad_argument, not_admin, refused.
  detailed_result<void> revoke(const std::string& peer_id);
  /// Replaces a member's roles. Errors: as revoke.
  detailed_result<void> set_roles(const std::string& peer_id, std::vector<std::string> roles);

  /// The policy in force: the log's newest policy entry, or the default policy (admin may do
  /// everything, member every data operation); none without a network.
  std::optional<access::policy> current_policy() const;
  /// The text of the log's newest policy entry; empty while the default policy applies.
  const bytes* policy_text() const noexcept {
    return m_log && m_log->state().policy_version ? &m_log->state().policy_text : nullptr;
  }
  /// Applies a policy file (TOML): it must parse, pass its own [[test]] cases and leave an
  /// administrator among the roles members hold; it becomes one signed log entry (version =
  /// the current one + 1), replicated to every member. Errors: no_network, bad_argument (the
  /// file's first problem or first failed test), refused (no administrator left), not_admin.
  detailed_result<std::uint64_t> set_policy(const std::string& text);
  /// Which rule decides whether `peer_id` may do `op` on `key`, as one sentence. Errors:
  /// no_network, bad_argument (peer id, operation or key).
  detailed_result<std::string> explain(const std::string& peer_id, const std::string& op,
                                       const std::string& key) const;

  /// The rights of every node under the network's policy and the roles the log gives, for the
  /// data layer (data::engine::set_access); open (everything allowed) while the node has no
  /// network. Valid for the membership's life.
  data::access_guard* access() noexcept { return &m_guard; }
  /// `fn` runs after every change of those rights (a policy, roles, a revocation, joining or
  /// creating a network): the data layer re-evaluates what it holds
  /// (data::engine::access_changed). One listener; a later call replaces it.
  void on_access_changed(std::function<void()> fn) { m_access_changed = std::move(fn); }

  /// Unix seconds used for certificate checks: the greatest of the wall clock, the newest log
  /// entry's time and the floor saved in the data directory (a Pi without network time does
  /// not go back before what the network already wrote, or before its own last run).
  std::uint64_t now_unix() const;

  /// Counters for status.
  struct counters {
    std::uint64_t admitted = 0, guests = 0, refused = 0, joins_granted = 0, joins_refused = 0,
                  entries_received = 0, entries_refused = 0;
  };
  const counters& stats() const noexcept { return m_stats; }

 private:
  struct join_attempt;
  class join_server;
  class joiner_stream;
  class members_stream;
  friend class join_server;
  friend class joiner_stream;
  friend class members_stream;

  membership(host& h, std::filesystem::path data_dir, membership_config cfg);
  detailed_result<void> load();
  detailed_result<void> save_member_file();
  detailed_result<void> append_log_file(bytes_view entry);
  detailed_result<void> rewrite_log_file();
  void set_network(std::unique_ptr<member::membership_log> log, bytes chain,
                   std::optional<crypto::ed25519_keypair> owner);
  void refresh_proof();
  /// Arms the timer that ends join sessions stuck waiting for their next message.
  void arm_join_deadline();
  /// Closes guests older than guest_lifetime; re-arms itself while guests remain.
  void sweep_guests();
  /// Re-checks the connections when the earliest admitted certificate lapses.
  void arm_expiry(std::uint64_t valid_until);
  /// Saves now_unix() as the time floor (`network/time`), read back at the next start.
  void save_time_floor();
  /// Appends an entry signed by the owner key when we hold it and the entry needs it, else by
  /// this node; gossips it. Errors: not_admin, refused.
  detailed_result<void> write_entry(member::entry_body body, bool owner_only);
  /// A new entry (ours or received): stored, pushed to members, connections re-checked.
  void on_log_changed(const std::vector<bytes>& new_entries, const connection* from);
  /// Inserts entries received from a member; returns the ones that were new.
  std::vector<bytes> take_entries(const std::vector<bytes>& entries, connection& from);
  void recheck_connections();
  /// Gives the guard the log's policy and roles, then tells the listener.
  void refresh_access();
  void push_entries(const std::vector<bytes>& entries, const connection* except);
  void push_entries_to(connection& c, const std::vector<bytes>& entries);
  void request_entries(connection& c, std::uint64_t from_height);
  /// Join (inviter side): a confirmed joiner gets its certificate and the log.
  result<bytes> grant_for(const member::public_key& joiner, const std::string& role);
  /// Join (joiner side).
  void try_next_candidate(const std::shared_ptr<join_attempt>& a);
  void finish_join(const std::shared_ptr<join_attempt>& a, detailed_result<network_view> r);
  detailed_result<network_view> adopt_grant(const bytes& grant, const crypto::ed25519_public& from);

  host& m_host;
  std::filesystem::path m_dir;
  membership_config m_cfg;
  std::function<std::vector<join_candidate>()> m_known_peers;
  std::unique_ptr<member::membership_log> m_log;
  std::optional<crypto::ed25519_keypair> m_owner;  ///< only on the owner's node
  bytes m_chain;                                   ///< this node's certificate chain
  bytes m_proof;                                   ///< what handshakes carry
  std::uint64_t m_newest_entry_time = 0;
  std::unique_ptr<member::invite_book> m_book;
  std::shared_ptr<join_attempt> m_joining;
  /// Inviter side: the stream of each open join session (until its on_closed).
  std::map<std::uint64_t, stream*> m_join_streams;
  std::unique_ptr<timer> m_join_timer;
  std::unique_ptr<timer> m_guest_timer;
  std::unique_ptr<timer> m_expiry_timer;
  std::uint64_t m_next_expiry = 0;  ///< unix seconds the expiry timer is set for (0: none)
  std::uint64_t m_time_floor = 0;   ///< saved in network/time: time never goes back before it
  bool m_guest_sweep_armed = false;
  counters m_stats;
  data::policy_guard m_guard;
  /// Log entries each member may send us (take_entries): a catch-up passes, a flood does not.
  static constexpr double entry_budget_per_second = 200;
  static constexpr std::size_t entry_budget_burst = 8192;
  std::map<multiformats::peer_id, abuse::token_bucket> m_entry_budgets;
  std::uint64_t m_guard_policy = UINT64_MAX;  ///< policy version the guard has (MAX: none)
  std::function<void()> m_access_changed;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace starling::node

template <>
struct std::is_error_code_enum<starling::node::membership_errc> : std::true_type {};
