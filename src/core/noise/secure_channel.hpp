#pragma once
/// The libp2p Noise transport: 2-byte big-endian length-prefixed ChaChaPoly frames.
/// Sans-I/O: encrypt() appends frames to send, feed() takes received bytes and yields plaintext.

#include <cstddef>
#include <span>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/noise/cipher_state.hpp"

namespace starling::noise {

/// Largest frame body on the wire (2-byte length field).
inline constexpr std::size_t max_frame_size = 65535;
/// Largest plaintext carried by one frame (frame minus the 16-byte tag).
inline constexpr std::size_t max_frame_plaintext = max_frame_size - crypto::aead_tag_size;
/// Bytes of the length prefix in front of every frame.
inline constexpr std::size_t frame_header_size = 2;

/// An established Noise session: one cipher state per direction. Movable, not copyable.
class secure_channel {
 public:
  /// Builds a channel from the handshake's split(): `send` encrypts outgoing frames, `recv`
  /// decrypts incoming ones. `pending` holds raw bytes that arrived after the last handshake
  /// message; they are decrypted by the next feed() call (even an empty one).
  secure_channel(cipher_state send, cipher_state recv, bytes pending = {});

  secure_channel(secure_channel&&) noexcept = default;
  secure_channel& operator=(secure_channel&&) noexcept = default;
  secure_channel(const secure_channel&) = delete;
  secure_channel& operator=(const secure_channel&) = delete;

  /// Encrypts `plain` into one or more frames (at most 65519 plaintext bytes each) appended to
  /// `out`; an empty `plain` produces one empty frame. Allocates only if `out` lacks capacity
  /// (see frames_size()). Errors: nonce_exhausted, encrypt_failed, channel_failed. On error
  /// nothing is appended for the failing frame (frames before it in the same call are whole
  /// and valid) and the channel is dead: close the connection.
  result<void> encrypt(bytes_view plain, bytes& out);

  /// Zero-copy variant of encrypt() for callers that build the plaintext in the output
  /// buffer themselves: `buf[at, at + frame_header_size)` is room the caller left for the
  /// length prefix (its content is ignored) and `buf[at + frame_header_size, end)` is the
  /// plaintext. Turns that tail into frames in place: one frame (prefix written, tag appended,
  /// encrypted without a copy) when the plaintext fits max_frame_plaintext, otherwise several
  /// (through a copy). An empty plaintext gives one empty frame. Errors and the state after
  /// them as for encrypt(); on error `buf` is cut back to `at`.
  result<void> seal(bytes& buf, std::size_t at);

  /// Decrypts every complete frame of `pending bytes + in` and appends the plaintext to
  /// `plain_out`; an incomplete trailing frame is buffered for the next call. Errors:
  /// decrypt_failed (tampering or desync), nonce_exhausted, channel_failed. On error the
  /// plaintext of frames before the bad one stays in `plain_out`; the channel is dead: close
  /// the connection.
  result<void> feed(bytes_view in, bytes& plain_out);

  /// Zero-copy variant of feed() for a caller whose input buffer is writable and stays
  /// untouched until it has used the result: decrypts every complete frame in place inside
  /// `in` and appends a view of each frame's plaintext to `plain` (valid until `in` changes or
  /// the next call; a frame completing one buffered from an earlier call is decrypted in the
  /// channel's own buffer). An incomplete trailing frame is buffered. Errors and the state
  /// after them as for feed().
  result<void> open_inplace(std::span<std::uint8_t> in, std::vector<bytes_view>& plain);

  /// Bytes encrypt() will append for `plain_len` plaintext bytes (to reserve capacity).
  static std::size_t frames_size(std::size_t plain_len) noexcept;
  /// True when received bytes are waiting (a partial frame or handshake leftovers).
  bool has_buffered_input() const noexcept { return !m_rx.empty() || !m_pending.empty(); }
  /// Computes the key streams of the next frame each way (cipher_state::prepare), for when
  /// nobody waits: the next small frame then costs an XOR and a Poly1305 pass.
  void prepare() {
    m_send.prepare();
    m_recv.prepare();
  }
  /// Nonce of the next outgoing frame (= frames sent so far).
  std::uint64_t send_nonce() const noexcept { return m_send.nonce(); }
  /// Nonce of the next incoming frame (= frames received so far).
  std::uint64_t recv_nonce() const noexcept { return m_recv.nonce(); }
  /// Test hook: forces the send nonce (e.g. close to 2^64-1 to exercise exhaustion).
  void set_send_nonce(std::uint64_t n) noexcept { m_send.set_nonce(n); }

 private:
  result<void> process(bytes_view in, bytes& plain_out);
  result<void> open_frame(bytes_view body, bytes& plain_out);
  static void reserve_more(bytes& out, std::size_t extra);

  cipher_state m_send;
  cipher_state m_recv;
  bytes m_rx;       // partial frame (header and/or part of the body)
  bytes m_rx_done;  // the last frame completed from m_rx by open_inplace (its plaintext is lent)
  bytes m_pending_plain;  // plaintext of handshake leftovers lent by open_inplace
  bytes m_pending;        // raw leftovers from the handshake, processed first
  bool m_failed = false;
};

}  // namespace starling::noise
