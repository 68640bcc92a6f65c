// The setup code (member/invite_code.hpp) and the join protocol cores (member/join.hpp): a
// joiner and an invite_book wired back to back, bytes passed by hand, a fake clock.
#include <gtest/gtest.h>

#include <cctype>
#include <set>

#include "core/member/invite_code.hpp"
#include "core/member/join.hpp"

using namespace starling;
using namespace starling::member;
using namespace std::chrono_literals;

namespace {

const time_point t0 = time_point{} + 1000h;

struct fixture_keys {
  public_key inviter{}, joiner{}, relay{};
  fixture_keys() {
    crypto::seeded_rng r(1);
    inviter = crypto::ed25519_generate(r).pub;
    joiner = crypto::ed25519_generate(r).pub;
    relay = crypto::ed25519_generate(r).pub;
  }
};

class MemberJoin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  fixture_keys k;
  crypto::seeded_rng rng{42};
};

invite_code parse_ok(const std::string& text) {
  auto c = parse_invite_code(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c ? *c : invite_code{};
}

struct run_result {
  std::optional<joiner_event> joiner_ev;
  std::vector<inviter_event> inviter_evs;
};

// Runs one attempt: joiner with `code` (expecting inviter key `seen_inviter`) against `book`,
// whose session sees the joiner as `seen_joiner`. Grants `grant` on confirmation.
run_result run(invite_book& book, const invite_code& code, const public_key& joiner_key,
               const public_key& seen_inviter, const public_key& seen_joiner, time_point now,
               crypto::rng& r, bytes_view grant = as_bytes("certificate+log")) {
  run_result out;
  joiner j;
  auto hello = j.start(code, joiner_key, seen_inviter, r);
  EXPECT_TRUE(hello.has_value());
  if (!hello) return out;
  auto sid = book.open_session(seen_joiner, now);
  EXPECT_TRUE(sid.has_value());
  bytes to_inviter = *hello, to_joiner;
  for (int round = 0; round < 6 && !(j.finished()); ++round) {
    if (!to_inviter.empty()) {
      auto st = book.feed(*sid, to_inviter, now, r);
      to_inviter.clear();
      if (st) {
        to_joiner = st->out;
        if (st->event) {
          out.inviter_evs.push_back(*st->event);
          if (std::holds_alternative<join_confirmed>(*st->event)) {
            auto g = book.grant(*sid, grant);
            EXPECT_TRUE(g.has_value());
            if (g) append(to_joiner, *g);
          }
        }
      }
    }
    if (to_joiner.empty()) break;
    auto js = j.feed(to_joiner);
    to_joiner.clear();
    EXPECT_TRUE(js.has_value());
    if (!js) break;
    to_inviter = js->out;
    if (js->event) out.joiner_ev = js->event;
  }
  // A joiner's last message (its abort) reaches the inviter too.
  if (!to_inviter.empty()) {
    auto st = book.feed(*sid, to_inviter, now, r);
    if (st && st->event) out.inviter_evs.push_back(*st->event);
  }
  book.close_session(*sid, now);
  return out;
}

std::optional<refusal> last_refusal(const run_result& r) {
  for (auto it = r.inviter_evs.rbegin(); it != r.inviter_evs.rend(); ++it)
    if (auto* f = std::get_if<join_refused>(&*it)) return f->why;
  return std::nullopt;
}

bool joiner_failed_with(const run_result& r, join_errc e) {
  if (!r.joiner_ev) return false;
  auto* f = std::get_if<join_failed>(&*r.joiner_ev);
  return f && f->why == make_error_code(e);
}

// Issues an invite in `book` and runs `j` and a new session up to the inviter's
// join_confirmed (checked); returns the session.
session_id confirm_session(invite_book& book, joiner& j, const fixture_keys& k, crypto::rng& r) {
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, r));
  const auto sid = *book.open_session(k.joiner, t0);
  auto st = book.feed(sid, *j.start(code, k.joiner, k.inviter, r), t0, r);
  st = book.feed(sid, j.feed(st->out)->out, t0, r);
  EXPECT_TRUE(st->event && std::holds_alternative<join_confirmed>(*st->event));
  return sid;
}

