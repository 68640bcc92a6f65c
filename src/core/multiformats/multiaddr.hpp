#pragma once
/// Multiaddrs: self-describing network addresses, in text ("/ip4/1.2.3.4/tcp/4001/p2p/12D3...")
/// and binary (`uvarint(code) || value` per component) form. Only the protocols of
/// multiaddr_protocols.hpp are understood; a binary address with any other code fails with
/// errc::unknown_protocol_code so that a decoder of address lists skips just that address.
///
/// Error details for humans: parse() takes an optional `std::string* detail` that receives a
/// one-line reason naming the offending part, e.g. "bad ip4 address '1.2.3'"; a CLI prints
/// `invalid multiaddr '<text>': <detail>` (describe_parse_error() builds exactly that line).

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/multiformats/errors.hpp"
#include "core/multiformats/multiaddr_protocols.hpp"
#include "core/multiformats/peer_id.hpp"

namespace starling::multiformats {

/// Largest binary multiaddr accepted or produced.
inline constexpr std::size_t max_multiaddr_bytes = 1024;
/// Largest text multiaddr accepted.
inline constexpr std::size_t max_multiaddr_chars = 4096;

/// One protocol and its binary value (empty for protocols without a value).
struct component {
  protocol_code code{};
  bytes value;

  /// The protocol's text name ("tcp").
  std::string_view name() const;
  /// The value as printed in text form ("4001"); empty for protocols without a value.
  std::string value_text() const;
  /// Component-wise equality.
  friend bool operator==(const component&, const component&) = default;
};

/// An IP address and port taken from /ip4|ip6/.../tcp/N (or built to make such an address).
struct ip_endpoint {
  std::array<std::uint8_t, 16> ip{};  ///< network order; only the first 4 bytes for IPv4
  bool is_v6 = false;
  std::uint16_t port = 0;
  std::string zone;  ///< IPv6 zone from a leading /ip6zone (e.g. "eth0"), else empty

  /// "1.2.3.4", "::1" or "fe80::1%eth0" (the form getaddrinfo accepts).
  std::string ip_string() const;
  /// Field-wise equality.
  friend bool operator==(const ip_endpoint&, const ip_endpoint&) = default;
};

/// A validated multiaddr; stores its binary form. Default-constructed: empty (no components).
class multiaddr {
 public:
  /// An empty address (no components); parse() and from_bytes() never produce one.
  multiaddr() = default;

  /// Parses the text form. `/ipfs/` is accepted as an alias of `/p2p/`.
  /// Errors: empty_multiaddr, missing_leading_slash, trailing_slash, empty_component,
  /// unknown_protocol_name, missing_value, invalid_ip4, invalid_ip6, invalid_port, invalid_name,
  /// invalid_peer_id, invalid_certhash, multiaddr_too_long. When `detail` is non-null it
  /// receives a one-line reason naming the bad part (cleared on success).
  [[nodiscard]] static result<multiaddr> parse(std::string_view text,
                                               std::string* detail = nullptr);

  /// Decodes the binary form from untrusted bytes (identify listenAddrs/observedAddr).
  /// Errors: empty_multiaddr, multiaddr_too_long (over 1024 bytes), invalid_varint,
  /// unknown_protocol_code (skip this address, keep the others), truncated_multiaddr,
  /// invalid_name, invalid_peer_id, invalid_certhash.
  [[nodiscard]] static result<multiaddr> from_bytes(bytes_view in);

  /// /ip4|ip6/<ip>/tcp/<port> (with a leading /ip6zone/<zone> when `ep.zone` is set).
  static multiaddr from_tcp_endpoint(const ip_endpoint& ep);

  /// The canonical text form (p2p values in base58btc, ip6 compressed, certhash base64url).
  std::string to_string() const;
  /// The binary form.
  const bytes& to_bytes() const noexcept { return m_bytes; }
  /// The components in order.
  std::vector<component> components() const;
  /// True for a default-constructed address.
  bool empty() const noexcept { return m_bytes.empty(); }

  /// The address and port of [/ip6zone/Z]/ip4|ip6/A/tcp/P[/p2p/ID]; nullopt for anything else
  /// (dns names, udp, ws, circuits, ...).
  std::optional<ip_endpoint> tcp_endpoint() const;
  /// The peer id of a trailing /p2p/ component; nullopt when there is none.
  std::optional<peer_id> peer() const;
  /// This address ending in /p2p/<id> (replacing a trailing /p2p/ if present).
  /// Errors: multiaddr_too_long.
  [[nodiscard]] result<multiaddr> with_peer(const peer_id& id) const;
  /// This address without its trailing /p2p/ component (unchanged if it has none).
  multiaddr without_peer() const;
  /// This address followed by `other`'s components. Errors: multiaddr_too_long.
  [[nodiscard]] result<multiaddr> encapsulate(const multiaddr& other) const;
  /// True when the first IP component is in 127.0.0.0/8 or is ::1.
  bool is_loopback() const;

  /// Byte-wise equality (the text forms /ipfs/ and /p2p/ of one address are equal).
  friend bool operator==(const multiaddr&, const multiaddr&) = default;

 private:
  explicit multiaddr(bytes b) : m_bytes(std::move(b)) {}
  bytes m_bytes;
};

/// "invalid multiaddr '<text>': <detail>" when `text` does not parse, empty when it does.
std::string describe_parse_error(std::string_view text);

}  // namespace starling::multiformats

/// Hash of a multiaddr's bytes, for unordered containers.
template <>
struct std::hash<starling::multiformats::multiaddr> {
  std::size_t operator()(const starling::multiformats::multiaddr& m) const noexcept {
    return std::hash<std::string_view>{}(starling::as_chars(m.to_bytes()));
  }
};
