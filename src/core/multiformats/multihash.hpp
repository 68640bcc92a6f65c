#pragma once
/// Multihashes: `uvarint(hash code) || uvarint(digest length) || digest`.
/// Only identity (0x00) and sha2-256 (0x12) are produced; any code parses structurally.

#include <cstdint>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/multiformats/errors.hpp"

namespace starling::multiformats::multihash {

/// The identity "hash": the digest is the input itself.
inline constexpr std::uint64_t identity_code = 0x00;
/// SHA-256 (32-byte digest).
inline constexpr std::uint64_t sha2_256_code = 0x12;
/// Largest digest accepted by parse(); longer ones return errc::input_too_long.
inline constexpr std::size_t max_digest = 256;

/// A parsed multihash; `digest` points into the parsed bytes.
struct view {
  std::uint64_t code = 0;
  bytes_view digest;
};

/// Parses `in`, which must hold exactly one multihash (no trailing bytes).
/// Errors: truncated_multihash (ends early), invalid_multihash (trailing bytes, or a sha2-256
/// digest that is not 32 bytes), input_too_long (digest over max_digest).
[[nodiscard]] result<view> parse(bytes_view in);

/// Appends the multihash header for `code` and `digest` followed by the digest.
void encode(std::uint64_t code, bytes_view digest, bytes& out);
/// The identity multihash of `data`.
bytes identity(bytes_view data);
/// The sha2-256 multihash of `data` (hashes it).
bytes sha2_256(bytes_view data);

}  // namespace starling::multiformats::multihash