invite_code wrong_secret(invite_code c) {
  c.secret[0] ^= 0x01;
  return c;
}

}  // namespace

// ---- the code ----

TEST_F(MemberJoin, CodeRoundTripAndFormat) {
  for (int i = 0; i < 200; ++i) {
    const auto c = make_invite_code(k.inviter, static_cast<std::uint8_t>(i), rng);
    const auto text = to_string(c);
    ASSERT_EQ(text.size(), 24u);
    for (std::size_t p = 4; p < 24; p += 5)
      EXPECT_EQ(text[p], '-');
    EXPECT_EQ(c.hint, hint_of(k.inviter));
    EXPECT_EQ(c.slot, i % 32);
    EXPECT_EQ(c.secret[8] & 0x3f, 0);
    EXPECT_EQ(parse_ok(text), c) << text;
  }
  const auto h = crypto::sha256(k.inviter);
  EXPECT_EQ(hint_of(k.inviter), (inviter_hint{h[0], h[1], h[2]}));
}

TEST_F(MemberJoin, CodeParsingIsForgiving) {
  const auto c = make_invite_code(k.inviter, 5, rng);
  const auto text = to_string(c);
  std::string lower, spaced, nodash;
  for (char ch : text) {
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    spaced += ch == '-' ? ' ' : ch;
    if (ch != '-') nodash += ch;
  }
  EXPECT_EQ(parse_ok(lower), c);
  EXPECT_EQ(parse_ok(spaced), c);
  EXPECT_EQ(parse_ok(nodash), c);
  EXPECT_EQ(parse_ok("  " + text + " "), c);
  // I and L read as 1, O as 0.
  std::string confusable = text;
  for (char& ch : confusable) {
    if (ch == '1') ch = 'l';
    if (ch == '0') ch = 'O';
  }
  EXPECT_EQ(parse_ok(confusable), c);
}

TEST_F(MemberJoin, CodeParsingSaysWhatIsWrong) {
  const auto text = to_string(make_invite_code(k.inviter, 1, rng));
  auto r = parse_invite_code(text.substr(0, 23));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, code_errc::bad_length);
  EXPECT_EQ(r.error().position, 19u);
  EXPECT_NE(r.error().message().find("19"), std::string::npos);

  std::string bad = text;
  bad[6] = 'U';  // U is not in Crockford's alphabet
  r = parse_invite_code(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, code_errc::bad_character);
  EXPECT_EQ(r.error().position, 6u);
  EXPECT_NE(r.error().message().find("character 7"), std::string::npos);

  r = parse_invite_code("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, code_errc::bad_length);
  r = parse_invite_code(text + "A");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, code_errc::bad_length);
  EXPECT_EQ(std::error_code(r.error()), make_error_code(code_errc::bad_length));
}

// The Damm operation is a quasigroup (each row and column a permutation) and totally
// anti-symmetric ((c*x)*y == (c*y)*x implies x == y): exhaustively over GF(32).
TEST_F(MemberJoin, DammTableIsTotallyAntiSymmetricQuasigroup) {
  for (unsigned a = 0; a < 32; ++a) {
    std::set<unsigned> row, col;
    for (unsigned b = 0; b < 32; ++b) {
      row.insert(detail::damm_op(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)));
      col.insert(detail::damm_op(static_cast<std::uint8_t>(b), static_cast<std::uint8_t>(a)));
    }
    EXPECT_EQ(row.size(), 32u);
    EXPECT_EQ(col.size(), 32u);
  }
  for (unsigned c = 0; c < 32; ++c)
    for (unsigned x = 0; x < 32; ++x)
      for (unsigned y = 0; y < 32; ++y) {
        if (x == y) continue;
        const auto cx = detail::damm_op(static_cast<std::uint8_t>(c), static_cast<std::uint8_t>(x));
        const auto cy = detail::damm_op(static_cast<std::uint8_t>(c), static_cast<std::uint8_t>(y));
        ASSERT_NE(detail::damm_op(cx, static_cast<std::uint8_t>(y)),
                  detail::damm_op(cy, static_cast<std::uint8_t>(x)));
      }
}

