#include "core/data/wire.hpp"

#include <cstring>
#include <string>

#include "core/multiformats/varint.hpp"

namespace starling::data {

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "data"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::truncated:
        return "data message truncated";
      case errc::trailing_bytes:
        return "bytes left after the last field of a data message";
      case errc::bad_varint:
        return "invalid varint in a data message";
      case errc::frame_too_large:
        return "data frame over the size limit";
      case errc::reserved_flags:
        return "reserved flag bits set in a data frame or message";
      case errc::field_too_large:
        return "data message field over its limit";
      case errc::bad_value:
        return "out-of-range value in a data message";
      case errc::compressed_frame:
        return "compressed data frame, but compression was not offered to the peer";
      case errc::payload_too_large:
        return "sample payload over the limit";
      case errc::bad_compressed_frame:
        return "corrupt compressed data frame";
    }
    return "unknown data error";
  }
};

// ---- writing: the same field code runs once to size a message and once to write it ----

/// Counts the bytes a message's fields take.
struct sizer {
  std::size_t n = 0;
  void u8(std::uint8_t) { ++n; }
  void uv(std::uint64_t v) { n += varint::encoded_size(v); }
  void u64le(std::uint64_t) { n += 8; }
  void blob(bytes_view b) { n += varint::encoded_size(b.size()) + b.size(); }
  void str(std::string_view s) { blob(as_bytes(s)); }
};

/// Appends a message's fields.
struct writer {
  bytes& out;
  void u8(std::uint8_t v) { out.push_back(v); }
  void uv(std::uint64_t v) { varint::encode(v, out); }
  void u64le(std::uint64_t v) {
    std::uint8_t b[8];
    for (int i = 0; i < 8; ++i)
      b[i] = static_cast<std::uint8_t>(v >> (8 * i));
    out.insert(out.end(), b, b + 8);
  }
  void blob(bytes_view b) {
    varint::encode(b.size(), out);
    append(out, b);
  }
  void str(std::string_view s) { blob(as_bytes(s)); }
};

template <class W>
void fields(W& w, const hello& m) {
  w.uv(m.version);
  w.blob(m.node);
  w.uv(m.features);
  w.uv(m.max_frame);
}
template <class W>
void fields(W& w, const node_alias& m) {
  w.uv(m.alias);
  w.blob(m.node);
}
template <class W>
void fields(W& w, const key_alias& m) {
  w.uv(m.alias);
  w.str(m.key);
}
template <class W>
void fields(W& w, const record_message& m) {
  w.uv(m.origin);
  w.uv(m.version);
  w.uv(m.links.size());
  for (auto l : m.links)
    w.uv(l);
  w.uv(m.decls.size());
  for (const auto& d : m.decls) {
    w.u8(d.kind);
    w.u8(d.flags);
    w.str(d.expr);
  }
}
template <class W>
void fields(W& w, const push& m) {
  w.u8(m.flags);
  w.uv(m.source);
  w.uv(m.publisher);
  w.uv(m.seq);
  w.uv(m.key);
  w.u64le(m.timestamp);
  if (m.flags & push_flags::has_encoding) w.str(m.encoding);
  w.blob(m.payload);
}
template <class W>
void fields(W& w, const heartbeat& m) {
  w.uv(m.source);
  w.uv(m.publisher);
  w.uv(m.key);
  w.uv(m.last_seq);
}
template <class W>
void fields(W& w, const publisher_end& m) {
  w.uv(m.source);
  w.uv(m.publisher);
  w.uv(m.key);
  w.uv(m.last_seq);
}
template <class W>
void fields(W& w, const nack& m) {
  w.uv(m.dest);
  w.u8(m.hops);
  w.uv(m.requester);
  w.uv(m.publisher);
  w.uv(m.first);
  w.uv(m.count);
}
template <class W>
void fields(W& w, const repair& m) {
  w.uv(m.dest);
  w.u8(m.hops);
  fields(w, m.sample);
}
template <class W>
void fields(W& w, const query& m) {
  w.uv(m.dest);
  w.u8(m.hops);
  w.uv(m.origin);
  w.uv(m.qid);
  w.u8(m.target);
  w.u8(m.consolidation);
  w.uv(m.timeout_ms);
  w.str(m.selector);
  w.str(m.parameters);
  if (m.payload) w.blob(*m.payload);
}
template <class W>
void fields(W& w, const reply& m) {
  w.uv(m.dest);
  w.u8(m.hops);
  w.uv(m.from);
  w.uv(m.qid);
  w.u8(m.flags);
  w.str(m.key);
  w.u64le(m.timestamp);
  if (m.flags & reply_flags::has_encoding) w.str(m.encoding);
  w.blob(m.payload);
}
template <class W>
void fields(W& w, const reply_final& m) {
  w.uv(m.dest);
  w.u8(m.hops);
  w.uv(m.from);
  w.uv(m.qid);
}

