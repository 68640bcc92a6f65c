#pragma once
/// The multiaddr protocols Starling understands, with their codes from the current
/// multiformats/multiaddr protocols.csv (checked against go-multiaddr protocols.go), and the
/// per-protocol conversion of values between text and binary.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/common/bytes.hpp"
#include "core/multiformats/errors.hpp"

namespace starling::multiformats {

/// Multiaddr protocol codes (multicodec table). A decoded multiaddr holds only these.
enum class protocol_code : std::uint64_t {
  ip4 = 4,
  tcp = 6,
  ip6 = 41,
  ip6zone = 42,
  dns = 53,
  dns4 = 54,
  dns6 = 55,
  dnsaddr = 56,
  udp = 273,
  webrtc_direct = 280,
  webrtc = 281,
  p2p_circuit = 290,
  p2p = 421,  ///< text alias "ipfs"; always printed as "p2p"
  tls = 448,
  noise = 454,
  quic = 460,
  quic_v1 = 461,
  webtransport = 465,
  certhash = 466,
  ws = 477,
  wss = 478,
};

/// The text name of a known code ("tcp", "quic-v1", ...); nullopt for unknown codes.
std::optional<std::string_view> protocol_name(std::uint64_t code) noexcept;

namespace detail {

/// How a protocol's value is represented.
enum class value_kind {
  none,      ///< no value (tls, ws, quic-v1, ...)
  ip4,       ///< 4 bytes, dotted quad
  ip6,       ///< 16 bytes, RFC 5952 text
  port,      ///< 2 bytes big-endian, decimal
  name,      ///< length-prefixed UTF-8 without '/' (dns*, ip6zone)
  peer,      ///< length-prefixed multihash, base58btc (or CID) text
  certhash,  ///< length-prefixed multihash, multibase text (printed as base64url 'u')
};

/// A row of the protocol table.
struct protocol_info {
  protocol_code code;
  std::string_view name;
  value_kind kind;
};

/// Longest dns name / zone accepted (DNS names are at most 253 characters).
inline constexpr std::size_t max_name_bytes = 255;

/// Table lookup by code; nullptr when unknown.
const protocol_info* find_protocol(std::uint64_t code) noexcept;
/// Table lookup by text name, including the "ipfs" alias; nullptr when unknown.
const protocol_info* find_protocol(std::string_view name) noexcept;
/// Fixed binary size of a value, or nullopt for length-prefixed kinds.
std::optional<std::size_t> fixed_size(value_kind kind) noexcept;

/// Converts a text value to its binary form (without length prefix), appending to `out`.
/// On error returns the code and leaves `out` unspecified.
std::error_code value_from_text(const protocol_info& p, std::string_view text, bytes& out);
/// Checks a binary value taken from untrusted bytes (fixed sizes are checked by the caller).
std::error_code validate_value(const protocol_info& p, bytes_view value);
/// Prints a (validated) binary value.
std::string value_to_text(const protocol_info& p, bytes_view value);

}  // namespace detail
}  // namespace starling::multiformats
