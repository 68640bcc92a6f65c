#include "core/keyexpr/errors.hpp"

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

namespace starling::keyexpr {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "keyexpr"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::empty:
        return "empty key expression";
      case errc::too_long:
        return "key expression longer than " + std::to_string(max_size) + " bytes";
      case errc::too_many_chunks:
        return "key expression with more than " + std::to_string(max_chunks) + " chunks";
      case errc::empty_chunk:
        return "empty chunk";
      case errc::reserved_character:
        return "reserved character";
      case errc::control_character:
        return "control character";
      case errc::wildcard_in_chunk:
        return "'*' inside a chunk (only whole-chunk * and ** are wildcards)";
      case errc::wildcard_in_key:
        return "wildcard in a key";
    }
    return "unknown keyexpr error";
  }
};

constexpr std::size_t max_excerpt = 100;

void append_printable(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += ch;
    }
  }
}
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

parse_error parse_error::at(errc code, std::size_t offset, std::string_view text) {
  parse_error e{code, offset, {}};
  append_printable(e.excerpt, text.substr(0, max_excerpt));
  if (text.size() > max_excerpt) e.excerpt += "...";
  return e;
}

std::string parse_error::message() const {
  return excerpt + ": " + make_error_code(code).message() + " at byte " + std::to_string(offset);
}

void throw_exception_from_error(const parse_error& e, const boost::source_location& loc) {
  boost::throw_exception(boost::system::system_error(make_error_code(e.code)), loc);
}

}  // namespace starling::keyexpr
