#include "core/multiformats/multiaddr.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "core/multiformats/varint.hpp"

namespace starling::multiformats {

namespace {
using detail::protocol_info;
using detail::value_kind;

// A component located inside a binary multiaddr.
struct located {
  const protocol_info* proto = nullptr;
  bytes_view value;
  std::size_t begin = 0;  // offset of the code varint
  std::size_t end = 0;    // offset just past the value
};

// Decodes the component starting at `at`. Checks framing only, not the value's contents.
std::error_code locate(bytes_view all, std::size_t at, located& out) {
  const bytes_view in = all.subspan(at);
  varint::decoded code;
  std::error_code ec;
  if (!varint::decode(in, code, ec)) return errc::invalid_varint;
  if (code.size == 0) return errc::truncated_multiaddr;
  const protocol_info* p = detail::find_protocol(code.value);
  if (p == nullptr) return errc::unknown_protocol_code;
  std::size_t pos = code.size;
  std::size_t len = 0;
  if (auto fixed = detail::fixed_size(p->kind)) {
    len = *fixed;
  } else {
    varint::decoded l;
    if (!varint::decode(in.subspan(pos), l, ec)) return errc::invalid_varint;
    if (l.size == 0) return errc::truncated_multiaddr;
    pos += l.size;
    if (l.value > in.size() - pos) return errc::truncated_multiaddr;
    len = static_cast<std::size_t>(l.value);
  }
  if (in.size() - pos < len) return errc::truncated_multiaddr;
  out = located{p, in.subspan(pos, len), at, at + pos + len};
  return {};
}

// All components of bytes already validated by from_bytes()/parse().
std::vector<located> split(const bytes& b) {
  std::vector<located> out;
  std::size_t at = 0;
  while (at < b.size()) {
    located c;
    if (locate(b, at, c)) break;  // cannot happen for validated bytes
    out.push_back(c);
    at = c.end;
  }
  return out;
}

void append_component(bytes& out, protocol_code code, bytes_view value) {
  const auto* p = detail::find_protocol(static_cast<std::uint64_t>(code));
  varint::encode(static_cast<std::uint64_t>(code), out);
  if (p != nullptr && !detail::fixed_size(p->kind)) varint::encode(value.size(), out);
  append(out, value);
}

// Quotes a user-supplied value for an error message, cutting very long ones.
std::string quoted(std::string_view v) {
  constexpr std::size_t max = 80;
  std::string s = "'";
  s += v.substr(0, max);
  if (v.size() > max) s += "...";
  s += "'";
  return s;
}

std::string value_error_detail(const protocol_info& p, std::string_view value, std::error_code ec) {
  switch (p.kind) {
    case value_kind::ip4:
      return "bad ip4 address " + quoted(value);
    case value_kind::ip6:
      return "bad ip6 address " + quoted(value);
    case value_kind::port:
      return "bad " + std::string(p.name) + " port " + quoted(value) + " (expected 0-65535)";
    case value_kind::name:
      return "bad " + std::string(p.name) + " value " + quoted(value);
    case value_kind::peer:
      return "bad peer id " + quoted(value) + ": " + ec.message();
    case value_kind::certhash:
      return "bad certhash " + quoted(value) + " (expected a multibase multihash)";
    case value_kind::none:
      break;
  }
  return ec.message();
}
}  // namespace

std::string_view component::name() const {
  return protocol_name(static_cast<std::uint64_t>(code)).value_or("unknown");
}

std::string component::value_text() const {
  const auto* p = detail::find_protocol(static_cast<std::uint64_t>(code));
  if (p == nullptr) return {};
  if (auto fixed = detail::fixed_size(p->kind); fixed && *fixed != value.size()) return {};
  return detail::value_to_text(*p, value);
}

std::string ip_endpoint::ip_string() const {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (inet_ntop(is_v6 ? AF_INET6 : AF_INET, ip.data(), buf.data(), buf.size()) == nullptr)
    return {};
  std::string s(buf.data());
  if (is_v6 && !zone.empty()) s += "%" + zone;
  return s;
}

result<multiaddr> multiaddr::parse(std::string_view text, std::string* detail) {
  if (detail != nullptr) detail->clear();
  auto fail = [detail](errc e, std::string why) -> result<multiaddr> {
    if (detail != nullptr) *detail = std::move(why);
    return e;
  };
  if (text.size() > max_multiaddr_chars)
    return fail(errc::multiaddr_too_long, "longer than 4096 characters");
  if (text.empty() || text == "/") return fail(errc::empty_multiaddr, "empty address");
  if (text.front() != '/') return fail(errc::missing_leading_slash, "must start with '/'");
  if (text.back() == '/') return fail(errc::trailing_slash, "trailing '/'");

  // Returns the next '/'-separated token at `pos` and moves past it.
  auto next_token = [&text](std::size_t& pos) {
    std::size_t end = text.find('/', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view tok = text.substr(pos, end - pos);
    pos = end + 1;
    return tok;
  };

  bytes out;
  std::size_t pos = 1;
  while (pos <= text.size()) {
    const std::string_view name = next_token(pos);
    if (name.empty()) return fail(errc::empty_component, "empty component ('//')");
    const protocol_info* p = detail::find_protocol(name);
    if (p == nullptr) return fail(errc::unknown_protocol_name, "unknown protocol " + quoted(name));
    bytes value;
    if (p->kind != value_kind::none) {
      if (pos > text.size())
        return fail(errc::missing_value, "/" + std::string(name) + " needs a value");
      const std::string_view v = next_token(pos);
      if (auto ec = detail::value_from_text(*p, v, value)) {
        const errc e =
            p->kind == value_kind::peer ? errc::invalid_peer_id : static_cast<errc>(ec.value());
        return fail(e, value_error_detail(*p, v, ec));
      }
    }
    append_component(out, p->code, value);
    if (out.size() > max_multiaddr_bytes)
      return fail(errc::multiaddr_too_long, "longer than 1024 bytes in binary");
  }
  return multiaddr(std::move(out));
}

result<multiaddr> multiaddr::from_bytes(bytes_view in) {
  if (in.empty()) return errc::empty_multiaddr;
  if (in.size() > max_multiaddr_bytes) return errc::multiaddr_too_long;
  std::size_t at = 0;
  while (at < in.size()) {
    located c;
    if (auto ec = locate(in, at, c)) return ec;
    if (auto ec = detail::validate_value(*c.proto, c.value)) return ec;
    at = c.end;
  }
  return multiaddr(bytes(in.begin(), in.end()));
}

multiaddr multiaddr::from_tcp_endpoint(const ip_endpoint& ep) {
  bytes out;
  if (ep.is_v6 && !ep.zone.empty())
    append_component(out, protocol_code::ip6zone, as_bytes(ep.zone));
  if (ep.is_v6) {
    append_component(out, protocol_code::ip6, ep.ip);
  } else {
    append_component(out, protocol_code::ip4, bytes_view(ep.ip).first(4));
  }
  const std::array<std::uint8_t, 2> port{static_cast<std::uint8_t>(ep.port >> 8),
                                         static_cast<std::uint8_t>(ep.port & 0xff)};
  append_component(out, protocol_code::tcp, port);
  return multiaddr(std::move(out));
}

std::string multiaddr::to_string() const {
  std::string s;
  for (const auto& c : split(m_bytes)) {
    s += '/';
    s += c.proto->name;
    if (c.proto->kind != value_kind::none) {
      s += '/';
      s += detail::value_to_text(*c.proto, c.value);
    }
  }
  return s;
}

std::vector<component> multiaddr::components() const {
  std::vector<component> out;
  for (const auto& c : split(m_bytes))
    out.push_back(component{c.proto->code, bytes(c.value.begin(), c.value.end())});
  return out;
}

std::optional<ip_endpoint> multiaddr::tcp_endpoint() const {
  const auto cs = split(m_bytes);
  std::size_t i = 0;
  ip_endpoint ep;
  if (i < cs.size() && cs[i].proto->code == protocol_code::ip6zone) {
    ep.zone.assign(as_chars(cs[i].value));
    ++i;
    if (i >= cs.size() || cs[i].proto->code != protocol_code::ip6) return std::nullopt;
  }
  if (i >= cs.size()) return std::nullopt;
  if (cs[i].proto->code == protocol_code::ip6) {
    ep.is_v6 = true;
  } else if (cs[i].proto->code != protocol_code::ip4) {
    return std::nullopt;
  }
  std::copy(cs[i].value.begin(), cs[i].value.end(), ep.ip.begin());
  ++i;
  if (i >= cs.size() || cs[i].proto->code != protocol_code::tcp) return std::nullopt;
  ep.port = static_cast<std::uint16_t>((cs[i].value[0] << 8) | cs[i].value[1]);
  ++i;
  if (i < cs.size() && cs[i].proto->code == protocol_code::p2p) ++i;
  if (i != cs.size()) return std::nullopt;
  return ep;
}

std::optional<peer_id> multiaddr::peer() const {
  const auto cs = split(m_bytes);
  if (cs.empty() || cs.back().proto->code != protocol_code::p2p) return std::nullopt;
  auto id = peer_id::from_bytes(cs.back().value);
  if (!id) return std::nullopt;
  return *id;
}

multiaddr multiaddr::without_peer() const {
  const auto cs = split(m_bytes);
  if (cs.empty() || cs.back().proto->code != protocol_code::p2p) return *this;
  return multiaddr(
      bytes(m_bytes.begin(), m_bytes.begin() + static_cast<std::ptrdiff_t>(cs.back().begin)));
}

result<multiaddr> multiaddr::with_peer(const peer_id& id) const {
  if (id.empty()) return errc::invalid_peer_id;
  bytes out = without_peer().m_bytes;
  append_component(out, protocol_code::p2p, id.bytes());
  if (out.size() > max_multiaddr_bytes) return errc::multiaddr_too_long;
  return multiaddr(std::move(out));
}

result<multiaddr> multiaddr::encapsulate(const multiaddr& other) const {
  if (m_bytes.size() + other.m_bytes.size() > max_multiaddr_bytes) return errc::multiaddr_too_long;
  bytes out = m_bytes;
  append(out, other.m_bytes);
  return multiaddr(std::move(out));
}

bool multiaddr::is_loopback() const {
  for (const auto& c : split(m_bytes)) {
    if (c.proto->code == protocol_code::ip6zone) continue;
    if (c.proto->code == protocol_code::ip4) return c.value[0] == 127;
    if (c.proto->code == protocol_code::ip6) {
      static constexpr std::array<std::uint8_t, 16> loop6{0, 0, 0, 0, 0, 0, 0, 0,
                                                          0, 0, 0, 0, 0, 0, 0, 1};
      return std::equal(c.value.begin(), c.value.end(), loop6.begin(), loop6.end());
    }
    return false;
  }
  return false;
}

std::string describe_parse_error(std::string_view text) {
  std::string detail;
  if (multiaddr::parse(text, &detail)) return {};
  std::string s = "invalid multiaddr '";
  s += text.substr(0, 200);
  if (text.size() > 200) s += "...";
  s += "': " + detail;
  return s;
}

}  // namespace starling::multiformats
