#pragma once
/// CPace, the balanced password-authenticated key exchange of draft-irtf-cfrg-cpace, with the
/// group ristretto255 and the hash SHA-512 (the draft's "CPaceRistretto255" suite; its test
/// vectors call it Coffee25519). Both parties derive a generator from the password-related
/// string (PRS), the channel identifier (CI) and the session id (sid), exchange one point each,
/// and derive the intermediate session key (ISK). A party that used another PRS, CI or sid
/// ends up with an unrelated ISK; the caller detects that with key confirmation.
///
/// Everything is deterministic given its inputs; scalars come from a caller's `rng`. Call
/// crypto::init() first. tests/vectors/cpace_test.cpp checks the draft's vectors.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "core/common/bytes.hpp"
#include "core/crypto/crypto.hpp"

namespace starling::crypto::cpace {

/// An encoded ristretto255 element.
using point = std::array<std::uint8_t, 32>;
/// A scalar modulo the group order, little-endian.
using scalar = std::array<std::uint8_t, 32>;
/// The intermediate session key: one SHA-512 output.
using isk = std::array<std::uint8_t, 64>;

/// The suite's domain-separation strings.
inline constexpr std::string_view dsi = "CPaceRistretto255";
inline constexpr std::string_view dsi_isk = "CPaceRistretto255_ISK";
/// SHA-512's input block size, which sets the zero padding of generator_string.
inline constexpr std::size_t hash_block_size = 128;

/// Appends the unsigned LEB128 encoding of `data.size()` and then `data` (the draft's
/// prepend_len).
void append_prepend_len(bytes& out, bytes_view data);
/// The draft's lv_cat: every argument with its length prepended, in order.
bytes lv_cat(std::initializer_list<bytes_view> parts);
/// The draft's generator_string(DSI, PRS, CI, sid, s_in_bytes) for this suite: lv_cat(DSI, PRS,
/// zero padding to fill SHA-512's first block, CI, sid).
bytes generator_string(bytes_view prs, bytes_view ci, bytes_view sid);
/// transcript_ir(Ya, ADa, Yb, ADb) = lv_cat(Ya, ADa) || lv_cat(Yb, ADb): the order for an
/// initiator (A) and a responder (B).
bytes transcript_ir(bytes_view ya, bytes_view ada, bytes_view yb, bytes_view adb);
/// transcript_oc: the two lv_cat blocks in lexicographic order behind "oc" (parallel setting).
bytes transcript_oc(bytes_view ya, bytes_view ada, bytes_view yb, bytes_view adb);

/// The generator: SHA-512 of generator_string, mapped by ristretto255's hash-to-group. Never
/// fails (the map cannot reach the identity except with negligible probability, which this
/// function reports as false all the same: the caller aborts the session).
[[nodiscard]] bool calculate_generator(bytes_view prs, bytes_view ci, bytes_view sid, point& g);

/// A fresh secret scalar: 64 bytes from `r` reduced modulo the group order (never zero: a zero
/// is drawn again).
scalar sample_scalar(rng& r);

/// scalar_mult_vfy: decodes `p`, multiplies it by `s` and encodes the result. Returns false
/// (`out` then all zeros, the draft's encoding of the identity) when `p` is not a canonical
/// ristretto255 encoding or when the product is the identity (`p` is the identity). The caller
/// aborts the session: the peer sent an invalid or degenerate message.
[[nodiscard]] bool scalar_mult_vfy(const scalar& s, const point& p, point& out);

/// The message of a party: Y = y * g. Returns false only when g is invalid (see scalar_mult_vfy).
[[nodiscard]] bool public_share(const scalar& y, const point& g, point& out);

/// ISK for the initiator-responder setting: SHA-512(lv_cat(DSI_ISK, sid, K) ||
/// transcript_ir(Ya, ADa, Yb, ADb)), where K is the shared point.
isk derive_isk_ir(bytes_view sid, const point& k, bytes_view ya, bytes_view ada, bytes_view yb,
                  bytes_view adb);
/// ISK for the parallel setting (transcript_oc).
isk derive_isk_oc(bytes_view sid, const point& k, bytes_view ya, bytes_view ada, bytes_view yb,
                  bytes_view adb);
/// The draft's optional session id output: SHA-512("CPaceSidOutput" || transcript). (The
/// draft's text prints the label as "CPaceSidOut"; its vectors were made with
/// "CPaceSidOutput", and we follow the vectors.)
isk sid_output(bytes_view transcript);

/// Compares two confirmation tags in constant time; false when the sizes differ.
bool tags_equal(bytes_view a, bytes_view b) noexcept;
/// Overwrites secret material (scalars, keys) in a way the compiler keeps.
void wipe(std::span<std::uint8_t> secret) noexcept;

/// SHA-512 of `data` (the suite's hash, exposed for the vector test).
std::array<std::uint8_t, 64> sha512(bytes_view data);

}  // namespace starling::crypto::cpace
