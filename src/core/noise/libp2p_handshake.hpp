#pragma once
/// The libp2p Noise handshake (libp2p/specs noise/README.md): Noise_XX_25519_ChaChaPoly_SHA256,
/// empty prologue, 2-byte big-endian framed messages, NoiseHandshakePayload carrying the Ed25519
/// identity, its signature over the static key and the early-muxer extension.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"
#include "core/noise/handshake_state.hpp"
#include "core/noise/secure_channel.hpp"

namespace starling::noise {

/// Which side of the connection we are.
enum class role { initiator, responder };

/// The one protocol name libp2p uses.
inline constexpr const char* libp2p_protocol_name = "Noise_XX_25519_ChaChaPoly_SHA256";
/// The prefix of the signed data: prefix || X25519 static public key.
inline constexpr const char* libp2p_signature_prefix = "noise-libp2p-static-key:";

/// Options of one handshake.
struct libp2p_config {
  /// Muxers offered in extensions.stream_muxers, most preferred first; empty = send none and
  /// negotiate the muxer with multistream-select afterwards.
  std::vector<std::string> muxers;
  /// The Ed25519 key of the peer we dialled (from its /p2p/ id); a different key fails the
  /// handshake with peer_id_mismatch.
  std::optional<crypto::ed25519_public> expected_remote;
  /// Sent in extensions.starling_membership (field 21332, which other libp2p implementations
  /// skip as unknown) when not empty: the node's membership proof (core/member/admission.hpp).
  /// Opaque here; at most max_membership_size bytes.
  bytes membership;
  /// Largest handshake frame accepted (<= 65535).
  std::size_t max_message_size = max_frame_size;
};

/// Largest membership field sent or accepted (a longer one fails with malformed_payload).
inline constexpr std::size_t max_membership_size = 8192;

/// Serialises our identity as a libp2p PublicKey protobuf (Type = Ed25519, Data = 32 bytes),
/// deterministically: 08 01 12 20 <key>.
bytes encode_ed25519_public_key(const crypto::ed25519_public& pub);

/// Sans-I/O libp2p Noise handshake. Feed raw TCP bytes, send what poll_transmit() yields; when
/// is_complete(), read the remote identity and muxer, then take_transport().
class libp2p_handshake {
 public:
  /// Prepares the handshake. An initiator queues message 1 at once (poll_transmit it).
  /// `r` supplies the ephemeral and static X25519 keys and must outlive the object.
  libp2p_handshake(role rl, const crypto::ed25519_keypair& identity, crypto::rng& r,
                   libp2p_config cfg);

  /// Consumes raw bytes from the peer; partial frames are buffered. Bytes after the final
  /// handshake message are kept for the transport. Errors (all fatal, close the connection):
  /// oversized_frame, decrypt_failed, message_too_short, invalid_dh, malformed_payload,
  /// unsupported_key_type, bad_signature, peer_id_mismatch, no_common_muxer, already_complete
  /// (non-empty input after completion: feed the secure_channel instead). Once failed, every call
  /// returns the first error.
  result<void> feed(bytes_view raw);
  /// Appends the bytes to send (whole frames) to `out`; nothing when there is nothing to send.
  void poll_transmit(bytes& out);
  /// True when the handshake finished successfully (check poll_transmit first: the initiator's
  /// message 3 is still queued).
  bool is_complete() const noexcept { return m_complete; }
  /// The error that killed the handshake, if any.
  std::error_code error() const noexcept { return m_error; }

  /// The peer's verified Ed25519 identity key (valid once complete).
  const crypto::ed25519_public& remote_identity() const noexcept { return m_remote_identity; }
  /// The muxers the peer offered (possibly empty).
  const std::vector<std::string>& remote_muxers() const noexcept { return m_remote_muxers; }
  /// The peer's extensions.starling_membership field (empty when it sent none), opaque here:
  /// authenticated by the handshake like the rest of the payload, not checked against anything.
  const bytes& remote_membership() const noexcept { return m_remote_membership; }
  /// The inlined muxer: the first of the initiator's list that the responder also offered,
  /// when both lists are non-empty; empty otherwise (then run multistream-select for the muxer).
  const std::string& negotiated_muxer() const noexcept { return m_negotiated; }
  /// The handshake hash (channel binding), final once complete.
  const crypto::sha256_digest& handshake_hash() const noexcept { return m_hs.handshake_hash(); }

  /// Moves the transport out; any bytes that arrived after the last handshake message are
  /// inside it and come out of its next feed() (call feed({}, out) once if nothing else
  /// arrives). Errors: not_complete (not finished, failed, or already taken).
  result<secure_channel> take_transport();

 private:
  result<void> process_frame(bytes_view msg);
  result<void> write(bytes_view payload);
  bytes make_payload() const;
  result<void> check_payload(bytes_view payload);
  result<void> fail(std::error_code ec);

  role m_role;
  crypto::ed25519_keypair m_identity;
  libp2p_config m_cfg;
  handshake_state m_hs;
  bytes m_rx;
  bytes m_tx;
  bool m_complete = false;
  bool m_taken = false;
  std::error_code m_error;
  crypto::ed25519_public m_remote_identity{};
  std::vector<std::string> m_remote_muxers;
  bytes m_remote_membership;
  std::string m_negotiated;
};

}  // namespace starling::noise
