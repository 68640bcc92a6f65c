// dial::multi_dial (which socket to hand to the handshake next, when a multi-address dial is
// over and with which error) and dial::resolve_duplicate (the simultaneous-dial rule).
#include <gtest/gtest.h>

#include <system_error>
#include <variant>

#include "core/crypto/crypto.hpp"
#include "core/dial/multi_dial.hpp"

using namespace starling;
using dial::multi_dial;

namespace {

const std::error_code no_address = std::make_error_code(std::errc::address_not_available);
const std::error_code refused = std::make_error_code(std::errc::connection_refused);
const std::error_code timed_out = std::make_error_code(std::errc::timed_out);
const std::error_code bad_peer = std::make_error_code(std::errc::permission_denied);

bool waits(const multi_dial::step& s) {
  return std::holds_alternative<multi_dial::wait>(s);
}
std::size_t handshake_on(const multi_dial::step& s) {
  EXPECT_TRUE(std::holds_alternative<multi_dial::start_handshake>(s));
  auto* h = std::get_if<multi_dial::start_handshake>(&s);
  return h ? h->attempt : 999;
}
multi_dial::finish finished(const multi_dial::step& s) {
  EXPECT_TRUE(std::holds_alternative<multi_dial::finish>(s));
  auto* f = std::get_if<multi_dial::finish>(&s);
  return f ? *f : multi_dial::finish{multi_dial::end_reason::connected, {}, 999};
}

multiformats::peer_id fake_id(std::uint8_t n) {
  crypto::ed25519_public pub{};
  pub[0] = n;
  pub[31] = 0x5a;
  return multiformats::peer_id::from_public_key(pub);
}

}  // namespace

TEST(MultiDial, NoAddressesEndsAtOnceWithTheGivenError) {
  multi_dial d(0, no_address);
  auto f = finished(d.next(true, false));
  EXPECT_EQ(f.reason, multi_dial::end_reason::failed);
  EXPECT_EQ(f.error, no_address);
  EXPECT_TRUE(d.finished());
  EXPECT_TRUE(waits(d.next(true, false)));  // only once
}

TEST(MultiDial, WaitsWhileConnectsAreOutstanding) {
  multi_dial d(3, no_address);
  EXPECT_TRUE(waits(d.next(true, false)));
  EXPECT_EQ(d.connecting(), 3u);
  d.on_connect_failed(1, refused);
  EXPECT_TRUE(waits(d.next(true, false)));
  EXPECT_EQ(d.connecting(), 2u);
}

TEST(MultiDial, EveryConnectFailingEndsWithTheLastError) {
  multi_dial d(2, no_address);
  d.on_connect_failed(0, refused);
  EXPECT_TRUE(waits(d.next(true, false)));
  d.on_connect_failed(1, timed_out);
  auto f = finished(d.next(true, false));
  EXPECT_EQ(f.reason, multi_dial::end_reason::failed);
  EXPECT_EQ(f.error, timed_out);
}

TEST(MultiDial, OneHandshakeAtATimeInTheOrderSocketsConnected) {
  multi_dial d(3, no_address);
  EXPECT_TRUE(d.on_connected(2));
  EXPECT_EQ(handshake_on(d.next(true, false)), 2u);
  EXPECT_TRUE(d.on_connected(0));  // waits in reserve behind the running handshake
  EXPECT_TRUE(d.on_connected(1));
  EXPECT_TRUE(waits(d.next(true, false)));
  EXPECT_EQ(d.queued().size(), 2u);
  d.on_handshake_failed(2, bad_peer);  // a stale address pointing at another node
  EXPECT_EQ(handshake_on(d.next(true, false)), 0u);
  d.on_handshake_failed(0, bad_peer);
  EXPECT_EQ(handshake_on(d.next(true, false)), 1u);
  d.on_handshake_done(1);
  auto f = finished(d.next(true, false));
  EXPECT_EQ(f.reason, multi_dial::end_reason::connected);
  EXPECT_EQ(f.attempt, 1u);
  EXPECT_FALSE(f.error);
}

TEST(MultiDial, AHandshakeWinsWhileOtherConnectsAreStillOutstanding) {
  multi_dial d(3, no_address);
  ASSERT_TRUE(d.on_connected(1));
  EXPECT_EQ(handshake_on(d.next(true, false)), 1u);
  d.on_handshake_done(1);
  EXPECT_EQ(finished(d.next(true, false)).reason, multi_dial::end_reason::connected);
  // Late connects are refused: the shell closes those sockets; the result stays.
  EXPECT_FALSE(d.on_connected(0));
  d.on_connect_failed(2, refused);
  EXPECT_TRUE(waits(d.next(true, false)));
  EXPECT_EQ(d.connecting(), 0u);
}

