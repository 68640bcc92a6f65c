#pragma once
/// The data layer on the control socket (src/node/control.hpp): what `starling put`, `del`,
/// `sub`, `get`, `reply` and `alive` ask the running node for. Requests and sessions are JSON
/// lines; payloads travel base64-encoded (`value_b64`). docs/cli.md shows the commands.
///
///   one-shot  {"cmd":"put","key":K,"value_b64":V,"encoding":E} / {"cmd":"del","key":K}
///   session   {"cmd":"sub","expr":X[,"latest":true]} -> {"ok":true}, then one line per
///             sample; with latest, the current values (from storages, seq 0) come first
///   session   {"cmd":"get","selector":S,"parameters":P,"timeout_ms":T,"target":"all"|"best"|
///             "complete","consolidation":"none"|"latest"[,"value_b64":V]}
///             -> {"ok":true,"qid":N}, {"reply":{...}} per reply, {"done":{...}}, then closes
///   session   {"cmd":"queryable","expr":X,"complete":B} -> {"ok":true}, then {"query":{...}}
///             per query; the client answers {"reply":H,"key":K,"value_b64":V,"encoding":E,
///             "error":B} and {"final":H}; queries still open when it leaves are finished
///   session   {"cmd":"token","key":K}            -> {"ok":true}; the token lives as long
///   session   {"cmd":"watch","expr":X}           -> {"ok":true}, then {"alive":B,"key":K,
///             "node":N} per change, the current tokens first

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "node/control.hpp"
#include "node/data_service.hpp"

namespace starling::node {

class data_control {
 public:
  /// Registers the session commands on `server` (which must outlive this object's use).
  data_control(data_service& data, control_server& server);
  ~data_control();
  data_control(const data_control&) = delete;
  data_control& operator=(const data_control&) = delete;

  /// One-shot requests: put (del = false) or del.
  nlohmann::json put(const nlohmann::json& request, bool del);

 private:
  void sub(const nlohmann::json& request, std::shared_ptr<control_session> s);
  void get(const nlohmann::json& request, std::shared_ptr<control_session> s);
  void queryable(const nlohmann::json& request, std::shared_ptr<control_session> s);
  void token(const nlohmann::json& request, std::shared_ptr<control_session> s);
  void watch(const nlohmann::json& request, std::shared_ptr<control_session> s);
  /// Closes `s` when it ends (client gone or node shutting down) by calling `undo` once.
  void track(const std::shared_ptr<control_session>& s, std::function<void()> undo);

  data_service& m_data;
  /// Open sessions and what ends their declarations, by session id.
  std::map<std::uint64_t, std::pair<std::shared_ptr<control_session>, std::function<void()>>>
      m_sessions;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

/// Base64 (RFC 4648, with padding) of `b`.
std::string to_base64(bytes_view b);
/// Decodes base64 into `out`; false when `text` is not base64.
bool from_base64(const std::string& text, bytes& out);

}  // namespace starling::node
