// libp2p Noise handshake: initiator <-> responder in memory, muxer negotiation, identity checks,
// framing split at every byte, leftover bytes handed to the transport.
#include <gtest/gtest.h>

#include <optional>

#include "core/noise/errc.hpp"
#include "core/noise/libp2p_handshake.hpp"
#include "core/proto/noise_payload.pb.h"

using namespace starling;
using namespace starling::noise;

namespace {

struct pair_result {
  std::error_code init_err, resp_err;
};

class NoiseLibp2p : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::init());
    m_id_i = crypto::ed25519_generate(m_rng_i);
    m_id_r = crypto::ed25519_generate(m_rng_r);
  }

  // Pumps bytes both ways until neither side has anything to send.
  static pair_result run(libp2p_handshake& i, libp2p_handshake& r) {
    pair_result res;
    for (int round = 0; round < 8; ++round) {
      bytes a, b;
      i.poll_transmit(a);
      if (!a.empty() && !res.resp_err) {
        if (auto x = r.feed(a); !x) res.resp_err = x.error();
      }
      r.poll_transmit(b);
      if (!b.empty() && !res.init_err) {
        if (auto x = i.feed(b); !x) res.init_err = x.error();
      }
      if (a.empty() && b.empty()) break;
    }
    return res;
  }

  crypto::seeded_rng m_rng_i{1}, m_rng_r{2};
  crypto::ed25519_keypair m_id_i, m_id_r;
};

libp2p_config muxers(std::vector<std::string> m) {
  libp2p_config c;
  c.muxers = std::move(m);
  return c;
}

}  // namespace

TEST_F(NoiseLibp2p, IdentityKeyEncodingIsTheSpecBytes) {
  crypto::ed25519_public pub{};
  for (std::size_t k = 0; k < pub.size(); ++k)
    pub[k] = static_cast<std::uint8_t>(k);
  const bytes enc = encode_ed25519_public_key(pub);
  ASSERT_EQ(enc.size(), 36u);
  EXPECT_EQ(to_hex(bytes_view(enc).first(4)), "08011220");
  EXPECT_TRUE(std::equal(pub.begin(), pub.end(), enc.begin() + 4));
}

TEST_F(NoiseLibp2p, HandshakeWithoutMuxersAndTransport) {
  libp2p_handshake i(role::initiator, m_id_i, m_rng_i, {});
  libp2p_handshake r(role::responder, m_id_r, m_rng_r, {});
  auto res = run(i, r);
  ASSERT_FALSE(res.init_err) << res.init_err.message();
  ASSERT_FALSE(res.resp_err) << res.resp_err.message();
  ASSERT_TRUE(i.is_complete() && r.is_complete());
  EXPECT_EQ(i.remote_identity(), m_id_r.pub);
  EXPECT_EQ(r.remote_identity(), m_id_i.pub);
  EXPECT_TRUE(i.negotiated_muxer().empty());
  EXPECT_TRUE(r.remote_muxers().empty());
  EXPECT_EQ(i.handshake_hash(), r.handshake_hash());

  auto ti = i.take_transport();
  auto tr = r.take_transport();
  ASSERT_TRUE(ti && tr);
  EXPECT_EQ(i.take_transport().error(), make_error_code(errc::not_complete)) << "taken twice";
  bytes wire, plain;
  ASSERT_TRUE(ti->encrypt(as_bytes("ping"), wire));
  ASSERT_TRUE(tr->feed(wire, plain));
  EXPECT_EQ(as_chars(plain), "ping");
  wire.clear();
  plain.clear();
  ASSERT_TRUE(tr->encrypt(as_bytes("pong"), wire));
  ASSERT_TRUE(ti->feed(wire, plain));
  EXPECT_EQ(as_chars(plain), "pong");

  bytes extra = {0, 1, 2};
  EXPECT_EQ(i.feed(extra).error(), make_error_code(errc::already_complete));
}