// Every single substitution and every adjacent swap of a code's 20 symbols, check symbol
// included, fails the check (on 300 random codes).
TEST_F(MemberJoin, CheckCatchesEverySubstitutionAndAdjacentSwap) {
  const std::string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::size_t substitutions = 0, swaps = 0;
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (char ch : to_string(make_invite_code(crypto::ed25519_generate(rng).pub,
                                              static_cast<std::uint8_t>(i), rng)))
      if (ch != '-') s += ch;
    ASSERT_EQ(s.size(), 20u);
    for (std::size_t p = 0; p < s.size(); ++p)
      for (char alt : alphabet) {
        if (alt == s[p]) continue;
        std::string t = s;
        t[p] = alt;
        auto r = parse_invite_code(t);
        ASSERT_FALSE(r) << s << " -> " << t;
        ASSERT_EQ(r.error().code, code_errc::check_failed);
        ++substitutions;
      }
    for (std::size_t p = 0; p + 1 < s.size(); ++p) {
      if (s[p] == s[p + 1]) continue;
      std::string t = s;
      std::swap(t[p], t[p + 1]);
      auto r = parse_invite_code(t);
      ASSERT_FALSE(r) << s << " -> " << t;
      ASSERT_EQ(r.error().code, code_errc::check_failed);
      ++swaps;
    }
  }
  EXPECT_EQ(substitutions, 300u * 20 * 31);
  EXPECT_GT(swaps, 300u * 19 * 9 / 10);
}

// ---- the protocol ----

TEST_F(MemberJoin, FullRunGrantsOnceAndTheCodeIsGone) {
  invite_book book(k.inviter);
  auto text = book.issue("sensor", t0 + 10min, t0, rng);
  ASSERT_TRUE(text);
  EXPECT_EQ(book.open_invites(t0), 1u);
  const auto code = parse_ok(*text);
  const bytes grant = {1, 2, 3, 4, 5};
  auto r = run(book, code, k.joiner, k.inviter, k.joiner, t0 + 1min, rng, grant);
  ASSERT_TRUE(r.joiner_ev);
  auto* g = std::get_if<join_granted>(&*r.joiner_ev);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->grant, grant);
  ASSERT_EQ(r.inviter_evs.size(), 1u);
  auto* c = std::get_if<join_confirmed>(&r.inviter_evs[0]);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->joiner, k.joiner);
  EXPECT_EQ(c->role, "sensor");
  EXPECT_EQ(book.open_invites(t0 + 1min), 0u);
  EXPECT_EQ(book.open_sessions(), 0u);

  // Single use: the same code again fails on both sides.
  auto again = run(book, code, k.joiner, k.inviter, k.joiner, t0 + 2min, rng);
  EXPECT_TRUE(joiner_failed_with(again, join_errc::wrong_code));
  EXPECT_EQ(last_refusal(again), refusal::used);
}

TEST_F(MemberJoin, WrongCodeFailsBothSidesAndBurnsAfterThree) {
  invite_book book(k.inviter);
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  for (int i = 0; i < 3; ++i) {
    auto r = run(book, wrong_secret(code), k.joiner, k.inviter, k.joiner, t0, rng);
    EXPECT_TRUE(joiner_failed_with(r, join_errc::wrong_code));
    EXPECT_EQ(last_refusal(r), refusal::wrong_code);
  }
  EXPECT_EQ(book.open_invites(t0), 0u);
  // Burnt: even the right code fails now, and the joiner sees only wrong_code.
  auto r = run(book, code, k.joiner, k.inviter, k.joiner, t0, rng);
  EXPECT_TRUE(joiner_failed_with(r, join_errc::wrong_code));
  EXPECT_EQ(last_refusal(r), refusal::burnt);
}

