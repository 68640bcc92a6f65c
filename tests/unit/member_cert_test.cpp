// Member certificates and delegation chains (src/core/member/cert.hpp): the byte layout, strict
// decoding, issue, and every reason verify_chain refuses a chain.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/access/policy.hpp"
#include "core/member/cert.hpp"
#include "core/member/role.hpp"

using namespace starling;
using member::cert_errc;

namespace {

constexpr std::uint64_t now = 1'800'000'000;
constexpr std::uint64_t start = 1'700'000'000;
constexpr std::uint64_t end = 1'900'000'000;

crypto::ed25519_keypair key(std::uint8_t fill) {
  [[maybe_unused]] static const bool ready = crypto::init();
  crypto::ed25519_seed seed;
  seed.fill(fill);
  return crypto::ed25519_from_seed(seed);
}

// The keys every test uses: the owner, three admins, two devices and a stranger. The same seeds
// as tests/fuzz/member_cert_fuzz.cpp, so the seed corpus verifies there.
const crypto::ed25519_keypair owner = key(1);
const std::array<crypto::ed25519_keypair, 4> admins = {key(2), key(3), key(4), key(5)};
const crypto::ed25519_keypair device = key(10);
const crypto::ed25519_keypair other_device = key(11);
const crypto::ed25519_keypair stranger = key(99);
const member::network_id network = member::network_id_of(owner.pub);

member::cert_fields fields(const member::public_key& subject, std::vector<std::string> roles,
                           std::uint32_t epoch = 0) {
  member::cert_fields f;
  f.network = network;
  f.subject = subject;
  f.roles = std::move(roles);
  f.role_epoch = epoch;
  f.not_before = start;
  f.not_after = end;
  return f;
}

member::certificate signed_by(const crypto::ed25519_keypair& by, member::cert_fields f) {
  auto c = member::issue(by, std::move(f));
  EXPECT_TRUE(c) << c.error().message();
  return c ? *c : member::certificate{};
}

// A chain of n certificates: the device's (role "sensor", epoch 7) issued by admins[0], whose
// certificate admins[1] issued, and so on; the owner issued the last one.
member::cert_chain make_chain(std::size_t n) {
  member::cert_chain out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& subject = i == 0 ? device.pub : admins[i - 1].pub;
    const auto& by = i + 1 == n ? owner : admins[i];
    auto f = i == 0 ? fields(subject, {"sensor"}, 7) : fields(subject, {"admin"}, 100 + i);
    f.not_after = end - i;  // so that valid_until must come from the right certificate
    out.push_back(signed_by(by, f));
  }
  return out;
}

bytes wire_of(const member::certificate& c) {
  auto b = member::encode(c);
  EXPECT_TRUE(b) << b.error().message();
  return b ? *b : bytes{};
}

// Builds the layout of cert.hpp by hand, independently of the encoder, with any role list.
bytes raw_cert(std::uint8_t version, const std::vector<std::string>& roles, std::uint64_t nb,
               std::uint64_t na, std::uint32_t epoch = 0) {
  bytes out;
  out.push_back(version);
  out.insert(out.end(), network.bytes.begin(), network.bytes.end());
  out.insert(out.end(), device.pub.begin(), device.pub.end());
  out.insert(out.end(), owner.pub.begin(), owner.pub.end());
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<std::uint8_t>(nb >> (8 * i)));
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<std::uint8_t>(na >> (8 * i)));
  for (int i = 3; i >= 0; --i)
    out.push_back(static_cast<std::uint8_t>(epoch >> (8 * i)));
  out.push_back(static_cast<std::uint8_t>(roles.size()));
  for (const auto& r : roles) {
    out.push_back(static_cast<std::uint8_t>(r.size()));
    out.insert(out.end(), r.begin(), r.end());
  }
  // A real signature by the owner over the domain and the body.
  const bytes_view domain = as_bytes(member::cert_signature_domain);
  bytes msg(domain.begin(), domain.end());
  append(msg, out);
  const auto sig = crypto::ed25519_sign(owner, msg);
  out.insert(out.end(), sig.begin(), sig.end());
  return out;
}

cert_errc decode_error(bytes_view b) {
  auto c = member::decode_cert(b);
  EXPECT_FALSE(c) << "accepted";
  return c ? cert_errc{} : static_cast<cert_errc>(c.error().value());
}

