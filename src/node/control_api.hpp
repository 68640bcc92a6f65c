#pragma once
/// The control socket's requests, responses and session messages as C++ types, and the one
/// place that turns them into JSON and back (src/node/control.hpp carries the lines).
///
/// A client's first line is a `request`: one struct per command, in one std::variant.
/// parse_request() checks a JSON object field by field and names what is wrong; to_json()
/// renders any type here as the line on the socket. The node dispatches a parsed request with
/// std::visit (node::daemon for one-shot commands, node::data_control for sessions), so a
/// command added to `request` does not compile until something handles it. The CLI builds its
/// requests from the same structs and reads session lines with the parse_*_event functions.
///
///   one-shot  status, peers, known       -> status_response, peers_response, known_response
///   one-shot  put, del                   -> ack ({"ok":true} or a refusal)
///   session   sub                        -> accepted, then sample_event per sample
///   session   get                        -> accepted{qid}, reply_event per reply, done_event
///   session   queryable                  -> accepted, then query_event per query; the client
///                                           sends reply_message and final_message lines, the
///                                           node answers a bad one with reply_error_event
///   session   token                      -> accepted; the token lives as long as the session
///   session   watch                      -> accepted, then alive_event per change
/// Any session may end with a refusal ({"ok":false,"error":...}) line.
///
/// Fields the parser does not know are ignored (a newer CLI may send more). Payloads travel as
/// base64 (`value_b64`). docs/cli.md shows the commands; docs/architecture.md the design.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/data/engine.hpp"
#include "node/detailed_error.hpp"
#include "node/mdns_service.hpp"
#include "node/metrics.hpp"

