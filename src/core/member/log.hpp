#pragma once
/// Membership log (issue 14): the hash-chained, signed history of a network's membership
/// (joins, role changes, revocations, delegations, role epochs, policy versions). Pure: entries
/// come in as bytes, state comes out; the caller supplies the time of the entries it writes.
///
/// ## Encoding of one entry (canonical and strict: one value, one encoding)
///
/// Integers are big-endian and fixed-width. In order:
///
/// | bytes | field |
/// |---|---|
/// | 1 | version, always 1 |
/// | 32 | network id (`network_id_of(owner key)`) |
/// | 32 | parent: SHA-256 of the parent entry's full encoding; all zero for a genesis |
/// | 8 | height: the parent's height + 1; 0 for a genesis |
/// | 32 | author: Ed25519 public key of the signer |
/// | 8 | time: unix seconds when written (informational, never checked) |
/// | 1 | kind (`entry_kind`) |
/// | 4 | body length n, at most `max_body` |
/// | n | body (below) |
/// | 64 | Ed25519 signature by the author over "starling/log/v1" followed by every byte above |
///
/// Bodies (a `key` is 32 bytes; a `role` is 1 length byte L in 1..32, then L bytes of
/// [a-z0-9_-]; a `role list` is 1 count byte in 0..16 then that many roles in strictly
/// increasing byte order, so no duplicates and one order):
///
/// - genesis (0): name length (1 byte, 1..64), then the name (opaque bytes)
/// - join (1): key, role list
/// - set_roles (2): key, role list (replaces the subject's roles)
/// - revoke (3): key
/// - delegate (4): key
/// - undelegate (5): key
/// - bump_epoch (6): role, new epoch (8 bytes)
/// - policy (7): version (8 bytes), then the policy text: the rest of the body, 0..64 KiB
///
/// Anything else (unknown version or kind, a body that ends early or has bytes left over, a
/// bad role, a length over a limit) is refused. An entry's id is SHA-256 of its full encoding
/// (signature included); Ed25519 verification is strict, so a re-encoded signature is refused
/// rather than giving a second id for the same entry.
///
/// ## Acceptance (checked against the entry's own chain, so it never depends on what else a
/// replica holds)
///
/// An entry is accepted when it passes these rules against the *chain state* of its parent:
/// the fold of every entry from the genesis to the parent, nothing else.
///
/// - The owner may write every kind. A genesis is written by the owner only, with the network
///   id `network_id_of(owner)`; it makes the owner a member with the role `admin`.
/// - An admin (delegated and not revoked) may write every kind except: undelegate, revoke or
///   set_roles of another admin, bump_epoch of the role `admin` (it would void every other
///   admin's certificates), and any entry whose subject is the owner. Those are the owner's
///   alone. An admin may delegate a new admin and may undelegate, revoke or re-role itself.
/// - Nobody may revoke, delegate or undelegate the owner key (it is the root of trust and
///   always keeps its right to write); only the owner may change its own roles.
/// - An entry after which no admin could act (no delegated, unrevoked admin, and the owner key
///   not a member with the role `admin`) is refused (`log_errc::would_leave_no_admin`).
/// - A policy entry must raise the version, and passes the log's policy hook when one is set;
///   the hook also gets the roles held by the joined, unrevoked members of the parent's chain
///   state, so it can refuse a policy whose admin role nobody holds.
///
/// ## The head (deterministic from the set of entries, whatever their arrival order)
///
/// The head is the greatest held entry in this total order: the most entries written by the
/// owner on its chain from the genesis; then the greatest height; then the most deny entries
/// (revoke, undelegate, bump_epoch) on its chain; then the smallest id (bytewise). For two tips
/// the common part counts for both, so the first rule reads "the branch since the fork point
/// that holds more of the owner's entries wins": an admin cannot outgrow an owner's entry
/// (an undelegate, a policy, a join...) by writing more entries on an older parent.
///
/// ## Effect (the state is a function of the set of held entries)
///
/// Deny entries (revoke, undelegate, bump_epoch) are *sticky*: every one held counts, on the
/// head's chain or off it (a revocation on a losing branch still revokes, an undelegation
/// still ends the admin's rights, a higher epoch wins). They only take rights away, and each
/// was valid where it was written, so they are never void. (So a revoked admin, or one it
/// delegated, can still revoke members or bump role epochs on a concurrent branch, as it could
/// before the revocation: it can deny, never grant.)
///
/// Every other entry of the head's chain is *void* (held, but without effect) when:
///
/// 1. its author is not the owner and a revoke or undelegate of the author is held on another
///    branch, *concurrent* with the entry (neither its ancestor nor its descendant): for such a
///    deny entry whose highest ancestor on the head's chain has height f, every entry of that
///    author on the head's chain above height f is void. (An admin revoked or undelegated on
///    one branch cannot keep writing on another; what it wrote before the fork stands.) Or
/// 2. it does not pass the acceptance rules above (without the policy hook) against the
///    *effective state* of its parent: the fold of the head's chain from the genesis skipping
///    void entries. So an entry that depended on a void one is void too: the entries of an
///    admin delegated by a void delegate entry, a set_roles of a key only a void entry joined,
///    an owner's entry that would leave no admin once void delegations are gone.
///
/// The state is the effective state of the head, then every deny entry off the head's chain
/// applied on top. Non-deny entries of losing branches are listed by `orphaned_by_fork()` so
/// their authors can write them again on the head. Acceptance looks at the chain state alone:
/// a key revoked on another branch may still be named by a later set_roles (it stays
/// revoked), and to delegate again a key whose only delegation is void, the owner writes an
/// undelegate and then a delegate. The owner key may always write.
///
/// ## Limits
///
/// `max_body` (64 KiB + 16) per body; `log_config::max_entries` (100,000) entries and
/// `max_total_bytes` (64 MiB) of encodings. The last 1% of each (at least one entry) is
/// headroom: an ordinary entry is refused (`log_full`) once it would reach into it; revokes and
/// undelegates (by anyone) may use the first half of it, and the owner's entries all of it, so
/// the owner can still revoke in a full log. Which entries a full log holds depends on arrival
/// order (a replica may refuse what another took).
///
/// Orphans: `max_orphans` (1,024) entries and `max_orphan_bytes` (16 MiB) wait for their
/// parent, the oldest dropped first. Each author may hold at most max_orphans / 8 (at least 1)
/// of them, and all authors that are neither the owner nor named by a held delegate entry share
/// one such quota, so a stranger signing with many keys takes at most an eighth of the slots;
/// an author over its quota loses its own oldest orphan. A non-orphan entry by a key that is
/// neither the owner nor named by any held delegate entry is refused before any state is
/// computed.
///
/// Cost: an append on the head is checked against the kept chain state and folded in one step
/// (no copy of the state). An entry off the head starts from a remembered state: the chain
/// states of the 16 latest entries added off the head (an entry takes its parent's over, so a
/// branch growing one entry at a time costs one step each) and of the head's chain every 256
/// heights (the 4 highest), so a new fork near the head costs its distance to one of them plus
/// one copy of the state (linear in the members, no fold from the genesis); a deeper fork folds
/// from the genesis once. A change of head or a new deny entry that voids entries refolds the
/// effective state from the highest of 4 remembered effective states below the change.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"
#include "core/member/cert.hpp"
#include "core/member/network.hpp"

