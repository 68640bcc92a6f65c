#include <gtest/gtest.h>

#include <string>

#include "core/dns/message.hpp"

using namespace starling;

namespace {

// Appends a name in uncompressed wire form ("_p2p._udp.local" -> 04 _p2p 04 _udp 05 local 00).
void put_name(bytes& out, std::string_view dotted) {
  std::size_t start = 0;
  while (start < dotted.size()) {
    std::size_t dot = dotted.find('.', start);
    if (dot == std::string_view::npos) dot = dotted.size();
    out.push_back(static_cast<std::uint8_t>(dot - start));
    append(out, as_bytes(dotted.substr(start, dot - start)));
    start = dot + 1;
  }
  out.push_back(0);
}

void put16(bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

bytes header(std::uint16_t flags, std::uint16_t qd, std::uint16_t an, std::uint16_t ns,
             std::uint16_t ar) {
  bytes b;
  put16(b, 0);
  put16(b, flags);
  put16(b, qd);
  put16(b, an);
  put16(b, ns);
  put16(b, ar);
  return b;
}

// Record header after the name: type, class, ttl, rdlength.
void put_rr(bytes& out, std::uint16_t type, std::uint16_t cls, std::uint32_t ttl,
            std::uint16_t len) {
  put16(out, type);
  put16(out, cls);
  put16(out, static_cast<std::uint16_t>(ttl >> 16));
  put16(out, static_cast<std::uint16_t>(ttl));
  put16(out, len);
}

std::error_code parse_error(const bytes& b) {
  auto r = dns::parse(b);
  EXPECT_FALSE(r.has_value());
  return r ? std::error_code{} : r.error();
}

dns::message sample_message() {
  dns::message m;
  m.flags = dns::flag::response | dns::flag::authoritative;
  m.answers.push_back({"_p2p._udp.local", dns::type::ptr, dns::class_in, false, 120,
                       dns::ptr_data{"abcdef._p2p._udp.local"}});
  m.authorities.push_back({"x.local", 99, dns::class_in, false, 5, dns::opaque_data{{1, 2, 3}}});
  m.additionals.push_back({"abcdef._p2p._udp.local", dns::type::srv, dns::class_in, true, 120,
                           dns::srv_data{1, 2, 4001, "abcdef.local"}});
  m.additionals.push_back(
      {"abcdef.local", dns::type::a, dns::class_in, true, 120, dns::a_data{{192, 168, 1, 2}}});
  m.additionals.push_back({"abcdef.local", dns::type::aaaa, dns::class_in, true, 120,
                           dns::aaaa_data{{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}});
  m.additionals.push_back({"abcdef._p2p._udp.local", dns::type::txt, dns::class_in, true, 120,
                           dns::txt_data{{"dnsaddr=/ip4/1.2.3.4/tcp/1", "", "k=v"}}});
  return m;
}

}  // namespace

TEST(Dns, QueryIsByteExact) {
  dns::message q;
  q.questions.push_back({"_p2p._udp.local", dns::type::ptr, dns::class_in, false});
  auto b = dns::build(q);
  ASSERT_TRUE(b);
  const bytes expected{0,   0,   0,   0,   0,   1, 0,   0,   0,   0,   0, 0,  //
                       4,   '_', 'p', '2', 'p', 4, '_', 'u', 'd', 'p', 5, 'l',
                       'o', 'c', 'a', 'l', 0,   0, 12,  0,   1};
  EXPECT_EQ(*b, expected);
  auto back = dns::parse(*b);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, q);
  EXPECT_FALSE(back->is_response());
}

TEST(Dns, RoundTripsEveryTypeWithAndWithoutCompression) {
  const auto m = sample_message();
  auto packed = dns::build(m, true);
  auto plain = dns::build(m, false);
  ASSERT_TRUE(packed);
  ASSERT_TRUE(plain);
  EXPECT_LT(packed->size(), plain->size());
  for (const bytes* b : {&*packed, &*plain}) {
    auto back = dns::parse(*b);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, m);
    EXPECT_TRUE(back->is_response());
    EXPECT_EQ(back->opcode(), 0u);
    EXPECT_EQ(back->rcode(), 0u);
  }
  // Rebuilding what was parsed gives the same bytes.
  EXPECT_EQ(*dns::build(*dns::parse(*packed), true), *packed);
}

