#include "core/noise/errc.hpp"

#include <string>

namespace starling::noise {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "noise"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::unsupported_protocol:
        return "unsupported Noise protocol name";
      case errc::missing_key:
        return "a key required by the handshake pattern is missing";
      case errc::wrong_turn:
        return "handshake message out of turn";
      case errc::message_too_short:
        return "handshake message too short";
      case errc::message_too_large:
        return "Noise message larger than 65535 bytes";
      case errc::decrypt_failed:
        return "Noise decryption failed (bad tag)";
      case errc::invalid_dh:
        return "Diffie-Hellman produced an all-zero result";
      case errc::nonce_exhausted:
        return "Noise nonce exhausted";
      case errc::bad_signature:
        return "libp2p noise: identity signature does not verify";
      case errc::unsupported_key_type:
        return "libp2p noise: identity key type is not Ed25519";
      case errc::peer_id_mismatch:
        return "libp2p noise: remote identity is not the expected peer";
      case errc::oversized_frame:
        return "libp2p noise: frame longer than the maximum";
      case errc::malformed_payload:
        return "libp2p noise: malformed handshake payload";
      case errc::already_complete:
        return "libp2p noise: data fed after the handshake completed";
      case errc::not_complete:
        return "libp2p noise: handshake not complete";
      case errc::no_common_muxer:
        return "libp2p noise: no common stream muxer";
      case errc::channel_failed:
        return "noise secure channel already failed";
      case errc::encrypt_failed:
        return "Noise encryption failed; nothing was sent";
    }
    return "unknown noise error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

}  // namespace starling::noise