TEST_F(MemberJoin, TwoWrongThenRightSucceeds) {
  invite_book book(k.inviter);
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(
        joiner_failed_with(run(book, wrong_secret(code), k.joiner, k.inviter, k.joiner, t0, rng),
                           join_errc::wrong_code));
  auto r = run(book, code, k.joiner, k.inviter, k.joiner, t0, rng);
  ASSERT_TRUE(r.joiner_ev);
  EXPECT_TRUE(std::holds_alternative<join_granted>(*r.joiner_ev));
}

TEST_F(MemberJoin, ExpiryWithFakeClock) {
  invite_book book(k.inviter);
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  EXPECT_EQ(book.open_invites(t0 + 10min - 1ns), 1u);
  EXPECT_EQ(book.open_invites(t0 + 10min), 0u);
  auto r = run(book, code, k.joiner, k.inviter, k.joiner, t0 + 10min, rng);
  EXPECT_TRUE(joiner_failed_with(r, join_errc::wrong_code));
  EXPECT_EQ(last_refusal(r), refusal::expired);
  EXPECT_EQ(book.issue("member", t0, t0, rng).error(), make_error_code(join_errc::bad_expiry));
}

TEST_F(MemberJoin, RelayWithOtherPeerKeysFails) {
  invite_book book(k.inviter);
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  // The relay passes the code's hint check only if it claims the inviter's key: a relay that
  // terminates Noise shows the joiner its own key, which the hint refuses...
  joiner j;
  EXPECT_EQ(j.start(code, k.joiner, k.relay, rng).error(),
            make_error_code(join_errc::wrong_inviter));
  // ...and if the joiner is told the right inviter key but the inviter sees the relay's key
  // (the relay's Noise session with it), the channel identifiers differ.
  auto r = run(book, code, k.joiner, k.inviter, k.relay, t0, rng);
  EXPECT_TRUE(joiner_failed_with(r, join_errc::wrong_code));
  EXPECT_EQ(last_refusal(r), refusal::wrong_code);
}

TEST_F(MemberJoin, UnknownSlotAndOtherInviterLookLikeWrongCode) {
  invite_book book(k.inviter);
  auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  code.slot = static_cast<std::uint8_t>((code.slot + 1) % 32);
  auto r = run(book, code, k.joiner, k.inviter, k.joiner, t0, rng);
  EXPECT_TRUE(joiner_failed_with(r, join_errc::wrong_code));
  EXPECT_EQ(last_refusal(r), refusal::unknown);
  EXPECT_EQ(book.open_invites(t0), 1u);  // not charged to the real invite
}

TEST_F(MemberJoin, GlobalFailureBudgetPerMinute) {
  invite_limits lim;
  lim.failures_per_minute = 4;
  lim.max_attempts = 100;
  invite_book book(k.inviter, lim);
  const auto code = parse_ok(*book.issue("member", t0 + 1h, t0, rng));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(last_refusal(run(book, wrong_secret(code), k.joiner, k.inviter, k.joiner, t0, rng)),
              refusal::wrong_code);
  // The budget is spent: even the right code is refused within this minute...
  auto r = run(book, code, k.joiner, k.inviter, k.joiner, t0 + 30s, rng);
  EXPECT_EQ(last_refusal(r), refusal::rate_limited);
  EXPECT_TRUE(joiner_failed_with(r, join_errc::wrong_code));
  // ...and accepted in the next one.
  r = run(book, code, k.joiner, k.inviter, k.joiner, t0 + 61s, rng);
  ASSERT_TRUE(r.joiner_ev);
  EXPECT_TRUE(std::holds_alternative<join_granted>(*r.joiner_ev));
}

TEST_F(MemberJoin, OpenInviteAndSessionLimits) {
  invite_limits lim;
  lim.max_open_invites = 2;
  lim.max_sessions = 2;
  invite_book book(k.inviter, lim);
  ASSERT_TRUE(book.issue("a", t0 + 1min, t0, rng));
  ASSERT_TRUE(book.issue("b", t0 + 1min, t0, rng));
  EXPECT_EQ(book.issue("c", t0 + 1min, t0, rng).error(),
            make_error_code(join_errc::too_many_invites));
  EXPECT_TRUE(book.issue("c", t0 + 2min, t0 + 1min, rng));  // the first two expired
  ASSERT_TRUE(book.open_session(k.joiner, t0));
  ASSERT_TRUE(book.open_session(k.joiner, t0));
  EXPECT_EQ(book.open_session(k.joiner, t0).error(), make_error_code(join_errc::busy));
  EXPECT_EQ(book.feed(session_id{999}, {}, t0, rng).error(),
            make_error_code(join_errc::unknown_session));
}