namespace starling::member {

/// The only entry version this code writes and reads.
inline constexpr std::uint8_t log_version = 1;
/// Domain separation prefix of the signed bytes.
inline constexpr std::string_view log_sign_domain = "starling/log/v1";
/// Longest policy text, in bytes.
inline constexpr std::size_t max_policy_text = 64 * 1024;
/// Longest entry body, in bytes (a policy: its 8-byte version and the longest text).
inline constexpr std::size_t max_body = max_policy_text + 16;
/// Longest network name in a genesis, in bytes.
inline constexpr std::size_t max_network_name = 64;
// max_role_size and max_roles (cert.hpp) bound the roles of entries too.
/// Bytes of an entry around its body (header, length and signature).
inline constexpr std::size_t entry_overhead = 1 + 32 + 32 + 8 + 32 + 8 + 1 + 4 + 64;

/// Why the log refused an entry or a call.
enum class log_errc {
  malformed = 1,         ///< the bytes end early, have bytes left over, or a length is wrong
  bad_version,           ///< a version other than `log_version`
  unknown_kind,          ///< a kind byte out of range
  bad_role,              ///< a role name empty, too long, with a bad character, or a role
                         ///< list too long, unsorted or with duplicates
  bad_name,              ///< a genesis name empty or longer than max_network_name
  body_too_large,        ///< a body or policy text over its limit
  wrong_network,         ///< the entry's network id is not this log's
  bad_genesis,           ///< a genesis not by the owner or not at the root, or another kind
                         ///< at the root (zero parent)
  bad_signature,         ///< the author's signature does not verify (strictly)
  bad_height,            ///< the height is not the parent's + 1
  not_authorised,        ///< the author may not write this entry at the parent's state
  owner_subject,         ///< revoke, delegate or undelegate of the owner key
  not_a_member,          ///< set_roles of a key that never joined
  already_member,        ///< join of a key that is already a member
  revoked_subject,       ///< join, set_roles or delegate of a revoked key
  already_revoked,       ///< revoke of a key already revoked
  already_admin,         ///< delegate of a key that is already an admin
  not_an_admin,          ///< undelegate of a key that is not an admin
  stale_epoch,           ///< bump_epoch to an epoch not above the role's current one
  stale_policy,          ///< a policy version not above the current one
  would_leave_no_admin,  ///< after the entry no admin could act
  log_full,              ///< max_entries or max_total_bytes reached
  no_head,               ///< append of a non-genesis entry to an empty log
  unknown_entry,         ///< an entry id the log does not hold
};
/// The "member_log" error category.
const std::error_category& log_category() noexcept;
/// Makes `errc` values usable as std::error_code.
inline std::error_code make_error_code(log_errc e) noexcept {
  return {static_cast<int>(e), log_category()};
}

/// An entry's id: SHA-256 of its full encoding.
struct entry_id {
  std::array<std::uint8_t, 32> bytes{};
  friend auto operator<=>(const entry_id&, const entry_id&) = default;
  /// True for the all-zero id (the parent of a genesis).
  bool is_zero() const noexcept;
};

/// Lower-case hex of an entry id (64 characters), for logs and tests.
std::string to_hex(const entry_id& id);

/// The kinds of entry (the kind byte of the encoding).
enum class entry_kind : std::uint8_t {
  genesis = 0,
  join = 1,
  set_roles = 2,
  revoke = 3,
  delegate = 4,
  undelegate = 5,
  bump_epoch = 6,
  policy = 7,
};

/// Names a network; the first entry, by the owner.
struct genesis_body {
  std::string name;  ///< 1..64 bytes
  friend bool operator==(const genesis_body&, const genesis_body&) = default;
};
/// A new member with its roles (a strictly increasing list; `make_roles` sorts one).
struct join_body {
  public_key subject{};
  std::vector<std::string> roles;
  friend bool operator==(const join_body&, const join_body&) = default;
};
/// Replaces a member's roles.
struct set_roles_body {
  public_key subject{};
  std::vector<std::string> roles;
  friend bool operator==(const set_roles_body&, const set_roles_body&) = default;
};
/// Revokes a key for good (by key, not by certificate).
struct revoke_body {
  public_key subject{};
  friend bool operator==(const revoke_body&, const revoke_body&) = default;
};
/// Makes a key an admin (it may sign certificates and log entries).
struct delegate_body {
  public_key subject{};
  friend bool operator==(const delegate_body&, const delegate_body&) = default;
};
/// Ends a key's admin rights.
struct undelegate_body {
  public_key subject{};
  friend bool operator==(const undelegate_body&, const undelegate_body&) = default;
};
/// Every certificate of `role` with an epoch below `epoch` stops being valid.
struct bump_epoch_body {
  std::string role;
  std::uint64_t epoch = 0;
  friend bool operator==(const bump_epoch_body&, const bump_epoch_body&) = default;
};
/// A new access policy (opaque to the log; checked by the log's policy hook).
struct policy_body {
  std::uint64_t version = 0;
  bytes text;  ///< at most max_policy_text bytes
  friend bool operator==(const policy_body&, const policy_body&) = default;
};

/// One body; its alternative's index is the kind byte.
using entry_body = std::variant<genesis_body, join_body, set_roles_body, revoke_body, delegate_body,
                                undelegate_body, bump_epoch_body, policy_body>;

/// The kind of a body.
entry_kind kind_of(const entry_body& body) noexcept;

/// One decoded entry.
struct entry {
  std::uint8_t version = log_version;
  network_id network{};
  entry_id parent{};
  std::uint64_t height = 0;
  public_key author{};
  std::uint64_t time = 0;
  entry_body body;
  signature sig{};
  friend bool operator==(const entry&, const entry&) = default;
};

/// Checks a role name: 1..32 bytes of [a-z0-9_-]. Error: bad_role.
result<void> validate_role(std::string_view role);
/// Sorts and de-duplicates `roles` into the canonical list and checks every name and the
/// count. Error: bad_role (the caller fixes its input).
result<std::vector<std::string>> make_roles(std::vector<std::string> roles);

/// The canonical encoding of `e` (does not validate it: encode what `decode` or `sign_entry`
/// produced).
bytes encode(const entry& e);
/// The bytes the author signs: "starling/log/v1" || the encoding without the signature.
bytes signing_input(const entry& e);
/// The id of an encoded entry.
entry_id id_of_encoding(bytes_view encoded);
/// The id of `e` (SHA-256 of `encode(e)`).
entry_id id_of(const entry& e);
/// Fills `e.author` and `e.sig` from `kp`.
void sign_entry(entry& e, const crypto::ed25519_keypair& kp);
/// Decodes one entry strictly (structure only: neither the signature nor the network).
/// Errors: malformed, bad_version, unknown_kind, bad_role, bad_name, body_too_large. The
/// caller drops the bytes (and may count a misbehaviour of whoever sent them).
result<entry> decode(bytes_view in);

/// What the log holds about one key.
struct member_record {
  std::vector<std::string> roles;  ///< canonical role list
  bool joined = false;             ///< a join (or the genesis, for the owner) was applied
  bool revoked = false;            ///< revoked for good
  friend bool operator==(const member_record&, const member_record&) = default;
};

/// The membership state: the effective fold of the head's chain (void entries skipped) plus the
/// deny entries of other branches (see "Effect" above).
struct log_state {
  std::string network_name;
  std::map<public_key, member_record> members;  ///< every key the log has named
  std::set<public_key> admins;                  ///< delegated and not revoked
  std::map<std::string, std::uint64_t> epochs;  ///< role -> epoch (absent = 0)
  std::uint64_t policy_version = 0;             ///< 0 = no policy entry yet
  bytes policy_text;
  std::optional<entry_id> head;  ///< none while the log is empty
  std::uint64_t height = 0;      ///< the head's height
  friend bool operator==(const log_state&, const log_state&) = default;
};

/// Two signed entries by one author on one parent: a proof that the author equivocated.
struct equivocation {
  public_key author{};
  entry_id first{};   ///< the one the log held first
  entry_id second{};  ///< the one that arrived later
  friend bool operator==(const equivocation&, const equivocation&) = default;
};

/// What `insert` did with an entry it did not refuse.
enum class insert_status {
  added,      ///< verified and added (the head and state may have changed)
  duplicate,  ///< already held (or already waiting as an orphan); nothing changed
  orphan,     ///< its parent is unknown: kept until the parent arrives (ask for
              ///< `missing_parents()`)
};

/// The result of a successful `insert`.
struct insert_outcome {
  insert_status status = insert_status::added;
  entry_id id{};
  std::size_t adopted = 0;  ///< orphans added because this entry was their missing ancestor
};

/// Limits and the policy hook.
struct log_config {
  std::size_t max_entries = 100'000;
  std::size_t max_total_bytes = 64u << 20;
  std::size_t max_orphans = 1'024;
  std::size_t max_orphan_bytes = 16u << 20;
  /// Called on every policy entry's text before it is accepted, with the roles held by the
  /// joined, unrevoked members of the parent's chain state; an error refuses the entry and
  /// `insert` returns that error unchanged (e.g. the access layer's "no administrator", or "no
  /// member holds the admin role"). It must be a pure function of its arguments (replicas must
  /// agree); it is not called again when the state is refolded.
  std::function<result<void>(bytes_view text, const std::set<std::string>& held_roles)> policy_hook;
};

/// The membership log of one network, known by its owner key. Holds verified entries as a
/// DAG keyed by id, orphans waiting for their parent, and the resolved state.
class membership_log {
 public:
  /// An empty log for the network of `owner`.
  explicit membership_log(const public_key& owner, log_config config = {});

