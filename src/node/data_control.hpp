#pragma once
/// The data layer on the control socket (src/node/control.hpp): what `starling put`, `del`,
/// `sub`, `get`, `reply` and `alive` ask the running node for. The requests, session lines and
/// their JSON are the types of node/control_api.hpp; this class carries them out. Sessions:
///
///   sub        -> accepted, then a sample_event per sample; with latest, the current values
///                 (from storages, seq 0) come first
///   get        -> accepted{qid}, a reply_event per reply, a done_event, then closes
///   queryable  -> accepted, then a query_event per query; the client answers reply_message
///                 and final_message lines; queries still open when it leaves are finished
///   token      -> accepted; the token lives as long as the session
///   watch      -> accepted, then an alive_event per change, the current tokens first

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "node/control.hpp"
#include "node/control_api.hpp"
#include "node/data_service.hpp"

namespace starling::node {

class data_control {
 public:
  /// Registers a session handler on `server` for every api::session_commands() (which must
  /// outlive this object's use).
  data_control(data_service& data, control_server& server);
  ~data_control();
  data_control(const data_control&) = delete;
  data_control& operator=(const data_control&) = delete;

  /// One-shot requests.
  api::ack put(const api::put_request& r);
  api::ack del(const api::del_request& r);

 private:
  /// Parses a session request and dispatches it to open() (std::visit: a session request
  /// type without an open() overload does not compile).
  void start_session(const nlohmann::json& request, std::shared_ptr<control_session> s);
  void open(const api::sub_request& r, std::shared_ptr<control_session> s);
  void open(const api::get_request& r, std::shared_ptr<control_session> s);
  void open(const api::queryable_request& r, std::shared_ptr<control_session> s);
  void open(const api::token_request& r, std::shared_ptr<control_session> s);
  void open(const api::watch_request& r, std::shared_ptr<control_session> s);
  /// Closes `s` when it ends (client gone or node shutting down) by calling `undo` once.
  void track(const std::shared_ptr<control_session>& s, std::function<void()> undo);

  data_service& m_data;
  /// Open sessions and what ends their declarations, by session id.
  std::map<std::uint64_t, std::pair<std::shared_ptr<control_session>, std::function<void()>>>
      m_sessions;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace starling::node