TEST_F(NoiseLibp2p, MuxerNegotiation) {
  struct tc {
    std::vector<std::string> init, resp;
    std::string expect;
    bool fails;
  };
  const std::vector<tc> cases = {
      {{}, {}, "", false},
      {{"/yamux/1.0.0"}, {"/yamux/1.0.0"}, "/yamux/1.0.0", false},
      {{"/yamux/1.0.0"}, {}, "", false},
      {{}, {"/yamux/1.0.0"}, "", false},
      // The initiator's order decides (inlined-muxer-negotiation spec example).
      {{"/yamux/1.0.0", "/mplex/6.7.0"}, {"/mplex/6.7.0", "/yamux/1.0.0"}, "/yamux/1.0.0", false},
      {{"/mplex/6.7.0"}, {"/yamux/1.0.0"}, "", true},
  };
  for (const auto& c : cases) {
    crypto::seeded_rng ri(11), rr(12);
    libp2p_handshake i(role::initiator, m_id_i, ri, muxers(c.init));
    libp2p_handshake r(role::responder, m_id_r, rr, muxers(c.resp));
    auto res = run(i, r);
    if (c.fails) {
      EXPECT_EQ(res.init_err, make_error_code(errc::no_common_muxer));
      EXPECT_FALSE(i.is_complete());
      EXPECT_FALSE(r.is_complete()) << "the initiator never sends message 3";
      continue;
    }
    ASSERT_FALSE(res.init_err || res.resp_err);
    EXPECT_EQ(i.negotiated_muxer(), c.expect);
    EXPECT_EQ(r.negotiated_muxer(), c.expect);
    EXPECT_EQ(i.remote_muxers(), c.resp);
    EXPECT_EQ(r.remote_muxers(), c.init);
  }
}

TEST_F(NoiseLibp2p, ExpectedPeerMismatch) {
  libp2p_config ci;
  ci.expected_remote = m_id_i.pub;  // wrong: we expect ourselves
  libp2p_handshake i(role::initiator, m_id_i, m_rng_i, ci);
  libp2p_handshake r(role::responder, m_id_r, m_rng_r, {});
  auto res = run(i, r);
  EXPECT_EQ(res.init_err, make_error_code(errc::peer_id_mismatch));
  EXPECT_EQ(i.error(), make_error_code(errc::peer_id_mismatch));
  EXPECT_FALSE(i.take_transport());
  bytes more = {0};
  EXPECT_EQ(i.feed(more).error(), make_error_code(errc::peer_id_mismatch)) << "errors are sticky";

  libp2p_config ok;
  ok.expected_remote = m_id_r.pub;
  crypto::seeded_rng a(3), b(4);
  libp2p_handshake i2(role::initiator, m_id_i, a, ok);
  libp2p_handshake r2(role::responder, m_id_r, b, {});
  auto res2 = run(i2, r2);
  EXPECT_FALSE(res2.init_err || res2.resp_err);
  EXPECT_TRUE(i2.is_complete());
}

TEST_F(NoiseLibp2p, TamperedMessage2FailsDecryption) {
  libp2p_handshake i(role::initiator, m_id_i, m_rng_i, {});
  libp2p_handshake r(role::responder, m_id_r, m_rng_r, {});
  bytes m1, m2;
  i.poll_transmit(m1);
  ASSERT_TRUE(r.feed(m1));
  r.poll_transmit(m2);
  ASSERT_GT(m2.size(), 100u);
  m2[m2.size() - 20] ^= 0x40;
  EXPECT_EQ(i.feed(m2).error(), make_error_code(errc::decrypt_failed));
}

TEST_F(NoiseLibp2p, FramesSplitAtEveryByteBoundary) {
  // Record one deterministic run, then replay message 2 and message 3 split at every offset.
  const auto make = [&](crypto::seeded_rng& a, crypto::seeded_rng& b) {
    return std::pair{libp2p_handshake(role::initiator, m_id_i, a, muxers({"/yamux/1.0.0"})),
                     libp2p_handshake(role::responder, m_id_r, b, muxers({"/yamux/1.0.0"}))};
  };
  crypto::seeded_rng a0(21), b0(22);
  auto [i0, r0] = make(a0, b0);
  bytes m1, m2, m3;
  i0.poll_transmit(m1);
  ASSERT_TRUE(r0.feed(m1));
  r0.poll_transmit(m2);
  ASSERT_TRUE(i0.feed(m2));
  i0.poll_transmit(m3);
  for (std::size_t k = 0; k <= m2.size(); ++k) {
    crypto::seeded_rng a(21), b(22);
    auto [i, r] = make(a, b);
    bytes x;
    i.poll_transmit(x);
    ASSERT_TRUE(r.feed(x));
    ASSERT_TRUE(i.feed(bytes_view(m2).first(k)));
    bytes none;
    i.poll_transmit(none);
    ASSERT_TRUE(k == m2.size() || none.empty()) << "nothing before message 2 is whole";
    ASSERT_TRUE(i.feed(bytes_view(m2).subspan(k)));
    ASSERT_TRUE(i.is_complete()) << k;
  }
  for (std::size_t k = 0; k <= m3.size(); ++k) {
    crypto::seeded_rng a(21), b(22);
    auto [i, r] = make(a, b);
    bytes x;
    i.poll_transmit(x);
    ASSERT_TRUE(r.feed(x));
    ASSERT_TRUE(r.feed(bytes_view(m3).first(k)));
    ASSERT_EQ(r.is_complete(), k == m3.size()) << "complete only once message 3 is whole";
    bytes y;
    r.poll_transmit(y);
    ASSERT_EQ(y, m2) << "deterministic rng, same message 2";
    ASSERT_TRUE(r.feed(bytes_view(m3).subspan(k))) << k;
    ASSERT_TRUE(r.is_complete()) << k;
    EXPECT_EQ(r.negotiated_muxer(), "/yamux/1.0.0");
  }
}