member::chain_error verify_error(const member::cert_chain& chain, std::uint64_t at = now) {
  auto r = member::verify_chain(chain, owner.pub, at);
  EXPECT_FALSE(r) << "admitted";
  return r ? member::chain_error{} : r.error();
}

// Checks that verify_chain refuses `chain` with `code`, about certificate `index`.
member::chain_error expect_refused(const member::cert_chain& chain, cert_errc code,
                                   std::size_t index, std::uint64_t at = now) {
  const auto e = verify_error(chain, at);
  EXPECT_EQ(e.code, code) << e.describe();
  EXPECT_EQ(e.index, index) << e.describe();
  return e;
}

}  // namespace

TEST(MemberCert, LayoutByteByByte) {
  ASSERT_TRUE(crypto::init());
  auto f = fields(device.pub, {"sensor", "member"}, 0x01020304);
  f.not_before = 0x1112131415161718;
  f.not_after = 0x2122232425262728;
  const auto c = signed_by(owner, f);
  EXPECT_EQ(c.roles, (std::vector<std::string>{"member", "sensor"}));  // issue sorted them
  const bytes b = wire_of(c);
  ASSERT_EQ(b.size(), 118u + 7 + 7 + 64);
  EXPECT_EQ(b, raw_cert(1, {"member", "sensor"}, f.not_before, f.not_after, 0x01020304));
  EXPECT_EQ(b[0], 1);
  EXPECT_TRUE(std::equal(network.bytes.begin(), network.bytes.end(), b.begin() + 1));
  EXPECT_TRUE(std::equal(device.pub.begin(), device.pub.end(), b.begin() + 33));
  EXPECT_TRUE(std::equal(owner.pub.begin(), owner.pub.end(), b.begin() + 65));
  EXPECT_EQ(b[97], 0x11);
  EXPECT_EQ(b[104], 0x18);
  EXPECT_EQ(b[105], 0x21);
  EXPECT_EQ(b[112], 0x28);
  EXPECT_EQ(b[113], 0x01);
  EXPECT_EQ(b[116], 0x04);
  EXPECT_EQ(b[117], 2);
  EXPECT_EQ(b[118], 6);
  EXPECT_EQ(as_chars(bytes_view(b).subspan(119, 6)), "member");

  // The signature covers the domain and the body, and only with the domain does it verify.
  const bytes_view body = bytes_view(b).first(b.size() - 64);
  const auto msg = member::signed_message(c);
  ASSERT_TRUE(msg);
  EXPECT_EQ(as_chars(*msg).substr(0, 16), "starling/cert/v1");
  EXPECT_TRUE(std::equal(body.begin(), body.end(), msg->begin() + 16, msg->end()));
  EXPECT_TRUE(crypto::ed25519_verify(owner.pub, *msg, c.sig));
  EXPECT_FALSE(crypto::ed25519_verify(owner.pub, body, c.sig));
}

TEST(MemberCert, RoundTripsAtTheSmallestAndLargestSizes) {
  ASSERT_TRUE(crypto::init());
  std::vector<std::string> many;
  for (int i = 0; i < 16; ++i)
    many.push_back(std::string(31, 'a') + static_cast<char>('a' + i));
  for (const auto& roles : {std::vector<std::string>{"x"}, std::vector<std::string>{"admin"},
                            std::vector<std::string>{"a-b_c", "z9", "0"}, many}) {
    const auto c = signed_by(owner, fields(device.pub, roles, 42));
    const bytes b = wire_of(c);
    EXPECT_GE(b.size(), member::min_cert_size);
    EXPECT_LE(b.size(), member::max_cert_size);
    const auto d = member::decode_cert(b);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(*d, c);
    EXPECT_EQ(wire_of(*d), b);
  }
  EXPECT_EQ(wire_of(signed_by(owner, fields(device.pub, {"x"}))).size(), member::min_cert_size);
  EXPECT_EQ(wire_of(signed_by(owner, fields(device.pub, many))).size(), member::max_cert_size);
}

