#pragma once
/// DNS messages (RFC 1035 section 4) as multicast DNS (RFC 6762) uses them: a parser for
/// untrusted packets and a builder with optional name compression. Record types PTR, TXT, SRV,
/// A and AAAA are decoded; any other type is kept as opaque rdata. The mDNS meanings of the top
/// bit of the class field (cache-flush in records, unicast-response in questions) are split out.
///
/// Names are carried as text: labels joined by '.', no trailing dot, the root as "". A '.' or
/// '\' byte inside a label is escaped as "\." or "\\" (the parser escapes, the builder
/// unescapes), so every wire name has exactly one text form. Compare names with name_equal()
/// (ASCII case-insensitive, as DNS requires).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"

namespace starling::dns {

/// Largest message parsed or built (RFC 6762 section 17: 9000 bytes including IP/UDP headers
/// is the most an mDNS packet may be; we apply it to the DNS payload).
inline constexpr std::size_t max_message_bytes = 9000;
/// Largest number of questions plus records one message may declare.
inline constexpr std::size_t max_entries = 1024;
/// Longest name in wire form (length bytes and the final zero included).
inline constexpr std::size_t max_name_wire_bytes = 255;
/// Longest label.
inline constexpr std::size_t max_label_bytes = 63;
/// Most compression pointers followed while reading one name.
inline constexpr std::size_t max_pointer_hops = 64;

/// Errors of the DNS codec.
enum class errc {
  truncated = 1,     ///< the message ends inside the header, a question, a record or a name
  message_too_long,  ///< over max_message_bytes (parsing), or over the builder's limit
  bad_count,         ///< section counts that cannot fit in the message or exceed max_entries
  bad_label,         ///< a label over 63 bytes, or a reserved label type (0x40 / 0x80)
  name_too_long,     ///< a name over 255 bytes in wire form
  forward_pointer,   ///< a compression pointer to itself or to a later offset
  pointer_loop,      ///< a pointer back into the name being read, or too many hops
  bad_rdata,         ///< rdata whose length does not match its type (A not 4 bytes, ...)
  bad_name_text,     ///< building: an empty label, a bad escape, or a label/name too long
  section_order,     ///< building: an entry added to a section before the current one
};
/// The "dns" error category.
const std::error_category& category() noexcept;
/// Makes `errc` values usable as std::error_code.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Record and question types this codec knows by name.
namespace type {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ptr = 12;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t srv = 33;
inline constexpr std::uint16_t any = 255;  ///< questions only
}  // namespace type

/// The Internet class.
inline constexpr std::uint16_t class_in = 1;

/// Header flag bits (the 16-bit word after the id).
namespace flag {
inline constexpr std::uint16_t response = 0x8000;       ///< QR
inline constexpr std::uint16_t authoritative = 0x0400;  ///< AA
inline constexpr std::uint16_t truncation = 0x0200;     ///< TC
}  // namespace flag

/// A question. `qclass` excludes the mDNS unicast-response (QU) bit.
struct question {
  std::string name;
  std::uint16_t qtype = type::ptr;
  std::uint16_t qclass = class_in;
  bool unicast_response = false;  ///< top bit of the class field (RFC 6762 section 5.4)
  friend bool operator==(const question&, const question&) = default;
};

/// PTR rdata.
struct ptr_data {
  std::string target;
  friend bool operator==(const ptr_data&, const ptr_data&) = default;
};
/// TXT rdata: the character-strings in order (each at most 255 bytes, may be binary).
struct txt_data {
  std::vector<std::string> strings;
  friend bool operator==(const txt_data&, const txt_data&) = default;
};
/// SRV rdata (RFC 2782).
struct srv_data {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;
  friend bool operator==(const srv_data&, const srv_data&) = default;
};
/// A rdata: an IPv4 address in network order.
struct a_data {
  std::array<std::uint8_t, 4> addr{};
  friend bool operator==(const a_data&, const a_data&) = default;
};
/// AAAA rdata: an IPv6 address in network order.
struct aaaa_data {
  std::array<std::uint8_t, 16> addr{};
  friend bool operator==(const aaaa_data&, const aaaa_data&) = default;
};
/// Rdata of any other type, uninterpreted (names inside it are not decompressed).
struct opaque_data {
  bytes data;
  friend bool operator==(const opaque_data&, const opaque_data&) = default;
};
/// The rdata of a record; the alternative must agree with the record's `rtype`.
using rdata = std::variant<ptr_data, txt_data, srv_data, a_data, aaaa_data, opaque_data>;

/// A resource record. `rclass` excludes the mDNS cache-flush bit.
struct record {
  std::string name;
  std::uint16_t rtype = type::ptr;
  std::uint16_t rclass = class_in;
  bool cache_flush = false;  ///< top bit of the class field (RFC 6762 section 10.2)
  std::uint32_t ttl = 0;
  rdata data;
  friend bool operator==(const record&, const record&) = default;
};

/// A whole message.
struct message {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;  ///< the raw flags word; see is_response() etc.
  std::vector<question> questions;
  std::vector<record> answers;
  std::vector<record> authorities;
  std::vector<record> additionals;

