#pragma once
/// Error codes of the multiformats module: multibase, multihash, keys, peer ids and multiaddrs.
/// One category ("multiformats") so a caller can log `ec.message()` and get a specific reason.

#include <system_error>

namespace starling::multiformats {

enum class errc {
  // multibase
  invalid_base58 = 1,     ///< a character outside the base58btc alphabet
  invalid_base32,         ///< a character outside lower-case RFC 4648 base32, or a bad length
  invalid_base64,         ///< a character outside base64url, or a bad length
  unsupported_multibase,  ///< a multibase prefix other than 'z', 'b', 'B' or 'u' (or empty)
  input_too_long,         ///< an encoded string or byte string above the module's caps
  // multihash
  truncated_multihash,    ///< the bytes end inside the code, length or digest
  invalid_multihash,      ///< the digest length disagrees with the header or the hash code
  unsupported_multihash,  ///< a hash function other than identity or sha2-256 where one is needed
  // keys
  invalid_key_encoding,  ///< not a PublicKey/PrivateKey protobuf, or not the canonical encoding
  unsupported_key_type,  ///< RSA, Secp256k1 or ECDSA: well formed, but only Ed25519 is supported
  invalid_key_length,    ///< an Ed25519 key whose Data has the wrong size
  key_mismatch,          ///< a private key whose public half is not derived from its seed
  // peer ids
  invalid_peer_id,  ///< neither a base58btc multihash nor a CIDv1 string / bytes
  invalid_cid,      ///< a CID that is not version 1 or that is malformed
  wrong_cid_codec,  ///< a CIDv1 whose codec is not libp2p-key (0x72)
  // multiaddr
  empty_multiaddr,        ///< "" or "/" or zero bytes
  missing_leading_slash,  ///< text that does not start with '/'
  trailing_slash,         ///< text ending in '/'
  empty_component,        ///< "//" inside the text
  unknown_protocol_name,  ///< a text protocol name this implementation does not know
  unknown_protocol_code,  ///< a binary protocol code this implementation does not know: skip
                          ///< that one address, not the whole message
  missing_value,          ///< a protocol that needs a value is the last component
  invalid_ip4,            ///< not a dotted-quad IPv4 address
  invalid_ip6,            ///< not an IPv6 address (zones go in /ip6zone)
  invalid_port,           ///< not a decimal number in 0..65535
  invalid_name,           ///< a dns/dnsaddr/ip6zone value that is empty, too long or has '/'
  invalid_certhash,       ///< a certhash that is not a multibase-encoded multihash
  truncated_multiaddr,    ///< binary that ends inside a component
  multiaddr_too_long,     ///< over 1024 bytes of binary (or 4096 characters of text)
  invalid_varint,         ///< a protocol code or length that is not a minimal varint
};

/// The "multiformats" error category.
const std::error_category& category() noexcept;
/// Makes `errc` values usable as std::error_code.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace starling::multiformats

template <>
struct std::is_error_code_enum<starling::multiformats::errc> : std::true_type {};