TEST(MemberCert, IssueSortsRolesAndRefusesWhatTheEncodingForbids) {
  ASSERT_TRUE(crypto::init());
  auto refused = [](member::cert_fields f) {
    auto c = member::issue(owner, std::move(f));
    EXPECT_FALSE(c);
    return c ? cert_errc{} : static_cast<cert_errc>(c.error().value());
  };
  EXPECT_EQ(refused(fields(device.pub, {})), cert_errc::no_roles);
  EXPECT_EQ(refused(fields(device.pub, std::vector<std::string>(17, "r"))),
            cert_errc::too_many_roles);
  EXPECT_EQ(refused(fields(device.pub, {"a", ""})), cert_errc::empty_role);
  EXPECT_EQ(refused(fields(device.pub, {std::string(33, 'a')})), cert_errc::role_too_long);
  for (const char* bad : {"Admin", "a b", "a/b", "a.b", "\xc3\xa9", "a\n"})
    EXPECT_EQ(refused(fields(device.pub, {bad})), cert_errc::bad_role_character) << bad;
  EXPECT_EQ(refused(fields(device.pub, {"b", "a", "b"})), cert_errc::duplicate_role);
  auto f = fields(device.pub, {"a"});
  f.not_after = f.not_before;
  EXPECT_EQ(refused(f), cert_errc::bad_validity);
  f.not_after = f.not_before - 1;
  EXPECT_EQ(refused(f), cert_errc::bad_validity);

  const auto c = signed_by(owner, fields(device.pub, {"z", "a", "m"}));
  EXPECT_EQ(c.roles, (std::vector<std::string>{"a", "m", "z"}));
  EXPECT_EQ(c.issuer, owner.pub);
  EXPECT_EQ(c.version, member::cert_version);
}

TEST(MemberRole, OneRuleForEveryByte) {
  using member::role_name_fault;
  EXPECT_EQ(member::max_role_name_size, 32u);
  EXPECT_EQ(member::max_role_size, member::max_role_name_size);
  EXPECT_EQ(member::role_name_problem(""), role_name_fault::empty);
  EXPECT_EQ(member::role_name_problem(std::string(32, 'a')), std::nullopt);
  EXPECT_EQ(member::role_name_problem(std::string(33, 'a')), role_name_fault::too_long);
  EXPECT_EQ(member::role_name_problem(std::string(33, 'A')), role_name_fault::too_long)
      << "length is judged first";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool want = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    const std::string name = std::string("r") + c;
    EXPECT_EQ(member::is_valid_role_name(name), want) << b;
    EXPECT_EQ(member::role_name_problem(name),
              want ? std::nullopt : std::optional(role_name_fault::bad_character))
        << b;
  }
}

TEST(MemberRole, CertificatesAndPoliciesAgreeOnEveryName) {
  ASSERT_TRUE(crypto::init());
  const std::vector<std::string> names{"admin",
                                       "Admin",
                                       "team.a",
                                       "a-b_c",
                                       "0",
                                       "",
                                       " a",
                                       std::string(32, 'z'),
                                       std::string(33, 'z'),
                                       "a\x80",
                                       "*"};
  for (const auto& name : names) {
    const bool in_cert = member::issue(owner, fields(device.pub, {name})).has_value();
    EXPECT_EQ(in_cert, member::is_valid_role_name(name)) << name;
    EXPECT_EQ(access::valid_role_name(name), in_cert) << name;
  }
}

TEST(MemberCert, EncodeRefusesAHandBuiltCertificateThatBreaksTheRules) {
  ASSERT_TRUE(crypto::init());
  auto c = signed_by(owner, fields(device.pub, {"a", "b"}));
  auto unsorted = c;
  std::swap(unsorted.roles[0], unsorted.roles[1]);
  EXPECT_EQ(member::encode(unsorted).error(), cert_errc::roles_not_sorted);
  EXPECT_EQ(member::signed_message(unsorted).error(), cert_errc::roles_not_sorted);
  auto v2 = c;
  v2.version = 2;
  EXPECT_EQ(member::encode(v2).error(), cert_errc::bad_version);
  auto long_role = c;
  long_role.roles = {std::string(300, 'a')};  // would not fit its length byte
  EXPECT_EQ(member::encode(long_role).error(), cert_errc::role_too_long);
}