TEST_F(MemberJoin, RevokedCodeIsUnknown) {
  invite_book book(k.inviter);
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  EXPECT_FALSE(book.revoke(wrong_secret(code)));
  EXPECT_TRUE(book.revoke(code));
  EXPECT_EQ(last_refusal(run(book, code, k.joiner, k.inviter, k.joiner, t0, rng)),
            refusal::unknown);
}

TEST_F(MemberJoin, BytesSplitAnywhereStillWork) {
  invite_book book(k.inviter);
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  joiner j;
  auto hello = j.start(code, k.joiner, k.inviter, rng);
  ASSERT_TRUE(hello);
  auto sid = *book.open_session(k.joiner, t0);
  inviter_step st;
  for (std::uint8_t b : *hello) {
    auto s = book.feed(sid, bytes_view(&b, 1), t0, rng);
    ASSERT_TRUE(s);
    append(st.out, s->out);
  }
  ASSERT_FALSE(st.out.empty());
  bytes to_inviter;
  for (std::uint8_t b : st.out) {
    auto s = j.feed(bytes_view(&b, 1));
    ASSERT_TRUE(s);
    append(to_inviter, s->out);
  }
  auto s = book.feed(sid, to_inviter, t0, rng);
  ASSERT_TRUE(s && s->event);
  EXPECT_TRUE(std::holds_alternative<join_confirmed>(*s->event));
  auto g = book.grant(sid, as_bytes("x"));
  ASSERT_TRUE(g);
  auto done = j.feed(*g);
  ASSERT_TRUE(done && done->event);
  EXPECT_EQ(std::get<join_granted>(*done->event).grant, bytes{'x'});
  EXPECT_EQ(j.feed(*g).error(), make_error_code(join_errc::bad_state));
}

TEST_F(MemberJoin, TruncatedAndGarbageMessagesAreRefused) {
  invite_book book(k.inviter);
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  joiner j0;
  const bytes hello = *j0.start(code, k.joiner, k.inviter, rng);

  // A hello with a byte missing inside a complete frame: malformed, refused.
  bytes cut(hello.begin() + 1, hello.end() - 1);
  bytes short_frame = {static_cast<std::uint8_t>(cut.size())};
  append(short_frame, cut);
  auto sid = *book.open_session(k.joiner, t0);
  auto st = book.feed(sid, short_frame, t0, rng);
  ASSERT_TRUE(st && st->event);
  EXPECT_EQ(std::get<join_refused>(*st->event).why, refusal::protocol);
  EXPECT_EQ(book.open_sessions(), 0u);

  // A frame announcing more than the limit: refused at once.
  sid = *book.open_session(k.joiner, t0);
  const bytes huge = {0xff, 0xff, 0xff, 0x7f};
  st = book.feed(sid, huge, t0, rng);
  ASSERT_TRUE(st && st->event);
  EXPECT_EQ(std::get<join_refused>(*st->event).why, refusal::protocol);

  // An identity point as Ya, wrong version, wrong type.
  for (int variant = 0; variant < 3; ++variant) {
    bytes h = hello;
    if (variant == 0) std::fill(h.end() - 32, h.end(), 0);
    if (variant == 1) h[1] = 2;
    if (variant == 2) h[2] = 3;
    sid = *book.open_session(k.joiner, t0);
    st = book.feed(sid, h, t0, rng);
    ASSERT_TRUE(st && st->event) << variant;
    EXPECT_EQ(std::get<join_refused>(*st->event).why, refusal::protocol);
  }
  EXPECT_EQ(book.open_invites(t0), 1u);  // one attempt counted (the invalid point): still open

  // The joiner: garbage instead of a challenge.
  joiner j;
  ASSERT_TRUE(j.start(code, k.joiner, k.inviter, rng));
  auto js = j.feed(bytes{5, 1, 3, 3, 4, 5});  // a confirm where a challenge belongs
  ASSERT_TRUE(js && js->event);
  EXPECT_EQ(std::get<join_failed>(*js->event).why, make_error_code(join_errc::unexpected_message));
  EXPECT_FALSE(js->out.empty());  // it tells the inviter
  joiner j2;
  EXPECT_EQ(j2.feed(bytes{1}).error(), make_error_code(join_errc::bad_state));
  ASSERT_TRUE(j2.start(code, k.joiner, k.inviter, rng));
  bytes chal = {66, 1, 2};
  chal.resize(67, 0);  // an identity Yb
  js = j2.feed(chal);
  ASSERT_TRUE(js && js->event);
  EXPECT_EQ(std::get<join_failed>(*js->event).why, make_error_code(join_errc::invalid_point));
}

