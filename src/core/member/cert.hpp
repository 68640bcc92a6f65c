#pragma once
/// Member certificates (issue 14): a signed statement that a device key belongs to a network,
/// with roles, a role epoch and a validity window, issued by the network's owner key or by an
/// admin the owner delegated; and chains of them (leaf first), as a connection carries them.
///
/// Encoding of one certificate (v1). Integers are big-endian and of fixed width; keys are raw
/// 32-byte Ed25519 public keys; there is exactly one encoding per certificate:
///
///   offset  size  field
///        0     1  version: 0x01
///        1    32  network: the network id (network_id_of(owner key))
///       33    32  subject: the device's Ed25519 identity key (its libp2p peer id derives from it)
///       65    32  issuer: the key that signed (the owner, or an admin's subject key)
///       97     8  not_before: unix seconds, the first second the certificate is valid
///      105     8  not_after: unix seconds, the first second it is no longer valid (> not_before)
///      113     4  role_epoch
///      117     1  n: the number of roles, 1..16
///      118        n roles, each: 1 byte L (1..32), then L bytes of [a-z0-9_-]; the roles are in
///                 strictly increasing byte order (sorted, no duplicates)
///    end-64   64  sig: Ed25519 by `issuer` over "starling/cert/v1" || bytes [0, end-64)
///
/// So a certificate takes 184 to 710 bytes. Encoding of a chain: 1 byte, the number of
/// certificates (1..4), then each certificate as above, leaf first (certificates delimit
/// themselves, so no length precedes them): at most 2,841 bytes.
///
/// Decoding is strict: every rule above that bytes break has its own `cert_errc`, and whatever
/// decodes encodes back to the same bytes. Verification (`verify_chain`) is separate and needs
/// the owner key and the time.

#include <boost/system/result.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"
#include "core/member/network.hpp"
#include "core/member/role.hpp"

namespace starling::member {

/// The only certificate version we read and write.
inline constexpr std::uint8_t cert_version = 1;
/// Roles per certificate: at least 1, at most this.
inline constexpr std::size_t max_roles = 16;
/// Longest role name, in bytes (at least 1): the one rule of role.hpp.
inline constexpr std::size_t max_role_size = max_role_name_size;
/// Most certificates in a chain: the leaf and up to three admins above it.
inline constexpr std::size_t max_chain_length = 4;
/// Smallest and largest encoded certificate.
inline constexpr std::size_t min_cert_size = 184;
inline constexpr std::size_t max_cert_size = 710;
/// Largest encoded chain.
inline constexpr std::size_t max_chain_size = 1 + max_chain_length * max_cert_size;
/// The role every certificate above the leaf must hold.
inline constexpr std::string_view admin_role = "admin";
/// What precedes the encoding in the signed message.
inline constexpr std::string_view cert_signature_domain = "starling/cert/v1";

enum class cert_errc {
  // An encoding (or fields given to issue/encode) that breaks the rules.
  truncated = 1,       ///< the bytes end inside a certificate or before a chain's count
  trailing_bytes,      ///< bytes after the certificate (or after the chain's last one)
  bad_version,         ///< a version other than 1
  no_roles,            ///< zero roles
  too_many_roles,      ///< more than max_roles roles
  empty_role,          ///< a role of zero bytes
  role_too_long,       ///< a role longer than max_role_size bytes
  bad_role_character,  ///< a role byte outside [a-z0-9_-]
  roles_not_sorted,    ///< roles out of byte order
  duplicate_role,      ///< the same role twice
  bad_validity,        ///< not_before >= not_after
  empty_chain,         ///< a chain of no certificate
  chain_too_long,      ///< a chain of more than max_chain_length certificates
  // A well-formed chain that does not admit its leaf.
  wrong_network,        ///< a certificate of another network than the owner key's
  broken_chain,         ///< a certificate's issuer is not the next certificate's subject
  not_issued_by_owner,  ///< the last certificate is not signed by the owner key
  issuer_not_admin,     ///< a certificate above the leaf lacks the role "admin"
  not_yet_valid,        ///< now < not_before
  expired,              ///< now >= not_after
  bad_signature,        ///< the signature is not a strictly valid one by the issuer
};
/// The "member.cert" error category.
const std::error_category& cert_category() noexcept;
/// Makes `cert_errc` values usable as std::error_code.
inline std::error_code make_error_code(cert_errc e) noexcept {
  return {static_cast<int>(e), cert_category()};
}

/// What the issuer states: every field of a certificate but version, issuer and signature.
struct cert_fields {
  network_id network;
  public_key subject{};
  std::vector<std::string> roles;  ///< `issue` sorts them; duplicates are refused
  std::uint32_t role_epoch = 0;
  std::uint64_t not_before = 0;  ///< unix seconds, inclusive
  std::uint64_t not_after = 0;   ///< unix seconds, exclusive
  friend bool operator==(const cert_fields&, const cert_fields&) = default;
};

/// A decoded (or issued) certificate. One that `decode_cert` or `issue` returns keeps every rule of
/// the encoding; one built by hand may not, and then `encode` refuses it.
struct certificate {
  std::uint8_t version = cert_version;
  network_id network;
  public_key subject{};
  std::vector<std::string> roles;  ///< sorted, unique, 1..16 names of 1..32 bytes [a-z0-9_-]
  std::uint32_t role_epoch = 0;
  std::uint64_t not_before = 0;
  std::uint64_t not_after = 0;
  public_key issuer{};
  signature sig{};
  friend bool operator==(const certificate&, const certificate&) = default;
};

/// Signs `fields` with `issuer` (which becomes the certificate's issuer) after sorting the roles.
/// Errors: the encoding rules the fields break (no_roles, too_many_roles, empty_role,
/// role_too_long, bad_role_character, duplicate_role, bad_validity); nothing is signed then and
/// the caller fixes its input (a bad role name or an empty window comes from a user or a config).
result<certificate> issue(const crypto::ed25519_keypair& issuer, cert_fields fields);

/// The canonical encoding (layout above). Errors: the rule a hand-built certificate breaks
/// (bad_version and the role and validity errors of `issue`); never fails for a certificate
/// that `decode_cert` or `issue` returned.
result<bytes> encode(const certificate& c);

/// The message the issuer signs: cert_signature_domain followed by the encoding without the
/// signature. Errors: those of `encode`.
result<bytes> signed_message(const certificate& c);

/// Decodes exactly one certificate filling all of `in`. Errors: truncated, trailing_bytes and
/// every rule of the layout (bad_version, no_roles, too_many_roles, empty_role, role_too_long,
/// bad_role_character, roles_not_sorted, duplicate_role, bad_validity). The signature is not
/// checked here: the caller passes the certificate to `verify_chain`, or refuses the peer.
result<certificate> decode_cert(bytes_view in);

/// Which certificate of a chain `chain_error` is about when it is about the chain as a whole
/// (empty, too long, truncated before its count, bytes after its last certificate).
inline constexpr std::size_t whole_chain = std::numeric_limits<std::size_t>::max();

/// Why a chain was refused, and which of its certificates.
struct chain_error {
  cert_errc code{};
  std::size_t index = whole_chain;  ///< 0 is the leaf; whole_chain for the chain itself
  std::uint64_t time = 0;           ///< the bound that failed (not_before or not_after)

