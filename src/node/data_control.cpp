#include "node/data_control.hpp"

#include <sodium.h>

#include <cstring>

#include "core/data/hlc.hpp"
#include "core/keyexpr/keyexpr.hpp"

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

json refuse(const std::string& why) {
  return json{{"ok", false}, {"error", why}};
}

}  // namespace

data_control::data_control(data_service& data, control_server& server) : m_data(data) {
  auto reg = [&](const char* cmd,
                 void (data_control::*fn)(const json&, std::shared_ptr<control_session>)) {
    server.set_session_handler(cmd, [this, fn, alive = std::weak_ptr<bool>(m_alive)](
                                        const json& req, std::shared_ptr<control_session> s) {
      auto a = alive.lock();
      if (!a || !*a) {
        s->send(refuse("the data layer is not running"));
        s->close();
        return;
      }
      (this->*fn)(req, std::move(s));
    });
  };
  reg("sub", &data_control::sub);
  reg("get", &data_control::get);
  reg("queryable", &data_control::queryable);
  reg("token", &data_control::token);
  reg("watch", &data_control::watch);
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

json data_control::put(const json& request, bool del) {
  const auto key = request.value("key", std::string());
  bytes value;
  if (!del && !from_base64(request.value("value_b64", std::string()), value)) {
    return refuse("value_b64 is not base64");
  }
  auto r = m_data.put(key, value, request.value("encoding", std::string()), del);
  if (!r) return refuse(describe(key, r.error(), true));
  return json{{"ok", true}};
}

void data_control::sub(const json& request, std::shared_ptr<control_session> session) {
  const auto expr = request.value("expr", std::string());
  // "latest": true sends the current values (from storages) first; see
  // data_service::subscribe(expr, fn, latest_first) for how duplicates are avoided.
  const bool latest = request.value("latest", false);
  auto id = m_data.subscribe(
      expr,
      [s = std::weak_ptr<control_session>(session)](const data::sample& sm) {
        auto live = s.lock();
        if (!live) return;
        live->send(json{{"key", std::string(sm.key)},
                        {"value_b64", to_base64(sm.payload)},
                        {"encoding", std::string(sm.encoding)},
                        {"kind", sm.del ? "delete" : "put"},
                        {"timestamp", data::format_ntp64(sm.timestamp)},
                        {"source", sm.source ? sm.source->to_string() : std::string()},
                        {"seq", sm.seq}});
      },
      latest);
  if (!id) {
    session->send(refuse(describe(expr, id.error(), false)));
    session->close();
    return;
  }
  const std::uint64_t sub_id = *id;
  session->send(json{{"ok", true}});
  track(session, [this, sub_id] { m_data.unsubscribe(sub_id); });
}

void data_control::get(const json& request, std::shared_ptr<control_session> session) {
  const auto selector = request.value("selector", std::string());
  data::query_options o;
  o.parameters = request.value("parameters", std::string());
  const auto timeout_ms = request.value("timeout_ms", std::uint64_t{10'000});
  if (timeout_ms == 0 || timeout_ms > 3'600'000) {
    session->send(refuse("timeout must be between 1 ms and 1 hour"));
    session->close();
    return;
  }
  o.timeout = std::chrono::milliseconds(timeout_ms);
  const auto target = request.value("target", std::string("all"));
  if (target == "all") {
    o.target = data::query_target::all;
  } else if (target == "best") {
    o.target = data::query_target::best;
  } else if (target == "complete") {
    o.target = data::query_target::all_complete;
  } else {
    session->send(refuse("target must be all, best or complete, not '" + target + "'"));
    session->close();
    return;
  }
  const auto cons = request.value("consolidation", std::string("none"));
  if (cons != "none" && cons != "latest") {
    session->send(refuse("consolidation must be none or latest, not '" + cons + "'"));
    session->close();
    return;
  }
  o.consolidate = cons == "latest" ? data::consolidation::latest : data::consolidation::none;
  if (request.contains("value_b64")) {
    bytes v;
    if (!from_base64(request.value("value_b64", std::string()), v)) {
      session->send(refuse("value_b64 is not base64"));
      session->close();
      return;
    }
    o.payload = std::move(v);
  }
  std::weak_ptr<control_session> weak = session;
  auto id = m_data.get(
      selector, o,
      [weak](const data::reply_view& r) {
        if (auto s = weak.lock()) {
          s->send(json{{"reply",
                        {{"key", std::string(r.key)},
                         {"value_b64", to_base64(r.payload)},
                         {"encoding", std::string(r.encoding)},
                         {"timestamp", data::format_ntp64(r.timestamp)},
                         {"from", r.from ? r.from->to_string() : std::string()},
                         {"error", r.error}}}});
        }
      },
      [this, weak, alive = std::weak_ptr<bool>(m_alive)](const data::query_result& r) {
        auto s = weak.lock();
        if (!s) return;
        s->send(json{{"done",
                      {{"replies", r.replies},
                       {"nodes_asked", r.nodes_asked},
                       {"nodes_answered", r.nodes_answered},
                       {"nodes_gone", r.nodes_gone},
                       {"timed_out", r.timed_out}}}});
        s->close();
        if (auto a = alive.lock(); a && *a) m_sessions.erase(s->id());
      });
  if (!id) {
    session->send(refuse(describe(selector, id.error(), false)));
    session->close();
    return;
  }
  session->send(json{{"ok", true}, {"qid", *id}});
  // Held until the query ends; a client that leaves first just misses the rest.
  track(session, nullptr);
}

void data_control::queryable(const json& request, std::shared_ptr<control_session> session) {
  const auto expr = request.value("expr", std::string());
  // Queries handed to this client and not finished yet: finished for it when it leaves.
  auto open = std::make_shared<std::set<std::uint64_t>>();
  std::weak_ptr<control_session> weak = session;
  auto id = m_data.declare_queryable(
      expr, request.value("complete", false), [weak, open](const data::query_request& q) {
        auto s = weak.lock();
        if (!s) return;
        json m{{"handle", q.handle},
               {"selector", std::string(q.selector)},
               {"parameters", std::string(q.parameters)},
               {"origin", q.origin ? q.origin->to_string() : std::string()}};
        if (q.payload) m["value_b64"] = to_base64(*q.payload);
        if (s->send(json{{"query", std::move(m)}})) open->insert(q.handle);
      });
  if (!id) {
    session->send(refuse(describe(expr, id.error(), false)));
    session->close();
    return;
  }
  const std::uint64_t qbl = *id;
  session->on_message([this, weak, open](const json& m) {
    auto s = weak.lock();
    if (!s) return;
    if (m.contains("final")) {
      const auto h = m.value("final", std::uint64_t{0});
      if (open->erase(h)) m_data.reply_final(h);
      return;
    }
    const auto h = m.value("reply", std::uint64_t{0});
    bytes v;
    if (!from_base64(m.value("value_b64", std::string()), v)) {
      s->send(json{{"reply_error", "value_b64 is not base64"}, {"handle", h}});
      return;
    }
    const auto key = m.value("key", std::string());
    auto r = m_data.reply(h, key, v, m.value("encoding", std::string()), m.value("error", false));
    if (!r) s->send(json{{"reply_error", describe(key, r.error(), true)}, {"handle", h}});
  });
  session->send(json{{"ok", true}});
  track(session, [this, qbl, open] {
    m_data.undeclare_queryable(qbl);
    for (auto h : *open)
      m_data.reply_final(h);
  });
}

void data_control::token(const json& request, std::shared_ptr<control_session> session) {
  const auto key = request.value("key", std::string());
  auto id = m_data.declare_token(key);
  if (!id) {
    session->send(refuse(describe(key, id.error(), true)));
    session->close();
    return;
  }
  const std::uint64_t tok = *id;
  session->send(json{{"ok", true}});
  track(session, [this, tok] { m_data.undeclare_token(tok); });
}

void data_control::watch(const json& request, std::shared_ptr<control_session> session) {
  const auto expr = request.value("expr", std::string());
  // The current tokens come from inside watch_liveliness(): they follow the "ok" line.
  struct start {
    bool accepted = false;
    std::vector<json> early;
  };
  auto st = std::make_shared<start>();
  std::weak_ptr<control_session> weak = session;
  auto id = m_data.watch_liveliness(
      expr, [weak, st](std::string_view key, const data::peer_id& node, bool up) {
        json m{{"alive", up}, {"key", std::string(key)}, {"node", node.to_string()}};
        if (!st->accepted) {
          st->early.push_back(std::move(m));
        } else if (auto s = weak.lock()) {
          s->send(m);
        }
      });
  if (!id) {
    session->send(refuse(describe(expr, id.error(), false)));
    session->close();
    return;
  }
  session->send(json{{"ok", true}});
  st->accepted = true;
  for (auto& m : st->early)
    session->send(m);
  st->early.clear();
  const std::uint64_t w = *id;
  track(session, [this, w] { m_data.unwatch_liveliness(w); });
}

}  // namespace starling::node