TEST(Dns, TopBitOfClassIsSplitOut) {
  bytes b = header(0, 1, 1, 0, 0);
  put_name(b, "a.local");
  put16(b, dns::type::ptr);
  put16(b, 0x8001);  // QU question
  b.insert(b.end(), {0xc0, 12});
  put_rr(b, dns::type::a, 0x8001, 7, 4);  // cache-flush A record
  b.insert(b.end(), {10, 0, 0, 1});
  auto m = dns::parse(b);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_TRUE(m->questions[0].unicast_response);
  EXPECT_EQ(m->questions[0].qclass, dns::class_in);
  EXPECT_TRUE(m->answers[0].cache_flush);
  EXPECT_EQ(m->answers[0].rclass, dns::class_in);
  EXPECT_EQ(m->answers[0].name, "a.local");
  EXPECT_EQ(std::get<dns::a_data>(m->answers[0].data).addr,
            (std::array<std::uint8_t, 4>{10, 0, 0, 1}));
  EXPECT_EQ(*dns::build(*m), b);
}

TEST(Dns, FollowsCompressionPointersInNamesAndRdata) {
  // PTR _p2p._udp.local -> peer._p2p._udp.local with the target compressed against the owner
  // name, then an SRV whose owner and target both use pointers (one pointing into rdata).
  bytes b = header(0x8400, 0, 1, 0, 1);
  put_name(b, "_p2p._udp.local");  // offset 12
  put_rr(b, dns::type::ptr, 1, 120, 7);
  b.insert(b.end(), {4, 'p', 'e', 'e', 'r', 0xc0, 12});  // rdata at 39
  b.insert(b.end(), {0xc0, 39});
  put_rr(b, dns::type::srv, 0x8001, 120, 6 + 7);
  b.insert(b.end(), {0, 0, 0, 0, 0x0f, 0xa1, 4, 'h', 'o', 's', 't', 0xc0, 22});  // host.local
  auto m = dns::parse(b);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(std::get<dns::ptr_data>(m->answers[0].data).target, "peer._p2p._udp.local");
  EXPECT_EQ(m->additionals[0].name, "peer._p2p._udp.local");
  const auto& srv = std::get<dns::srv_data>(m->additionals[0].data);
  EXPECT_EQ(srv.port, 4001);
  EXPECT_EQ(srv.target, "host.local");
  // Our builder compresses the same way.
  EXPECT_EQ(*dns::build(*m), b);
}

TEST(Dns, RejectsPointerLoopsAndForwardPointers) {
  {  // a name that is a pointer to itself
    bytes b = header(0, 1, 0, 0, 0);
    b.insert(b.end(), {0xc0, 12, 0, 12, 0, 1});
    EXPECT_EQ(parse_error(b), dns::errc::forward_pointer);
  }
  {  // a pointer to a later offset
    bytes b = header(0, 1, 0, 0, 0);
    b.insert(b.end(), {0xc0, 18, 0, 12, 0, 1, 1, 'a', 0});
    EXPECT_EQ(parse_error(b), dns::errc::forward_pointer);
  }
  {  // label "a" then a pointer back to its own start: "a.a.a..." forever
    bytes b = header(0, 1, 0, 0, 0);
    b.insert(b.end(), {1, 'a', 0xc0, 12, 0, 12, 0, 1});
    EXPECT_EQ(parse_error(b), dns::errc::pointer_loop);
  }
  {  // a valid jump back into bytes that hold a label and a pointer to that label: the first
     // question is the root name whose type/class bytes read as 01 'c' c0 0d
    bytes b = header(0, 2, 0, 0, 0);
    b.insert(b.end(), {0, 1, 'c', 0xc0, 13});   // q1 at 12
    b.insert(b.end(), {0xc0, 13, 0, 1, 0, 1});  // q2 at 17: pointer to 13
    EXPECT_EQ(parse_error(b), dns::errc::pointer_loop);
  }
}