TEST_F(NoiseLibp2p, BytesAfterLastMessageReachTheTransport) {
  libp2p_handshake i(role::initiator, m_id_i, m_rng_i, {});
  libp2p_handshake r(role::responder, m_id_r, m_rng_r, {});
  bytes m1, m2, m3;
  i.poll_transmit(m1);
  ASSERT_TRUE(r.feed(m1));
  r.poll_transmit(m2);
  ASSERT_TRUE(i.feed(m2));
  i.poll_transmit(m3);
  auto ti = i.take_transport();
  ASSERT_TRUE(ti);
  // The initiator sends message 3 and two transport frames (one split) in one TCP segment.
  ASSERT_TRUE(ti->encrypt(as_bytes("early one"), m3));
  bytes second;
  ASSERT_TRUE(ti->encrypt(as_bytes("early two"), second));
  append(m3, bytes_view(second).first(5));
  ASSERT_TRUE(r.feed(m3));
  ASSERT_TRUE(r.is_complete());
  auto tr = r.take_transport();
  ASSERT_TRUE(tr);
  EXPECT_TRUE(tr->has_buffered_input());
  bytes plain;
  ASSERT_TRUE(tr->feed({}, plain));
  EXPECT_EQ(as_chars(plain), "early one");
  ASSERT_TRUE(tr->feed(bytes_view(second).subspan(5), plain));
  EXPECT_EQ(as_chars(plain), "early oneearly two");
}

TEST_F(NoiseLibp2p, OversizedFrameAndGarbage) {
  libp2p_config small;
  small.max_message_size = 100;
  libp2p_handshake r(role::responder, m_id_r, m_rng_r, small);
  bytes big = {0x01, 0x00};  // 256 > 100
  EXPECT_EQ(r.feed(big).error(), make_error_code(errc::oversized_frame));

  libp2p_handshake r2(role::responder, m_id_r, m_rng_r, {});
  bytes tiny = {0x00, 0x05, 1, 2, 3, 4, 5};  // too short for an ephemeral key
  EXPECT_EQ(r2.feed(tiny).error(), make_error_code(errc::message_too_short));
  EXPECT_FALSE(r2.take_transport());
}

// Builds a responder that sends a hand-made payload in message 2, to test payload checks.
namespace {
class forged_responder {
 public:
  forged_responder(crypto::rng& r) {
    handshake_config c;
    c.protocol_name = libp2p_protocol_name;
    c.initiator = false;
    c.local_static = crypto::x25519_generate(r);
    m_hs.emplace(handshake_state::create(c, r).value());
  }
  bytes answer(bytes_view m1, const std::string& payload) {
    bytes p, out;
    EXPECT_TRUE(m_hs->read_message(bytes_view(m1).subspan(2), p));
    EXPECT_TRUE(m_hs->write_message(as_bytes(payload), out));
    bytes framed = {static_cast<std::uint8_t>(out.size() >> 8),
                    static_cast<std::uint8_t>(out.size())};
    append(framed, out);
    return framed;
  }
  const crypto::x25519_key& static_pub() const { return m_hs->local_static()->pub; }

 private:
  std::optional<handshake_state> m_hs;
};

std::string payload_for(const crypto::ed25519_keypair& id, bytes key, bytes_view signed_msg,
                        bool corrupt_sig) {
  pb::NoiseHandshakePayload p;
  p.set_identity_key(key.data(), key.size());
  auto sig = crypto::ed25519_sign(id, signed_msg);
  if (corrupt_sig) sig[0] ^= 1;
  p.set_identity_sig(sig.data(), sig.size());
  return p.SerializeAsString();
}
}  // namespace

