#pragma once
/// libp2p key encoding (libp2p/specs peer-ids/peer-ids.md): the PublicKey and PrivateKey
/// protobufs with `Type` and `Data`. Only Ed25519 keys are usable; the other spec key types
/// (RSA, Secp256k1, ECDSA) decode to errc::unsupported_key_type.

#include <cstddef>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"
#include "core/multiformats/errors.hpp"

namespace starling::multiformats {

/// Key types of the spec's KeyType enum.
enum class key_type { rsa = 0, ed25519 = 1, secp256k1 = 2, ecdsa = 3 };

/// Largest serialized key accepted by the decoders (a 4096-bit RSA private key is ~2.4 KB).
inline constexpr std::size_t max_key_bytes = 8192;

/// The canonical PublicKey encoding of an Ed25519 key: 08 01 12 20 || key (36 bytes).
bytes encode_public_key(const crypto::ed25519_public& pub);

/// Decodes a serialized PublicKey (e.g. identify's publicKey, the Noise payload's identity key).
/// Errors: invalid_key_encoding (not a PublicKey, over max_key_bytes, or not the spec's
/// deterministic encoding: fields out of order, repeated or unknown), unsupported_key_type
/// (a well-formed non-Ed25519 key: the caller refuses that peer), invalid_key_length.
[[nodiscard]] result<crypto::ed25519_public> decode_public_key(bytes_view in);

/// Reads only the `Type` of a serialized PublicKey or PrivateKey (for diagnostics).
/// Errors: invalid_key_encoding.
[[nodiscard]] result<key_type> peek_key_type(bytes_view in);

/// The PrivateKey encoding of an Ed25519 key pair: Data = seed (32) || public key (32).
/// The output holds secret material: the caller wipes it after storing it.
bytes encode_private_key(const crypto::ed25519_keypair& kp);

/// Decodes a serialized PrivateKey (a key file). Data may be 64 bytes (seed || public) or the
/// legacy 96 bytes (seed || public || public); the public key must be the one derived from the
/// seed. Requires crypto::init(). Errors: invalid_key_encoding, unsupported_key_type,
/// invalid_key_length, key_mismatch (corrupt or forged file: refuse to start with it).
[[nodiscard]] result<crypto::ed25519_keypair> decode_private_key(bytes_view in);

}  // namespace starling::multiformats
