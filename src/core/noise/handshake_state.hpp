#pragma once
/// Generic Noise HandshakeState (Noise spec rev 34, section 5.3) for
/// Noise_<pattern>_25519_ChaChaPoly_SHA256 with any pattern of the spec and psk modifiers.

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"
#include "core/noise/cipher_state.hpp"
#include "core/noise/pattern.hpp"
#include "core/noise/symmetric_state.hpp"

namespace starling::noise {

/// Largest Noise message (handshake or transport), in bytes.
inline constexpr std::size_t max_message_size = 65535;

/// A 32-byte pre-shared key.
using psk = std::array<std::uint8_t, 32>;

/// Everything a handshake needs besides randomness.
struct handshake_config {
  std::string protocol_name;                           ///< e.g. "Noise_XX_25519_ChaChaPoly_SHA256"
  bool initiator = true;                               ///< our role
  bytes prologue;                                      ///< mixed into h before any message
  std::optional<crypto::x25519_keypair> local_static;  ///< s
  std::optional<crypto::x25519_keypair> local_ephemeral;  ///< e: preset only for test vectors
  std::optional<crypto::x25519_key> remote_static;        ///< rs known in advance (pre-message)
  std::optional<crypto::x25519_key> remote_ephemeral;     ///< re from a pre-message (rare)
  std::vector<psk> psks;                                  ///< consumed in order of the psk tokens
};

/// One side of a Noise handshake. Call write_message / read_message alternately as the pattern
/// says; when is_finished(), call split() for the transport cipher states.
class handshake_state {
 public:
  /// Builds the state: parses the protocol name, mixes the prologue and pre-message keys.
  /// Errors: unsupported_protocol (name), missing_key (a pre-message key was not given).
  /// The ephemeral key is drawn from `r` when the pattern sends "e" unless one was preset;
  /// `r` must outlive the handshake_state.
  static result<handshake_state> create(const handshake_config& cfg, crypto::rng& r);

  /// Writes the next handshake message with `payload` and appends it to `out`.
  /// Errors: wrong_turn (not our turn or finished), missing_key, invalid_dh, message_too_large,
  /// nonce_exhausted. On error the handshake is dead: the caller aborts the connection.
  result<void> write_message(bytes_view payload, bytes& out);
  /// Reads the peer's next handshake message and appends its payload to `payload_out`.
  /// Errors: wrong_turn, message_too_short, message_too_large, decrypt_failed, invalid_dh,
  /// missing_key. On error the handshake is dead: the caller aborts the connection.
  result<void> read_message(bytes_view msg, bytes& payload_out);

  /// True when every message of the pattern was written or read.
  bool is_finished() const noexcept { return m_index >= m_pattern.messages.size(); }
  /// True when the next message is ours to write.
  bool is_my_turn() const noexcept { return ((m_index % 2) == 0) == m_initiator; }
  /// The transport cipher states: first encrypts initiator -> responder, second the other way.
  /// Errors: wrong_turn if the handshake is not finished.
  result<std::pair<cipher_state, cipher_state>> split() const;
  /// The handshake hash h (channel binding); final once is_finished().
  const crypto::sha256_digest& handshake_hash() const noexcept { return m_ss.h(); }
  /// The remote static key, once received or if given in advance.
  const std::optional<crypto::x25519_key>& remote_static() const noexcept { return m_rs; }
  /// Our static key pair, if any.
  const std::optional<crypto::x25519_keypair>& local_static() const noexcept { return m_s; }
  /// The parsed pattern.
  const pattern& handshake_pattern() const noexcept { return m_pattern; }

 private:
  handshake_state(pattern p, std::string_view name, bool initiator, crypto::rng& r);
  result<void> dh_mix(const std::optional<crypto::x25519_keypair>& priv,
                      const std::optional<crypto::x25519_key>& pub);
  result<void> mix_token_dh(token t);
  result<void> mix_psk();

  pattern m_pattern;
  symmetric_state m_ss;
  crypto::rng* m_rng;
  bool m_initiator;
  std::size_t m_index = 0;
  std::size_t m_psk_index = 0;
  std::optional<crypto::x25519_keypair> m_s, m_e;
  std::optional<crypto::x25519_key> m_rs, m_re;
  std::vector<psk> m_psks;
};

}  // namespace starling::noise