TEST(MultiDial, HandshakeFailureAfterEveryConnectIsDoneEndsWithIt) {
  multi_dial d(2, no_address);
  d.on_connect_failed(0, refused);
  ASSERT_TRUE(d.on_connected(1));
  EXPECT_EQ(handshake_on(d.next(true, false)), 1u);
  d.on_handshake_failed(1, bad_peer);
  auto f = finished(d.next(true, false));
  EXPECT_EQ(f.reason, multi_dial::end_reason::failed);
  EXPECT_EQ(f.error, bad_peer);  // the last error, not the first
}

TEST(MultiDial, NoRoomForTheNextHandshakeEndsTheDial) {
  multi_dial d(2, no_address);
  ASSERT_TRUE(d.on_connected(0));
  ASSERT_TRUE(d.on_connected(1));
  EXPECT_EQ(finished(d.next(false, false)).reason, multi_dial::end_reason::no_room);
  EXPECT_TRUE(d.queued().empty());
}

TEST(MultiDial, NoRoomDoesNotMatterWhileNothingIsQueued) {
  multi_dial d(1, no_address);
  EXPECT_TRUE(waits(d.next(false, false)));
  d.on_connect_failed(0, refused);
  EXPECT_EQ(finished(d.next(false, false)).error, refused);
}

TEST(MultiDial, ShutdownEndsTheDialButNotARunningHandshake) {
  multi_dial d(2, no_address);
  ASSERT_TRUE(d.on_connected(0));
  EXPECT_EQ(handshake_on(d.next(true, false)), 0u);
  // The running handshake ends on its own (the host closes its connection).
  EXPECT_TRUE(waits(d.next(true, true)));
  d.on_handshake_failed(0, bad_peer);
  EXPECT_EQ(finished(d.next(true, true)).reason, multi_dial::end_reason::shutting_down);
}

TEST(MultiDial, ShutdownWithConnectsOutstanding) {
  multi_dial d(2, no_address);
  EXPECT_EQ(finished(d.next(true, true)).reason, multi_dial::end_reason::shutting_down);
  EXPECT_FALSE(d.on_connected(0));
}

TEST(ResolveDuplicate, SameDialerKeepsTheOlder) {
  const auto lo = fake_id(1), hi = fake_id(2);
  ASSERT_LT(lo, hi);
  for (auto dir : {conn::direction::outbound, conn::direction::inbound}) {
    EXPECT_EQ(dial::resolve_duplicate(lo, hi, dir, dir), dial::survivor::older);
    EXPECT_EQ(dial::resolve_duplicate(hi, lo, dir, dir), dial::survivor::older);
  }
}

TEST(ResolveDuplicate, DifferentDialersKeepTheOneDialledByTheSmallerId) {
  const auto lo = fake_id(1), hi = fake_id(2);
  ASSERT_LT(lo, hi);
  using conn::direction;
  // We are `lo`: keep our outbound connection, whichever came first.
  EXPECT_EQ(dial::resolve_duplicate(lo, hi, direction::inbound, direction::outbound),
            dial::survivor::newer);
  EXPECT_EQ(dial::resolve_duplicate(lo, hi, direction::outbound, direction::inbound),
            dial::survivor::older);
  // We are `hi`: keep the inbound one (dialled by lo), whichever came first.
  EXPECT_EQ(dial::resolve_duplicate(hi, lo, direction::outbound, direction::inbound),
            dial::survivor::newer);
  EXPECT_EQ(dial::resolve_duplicate(hi, lo, direction::inbound, direction::outbound),
            dial::survivor::older);
}

TEST(ResolveDuplicate, BothEndsCloseTheSameConnection) {
  // The connection `x` dialled by a is outbound at a and inbound at b; `y` dialled by b is the
  // reverse. Whatever order each end saw them complete in, both keep the same one.
  const auto a = fake_id(7), b = fake_id(3);
  using conn::direction;
  const auto dir_at = [&](bool at_a, bool dialled_by_a) {
    return at_a == dialled_by_a ? direction::outbound : direction::inbound;
  };
  for (bool a_saw_x_first : {true, false}) {
    for (bool b_saw_x_first : {true, false}) {
      auto kept = [&](bool at_a, bool x_first) {
        const auto& me = at_a ? a : b;
        const auto& them = at_a ? b : a;
        const bool older_is_x = x_first;
        auto s =
            dial::resolve_duplicate(me, them, dir_at(at_a, older_is_x), dir_at(at_a, !older_is_x));
        const bool keeps_older = s == dial::survivor::older;
        return keeps_older == older_is_x ? 'x' : 'y';
      };
      EXPECT_EQ(kept(true, a_saw_x_first), kept(false, b_saw_x_first));
      EXPECT_EQ(kept(true, a_saw_x_first), b < a ? 'y' : 'x');
    }
  }
}

TEST(ResolveDuplicate, EqualIdsKeepTheOlder) {
  const auto a = fake_id(4);
  EXPECT_EQ(dial::resolve_duplicate(a, a, conn::direction::inbound, conn::direction::outbound),
            dial::survivor::older);
}