  /// Verifies and adds one encoded entry. Returns added (and how many orphans it let in),
  /// duplicate or orphan; otherwise the precise refusal (decode errors, wrong_network,
  /// bad_genesis, bad_signature, bad_height, not_authorised, the semantic errors of `log_errc`,
  /// would_leave_no_admin, log_full, or the policy hook's error). A refused entry changes
  /// nothing. The caller drops refused bytes and, on orphan, asks its peers for
  /// `missing_parents()`.
  result<insert_outcome> insert(bytes_view encoded);

  /// Builds an entry of `body` on the current head (or a genesis when the log is empty),
  /// signs it with `kp` at `now_unix` and inserts it. Returns its encoding (to gossip), or
  /// no_head (a non-genesis on an empty log) or any refusal of `insert`.
  result<bytes> append(const crypto::ed25519_keypair& kp, entry_body body, std::uint64_t now_unix);

  /// The resolved state (head, members, admins, epochs, policy).
  const log_state& state() const noexcept { return m_state; }
  /// The head's id, none while the log is empty.
  std::optional<entry_id> head() const noexcept { return m_state.head; }
  /// True for a key that joined and is not revoked.
  bool is_member(const public_key& key) const;
  /// The roles of a member; empty for a non-member or a revoked key.
  std::vector<std::string> roles_of(const public_key& key) const;
  /// True for a revoked key (sticky revocations included).
  bool is_revoked(const public_key& key) const;
  /// True for a delegated, unrevoked admin. The owner key is never delegated (it always has
  /// authority: compare with `owner()`).
  bool is_admin(const public_key& key) const;
  /// The current epoch of a role (0 when never bumped).
  std::uint64_t epoch_of(std::string_view role) const;
  /// The owner key and the network id.
  const public_key& owner() const noexcept { return m_owner; }
  const network_id& network() const noexcept { return m_network; }

