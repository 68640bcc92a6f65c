#include "node/data_control.hpp"

#include <type_traits>

#include "core/data/hlc.hpp"
#include "core/keyexpr/keyexpr.hpp"

namespace starling::node {

using nlohmann::json;

namespace {

/// The parser's precise message for a bad key or expression ("home//temp: empty chunk at
/// byte 5"), or "TEXT: what the engine said".
std::string describe(const std::string& text, std::error_code ec, bool key) {
  if (key) {
    auto k = keyexpr::key::parse(text);
    if (!k) return k.error().message();
  } else {
    auto x = keyexpr::keyexpr::parse(text);
    if (!x) return x.error().message();
  }
  return text + ": " + ec.message();
}

json refuse(std::string why) {
  return api::to_json(api::refusal{std::move(why)});
}

/// Ends a session the node refused: the reason, then close.
void refuse_session(control_session& s, std::string why) {
  s.send(refuse(std::move(why)));
  s.close();
}

}  // namespace

data_control::data_control(data_service& data, control_server& server) : m_data(data) {
  for (auto cmd : api::session_commands()) {
    server.set_session_handler(std::string(cmd),
                               [this, alive = std::weak_ptr<bool>(m_alive)](
                                   const json& req, std::shared_ptr<control_session> s) {
                                 auto a = alive.lock();
                                 if (!a || !*a) {
                                   refuse_session(*s, "the data layer is not running");
                                   return;
                                 }
                                 start_session(req, std::move(s));
                               });
  }
}

void data_control::start_session(const json& request, std::shared_ptr<control_session> s) {
  auto req = api::parse_request(request);
  if (!req) {
    refuse_session(*s, std::move(req.error().message));
    return;
  }
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, api::join_request>) {
          // The daemon registers its own handler for join over this one.
          refuse_session(*s, "join is not a data command");
        } else if constexpr (T::opens_session) {
          open(r, std::move(s));
        } else {
          // control_server routes only session commands here.
          refuse_session(*s, "'" + std::string(T::command) + "' does not open a session");
        }
      },
      *req);
}

data_control::~data_control() {
  *m_alive = false;
  auto sessions = std::move(m_sessions);
  for (auto& [id, entry] : sessions) {
    if (entry.second) entry.second();
    entry.first->close();
  }
}

void data_control::track(const std::shared_ptr<control_session>& s, std::function<void()> undo) {
  const std::uint64_t id = s->id();
  m_sessions[id] = {s, std::move(undo)};
  s->on_close([this, alive = std::weak_ptr<bool>(m_alive), id](std::error_code) {
    auto a = alive.lock();
    if (!a || !*a) return;
    auto it = m_sessions.find(id);
    if (it == m_sessions.end()) return;
    auto undo_fn = std::move(it->second.second);
    m_sessions.erase(it);
    if (undo_fn) undo_fn();
  });
}

api::ack data_control::put(const api::put_request& r) {
  auto done = m_data.put(r.key, r.value, r.encoding, false);
  if (!done) return api::refusal{describe(r.key, done.error(), true)};
  return api::ok_response{};
}

api::ack data_control::del(const api::del_request& r) {
  auto done = m_data.put(r.key, {}, {}, true);
  if (!done) return api::refusal{describe(r.key, done.error(), true)};
  return api::ok_response{};
}

void data_control::open(const api::sub_request& r, std::shared_ptr<control_session> session) {
  // latest sends the current values (from storages) first; see
  // data_service::subscribe(expr, fn, latest_first) for how duplicates are avoided.
  auto id = m_data.subscribe(
      r.expr,
      [s = std::weak_ptr<control_session>(session)](const data::sample& sm) {
        auto live = s.lock();
        if (!live) return;
        live->send(api::to_json(
            api::sample_event{std::string(sm.key), bytes(sm.payload.begin(), sm.payload.end()),
                              std::string(sm.encoding), sm.del, data::format_ntp64(sm.timestamp),
                              sm.source ? sm.source->to_string() : std::string(), sm.seq}));
      },
      r.latest);
  if (!id) {
    refuse_session(*session, describe(r.expr, id.error(), false));
    return;
  }
  const std::uint64_t sub_id = *id;
  session->send(api::to_json(api::accepted{}));
  track(session, [this, sub_id] { m_data.unsubscribe(sub_id); });
}

