#pragma once
/// Error codes of the Noise module (generic handshake, libp2p handshake, secure channel).

#include <system_error>

namespace starling::noise {

/// Every way a Noise handshake or transport can fail. The caller closes the connection on any
/// of them; none is recoverable on the same handshake or channel.
enum class errc {
  unsupported_protocol = 1,  ///< protocol name not parseable or not 25519/ChaChaPoly/SHA256
  missing_key,               ///< a key the pattern needs (static, remote static, psk) was not given
  wrong_turn,                ///< write_message/read_message called out of turn or after the end
  message_too_short,         ///< a handshake message ends before its tokens do
  message_too_large,         ///< a Noise message over 65535 bytes
  decrypt_failed,            ///< AEAD authentication failed
  invalid_dh,                ///< a Diffie-Hellman result was all zeros (low-order point)
  nonce_exhausted,           ///< the 2^64-1 nonce limit was reached
  bad_signature,             ///< libp2p: identity_sig does not verify over the static key
  unsupported_key_type,      ///< libp2p: identity key is not Ed25519
  peer_id_mismatch,          ///< libp2p: remote identity differs from the expected one
  oversized_frame,           ///< libp2p: a frame longer than the configured maximum
  malformed_payload,         ///< libp2p: handshake payload or identity key is not valid protobuf
  already_complete,          ///< libp2p: bytes fed after the handshake finished
  not_complete,              ///< libp2p: transport requested before the handshake finished
  no_common_muxer,           ///< libp2p: both muxer lists non-empty but disjoint
  channel_failed,            ///< a secure_channel used again after it reported an error
  encrypt_failed,            ///< the cipher failed while encrypting (rare); nothing was sent
};

/// The category of errc ("noise").
const std::error_category& category() noexcept;
/// Makes errc usable as std::error_code.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace starling::noise

template <>
struct std::is_error_code_enum<starling::noise::errc> : std::true_type {};