TEST(Dns, RejectsOverlongLabelsAndNames) {
  {  // 64 = 0x40: a reserved label type, not a length
    bytes b = header(0, 1, 0, 0, 0);
    b.push_back(64);
    b.insert(b.end(), 64, 'x');
    b.insert(b.end(), {0, 0, 1, 0, 1});
    EXPECT_EQ(parse_error(b), dns::errc::bad_label);
  }
  {  // 0x80: reserved
    bytes b = header(0, 1, 0, 0, 0);
    b.insert(b.end(), {0x80, 1, 0, 1, 0, 1});
    EXPECT_EQ(parse_error(b), dns::errc::bad_label);
  }
  {  // 4 labels of 63 plus the root: 257 bytes in wire form
    bytes b = header(0, 1, 0, 0, 0);
    for (int i = 0; i < 4; ++i) {
      b.push_back(63);
      b.insert(b.end(), 63, 'x');
    }
    b.insert(b.end(), {0, 0, 1, 0, 1});
    EXPECT_EQ(parse_error(b), dns::errc::name_too_long);
  }
  {  // the same length reached through a chain of pointers, each name adding one label
    bytes b = header(0, 5, 0, 0, 0);
    std::size_t prev = 0;
    for (int i = 0; i < 5; ++i) {
      const std::size_t at = b.size();
      b.push_back(63);
      b.insert(b.end(), 63, static_cast<std::uint8_t>('a' + i));
      if (i == 0) {
        b.push_back(0);
      } else {
        b.insert(b.end(),
                 {static_cast<std::uint8_t>(0xc0 | (prev >> 8)), static_cast<std::uint8_t>(prev)});
      }
      b.insert(b.end(), {0, 1, 0, 1});
      prev = at;
    }
    EXPECT_EQ(parse_error(b), dns::errc::name_too_long);
  }
  {  // 3 labels of 63 and one of 61: exactly 255, accepted
    bytes b = header(0, 1, 0, 0, 0);
    for (int i = 0; i < 3; ++i) {
      b.push_back(63);
      b.insert(b.end(), 63, 'x');
    }
    b.push_back(61);
    b.insert(b.end(), 61, 'y');
    b.insert(b.end(), {0, 0, 1, 0, 1});
    auto m = dns::parse(b);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->questions[0].name.size(), 253u);
  }
}

TEST(Dns, RejectsTruncationAtEveryByte) {
  auto full = *dns::build(sample_message());
  for (std::size_t n = 0; n < full.size(); ++n) {
    bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = dns::parse(cut);
    ASSERT_FALSE(r) << "prefix of " << n << " bytes parsed";
    EXPECT_TRUE(r.error() == dns::errc::truncated || r.error() == dns::errc::bad_count)
        << n << ": " << r.error().message();
  }
}

TEST(Dns, RejectsImpossibleCountsAndOversizedMessages) {
  bytes b = header(0, 0xffff, 0, 0, 0);
  b.insert(b.end(), 100, 0);
  EXPECT_EQ(parse_error(b), dns::errc::bad_count);
  // 1025 one-byte-name questions would fit in 9000 bytes but exceed max_entries.
  bytes many = header(0, 1025, 0, 0, 0);
  for (int i = 0; i < 1025; ++i)
    many.insert(many.end(), {0, 0, 1, 0, 1});
  EXPECT_EQ(parse_error(many), dns::errc::bad_count);
  bytes big = header(0, 0, 0, 0, 0);
  big.resize(dns::max_message_bytes + 1);
  EXPECT_EQ(parse_error(big), dns::errc::message_too_long);
  big.resize(dns::max_message_bytes);
  EXPECT_TRUE(dns::parse(big)) << "trailing bytes are ignored";
}

TEST(Dns, RejectsRdataThatDisagreesWithItsType) {
  auto one_record = [](std::uint16_t type, bytes rdata) {
    bytes b = header(0x8400, 0, 1, 0, 0);
    put_name(b, "a.local");
    put_rr(b, type, 1, 1, static_cast<std::uint16_t>(rdata.size()));
    append(b, rdata);
    return b;
  };
  EXPECT_EQ(parse_error(one_record(dns::type::a, {1, 2, 3, 4, 5})), dns::errc::bad_rdata);
  EXPECT_EQ(parse_error(one_record(dns::type::aaaa, bytes(4, 1))), dns::errc::bad_rdata);
  EXPECT_EQ(parse_error(one_record(dns::type::txt, {5, 'a', 'b'})), dns::errc::bad_rdata);
  EXPECT_EQ(parse_error(one_record(dns::type::ptr, {1, 'x', 0, 0})), dns::errc::bad_rdata);
  EXPECT_EQ(parse_error(one_record(dns::type::srv, {0, 0, 0, 0, 0})), dns::errc::bad_rdata);
  // A PTR name running past its rdata into the bytes after it.
  bytes overrun = one_record(dns::type::ptr, {3, 'a', 'b'});
  overrun.insert(overrun.end(), {'c', 0});
  EXPECT_EQ(parse_error(overrun), dns::errc::bad_rdata);
  // rdlength beyond the end of the message.
  bytes b = header(0x8400, 0, 1, 0, 0);
  put_name(b, "a.local");
  put_rr(b, dns::type::txt, 1, 1, 200);
  b.insert(b.end(), {3, 'a', 'b', 'c'});
  EXPECT_EQ(parse_error(b), dns::errc::truncated);
  // An empty TXT and an unknown type are fine.
  auto empty_txt = dns::parse(one_record(dns::type::txt, {}));
  ASSERT_TRUE(empty_txt);
  EXPECT_TRUE(std::get<dns::txt_data>(empty_txt->answers[0].data).strings.empty());
  auto unknown = dns::parse(one_record(47, {9, 9, 9}));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(std::get<dns::opaque_data>(unknown->answers[0].data).data, (bytes{9, 9, 9}));
}