void data_control::open(const api::get_request& r, std::shared_ptr<control_session> session) {
  data::query_options o;
  o.parameters = r.parameters;
  o.timeout = r.timeout;
  o.target = r.target;
  o.consolidate = r.consolidation;
  o.payload = r.value;
  std::weak_ptr<control_session> weak = session;
  auto id = m_data.get(
      r.selector, o,
      [weak](const data::reply_view& rv) {
        if (auto s = weak.lock()) {
          s->send(api::to_json(
              api::reply_event{std::string(rv.key), bytes(rv.payload.begin(), rv.payload.end()),
                               std::string(rv.encoding), data::format_ntp64(rv.timestamp),
                               rv.from ? rv.from->to_string() : std::string(), rv.error}));
        }
      },
      [this, weak, alive = std::weak_ptr<bool>(m_alive)](const data::query_result& qr) {
        auto s = weak.lock();
        if (!s) return;
        s->send(api::to_json(api::done_event{qr.replies, qr.nodes_asked, qr.nodes_answered,
                                             qr.nodes_gone, qr.timed_out}));
        s->close();
        if (auto a = alive.lock(); a && *a) m_sessions.erase(s->id());
      });
  if (!id) {
    refuse_session(*session, describe(r.selector, id.error(), false));
    return;
  }
  session->send(api::to_json(api::accepted{*id}));
  // Held until the query ends; a client that leaves first just misses the rest.
  track(session, nullptr);
}

void data_control::open(const api::queryable_request& r, std::shared_ptr<control_session> session) {
  // Queries handed to this client and not finished yet: finished for it when it leaves.
  auto open_queries = std::make_shared<std::set<std::uint64_t>>();
  std::weak_ptr<control_session> weak = session;
  auto id = m_data.declare_queryable(
      r.expr, r.complete, [weak, open_queries](const data::query_request& q) {
        auto s = weak.lock();
        if (!s) return;
        api::query_event e{q.handle, std::string(q.selector), std::string(q.parameters),
                           q.origin ? q.origin->to_string() : std::string(), std::nullopt};
        if (q.payload) e.value = bytes(q.payload->begin(), q.payload->end());
        if (s->send(api::to_json(e))) open_queries->insert(q.handle);
      });
  if (!id) {
    refuse_session(*session, describe(r.expr, id.error(), false));
    return;
  }
  const std::uint64_t qbl = *id;
  session->on_message([this, weak, open_queries](const json& line) {
    auto s = weak.lock();
    if (!s) return;
    auto m = api::parse_queryable_message(line);
    if (!m) {
      // The handle, when the line names one, tells the client which answer was refused.
      auto h = line.find("reply");
      s->send(api::to_json(api::reply_error_event{
          h != line.end() && h->is_number_unsigned() ? h->get<std::uint64_t>() : 0,
          std::move(m.error().message)}));
      return;
    }
    std::visit(
        [&](const auto& msg) {
          using T = std::decay_t<decltype(msg)>;
          if constexpr (std::is_same_v<T, api::final_message>) {
            if (open_queries->erase(msg.handle)) m_data.reply_final(msg.handle);
          } else {
            auto done = m_data.reply(msg.handle, msg.key, msg.value, msg.encoding, msg.error);
            if (!done)
              s->send(api::to_json(
                  api::reply_error_event{msg.handle, describe(msg.key, done.error(), true)}));
          }
        },
        *m);
  });
  session->send(api::to_json(api::accepted{}));
  track(session, [this, qbl, open_queries] {
    m_data.undeclare_queryable(qbl);
    for (auto h : *open_queries)
      m_data.reply_final(h);
  });
}

void data_control::open(const api::token_request& r, std::shared_ptr<control_session> session) {
  auto id = m_data.declare_token(r.key);
  if (!id) {
    refuse_session(*session, describe(r.key, id.error(), true));
    return;
  }
  const std::uint64_t tok = *id;
  session->send(api::to_json(api::accepted{}));
  track(session, [this, tok] { m_data.undeclare_token(tok); });
}

void data_control::open(const api::watch_request& r, std::shared_ptr<control_session> session) {
  // The current tokens come from inside watch_liveliness(): they follow the "ok" line.
  struct start {
    bool accepted = false;
    std::vector<api::alive_event> early;
  };
  auto st = std::make_shared<start>();
  std::weak_ptr<control_session> weak = session;
  auto id = m_data.watch_liveliness(
      r.expr, [weak, st](std::string_view key, const data::peer_id& node, bool up) {
        api::alive_event e{up, std::string(key), node.to_string()};
        if (!st->accepted) {
          st->early.push_back(std::move(e));
        } else if (auto s = weak.lock()) {
          s->send(api::to_json(e));
        }
      });
  if (!id) {
    refuse_session(*session, describe(r.expr, id.error(), false));
    return;
  }
  session->send(api::to_json(api::accepted{}));
  st->accepted = true;
  for (auto& e : st->early)
    session->send(api::to_json(e));
  st->early.clear();
  const std::uint64_t w = *id;
  track(session, [this, w] { m_data.unwatch_liveliness(w); });
}

}  // namespace starling::node
