#include <optional>
#include <string>

#include "core/dns/message.hpp"

namespace starling::dns {

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dns"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::truncated:
        return "DNS message truncated";
      case errc::message_too_long:
        return "DNS message over the size limit";
      case errc::bad_count:
        return "DNS section counts do not fit the message";
      case errc::bad_label:
        return "DNS label over 63 bytes or of a reserved type";
      case errc::name_too_long:
        return "DNS name over 255 bytes";
      case errc::forward_pointer:
        return "DNS compression pointer to itself or forward";
      case errc::pointer_loop:
        return "DNS compression pointer loop";
      case errc::bad_rdata:
        return "DNS rdata does not match its type";
      case errc::bad_name_text:
        return "invalid DNS name text";
      case errc::section_order:
        return "DNS entry added out of section order";
    }
    return "unknown dns error";
  }
};

std::uint16_t be16(bytes_view in, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((in[at] << 8) | in[at + 1]);
}

std::uint32_t be32(bytes_view in, std::size_t at) noexcept {
  return (std::uint32_t{in[at]} << 24) | (std::uint32_t{in[at + 1]} << 16) |
         (std::uint32_t{in[at + 2]} << 8) | std::uint32_t{in[at + 3]};
}

// Reads the name starting at `pos` into `out`; returns the offset just after the name's
// in-place bytes (after the terminating zero or the first pointer). Each pointer must point
// before the start of the segment that contains it, so every hop moves strictly backwards and
// no name can revisit bytes it has already read.
result<std::size_t> read_name(bytes_view msg, std::size_t pos, std::string& out) {
  out.clear();
  std::size_t wire = 1;  // the terminating zero
  std::size_t hops = 0;
  std::size_t segment_start = pos;
  std::size_t p = pos;
  std::optional<std::size_t> end;
  for (;;) {
    if (p >= msg.size()) return errc::truncated;
    const std::uint8_t len = msg[p];
    if ((len & 0xc0) == 0xc0) {
      if (p + 1 >= msg.size()) return errc::truncated;
      const std::size_t target = (std::size_t{len & 0x3fu} << 8) | msg[p + 1];
      if (!end) end = p + 2;
      if (target >= p) return errc::forward_pointer;
      if (target >= segment_start || ++hops > max_pointer_hops) return errc::pointer_loop;
      segment_start = target;
      p = target;
      continue;
    }
    if ((len & 0xc0) != 0) return errc::bad_label;
    if (len == 0) {
      if (!end) end = p + 1;
      return *end;
    }
    if (msg.size() - p - 1 < len) return errc::truncated;
    wire += 1 + std::size_t{len};
    if (wire > max_name_wire_bytes) return errc::name_too_long;
    if (!out.empty()) out.push_back('.');
    for (std::size_t i = 0; i < len; ++i) {
      const char c = static_cast<char>(msg[p + 1 + i]);
      if (c == '.' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    p += 1 + std::size_t{len};
  }
}

// Decodes the rdata of `r` (type already set) from msg[at, at + len).
result<void> read_rdata(bytes_view msg, std::size_t at, std::size_t len, record& r) {
  const std::size_t stop = at + len;
  switch (r.rtype) {
    case type::a: {
      if (len != 4) return errc::bad_rdata;
      a_data d;
      for (std::size_t i = 0; i < 4; ++i)
        d.addr[i] = msg[at + i];
      r.data = d;
      return {};
    }
    case type::aaaa: {
      if (len != 16) return errc::bad_rdata;
      aaaa_data d;
      for (std::size_t i = 0; i < 16; ++i)
        d.addr[i] = msg[at + i];
      r.data = d;
      return {};
    }
    case type::ptr: {
      ptr_data d;
      const std::size_t after = STARLING_TRY(read_name(msg, at, d.target));
      if (after != stop) return errc::bad_rdata;
      r.data = std::move(d);
      return {};
    }
    case type::srv: {
      if (len < 7) return errc::bad_rdata;
      srv_data d;
      d.priority = be16(msg, at);
      d.weight = be16(msg, at + 2);
      d.port = be16(msg, at + 4);
      const std::size_t after = STARLING_TRY(read_name(msg, at + 6, d.target));
      if (after != stop) return errc::bad_rdata;
      r.data = std::move(d);
      return {};
    }
    case type::txt: {
      txt_data d;
      std::size_t p = at;
      while (p < stop) {
        const std::size_t n = msg[p];
        if (stop - p - 1 < n) return errc::bad_rdata;
        d.strings.emplace_back(reinterpret_cast<const char*>(msg.data() + p + 1), n);
        p += 1 + n;
      }
      r.data = std::move(d);
      return {};
    }
    default:
      r.data = opaque_data{bytes(msg.begin() + static_cast<std::ptrdiff_t>(at),
                                 msg.begin() + static_cast<std::ptrdiff_t>(stop))};
      return {};
  }
}

result<std::size_t> read_record(bytes_view msg, std::size_t pos, record& r) {
  pos = STARLING_TRY(read_name(msg, pos, r.name));
  if (msg.size() - pos < 10) return errc::truncated;
  r.rtype = be16(msg, pos);
  const std::uint16_t cls = be16(msg, pos + 2);
  r.rclass = cls & 0x7fff;
  r.cache_flush = (cls & 0x8000) != 0;
  r.ttl = be32(msg, pos + 4);
  const std::size_t len = be16(msg, pos + 8);
  pos += 10;
  if (msg.size() - pos < len) return errc::truncated;
  STARLING_TRY(read_rdata(msg, pos, len, r));
  return pos + len;
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

bool name_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

result<message> parse(bytes_view in) {
  if (in.size() > max_message_bytes) return errc::message_too_long;
  if (in.size() < 12) return errc::truncated;
  message m;
  m.id = be16(in, 0);
  m.flags = be16(in, 2);
  const std::size_t qd = be16(in, 4);
  const std::size_t an = be16(in, 6);
  const std::size_t ns = be16(in, 8);
  const std::size_t ar = be16(in, 10);
  // Every question takes at least 5 bytes and every record 11: refuse counts the message cannot
  // hold before reserving anything.
  if (qd + an + ns + ar > max_entries) return errc::bad_count;
  if (qd * 5 + (an + ns + ar) * 11 > in.size() - 12) return errc::bad_count;

  std::size_t pos = 12;
  m.questions.resize(qd);
  for (auto& q : m.questions) {
    pos = STARLING_TRY(read_name(in, pos, q.name));
    if (in.size() - pos < 4) return errc::truncated;
    q.qtype = be16(in, pos);
    const std::uint16_t cls = be16(in, pos + 2);
    q.qclass = cls & 0x7fff;
    q.unicast_response = (cls & 0x8000) != 0;
    pos += 4;
  }
  for (auto [section, count] :
       {std::pair{&m.answers, an}, std::pair{&m.authorities, ns}, std::pair{&m.additionals, ar}}) {
    section->resize(count);
    for (auto& r : *section)
      pos = STARLING_TRY(read_record(in, pos, r));
  }
  return m;
}

}  // namespace starling::dns
