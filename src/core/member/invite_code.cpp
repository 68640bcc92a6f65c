#include "core/member/invite_code.hpp"

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

namespace starling::member {

namespace {
constexpr std::string_view alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t data_symbols = code_symbols - 1;

// The value of a typed character, or -1.
int symbol_value(char ch) noexcept {
  if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  if (ch == 'I' || ch == 'L') return 1;
  if (ch == 'O') return 0;
  const auto p = alphabet.find(ch);
  return p == std::string_view::npos ? -1 : static_cast<int>(p);
}

// The 95 payload bits (hint, slot, secret) as 12 bytes, most significant first, last bit zero.
std::array<std::uint8_t, 12> pack(const invite_code& c) {
  std::array<std::uint8_t, 12> b{};
  b[0] = c.hint[0];
  b[1] = c.hint[1];
  b[2] = c.hint[2];
  // slot (5 bits) then secret (66 bits) from bit 24 on.
  std::uint8_t tail[10] = {};
  tail[0] = static_cast<std::uint8_t>((c.slot & 0x1f) << 3);
  for (std::size_t i = 0; i < 9; ++i) {
    tail[i] |= static_cast<std::uint8_t>(c.secret[i] >> 5);
    tail[i + 1] = static_cast<std::uint8_t>(c.secret[i] << 3);
  }
  for (std::size_t i = 0; i < 9; ++i)
    b[3 + i] = tail[i];
  return b;
}

std::uint8_t bit_at(const std::array<std::uint8_t, 12>& b, std::size_t i) {
  return (b[i / 8] >> (7 - i % 8)) & 1;
}

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "invite_code"; }
  std::string message(int c) const override {
    switch (static_cast<code_errc>(c)) {
      case code_errc::bad_length:
        return "a setup code has " + std::to_string(code_symbols) + " characters";
      case code_errc::bad_character:
        return "character not valid in a setup code";
      case code_errc::check_failed:
        return "setup code check failed (a character is mistyped)";
    }
    return "unknown invite_code error";
  }
};
}  // namespace

namespace detail {
std::uint8_t damm_op(std::uint8_t interim, std::uint8_t symbol) noexcept {
  // Multiply by x (= 2) in GF(2^5) with x^5 = x^2 + 1, then add (xor) the symbol.
  std::uint8_t d = static_cast<std::uint8_t>((interim & 0x1f) << 1);
  if (d & 0x20) d ^= 0x25;
  return static_cast<std::uint8_t>(d ^ (symbol & 0x1f));
}

std::uint8_t check_symbol(const std::uint8_t* symbols, std::size_t n) noexcept {
  std::uint8_t interim = 0;
  for (std::size_t i = 0; i < n; ++i)
    interim = damm_op(interim, symbols[i]);
  return damm_op(interim, 0);  // the symbol c with damm_op(interim, c) == 0
}
}  // namespace detail

inviter_hint hint_of(const public_key& inviter) {
  const auto h = crypto::sha256(inviter);
  return {h[0], h[1], h[2]};
}

invite_code make_invite_code(const public_key& inviter, std::uint8_t slot, crypto::rng& r) {
  invite_code c;
  c.hint = hint_of(inviter);
  c.slot = slot & 0x1f;
  r.fill(c.secret);
  c.secret[8] &= 0xc0;
  return c;
}

std::string to_string(const invite_code& c) {
  const auto b = pack(c);
  std::array<std::uint8_t, code_symbols> sym{};
  for (std::size_t s = 0; s < data_symbols; ++s) {
    std::uint8_t v = 0;
    for (std::size_t k = 0; k < 5; ++k)
      v = static_cast<std::uint8_t>(v << 1 | bit_at(b, s * 5 + k));
    sym[s] = v;
  }
  sym[data_symbols] = detail::check_symbol(sym.data(), data_symbols);
  std::string out;
  for (std::size_t s = 0; s < code_symbols; ++s) {
    if (s != 0 && s % 4 == 0) out += '-';
    out += alphabet[sym[s]];
  }
  return out;
}

boost::system::result<invite_code, code_error> parse_invite_code(std::string_view text) {
  std::array<std::uint8_t, code_symbols> sym{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '-' || ch == ' ') continue;
    const int v = symbol_value(ch);
    if (v < 0) return code_error{code_errc::bad_character, i};
    if (n < code_symbols) sym[n] = static_cast<std::uint8_t>(v);
    ++n;
  }
  if (n != code_symbols) return code_error{code_errc::bad_length, n};
  std::uint8_t interim = 0;
  for (std::uint8_t s : sym)
    interim = detail::damm_op(interim, s);
  if (interim != 0) return code_error{code_errc::check_failed, n};

  std::array<std::uint8_t, 12> b{};
  for (std::size_t s = 0; s < data_symbols; ++s)
    for (std::size_t k = 0; k < 5; ++k) {
      const std::size_t bit = s * 5 + k;
      if ((sym[s] >> (4 - k)) & 1) b[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
    }
  invite_code c;
  c.hint = {b[0], b[1], b[2]};
  c.slot = b[3] >> 3;
  for (std::size_t i = 0; i < 9; ++i) {
    const std::uint8_t next = i + 4 < b.size() ? b[i + 4] : 0;
    c.secret[i] = static_cast<std::uint8_t>(b[3 + i] << 5 | next >> 3);
  }
  c.secret[8] &= 0xc0;
  return c;
}

const std::error_category& code_category() noexcept {
  static const category_impl c;
  return c;
}

std::string code_error::message() const {
  switch (code) {
    case code_errc::bad_length:
      return "a setup code has " + std::to_string(code_symbols) + " characters, this one has " +
             std::to_string(position);
    case code_errc::bad_character:
      return "character " + std::to_string(position + 1) + " is not valid in a setup code";
    case code_errc::check_failed:
      return "the setup code's check character does not match: a character is mistyped";
  }
  return "invalid setup code";
}

void throw_exception_from_error(const code_error& e, const boost::source_location& loc) {
  boost::throw_exception(boost::system::system_error(make_error_code(e.code)), loc);
}

}  // namespace starling::member