// ---- limits shared by the encoder and the decoder ----

bool ok_alias(std::uint64_t a) {
  return a >= 1 && a <= max_alias;
}
bool ok_ref(std::uint64_t a) {
  return a <= max_alias;
}  // 0 = the stream's sender

result<void> check(const hello& m) {
  if (m.node.empty() || m.node.size() > max_node_id) return errc::field_too_large;
  return {};
}
result<void> check(const node_alias& m) {
  if (!ok_alias(m.alias)) return errc::bad_value;
  if (m.node.empty() || m.node.size() > max_node_id) return errc::field_too_large;
  return {};
}
result<void> check(const key_alias& m) {
  if (!ok_alias(m.alias)) return errc::bad_value;
  if (m.key.empty() || m.key.size() > max_key) return errc::field_too_large;
  return {};
}
result<void> check(const record_message& m) {
  if (!ok_ref(m.origin)) return errc::bad_value;
  if (m.links.size() > max_links || m.decls.size() > max_decls) return errc::field_too_large;
  for (auto l : m.links) {
    if (!ok_ref(l)) return errc::bad_value;
  }
  for (const auto& d : m.decls) {
    if (d.kind < 1 || d.kind > 3) return errc::bad_value;
    if (d.flags & ~(d.kind == 2 ? 0x01 : 0x00)) return errc::reserved_flags;
    if (d.expr.empty() || d.expr.size() > max_key) return errc::field_too_large;
  }
  return {};
}
result<void> check(const push& m) {
  if (m.flags & ~push_flags::known) return errc::reserved_flags;
  if (!ok_ref(m.source) || !ok_alias(m.key)) return errc::bad_value;
  if (m.encoding.size() > max_encoding) return errc::field_too_large;
  return {};
}
result<void> check(const heartbeat& m) {
  if (!ok_ref(m.source) || !ok_alias(m.key)) return errc::bad_value;
  return {};
}
result<void> check(const publisher_end& m) {
  if (!ok_ref(m.source) || !ok_alias(m.key)) return errc::bad_value;
  return {};
}
result<void> check(const nack& m) {
  if (!ok_ref(m.dest) || !ok_ref(m.requester)) return errc::bad_value;
  return {};
}
result<void> check(const repair& m) {
  if (!ok_ref(m.dest)) return errc::bad_value;
  return check(m.sample);
}
result<void> check(const query& m) {
  if (!ok_ref(m.dest) || !ok_ref(m.origin)) return errc::bad_value;
  if (m.target > 2 || m.consolidation > 1) return errc::bad_value;
  if (m.selector.empty() || m.selector.size() > max_key) return errc::field_too_large;
  if (m.parameters.size() > max_parameters) return errc::field_too_large;
  if (m.payload && m.payload->size() > max_payload) return errc::field_too_large;
  return {};
}
result<void> check(const reply& m) {
  if (!ok_ref(m.dest) || !ok_ref(m.from)) return errc::bad_value;
  if (m.flags & ~reply_flags::known) return errc::reserved_flags;
  if (m.key.empty() || m.key.size() > max_key) return errc::field_too_large;
  if (m.encoding.size() > max_encoding) return errc::field_too_large;
  return {};
}
result<void> check(const reply_final& m) {
  if (!ok_ref(m.dest) || !ok_ref(m.from)) return errc::bad_value;
  return {};
}