  /// One sentence for logs and `starling` output, e.g. "certificate 1 (the admin that issued
  /// certificate 0) expired at 1700000000 (unix time)".
  std::string describe() const;
  /// The code alone, for callers that return `starling::result<T>`.
  operator std::error_code() const noexcept { return make_error_code(code); }
};

/// A value or a chain_error.
template <class T>
using chain_result = boost::system::result<T, chain_error>;

/// Called by `chain_result::value()` on an error (a caller bug: test the result first). Throws
/// boost::system::system_error with the code, as `starling::result::value()` does.
[[noreturn]] void throw_exception_from_error(const chain_error& e,
                                             const boost::source_location& loc);

/// A delegation chain: the leaf, then the certificate of the admin that issued it, and so on up
/// to the one the owner key issued.
using cert_chain = std::vector<certificate>;

/// The chain's encoding (layout above). Errors: empty_chain, chain_too_long, and `encode`'s
/// errors for a hand-built certificate.
result<bytes> encode_chain(std::span<const certificate> certs);

/// Decodes exactly one chain filling all of `in`. Errors: truncated (`index` = the certificate
/// cut short, or whole_chain when `in` is empty), empty_chain, chain_too_long, trailing_bytes
/// (whole_chain) and `decode_cert`'s errors with the index of the certificate that broke the rule.
chain_result<cert_chain> decode_chain(bytes_view in);

/// An admin above the leaf in a verified chain.
struct chain_admin {
  public_key subject{};
  std::uint32_t role_epoch = 0;  ///< the epoch of its certificate (which holds "admin")
  friend bool operator==(const chain_admin&, const chain_admin&) = default;
};

/// What a verified chain admits, for the caller's checks against the membership log
/// (revocations by key, role epochs) before it admits the peer.
struct verified_member {
  public_key subject{};  ///< the leaf's subject: the peer's identity key
  std::vector<std::string> roles;
  std::uint32_t role_epoch = 0;
  /// The admins that delegated, leaf's issuer first (chain order); empty when the owner issued
  /// the leaf. The owner key, always the last issuer, is not listed: it cannot be revoked.
  std::vector<chain_admin> admins;
  /// The smallest not_after in the chain: the admission lapses then.
  std::uint64_t valid_until = 0;
  friend bool operator==(const verified_member&, const verified_member&) = default;
};

/// Checks a chain against the owner key at `now_unix` (unix seconds): 1..4 certificates; each
/// keeps the encoding rules and is of the network network_id_of(owner); each one's issuer is
/// the next one's subject and the last one's issuer is `owner`; every certificate but the leaf
/// holds "admin"; each is valid at now (not_before <= now_unix < not_after); each signature is
/// strictly valid (crypto::ed25519_verify) by its issuer over `signed_message`.
///
/// Certificates are checked leaf first; within one the cheap checks come before the signature,
/// in the order listed, so the first broken rule is reported. Errors: empty_chain,
/// chain_too_long (whole_chain); then, with the certificate's index, an encoding rule's code,
/// wrong_network, broken_chain, not_issued_by_owner, issuer_not_admin, not_yet_valid, expired
/// (with `time`), bad_signature. On an error the caller refuses the peer and logs `describe()`.
/// On success it still checks the result against the membership log (revoked keys, role
/// epochs) and re-checks at `valid_until`.
chain_result<verified_member> verify_chain(std::span<const certificate> certs,
                                           const public_key& owner, std::uint64_t now_unix);

/// `decode_chain` then `verify_chain`: what a node runs on the bytes a peer sent.
chain_result<verified_member> verify_chain(bytes_view encoded, const public_key& owner,
                                           std::uint64_t now_unix);

}  // namespace starling::member

template <>
struct std::is_error_code_enum<starling::member::cert_errc> : std::true_type {};