namespace starling::node {

/// Base64 (RFC 4648, with padding) of `b`.
std::string to_base64(bytes_view b);
/// Decodes base64 into `out`; false when `text` is not base64.
bool from_base64(const std::string& text, bytes& out);

namespace api {

/// Why a control line was refused by the parser; the detailed_error's message names the
/// command and the field, e.g. `get: "timeout_ms" must be an unsigned integer`.
enum class api_errc {
  not_an_object = 1,  ///< the line is not a JSON object
  missing_command,    ///< no "cmd" (message: `missing "cmd"`)
  unknown_command,    ///< "cmd" names no command (message: `unknown command 'x'`)
  missing_field,      ///< a required field is absent
  wrong_type,         ///< a field has the wrong JSON type
  bad_value,          ///< a field has the right type but a value out of its range or set
};
/// The category of api_errc ("control_api").
const std::error_category& api_category() noexcept;
/// Makes a std::error_code of api_category().
inline std::error_code make_error_code(api_errc e) noexcept {
  return {static_cast<int>(e), api_category()};
}

// --- requests: the first line a client sends ----------------------------------------------

/// {"cmd":"status"}: the node's identity, addresses, counters.
struct status_request {
  static constexpr std::string_view command = "status";
  static constexpr bool opens_session = false;
  friend bool operator==(const status_request&, const status_request&) = default;
};
/// {"cmd":"peers"}: the connected peers.
struct peers_request {
  static constexpr std::string_view command = "peers";
  static constexpr bool opens_session = false;
  friend bool operator==(const peers_request&, const peers_request&) = default;
};
/// {"cmd":"known"}: every peer the mesh manager knows.
struct known_request {
  static constexpr std::string_view command = "known";
  static constexpr bool opens_session = false;
  friend bool operator==(const known_request&, const known_request&) = default;
};
/// {"cmd":"put","key":K[,"value_b64":V][,"encoding":E]}: publish a value (empty when absent).
struct put_request {
  static constexpr std::string_view command = "put";
  static constexpr bool opens_session = false;
  std::string key;
  bytes value;
  std::string encoding;
  friend bool operator==(const put_request&, const put_request&) = default;
};
/// {"cmd":"del","key":K}: publish a delete.
struct del_request {
  static constexpr std::string_view command = "del";
  static constexpr bool opens_session = false;
  std::string key;
  friend bool operator==(const del_request&, const del_request&) = default;
};
/// {"cmd":"sub","expr":X[,"latest":B]}: a subscription; with latest, the current values (from
/// storages, seq 0) come first.
struct sub_request {
  static constexpr std::string_view command = "sub";
  static constexpr bool opens_session = true;
  std::string expr;
  bool latest = false;
  friend bool operator==(const sub_request&, const sub_request&) = default;
};
/// {"cmd":"get","selector":S[,"parameters":P][,"timeout_ms":T][,"target":"all"|"best"|
/// "complete"][,"consolidation":"none"|"latest"][,"value_b64":V]}: one query.
struct get_request {
  static constexpr std::string_view command = "get";
  static constexpr bool opens_session = true;
  /// The most a query may wait.
  static constexpr std::chrono::milliseconds max_timeout{3'600'000};
  std::string selector;
  std::string parameters;
  std::chrono::milliseconds timeout{10'000};  ///< 1 ms to max_timeout
  data::query_target target = data::query_target::all;
  data::consolidation consolidation = data::consolidation::none;
  std::optional<bytes> value;
  friend bool operator==(const get_request&, const get_request&) = default;
};
/// {"cmd":"queryable","expr":X[,"complete":B]}: answer queries on X from the client.
struct queryable_request {
  static constexpr std::string_view command = "queryable";
  static constexpr bool opens_session = true;
  std::string expr;
  bool complete = false;
  friend bool operator==(const queryable_request&, const queryable_request&) = default;
};
/// {"cmd":"token","key":K}: a liveliness token alive as long as the session.
struct token_request {
  static constexpr std::string_view command = "token";
  static constexpr bool opens_session = true;
  std::string key;
  friend bool operator==(const token_request&, const token_request&) = default;
};
/// {"cmd":"watch","expr":X}: liveliness changes of the tokens matching X.
struct watch_request {
  static constexpr std::string_view command = "watch";
  static constexpr bool opens_session = true;
  std::string expr;
  friend bool operator==(const watch_request&, const watch_request&) = default;
};

/// {"cmd":"network_create"[,"name":N]}: make a new network owned by this node.
struct network_create_request {
  static constexpr std::string_view command = "network_create";
  static constexpr bool opens_session = false;
  std::string name = "home";
  friend bool operator==(const network_create_request&, const network_create_request&) = default;
};
/// {"cmd":"invite","role":R[,"expires_s":S]}: open an invite; the answer carries the code.
struct invite_request {
  static constexpr std::string_view command = "invite";
  static constexpr bool opens_session = false;
  std::string role;
  std::uint64_t expires_s = 600;
  friend bool operator==(const invite_request&, const invite_request&) = default;
};
/// {"cmd":"members"}: every key the membership log names.
struct members_request {
  static constexpr std::string_view command = "members";
  static constexpr bool opens_session = false;
  friend bool operator==(const members_request&, const members_request&) = default;
};
/// {"cmd":"revoke","peer":P}: revoke a peer for good.
struct revoke_request {
  static constexpr std::string_view command = "revoke";
  static constexpr bool opens_session = false;
  std::string peer;
  friend bool operator==(const revoke_request&, const revoke_request&) = default;
};
/// {"cmd":"role","peer":P,"roles":[R...]}: replace a member's roles.
struct role_request {
  static constexpr std::string_view command = "role";
  static constexpr bool opens_session = false;
  std::string peer;
  std::vector<std::string> roles;
  friend bool operator==(const role_request&, const role_request&) = default;
};
/// {"cmd":"join","code":C[,"peers":[A...]]}: join the network of the code's inviter. A
/// session: the node answers one line once the join succeeded (a network_response) or failed
/// (a refusal), then closes.
struct join_request {
  static constexpr std::string_view command = "join";
  static constexpr bool opens_session = true;
  std::string code;
  std::vector<std::string> peers;  ///< extra inviter addresses (multiaddrs with /p2p/)
  friend bool operator==(const join_request&, const join_request&) = default;
};

/// {"cmd":"acl_show"}: the policy in force.
struct acl_show_request {
  static constexpr std::string_view command = "acl_show";
  static constexpr bool opens_session = false;
  friend bool operator==(const acl_show_request&, const acl_show_request&) = default;
};
/// {"cmd":"acl_set","text":T}: apply a policy file's text (a signed log entry).
struct acl_set_request {
  static constexpr std::string_view command = "acl_set";
  static constexpr bool opens_session = false;
  std::string text;
  friend bool operator==(const acl_set_request&, const acl_set_request&) = default;
};
/// {"cmd":"acl_explain","peer":P,"op":O,"key":K}: which rule decides, as a sentence.
struct acl_explain_request {
  static constexpr std::string_view command = "acl_explain";
  static constexpr bool opens_session = false;
  std::string peer;
  std::string op;
  std::string key;
  friend bool operator==(const acl_explain_request&, const acl_explain_request&) = default;
};

/// Every request a client may send first.
using request = std::variant<status_request, peers_request, known_request, put_request, del_request,
                             sub_request, get_request, queryable_request, token_request,
                             watch_request, network_create_request, invite_request, members_request,
                             revoke_request, role_request, join_request, acl_show_request,
                             acl_set_request, acl_explain_request>;

/// The "cmd" names of the requests that open a session, in `request` order.
std::vector<std::string_view> session_commands();

/// Checks and converts a request line. Errors (api_errc, message for the client):
/// not_an_object, missing_command, unknown_command, missing_field, wrong_type, bad_value
/// (value_b64 not base64; a get's timeout, target or consolidation). The caller answers
/// {"ok":false,"error":message}.
detailed_result<request> parse_request(const nlohmann::json& j);
/// The request line of `r` (every field, defaults included).
nlohmann::json to_json(const request& r);

/// "all", "best", "complete" -> the target; nullopt for anything else.
std::optional<data::query_target> parse_target(std::string_view text);
/// The name of a target ("all", "best", "complete").
std::string_view target_name(data::query_target t);

// --- one-shot responses ---------------------------------------------------------------------

/// {"ok":true}.
struct ok_response {
  friend bool operator==(const ok_response&, const ok_response&) = default;
};
/// {"ok":false,"error":E}: a refused request, or the last line of a session the node ends.
struct refusal {
  std::string error;
  friend bool operator==(const refusal&, const refusal&) = default;
};
/// The answer to put and del.
using ack = std::variant<ok_response, refusal>;

/// One connected peer.
struct peer_info {
  std::string id;
  std::string addr;
  bool inbound = false;          ///< "direction": "inbound" or "outbound"
  std::optional<double> rtt_ms;  ///< null until a ping measured it
  double since = 0;              ///< unix seconds
  double connected_seconds = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string agent;  ///< "" before identify
};
/// {"ok":true,"peers":[...]}.
struct peers_response {
  std::vector<peer_info> peers;
};

/// One peer the mesh manager knows.
struct known_peer_info {
  std::string id;
  std::vector<std::string> addrs;
  std::vector<std::string> sources;  ///< "bootstrap", "mdns", "pex", "store", ...
  std::string state;                 ///< "idle", "dialing", "connected", "backoff"
  std::uint32_t failures = 0;
  std::optional<double> last_seen_seconds_ago;
  std::optional<std::int64_t> next_dial_in_ms;  ///< idle and backoff peers only
};
/// {"ok":true,"known":[...]}.
struct known_response {
  std::vector<known_peer_info> known;
};

/// The "mdns" object of a status.
struct mdns_status {
  bool enabled = false;
  std::vector<std::string> interfaces;
  std::optional<mdns_stats> stats;  ///< when enabled
};
/// The "data" object of a status.
struct data_status {
  std::uint64_t links = 0;
  std::uint64_t nodes = 0;
  std::uint64_t samples_held = 0;
  std::uint64_t implicit_publishers = 0;
  data::engine_stats stats;
};
/// One entry of a status's "storages".
struct storage_status {
  std::string expr;
  std::uint64_t keys = 0;
  std::uint64_t bytes = 0;
  std::uint64_t stored = 0;
  std::uint64_t stale = 0;
  std::uint64_t refused = 0;
  std::uint64_t evicted_keys = 0;
  std::uint64_t queries = 0;
};
/// {"ok":true,"network":{...}}: a network this node belongs to (network_create, join).
struct network_response {
  std::string network_id;
  std::string name;
  std::vector<std::string> roles;
  bool owner = false;
  std::uint64_t log_height = 0;
};
/// {"ok":true,"id":...}: the answer to status.
struct status_response {
  std::string id;
  std::string agent;
  double uptime_seconds = 0;
  std::string data_dir;
  std::vector<std::string> listen;
  std::uint64_t connected_peers = 0;
  std::uint64_t known_peers = 0;
  std::uint64_t connections = 0;
  mdns_status mdns;
  data_status data;
  std::vector<storage_status> storages;
  metrics counters;  ///< "metrics"
  /// "network": this node's network, or null when it runs open (admits every peer).
  std::optional<network_response> network;
};

/// {"ok":true,"code":C,"role":R,"expires_s":S}: the answer to invite.
struct invite_response {
  std::string code;
  std::string role;
  std::uint64_t expires_s = 0;
};
/// One member of members_response.
struct member_info {
  std::string id;
  std::vector<std::string> roles;
  bool admin = false;
  bool owner = false;
  bool revoked = false;
  bool connected = false;
  bool self = false;
};
/// {"ok":true,"network":{...}|null,"members":[...]}.
struct members_response {
  std::optional<network_response> network;
  std::vector<member_info> members;
};
/// {"ok":true,"version":V,"default":B,"text":T}: the policy in force (acl_show, acl_set).
struct acl_response {
  std::uint64_t version = 0;  ///< 0: the default policy
  bool is_default = true;
  std::string text;  ///< the policy file's text; empty for the default policy
};
/// {"ok":true,"explanation":S}.
struct explain_response {
  std::string explanation;
};
/// An acl answer or a refusal.
using acl_answer = std::variant<acl_response, refusal>;
/// An explain answer or a refusal.
using explain_answer = std::variant<explain_response, refusal>;
/// A network answer or a refusal.
using network_answer = std::variant<network_response, refusal>;
/// An invite answer or a refusal.
using invite_answer = std::variant<invite_response, refusal>;

/// The response lines. Each carries "ok".
nlohmann::json to_json(const ok_response& r);
nlohmann::json to_json(const refusal& r);
nlohmann::json to_json(const ack& r);
nlohmann::json to_json(const peers_response& r);
nlohmann::json to_json(const known_response& r);
nlohmann::json to_json(const status_response& r);
nlohmann::json to_json(const network_response& r);
nlohmann::json to_json(const network_answer& r);
nlohmann::json to_json(const invite_answer& r);
nlohmann::json to_json(const members_response& r);
nlohmann::json to_json(const acl_answer& r);
nlohmann::json to_json(const explain_answer& r);

// --- session lines --------------------------------------------------------------------------

/// {"ok":true[,"qid":N]}: the first line of an accepted session (get names its query).
struct accepted {
  std::optional<std::uint64_t> qid;
  friend bool operator==(const accepted&, const accepted&) = default;
};
/// A sample of a sub session: {"key","value_b64","encoding","kind":"put"|"delete",
/// "timestamp","source","seq"}.
struct sample_event {
  std::string key;
  bytes value;
  std::string encoding;
  bool del = false;
  std::string timestamp;  ///< data::format_ntp64 of the source's clock
  std::string source;     ///< the source node's peer id, "" if unknown
  std::uint64_t seq = 0;
  friend bool operator==(const sample_event&, const sample_event&) = default;
};
/// A reply of a get session: {"reply":{"key","value_b64","encoding","timestamp","from",
/// "error"}}.
struct reply_event {
  std::string key;
  bytes value;
  std::string encoding;
  std::string timestamp;
  std::string from;
  bool error = false;  ///< the queryable failed; value says why
  friend bool operator==(const reply_event&, const reply_event&) = default;
};
/// The end of a get session: {"done":{"replies","nodes_asked","nodes_answered","nodes_gone",
/// "timed_out"}}; the node closes the session after it.
struct done_event {
  std::uint64_t replies = 0;
  std::uint64_t nodes_asked = 0;
  std::uint64_t nodes_answered = 0;
  std::uint64_t nodes_gone = 0;
  bool timed_out = false;
  friend bool operator==(const done_event&, const done_event&) = default;
};
/// A query for a queryable session: {"query":{"handle","selector","parameters","origin"
/// [,"value_b64"]}}.
struct query_event {
  std::uint64_t handle = 0;
  std::string selector;
  std::string parameters;
  std::string origin;
  std::optional<bytes> value;
  friend bool operator==(const query_event&, const query_event&) = default;
};
/// A queryable client's line the node could not use: {"reply_error":E,"handle":H}.
struct reply_error_event {
  std::uint64_t handle = 0;
  std::string error;
  friend bool operator==(const reply_error_event&, const reply_error_event&) = default;
};
/// A liveliness change of a watch session: {"alive":B,"key":K,"node":N}.
struct alive_event {
  bool alive = false;
  std::string key;
  std::string node;
  friend bool operator==(const alive_event&, const alive_event&) = default;
};

nlohmann::json to_json(const accepted& e);
nlohmann::json to_json(const sample_event& e);
nlohmann::json to_json(const reply_event& e);
nlohmann::json to_json(const done_event& e);
nlohmann::json to_json(const query_event& e);
nlohmann::json to_json(const reply_error_event& e);
nlohmann::json to_json(const alive_event& e);

/// What the node may send after accepting each kind of session.
using sub_event = std::variant<sample_event, refusal>;
using get_event = std::variant<reply_event, done_event, refusal>;
using queryable_event = std::variant<query_event, reply_error_event, refusal>;
using watch_event = std::variant<alive_event, refusal>;

/// The first line of a session: accepted, or a refusal. Errors: not_an_object, missing_field
/// ("ok"), wrong_type.
detailed_result<std::variant<accepted, refusal>> parse_first_line(const nlohmann::json& j);
/// A later line of each session kind; a line carrying "ok":false is a refusal. Errors:
/// not_an_object, missing_field, wrong_type, bad_value (value_b64 not base64).
detailed_result<sub_event> parse_sub_event(const nlohmann::json& j);
detailed_result<get_event> parse_get_event(const nlohmann::json& j);
detailed_result<queryable_event> parse_queryable_event(const nlohmann::json& j);
detailed_result<watch_event> parse_watch_event(const nlohmann::json& j);

/// A queryable client's answer: {"reply":H,"key":K[,"value_b64":V][,"encoding":E]
/// [,"error":B]}; the value is empty when absent.
struct reply_message {
  std::uint64_t handle = 0;
  std::string key;
  bytes value;
  std::string encoding;
  bool error = false;
  friend bool operator==(const reply_message&, const reply_message&) = default;
};
/// A queryable client's last answer to a query: {"final":H}.
struct final_message {
  std::uint64_t handle = 0;
  friend bool operator==(const final_message&, const final_message&) = default;
};
/// What a queryable client may send.
using queryable_message = std::variant<reply_message, final_message>;

/// Checks a queryable client's line (a line with "final" is a final_message). Errors:
/// not_an_object, missing_field ("reply" or "key"), wrong_type, bad_value (value_b64 not
/// base64: message "value_b64 is not base64").
detailed_result<queryable_message> parse_queryable_message(const nlohmann::json& j);
nlohmann::json to_json(const queryable_message& m);

}  // namespace api
}  // namespace starling::node

template <>
struct std::is_error_code_enum<starling::node::api::api_errc> : std::true_type {};