  /// Number of verified entries held (orphans not included).
  std::size_t size() const noexcept { return m_entries.size(); }
  /// Number of orphans waiting for a parent.
  std::size_t orphan_count() const noexcept { return m_orphans.size(); }
  /// The encoding of a held entry; none if unknown.
  std::optional<bytes> get(const entry_id& id) const;
  /// Encodings of held entries with height >= `height`, ordered by height then id, at most
  /// `max` of them (the caller asks again from the last height it got).
  std::vector<bytes> entries_from_height(std::uint64_t height, std::size_t max) const;
  /// Encodings of held entries higher than the entry `id` (ordered as above, at most `max`):
  /// what a peer whose head is `id` may lack. Error: unknown_entry (send from height 0).
  result<std::vector<bytes>> entries_after(const entry_id& id, std::size_t max) const;
  /// Parents that orphans wait for and that the log does not hold (sorted, no duplicates).
  std::vector<entry_id> missing_parents() const;
  /// Entries of branches that lost a fork, except the deny ones (revoke, undelegate,
  /// bump_epoch, which count anyway) and geneses, ordered by height then id: their authors may
  /// write them again on the head.
  std::vector<entry_id> orphaned_by_fork() const;
  /// Every equivocation seen (in the order found).
  const std::vector<equivocation>& equivocations() const noexcept { return m_equivocations; }

