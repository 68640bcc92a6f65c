#include "core/keyexpr/keyexpr.hpp"

#include <algorithm>
#include <bitset>
#include <vector>

#include "core/keyexpr/chunks.hpp"
#include "core/keyexpr/pos_set.hpp"

namespace starling::keyexpr {

namespace {

bool is_control(unsigned char c) noexcept {
  return c < 0x20 || c == 0x7f;
}
bool is_reserved(char c) noexcept {
  return c == '?' || c == '#' || c == '$';
}
bool is_literal(std::string_view c) noexcept {
  return !detail::is_star(c) && !detail::is_dstar(c);
}

parse_error fail(errc code, std::size_t offset, std::string_view text) {
  return parse_error::at(code, offset, text);
}

}  // namespace

parse_result<void> validate(std::string_view text) {
  if (text.empty()) return fail(errc::empty, 0, text);
  if (text.size() > max_size) return fail(errc::too_long, max_size, text);
  std::size_t chunk_start = 0;
  std::size_t chunk_count = 1;
  // Within the current chunk: where its first '*' is, how many there are, and whether it has
  // other bytes. A chunk with a '*' is bad as soon as it is more than "*" or "**"; we report
  // it then, at its first '*', so that problems come out in byte order.
  std::size_t first_star = std::string_view::npos;
  std::size_t stars = 0;
  bool other = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '/') {
      if (i == chunk_start) return fail(errc::empty_chunk, chunk_start, text);
      if (++chunk_count > max_chunks) return fail(errc::too_many_chunks, i + 1, text);
      chunk_start = i + 1;
      first_star = std::string_view::npos;
      stars = 0;
      other = false;
    } else if (ch == '*') {
      if (first_star == std::string_view::npos) first_star = i;
      if (other || ++stars > 2) return fail(errc::wildcard_in_chunk, first_star, text);
    } else {
      if (first_star != std::string_view::npos) {
        return fail(errc::wildcard_in_chunk, first_star, text);
      }
      if (is_control(static_cast<unsigned char>(ch))) {
        return fail(errc::control_character, i, text);
      }
      if (is_reserved(ch)) return fail(errc::reserved_character, i, text);
      other = true;
    }
  }
  if (chunk_start == text.size()) return fail(errc::empty_chunk, chunk_start, text);
  return {};
}

parse_result<std::string> canonize(std::string_view text) {
  if (auto v = validate(text); !v) return v.error();
  const detail::chunks cs(text);
  std::string out;
  out.reserve(text.size());
  auto emit = [&out](std::string_view chunk) {
    if (!out.empty()) out += '/';
    out += chunk;
  };
  for (std::size_t i = 0; i < cs.size();) {
    if (is_literal(cs[i])) {
      emit(cs[i++]);
      continue;
    }
    // A run of wildcards matches "at least (number of *) chunks", plus "or more" when it holds
    // a `**`: write that as the stars followed by one `**`.
    std::size_t stars = 0;
    bool any = false;
    for (; i < cs.size() && !is_literal(cs[i]); ++i) {
      if (detail::is_star(cs[i])) {
        ++stars;
      } else {
        any = true;
      }
    }
    for (std::size_t s = 0; s < stars; ++s)
      emit("*");
    if (any) emit("**");
  }
  if (out == "*/**") out = "**";
  return out;
}

parse_result<keyexpr> keyexpr::parse(std::string_view text) {
  auto c = canonize(text);
  if (!c) return c.error();
  return keyexpr(std::move(*c));
}

parse_result<key> key::parse(std::string_view text) {
  if (auto v = validate(text); !v) return v.error();
  // In a valid text a '*' only appears in a wildcard chunk, and is its first byte.
  if (const auto star = text.find('*'); star != std::string_view::npos) {
    return fail(errc::wildcard_in_key, star, text);
  }
  return key(keyexpr(std::string(text)));  // no wildcards: already canonical
}

