#pragma once
/// The join protocol (issue 14, "Enrolment, one-sided"), sans-I/O: a `joiner` on the new device
/// and an `invite_book` on the inviting node exchange four messages on one libp2p stream that
/// already runs inside a Noise-secured connection, so both peer keys are authenticated.
///
/// The setup code's secret (invite_code.hpp) is the password of CPace (crypto/cpace.hpp):
///   PRS = the 9 secret bytes; CI = lv_cat("starling/join/v1", inviter key, joiner key), so a
///   relay that terminates Noise on both sides gets two different generators and fails;
///   sid = 16 random bytes chosen by the joiner; ADa = hint || slot; ADb = empty;
///   ISK = CPace's initiator-responder ISK (the joiner is the initiator).
/// From the ISK (HMAC-SHA-256 with labels "starling/join/v1 inviter tag", "... joiner tag",
/// "... grant key"): the two confirmation tags and the key that seals the grant.
///
/// Wire format. Every message is a frame `uvarint(length) || body`, body = version (1) || type
/// || fields; fixed sizes, anything else is malformed:
///   1 hello     joiner -> inviter  hint[3] slot[1] sid[16] Ya[32]          (54 bytes)
///   2 challenge inviter -> joiner  Yb[32] inviter_tag[32]                  (66 bytes)
///   3 confirm   joiner -> inviter  joiner_tag[32]                          (34 bytes)
///   4 grant     inviter -> joiner  ChaCha20-Poly1305(grant key, nonce 0, ad "starling/join/v1
///                                  grant", grant bytes)   (2 + grant + 16, grant <= 1 MiB)
///   5 abort     either way         reason[1]: 1 wrong code, 2 malformed, 3 refused   (3 bytes)
/// Only Ya, Yb and the tags reveal anything about the exchange, and they reveal nothing about
/// the code. When the inviter refuses an attempt (unknown slot, expired, used, burnt, rate
/// limited) it answers a decoy challenge: the same CPace computation with a random password in
/// place of the code's secret, and a session that waits for the joiner's confirm (or abort) and
/// then ends exactly as a wrong code does (an abort "wrong code" after a confirm, nothing after
/// the joiner's abort). So the joiner fails exactly as with a wrong code, and neither the bytes,
/// their sizes and order, the work done nor the moment the session ends say more than "wrong
/// code". An invite that expires between hello and confirm is refused at the confirm.
///
/// Finding the inviter. The code names its inviter by a 24-bit hint of its key (hint_of), which
/// anybody can match with a key of their own in about 2^24 tries: a fake peer on the network
/// may show the same hint. The hint only picks candidates. A joiner must therefore try every
/// peer whose key matches the hint, one attempt each, before it tells the user the code is
/// wrong: a wrong_code (or refused) from one of them proves nothing about the code. The fake
/// learns nothing it can test offline (CPace leaves it one online guess at the code per
/// attempt, and the channel identifier binds the real keys). That search is the node's job;
/// this core runs one attempt.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/common/time.hpp"
#include "core/crypto/cpace.hpp"
#include "core/member/invite_code.hpp"
#include "core/member/network.hpp"

namespace starling::member {

/// The protocol version in every message.
inline constexpr std::uint8_t join_version = 1;
/// Largest grant (certificate chain and membership log) the protocol carries.
inline constexpr std::size_t max_grant_size = std::size_t{1} << 20;

/// Errors of the join protocol.
enum class join_errc {
  wrong_code = 1,      ///< key confirmation failed: wrong code, refused attempt, or a relay
  malformed,           ///< a message that does not parse (size, framing, type)
  bad_version,         ///< a message of another protocol version
  unexpected_message,  ///< a valid message in the wrong state
  invalid_point,       ///< Ya or Yb is not a canonical ristretto255 element, or the identity
  bad_grant,           ///< the grant did not authenticate
  refused,             ///< the inviter aborted after key confirmation (it could not grant)
  wrong_inviter,       ///< joiner::start: the inviter key does not match the code's hint
  bad_state,           ///< a call out of order (start twice, feed before start or after the end)
  unknown_session,     ///< invite_book: no such session (ended or never opened)
  busy,                ///< invite_book: too many sessions open at once
  too_many_invites,    ///< invite_book::issue: the limit of open invites is reached
  bad_expiry,          ///< invite_book::issue: expires_at is not after now
  grant_too_large,     ///< invite_book::grant: more than max_grant_size bytes
};
/// The "join" error category.
const std::error_category& join_category() noexcept;
/// Makes `join_errc` values usable as std::error_code.
inline std::error_code make_error_code(join_errc e) noexcept {
  return {static_cast<int>(e), join_category()};
}

// ---- joiner ----

/// The joiner was admitted: `grant` holds the caller-defined bytes the inviter sent (the
/// certificate chain and the membership log), authenticated by the PAKE.
struct join_granted {
  bytes grant;
};
/// The join failed for good: wrong_code (tell the user the code is wrong or used up),
/// refused, or a protocol error (malformed, bad_version, unexpected_message, invalid_point,
/// bad_grant). The caller sends the step's `out` (if any) and closes the stream.
struct join_failed {
  std::error_code why;
};
/// What a joiner reports once it is done.
using joiner_event = std::variant<join_granted, join_failed>;

/// The outcome of joiner::feed.
struct joiner_step {
  bytes out;                          ///< bytes to write on the stream (may be empty)
  std::optional<joiner_event> event;  ///< set once the joiner is finished
};

/// The new device's side. One object per attempt.
class joiner {
 public:
  joiner() = default;
  joiner(const joiner&) = delete;
  joiner& operator=(const joiner&) = delete;
  ~joiner();

