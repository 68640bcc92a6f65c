#include "core/multiformats/errors.hpp"

#include <string>

namespace starling::multiformats {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "multiformats"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::invalid_base58:
        return "invalid base58btc string";
      case errc::invalid_base32:
        return "invalid base32 string";
      case errc::invalid_base64:
        return "invalid base64url string";
      case errc::unsupported_multibase:
        return "unsupported multibase prefix";
      case errc::input_too_long:
        return "input too long";
      case errc::truncated_multihash:
        return "truncated multihash";
      case errc::invalid_multihash:
        return "invalid multihash digest length";
      case errc::unsupported_multihash:
        return "unsupported multihash function";
      case errc::invalid_key_encoding:
        return "invalid or non-canonical key protobuf";
      case errc::unsupported_key_type:
        return "unsupported key type (only Ed25519 is supported)";
      case errc::invalid_key_length:
        return "invalid Ed25519 key length";
      case errc::key_mismatch:
        return "private key does not match its public key";
      case errc::invalid_peer_id:
        return "invalid peer id";
      case errc::invalid_cid:
        return "invalid CID";
      case errc::wrong_cid_codec:
        return "CID codec is not libp2p-key";
      case errc::empty_multiaddr:
        return "empty multiaddr";
      case errc::missing_leading_slash:
        return "multiaddr must start with '/'";
      case errc::trailing_slash:
        return "multiaddr ends with '/'";
      case errc::empty_component:
        return "empty multiaddr component ('//')";
      case errc::unknown_protocol_name:
        return "unknown multiaddr protocol name";
      case errc::unknown_protocol_code:
        return "unknown multiaddr protocol code";
      case errc::missing_value:
        return "multiaddr protocol is missing its value";
      case errc::invalid_ip4:
        return "bad ip4 address";
      case errc::invalid_ip6:
        return "bad ip6 address";
      case errc::invalid_port:
        return "port out of range";
      case errc::invalid_name:
        return "bad dns name or ip6 zone";
      case errc::invalid_certhash:
        return "bad certhash";
      case errc::truncated_multiaddr:
        return "truncated binary multiaddr";
      case errc::multiaddr_too_long:
        return "multiaddr too long";
      case errc::invalid_varint:
        return "invalid varint in multiaddr";
    }
    return "unknown multiformats error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

}  // namespace starling::multiformats
