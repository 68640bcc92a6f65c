#pragma once
/// The setup code that `starling invite` prints and `starling join CODE` reads (issue 14,
/// "Enrolment, one-sided").
///
/// A code carries 95 bits in 19 Crockford base32 symbols, then one check symbol, printed as
/// five groups of four: `XXXX-XXXX-XXXX-XXXX-XXXX`. The bits, most significant first:
///   - hint (24 bits): the first 3 bytes of SHA-256 of the inviter's Ed25519 public key; the
///     joiner picks the inviter among the peers it finds on the LAN by it (public);
///   - slot (5 bits): which of the inviter's open invites this is (public; at most 32 open);
///   - secret (66 bits): random, the password of the PAKE (crypto/cpace.hpp); never sent.
/// The check symbol is a Damm check over the quasigroup x*y = 2x + y of GF(32) (polynomial
/// x^5 + x^2 + 1): it catches every single-symbol substitution and every swap of two adjacent
/// different symbols, the check symbol included (tests/unit/member_join_test.cpp proves it
/// exhaustively on the operation table and on random codes).

#include <array>
#include <boost/system/result.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "core/crypto/crypto.hpp"
#include "core/member/network.hpp"

namespace starling::member {

/// Symbols in a code, the check symbol included.
inline constexpr std::size_t code_symbols = 20;
/// Bits of the secret.
inline constexpr std::size_t code_secret_bits = 66;
/// The number of distinct slots (the most invites one inviter can have open).
inline constexpr std::size_t code_slots = 32;

/// The inviter hint: the first 3 bytes of SHA-256(inviter public key).
using inviter_hint = std::array<std::uint8_t, 3>;

/// The hint of the inviter whose key is `inviter`.
inviter_hint hint_of(const public_key& inviter);

/// A decoded setup code.
struct invite_code {
  inviter_hint hint{};
  std::uint8_t slot = 0;  ///< 0..31
  /// The 66 secret bits, most significant first; the low 6 bits of the last byte are zero.
  std::array<std::uint8_t, 9> secret{};

  friend bool operator==(const invite_code&, const invite_code&) = default;
};

/// A fresh code for `inviter` in `slot` (taken modulo 32), with a secret from `r`.
invite_code make_invite_code(const public_key& inviter, std::uint8_t slot, crypto::rng& r);

/// The printed form: 20 upper-case symbols in groups of four joined by '-'.
std::string to_string(const invite_code& c);

/// Why a text is not a setup code.
enum class code_errc {
  bad_length = 1,  ///< not 20 symbols once dashes and spaces are dropped
  bad_character,   ///< a character outside Crockford base32 (and not '-' or ' ')
  check_failed,    ///< the check symbol does not match: a typo
};
/// The "invite_code" error category.
const std::error_category& code_category() noexcept;
/// Makes `code_errc` values usable as std::error_code.
inline std::error_code make_error_code(code_errc e) noexcept {
  return {static_cast<int>(e), code_category()};
}

/// A parse failure and where it is.
struct code_error {
  code_errc code{};
  std::size_t position = 0;  ///< bad_character: 0-based index in the text; else symbol count
  /// A sentence for the user, e.g. "character 7 ('U') is not valid in a setup code".
  std::string message() const;
  /// The code alone, for callers that return starling::result<T>.
  operator std::error_code() const noexcept { return make_error_code(code); }
};

/// Called by `boost::system::result::value()` on an error (a caller bug: test first).
[[noreturn]] void throw_exception_from_error(const code_error& e,
                                             const boost::source_location& loc);

/// Parses what a user typed: case-insensitive; '-' and ' ' ignored; I and L read as 1, O as 0
/// (Crockford). Errors: bad_length (position = the number of symbols found), bad_character
/// (position = its index in `text`), check_failed. The caller prints `message()` and asks the
/// user to type the code again; nothing is sent for a code that does not parse.
boost::system::result<invite_code, code_error> parse_invite_code(std::string_view text);

namespace detail {
/// Damm step over GF(32): 2*interim + symbol (exposed for the exhaustive test).
std::uint8_t damm_op(std::uint8_t interim, std::uint8_t symbol) noexcept;
/// The check symbol of `symbols` (each 0..31).
std::uint8_t check_symbol(const std::uint8_t* symbols, std::size_t n) noexcept;
}  // namespace detail

}  // namespace starling::member

template <>
struct std::is_error_code_enum<starling::member::code_errc> : std::true_type {};
