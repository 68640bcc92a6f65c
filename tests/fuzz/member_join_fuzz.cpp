// Fuzz target: the join protocol cores and the setup code parser (member/join.hpp,
// member/invite_code.hpp). The first byte picks the role:
//   0: the rest is a typed setup code (parse, and a parsed code prints back to itself);
//   1: the rest is what an inviter reads on a fresh session, fed in two pieces;
//   2: the rest is what a joiner reads after its hello (challenge, grant, garbage);
//   3: a real hello is fed to the inviter first, then the rest (the confirm and beyond).
// Nothing may crash; invariants are checked with abort().
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/member/invite_code.hpp"
#include "core/member/join.hpp"

using namespace starling;
using namespace starling::member;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

const time_point t0 = time_point{} + std::chrono::hours(1000);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ok = crypto::init();
  check(ok);
  if (size == 0) return 0;
  const std::uint8_t role = data[0] % 4;
  const bytes_view rest(data + 1, size - 1);

  crypto::seeded_rng r(9);
  const auto inviter = crypto::ed25519_generate(r).pub;
  const auto joiner_key = crypto::ed25519_generate(r).pub;

  if (role == 0) {
    const auto c = parse_invite_code(as_chars(rest));
    if (c) {
      const auto again = parse_invite_code(to_string(*c));
      check(again && *again == *c);
    } else {
      check(!c.error().message().empty());
    }
    return 0;
  }

  invite_book book(inviter);
  const auto text = book.issue("member", t0 + std::chrono::minutes(10), t0, r);
  check(text.has_value());
  const auto code = parse_invite_code(*text);
  check(code.has_value());

  if (role == 1 || role == 3) {
    const auto sid = book.open_session(joiner_key, t0);
    check(sid.has_value());
    if (role == 3) {
      joiner j;
      const auto hello = j.start(*code, joiner_key, inviter, r);
      check(hello.has_value());
      const auto st = book.feed(*sid, *hello, t0, r);
      check(st.has_value() && !st->event);
    }
    const std::size_t half = rest.size() / 2;
    for (bytes_view piece : {rest.first(half), rest.subspan(half)}) {
      const auto st = book.feed(*sid, piece, t0, r);
      if (!st) break;  // the session ended
      if (st->event && std::holds_alternative<join_confirmed>(*st->event)) std::abort();
    }
    book.close_session(*sid, t0);
    check(book.open_sessions() == 0);
    return 0;
  }

  joiner j;
  check(j.start(*code, joiner_key, inviter, r).has_value());
  const auto st = j.feed(rest);
  check(st.has_value());
  // Without the code's secret no input can be granted.
  if (st->event) check(std::holds_alternative<join_failed>(*st->event));
  return 0;
}
