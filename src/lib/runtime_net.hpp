#pragma once
// Internal to libstarling: what lives on a runtime's network thread (runtime::net), and the
// helpers that turn the node layer's errors and limits into the public ones. Included only by
// the runtime's own translation units (runtime.cpp, runtime_query.cpp), which see the node
// layer; the handle classes never do.

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/data/wire.hpp"
#include "core/keyexpr/keyexpr.hpp"
#include "node/data_service.hpp"
#include "node/host.hpp"
#include "node/mdns_service.hpp"
#include "node/membership.hpp"
#include "node/services.hpp"
#include "runtime.hpp"

namespace starling::lib {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// ---- the node on the network thread ----

struct runtime::net {
  asio::io_context ctx{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ctx.get_executor()};
  std::unique_ptr<node::host> host;
  std::unique_ptr<node::data_service> svc;
  std::unique_ptr<node::mdns_service> mdns;
  /// With a data directory: the network (after host: destroyed before it).
  std::unique_ptr<node::membership> membership;
  /// Our gets that have not ended, so that closing can end them (get_end::closed).
  struct pending_get {
    std::function<void(starling::reply&&)> on_reply;
    std::function<void(const get_done&)> on_done;
  };
  std::unordered_map<std::uint64_t, std::shared_ptr<pending_get>> gets;
  std::uint64_t next_get = 1;
  // The last source seen, so that a stream of samples from one node formats its id once.
  std::optional<data::peer_id> last_source;
  std::string last_source_text;

  /// Wires the host's events as `starling node` does: the data service hears of every
  /// identified peer.
  void wire() {
    node::register_ping_service(*host);
    host->on_event([this](const node::host_event& e) {
      if (const auto* ev = std::get_if<node::peer_identified>(&e)) {
        for (auto& c : host->connections()) {
          if (c->established() && !c->closing() && c->peer() == ev->peer) {
            svc->on_identified(c, ev->info);
          }
        }
      }
    });
  }

  /// A discovered peer: dialled once at every address it announced, unless connected.
  void discovered(const mdns::peer_discovered& d) {
    auto id = multiformats::peer_id::parse(d.peer_id);
    if (!id) return;
    for (auto& c : host->connections()) {
      if (c->peer() == *id && !c->closing()) return;
    }
    std::vector<multiformats::multiaddr> addrs;
    for (const auto& text : d.addrs) {
      if (auto a = multiformats::multiaddr::parse(text)) addrs.push_back(*a);
    }
    if (addrs.empty()) return;
    host->dial_any(*id, std::move(addrs), 1500ms,
                   [peer = d.peer_id](result<std::shared_ptr<node::connection>> r) {
                     if (!r) spdlog::debug("mdns: cannot reach {}: {}", peer, r.error().message());
                   });
  }

  /// The owned copy of a data-layer sample.
  sample convert(const data::sample& s) {
    sample out;
    out.key = std::string(s.key);
    const auto* p = reinterpret_cast<const std::byte*>(s.payload.data());
    out.payload.assign(p, p + s.payload.size());
    out.encoding = std::string(s.encoding);
    out.kind = s.del ? sample_kind::del : sample_kind::put;
    out.timestamp = s.timestamp;
    if (s.source) {
      if (!last_source || !(*last_source == *s.source)) {
        last_source = *s.source;
        last_source_text = s.source->to_string();
      }
      out.source = last_source_text;
    }
    out.publisher = s.publisher;
    out.seq = s.seq;
    return out;
  }

  bool matched(const std::string& key_text) const {
    auto key = keyexpr::key::parse(key_text);
    if (!key) return false;
    const auto& e = svc->engine();
    const auto& routes = e.routes();
    for (const auto* r : routes.records()) {
      if (!r || (r->origin != e.self() && !routes.reachable(r->origin))) continue;
      for (const auto& d : r->decls) {
        if (d.k != data::declaration::kind::subscriber) continue;
        auto expr = keyexpr::keyexpr::parse(d.expr);
        if (expr && keyexpr::matches(*expr, *key)) return true;
      }
    }
    return false;
  }
};

namespace detail {

/// The public error for an error of the data layer, `what` saying what was refused.
inline error data_error(std::error_code ec, const std::string& what) {
  errc code = errc::refused;
  if (ec == data::engine_errc::would_block) {
    code = errc::would_block;
  } else if (ec == data::engine_errc::unknown_query || ec == data::engine_errc::unknown_publisher) {
    code = errc::closed;
  } else if (ec == data::engine_errc::reply_key_mismatch || ec == data::engine_errc::not_a_key ||
             ec == data::engine_errc::bad_parameters || ec == data::errc::field_too_large ||
             ec.category() == keyexpr::category()) {
    code = errc::invalid_argument;
  }
  return error(code, what + ": " + ec.message());
}

/// Parses a key expression (wildcards allowed) into its canonical form.
inline status parse_expr(std::string_view expr, std::string& canonical) {
  auto parsed = keyexpr::keyexpr::parse(expr);
  if (!parsed) {
    return error(errc::invalid_argument,
                 "bad key expression '" + std::string(expr) + "': " + parsed.error().message());
  }
  canonical = parsed->str();
  return std::nullopt;
}

inline status payload_limit(std::size_t size) {
  if (size <= data::max_payload) return std::nullopt;
  return error(errc::refused, "payload of " + std::to_string(size) +
                                  " bytes is over the limit of " +
                                  std::to_string(data::max_payload) + " bytes");
}

inline status encoding_limit(std::string_view encoding) {
  if (encoding.size() <= data::max_encoding) return std::nullopt;
  return error(errc::invalid_argument, "encoding of " + std::to_string(encoding.size()) +
                                           " bytes is over the limit of " +
                                           std::to_string(data::max_encoding) + " bytes");
}

inline bytes_view as_view(std::span<const std::byte> b) {
  return {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()};
}

/// Runs a user handler, logging what it throws instead of letting it reach the network loop.
template <class F>
inline void guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& ex) {
    spdlog::error("a {} handler threw (ignored): {}", what, ex.what());
  } catch (...) {
    spdlog::error("a {} handler threw (ignored)", what);
  }
}

/// A blocking publisher waits at most this long for a congested link.
inline constexpr auto max_block = 10s;

}  // namespace detail

}  // namespace starling::lib
