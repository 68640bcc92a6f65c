#pragma once
/// Key expressions, the names of Starling's pub/sub (after Zenoh's key expressions, simplified).
///
/// A key expression is a text of `/`-separated, non-empty chunks: `home/kitchen/temp`. No
/// leading or trailing `/`, no empty chunk, at most max_size bytes and max_chunks chunks. Two
/// chunks are wildcards: `*` matches exactly one chunk, `**` matches any number of chunks,
/// none included (`a/**` matches `a`, `a/b` and `a/b/c`). A `*` anywhere else (`te*p`, `***`)
/// is an error: unlike Zenoh we have no wildcards inside a chunk, and no `$*`. The bytes `?`,
/// `#` and `$` are reserved, and control bytes (below 0x20, and 0x7f) are refused; other bytes,
/// UTF-8 included, are taken as they are (UTF-8 is not validated). A *key*, what put and
/// delete name, is a key expression without wildcards.
///
/// An expression stands for the set of keys it matches; every key has at least one chunk. The
/// relations between two expressions are those of their sets, over keys of any length (the
/// limits above bound what may be written, not what the relations consider).
///
/// Canonical form, so that expressions for the same set are the same string:
///   1. in each run of consecutive wildcard chunks, the `*` come first and at most one `**`
///      ends the run: `**/**` -> `**`, `**/*` -> `*/**`, `**/*/**/*` -> `*/*/**`;
///   2. the whole expression `*/**` becomes `**` (both match every key, as no key is empty).
/// Rule 2 is about the whole text: to build an expression from parts, join the original texts
/// and parse the result, not canonical parts. The unit tests check, over a small alphabet, that
/// two canonical expressions that include each other are the same string.

#include <compare>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "core/keyexpr/errors.hpp"

namespace starling::keyexpr {

/// Checks `text` against the rules above. Errors (parse_error::code, with the offset of the
/// first problem in byte order): empty, too_long (offset max_size), too_many_chunks (offset of
/// the first chunk too many), empty_chunk (where the empty chunk starts),
/// reserved_character, control_character (offset of the byte), wildcard_in_chunk (offset of
/// the first '*' of that chunk). Nothing to retry: the text is wrong.
parse_result<void> validate(std::string_view text);

/// The canonical form of `text` (see the top of this file); canonize(canonize(x)) ==
/// canonize(x). Errors: those of validate().
parse_result<std::string> canonize(std::string_view text);

/// A valid key expression, held in canonical form; compares and hashes by that string.
class keyexpr {
 public:
  /// Validates and canonizes `text`. Errors: those of validate().
  static parse_result<keyexpr> parse(std::string_view text);

  /// The canonical text.
  const std::string& str() const noexcept { return m_text; }
  /// True when the expression has no wildcard, i.e. it is a key.
  bool is_key() const noexcept { return m_text.find('*') == std::string::npos; }

  /// Equal canonical strings (so equal sets of keys).
  friend bool operator==(const keyexpr&, const keyexpr&) = default;
  /// Orders by canonical string, for ordered containers.
  friend std::strong_ordering operator<=>(const keyexpr&, const keyexpr&) = default;

 private:
  friend class key;
  explicit keyexpr(std::string canonical) : m_text(std::move(canonical)) {}
  std::string m_text;
};

/// A key: a key expression without wildcards, what put and delete name.
class key {
 public:
  /// Validates `text` as a key. Errors: those of validate(), and wildcard_in_key (offset of
  /// the first wildcard chunk).
  static parse_result<key> parse(std::string_view text);

  /// The key as a key expression (which matches exactly this key).
  const keyexpr& expr() const noexcept { return m_expr; }
  /// The text.
  const std::string& str() const noexcept { return m_expr.str(); }

  /// Same text.
  friend bool operator==(const key&, const key&) = default;
  /// Orders by text.
  friend std::strong_ordering operator<=>(const key&, const key&) = default;

 private:
  explicit key(keyexpr e) : m_expr(std::move(e)) {}
  keyexpr m_expr;
};

/// True when every key matched by `b` is matched by `a` (includes(a, a) holds). Exact. It
/// walks `b` keeping the sets of positions `a` can be in, which stays small for the
/// expressions people write, but crafted pairs make it exponential: `**/x` and k `*` against
/// `**/x/**/x/...` with k+1 `x` takes about 1 ms at k = 8 and 1 s at k = 14 (GCC -O2). So
/// do not run it on pairs of long untrusted expressions; routing needs intersects(), which
/// has no such case. Allocates (the sets); no errors.
bool includes(const keyexpr& a, const keyexpr& b);

/// True when at least one key is matched by both `a` and `b` (symmetric). Exact, at most
/// O(chunks(a) * chunks(b)) steps, no allocation.
bool intersects(const keyexpr& a, const keyexpr& b) noexcept;

/// True when `expr` matches `k`: intersects(expr, k.expr()), equivalently includes().
bool matches(const keyexpr& expr, const key& k) noexcept;

}  // namespace starling::keyexpr

/// Hashes the canonical text.
template <>
struct std::hash<starling::keyexpr::keyexpr> {
  /// Hash of str().
  std::size_t operator()(const starling::keyexpr::keyexpr& e) const noexcept {
    return std::hash<std::string>{}(e.str());
  }
};