bool intersects(const keyexpr& a, const keyexpr& b) noexcept {
  if (a == b) return true;
  const detail::chunks ca(a.str()), cb(b.str());
  const std::size_t n = ca.size(), m = cb.size();
  // Both expressions as automata over chunks, state = how many chunks of each are matched; a
  // `**` may be skipped or may eat a chunk and stay. A common key exists when (n, m) can be
  // reached. Every move increases i or j or both, so one pass in row order settles each cell.
  // (A common key that is empty would need both to be `**`, which share every key anyway.)
  constexpr std::size_t stride = max_chunks + 1;
  std::bitset<stride * stride> reach;
  reach.set(0);
  for (std::size_t i = 0; i <= n; ++i) {
    for (std::size_t j = 0; j <= m; ++j) {
      if (!reach.test(i * stride + j)) continue;
      if (i == n && j == m) return true;
      const bool da = i < n && detail::is_dstar(ca[i]);
      const bool db = j < m && detail::is_dstar(cb[j]);
      if (da) reach.set((i + 1) * stride + j);
      if (db) reach.set(i * stride + j + 1);
      if (i < n && j < m && !(da && db)) {
        const bool clash = is_literal(ca[i]) && is_literal(cb[j]) && ca[i] != cb[j];
        if (!clash) reach.set((da ? i : i + 1) * stride + (db ? j : j + 1));
      }
    }
  }
  return false;
}

namespace {

// Positions of `a` (0..n) that a prefix of a key can leave it in.
class simulator {
 public:
  explicit simulator(std::string_view a) : m_a(a) {}

  detail::pos_set start() const noexcept {
    detail::pos_set s;
    s.set(0);
    return closure(s);
  }
  // One chunk: `chunk`, or when `fresh`, a chunk that no literal of `a` names (the hardest
  // chunk for `a` to match: whatever another chunk matches, it matches too).
  detail::pos_set step(detail::pos_set s, std::string_view chunk, bool fresh) const noexcept {
    detail::pos_set t;
    for (std::size_t p = 0; p < m_a.size(); ++p) {
      if (!s.test(p)) continue;
      if (detail::is_dstar(m_a[p])) {
        t.set(p);
      } else if (detail::is_star(m_a[p]) || (!fresh && m_a[p] == chunk)) {
        t.set(p + 1);
      }
    }
    return closure(t);
  }
  bool accepts(detail::pos_set s) const noexcept { return s.test(m_a.size()); }

 private:
  detail::pos_set closure(detail::pos_set s) const noexcept {
    for (std::size_t p = 0; p < m_a.size(); ++p) {
      if (s.test(p) && detail::is_dstar(m_a[p])) s.set(p + 1);
    }
    return s;
  }
  detail::chunks m_a;
};

}  // namespace

bool includes(const keyexpr& a, const keyexpr& b) {
  if (a == b || a.str() == "**") return true;
  // Walk the chunks of `b`, keeping every set of positions that `a` can be in after some key
  // prefix that `b` allows. A literal of `b` is fed as itself; a `*` of `b` as a fresh chunk
  // (if `a` accepts that, it accepts any chunk there); a `**` of `b` as every number of fresh
  // chunks, which gives a sequence of sets that repeats after a while. `b` is included when
  // every set reached at the end accepts. An empty set means some key of `b` escapes `a`.
  const simulator sim(a.str());
  const detail::chunks cb(b.str());
  std::vector<detail::pos_set> frontier{sim.start()}, next, orbit;
  auto feed = [&](std::string_view chunk) -> bool {
    next.clear();
    if (detail::is_dstar(chunk)) {
      for (const auto& s : frontier) {
        orbit.clear();
        for (auto cur = s; std::find(orbit.begin(), orbit.end(), cur) == orbit.end();
             cur = sim.step(cur, {}, true)) {
          orbit.push_back(cur);
        }
        next.insert(next.end(), orbit.begin(), orbit.end());
      }
    } else {
      for (const auto& s : frontier)
        next.push_back(sim.step(s, chunk, detail::is_star(chunk)));
    }
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    std::swap(frontier, next);
    return !frontier.front().empty();  // sorted: an empty set comes first
  };
  // `**` alone matches no empty key: it is `*/**`.
  if (b.str() == "**" && !feed("*")) return false;
  for (std::size_t i = 0; i < cb.size(); ++i) {
    if (!feed(cb[i])) return false;
  }
  return std::all_of(frontier.begin(), frontier.end(),
                     [&](const detail::pos_set& s) { return sim.accepts(s); });
}

bool matches(const keyexpr& expr, const key& k) noexcept {
  return intersects(expr, k.expr());
}

}  // namespace starling::keyexpr