  /// QR set.
  bool is_response() const noexcept { return (flags & flag::response) != 0; }
  /// The 4-bit opcode (0 = standard query, the only one mDNS uses).
  unsigned opcode() const noexcept { return (flags >> 11) & 0xfu; }
  /// The 4-bit response code.
  unsigned rcode() const noexcept { return flags & 0xfu; }
  friend bool operator==(const message&, const message&) = default;
};

/// Parses a message from untrusted bytes. Compressed names are followed (strictly backwards,
/// at most max_pointer_hops pointers per name); bytes after the last declared record are
/// ignored. Never reads outside `in`; allocation is bounded by its size.
/// Errors: message_too_long, truncated, bad_count, bad_label, name_too_long, forward_pointer,
/// pointer_loop, bad_rdata. The caller drops the packet (and may log the reason).
[[nodiscard]] result<message> parse(bytes_view in);

/// ASCII case-insensitive equality of two names in text form.
bool name_equal(std::string_view a, std::string_view b) noexcept;

/// Where a record goes.
enum class section { answer, authority, additional };

/// Builds a message entry by entry, in section order (questions, answers, authorities,
/// additionals). An entry that would make the message exceed the size limit is not added and
/// leaves the message as it was, so the caller can try a smaller one or stop.
class builder {
 public:
  /// `max_size` is clamped to max_message_bytes. With `compress`, names reuse earlier names'
  /// suffixes through pointers (matched byte-exactly, case included).
  builder(std::uint16_t id, std::uint16_t flags, bool compress = true,
          std::size_t max_size = max_message_bytes);

  /// Appends a question. Errors: section_order (a record was already added), bad_name_text,
  /// message_too_long, bad_count (over max_entries).
  [[nodiscard]] result<void> add_question(const question& q);
  /// Appends a record to `where`. Errors: section_order (a later section already has entries),
  /// bad_name_text, bad_rdata (rdata alternative does not fit the type, a TXT string over 255
  /// bytes, rdata over 65535 bytes), message_too_long, bad_count.
  [[nodiscard]] result<void> add_record(section where, const record& r);

  /// Current size in bytes.
  std::size_t size() const noexcept { return m_out.size(); }
  /// The finished message, with its counts filled in. Call once: the builder is spent.
  bytes finish();

 private:
  result<void> write_name(std::string_view text);
  result<void> write_rdata(const record& r);
  void rollback(std::size_t mark);

  bytes m_out;
  bool m_compress;
  std::size_t m_max;
  int m_section = -1;  ///< -1 questions, then 0..2 for answer, authority, additional
  std::array<std::uint16_t, 4> m_counts{};
  std::vector<std::pair<std::string, std::uint16_t>> m_names;  ///< suffix text -> offset
};

/// Builds a whole message. Errors: those of builder::add_question/add_record.
[[nodiscard]] result<bytes> build(const message& m, bool compress = true,
                                  std::size_t max_size = max_message_bytes);

}  // namespace starling::dns

template <>
struct std::is_error_code_enum<starling::dns::errc> : std::true_type {};