 private:
  struct held {
    entry e;
    std::size_t encoded_size = 0;
    std::uint64_t owner_count = 0;  ///< entries by the owner on its chain (itself included)
    std::uint64_t deny_count = 0;   ///< revoke, undelegate and bump_epoch entries on its chain
  };
  struct orphan {
    entry e;
    std::size_t encoded_size = 0;
    std::uint64_t seq = 0;  ///< arrival number, to find it in m_orphan_order
    public_key quota{};     ///< whose orphan quota it counts against (zero: strangers')
  };

  result<void> check_stateless(const entry& e) const;
  result<void> check_against(const log_state& parent_state, const entry& e, bool run_hook) const;
  result<void> check_room(const entry& e, std::size_t encoded_size) const;
  log_state state_at(const entry_id& id) const;
  void remember(const entry_id& id, log_state s, std::map<entry_id, log_state>& states,
                std::deque<entry_id>& fifo, std::size_t keep);
  result<void> add_verified(const entry_id& id, const entry& e, std::size_t encoded_size);
  std::size_t adopt_orphans(const entry_id& parent);
  void drop_orphan(const entry_id& id);
  void make_room_for_orphan(const public_key& quota, std::size_t encoded_size);
  bool on_head_chain(const entry_id& id, std::uint64_t height) const;
  bool outranks(const entry_id& a, const entry_id& b) const;
  std::uint64_t void_from_of(const entry_id& deny) const;
  std::map<public_key, std::uint64_t> compute_void_from() const;
  bool effective_step(log_state& eff, std::uint64_t height) const;
  void update_head(const entry_id& id, log_state* chain_after);
  void refold(std::uint64_t from);
  void add_off_chain_deny(const entry& e);
  void reapply_off_chain(log_state& s, const entry& e) const;