TEST_F(MemberJoin, TamperedGrantIsRefused) {
  invite_book book(k.inviter);
  joiner j;
  const auto sid = confirm_session(book, j, k, rng);
  EXPECT_EQ(book.grant(sid, bytes(max_grant_size + 1)).error(),
            make_error_code(join_errc::grant_too_large));
  bytes g = *book.grant(sid, as_bytes("cert"));
  g.back() ^= 1;
  const auto js = j.feed(g);
  ASSERT_TRUE(js && js->event);
  EXPECT_EQ(std::get<join_failed>(*js->event).why, make_error_code(join_errc::bad_grant));
}

TEST_F(MemberJoin, ConfirmedButNotGrantedGivesTheInviteBack) {
  invite_book book(k.inviter);
  joiner j;
  const auto sid = confirm_session(book, j, k, rng);
  EXPECT_EQ(book.open_invites(t0), 0u);
  auto abort = book.close_session(sid, t0);
  ASSERT_TRUE(abort);
  auto js = j.feed(*abort);
  ASSERT_TRUE(js && js->event);
  EXPECT_EQ(std::get<join_failed>(*js->event).why, make_error_code(join_errc::refused));
  EXPECT_EQ(book.open_invites(t0), 1u);
}

// ---- what a refused attempt shows ----

namespace {

// One message on the wire, seen from outside: who sent it, its size, its bytes when they are
// not random (aborts), and whether the inviter's session was still open after it.
struct wire_message {
  bool from_inviter = false;
  std::size_t size = 0;
  bytes fixed;
  bool session_open = false;
  friend bool operator==(const wire_message&, const wire_message&) = default;
};

struct transcript {
  std::vector<wire_message> wire;
  std::optional<refusal> why;
};

// A fake joiner that sends a confirm whatever the challenge says (it skips its own tag check,
// as a prober would), or an honest joiner that aborts when the tag is wrong.
transcript probe(invite_book& book, const invite_code& code, const fixture_keys& k, time_point now,
                 crypto::rng& r, bool confirm_anyway) {
  transcript t;
  auto note = [&](bool from_inviter, const bytes& b) {
    if (b.empty()) return;
    const bool fixed = b.size() == 4;  // an abort: uvarint 3, version, type 5, reason
    t.wire.push_back({from_inviter, b.size(), fixed ? b : bytes{}, book.open_sessions() == 1});
  };
  auto take_event = [&](const std::optional<inviter_event>& ev) {
    if (!ev) return;
    if (const auto* f = std::get_if<join_refused>(&*ev)) t.why = f->why;
  };
  joiner j;
  const bytes hello = *j.start(code, k.joiner, k.inviter, r);
  const auto sid = *book.open_session(k.joiner, now);
  note(false, hello);
  auto st = book.feed(sid, hello, now, r);
  EXPECT_TRUE(st);
  if (!st) return t;
  EXPECT_FALSE(st->event) << "no decision before the joiner answers";
  note(true, st->out);
  bytes answer;
  if (confirm_anyway) {
    answer = {34, join_version, 3};
    answer.resize(35, 0xab);
  } else {
    auto js = j.feed(st->out);
    EXPECT_TRUE(js && js->event);
    answer = js->out;
  }
  note(false, answer);
  st = book.feed(sid, answer, now, r);
  EXPECT_TRUE(st) << "the inviter's session waited for the answer";
  if (!st) return t;
  take_event(st->event);
  note(true, st->out);
  EXPECT_EQ(book.open_sessions(), 0u);
  EXPECT_EQ(book.feed(sid, {}, now, r).error(), make_error_code(join_errc::unknown_session));
  return t;
}

}  // namespace