TEST_F(NoiseLibp2p, PayloadChecks) {
  const auto attempt = [&](auto make_payload) {
    crypto::seeded_rng ri(31), rr(32);
    libp2p_handshake i(role::initiator, m_id_i, ri, {});
    forged_responder f(rr);
    bytes m1;
    i.poll_transmit(m1);
    bytes sd;
    append(sd, as_bytes(libp2p_signature_prefix));
    append(sd, f.static_pub());
    auto r = i.feed(f.answer(m1, make_payload(sd)));
    return r ? std::error_code{} : r.error();
  };
  const bytes good_key = encode_ed25519_public_key(m_id_r.pub);
  EXPECT_FALSE(attempt([&](bytes_view sd) { return payload_for(m_id_r, good_key, sd, false); }));
  EXPECT_EQ(attempt([&](bytes_view sd) { return payload_for(m_id_r, good_key, sd, true); }),
            make_error_code(errc::bad_signature));
  // Signed by another identity than the one presented.
  EXPECT_EQ(attempt([&](bytes_view sd) { return payload_for(m_id_i, good_key, sd, false); }),
            make_error_code(errc::bad_signature));
  // Signature over the wrong static key.
  EXPECT_EQ(
      attempt([&](bytes_view) { return payload_for(m_id_r, good_key, as_bytes("x"), false); }),
      make_error_code(errc::bad_signature));
  bytes secp = good_key;
  secp[1] = 2;  // KeyType Secp256k1
  EXPECT_EQ(attempt([&](bytes_view sd) { return payload_for(m_id_r, secp, sd, false); }),
            make_error_code(errc::unsupported_key_type));
  bytes short_key(good_key.begin(), good_key.end() - 1);
  short_key[3] = 31;
  EXPECT_EQ(attempt([&](bytes_view sd) { return payload_for(m_id_r, short_key, sd, false); }),
            make_error_code(errc::malformed_payload));
  EXPECT_EQ(attempt([&](bytes_view) { return std::string("\xff\xff\xff", 3); }),
            make_error_code(errc::malformed_payload));
  EXPECT_EQ(attempt([&](bytes_view) { return std::string(); }),
            make_error_code(errc::malformed_payload))
      << "empty identity key";
}

// The membership proof rides in extensions.starling_membership both ways; a side that sends
// none is seen as sending nothing, and the muxer list beside it is unaffected.
TEST_F(NoiseLibp2p, MembershipFieldTravelsBothWays) {
  libp2p_config ci = muxers({"/yamux/1.0.0"}), cr = muxers({"/yamux/1.0.0"});
  ci.membership = bytes{1, 2, 3};
  cr.membership = bytes(max_membership_size, 0x5a);
  libp2p_handshake i(role::initiator, m_id_i, m_rng_i, ci);
  libp2p_handshake r(role::responder, m_id_r, m_rng_r, cr);
  const auto res = run(i, r);
  ASSERT_FALSE(res.init_err);
  ASSERT_FALSE(res.resp_err);
  ASSERT_TRUE(i.is_complete() && r.is_complete());
  EXPECT_EQ(r.remote_membership(), (bytes{1, 2, 3}));
  EXPECT_EQ(i.remote_membership(), bytes(max_membership_size, 0x5a));
  EXPECT_EQ(i.negotiated_muxer(), "/yamux/1.0.0");

  libp2p_handshake i2(role::initiator, m_id_i, m_rng_i, muxers({}));
  libp2p_handshake r2(role::responder, m_id_r, m_rng_r, cr);
  ASSERT_FALSE(run(i2, r2).init_err);
  ASSERT_TRUE(r2.is_complete());
  EXPECT_TRUE(r2.remote_membership().empty());
}

// A membership field over the limit is refused like any malformed payload.
TEST_F(NoiseLibp2p, OversizedMembershipFieldIsRefused) {
  libp2p_config cr;
  cr.membership = bytes(max_membership_size + 1, 1);
  libp2p_handshake i(role::initiator, m_id_i, m_rng_i, {});
  libp2p_handshake r(role::responder, m_id_r, m_rng_r, cr);
  const auto res = run(i, r);
  EXPECT_EQ(res.init_err, make_error_code(errc::malformed_payload));
  EXPECT_FALSE(i.is_complete());
}