  /// Begins an attempt with `code` against the peer whose authenticated key is `inviter`
  /// (`mine` is this device's key). Returns the hello message to write on the stream.
  /// Errors: wrong_inviter (this peer's key does not match the code's hint: try another peer),
  /// bad_state (already started: use a new joiner). A key that matches the hint may still be a
  /// fake inviter (see the top of this file): on wrong_code, try the other matching peers
  /// before reporting the code as wrong.
  result<bytes> start(const invite_code& code, const public_key& mine, const public_key& inviter,
                      crypto::rng& r);

  /// Takes bytes read from the stream (any split). Returns what to write and, at the end, the
  /// event; partial messages are kept until the rest arrives.
  /// Errors: bad_state (before start, or after the event: close the stream).
  result<joiner_step> feed(bytes_view in);

  /// True once an event was reported.
  bool finished() const noexcept { return m_state == state::done; }

 private:
  enum class state { idle, sent_hello, sent_confirm, done };
  joiner_step fail(join_errc why, std::uint8_t abort_reason);
  joiner_step on_frame(bytes_view body);

  state m_state = state::idle;
  bytes m_buf;
  crypto::cpace::scalar m_y{};
  crypto::cpace::point m_ya{};
  std::array<std::uint8_t, 16> m_sid{};
  std::array<std::uint8_t, 4> m_ada{};
  bytes m_ci;
  std::array<std::uint8_t, 32> m_grant_key{};
};

// ---- inviter ----

/// Limits of an invite_book.
struct invite_limits {
  std::size_t max_open_invites = 8;   ///< at most code_slots (32)
  unsigned max_attempts = 3;          ///< attempts on one code before it is burnt
  unsigned failures_per_minute = 10;  ///< attempts that did not succeed, over all codes
  std::size_t max_sessions = 8;       ///< sessions open at once
  /// How long a session may wait for its hello and confirm, from open_session. A session still
  /// waiting then is ended by expire() (or by the next feed) and counts as a protocol refusal.
  clock_duration session_timeout = std::chrono::seconds(30);
};

/// Why an attempt was refused. Local only: on the wire the joiner sees wrong_code.
enum class refusal : std::uint8_t {
  unknown = 1,   ///< no invite in that slot, or another inviter's hint
  expired,       ///< the invite expired
  used,          ///< the invite was used by a successful join
  burnt,         ///< the invite had max_attempts attempts already
  rate_limited,  ///< the global failure budget of the minute is spent
  wrong_code,    ///< key confirmation failed
  protocol,      ///< malformed, invalid point, or the stream ended mid-attempt
};
/// A short English name of `r` for logs ("expired", "rate limited", ...).
std::string_view to_string(refusal r) noexcept;

/// A session's id in an invite_book.
struct session_id {
  std::uint64_t value = 0;
  friend auto operator<=>(const session_id&, const session_id&) = default;
};

/// Key confirmation succeeded: the caller makes the certificate for `joiner` with `role` and
/// calls invite_book::grant (the invite is now used).
struct join_confirmed {
  public_key joiner{};
  std::string role;
};
/// The attempt was refused (see `refusal`); the caller logs `why`, writes the step's `out`
/// and closes the stream.
struct join_refused {
  refusal why{};
};
/// What an inviter session reports.
using inviter_event = std::variant<join_confirmed, join_refused>;

/// The outcome of invite_book::feed.
struct inviter_step {
  bytes out;                           ///< bytes to write on the stream (may be empty)
  std::optional<inviter_event> event;  ///< set when the session reaches a decision
};

/// A session that invite_book::expire ended: it counts as join_refused{refusal::protocol}. The
/// caller logs it, writes `out` (an abort; it may be ignored) and closes the session's stream.
struct expired_session {
  session_id id;
  bytes out;
};

/// The inviting node's open invites and join sessions. Single-use codes, expiry, at most
/// max_attempts attempts per code (an attempt counts from its hello: the joiner can test its
/// guess against the inviter's tag without confirming), a global budget of failed attempts
/// per minute, bounded memory (code_slots invites, max_sessions sessions).
class invite_book {
 public:
  /// `mine`: this node's Ed25519 public key (its libp2p identity).
  explicit invite_book(const public_key& mine, invite_limits limits = {});

