#pragma once
/// Peer ids (libp2p/specs peer-ids/peer-ids.md): the multihash of a peer's serialized
/// PublicKey. Text forms: base58btc of the multihash ("12D3KooW...", "Qm...") and CIDv1 with
/// codec libp2p-key in multibase ("bafz...").

#include <compare>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"
#include "core/multiformats/errors.hpp"

namespace starling::multiformats {

/// Multicodec of CIDs that carry a peer id.
inline constexpr std::uint64_t libp2p_key_codec = 0x72;
/// Serialized public keys up to this size are inlined with the identity multihash.
inline constexpr std::size_t max_inline_key_length = 42;

/// A peer's identity: an identity (inline key) or sha2-256 multihash. Ordered and hashable by
/// its bytes. A default-constructed peer_id is empty and equals no real peer.
class peer_id {
 public:
  /// An empty id (see empty()); real ids come from the factories below.
  peer_id() = default;

  /// The id of an Ed25519 key: identity multihash of its 36-byte PublicKey encoding.
  static peer_id from_public_key(const crypto::ed25519_public& pub);

  /// The id of any serialized PublicKey, as the spec derives it: identity multihash when the
  /// encoding is at most 42 bytes, sha2-256 otherwise. No validation of `encoded_key` beyond
  /// its size. Errors: invalid_key_encoding (empty or over max_key_bytes).
  [[nodiscard]] static result<peer_id> from_encoded_public_key(bytes_view encoded_key);

  /// Parses the base58btc form ("1..." / "Qm...") or a multibase CIDv1 with codec libp2p-key.
  /// Errors: invalid_peer_id (neither form, or bad base58), invalid_cid, wrong_cid_codec,
  /// unsupported_multibase, invalid_base32, plus from_bytes()'s errors.
  [[nodiscard]] static result<peer_id> parse(std::string_view text);

  /// Takes the multihash bytes of a peer id (e.g. the value of /p2p/ in a binary multiaddr).
  /// Accepts identity multihashes of at most 42 bytes and sha2-256 multihashes.
  /// Errors: truncated_multihash, invalid_multihash, unsupported_multihash (other hash codes or
  /// an oversized identity), input_too_long.
  [[nodiscard]] static result<peer_id> from_bytes(bytes_view multihash);

  /// The canonical text form: base58btc of the multihash.
  std::string to_string() const;
  /// CIDv1 (version 1, codec libp2p-key) in base32 with multibase prefix 'b'.
  std::string to_cid_string() const;
  /// The multihash bytes.
  const starling::bytes& bytes() const noexcept { return m_bytes; }
  /// True for a default-constructed id.
  bool empty() const noexcept { return m_bytes.empty(); }

  /// The Ed25519 key inlined in an identity multihash; nullopt for sha2-256 ids or inlined
  /// keys of other types.
  std::optional<crypto::ed25519_public> ed25519_public_key() const;
  /// True when `pub` is the key this id was derived from.
  bool matches(const crypto::ed25519_public& pub) const;

  /// Equality and ordering compare the multihash bytes.
  friend bool operator==(const peer_id&, const peer_id&) = default;
  /// Lexicographic byte order (used to break simultaneous-dial ties deterministically).
  friend std::strong_ordering operator<=>(const peer_id& a, const peer_id& b) noexcept;

 private:
  explicit peer_id(starling::bytes b) : m_bytes(std::move(b)) {}
  starling::bytes m_bytes;
};

}  // namespace starling::multiformats

/// Hash of a peer id's bytes, for unordered containers.
template <>
struct std::hash<starling::multiformats::peer_id> {
  std::size_t operator()(const starling::multiformats::peer_id& p) const noexcept {
    return std::hash<std::string_view>{}(starling::as_chars(p.bytes()));
  }
};
