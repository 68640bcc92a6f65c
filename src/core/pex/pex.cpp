#include "core/pex/pex.hpp"

#include <algorithm>
#include <climits>
#include <string>

#include "core/multiformats/multiaddr.hpp"
#include "core/multiformats/peer_id.hpp"
#include "core/multiformats/varint.hpp"
// protobuf_generate writes core/proto/pex.pb.h under proto_gen; accept either layout (as identify).
#if __has_include("pex.pb.h")
#include "pex.pb.h"
#else
#include "core/proto/pex.pb.h"
#endif

namespace starling::pex {

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pex"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::malformed_frame:
        return "bad peer-exchange length prefix";
      case errc::too_large:
        return "peer-exchange message too large";
      case errc::malformed_message:
        return "peer-exchange protobuf does not parse";
      case errc::truncated:
        return "peer-exchange stream ended inside the message";
      case errc::no_message:
        return "peer-exchange stream ended without a message";
      case errc::trailing_data:
        return "bytes after the peer-exchange message";
      case errc::already_finished:
        return "peer-exchange reader already finished";
    }
    return "unknown peer-exchange error";
  }
};

using multiformats::multiaddr;
using multiformats::peer_id;

/// The address without the record's own trailing /p2p/; nullopt when it names another peer
/// or nothing is left.
std::optional<multiaddr> strip_own_peer(const multiaddr& a, const peer_id& id) {
  if (auto p = a.peer()) {
    if (*p != id) return std::nullopt;
    multiaddr bare = a.without_peer();
    if (bare.empty()) return std::nullopt;
    return bare;
  }
  return a;
}

template <class T>
bool contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

/// Addresses of one record after the skip rules: parsed by `parse`, own /p2p/ dropped,
/// duplicates and extras beyond `max` left out.
template <class Range, class Parse>
std::vector<multiaddr> usable_addrs(const Range& in, const peer_id& id, std::size_t max,
                                    Parse parse) {
  std::vector<multiaddr> out;
  for (const auto& raw : in) {
    if (out.size() >= max) break;
    auto a = parse(raw);
    if (!a) continue;
    auto bare = strip_own_peer(*a, id);
    if (!bare || contains(out, *bare)) continue;
    out.push_back(std::move(*bare));
  }
  return out;
}

std::string to_string(bytes_view b) {
  return std::string(as_chars(b));
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

bytes encode(const std::vector<peer_record>& peers, const limits& l) {
  pb::PexMessage m;
  std::vector<peer_id> seen;
  for (const auto& rec : peers) {
    if (static_cast<std::size_t>(m.peers_size()) >= l.max_peers) break;
    auto id = peer_id::parse(rec.peer_id);
    if (!id || contains(seen, *id)) continue;
    auto addrs = usable_addrs(rec.addrs, *id, l.max_addrs_per_peer,
                              [](const std::string& t) { return multiaddr::parse(t); });
    if (addrs.empty()) continue;
    pb::PexPeer* p = m.add_peers();
    p->set_id(to_string(id->bytes()));
    for (const auto& a : addrs)
      p->add_addrs(to_string(a.to_bytes()));
    if (m.ByteSizeLong() > l.max_message_bytes) {
      m.mutable_peers()->RemoveLast();  // too big here; a smaller record later may still fit
      continue;
    }
    seen.push_back(*id);
  }
  const std::string body = m.SerializeAsString();
  return bytes(body.begin(), body.end());
}

bytes encode_frame(const std::vector<peer_record>& peers, const limits& l) {
  bytes out;
  varint::write_frame(encode(peers, l), out);
  return out;
}

result<std::vector<peer_record>> decode(bytes_view body, const limits& l) {
  if (body.size() > l.max_message_bytes || body.size() > static_cast<std::size_t>(INT_MAX)) {
    return make_error_code(errc::too_large);
  }
  pb::PexMessage m;
  if (!m.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return make_error_code(errc::malformed_message);
  }
  std::vector<peer_record> out;
  std::vector<peer_id> seen;
  for (const auto& p : m.peers()) {
    if (out.size() >= l.max_peers) break;
    auto id = peer_id::from_bytes(as_bytes(p.id()));
    if (!id || contains(seen, *id)) continue;
    auto addrs = usable_addrs(p.addrs(), *id, l.max_addrs_per_peer, [](const std::string& b) {
      return multiaddr::from_bytes(as_bytes(b));
    });
    if (addrs.empty()) continue;
    peer_record rec{id->to_string(), {}};
    rec.addrs.reserve(addrs.size());
    for (const auto& a : addrs)
      rec.addrs.push_back(a.to_string());
    seen.push_back(*id);
    out.push_back(std::move(rec));
  }
  return out;
}

std::vector<peer_record> filter_for_asker(std::vector<peer_record> peers, std::string_view asker,
                                          bool asker_on_loopback) {
  const auto asker_id = peer_id::parse(asker);
  std::vector<peer_record> out;
  out.reserve(peers.size());
  for (auto& rec : peers) {
    auto id = peer_id::parse(rec.peer_id);
    if (!id || (asker_id && *id == *asker_id)) continue;
    std::vector<std::string> kept;
    for (auto& text : rec.addrs) {
      auto a = multiaddr::parse(text);
      if (!a || (!asker_on_loopback && a->is_loopback())) continue;
      kept.push_back(std::move(text));
    }
    if (kept.empty()) continue;
    rec.addrs = std::move(kept);
    out.push_back(std::move(rec));
  }
  return out;
}

result<std::optional<std::vector<peer_record>>> reader::fail(errc e) {
  m_error = make_error_code(e);
  m_buf.clear();
  return m_error;
}

result<std::optional<std::vector<peer_record>>> reader::feed(bytes_view in) {
  if (m_error) return m_error;
  if (m_eof) return fail(errc::already_finished);
  if (m_complete) {
    if (!in.empty()) return fail(errc::trailing_data);
    return std::optional<std::vector<peer_record>>{};
  }
  // Never buffer more than one whole frame: anything beyond it is trailing data.
  const std::size_t cap =
      std::min(m_limits.max_message_bytes, std::size_t{1} << 30) + varint::max_bytes;
  const std::size_t take = std::min(cap - m_buf.size(), in.size());
  append(m_buf, in.first(take));
  std::error_code ec;
  auto f = varint::read_frame(m_buf, m_limits.max_message_bytes, ec);
  if (ec) return fail(ec == varint::errc::too_large ? errc::too_large : errc::malformed_frame);
  if (!f) {
    if (take < in.size()) return fail(errc::malformed_frame);  // a full buffer holds a frame
    return std::optional<std::vector<peer_record>>{};
  }
  if (f->consumed < m_buf.size() || take < in.size()) return fail(errc::trailing_data);
  auto records = decode(f->payload, m_limits);
  if (!records) {
    m_error = records.error();
    m_buf.clear();
    return m_error;
  }
  m_complete = true;
  m_buf.clear();
  m_buf.shrink_to_fit();
  return std::optional<std::vector<peer_record>>(std::move(*records));
}

result<void> reader::on_eof() {
  if (m_error) return m_error;
  if (m_eof) {
    m_error = make_error_code(errc::already_finished);
    return m_error;
  }
  m_eof = true;
  if (m_complete) return {};
  m_error = make_error_code(m_buf.empty() ? errc::no_message : errc::truncated);
  return m_error;
}

}  // namespace starling::pex