TEST_F(MemberJoin, RefusedAttemptLooksExactlyLikeAWrongCodeOnTheWire) {
  for (const bool confirm_anyway : {false, true}) {
    SCOPED_TRACE(confirm_anyway ? "a prober confirms anyway" : "an honest joiner aborts");
    invite_limits lim;
    lim.max_attempts = 100;
    lim.failures_per_minute = 100;
    invite_book book(k.inviter, lim);
    const auto live = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
    const auto expired = parse_ok(*book.issue("member", t0 + 1min, t0, rng));
    auto dead_slot = live;
    dead_slot.slot = static_cast<std::uint8_t>((live.slot + 7) % 32);

    const auto wrong = probe(book, wrong_secret(live), k, t0 + 2min, rng, confirm_anyway);
    EXPECT_EQ(wrong.why, refusal::wrong_code);
    ASSERT_EQ(wrong.wire.size(), confirm_anyway ? 4u : 3u);
    EXPECT_EQ(wrong.wire[0].size, 55u);
    EXPECT_EQ(wrong.wire[1].size, 67u);
    EXPECT_TRUE(wrong.wire[1].session_open);
    EXPECT_EQ(wrong.wire[2].size, confirm_anyway ? 35u : 4u);

    const auto dead = probe(book, dead_slot, k, t0 + 2min, rng, confirm_anyway);
    EXPECT_EQ(dead.why, refusal::unknown);
    EXPECT_EQ(dead.wire, wrong.wire);

    const auto late = probe(book, expired, k, t0 + 2min, rng, confirm_anyway);
    EXPECT_EQ(late.why, refusal::expired);
    EXPECT_EQ(late.wire, wrong.wire);
  }
}

TEST_F(MemberJoin, RefusedAttemptDoesTheSameCPaceWork) {
  // The decoy derives a real challenge from the joiner's Ya: an invalid Ya is refused as
  // malformed whether the slot is live or not (a decoy that skipped the work would answer it).
  invite_book book(k.inviter);
  const auto live = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  auto dead = live;
  dead.slot = static_cast<std::uint8_t>((live.slot + 1) % 32);
  std::vector<bytes> answers;
  for (const auto& code : {live, dead}) {
    joiner j;
    bytes hello = *j.start(code, k.joiner, k.inviter, rng);
    std::fill(hello.end() - 32, hello.end(), 0);  // the identity as Ya
    const auto sid = *book.open_session(k.joiner, t0);
    const auto st = book.feed(sid, hello, t0, rng);
    ASSERT_TRUE(st && st->event);
    EXPECT_EQ(std::get<join_refused>(*st->event).why, refusal::protocol);
    answers.push_back(st->out);
  }
  EXPECT_EQ(answers[0], answers[1]);
  EXPECT_EQ(answers[0].size(), 4u);
}

TEST_F(MemberJoin, InviteThatExpiresBeforeTheConfirmIsRefused) {
  invite_book book(k.inviter);
  const auto code = parse_ok(*book.issue("member", t0 + 10min, t0, rng));
  joiner j;
  const auto sid = *book.open_session(k.joiner, t0 + 10min - 2s);
  auto st = book.feed(sid, *j.start(code, k.joiner, k.inviter, rng), t0 + 10min - 2s, rng);
  ASSERT_TRUE(st && !st->event);
  const auto js = j.feed(st->out);
  ASSERT_TRUE(js && !js->event) << "the right code: the joiner confirms";
  st = book.feed(sid, js->out, t0 + 10min, rng);  // the invite expired meanwhile
  ASSERT_TRUE(st && st->event);
  EXPECT_EQ(std::get<join_refused>(*st->event).why, refusal::expired);
  EXPECT_EQ(book.open_sessions(), 0u);
  const auto end = j.feed(st->out);
  ASSERT_TRUE(end && end->event);
  EXPECT_EQ(std::get<join_failed>(*end->event).why, make_error_code(join_errc::refused));
  EXPECT_EQ(book.open_invites(t0), 1u) << "expired, not used";
  EXPECT_EQ(book.open_invites(t0 + 10min), 0u);
}

