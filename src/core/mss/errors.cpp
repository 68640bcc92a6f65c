#include "core/mss/errors.hpp"

#include <string>

#include "core/multiformats/varint.hpp"

namespace starling::mss {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mss"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::malformed:
        return "malformed multistream-select message";
      case errc::too_long:
        return "multistream-select message too long";
      case errc::wrong_header:
        return "not a /multistream/1.0.0 header";
      case errc::invalid_protocol:
        return "invalid protocol id";
      case errc::no_protocol:
        return "peer supports none of the proposed protocols";
      case errc::rejected:
        return "peer rejected the protocol";
      case errc::unexpected_message:
        return "unexpected multistream-select message";
      case errc::already_done:
        return "negotiation already finished";
      case errc::too_many_attempts:
        return "too many protocol proposals";
      case errc::invalid_argument:
        return "invalid multistream-select arguments";
    }
    return "unknown mss error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

namespace detail {

void write_message(std::string_view text, bytes& out) {
  varint::encode(text.size() + 1, out);
  append(out, as_bytes(text));
  out.push_back('\n');
}

std::optional<message> read_message(bytes_view in, std::error_code& ec) noexcept {
  auto f = varint::read_frame(in, max_message, ec);
  if (!f) {
    if (ec == varint::errc::too_large) {
      ec = errc::too_long;
    } else if (ec) {
      ec = errc::malformed;
    }
    return std::nullopt;
  }
  if (f->payload.empty() || f->payload.back() != '\n') {
    ec = errc::malformed;
    return std::nullopt;
  }
  return message{as_chars(f->payload.first(f->payload.size() - 1)), f->consumed};
}

bool valid_protocol(std::string_view id) noexcept {
  return !id.empty() && id.front() == '/' && id.size() < max_message &&
         id.find('\n') == std::string_view::npos;
}

}  // namespace detail
}  // namespace starling::mss
