#include "core/multiformats/multiaddr_protocols.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>

#include "core/multiformats/multibase.hpp"
#include "core/multiformats/multihash.hpp"
#include "core/multiformats/peer_id.hpp"

namespace starling::multiformats {
namespace detail {

namespace {
using enum value_kind;
constexpr std::array<protocol_info, 21> table{{
    {protocol_code::ip4, "ip4", ip4},
    {protocol_code::tcp, "tcp", port},
    {protocol_code::ip6, "ip6", ip6},
    {protocol_code::ip6zone, "ip6zone", name},
    {protocol_code::dns, "dns", name},
    {protocol_code::dns4, "dns4", name},
    {protocol_code::dns6, "dns6", name},
    {protocol_code::dnsaddr, "dnsaddr", name},
    {protocol_code::udp, "udp", port},
    {protocol_code::webrtc_direct, "webrtc-direct", none},
    {protocol_code::webrtc, "webrtc", none},
    {protocol_code::p2p_circuit, "p2p-circuit", none},
    {protocol_code::p2p, "p2p", peer},
    {protocol_code::tls, "tls", none},
    {protocol_code::noise, "noise", none},
    {protocol_code::quic, "quic", none},
    {protocol_code::quic_v1, "quic-v1", none},
    {protocol_code::webtransport, "webtransport", none},
    {protocol_code::certhash, "certhash", certhash},
    {protocol_code::ws, "ws", none},
    {protocol_code::wss, "wss", none},
}};

std::error_code check_name(bytes_view v) {
  if (v.empty() || v.size() > max_name_bytes) return errc::invalid_name;
  for (std::uint8_t c : v) {
    // '/' would split the text form; control characters make log lines lie.
    if (c == '/' || c < 0x20 || c == 0x7f) return errc::invalid_name;
  }
  return {};
}

std::error_code check_certhash(bytes_view v) {
  auto mh = multihash::parse(v);
  if (!mh) return errc::invalid_certhash;
  return {};
}
}  // namespace

const protocol_info* find_protocol(std::uint64_t code) noexcept {
  for (const auto& p : table) {
    if (static_cast<std::uint64_t>(p.code) == code) return &p;
  }
  return nullptr;
}

const protocol_info* find_protocol(std::string_view text_name) noexcept {
  if (text_name == "ipfs") text_name = "p2p";
  for (const auto& p : table) {
    if (p.name == text_name) return &p;
  }
  return nullptr;
}

std::optional<std::size_t> fixed_size(value_kind kind) noexcept {
  switch (kind) {
    case none:
      return 0;
    case ip4:
      return 4;
    case ip6:
      return 16;
    case port:
      return 2;
    case name:
    case peer:
    case certhash:
      return std::nullopt;
  }
  return std::nullopt;
}

std::error_code value_from_text(const protocol_info& p, std::string_view text, bytes& out) {
  switch (p.kind) {
    case none:
      return {};
    case ip4:
    case ip6: {
      // inet_pton needs a NUL-terminated string; values are short, so bound the copy.
      const errc bad = p.kind == ip4 ? errc::invalid_ip4 : errc::invalid_ip6;
      if (text.size() > 64) return bad;
      const std::string s(text);
      std::array<std::uint8_t, 16> buf{};
      if (inet_pton(p.kind == ip4 ? AF_INET : AF_INET6, s.c_str(), buf.data()) != 1) return bad;
      out.insert(out.end(), buf.begin(), buf.begin() + (p.kind == ip4 ? 4 : 16));
      return {};
    }
    case port: {
      unsigned v = 0;
      if (text.empty() || text.size() > 5) return errc::invalid_port;
      for (char c : text) {
        if (c < '0' || c > '9') return errc::invalid_port;
      }
      std::from_chars(text.data(), text.data() + text.size(), v);
      if (v > 65535) return errc::invalid_port;
      out.push_back(static_cast<std::uint8_t>(v >> 8));
      out.push_back(static_cast<std::uint8_t>(v & 0xff));
      return {};
    }
    case name: {
      if (auto ec = check_name(as_bytes(text))) return ec;
      append(out, as_bytes(text));
      return {};
    }
    case peer: {
      auto id = peer_id::parse(text);
      if (!id) return id.error();
      append(out, id->bytes());
      return {};
    }
    case certhash: {
      auto raw = multibase_decode(text);
      if (!raw) return errc::invalid_certhash;
      if (auto ec = check_certhash(*raw)) return ec;
      append(out, *raw);
      return {};
    }
  }
  return errc::unknown_protocol_name;
}

std::error_code validate_value(const protocol_info& p, bytes_view value) {
  switch (p.kind) {
    case none:
    case ip4:
    case ip6:
    case port:
      return {};
    case name:
      return check_name(value);
    case peer: {
      auto id = peer_id::from_bytes(value);
      return id ? std::error_code{} : std::error_code{errc::invalid_peer_id};
    }
    case certhash:
      return check_certhash(value);
  }
  return errc::unknown_protocol_code;
}

std::string value_to_text(const protocol_info& p, bytes_view value) {
  switch (p.kind) {
    case none:
      return {};
    case ip4:
    case ip6: {
      std::array<char, INET6_ADDRSTRLEN> buf{};
      if (inet_ntop(p.kind == ip4 ? AF_INET : AF_INET6, value.data(), buf.data(), buf.size()) ==
          nullptr)
        return {};
      return std::string(buf.data());
    }
    case port:
      return std::to_string((static_cast<unsigned>(value[0]) << 8) | value[1]);
    case name:
      return std::string(as_chars(value));
    case peer:
      return base58btc_encode(value);
    case certhash:
      return multibase_encode(multibase::base64url, value);
  }
  return {};
}

}  // namespace detail

std::optional<std::string_view> protocol_name(std::uint64_t code) noexcept {
  if (const auto* p = detail::find_protocol(code)) return p->name;
  return std::nullopt;
}

}  // namespace starling::multiformats