bytes_view payload_of(const push& m) {
  return m.payload;
}
bytes_view payload_of(const repair& m) {
  return m.sample.payload;
}
bytes_view payload_of(const reply& m) {
  return m.payload;
}
template <class M>
bytes_view payload_of(const M&) {
  return {};
}

template <class M>
result<void> encode_message(msg_type t, const M& m, bytes& out) {
  if (payload_of(m).size() > max_payload) return errc::payload_too_large;
  if (auto r = check(m); !r) return r.error();
  sizer s;
  fields(s, m);
  out.reserve(out.size() + 1 + varint::max_bytes + s.n);
  out.push_back(static_cast<std::uint8_t>(t));
  varint::encode(s.n, out);
  writer w{out};
  fields(w, m);
  return {};
}

// ---- reading ----

/// Reads fields from a message body; the first failure sticks and later reads return zeros.
class reader {
 public:
  explicit reader(bytes_view in) : m_in(in) {}
  std::uint8_t u8() {
    if (!need(1)) return 0;
    return m_in[m_pos++];
  }
  std::uint64_t uv() {
    if (m_err) return 0;
    varint::decoded d;
    std::error_code ec;
    if (!varint::decode(m_in.subspan(m_pos), d, ec) || d.size == 0) {
      fail(ec ? errc::bad_varint : errc::truncated);
      return 0;
    }
    m_pos += d.size;
    return d.value;
  }
  std::uint64_t u64le() {
    if (!need(8)) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= std::uint64_t{m_in[m_pos + i]} << (8 * i);
    m_pos += 8;
    return v;
  }
  bytes_view blob(std::size_t max) {
    const std::uint64_t n = uv();
    if (m_err) return {};
    if (n > max) {
      fail(errc::field_too_large);
      return {};
    }
    if (!need(n)) return {};
    auto v = m_in.subspan(m_pos, n);
    m_pos += n;
    return v;
  }
  std::string_view str(std::size_t max) { return as_chars(blob(max)); }
  /// A count of list entries, each at least `min_entry` bytes: capped by the limit and by
  /// what the remaining bytes could hold, so a forged count allocates nothing.
  std::size_t count(std::size_t max, std::size_t min_entry) {
    const std::uint64_t n = uv();
    if (m_err) return 0;
    if (n > max) {
      fail(errc::field_too_large);
      return 0;
    }
    if (n * min_entry > m_in.size() - m_pos) {
      fail(errc::truncated);
      return 0;
    }
    return static_cast<std::size_t>(n);
  }
  bool at_end() const { return m_pos == m_in.size(); }
  std::size_t remaining() const { return m_in.size() - m_pos; }
  std::optional<errc> error() const { return m_err; }
  void fail(errc e) {
    if (!m_err) m_err = e;
  }

 private:
  bool need(std::size_t n) {
    if (m_err) return false;
    if (m_in.size() - m_pos < n) {
      fail(errc::truncated);
      return false;
    }
    return true;
  }
  bytes_view m_in;
  std::size_t m_pos = 0;
  std::optional<errc> m_err;
};

void read_push_fields(reader& r, push& m) {
  m.flags = r.u8();
  m.source = r.uv();
  m.publisher = r.uv();
  m.seq = r.uv();
  m.key = r.uv();
  m.timestamp = r.u64le();
  if (m.flags & push_flags::has_encoding) m.encoding = r.str(max_encoding);
  m.payload = r.blob(max_payload);
}