TEST(MemberCert, DecodeRefusesEachBrokenRuleWithItsOwnCode) {
  ASSERT_TRUE(crypto::init());
  const bytes good = raw_cert(1, {"a", "b"}, start, end);
  ASSERT_TRUE(member::decode_cert(good));

  EXPECT_EQ(decode_error(raw_cert(0, {"a"}, start, end)), cert_errc::bad_version);
  EXPECT_EQ(decode_error(raw_cert(2, {"a"}, start, end)), cert_errc::bad_version);
  EXPECT_EQ(decode_error(raw_cert(1, {}, start, end)), cert_errc::no_roles);
  EXPECT_EQ(decode_error(raw_cert(1, std::vector<std::string>(17, "a"), start, end)),
            cert_errc::too_many_roles);
  EXPECT_EQ(decode_error(raw_cert(1, {"a", ""}, start, end)), cert_errc::empty_role);
  EXPECT_EQ(decode_error(raw_cert(1, {std::string(33, 'a')}, start, end)),
            cert_errc::role_too_long);
  EXPECT_EQ(decode_error(raw_cert(1, {"aB"}, start, end)), cert_errc::bad_role_character);
  EXPECT_EQ(decode_error(raw_cert(1, {std::string("a\0", 2)}, start, end)),
            cert_errc::bad_role_character);
  EXPECT_EQ(decode_error(raw_cert(1, {"b", "a"}, start, end)), cert_errc::roles_not_sorted);
  EXPECT_EQ(decode_error(raw_cert(1, {"a", "ab", "a"}, start, end)), cert_errc::roles_not_sorted);
  EXPECT_EQ(decode_error(raw_cert(1, {"a", "a"}, start, end)), cert_errc::duplicate_role);
  EXPECT_EQ(decode_error(raw_cert(1, {"a"}, end, end)), cert_errc::bad_validity);
  EXPECT_EQ(decode_error(raw_cert(1, {"a"}, end, start)), cert_errc::bad_validity);

  // Truncated at every length, and one byte too many.
  for (std::size_t n = 0; n < good.size(); ++n)
    EXPECT_EQ(decode_error(bytes_view(good).first(n)), cert_errc::truncated) << n;
  bytes longer = good;
  longer.push_back(0);
  EXPECT_EQ(decode_error(longer), cert_errc::trailing_bytes);
}

// Any one byte changed in any field: the bytes are refused by the decoder, or the chain made of
// them is refused by verify_chain; never admitted. Whatever decodes encodes back to the same bytes.
TEST(MemberCert, EveryTamperedByteIsRefused) {
  ASSERT_TRUE(crypto::init());
  const auto c = signed_by(owner, fields(device.pub, {"member", "sensor"}, 3));
  const bytes good = wire_of(c);
  ASSERT_TRUE(member::verify_chain(member::cert_chain{c}, owner.pub, now));
  struct field {
    std::size_t from, to;
    cert_errc expected;  // the code when the byte still decodes
  };
  const field layout[] = {
      {1, 33, cert_errc::wrong_network},
      {33, 65, cert_errc::bad_signature},
      {65, 97, cert_errc::not_issued_by_owner},
      {97, 113, cert_errc::bad_signature},
      {113, 117, cert_errc::bad_signature},
      {118, good.size() - 64, cert_errc::bad_signature},
      {good.size() - 64, good.size(), cert_errc::bad_signature},
  };
  std::size_t decoded = 0;
  for (std::size_t pos = 0; pos < good.size(); ++pos) {
    for (int bit = 0; bit < 8; ++bit) {
      bytes b = good;
      b[pos] ^= static_cast<std::uint8_t>(1u << bit);
      auto d = member::decode_cert(b);
      if (!d) continue;
      ++decoded;
      EXPECT_EQ(wire_of(*d), b);
      auto r = member::verify_chain(member::cert_chain{*d}, owner.pub, now);
      ASSERT_FALSE(r) << "byte " << pos << " bit " << bit;
      for (const auto& f : layout) {
        // Time bytes may also move the window past now; the others have one outcome.
        if (pos < f.from || pos >= f.to) continue;
        if (pos >= 97 && pos < 113 && r.error().code != cert_errc::bad_signature) {
          EXPECT_TRUE(r.error().code == cert_errc::expired ||
                      r.error().code == cert_errc::not_yet_valid)
              << pos;
        } else {
          EXPECT_EQ(r.error().code, f.expected) << "byte " << pos << " bit " << bit;
        }
      }
    }
  }
  EXPECT_GT(decoded, good.size() * 4);  // most flips decode: the test reached verify_chain
}