TEST(Dns, EscapesDotsInsideLabels) {
  bytes b = header(0, 1, 0, 0, 0);
  b.insert(b.end(), {3, 'a', '.', 'b', 2, 'c', '\\', 0, 0, 1, 0, 1});
  auto m = dns::parse(b);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->questions[0].name, "a\\.b.c\\\\");
  EXPECT_EQ(*dns::build(*m), b);
}

TEST(Dns, NameEqualityIgnoresAsciiCase) {
  EXPECT_TRUE(dns::name_equal("_P2P._udp.LOCAL", "_p2p._udp.local"));
  EXPECT_FALSE(dns::name_equal("_p2p._udp.local", "_p2p._udp.locale"));
  EXPECT_FALSE(dns::name_equal("a.local", "b.local"));
}

TEST(Dns, BuilderRejectsBadNamesAndRdata) {
  dns::builder b(0, 0);
  for (const std::string& bad : std::initializer_list<std::string>{"a..b", ".a", "a.", "a\\",
                                                                   "x.y.", std::string(64, 'x')}) {
    auto r = b.add_question({bad, dns::type::ptr, dns::class_in, false});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), dns::errc::bad_name_text);
  }
  std::string long_name;
  for (int i = 0; i < 5; ++i)
    long_name += std::string(60, 'x') + ".";
  long_name += "local";
  EXPECT_EQ(b.add_question({long_name, dns::type::ptr, dns::class_in, false}).error(),
            dns::errc::bad_name_text);
  EXPECT_EQ(b.size(), 12u) << "failed entries leave nothing behind";
  EXPECT_EQ(
      b.add_record(dns::section::answer, {"a.local", dns::type::a, 1, false, 1, dns::ptr_data{"x"}})
          .error(),
      dns::errc::bad_rdata);
  EXPECT_EQ(b.add_record(dns::section::answer, {"a.local", dns::type::txt, 1, false, 1,
                                                dns::txt_data{{std::string(256, 'x')}}})
                .error(),
            dns::errc::bad_rdata);
  ASSERT_TRUE(b.add_record(dns::section::additional,
                           {"a.local", dns::type::a, 1, false, 1, dns::a_data{}}));
  EXPECT_EQ(
      b.add_record(dns::section::answer, {"a.local", dns::type::a, 1, false, 1, dns::a_data{}})
          .error(),
      dns::errc::section_order);
  EXPECT_EQ(b.add_question({"a.local", dns::type::a, 1, false}).error(), dns::errc::section_order);
}

TEST(Dns, BuilderSizeLimitRollsBackWholeEntries) {
  dns::builder b(0, 0x8400, true, 100);
  ASSERT_TRUE(b.add_record(dns::section::answer, {"_p2p._udp.local", dns::type::ptr, 1, false, 120,
                                                  dns::ptr_data{"n._p2p._udp.local"}}));
  const std::size_t before = b.size();
  // This one would register "big.name.local" for compression before failing on size.
  auto r = b.add_record(dns::section::additional, {"big.name.local", dns::type::txt, 1, true, 120,
                                                   dns::txt_data{{std::string(80, 'x')}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), dns::errc::message_too_long);
  EXPECT_EQ(b.size(), before);
  ASSERT_TRUE(b.add_record(dns::section::additional, {"big.name.local", dns::type::a, 1, true, 120,
                                                      dns::a_data{{1, 2, 3, 4}}}));
  const auto out = b.finish();
  EXPECT_LE(out.size(), 100u);
  auto m = dns::parse(out);
  ASSERT_TRUE(m) << m.error().message();  // no pointer into the rolled-back bytes
  ASSERT_EQ(m->additionals.size(), 1u);
  EXPECT_EQ(m->additionals[0].name, "big.name.local");
}