result<message> read_fields(msg_type t, reader& r) {
  switch (t) {
    case msg_type::hello: {
      hello m;
      m.version = r.uv();
      auto id = r.blob(max_node_id);
      m.node.assign(id.begin(), id.end());
      m.features = r.uv();
      m.max_frame = r.uv();
      return message(std::move(m));
    }
    case msg_type::node_alias: {
      node_alias m;
      m.alias = r.uv();
      auto id = r.blob(max_node_id);
      m.node.assign(id.begin(), id.end());
      return message(std::move(m));
    }
    case msg_type::key_alias: {
      key_alias m;
      m.alias = r.uv();
      m.key = std::string(r.str(max_key));
      return message(std::move(m));
    }
    case msg_type::node_record: {
      record_message m;
      m.origin = r.uv();
      m.version = r.uv();
      m.links.resize(r.count(max_links, 1));
      for (auto& l : m.links)
        l = r.uv();
      m.decls.resize(r.count(max_decls, 3));
      for (auto& d : m.decls) {
        d.kind = r.u8();
        d.flags = r.u8();
        d.expr = std::string(r.str(max_key));
      }
      return message(std::move(m));
    }
    case msg_type::push: {
      push m;
      read_push_fields(r, m);
      return message(m);
    }
    case msg_type::heartbeat: {
      heartbeat m;
      m.source = r.uv();
      m.publisher = r.uv();
      m.key = r.uv();
      m.last_seq = r.uv();
      return message(m);
    }
    case msg_type::publisher_end: {
      publisher_end m;
      m.source = r.uv();
      m.publisher = r.uv();
      m.key = r.uv();
      m.last_seq = r.uv();
      return message(m);
    }
    case msg_type::nack: {
      nack m;
      m.dest = r.uv();
      m.hops = r.u8();
      m.requester = r.uv();
      m.publisher = r.uv();
      m.first = r.uv();
      m.count = r.uv();
      return message(m);
    }
    case msg_type::repair: {
      repair m;
      m.dest = r.uv();
      m.hops = r.u8();
      read_push_fields(r, m.sample);
      return message(m);
    }
    case msg_type::query: {
      query m;
      m.dest = r.uv();
      m.hops = r.u8();
      m.origin = r.uv();
      m.qid = r.uv();
      m.target = r.u8();
      m.consolidation = r.u8();
      m.timeout_ms = r.uv();
      m.selector = r.str(max_key);
      m.parameters = r.str(max_parameters);
      if (!r.error() && r.remaining() > 0) m.payload = r.blob(max_payload);
      return message(m);
    }
    case msg_type::reply: {
      reply m;
      m.dest = r.uv();
      m.hops = r.u8();
      m.from = r.uv();
      m.qid = r.uv();
      m.flags = r.u8();
      m.key = r.str(max_key);
      m.timestamp = r.u64le();
      if (m.flags & reply_flags::has_encoding) m.encoding = r.str(max_encoding);
      m.payload = r.blob(max_payload);
      return message(m);
    }
    case msg_type::reply_final: {
      reply_final m;
      m.dest = r.uv();
      m.hops = r.u8();
      m.from = r.uv();
      m.qid = r.uv();
      return message(m);
    }
  }
  return message(unknown{static_cast<std::uint8_t>(t), r.remaining()});
}