TEST(MemberCert, ChainsOfOneToFourVerifyAndSayWhatTheyAdmit) {
  ASSERT_TRUE(crypto::init());
  for (std::size_t n = 1; n <= 4; ++n) {
    SCOPED_TRACE("chain of " + std::to_string(n));
    const auto chain = make_chain(n);
    auto r = member::verify_chain(chain, owner.pub, now);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->subject, device.pub);
    EXPECT_EQ(r->roles, std::vector<std::string>{"sensor"});
    EXPECT_EQ(r->role_epoch, 7u);
    ASSERT_EQ(r->admins.size(), n - 1);
    for (std::size_t i = 1; i < n; ++i)
      EXPECT_EQ(r->admins[i - 1], (member::chain_admin{admins[i - 1].pub, 100 + std::uint32_t(i)}));
    EXPECT_EQ(r->valid_until, end - (n - 1));

    // The same through the encoding.
    const auto wire = member::encode_chain(chain);
    ASSERT_TRUE(wire);
    EXPECT_LE(wire->size(), member::max_chain_size);
    auto back = member::decode_chain(*wire);
    ASSERT_TRUE(back) << back.error().describe();
    EXPECT_EQ(*back, chain);
    auto again = member::verify_chain(bytes_view(*wire), owner.pub, now);
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *r);
    // Valid exactly on [not_before, smallest not_after).
    EXPECT_TRUE(member::verify_chain(chain, owner.pub, start));
    EXPECT_TRUE(member::verify_chain(chain, owner.pub, r->valid_until - 1));
    EXPECT_EQ(verify_error(chain, r->valid_until).code, cert_errc::expired);
  }
}

TEST(MemberCert, ChainOfFiveIsRefused) {
  ASSERT_TRUE(crypto::init());
  const auto four = make_chain(4);
  // One level more: admins[2]'s certificate issued by admins[3], whose certificate the owner
  // issued.
  auto five = four;
  five.back() = signed_by(admins[3], fields(admins[2].pub, {"admin"}));
  five.push_back(signed_by(owner, fields(admins[3].pub, {"admin"})));
  expect_refused(five, cert_errc::chain_too_long, member::whole_chain);
  EXPECT_EQ(member::encode_chain(five).error(), cert_errc::chain_too_long);
  bytes wire = {5};
  for (const auto& c : five)
    append(wire, wire_of(c));
  const auto d = member::decode_chain(wire);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, cert_errc::chain_too_long);
}

TEST(MemberCert, RefusesForgedAndMisissuedChains) {
  ASSERT_TRUE(crypto::init());
  // Forged: a stranger signs, claiming the owner issued it.
  auto forged = signed_by(stranger, fields(device.pub, {"admin"}));
  forged.issuer = owner.pub;
  expect_refused({forged}, cert_errc::bad_signature, 0u);

  // Honestly signed by a stranger: the chain does not end at the owner.
  expect_refused({signed_by(stranger, fields(device.pub, {"sensor"}))},
                 cert_errc::not_issued_by_owner, 0u);

  // Re-signed by a member that is not an admin.
  const auto plain = signed_by(owner, fields(other_device.pub, {"member", "sensor"}));
  expect_refused({signed_by(other_device, fields(device.pub, {"sensor"})), plain},
                 cert_errc::issuer_not_admin, 1u);

  // The issuer's certificate is not the next one.
  auto chain = make_chain(3);
  chain[1] = signed_by(admins[1], fields(admins[2].pub, {"admin"}));
  expect_refused(chain, cert_errc::broken_chain, 0u);

  // A bad signature in the middle of a chain is found at its index.
  chain = make_chain(4);
  chain[2].sig[10] ^= 1;
  expect_refused(chain, cert_errc::bad_signature, 2u);

  // A hand-built certificate that breaks an encoding rule is refused as such.
  chain = make_chain(2);
  chain[1].roles = {"member", "admin"};
  expect_refused(chain, cert_errc::roles_not_sorted, 1u);

  expect_refused({}, cert_errc::empty_chain, member::whole_chain);
}

