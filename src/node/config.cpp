#include "node/config.hpp"

#include <toml++/toml.h>
#include <boost/throw_exception.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "core/keyexpr/keyexpr.hpp"
#include "core/multiformats/multiaddr.hpp"

namespace starling::node {

void throw_exception_from_error(const config_error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(e.message), loc);
}

namespace {

/// A config file is a few hundred bytes; anything near this is not one.
constexpr std::size_t max_file_size = std::size_t{1} << 20;

// The keys each table knows, for suggestions; the order is the README's.
constexpr std::array<std::string_view, 8> root_keys{
    "data_dir", "listen", "bootstrap", "early_muxer", "mdns", "mesh", "limits", "storage"};
constexpr std::array<std::string_view, 3> mdns_keys{"enabled", "interfaces", "deny"};
constexpr std::array<std::string_view, 2> mesh_keys{"target_connections", "dead_peer_timeout_ms"};
constexpr std::array<std::string_view, 5> limits_keys{"max_connections", "max_pending_handshakes",
                                                      "max_pending_per_ip", "max_per_peer",
                                                      "max_inbound_streams"};

constexpr std::array<std::string_view, 3> storage_keys{"expr", "keep", "backend"};

struct table_keys {
  std::string_view table;  ///< "" for the top level
  std::span<const std::string_view> keys;
};
constexpr std::array<table_keys, 5> all_keys{{{"", root_keys},
                                              {"mdns", mdns_keys},
                                              {"mesh", mesh_keys},
                                              {"limits", limits_keys},
                                              {"storage", storage_keys}}};

std::string join(std::string_view table, std::string_view key) {
  return table.empty() ? std::string(key) : std::string(table) + "." + std::string(key);
}

/// "a string", "an integer", ...: what the file has where something else was expected.
std::string_view describe(const toml::node& v) {
  switch (v.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

/// Edit distance where swapping two neighbouring letters costs 1, like one insertion,
/// deletion or substitution (optimal string alignment).
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

/// A key counts as a misspelling of `known` when it is at most a third of it away (at least
/// one edit, at most three).
bool close_to(std::string_view key, std::string_view known) {
  const std::size_t allowed = std::clamp<std::size_t>(known.size() / 3, 1, 3);
  return distance(key, known) <= allowed;
}

/// The known key an unknown `key` in `table` was probably meant to be, as a dotted path:
/// the closest key of the same table, else the same or a close name in another table
/// (`target_connections` at the top level means `mesh.target_connections`).
std::optional<std::string> suggest(std::string_view table, std::string_view key) {
  std::optional<std::string> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto& t : all_keys) {
    const bool same_table = t.table == table;
    for (auto known : t.keys) {
      if (!close_to(key, known)) continue;
      // Any key of the same table beats any key of another one.
      const std::size_t d = distance(key, known) + (same_table ? 0 : 100);
      if (d < best_distance) {
        best_distance = d;
        best = join(t.table, known);
      }
    }
  }
  return best;
}

/// Walks the parsed document, filling a config_file and remembering the first problem.
class checker {
 public:
  explicit checker(std::string_view source) : m_source(source) {}

  config_file run(const toml::table& root) {
    config_file out;
    for (auto&& [key, v] : root) {
      const std::string_view k = key.str();
      if (k == "data_dir") {
        out.data_dir = text(v, "data_dir", "a directory path");
      } else if (k == "listen") {
        out.listen = strings(v, "listen", item::multiaddr);
      } else if (k == "bootstrap") {
        out.bootstrap = strings(v, "bootstrap", item::multiaddr);
      } else if (k == "early_muxer") {
        out.early_muxer = boolean(v, "early_muxer");
      } else if (k == "mdns") {
        if (auto* t = table(v, "mdns")) mdns(*t, out.mdns);
      } else if (k == "mesh") {
        if (auto* t = table(v, "mesh")) mesh(*t, out.mesh);
      } else if (k == "limits") {
        if (auto* t = table(v, "limits")) limits(*t, out.limits);
      } else if (k == "storage") {
        out.storage = storages(v);
      } else {
        unknown(key, v, "");
      }
    }
    return out;
  }

  /// The first problem by position in the file, if any.
  std::optional<config_error> error() const {
    if (!m_first) return std::nullopt;
    return config_error{m_first->message};
  }

 private:
  enum class item { multiaddr, name };

  struct problem {
    toml::source_position where;
    std::string message;
  };

  void mdns(const toml::table& t, config_file::mdns_table& out) {
    for (auto&& [key, v] : t) {
      const std::string_view k = key.str();
      if (k == "enabled") {
        out.enabled = boolean(v, "mdns.enabled");
      } else if (k == "interfaces") {
        out.interfaces = strings(v, "mdns.interfaces", item::name);
      } else if (k == "deny") {
        out.deny = strings(v, "mdns.deny", item::name);
      } else {
        unknown(key, v, "mdns");
      }
    }
  }

  void mesh(const toml::table& t, config_file::mesh_table& out) {
    for (auto&& [key, v] : t) {
      const std::string_view k = key.str();
      if (k == "target_connections") {
        out.target_connections =
            integer<std::size_t>(v, "mesh.target_connections", 0, max_target_connections);
      } else if (k == "dead_peer_timeout_ms") {
        if (auto ms = integer<std::int64_t>(v, "mesh.dead_peer_timeout_ms", 0,
                                            max_dead_peer_timeout.count())) {
          out.dead_peer_timeout = std::chrono::milliseconds(*ms);
        }
      } else {
        unknown(key, v, "mesh");
      }
    }
  }

  void limits(const toml::table& t, config_file::limits_table& out) {
    constexpr auto no_max = std::numeric_limits<std::int64_t>::max();
    for (auto&& [key, v] : t) {
      const std::string_view k = key.str();
      const std::string path = join("limits", k);
      if (k == "max_connections") {
        out.max_connections = integer<std::size_t>(v, path, 1, no_max);
      } else if (k == "max_pending_handshakes") {
        out.max_pending_handshakes = integer<std::size_t>(v, path, 1, no_max);
      } else if (k == "max_pending_per_ip") {
        out.max_pending_per_ip = integer<std::size_t>(v, path, 1, no_max);
      } else if (k == "max_per_peer") {
        out.max_per_peer = integer<std::size_t>(v, path, 1, no_max);
      } else if (k == "max_inbound_streams") {
        out.max_inbound_streams = integer<std::size_t>(v, path, 1, no_max);
      } else {
        unknown(key, v, "limits");
      }
    }
  }

  /// `[[storage]]`: an array of tables, each with a valid `expr`, distinct from the others.
  std::optional<std::vector<config_file::storage_table>> storages(const toml::node& v) {
    const auto* a = v.as_array();
    if (!a || !a->is_array_of_tables()) {
      fail(v.source(), "storage: expected [[storage]] tables, got " +
                           std::string(a ? "an array of other values" : describe(v)));
      return std::nullopt;
    }
    std::vector<config_file::storage_table> out;
    std::vector<std::string> canonical;
    bool ok = true;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const auto& t = *a->get(i)->as_table();
      const std::string at = "storage[" + std::to_string(i) + "]";
      config_file::storage_table st;
      bool has_expr = false;
      for (auto&& [key, e] : t) {
        const std::string_view k = key.str();
        const std::string path = at + "." + std::string(k);
        if (k == "expr") {
          auto text_value = text(e, path, "a key expression, e.g. \"home/**\"");
          if (!text_value) {
            ok = false;
            continue;
          }
          auto x = keyexpr::keyexpr::parse(*text_value);
          if (!x) {
            fail(e.source(), path + ": " + x.error().message());
            ok = false;
            continue;
          }
          for (std::size_t j = 0; j < canonical.size(); ++j) {
            if (canonical[j] == x->str()) {
              fail(e.source(), path + ": '" + x->str() + "' is already kept by storage[" +
                                   std::to_string(j) + "]");
              ok = false;
            }
          }
          canonical.push_back(x->str());
          st.expr = x->str();
          has_expr = true;
        } else if (k == "keep") {
          st.keep = integer<std::size_t>(e, path, 1, static_cast<std::int64_t>(max_storage_keep));
          ok = ok && st.keep.has_value();
        } else if (k == "backend") {
          const auto* b = e.as_string();
          if (!b || (b->get() != "memory" && b->get() != "sqlite")) {
            fail(e.source(), path + ": expected \"memory\" or \"sqlite\", got " +
                                 (b ? "\"" + b->get() + "\"" : std::string(describe(e))));
            ok = false;
            continue;
          }
          st.backend = b->get();
        } else {
          unknown(key, e, "storage", at);
          ok = false;
        }
      }
      if (!has_expr && ok) {
        fail(t.source(),
             at + ": missing key 'expr' (the key expression to keep, e.g. \"home/**\")");
        ok = false;
      }
      out.push_back(std::move(st));
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void fail(const toml::source_region& where, std::string what) {
    const auto& at = where.begin;
    if (m_first && (m_first->where.line < at.line ||
                    (m_first->where.line == at.line && m_first->where.column <= at.column))) {
      return;
    }
    m_first = problem{at, std::string(m_source) + ":" + std::to_string(at.line) + ": " + what};
  }

  /// `shown`: the table as the message names it (`storage[1]`), when not `table` itself.
  void unknown(const toml::key& key, const toml::node& v, std::string_view table,
               std::string_view shown = {}) {
    const bool tables = v.is_table() || (v.is_array() && !v.as_array()->empty() &&
                                         v.as_array()->is_array_of_tables());
    std::string what = std::string(tables ? "unknown table '" : "unknown key '") +
                       join(shown.empty() ? table : shown, key.str()) + "'";
    if (auto s = suggest(table, key.str())) what += " (did you mean '" + *s + "'?)";
    fail(key.source(), std::move(what));
  }

  const toml::table* table(const toml::node& v, std::string_view path) {
    if (const auto* t = v.as_table()) return t;
    fail(v.source(), std::string(path) + ": expected a table, got " + std::string(describe(v)));
    return nullptr;
  }

  std::optional<bool> boolean(const toml::node& v, std::string_view path) {
    if (const auto* b = v.as_boolean()) return b->get();
    fail(v.source(),
         std::string(path) + ": expected true or false, got " + std::string(describe(v)));
    return std::nullopt;
  }

  /// A non-empty string; `expected` says what it should be ("a directory path").
  std::optional<std::string> text(const toml::node& v, std::string_view path,
                                  std::string_view expected) {
    const auto* s = v.as_string();
    if (!s || s->get().empty()) {
      fail(v.source(), std::string(path) + ": expected " + std::string(expected) + ", got " +
                           (s ? "an empty string" : std::string(describe(v))));
      return std::nullopt;
    }
    return s->get();
  }

  /// An array of non-empty strings, each checked as `kind` says; problems name the element.
  std::optional<std::vector<std::string>> strings(const toml::node& v, std::string_view path,
                                                  item kind) {
    const auto* a = v.as_array();
    if (!a) {
      fail(v.source(),
           std::string(path) + ": expected an array of strings, got " + std::string(describe(v)));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string at = std::string(path) + "[" + std::to_string(i) + "]";
      auto s = text(e, at, kind == item::multiaddr ? "a multiaddr" : "a name");
      if (!s) {
        ok = false;
        continue;
      }
      if (kind == item::multiaddr) {
        if (auto why = multiformats::describe_parse_error(*s); !why.empty()) {
          fail(e.source(), at + ": " + why);
          ok = false;
          continue;
        }
      }
      out.push_back(std::move(*s));
    }
    if (!ok) return std::nullopt;
    return out;
  }

  /// An integer from `min` to `max`, and to the largest value of T.
  template <class T>
  std::optional<T> integer(const toml::node& v, std::string_view path, std::int64_t min,
                           std::int64_t max) {
    if (std::cmp_less(std::numeric_limits<T>::max(), max)) {
      max = static_cast<std::int64_t>(std::numeric_limits<T>::max());
    }
    const std::string range =
        max == std::numeric_limits<std::int64_t>::max()
            ? "an integer of at least " + std::to_string(min)
            : "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    const auto* i = v.as_integer();
    if (!i) {
      fail(v.source(),
           std::string(path) + ": expected an integer, got " + std::string(describe(v)));
      return std::nullopt;
    }
    const std::int64_t x = i->get();
    if (x < min || x > max) {
      fail(v.source(), std::string(path) + ": expected " + range + ", got " + std::to_string(x));
      return std::nullopt;
    }
    return static_cast<T>(x);
  }

  std::string_view m_source;
  std::optional<problem> m_first;
};

}  // namespace

config_result<config_file> parse_config(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    return config_error{std::string(source_name) + ":" + std::to_string(e.source().begin.line) +
                        ": not valid TOML: " + std::string(e.description())};
  }
  checker c(source_name);
  config_file out = c.run(root);
  if (auto e = c.error()) return *e;
  return out;
}

config_result<config_file> load_config(const std::filesystem::path& path) {
  const std::string name = path.string();
  auto cannot = [&](const std::string& why) {
    return config_error{"cannot read config " + name + ": " + why};
  };
  struct closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, closer> f(std::fopen(name.c_str(), "rb"));
  if (!f) return cannot(std::generic_category().message(errno));
  std::string text;
  char buf[8192];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
    const int err = errno;
    text.append(buf, n);
    if (text.size() > max_file_size) return cannot("larger than 1 MiB");
    if (n < sizeof buf) {
      if (std::ferror(f.get())) return cannot(std::generic_category().message(err));
      break;
    }
  }
  return parse_config(text, name);
}

}  // namespace starling::node
