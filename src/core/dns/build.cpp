#include <algorithm>
#include <string>
#include <type_traits>
#include <variant>

#include "core/dns/message.hpp"

namespace starling::dns {

namespace {

void put16(bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put32(bytes& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}

void set16(bytes& out, std::size_t at, std::uint16_t v) {
  out[at] = static_cast<std::uint8_t>(v >> 8);
  out[at + 1] = static_cast<std::uint8_t>(v);
}

// Splits the text form into raw labels, undoing "\." and "\\" (any "\x" means a literal x).
result<std::vector<std::string>> split_name(std::string_view text) {
  std::vector<std::string> labels;
  if (text.empty()) return labels;
  std::string cur;
  std::size_t wire = 1;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '.') {
      if (cur.empty() || cur.size() > max_label_bytes) return errc::bad_name_text;
      wire += 1 + cur.size();
      if (wire > max_name_wire_bytes) return errc::bad_name_text;
      labels.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (text[i] == '\\') {
      if (++i == text.size()) return errc::bad_name_text;
    }
    cur.push_back(text[i]);
  }
  return labels;
}

}  // namespace

builder::builder(std::uint16_t id, std::uint16_t flags, bool compress, std::size_t max_size)
    : m_compress(compress), m_max(std::min(max_size, max_message_bytes)) {
  m_out.reserve(512);
  put16(m_out, id);
  put16(m_out, flags);
  for (int i = 0; i < 4; ++i)
    put16(m_out, 0);
}

result<void> builder::write_name(std::string_view text) {
  const auto labels = STARLING_TRY(split_name(text));
  // Keys are the wire form of each suffix, so matching is exact and unambiguous.
  std::vector<std::string> suffixes(labels.size());
  for (std::size_t i = labels.size(); i-- > 0;) {
    std::string s(1, static_cast<char>(labels[i].size()));
    s += labels[i];
    if (i + 1 < labels.size()) s += suffixes[i + 1];
    suffixes[i] = std::move(s);
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (m_compress) {
      const auto it = std::find_if(m_names.begin(), m_names.end(),
                                   [&](const auto& e) { return e.first == suffixes[i]; });
      if (it != m_names.end()) {
        put16(m_out, static_cast<std::uint16_t>(0xc000 | it->second));
        return {};
      }
      if (m_out.size() < 0x4000) {
        m_names.emplace_back(suffixes[i], static_cast<std::uint16_t>(m_out.size()));
      }
    }
    m_out.push_back(static_cast<std::uint8_t>(labels[i].size()));
    append(m_out, as_bytes(labels[i]));
  }
  m_out.push_back(0);
  return {};
}

result<void> builder::write_rdata(const record& r) {
  const std::size_t len_at = m_out.size();
  put16(m_out, 0);
  const bool ok = std::visit(
      [&](const auto& d) -> bool {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, opaque_data>) {
          append(m_out, d.data);
          return true;
        } else if constexpr (std::is_same_v<T, a_data>) {
          if (r.rtype != type::a) return false;
          append(m_out, d.addr);
          return true;
        } else if constexpr (std::is_same_v<T, aaaa_data>) {
          if (r.rtype != type::aaaa) return false;
          append(m_out, d.addr);
          return true;
        } else if constexpr (std::is_same_v<T, txt_data>) {
          if (r.rtype != type::txt) return false;
          for (const auto& s : d.strings) {
            if (s.size() > 255) return false;
            m_out.push_back(static_cast<std::uint8_t>(s.size()));
            append(m_out, as_bytes(s));
          }
          return true;
        } else {
          return true;  // ptr and srv: names are written below
        }
      },
      r.data);
  if (!ok) return errc::bad_rdata;
  if (const auto* p = std::get_if<ptr_data>(&r.data)) {
    if (r.rtype != type::ptr) return errc::bad_rdata;
    STARLING_TRY(write_name(p->target));
  } else if (const auto* s = std::get_if<srv_data>(&r.data)) {
    if (r.rtype != type::srv) return errc::bad_rdata;
    put16(m_out, s->priority);
    put16(m_out, s->weight);
    put16(m_out, s->port);
    STARLING_TRY(write_name(s->target));
  }
  const std::size_t len = m_out.size() - len_at - 2;
  if (len > 0xffff) return errc::bad_rdata;
  set16(m_out, len_at, static_cast<std::uint16_t>(len));
  return {};
}

void builder::rollback(std::size_t mark) {
  m_out.resize(mark);
  std::erase_if(m_names, [&](const auto& e) { return e.second >= mark; });
}

result<void> builder::add_question(const question& q) {
  if (m_section != -1) return errc::section_order;
  if (std::size_t{m_counts[0]} + m_counts[1] + m_counts[2] + m_counts[3] >= max_entries) {
    return errc::bad_count;
  }
  const std::size_t mark = m_out.size();
  if (auto r = write_name(q.name); !r) {
    rollback(mark);
    return r.error();
  }
  put16(m_out, q.qtype);
  put16(m_out, static_cast<std::uint16_t>((q.qclass & 0x7fff) | (q.unicast_response ? 0x8000 : 0)));
  if (m_out.size() > m_max) {
    rollback(mark);
    return errc::message_too_long;
  }
  ++m_counts[0];
  return {};
}

result<void> builder::add_record(section where, const record& r) {
  const int s = static_cast<int>(where);
  if (s < m_section) return errc::section_order;
  if (std::size_t{m_counts[0]} + m_counts[1] + m_counts[2] + m_counts[3] >= max_entries) {
    return errc::bad_count;
  }
  const std::size_t mark = m_out.size();
  auto body = [&]() -> result<void> {
    STARLING_TRY(write_name(r.name));
    put16(m_out, r.rtype);
    put16(m_out, static_cast<std::uint16_t>((r.rclass & 0x7fff) | (r.cache_flush ? 0x8000 : 0)));
    put32(m_out, r.ttl);
    STARLING_TRY(write_rdata(r));
    if (m_out.size() > m_max) return errc::message_too_long;
    return {};
  };
  if (auto res = body(); !res) {
    rollback(mark);
    return res.error();
  }
  m_section = s;
  ++m_counts[static_cast<std::size_t>(s) + 1];
  return {};
}

bytes builder::finish() {
  for (std::size_t i = 0; i < 4; ++i)
    set16(m_out, 4 + 2 * i, m_counts[i]);
  bytes out = std::move(m_out);
  m_out.clear();
  m_names.clear();
  m_counts = {};
  m_section = -1;
  return out;
}

result<bytes> build(const message& m, bool compress, std::size_t max_size) {
  builder b(m.id, m.flags, compress, max_size);
  for (const auto& q : m.questions)
    STARLING_TRY(b.add_question(q));
  for (const auto& r : m.answers)
    STARLING_TRY(b.add_record(section::answer, r));
  for (const auto& r : m.authorities)
    STARLING_TRY(b.add_record(section::authority, r));
  for (const auto& r : m.additionals)
    STARLING_TRY(b.add_record(section::additional, r));
  return b.finish();
}

}  // namespace starling::dns
