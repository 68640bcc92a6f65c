#pragma once
/// Membership (issue 14): the identities every membership core shares. A network is named by
/// its owner's Ed25519 public key; its id is derived from that key, so a node that knows the
/// owner key can check every certificate and log entry of the network by itself.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/crypto/crypto.hpp"

namespace starling::member {

/// An Ed25519 public key: an owner, an admin or a device (a device's key is its libp2p
/// identity key, so its peer id follows from it).
using public_key = crypto::ed25519_public;
/// An Ed25519 signature.
using signature = crypto::ed25519_signature;

/// A network's id: SHA-256("starling/network/v1" || owner public key).
struct network_id {
  std::array<std::uint8_t, 32> bytes{};
  friend auto operator<=>(const network_id&, const network_id&) = default;
};

/// The id of the network whose owner key is `owner`.
network_id network_id_of(const public_key& owner);

/// Lower-case hex of the whole id (64 characters), as status and logs print it.
std::string to_hex(const network_id& id);

/// The first 8 bytes as 16 hex characters, for humans (`starling status`, log lines).
std::string short_name(const network_id& id);

/// Parses `to_hex` output (exactly 64 hex digits, either case); nullopt otherwise.
std::optional<network_id> network_id_from_hex(std::string_view text);

}  // namespace starling::member