bool known_type(std::uint8_t t) {
  switch (static_cast<msg_type>(t)) {
    case msg_type::hello:
    case msg_type::node_alias:
    case msg_type::key_alias:
    case msg_type::node_record:
    case msg_type::push:
    case msg_type::heartbeat:
    case msg_type::nack:
    case msg_type::repair:
    case msg_type::publisher_end:
    case msg_type::query:
    case msg_type::reply:
    case msg_type::reply_final:
      return true;
  }
  return false;
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

result<void> encode(const hello& m, bytes& out) {
  return encode_message(msg_type::hello, m, out);
}
result<void> encode(const node_alias& m, bytes& out) {
  return encode_message(msg_type::node_alias, m, out);
}
result<void> encode(const key_alias& m, bytes& out) {
  return encode_message(msg_type::key_alias, m, out);
}
result<void> encode(const record_message& m, bytes& out) {
  return encode_message(msg_type::node_record, m, out);
}
result<void> encode(const push& m, bytes& out) {
  return encode_message(msg_type::push, m, out);
}
result<void> encode(const heartbeat& m, bytes& out) {
  return encode_message(msg_type::heartbeat, m, out);
}
result<void> encode(const nack& m, bytes& out) {
  return encode_message(msg_type::nack, m, out);
}
result<void> encode(const repair& m, bytes& out) {
  return encode_message(msg_type::repair, m, out);
}
result<void> encode(const publisher_end& m, bytes& out) {
  return encode_message(msg_type::publisher_end, m, out);
}
result<void> encode(const query& m, bytes& out) {
  return encode_message(msg_type::query, m, out);
}
result<void> encode(const reply& m, bytes& out) {
  return encode_message(msg_type::reply, m, out);
}
result<void> encode(const reply_final& m, bytes& out) {
  return encode_message(msg_type::reply_final, m, out);
}

result<message> decode_message(bytes_view in, std::size_t& consumed) {
  consumed = 0;
  if (in.empty()) return errc::truncated;
  const std::uint8_t type = in[0];
  varint::decoded len;
  std::error_code ec;
  if (!varint::decode(in.subspan(1), len, ec) || len.size == 0) {
    return ec ? errc::bad_varint : errc::truncated;
  }
  const std::size_t head = 1 + len.size;
  if (len.value > in.size() - head) return errc::truncated;
  const bytes_view body = in.subspan(head, static_cast<std::size_t>(len.value));
  if (!known_type(type)) {
    consumed = head + body.size();
    return message(unknown{type, body.size()});
  }
  reader r(body);
  auto m = read_fields(static_cast<msg_type>(type), r);
  if (!m) return m.error();
  if (auto e = r.error()) return *e;
  if (!r.at_end()) return errc::trailing_bytes;
  auto valid = std::visit(
      [](const auto& v) -> result<void> {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, unknown>) {
          return {};
        } else {
          return check(v);
        }
      },
      *m);
  if (!valid) return valid.error();
  consumed = head + body.size();
  return m;
}

void frame_writer::begin() {
  m_buf.clear();
  m_buf.resize(header_room);
  m_frame = {};
}

result<void> frame_writer::finish() {
  const std::size_t len = 1 + body_size();  // flags byte + messages
  if (len > max_frame) return errc::frame_too_large;
  bytes prefix;
  prefix.reserve(varint::max_bytes);
  varint::encode(len, prefix);
  // The header sits right before the body: [pad][varint][flags][body].
  const std::size_t start = header_room - 1 - prefix.size();
  std::memcpy(m_buf.data() + start, prefix.data(), prefix.size());
  m_buf[header_room - 1] = 0;  // flags: not compressed
  m_frame = bytes_view(m_buf).subspan(start);
  return {};
}

result<std::optional<bytes_view>> frame_reader::next_frame() {
  // Drop consumed bytes once they are the larger part of the buffer.
  if (m_pos > 0 && m_pos * 2 >= m_buf.size()) {
    m_buf.erase(m_buf.begin(), m_buf.begin() + static_cast<std::ptrdiff_t>(m_pos));
    m_pos = 0;
  }
  const bytes_view in = bytes_view(m_buf).subspan(m_pos);
  varint::decoded len;
  std::error_code ec;
  if (!varint::decode(in, len, ec)) return errc::bad_varint;
  if (len.size == 0) {
    if (in.size() >= 3) return errc::frame_too_large;  // 3 bytes without an end: >= 2^21
    return std::optional<bytes_view>();
  }
  if (len.value > max_frame) return errc::frame_too_large;
  if (len.value == 0) return errc::truncated;
  if (in.size() - len.size < len.value) return std::optional<bytes_view>();
  const std::uint8_t flags = in[len.size];
  if ((flags & 0x01) && !m_accept_compressed) return errc::compressed_frame;
  if ((flags & ~0x01) != 0) return errc::reserved_flags;
  m_flags = flags;
  auto body = in.subspan(len.size + 1, static_cast<std::size_t>(len.value) - 1);
  m_pos += len.size + static_cast<std::size_t>(len.value);
  return std::optional<bytes_view>(body);
}

}  // namespace starling::data