TEST(MemberCert, RefusesAnotherNetwork) {
  ASSERT_TRUE(crypto::init());
  // A certificate for another network id, signed by our owner.
  auto f = fields(device.pub, {"sensor"});
  f.network = member::network_id_of(stranger.pub);
  expect_refused({signed_by(owner, f)}, cert_errc::wrong_network, 0u);
  // A whole valid chain of the stranger's network, shown to us.
  const member::cert_chain theirs = {signed_by(stranger, f)};
  EXPECT_TRUE(member::verify_chain(theirs, stranger.pub, now));
  EXPECT_EQ(verify_error(theirs).code, cert_errc::wrong_network);
  // An admin of ours whose certificate names another network, in the middle of a chain.
  auto chain = make_chain(3);
  auto g = fields(admins[1].pub, {"admin"});
  g.network = f.network;
  chain[2] = signed_by(owner, g);
  expect_refused(chain, cert_errc::wrong_network, 2u);
}

TEST(MemberCert, RefusesOutsideTheValidityWindowOfAnyCertificate) {
  ASSERT_TRUE(crypto::init());
  const auto one = make_chain(1);
  EXPECT_EQ(expect_refused(one, cert_errc::not_yet_valid, 0, start - 1).time, start);
  EXPECT_EQ(expect_refused(one, cert_errc::expired, 0, end).time, end);

  // The leaf is valid; the admin above it expired an hour ago, or starts tomorrow.
  auto chain = make_chain(2);
  auto f = fields(admins[0].pub, {"admin"});
  f.not_after = now - 3600;
  chain[1] = signed_by(owner, f);
  EXPECT_EQ(expect_refused(chain, cert_errc::expired, 1).time, now - 3600);
  f = fields(admins[0].pub, {"admin"});
  f.not_before = now + 86400;
  chain[1] = signed_by(owner, f);
  expect_refused(chain, cert_errc::not_yet_valid, 1u);
}

TEST(MemberCert, RefusesAMalleatedSignature) {
  ASSERT_TRUE(crypto::init());
  const auto c = signed_by(owner, fields(device.pub, {"sensor"}));
  // S + L (L = 2^252 + 27742317777372353535851937790883648493, little-endian): the classic
  // malleation, which a lenient verifier accepts. It still decodes (a signature is 64 opaque
  // bytes) and encodes back to itself; verification refuses it.
  static constexpr std::array<std::uint8_t, 32> order = {
      0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
      0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
      0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
  auto m = c;
  unsigned carry = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    const unsigned sum = m.sig[32 + i] + order[i] + carry;
    m.sig[32 + i] = static_cast<std::uint8_t>(sum);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);
  const bytes b = wire_of(m);
  auto d = member::decode_cert(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(wire_of(*d), b);
  const auto e = verify_error({*d});
  EXPECT_EQ(e.code, cert_errc::bad_signature);
  EXPECT_TRUE(member::verify_chain(member::cert_chain{c}, owner.pub, now));
}

TEST(MemberCert, ChainEncodingIsStrict) {
  ASSERT_TRUE(crypto::init());
  const auto chain = make_chain(3);
  const bytes wire = member::encode_chain(chain).value();
  EXPECT_EQ(wire[0], 3);
  EXPECT_EQ(member::encode_chain(member::cert_chain{}).error(), cert_errc::empty_chain);

  // Truncated anywhere: the index says which certificate was cut.
  const std::size_t first = wire_of(chain[0]).size(), second = wire_of(chain[1]).size();
  for (std::size_t n = 0; n < wire.size(); ++n) {
    const auto d = member::decode_chain(bytes_view(wire).first(n));
    ASSERT_FALSE(d) << n;
    EXPECT_EQ(d.error().code, cert_errc::truncated) << n;
    const std::size_t index = n == 0                   ? member::whole_chain
                              : n < 1 + first          ? 0
                              : n < 1 + first + second ? 1
                                                       : 2;
    EXPECT_EQ(d.error().index, index) << n;
  }
  bytes longer = wire;
  longer.push_back(1);
  auto d = member::decode_chain(longer);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, cert_errc::trailing_bytes);
  EXPECT_EQ(d.error().index, member::whole_chain);

  d = member::decode_chain(bytes{0});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, cert_errc::empty_chain);

  // A broken rule in the third certificate is reported with its index.
  bytes bad = wire;
  bad[1 + first + second] = 9;  // its version
  d = member::decode_chain(bad);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, cert_errc::bad_version);
  EXPECT_EQ(d.error().index, 2u);
  auto v = member::verify_chain(bytes_view(bad), owner.pub, now);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, cert_errc::bad_version);
}

