#include "core/noise/pattern.hpp"

#include <array>

namespace starling::noise {

namespace {

// Patterns in a compact text form: the initiator's and the responder's pre-message tokens, then
// the messages separated by '|' (message i is the initiator's when i is even), tokens by ','.
struct pattern_def {
  std::string_view name;
  std::string_view pre_i;
  std::string_view pre_r;
  std::string_view msgs;  // messages separated by '|', tokens by ','
};

// Noise spec rev 34: one-way (7.4), interactive (7.5) and deferred (7.6) patterns.
constexpr std::array<pattern_def, 38> k_patterns{{
    {"N", "", "s", "e,es"},
    {"K", "s", "s", "e,es,ss"},
    {"X", "", "s", "e,es,s,ss"},
    {"NN", "", "", "e|e,ee"},
    {"NK", "", "s", "e,es|e,ee"},
    {"NX", "", "", "e|e,ee,s,es"},
    {"XN", "", "", "e|e,ee|s,se"},
    {"XK", "", "s", "e,es|e,ee|s,se"},
    {"XX", "", "", "e|e,ee,s,es|s,se"},
    {"KN", "s", "", "e|e,ee,se"},
    {"KK", "s", "s", "e,es,ss|e,ee,se"},
    {"KX", "s", "", "e|e,ee,se,s,es"},
    {"IN", "", "", "e,s|e,ee,se"},
    {"IK", "", "s", "e,es,s,ss|e,ee,se"},
    {"IX", "", "", "e,s|e,ee,se,s,es"},
    {"NK1", "", "s", "e|e,ee,es"},
    {"NX1", "", "", "e|e,ee,s|es"},
    {"X1N", "", "", "e|e,ee|s|se"},
    {"X1K", "", "s", "e,es|e,ee|s|se"},
    {"XK1", "", "s", "e|e,ee,es|s,se"},
    {"X1K1", "", "s", "e|e,ee,es|s|se"},
    {"X1X", "", "", "e|e,ee,s,es|s|se"},
    {"XX1", "", "", "e|e,ee,s|es,s,se"},
    {"X1X1", "", "", "e|e,ee,s|es,s|se"},
    {"K1N", "s", "", "e|e,ee|se"},
    {"K1K", "s", "s", "e,es|e,ee|se"},
    {"KK1", "s", "s", "e|e,ee,se,es"},
    {"K1K1", "s", "s", "e|e,ee,es|se"},
    {"K1X", "s", "", "e|e,ee,s,es|se"},
    {"KX1", "s", "", "e|e,ee,se,s|es"},
    {"K1X1", "s", "", "e|e,ee,s|se,es"},
    {"I1N", "", "", "e,s|e,ee|se"},
    {"I1K", "", "s", "e,es,s|e,ee|se"},
    {"IK1", "", "s", "e,s|e,ee,se,es"},
    {"I1K1", "", "s", "e,s|e,ee,es|se"},
    {"I1X", "", "", "e,s|e,ee,s,es|se"},
    {"IX1", "", "", "e,s|e,ee,se,s|es"},
    {"I1X1", "", "", "e,s|e,ee,s|se,es"},
}};

std::optional<token> parse_token(std::string_view t) {
  if (t == "e") return token::e;
  if (t == "s") return token::s;
  if (t == "ee") return token::ee;
  if (t == "es") return token::es;
  if (t == "se") return token::se;
  if (t == "ss") return token::ss;
  if (t == "psk") return token::psk;
  return std::nullopt;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  if (s.empty()) return out;
  std::size_t start = 0;
  while (true) {
    const auto pos = s.find(sep, start);
    out.push_back(
        s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::vector<token> parse_tokens(std::string_view s) {
  std::vector<token> out;
  for (auto t : split(s, ','))
    out.push_back(*parse_token(t));
  return out;
}

}  // namespace

std::optional<pattern> parse_pattern(std::string_view name) {
  // The base name is upper-case letters and digits; modifiers start with a lower-case letter.
  std::size_t base_len = 0;
  while (base_len < name.size() && ((name[base_len] >= 'A' && name[base_len] <= 'Z') ||
                                    (name[base_len] >= '0' && name[base_len] <= '9'))) {
    ++base_len;
  }
  const std::string_view base = name.substr(0, base_len);
  const std::string_view mods = name.substr(base_len);

  const pattern_def* def = nullptr;
  for (const auto& d : k_patterns) {
    if (d.name == base) def = &d;
  }
  if (def == nullptr) return std::nullopt;

  pattern p;
  p.name = std::string(name);
  p.pre_initiator = parse_tokens(def->pre_i);
  p.pre_responder = parse_tokens(def->pre_r);
  for (auto m : split(def->msgs, '|'))
    p.messages.push_back(parse_tokens(m));
  p.one_way = base.size() == 1;

  if (!mods.empty()) {
    for (auto m : split(mods, '+')) {
      if (m.size() < 4 || m.substr(0, 3) != "psk") return std::nullopt;
      std::size_t n = 0;
      for (char c : m.substr(3)) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::size_t>(c - '0');
        if (n > p.messages.size()) return std::nullopt;
      }
      if (n == 0) {
        p.messages.front().insert(p.messages.front().begin(), token::psk);
      } else {
        p.messages[n - 1].push_back(token::psk);
      }
      p.has_psk = true;
      ++p.psk_count;
    }
  }
  return p;
}

std::optional<pattern> parse_protocol_name(std::string_view protocol_name) {
  constexpr std::string_view prefix = "Noise_";
  constexpr std::string_view suffix = "_25519_ChaChaPoly_SHA256";
  if (protocol_name.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (protocol_name.substr(0, prefix.size()) != prefix) return std::nullopt;
  if (protocol_name.substr(protocol_name.size() - suffix.size()) != suffix) return std::nullopt;
  return parse_pattern(
      protocol_name.substr(prefix.size(), protocol_name.size() - prefix.size() - suffix.size()));
}

}  // namespace starling::noise