  public_key m_owner;
  network_id m_network;
  log_config m_config;
  std::map<entry_id, held> m_entries;
  std::size_t m_total_bytes = 0;
  std::map<entry_id, orphan> m_orphans;
  // Arrival order of orphans, oldest first; an entry whose orphan left (or came back with
  // another number) is stale and skipped.
  std::deque<std::pair<std::uint64_t, entry_id>> m_orphan_order;
  std::uint64_t m_orphan_seq = 0;
  std::multimap<entry_id, entry_id> m_waiting;  // parent -> orphan
  std::size_t m_orphan_bytes = 0;
  std::map<public_key, std::size_t> m_orphans_per_quota;
  std::map<std::pair<entry_id, public_key>, entry_id> m_by_parent_author;
  std::vector<equivocation> m_equivocations;
  std::set<public_key> m_ever_delegated;            // every key a held delegate entry names
  std::vector<entry_id> m_deny;                     // revoke, undelegate and bump_epoch entries
  std::multimap<public_key, entry_id> m_deauth;     // subject -> its revoke and undelegate entries
  std::vector<entry_id> m_head_chain;               // index = height
  log_state m_chain_state;                          // fold of the head chain (nothing skipped)
  log_state m_effective;                            // fold of the head chain, void entries skipped
  std::map<public_key, std::uint64_t> m_void_from;  // author -> lowest void height on the chain
  // Deny entries off the head chain, as their effect on the state.
  std::set<public_key> m_off_revoked;
  std::set<public_key> m_off_undelegated;
  std::map<std::string, std::uint64_t> m_off_epochs;
  // Remembered chain states (by entry id): the latest off-head entries (a child takes its
  // parent's) and head-chain checkpoints; and effective-state checkpoints of the head chain
  // (height, state).
  std::map<entry_id, log_state> m_recent_states;
  std::deque<entry_id> m_recent_order;
  std::map<entry_id, log_state> m_checkpoint_states;
  std::deque<entry_id> m_checkpoint_order;
  std::deque<std::pair<std::uint64_t, log_state>> m_effective_checkpoints;
  log_state m_state;  // m_effective plus the deny entries of other branches
};

}  // namespace starling::member

template <>
struct std::is_error_code_enum<starling::member::log_errc> : std::true_type {};