TEST(MemberCert, DescribeNamesTheCertificateAndTheReason) {
  ASSERT_TRUE(crypto::init());
  auto chain = make_chain(2);
  auto f = fields(admins[0].pub, {"admin"});
  f.not_after = 1'750'000'000;
  chain[1] = signed_by(owner, f);
  EXPECT_EQ(verify_error(chain).describe(),
            "certificate 1 (the admin that issued certificate 0): expired at 1750000000 (unix "
            "time)");
  chain = make_chain(1);
  chain[0].sig[0] ^= 1;
  EXPECT_EQ(verify_error(chain).describe(),
            "certificate 0 (the leaf): its signature is not a valid one by its issuer");
  EXPECT_EQ(verify_error({}).describe(), "certificate chain refused: empty certificate chain");
  const member::chain_error malformed{cert_errc::duplicate_role, 3, 0};
  EXPECT_EQ(malformed.describe(),
            "certificate 3 (the admin that issued certificate 2): malformed: the same role twice");
  const std::error_code ec = malformed;
  EXPECT_EQ(ec, cert_errc::duplicate_role);
}

TEST(MemberCert, EveryCodeHasItsOwnMessage) {
  std::vector<std::string> seen;
  for (int c = static_cast<int>(cert_errc::truncated);
       c <= static_cast<int>(cert_errc::bad_signature); ++c) {
    const std::string m = member::make_error_code(static_cast<cert_errc>(c)).message();
    EXPECT_NE(m, "unknown certificate error") << c;
    EXPECT_EQ(std::count(seen.begin(), seen.end(), m), 0) << m;
    seen.push_back(m);
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(std::error_code(21, member::cert_category()).message(), "unknown certificate error");
  EXPECT_STREQ(member::cert_category().name(), "member.cert");
}

// The seed corpus of tests/fuzz/member_cert_fuzz.cpp is made here, from the keys above, so it
// stays in step with the format. STARLING_WRITE_CORPUS=1 rewrites the files; otherwise the test
// checks them.
TEST(MemberCert, FuzzSeedCorpusIsCurrent) {
  ASSERT_TRUE(crypto::init());
  std::vector<std::pair<std::string, bytes>> seeds;
  for (std::size_t n = 1; n <= 4; ++n)
    seeds.emplace_back("chain_" + std::to_string(n), member::encode_chain(make_chain(n)).value());
  seeds.emplace_back("cert_leaf", wire_of(make_chain(1)[0]));
  seeds.emplace_back("cert_admin", wire_of(make_chain(2)[1]));
  std::vector<std::string> many;
  for (int i = 0; i < 16; ++i)
    many.push_back(std::string(31, 'r') + static_cast<char>('a' + i));
  seeds.emplace_back("cert_largest", wire_of(signed_by(owner, fields(device.pub, many))));
  auto chain = make_chain(2);
  chain[1] = signed_by(owner, fields(admins[0].pub, {"member"}));
  seeds.emplace_back("chain_issuer_not_admin", member::encode_chain(chain).value());

  const std::filesystem::path dir = STARLING_TEST_DATA "/fuzz/corpus/member_cert";
  const char* write = std::getenv("STARLING_WRITE_CORPUS");
  if (write != nullptr && std::string(write) == "1") {
    std::filesystem::create_directories(dir);
    for (const auto& [name, b] : seeds) {
      std::ofstream out(dir / name, std::ios::binary);
      out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
  }
  for (const auto& [name, b] : seeds) {
    std::ifstream in(dir / name, std::ios::binary);
    ASSERT_TRUE(in.good()) << dir / name;
    const bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(file, b) << name << " is stale: run with STARLING_WRITE_CORPUS=1";
  }
}