TEST_F(MemberJoin, WaitingSessionsExpireUnderAFakeClock) {
  invite_limits lim;
  lim.session_timeout = 30s;
  lim.max_attempts = 2;
  invite_book book(k.inviter, lim);
  EXPECT_EQ(book.next_deadline(), std::nullopt);
  const auto code = parse_ok(*book.issue("member", t0 + 1h, t0, rng));

  // Waiting for a hello.
  const auto silent = *book.open_session(k.joiner, t0);
  EXPECT_EQ(book.next_deadline(), t0 + 30s);
  // Waiting for a confirm (its hello came; the attempt counts).
  joiner j;
  const auto slow = *book.open_session(k.joiner, t0 + 10s);
  auto st = book.feed(slow, *j.start(code, k.joiner, k.inviter, rng), t0 + 10s, rng);
  ASSERT_TRUE(st && !st->event && !st->out.empty());
  // A confirmed session waits for the caller, not the peer: no deadline.
  joiner j2;
  const auto confirmed = confirm_session(book, j2, k, rng);
  EXPECT_EQ(book.open_sessions(), 3u);

  EXPECT_EQ(book.next_deadline(), t0 + 30s);
  EXPECT_TRUE(book.expire(t0 + 30s - 1ns).empty());
  auto gone = book.expire(t0 + 30s);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, silent);
  EXPECT_FALSE(gone[0].out.empty());
  EXPECT_EQ(book.next_deadline(), t0 + 40s);
  EXPECT_EQ(book.feed(silent, {}, t0 + 31s, rng).error(),
            make_error_code(join_errc::unknown_session));

  gone = book.expire(t0 + 1h);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, slow);
  const auto js = j.feed(gone[0].out);  // the joiner hears that it was refused
  ASSERT_TRUE(js && js->event);
  EXPECT_EQ(std::get<join_failed>(*js->event).why, make_error_code(join_errc::refused));
  EXPECT_EQ(book.next_deadline(), std::nullopt);
  EXPECT_EQ(book.open_sessions(), 1u);
  EXPECT_TRUE(book.grant(confirmed, as_bytes("x"))) << "the confirmed session was kept";

  // The expired attempt stayed counted: with max_attempts 2, one wrong try more burns the code.
  EXPECT_EQ(
      last_refusal(run(book, wrong_secret(code), k.joiner, k.inviter, k.joiner, t0 + 2min, rng)),
      refusal::wrong_code);
  EXPECT_EQ(last_refusal(run(book, code, k.joiner, k.inviter, k.joiner, t0 + 3min, rng)),
            refusal::burnt);
}

TEST_F(MemberJoin, FeedAfterTheDeadlineEndsTheSession) {
  invite_book book(k.inviter);  // 30 s by default
  const auto code = parse_ok(*book.issue("member", t0 + 1h, t0, rng));
  joiner j;
  const auto sid = *book.open_session(k.joiner, t0);
  const auto st = book.feed(sid, *j.start(code, k.joiner, k.inviter, rng), t0 + 30s, rng);
  ASSERT_TRUE(st && st->event);
  EXPECT_EQ(std::get<join_refused>(*st->event).why, refusal::protocol);
  EXPECT_EQ(st->out.size(), 4u) << "an abort, not a challenge";
  EXPECT_EQ(book.open_sessions(), 0u);
  EXPECT_EQ(book.open_invites(t0), 1u) << "a hello that came too late is no attempt";
}
