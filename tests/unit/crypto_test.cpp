#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>

#include "core/common/bytes.hpp"
#include "core/crypto/aead_backends.hpp"
#include "core/crypto/aead_fault.hpp"
#include "core/crypto/crypto.hpp"

#include <sodium.h>

using namespace starling;

namespace {
bytes hex(std::string_view h) {
  bytes b;
  EXPECT_TRUE(from_hex(h, b));
  return b;
}

bool all_zero(bytes_view b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

/// The Noise nonce of counter n (4 zero bytes, then n little-endian), for aead_seal/aead_open.
bytes noise_nonce(std::uint64_t n) {
  bytes nonce(crypto::aead_nonce_size, 0);
  for (int i = 0; i < 8; ++i)
    nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return nonce;
}

/// True when one of eight 16-byte pieces of `plain`, spread over it, appears in `b`: plaintext
/// that would go on the wire.
bool leaks_plaintext(bytes_view b, bytes_view plain) {
  if (plain.size() < 16) return false;
  for (std::size_t j = 0; j < 8; ++j) {
    const auto at = plain.begin() + static_cast<std::ptrdiff_t>(j * (plain.size() - 16) / 7);
    if (std::search(b.begin(), b.end(), at, at + 16) != b.end()) return true;
  }
  return false;
}
}  // namespace

TEST(Bytes, HexRoundTrip) {
  bytes b;
  ASSERT_TRUE(from_hex("00ff10Ab", b));
  EXPECT_EQ(to_hex(b), "00ff10ab");
  EXPECT_FALSE(from_hex("abc", b));
  EXPECT_FALSE(from_hex("zz", b));
}

TEST(Crypto, Sha256Abc) {
  ASSERT_TRUE(crypto::init());
  auto d = crypto::sha256(as_bytes("abc"));
  EXPECT_EQ(to_hex(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, HmacSha256Rfc4231Case2) {
  auto d = crypto::hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"));
  EXPECT_EQ(to_hex(d), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, Ed25519Rfc8032Test1) {
  auto seed_b = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  crypto::ed25519_seed seed;
  std::copy(seed_b.begin(), seed_b.end(), seed.begin());
  auto kp = crypto::ed25519_from_seed(seed);
  EXPECT_EQ(to_hex(kp.pub), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto sig = crypto::ed25519_sign(kp, {});
  EXPECT_EQ(to_hex(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
            "701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(crypto::ed25519_verify(kp.pub, {}, sig));
  sig[0] ^= 1;
  EXPECT_FALSE(crypto::ed25519_verify(kp.pub, {}, sig));
}

TEST(Crypto, AeadRoundTripAndTamper) {
  crypto::aead_key k{};
  k[3] = 7;
  bytes c, p;
  ASSERT_TRUE(crypto::aead_encrypt(k, 5, as_bytes("ad"), as_bytes("hello"), c));
  ASSERT_EQ(c.size(), 5 + crypto::aead_tag_size);
  ASSERT_TRUE(crypto::aead_decrypt(k, 5, as_bytes("ad"), c, p));
  EXPECT_EQ(as_chars(p), "hello");
  EXPECT_FALSE(crypto::aead_decrypt(k, 6, as_bytes("ad"), c, p));
  bytes inplace(as_bytes("hello").begin(), as_bytes("hello").end());
  inplace.resize(inplace.size() + crypto::aead_tag_size);
  ASSERT_TRUE(crypto::aead_encrypt_inplace(k, 5, as_bytes("ad"), inplace));
  EXPECT_EQ(inplace, c);
  ASSERT_TRUE(crypto::aead_decrypt_inplace(k, 5, as_bytes("ad"), inplace));
  EXPECT_EQ(as_chars(bytes_view(inplace).first(5)), "hello");
}

// The AEAD runs on OpenSSL's libcrypto from 256 bytes up and on libsodium below
// (docs/decisions/0005-openssl-aead.md); its output must be byte for byte what libsodium, the
// reference the Noise vectors were checked with, produces, on both sides of that line.
TEST(Crypto, AeadMatchesLibsodiumAtEverySize) {
  ASSERT_TRUE(crypto::init());
  crypto::aead_key k{};
  for (std::size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<std::uint8_t>(0x80 + i);
  for (const std::size_t len :
       {0UL, 1UL, 15UL, 16UL, 63UL, 64UL, 65UL, 255UL, 256UL, 257UL, 1023UL, 4096UL, 65519UL}) {
    for (const std::string_view ad : {std::string_view{}, std::string_view{"associated data"}}) {
      SCOPED_TRACE(testing::Message() << "len " << len << " ad " << ad.size());
      bytes plain(len);
      for (std::size_t i = 0; i < len; ++i)
        plain[i] = static_cast<std::uint8_t>(i * 31 + 7);
      const std::uint64_t n = 0x0102030405060708ULL + len;
      std::array<std::uint8_t, 12> nonce{};
      for (int i = 0; i < 8; ++i)
        nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
      bytes expected(len + crypto::aead_tag_size);
      unsigned long long elen = 0;
      crypto_aead_chacha20poly1305_ietf_encrypt(expected.data(), &elen, plain.data(), len,
                                                reinterpret_cast<const std::uint8_t*>(ad.data()),
                                                ad.size(), nullptr, nonce.data(), k.data());
      bytes c;
      ASSERT_TRUE(crypto::aead_encrypt(k, n, as_bytes(ad), plain, c));
      EXPECT_EQ(c, expected);
      bytes inplace = plain;
      inplace.resize(len + crypto::aead_tag_size);
      ASSERT_TRUE(crypto::aead_encrypt_inplace(k, n, as_bytes(ad), inplace));
      EXPECT_EQ(inplace, expected);
      bytes p;
      ASSERT_TRUE(crypto::aead_decrypt(k, n, as_bytes(ad), expected, p));
      EXPECT_EQ(p, plain);
      ASSERT_TRUE(crypto::aead_decrypt_inplace(k, n, as_bytes(ad), inplace));
      EXPECT_TRUE(std::equal(plain.begin(), plain.end(), inplace.begin()));
    }
  }
}

TEST(Crypto, AeadForgeryIsRejectedAndLeavesNoPlaintext) {
  ASSERT_TRUE(crypto::init());
  crypto::aead_key k{};
  k[0] = 9;
  // 100 bytes go through libsodium, 1000 through OpenSSL: both must leave zeros behind.
  for (const std::size_t len : {std::size_t{100}, std::size_t{1000}}) {
    SCOPED_TRACE(testing::Message() << "len " << len);
    const bytes plain(len, 0x5a);
    bytes c;
    ASSERT_TRUE(crypto::aead_encrypt(k, 1, {}, plain, c));
    for (const std::size_t flip : {std::size_t{0}, len - 1, c.size() - 1}) {
      bytes forged = c;
      forged[flip] ^= 0x01;
      bytes p;
      EXPECT_FALSE(crypto::aead_decrypt(k, 1, {}, forged, p));
      EXPECT_TRUE(std::all_of(p.begin(), p.end(), [](std::uint8_t b) { return b == 0; }));
      EXPECT_FALSE(crypto::aead_decrypt_inplace(k, 1, {}, forged));
      EXPECT_TRUE(std::all_of(forged.begin(), forged.end(), [](std::uint8_t b) { return b == 0; }));
    }
    // Wrong associated data and too-short input fail too.
    bytes p;
    EXPECT_FALSE(crypto::aead_decrypt(k, 1, as_bytes("x"), c, p));
    EXPECT_TRUE(std::all_of(p.begin(), p.end(), [](std::uint8_t b) { return b == 0; }));
    EXPECT_FALSE(crypto::aead_decrypt(k, 1, {}, bytes_view(c).first(15), p));
    EXPECT_TRUE(p.empty());
  }
}

TEST(Crypto, SeededRngIsDeterministic) {
  crypto::seeded_rng a(42), b(42), c(43);
  std::array<std::uint8_t, 16> x{}, y{}, z{};
  a.fill(x);
  b.fill(y);
  c.fill(z);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  a.fill(x);
  EXPECT_NE(x, y);
}

TEST(Crypto, SystemRngPoolNeverRepeatsAndServesLargeRequests) {
  ASSERT_TRUE(crypto::init());
  crypto::system_rng r;
  std::set<std::array<std::uint8_t, 32>> seen;
  for (int i = 0; i < 200; ++i) {  // crosses several pool refills
    std::array<std::uint8_t, 32> a{};
    r.fill(a);
    EXPECT_TRUE(seen.insert(a).second) << i;
  }
  starling::bytes big(5000, 0);
  r.fill(big);
  EXPECT_GT(std::count(big.begin(), big.end(), 0), 0);
  EXPECT_LT(std::count(big.begin(), big.end(), 0), 100);  // ~20 zeros expected of 5000 random bytes
  std::array<std::uint8_t, 1> one{};
  r.fill(std::span<std::uint8_t>(one).first(0));  // empty request is fine
}

// A key stream made ahead (aead_prepare) must give exactly libsodium's AEAD, for every
// plaintext size it serves and past it (where the ordinary path takes over), and must serve
// one operation with its own nonce only.
TEST(Crypto, PreparedKeystreamMatchesLibsodium) {
  ASSERT_TRUE(crypto::init());
  crypto::aead_key k{};
  for (std::size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<std::uint8_t>(0x40 + 3 * i);
  for (std::size_t len = 0; len <= crypto::aead_keystream::max_plain + 70; ++len) {
    for (const std::string_view ad :
         {std::string_view{}, std::string_view{"x"}, std::string_view{"sixteen bytes ad"},
          std::string_view{"seventeen bytes a"}}) {
      SCOPED_TRACE(testing::Message() << "len " << len << " ad " << ad.size());
      bytes plain(len);
      for (std::size_t i = 0; i < len; ++i)
        plain[i] = static_cast<std::uint8_t>(i * 13 + 1);
      const std::uint64_t n = 1000 + len;
      bytes expected;
      ASSERT_TRUE(crypto::aead_encrypt(k, n, as_bytes(ad), plain,
                                       expected));  // checked against libsodium above

      crypto::aead_keystream ks;
      crypto::aead_prepare(k, n, ks);
      bytes buf = plain;
      buf.resize(len + crypto::aead_tag_size);
      ASSERT_TRUE(crypto::aead_encrypt_inplace(k, n, as_bytes(ad), buf, ks));
      ASSERT_EQ(buf, expected);
      EXPECT_FALSE(ks.ready) << "a key stream serves one message";

      crypto::aead_prepare(k, n, ks);
      ASSERT_TRUE(crypto::aead_decrypt_inplace(k, n, as_bytes(ad), buf, ks));
      EXPECT_TRUE(std::equal(plain.begin(), plain.end(), buf.begin()));
      EXPECT_FALSE(ks.ready);
    }
  }
}

TEST(Crypto, PreparedKeystreamForAnotherNonceIsNotUsed) {
  ASSERT_TRUE(crypto::init());
  crypto::aead_key k{};
  k[1] = 5;
  const bytes plain(40, 0x33);
  bytes expected;
  ASSERT_TRUE(crypto::aead_encrypt(k, 8, {}, plain, expected));
  crypto::aead_keystream ks;
  crypto::aead_prepare(k, 7, ks);  // the wrong nonce: the ordinary path must run
  bytes buf = plain;
  buf.resize(plain.size() + crypto::aead_tag_size);
  ASSERT_TRUE(crypto::aead_encrypt_inplace(k, 8, {}, buf, ks));
  EXPECT_EQ(buf, expected);
  EXPECT_FALSE(ks.ready);
  crypto::aead_prepare(k, 7, ks);
  EXPECT_TRUE(crypto::aead_decrypt_inplace(k, 8, {}, buf, ks));
  EXPECT_EQ(bytes(buf.begin(), buf.begin() + 40), plain);
}

TEST(Crypto, PreparedKeystreamRejectsForgeriesAndLeavesZeros) {
  ASSERT_TRUE(crypto::init());
  crypto::aead_key k{};
  k[0] = 3;
  const bytes plain(44, 0x5a);
  bytes c;
  ASSERT_TRUE(crypto::aead_encrypt(k, 2, as_bytes("ad"), plain, c));
  for (const std::size_t flip : {std::size_t{0}, std::size_t{43}, c.size() - 1}) {
    SCOPED_TRACE(testing::Message() << "flip " << flip);
    bytes forged = c;
    forged[flip] ^= 0x80;
    crypto::aead_keystream ks;
    crypto::aead_prepare(k, 2, ks);
    EXPECT_FALSE(crypto::aead_decrypt_inplace(k, 2, as_bytes("ad"), forged, ks));
    EXPECT_TRUE(std::all_of(forged.begin(), forged.end(), [](std::uint8_t b) { return b == 0; }));
    EXPECT_FALSE(ks.ready);
  }
  // The wrong associated data fails too, and the genuine frame then still opens.
  crypto::aead_keystream ks;
  crypto::aead_prepare(k, 2, ks);
  bytes copy = c;
  EXPECT_FALSE(crypto::aead_decrypt_inplace(k, 2, as_bytes("xx"), copy, ks));
  crypto::aead_prepare(k, 2, ks);
  copy = c;
  EXPECT_TRUE(crypto::aead_decrypt_inplace(k, 2, as_bytes("ad"), copy, ks));
}

// aead_seal / aead_open name the backend: each must give the bytes of the counter-nonce path
// (checked against libsodium above) for a Noise nonce, on both sides of the size at which the
// node switches to OpenSSL, and the three must agree on a nonce that is not a Noise nonce.
TEST(Crypto, AeadBackendsGiveTheSameBytes) {
  ASSERT_TRUE(crypto::init());
  using crypto::aead_backend;
  using crypto::aead_status;
  crypto::aead_key k{};
  for (std::size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<std::uint8_t>(3 * i + 1);
  const std::uint64_t n = 0x0807060504030201;
  const bytes noise_nonce = hex("000000000102030405060708");
  const bytes other_nonce = hex("a0a1a2a3a4a5a6a7a8a9aaab");
  for (const std::size_t len : {0, 1, 63, 64, 192, 193, 255, 256, 257, 1000, 4096}) {
    for (const std::string_view ad : {"", "header"}) {
      SCOPED_TRACE(testing::Message() << "len " << len << ", ad " << ad.size());
      bytes plain(len);
      for (std::size_t i = 0; i < len; ++i)
        plain[i] = static_cast<std::uint8_t>(i * 7);
      bytes expected;
      ASSERT_TRUE(crypto::aead_encrypt(k, n, as_bytes(ad), plain, expected));
      bytes first;
      for (const aead_backend b :
           {aead_backend::libsodium, aead_backend::openssl, aead_backend::keystream}) {
        SCOPED_TRACE(testing::Message() << "backend " << static_cast<int>(b));
        bytes out, back;
        if (b == aead_backend::keystream && len > crypto::aead_keystream::max_plain) {
          EXPECT_EQ(crypto::aead_seal(b, k, noise_nonce, as_bytes(ad), plain, out),
                    aead_status::too_long);
          EXPECT_EQ(crypto::aead_open(b, k, noise_nonce, as_bytes(ad), expected, back),
                    aead_status::too_long);
          continue;
        }
        ASSERT_EQ(crypto::aead_seal(b, k, noise_nonce, as_bytes(ad), plain, out), aead_status::ok);
        EXPECT_EQ(out, expected);
        ASSERT_EQ(crypto::aead_open(b, k, noise_nonce, as_bytes(ad), expected, back),
                  aead_status::ok);
        EXPECT_EQ(back, plain);

        ASSERT_EQ(crypto::aead_seal(b, k, other_nonce, as_bytes(ad), plain, out), aead_status::ok);
        EXPECT_NE(out, expected);
        if (first.empty()) first = out;
        EXPECT_EQ(out, first);
        ASSERT_EQ(crypto::aead_open(b, k, other_nonce, as_bytes(ad), out, back), aead_status::ok);
        EXPECT_EQ(back, plain);
      }
    }
  }
}

// Malformed input is refused with its reason, never computed on: nonces that are not 12 bytes,
// input shorter than a tag, and more than a key stream holds.
TEST(Crypto, AeadBackendsRefuseMalformedInput) {
  ASSERT_TRUE(crypto::init());
  using crypto::aead_backend;
  using crypto::aead_status;
  const crypto::aead_key k{};
  const bytes nonce(crypto::aead_nonce_size, 0);
  for (const aead_backend b :
       {aead_backend::libsodium, aead_backend::openssl, aead_backend::keystream}) {
    SCOPED_TRACE(testing::Message() << "backend " << static_cast<int>(b));
    for (const std::size_t size : {0, 8, 11, 13, 16, 24}) {
      const bytes bad(size, 0);
      bytes out{1, 2, 3};
      EXPECT_EQ(crypto::aead_seal(b, k, bad, {}, as_bytes("hi"), out), aead_status::bad_nonce_size);
      EXPECT_TRUE(out.empty());
      out = {1, 2, 3};
      EXPECT_EQ(crypto::aead_open(b, k, bad, {}, bytes(18, 0), out), aead_status::bad_nonce_size);
      EXPECT_TRUE(out.empty());
    }
    bytes sealed, out{1};
    ASSERT_EQ(crypto::aead_seal(b, k, nonce, {}, {}, sealed), aead_status::ok);
    ASSERT_EQ(sealed.size(), crypto::aead_tag_size);
    EXPECT_EQ(crypto::aead_open(b, k, nonce, {}, bytes_view(sealed).first(15), out),
              aead_status::short_input);
    EXPECT_TRUE(out.empty());
    out = {1};
    EXPECT_EQ(crypto::aead_open(b, k, nonce, {}, sealed, out), aead_status::ok);
    EXPECT_TRUE(out.empty());
  }
  // The key stream holds max_plain bytes: one more is refused both ways.
  const bytes fits(crypto::aead_keystream::max_plain, 0x11);
  const bytes over(crypto::aead_keystream::max_plain + 1, 0x11);
  bytes out;
  EXPECT_EQ(crypto::aead_seal(aead_backend::keystream, k, nonce, {}, fits, out), aead_status::ok);
  EXPECT_EQ(crypto::aead_seal(aead_backend::keystream, k, nonce, {}, over, out),
            aead_status::too_long);
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(crypto::aead_seal(aead_backend::libsodium, k, nonce, {}, over, out), aead_status::ok);
  bytes back;
  EXPECT_EQ(crypto::aead_open(aead_backend::keystream, k, nonce, {}, out, back),
            aead_status::too_long);
  EXPECT_EQ(crypto::aead_open(aead_backend::openssl, k, nonce, {}, out, back), aead_status::ok);
  EXPECT_EQ(back, over);
}

// OpenSSL failing at each step of a seal (aead_fault.hpp). Before it writes, libsodium seals
// the same plaintext: the frame is the ordinary one. Once it has written, the frame is
// refused and wiped: a second pass over a partly encrypted buffer would apply the key stream
// twice and put plaintext under a valid tag. Whatever happens, nothing that comes out may
// carry plaintext, and whatever carries a valid tag must be the real ciphertext.
TEST(Crypto, AeadOpenSslFailureNeverYieldsPlaintextUnderAValidTag) {
  ASSERT_TRUE(crypto::init());
  using crypto::fault::seal_step;
  crypto::aead_key k{};
  for (std::size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<std::uint8_t>(0x90 + i);
  const std::uint64_t n = 77;
  const std::string_view ad = "frame header";
  for (const std::size_t len : {std::size_t{256}, std::size_t{1000}, std::size_t{65519}}) {
    bytes plain(len);
    for (std::size_t i = 0; i < len; ++i)
      plain[i] = static_cast<std::uint8_t>(i * 29 + 3);
    bytes expected;
    ASSERT_EQ(crypto::aead_seal(crypto::aead_backend::libsodium, k, noise_nonce(n), as_bytes(ad),
                                plain, expected),
              crypto::aead_status::ok);
    for (const seal_step step :
         {seal_step::init, seal_step::ad, seal_step::update, seal_step::final, seal_step::tag}) {
      SCOPED_TRACE(testing::Message() << "len " << len << ", step " << static_cast<int>(step));
      const bool nothing_written = step == seal_step::init || step == seal_step::ad;
      const crypto::fault::scoped_openssl_seal_failure armed(step);

      bytes buf = plain;
      buf.resize(len + crypto::aead_tag_size);
      const bool sealed = crypto::aead_encrypt_inplace(k, n, as_bytes(ad), buf);
      EXPECT_EQ(sealed, nothing_written);
      if (sealed) {
        EXPECT_EQ(buf, expected) << "the libsodium fallback seals the untouched plaintext";
      } else {
        EXPECT_EQ(buf.size(), len + crypto::aead_tag_size);
        EXPECT_TRUE(all_zero(buf)) << "a refused frame is wiped";
        bytes back;
        EXPECT_NE(crypto::aead_open(crypto::aead_backend::libsodium, k, noise_nonce(n),
                                    as_bytes(ad), buf, back),
                  crypto::aead_status::ok);
      }
      EXPECT_FALSE(leaks_plaintext(buf, plain));

      // The same through the prepared-stream overload (the frame is too long for the stream,
      // which is used up) and the copying form.
      crypto::aead_keystream ks;
      crypto::aead_prepare(k, n, ks);
      bytes buf2 = plain;
      buf2.resize(len + crypto::aead_tag_size);
      EXPECT_EQ(crypto::aead_encrypt_inplace(k, n, as_bytes(ad), buf2, ks), nothing_written);
      EXPECT_FALSE(ks.ready);
      EXPECT_EQ(buf2, buf);

      bytes out{1, 2, 3};
      EXPECT_EQ(crypto::aead_encrypt(k, n, as_bytes(ad), plain, out), nothing_written);
      EXPECT_EQ(out, sealed ? expected : bytes{});

      // The backend named: refused, `out` empty, and libsodium still gives the frame.
      EXPECT_EQ(crypto::aead_seal(crypto::aead_backend::openssl, k, noise_nonce(n), as_bytes(ad),
                                  plain, out),
                crypto::aead_status::unavailable);
      EXPECT_TRUE(out.empty());
    }
    // Disarmed, OpenSSL seals again (and agrees with libsodium).
    bytes buf = plain;
    buf.resize(len + crypto::aead_tag_size);
    ASSERT_TRUE(crypto::aead_encrypt_inplace(k, n, as_bytes(ad), buf));
    EXPECT_EQ(buf, expected);
  }
}

// Frames under 256 bytes never reach OpenSSL: an armed failure point changes nothing for them.
TEST(Crypto, AeadSmallFramesIgnoreOpenSslFailures) {
  ASSERT_TRUE(crypto::init());
  const crypto::aead_key k{};
  const bytes plain(255, 0x42);
  bytes expected;
  ASSERT_TRUE(crypto::aead_encrypt(k, 3, {}, plain, expected));
  const crypto::fault::scoped_openssl_seal_failure armed(crypto::fault::seal_step::update);
  bytes out;
  ASSERT_TRUE(crypto::aead_encrypt(k, 3, {}, plain, out));
  EXPECT_EQ(out, expected);
}

// A buffer without room for the tag is refused before anything is read or written (the
// plaintext length would otherwise wrap to nearly 2^64). Each buffer is its own heap block of
// exactly its size, so that an ASan build (fuzz or asan preset) reports any access past it.
TEST(Crypto, AeadEncryptRefusesABufferWithoutTagRoom) {
  ASSERT_TRUE(crypto::init());
  crypto::aead_key k{};
  k[0] = 9;
  for (std::size_t size = 0; size < crypto::aead_tag_size; ++size) {
    SCOPED_TRACE(testing::Message() << "size " << size);
    for (const std::string_view ad : {std::string_view{}, std::string_view{"ad"}}) {
      const bytes before(size, 0xa5);
      bytes buf = before;
      EXPECT_FALSE(crypto::aead_encrypt_inplace(k, 1, as_bytes(ad), buf));
      EXPECT_EQ(buf, before);

      crypto::aead_keystream ks;
      crypto::aead_prepare(k, 1, ks);
      EXPECT_FALSE(crypto::aead_encrypt_inplace(k, 1, as_bytes(ad), buf, ks));
      EXPECT_EQ(buf, before);
      EXPECT_FALSE(ks.ready) << "used up, as every call uses it up";

      crypto::aead_keystream unprepared;
      EXPECT_FALSE(crypto::aead_encrypt_inplace(k, 1, as_bytes(ad), buf, unprepared));
      EXPECT_EQ(buf, before);
    }
  }
  // Exactly a tag: an empty plaintext, sealed.
  bytes tag_only(crypto::aead_tag_size, 0);
  ASSERT_TRUE(crypto::aead_encrypt_inplace(k, 1, {}, tag_only));
  bytes expected;
  ASSERT_TRUE(crypto::aead_encrypt(k, 1, {}, {}, expected));
  EXPECT_EQ(tag_only, expected);
}

// A key stream serves the key it was made for, not only the nonce: after a rekey the nonce
// starts again at 0, so a stream prepared under the old key for nonce 0 must not be used.
TEST(Crypto, PreparedKeystreamForAnotherKeyIsNotUsed) {
  ASSERT_TRUE(crypto::init());
  crypto::aead_key old_key{}, new_key{};
  old_key.fill(0x01);
  new_key.fill(0x02);
  const bytes plain(44, 0x5c);
  bytes expected;
  ASSERT_TRUE(crypto::aead_encrypt(new_key, 0, {}, plain, expected));

  crypto::aead_keystream ks;
  crypto::aead_prepare(old_key, 0, ks);
  bytes buf = plain;
  buf.resize(plain.size() + crypto::aead_tag_size);
  ASSERT_TRUE(crypto::aead_encrypt_inplace(new_key, 0, {}, buf, ks));
  EXPECT_EQ(buf, expected);
  EXPECT_FALSE(ks.ready);

  crypto::aead_prepare(old_key, 0, ks);
  ASSERT_TRUE(crypto::aead_decrypt_inplace(new_key, 0, {}, buf, ks));
  EXPECT_EQ(bytes(buf.begin(), buf.begin() + 44), plain);
  EXPECT_FALSE(ks.ready);
}
