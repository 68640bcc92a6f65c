#pragma once
/// Admission (issue 14): what a member node sends in its libp2p Noise handshake, how a node
/// decides from it whether to admit the peer, and the grant a new member receives at the end of
/// the join protocol. Pure: bytes in, a decision out; the caller supplies the time.
///
/// ## The membership proof (noise extension field 21332, `noise::libp2p_config::membership`)
///
/// | bytes | field |
/// |---|---|
/// | 1 | version, always 1 |
/// | 32 | network id |
/// | 8 | height of the sender's log head (big-endian) |
/// | 32 | id of the sender's log head |
/// | rest | the sender's certificate chain (`encode_chain`, leaf = the sender's identity key) |
///
/// ## The grant (sealed inside the join protocol's last message)
///
/// | bytes | field |
/// |---|---|
/// | 1 | version, always 1 |
/// | 32 | the owner key |
/// | 2 | chain length n (big-endian), then n bytes: the new member's chain |
/// | 4 | entry count k, then k times: 4-byte length and one encoded log entry, parents first |
///
/// Both decoders are strict: a field that ends early, a count or length over its limit, or bytes
/// left over is `malformed`.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/member/cert.hpp"
#include "core/member/log.hpp"
#include "core/member/network.hpp"

namespace starling::member {

/// The only proof and grant version.
inline constexpr std::uint8_t admission_version = 1;
/// Most log entries a grant carries (the joiner fetches older ones, if any, by log sync).
inline constexpr std::size_t max_grant_entries = 4096;

/// Why a peer was not admitted, or why a proof or grant does not parse.
enum class admission_errc {
  no_proof = 1,    ///< the peer sent no membership proof (a plain libp2p peer, or no network)
  malformed,       ///< the proof or grant does not parse
  bad_version,     ///< a proof or grant version other than 1
  wrong_network,   ///< the proof names another network
  bad_chain,       ///< the certificate chain does not verify (see the detail)
  not_the_peer,    ///< the chain's leaf is not the key the peer authenticated with
  revoked,         ///< the peer's key is revoked in the log
  issuer_revoked,  ///< an admin that issued a certificate of the chain is revoked
  stale_epoch,     ///< a certificate's role epoch is below the role's epoch in the log
  no_roles,        ///< the log took away every role of the peer
};
/// The "member.admission" error category.
const std::error_category& admission_category() noexcept;
/// Makes `admission_errc` values usable as std::error_code.
inline std::error_code make_error_code(admission_errc e) noexcept {
  return {static_cast<int>(e), admission_category()};
}

/// A decoded membership proof.
struct membership_proof {
  network_id network;
  std::uint64_t head_height = 0;
  entry_id head;
  bytes chain;  ///< encoded certificate chain (checked by `admit`, not by decoding)
  friend bool operator==(const membership_proof&, const membership_proof&) = default;
};

/// The proof's encoding.
bytes encode_proof(const membership_proof& p);
/// Decodes a proof. Errors: malformed, bad_version.
result<membership_proof> decode_proof(bytes_view in);

/// A refusal: the code, and a sentence for logs and `starling` output.
struct admission_refusal {
  admission_errc code{};
  std::string detail;
};

/// An admitted peer.
struct admitted_member {
  public_key key{};
  /// Its roles: the log's record when the log knows the key (a later set_roles wins over
  /// the certificate), else the certificate's.
  std::vector<std::string> roles;
  /// The admission lapses at this unix time (the earliest expiry in the chain).
  std::uint64_t valid_until = 0;
  /// The admins whose certificates the chain holds (for re-checks when one is revoked).
  std::vector<public_key> issuers;
  /// The head the peer announced (to fetch entries we lack).
  std::uint64_t peer_head_height = 0;
  entry_id peer_head;
};

/// Decides whether the peer that authenticated with `peer` may join our network, from the proof
/// it sent (empty: none) and our log, at `now_unix`. Checks, in order: a proof at all, its
/// encoding, its network, the chain (verify_chain against the log's owner at now_unix), that the
/// leaf is `peer`, that neither the peer nor an issuer above it is revoked, that every
/// certificate's epoch is at least the log's epoch of each of its roles, and that the peer keeps
/// a role. Never admits on an error.
boost::system::result<admitted_member, admission_refusal> admit(bytes_view proof,
                                                                const public_key& peer,
                                                                const membership_log& log,
                                                                std::uint64_t now_unix);

/// After the log changed (a revocation, a role change, an epoch bump), a node re-runs `admit`
/// on the proof it kept for each open connection: one chain verification per connection per
/// change, and the same verdict a new connection would get.

/// A decoded grant.
struct join_grant {
  public_key owner{};
  bytes chain;                 ///< the new member's encoded certificate chain
  std::vector<bytes> entries;  ///< encoded log entries, parents before children
  friend bool operator==(const join_grant&, const join_grant&) = default;
};
/// The grant's encoding. Errors: malformed (a chain over 65535 bytes, more than
/// max_grant_entries entries).
result<bytes> encode_grant(const join_grant& g);
/// Decodes a grant. Errors: malformed, bad_version.
result<join_grant> decode_grant(bytes_view in);

}  // namespace starling::member

template <>
struct std::is_error_code_enum<starling::member::admission_errc> : std::true_type {};
