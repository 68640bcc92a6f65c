#include "node/control_api.hpp"

#include <sodium.h>

#include <cstring>
#include <type_traits>
#include <utility>

namespace starling::node {

using nlohmann::json;

std::string to_base64(bytes_view b) {
  std::string out(sodium_base64_encoded_len(b.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), b.data(), b.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

bool from_base64(const std::string& text, bytes& out) {
  out.resize(text.size());
  std::size_t n = 0;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &n, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return false;
  }
  out.resize(n);
  return true;
}

namespace api {

namespace {

class api_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "control_api"; }
  std::string message(int ev) const override {
    switch (static_cast<api_errc>(ev)) {
      case api_errc::not_an_object:
        return "not a JSON object";
      case api_errc::missing_command:
        return "missing command";
      case api_errc::unknown_command:
        return "unknown command";
      case api_errc::missing_field:
        return "missing field";
      case api_errc::wrong_type:
        return "field of the wrong type";
      case api_errc::bad_value:
        return "bad field value";
    }
    return "control API error";
  }
};

detailed_error fail(api_errc e, std::string message) {
  return {make_error_code(e), std::move(message)};
}

/// Reads the fields of one JSON object for one command (`ctx` prefixes the messages).
class reader {
 public:
  reader(const json& j, std::string_view ctx) : m_j(j), m_ctx(ctx) {}

  detailed_result<std::optional<std::string>> opt_string(const char* name) const {
    auto it = m_j.find(name);
    if (it == m_j.end()) return std::optional<std::string>();
    if (!it->is_string()) return wrong(name, "a string");
    return std::optional<std::string>(it->get<std::string>());
  }
  bool has(const char* name) const { return m_j.find(name) != m_j.end(); }
  /// An array of strings (at most 64 of them).
  detailed_result<std::vector<std::string>> string_list(const char* name) const {
    auto it = m_j.find(name);
    if (it == m_j.end()) return missing(name);
    if (!it->is_array() || it->size() > 64) return wrong(name, "an array of at most 64 strings");
    std::vector<std::string> out;
    for (const auto& v : *it) {
      if (!v.is_string()) return wrong(name, "an array of strings");
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  detailed_result<std::string> string(const char* name) const {
    auto v = STARLING_TRY(opt_string(name));
    if (!v) return missing(name);
    return std::move(*v);
  }
  detailed_result<std::string> string_or(const char* name, std::string fallback) const {
    auto v = STARLING_TRY(opt_string(name));
    return v ? std::move(*v) : std::move(fallback);
  }
  detailed_result<std::optional<bool>> opt_bool(const char* name) const {
    auto it = m_j.find(name);
    if (it == m_j.end()) return std::optional<bool>();
    if (!it->is_boolean()) return wrong(name, "a boolean");
    return std::optional<bool>(it->get<bool>());
  }
  detailed_result<bool> bool_or(const char* name, bool fallback) const {
    auto v = STARLING_TRY(opt_bool(name));
    return v.value_or(fallback);
  }
  detailed_result<bool> boolean(const char* name) const {
    auto v = STARLING_TRY(opt_bool(name));
    if (!v) return missing(name);
    return *v;
  }
  detailed_result<std::optional<std::uint64_t>> opt_uint(const char* name) const {
    auto it = m_j.find(name);
    if (it == m_j.end()) return std::optional<std::uint64_t>();
    // Parsed text makes non-negative integers unsigned; a json built in C++ from an int is
    // signed: both are fine when not negative.
    if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<std::int64_t>() < 0))
      return wrong(name, "an unsigned integer");
    return std::optional<std::uint64_t>(it->get<std::uint64_t>());
  }
  detailed_result<std::uint64_t> uint(const char* name) const {
    auto v = STARLING_TRY(opt_uint(name));
    if (!v) return missing(name);
    return *v;
  }
  detailed_result<std::uint64_t> uint_or(const char* name, std::uint64_t fallback) const {
    auto v = STARLING_TRY(opt_uint(name));
    return v.value_or(fallback);
  }
  /// A base64 field ("value_b64"); absent: nullopt.
  detailed_result<std::optional<bytes>> opt_base64(const char* name) const {
    auto text = STARLING_TRY(opt_string(name));
    if (!text) return std::optional<bytes>();
    bytes b;
    if (!from_base64(*text, b))
      return fail(api_errc::bad_value, std::string(name) + " is not base64");
    return std::optional<bytes>(std::move(b));
  }
  detailed_result<bytes> base64_or_empty(const char* name) const {
    auto v = STARLING_TRY(opt_base64(name));
    return v ? std::move(*v) : bytes();
  }
  /// The object at `name` (it must be one).
  detailed_result<const json*> object(const char* name) const {
    auto it = m_j.find(name);
    if (it == m_j.end()) return missing(name);
    if (!it->is_object()) return wrong(name, "an object");
    return &*it;
  }

  detailed_error missing(const char* name) const {
    return fail(api_errc::missing_field, std::string(m_ctx) + ": missing \"" + name + "\"");
  }
  detailed_error wrong(const char* name, const char* what) const {
    return fail(api_errc::wrong_type, std::string(m_ctx) + ": \"" + name + "\" must be " + what);
  }

 private:
  const json& m_j;
  std::string_view m_ctx;
};

template <class T>
using tag = std::type_identity<T>;

// One parser per request type: a type added to `request` without one does not compile.
detailed_result<status_request> parse_body(tag<status_request>, const reader&) {
  return status_request{};
}
detailed_result<peers_request> parse_body(tag<peers_request>, const reader&) {
  return peers_request{};
}
detailed_result<known_request> parse_body(tag<known_request>, const reader&) {
  return known_request{};
}
detailed_result<put_request> parse_body(tag<put_request>, const reader& r) {
  put_request p;
  p.key = STARLING_TRY(r.string("key"));
  p.value = STARLING_TRY(r.base64_or_empty("value_b64"));
  p.encoding = STARLING_TRY(r.string_or("encoding", {}));
  return p;
}
detailed_result<del_request> parse_body(tag<del_request>, const reader& r) {
  del_request d;
  d.key = STARLING_TRY(r.string("key"));
  return d;
}
detailed_result<sub_request> parse_body(tag<sub_request>, const reader& r) {
  sub_request s;
  s.expr = STARLING_TRY(r.string("expr"));
  s.latest = STARLING_TRY(r.bool_or("latest", false));
  return s;
}
detailed_result<get_request> parse_body(tag<get_request>, const reader& r) {
  get_request g;
  g.selector = STARLING_TRY(r.string("selector"));
  g.parameters = STARLING_TRY(r.string_or("parameters", {}));
  const auto ms = STARLING_TRY(r.uint_or("timeout_ms", 10'000));
  if (ms == 0 || ms > static_cast<std::uint64_t>(get_request::max_timeout.count()))
    return fail(api_errc::bad_value, "timeout must be between 1 ms and 1 hour");
  g.timeout = std::chrono::milliseconds(ms);
  const auto target = STARLING_TRY(r.string_or("target", "all"));
  auto t = parse_target(target);
  if (!t)
    return fail(api_errc::bad_value, "target must be all, best or complete, not '" + target + "'");
  g.target = *t;
  const auto cons = STARLING_TRY(r.string_or("consolidation", "none"));
  if (cons != "none" && cons != "latest")
    return fail(api_errc::bad_value, "consolidation must be none or latest, not '" + cons + "'");
  g.consolidation = cons == "latest" ? data::consolidation::latest : data::consolidation::none;
  g.value = STARLING_TRY(r.opt_base64("value_b64"));
  return g;
}
detailed_result<queryable_request> parse_body(tag<queryable_request>, const reader& r) {
  queryable_request q;
  q.expr = STARLING_TRY(r.string("expr"));
  q.complete = STARLING_TRY(r.bool_or("complete", false));
  return q;
}
detailed_result<token_request> parse_body(tag<token_request>, const reader& r) {
  token_request t;
  t.key = STARLING_TRY(r.string("key"));
  return t;
}
detailed_result<watch_request> parse_body(tag<watch_request>, const reader& r) {
  watch_request w;
  w.expr = STARLING_TRY(r.string("expr"));
  return w;
}

detailed_result<network_create_request> parse_body(tag<network_create_request>, const reader& r) {
  network_create_request n;
  if (auto name = STARLING_TRY(r.opt_string("name"))) n.name = *name;
  return n;
}
detailed_result<invite_request> parse_body(tag<invite_request>, const reader& r) {
  invite_request i;
  i.role = STARLING_TRY(r.string("role"));
  i.expires_s = STARLING_TRY(r.uint_or("expires_s", 600));
  return i;
}
detailed_result<members_request> parse_body(tag<members_request>, const reader&) {
  return members_request{};
}
detailed_result<revoke_request> parse_body(tag<revoke_request>, const reader& r) {
  revoke_request v;
  v.peer = STARLING_TRY(r.string("peer"));
  return v;
}
detailed_result<role_request> parse_body(tag<role_request>, const reader& r) {
  role_request v;
  v.peer = STARLING_TRY(r.string("peer"));
  v.roles = STARLING_TRY(r.string_list("roles"));
  return v;
}
detailed_result<join_request> parse_body(tag<join_request>, const reader& r) {
  join_request j;
  j.code = STARLING_TRY(r.string("code"));
  if (r.has("peers")) j.peers = STARLING_TRY(r.string_list("peers"));
  return j;
}

detailed_result<acl_show_request> parse_body(tag<acl_show_request>, const reader&) {
  return acl_show_request{};
}
detailed_result<acl_set_request> parse_body(tag<acl_set_request>, const reader& r) {
  acl_set_request v;
  v.text = STARLING_TRY(r.string("text"));
  return v;
}
detailed_result<acl_explain_request> parse_body(tag<acl_explain_request>, const reader& r) {
  acl_explain_request v;
  v.peer = STARLING_TRY(r.string("peer"));
  v.op = STARLING_TRY(r.string("op"));
  v.key = STARLING_TRY(r.string("key"));
  return v;
}

// One renderer per request type (the fields after "cmd").
void render_body(const acl_show_request&, json&) {}
void render_body(const acl_set_request& v, json& j) {
  j["text"] = v.text;
}
void render_body(const acl_explain_request& v, json& j) {
  j["peer"] = v.peer;
  j["op"] = v.op;
  j["key"] = v.key;
}
void render_body(const network_create_request& n, json& j) {
  j["name"] = n.name;
}
void render_body(const invite_request& i, json& j) {
  j["role"] = i.role;
  j["expires_s"] = i.expires_s;
}
void render_body(const members_request&, json&) {}
void render_body(const revoke_request& v, json& j) {
  j["peer"] = v.peer;
}
void render_body(const role_request& v, json& j) {
  j["peer"] = v.peer;
  j["roles"] = v.roles;
}
void render_body(const join_request& v, json& j) {
  j["code"] = v.code;
  j["peers"] = v.peers;
}
void render_body(const status_request&, json&) {}
void render_body(const peers_request&, json&) {}
void render_body(const known_request&, json&) {}
void render_body(const put_request& p, json& j) {
  j["key"] = p.key;
  j["value_b64"] = to_base64(p.value);
  j["encoding"] = p.encoding;
}
void render_body(const del_request& d, json& j) {
  j["key"] = d.key;
}
void render_body(const sub_request& s, json& j) {
  j["expr"] = s.expr;
  j["latest"] = s.latest;
}
void render_body(const get_request& g, json& j) {
  j["selector"] = g.selector;
  j["parameters"] = g.parameters;
  j["timeout_ms"] = static_cast<std::uint64_t>(g.timeout.count());
  j["target"] = target_name(g.target);
  j["consolidation"] = g.consolidation == data::consolidation::latest ? "latest" : "none";
  if (g.value) j["value_b64"] = to_base64(*g.value);
}
void render_body(const queryable_request& q, json& j) {
  j["expr"] = q.expr;
  j["complete"] = q.complete;
}
void render_body(const token_request& t, json& j) {
  j["key"] = t.key;
}
void render_body(const watch_request& w, json& j) {
  j["expr"] = w.expr;
}

template <std::size_t... I>
detailed_result<request> parse_by_name(std::string_view cmd, const json& j,
                                       std::index_sequence<I...>) {
  std::optional<detailed_result<request>> out;
  auto try_one = [&]<class T>(tag<T> t) {
    if (out || T::command != cmd) return;
    const reader r(j, T::command);
    auto v = parse_body(t, r);
    if (v)
      out.emplace(request(std::move(*v)));
    else
      out.emplace(std::move(v).error());
  };
  (try_one(tag<std::variant_alternative_t<I, request>>{}), ...);
  if (!out) return fail(api_errc::unknown_command, "unknown command '" + std::string(cmd) + "'");
  return std::move(*out);
}

json data_json(const data_status& d) {
  const auto& st = d.stats;
  return json{{"links", d.links},
              {"nodes", d.nodes},
              {"samples_published", st.samples_published},
              {"samples_delivered", st.samples_delivered},
              {"samples_forwarded", st.samples_forwarded},
              {"samples_received", st.samples_received},
              {"duplicates", st.duplicates},
              {"gaps", st.gaps},
              {"nacks_sent", st.nacks_sent},
              {"repairs_sent", st.repairs_sent},
              {"samples_repaired", st.samples_repaired},
              {"samples_lost", st.samples_lost},
              {"samples_held", d.samples_held},
              {"heartbeats_sent", st.heartbeats_sent},
              {"unicast_dropped", st.unicast_dropped},
              {"queries_sent", st.queries_sent},
              {"queries_received", st.queries_received},
              {"replies_received", st.replies_received},
              {"queries_timed_out", st.queries_timed_out},
              {"clock_refused", st.clock_refused},
              {"protocol_errors", st.protocol_errors},
              {"implicit_publishers", d.implicit_publishers},
              {"implicit_collected", st.implicit_collected},
              {"implicit_evicted", st.implicit_evicted},
              {"frames_compressed", st.frames_compressed},
              {"compress_bytes_in", st.compress_bytes_in},
              {"compress_bytes_out", st.compress_bytes_out},
              {"frames_left_raw", st.frames_left_raw},
              {"frames_decompressed", st.frames_decompressed},
              {"decompress_refused", st.decompress_refused}};
}

json metrics_json(const metrics& m) {
  return json{
      {"connections_opened_inbound", m.connections_opened_inbound},
      {"connections_opened_outbound", m.connections_opened_outbound},
      {"connections_closed_inbound", m.connections_closed_inbound},
      {"connections_closed_outbound", m.connections_closed_outbound},
      {"connections_established", m.connections_established},
      {"connections_closed_by_error", m.connections_closed_by_error},
      {"handshake_failures_timeout", m.handshake_failures_timeout},
      {"handshake_failures_negotiation", m.handshake_failures_negotiation},
      {"handshake_failures_security", m.handshake_failures_security},
      {"handshake_failures_io", m.handshake_failures_io},
      {"handshake_failures_other", m.handshake_failures_other},
      {"protocol_errors", m.protocol_errors},
      {"inbound_refused_limit", m.inbound_refused_limit},
      {"inbound_refused_per_ip", m.inbound_refused_per_ip},
      {"refused_per_peer", m.refused_per_peer},
      {"refused_not_member", m.refused_not_member},
      {"guests_admitted", m.guests_admitted},
      {"misbehaviour_reports", m.misbehaviour_reports},
      {"peers_banned", m.peers_banned},
      {"refused_banned", m.refused_banned},
      {"duplicates_closed", m.duplicates_closed},
      {"streams_opened_inbound", m.streams_opened_inbound},
      {"streams_opened_outbound", m.streams_opened_outbound},
      {"streams_reset_by_peer", m.streams_reset_by_peer},
      {"streams_reset_locally", m.streams_reset_locally},
      {"streams_refused", m.streams_refused},
      {"stream_negotiation_failures", m.stream_negotiation_failures},
      {"stream_negotiation_timeouts", m.stream_negotiation_timeouts},
      {"bytes_in", m.bytes_in},
      {"bytes_out", m.bytes_out},
  };
}

json optional_number(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}

/// `j` must be an object: the first check of every parse_* function.
detailed_result<void> need_object(const json& j) {
  if (!j.is_object()) return fail(api_errc::not_an_object, "not a JSON object");
  return {};
}

/// A line with "ok":false is a refusal whatever else it says.
detailed_result<std::optional<refusal>> as_refusal(const json& j) {
  auto it = j.find("ok");
  if (it == j.end()) return std::optional<refusal>();
  if (!it->is_boolean()) return reader(j, "response").wrong("ok", "a boolean");
  if (it->get<bool>()) return std::optional<refusal>();
  auto error =
      STARLING_TRY(reader(j, "response").string_or("error", "the node refused the request"));
  return std::optional<refusal>(refusal{std::move(error)});
}

}  // namespace

const std::error_category& api_category() noexcept {
  static const api_category_impl c;
  return c;
}

std::vector<std::string_view> session_commands() {
  std::vector<std::string_view> out;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    auto add = [&]<class T>(tag<T>) {
      if (T::opens_session) out.push_back(T::command);
    };
    (add(tag<std::variant_alternative_t<I, request>>{}), ...);
  }
  (std::make_index_sequence<std::variant_size_v<request>>{});
  return out;
}

detailed_result<request> parse_request(const json& j) {
  if (!j.is_object()) return fail(api_errc::not_an_object, "the request is not a JSON object");
  auto it = j.find("cmd");
  if (it == j.end()) return fail(api_errc::missing_command, "missing \"cmd\"");
  if (!it->is_string()) return fail(api_errc::wrong_type, "\"cmd\" must be a string");
  const auto& cmd = it->get_ref<const std::string&>();
  if (cmd.empty()) return fail(api_errc::missing_command, "missing \"cmd\"");
  return parse_by_name(cmd, j, std::make_index_sequence<std::variant_size_v<request>>{});
}

json to_json(const request& r) {
  return std::visit(
      [](const auto& v) {
        json j{{"cmd", std::decay_t<decltype(v)>::command}};
        render_body(v, j);
        return j;
      },
      r);
}

std::optional<data::query_target> parse_target(std::string_view text) {
  if (text == "all") return data::query_target::all;
  if (text == "best") return data::query_target::best;
  if (text == "complete") return data::query_target::all_complete;
  return std::nullopt;
}

std::string_view target_name(data::query_target t) {
  switch (t) {
    case data::query_target::all:
      return "all";
    case data::query_target::best:
      return "best";
    case data::query_target::all_complete:
      return "complete";
  }
  return "all";
}

// --- responses ------------------------------------------------------------------------------

json to_json(const ok_response&) {
  return json{{"ok", true}};
}

json to_json(const refusal& r) {
  return json{{"ok", false}, {"error", r.error}};
}

json to_json(const ack& r) {
  return std::visit([](const auto& v) { return to_json(v); }, r);
}

json to_json(const peers_response& r) {
  json list = json::array();
  for (const auto& p : r.peers) {
    list.push_back(json{{"id", p.id},
                        {"addr", p.addr},
                        {"direction", p.inbound ? "inbound" : "outbound"},
                        {"rtt_ms", optional_number(p.rtt_ms)},
                        {"since", p.since},
                        {"connected_seconds", p.connected_seconds},
                        {"bytes_in", p.bytes_in},
                        {"bytes_out", p.bytes_out},
                        {"agent", p.agent}});
  }
  return json{{"ok", true}, {"peers", std::move(list)}};
}

json to_json(const known_response& r) {
  json list = json::array();
  for (const auto& k : r.known) {
    list.push_back(
        json{{"id", k.id},
             {"addrs", k.addrs},
             {"sources", k.sources},
             {"state", k.state},
             {"failures", k.failures},
             {"last_seen_seconds_ago", optional_number(k.last_seen_seconds_ago)},
             {"next_dial_in_ms", k.next_dial_in_ms ? json(*k.next_dial_in_ms) : json(nullptr)}});
  }
  return json{{"ok", true}, {"known", std::move(list)}};
}

json to_json(const network_response& r) {
  return json{{"ok", true},
              {"network", json{{"id", r.network_id},
                               {"name", r.name},
                               {"roles", r.roles},
                               {"owner", r.owner},
                               {"log_height", r.log_height}}}};
}

json to_json(const network_answer& r) {
  return std::visit([](const auto& v) { return to_json(v); }, r);
}

json to_json(const invite_answer& r) {
  if (const auto* f = std::get_if<refusal>(&r)) return to_json(*f);
  const auto& i = std::get<invite_response>(r);
  return json{{"ok", true}, {"code", i.code}, {"role", i.role}, {"expires_s", i.expires_s}};
}

json to_json(const acl_answer& r) {
  if (const auto* f = std::get_if<refusal>(&r)) return to_json(*f);
  const auto& a = std::get<acl_response>(r);
  return json{{"ok", true}, {"version", a.version}, {"default", a.is_default}, {"text", a.text}};
}

json to_json(const explain_answer& r) {
  if (const auto* f = std::get_if<refusal>(&r)) return to_json(*f);
  return json{{"ok", true}, {"explanation", std::get<explain_response>(r).explanation}};
}

json to_json(const members_response& r) {
  json list = json::array();
  for (const auto& m : r.members) {
    list.push_back(json{{"id", m.id},
                        {"roles", m.roles},
                        {"admin", m.admin},
                        {"owner", m.owner},
                        {"revoked", m.revoked},
                        {"connected", m.connected},
                        {"self", m.self}});
  }
  json out{{"ok", true}, {"members", std::move(list)}};
  out["network"] = r.network ? to_json(*r.network)["network"] : json(nullptr);
  return out;
}

json to_json(const status_response& r) {
  json mdns{{"enabled", r.mdns.enabled}, {"interfaces", r.mdns.interfaces}};
  if (r.mdns.stats) {
    const auto& s = *r.mdns.stats;
    mdns["packets_sent"] = s.packets_sent;
    mdns["packets_received"] = s.packets_received;
    mdns["bytes_sent"] = s.bytes_sent;
    mdns["bytes_received"] = s.bytes_received;
    mdns["malformed"] = s.malformed;
  }
  json storages = json::array();
  for (const auto& st : r.storages) {
    storages.push_back(json{{"expr", st.expr},
                            {"keys", st.keys},
                            {"bytes", st.bytes},
                            {"stored", st.stored},
                            {"stale", st.stale},
                            {"refused", st.refused},
                            {"evicted_keys", st.evicted_keys},
                            {"queries", st.queries}});
  }
  json out{{"ok", true},
           {"id", r.id},
           {"agent", r.agent},
           {"uptime_seconds", r.uptime_seconds},
           {"data_dir", r.data_dir},
           {"listen", r.listen},
           {"connected_peers", r.connected_peers},
           {"known_peers", r.known_peers},
           {"connections", r.connections},
           {"mdns", std::move(mdns)},
           {"data", data_json(r.data)},
           {"storages", std::move(storages)},
           {"metrics", metrics_json(r.counters)}};
  out["network"] = r.network ? to_json(*r.network)["network"] : json(nullptr);
  return out;
}

// --- session lines --------------------------------------------------------------------------

json to_json(const accepted& e) {
  json j{{"ok", true}};
  if (e.qid) j["qid"] = *e.qid;
  return j;
}

json to_json(const sample_event& e) {
  return json{{"key", e.key},
              {"value_b64", to_base64(e.value)},
              {"encoding", e.encoding},
              {"kind", e.del ? "delete" : "put"},
              {"timestamp", e.timestamp},
              {"source", e.source},
              {"seq", e.seq}};
}

json to_json(const reply_event& e) {
  return json{{"reply",
               {{"key", e.key},
                {"value_b64", to_base64(e.value)},
                {"encoding", e.encoding},
                {"timestamp", e.timestamp},
                {"from", e.from},
                {"error", e.error}}}};
}

json to_json(const done_event& e) {
  return json{{"done",
               {{"replies", e.replies},
                {"nodes_asked", e.nodes_asked},
                {"nodes_answered", e.nodes_answered},
                {"nodes_gone", e.nodes_gone},
                {"timed_out", e.timed_out}}}};
}

json to_json(const query_event& e) {
  json m{{"handle", e.handle},
         {"selector", e.selector},
         {"parameters", e.parameters},
         {"origin", e.origin}};
  if (e.value) m["value_b64"] = to_base64(*e.value);
  return json{{"query", std::move(m)}};
}

json to_json(const reply_error_event& e) {
  return json{{"reply_error", e.error}, {"handle", e.handle}};
}

json to_json(const alive_event& e) {
  return json{{"alive", e.alive}, {"key", e.key}, {"node", e.node}};
}

detailed_result<std::variant<accepted, refusal>> parse_first_line(const json& j) {
  STARLING_TRY(need_object(j));
  const reader r(j, "response");
  const bool ok = STARLING_TRY(r.boolean("ok"));
  if (!ok) return std::variant<accepted, refusal>(STARLING_TRY(as_refusal(j)).value());
  accepted a;
  a.qid = STARLING_TRY(r.opt_uint("qid"));
  return std::variant<accepted, refusal>(a);
}

detailed_result<sub_event> parse_sub_event(const json& j) {
  STARLING_TRY(need_object(j));
  if (auto ref = STARLING_TRY(as_refusal(j))) return sub_event(std::move(*ref));
  const reader r(j, "sample");
  sample_event s;
  s.key = STARLING_TRY(r.string("key"));
  s.value = STARLING_TRY(r.base64_or_empty("value_b64"));
  s.encoding = STARLING_TRY(r.string_or("encoding", {}));
  const auto kind = STARLING_TRY(r.string_or("kind", "put"));
  if (kind != "put" && kind != "delete")
    return fail(api_errc::bad_value, "sample: kind must be put or delete, not '" + kind + "'");
  s.del = kind == "delete";
  s.timestamp = STARLING_TRY(r.string_or("timestamp", {}));
  s.source = STARLING_TRY(r.string_or("source", {}));
  s.seq = STARLING_TRY(r.uint_or("seq", 0));
  return sub_event(std::move(s));
}

detailed_result<get_event> parse_get_event(const json& j) {
  STARLING_TRY(need_object(j));
  if (auto ref = STARLING_TRY(as_refusal(j))) return get_event(std::move(*ref));
  if (j.contains("done")) {
    const json* d = STARLING_TRY(reader(j, "done").object("done"));
    const reader r(*d, "done");
    done_event e;
    e.replies = STARLING_TRY(r.uint_or("replies", 0));
    e.nodes_asked = STARLING_TRY(r.uint_or("nodes_asked", 0));
    e.nodes_answered = STARLING_TRY(r.uint_or("nodes_answered", 0));
    e.nodes_gone = STARLING_TRY(r.uint_or("nodes_gone", 0));
    e.timed_out = STARLING_TRY(r.bool_or("timed_out", false));
    return get_event(e);
  }
  const json* o = STARLING_TRY(reader(j, "get").object("reply"));
  const reader r(*o, "reply");
  reply_event e;
  e.key = STARLING_TRY(r.string("key"));
  e.value = STARLING_TRY(r.base64_or_empty("value_b64"));
  e.encoding = STARLING_TRY(r.string_or("encoding", {}));
  e.timestamp = STARLING_TRY(r.string_or("timestamp", {}));
  e.from = STARLING_TRY(r.string_or("from", {}));
  e.error = STARLING_TRY(r.bool_or("error", false));
  return get_event(std::move(e));
}

detailed_result<queryable_event> parse_queryable_event(const json& j) {
  STARLING_TRY(need_object(j));
  if (auto ref = STARLING_TRY(as_refusal(j))) return queryable_event(std::move(*ref));
  if (j.contains("reply_error")) {
    const reader r(j, "reply_error");
    reply_error_event e;
    e.error = STARLING_TRY(r.string("reply_error"));
    e.handle = STARLING_TRY(r.uint_or("handle", 0));
    return queryable_event(std::move(e));
  }
  const json* o = STARLING_TRY(reader(j, "queryable").object("query"));
  const reader r(*o, "query");
  query_event e;
  e.handle = STARLING_TRY(r.uint("handle"));
  e.selector = STARLING_TRY(r.string("selector"));
  e.parameters = STARLING_TRY(r.string_or("parameters", {}));
  e.origin = STARLING_TRY(r.string_or("origin", {}));
  e.value = STARLING_TRY(r.opt_base64("value_b64"));
  return queryable_event(std::move(e));
}

detailed_result<watch_event> parse_watch_event(const json& j) {
  STARLING_TRY(need_object(j));
  if (auto ref = STARLING_TRY(as_refusal(j))) return watch_event(std::move(*ref));
  const reader r(j, "watch");
  alive_event e;
  e.alive = STARLING_TRY(r.boolean("alive"));
  e.key = STARLING_TRY(r.string("key"));
  e.node = STARLING_TRY(r.string_or("node", {}));
  return watch_event(std::move(e));
}

detailed_result<queryable_message> parse_queryable_message(const json& j) {
  STARLING_TRY(need_object(j));
  if (j.contains("final")) {
    const reader r(j, "final");
    return queryable_message(final_message{STARLING_TRY(r.uint("final"))});
  }
  const reader r(j, "reply");
  reply_message m;
  m.handle = STARLING_TRY(r.uint("reply"));
  m.key = STARLING_TRY(r.string("key"));
  m.value = STARLING_TRY(r.base64_or_empty("value_b64"));
  m.encoding = STARLING_TRY(r.string_or("encoding", {}));
  m.error = STARLING_TRY(r.bool_or("error", false));
  return queryable_message(std::move(m));
}

json to_json(const queryable_message& m) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, final_message>) {
          return json{{"final", v.handle}};
        } else {
          return json{{"reply", v.handle},
                      {"key", v.key},
                      {"value_b64", to_base64(v.value)},
                      {"encoding", v.encoding},
                      {"error", v.error}};
        }
      },
      m);
}

}  // namespace api
}  // namespace starling::node