  /// Makes a new invite for `role`, valid until `expires_at`; returns the code text to show.
  /// Errors: bad_expiry (expires_at <= now), too_many_invites (revoke one or wait).
  result<std::string> issue(std::string role, time_point expires_at, time_point now,
                            crypto::rng& r);

  /// Withdraws the open invite whose code is `code`; false when there is none.
  bool revoke(const invite_code& code);

  /// Opens a session for a stream from the peer whose authenticated key is `joiner`, at `now`:
  /// its hello and confirm must arrive before now + limits.session_timeout.
  /// Errors: busy (reset the stream).
  result<session_id> open_session(const public_key& joiner, time_point now);

  /// Takes bytes read from the session's stream. A session past its deadline ends at once as
  /// expire() would end it (join_refused{protocol}, an abort in `out`), whatever `in` holds.
  /// Errors: unknown_session (close the stream).
  result<inviter_step> feed(session_id id, bytes_view in, time_point now, crypto::rng& r);

  /// The earliest deadline of a session waiting for its hello or confirm; nothing when none
  /// waits (a confirmed session waits for the caller's grant and has no deadline). The caller
  /// arms one timer at it and calls expire() when it fires.
  std::optional<time_point> next_deadline() const;

  /// Ends every session waiting for its hello or confirm whose deadline is at or before `now`.
  /// Each counts as join_refused{protocol}; an attempt whose hello came stays counted against
  /// its code and the failure budget. Returns them in id order; the caller closes their streams.
  std::vector<expired_session> expire(time_point now);

  /// After join_confirmed: seals `grant` and returns the message to write; the session ends.
  /// Errors: unknown_session, bad_state (not confirmed), grant_too_large (the session stays:
  /// call grant again with less, or close_session).
  result<bytes> grant(session_id id, bytes_view grant);

  /// The stream ended or the caller gives up. An attempt that had not ended is reported as
  /// refused (protocol) and stays counted; a confirmed session that was not granted gives its
  /// invite back (it is not used). Returns the abort message to write if the stream is still
  /// open (it may be ignored), or nothing for an unknown session.
  std::optional<bytes> close_session(session_id id, time_point now);

  /// Invites still usable at `now`.
  std::size_t open_invites(time_point now) const;
  /// Sessions currently open.
  std::size_t open_sessions() const noexcept { return m_sessions.size(); }

 private:
  enum class slot_state : std::uint8_t { empty, open, used, revoked };
  struct slot {
    slot_state state = slot_state::empty;
    std::uint64_t generation = 0;
    std::array<std::uint8_t, 9> secret{};
    std::string role;
    time_point expires_at{};
    unsigned attempts = 0;
  };
  enum class phase { await_hello, await_confirm, confirmed, done };
  struct session {
    public_key joiner{};
    phase ph = phase::await_hello;
    bytes buf;
    std::uint8_t slot_no = 0;
    std::uint64_t generation = 0;
    std::array<std::uint8_t, 32> joiner_tag{};
    std::array<std::uint8_t, 32> grant_key{};
    std::uint64_t charged_window = 0;  ///< window number + 1 of the budget charge, 0 if none
    time_point deadline{};             ///< for the hello and the confirm
    std::optional<refusal> decoy;      ///< set when the hello was refused (a decoy session)
  };
  static bool waiting(const session& s) noexcept {
    return s.ph == phase::await_hello || s.ph == phase::await_confirm;
  }

  std::optional<refusal> admit(std::uint8_t slot, time_point now) const;
  inviter_step on_hello(session& s, bytes_view body, time_point now, crypto::rng& r);
  inviter_step on_confirm(session& s, bytes_view body, time_point now);
  bytes end_expired(session& s);
  void charge(session& s, time_point now);
  bool budget_spent(time_point now) const;

  public_key m_mine{};
  inviter_hint m_hint{};
  invite_limits m_limits;
  std::array<slot, code_slots> m_slots{};
  std::uint64_t m_next_generation = 1;
  std::size_t m_next_slot = 0;
  std::map<session_id, session> m_sessions;
  std::uint64_t m_next_session = 1;
  std::uint64_t m_window = 0;  ///< the current budget window's number (minutes since epoch 0)
  unsigned m_window_failures = 0;
};

}  // namespace starling::member

template <>
struct std::is_error_code_enum<starling::member::join_errc> : std::true_type {};
