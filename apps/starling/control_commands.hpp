#pragma once
/// `starling peers` and `starling status`: ask the running node over its control socket
/// (src/node/control.hpp) and print a table, or the node's JSON with --json.
/// The formatting below is pure and inline (header-only) so that the tests, which do not link
/// the app, can check it.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "node/control_api.hpp"

namespace starling::app {

/// Options of `starling peers` / `starling status`.
struct control_options {
  std::string data_dir;  ///< empty: node::default_data_dir()
  bool json = false;     ///< print the node's JSON (without "ok") instead of a table
  bool all = false;      ///< peers: every known peer ({"cmd":"known"}), not only connected ones
};

/// `starling peers [--data-dir DIR] [--json] [--all]`. Exit 0, or 1 after one
/// "starling: <msg>" line (e.g. "no node is running with data directory DIR").
int run_peers(const control_options& o);
/// `starling status [--data-dir DIR] [--json]`. Exit codes as run_peers.
int run_status(const control_options& o);

/// Pure text formatting of control responses (tested in tests/integration/control_test.cpp).
namespace control_text {

/// Which request and which rendering.
enum class view { peers, known, status };

/// The request line for a view: {"cmd":"peers"|"known"|"status"}.
inline nlohmann::json request_for(view v) {
  using namespace node::api;
  return to_json(v == view::peers   ? request(peers_request{})
                 : v == view::known ? request(known_request{})
                                    : request(status_request{}));
}

/// An age: "45s", "2m13s", "3h05m", "2d04h"; "-" for negative or non-finite input.
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e15) return "-";
  const auto s = static_cast<std::uint64_t>(seconds);
  char b[48];
  if (s < 60)
    std::snprintf(b, sizeof b, "%llus", static_cast<unsigned long long>(s));
  else if (s < 3600)
    std::snprintf(b, sizeof b, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  else if (s < 86400)
    std::snprintf(b, sizeof b, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  else
    std::snprintf(b, sizeof b, "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600));
  return b;
}

/// A byte count: "512B", "1.5KiB", "12.3MiB", "123GiB" (binary units).
inline std::string format_bytes(std::uint64_t n) {
  char b[48];
  if (n < 1024) {
    std::snprintf(b, sizeof b, "%lluB", static_cast<unsigned long long>(n));
    return b;
  }
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  if (v < 99.95)
    std::snprintf(b, sizeof b, "%.1f%s", v, units[u]);
  else
    std::snprintf(b, sizeof b, "%.0f%s", v, units[u]);
  return b;
}

/// A round-trip time given in milliseconds (JSON number or null): "0.41ms", "12.3ms",
/// "123ms", "1.23s"; "-" when unknown.
inline std::string format_rtt(const nlohmann::json& rtt_ms) {
  if (!rtt_ms.is_number()) return "-";
  const double ms = rtt_ms.get<double>();
  if (!std::isfinite(ms) || ms < 0) return "-";
  char b[48];
  if (ms < 10)
    std::snprintf(b, sizeof b, "%.2fms", ms);
  else if (ms < 99.95)
    std::snprintf(b, sizeof b, "%.1fms", ms);
  else if (ms < 999.5)
    std::snprintf(b, sizeof b, "%.0fms", ms);
  else if (ms < 1e12)
    std::snprintf(b, sizeof b, "%.2fs", ms / 1000);
  else
    return "-";
  return b;
}

/// Columns padded to the widest cell, two spaces apart; the last column is not padded.
inline std::string format_table(const std::vector<std::string>& header,
                                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(header.size());
  for (std::size_t i = 0; i < header.size(); ++i)
    w[i] = header[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i)
      w[i] = std::max(w[i], r[i].size());
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t i = 0; i < w.size(); ++i) {
      const std::string& c = i < cells.size() ? cells[i] : std::string();
      l += c;
      if (i + 1 < w.size()) l.append(w[i] - c.size() + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ')
      l.pop_back();
    out += l + "\n";
  };
  line(header);
  for (const auto& r : rows)
    line(r);
  return out;
}

/// "key: value" lines with the values aligned; an empty key continues the previous value.
inline std::string format_key_values(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::size_t w = 0;
  for (const auto& [k, v] : kv)
    w = std::max(w, k.size() + 1);
  std::string out;
  for (const auto& [k, v] : kv) {
    std::string key = k.empty() ? std::string() : k + ":";
    out += key + std::string(w - key.size() + 1, ' ') + v + "\n";
  }
  return out;
}

namespace detail {
inline std::string str(const nlohmann::json& o, const char* key, std::string fallback = "-") {
  auto it = o.find(key);
  return it != o.end() && it->is_string() && !it->get_ref<const std::string&>().empty()
             ? it->get<std::string>()
             : fallback;
}
inline std::optional<double> num(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}
inline std::uint64_t count(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer())
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
  const double d = it->get<double>();
  return std::isfinite(d) && d > 0 && d < 1.8e19 ? static_cast<std::uint64_t>(d) : 0;
}
inline std::vector<std::string> strings(const nlohmann::json& o, const char* key) {
  std::vector<std::string> v;
  auto it = o.find(key);
  if (it == o.end() || !it->is_array()) return v;
  for (const auto& e : *it)
    if (e.is_string()) v.push_back(e.get<std::string>());
  return v;
}
inline std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& e : v)
    s += (s.empty() ? "" : sep) + e;
  return s;
}
}  // namespace detail

/// The `peers` table (PEER, DIR, ADDRESS, RTT, SINCE, IN, OUT) of a {"peers":[...]} response,
/// "no peers connected" when empty; nullopt when "peers" is not an array.
inline std::optional<std::string> format_peers(const nlohmann::json& resp) {
  auto it = resp.find("peers");
  if (it == resp.end() || !it->is_array()) return std::nullopt;
  if (it->empty()) return std::string("no peers connected\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : *it) {
    const std::string d = detail::str(p, "direction");
    const auto since = detail::num(p, "connected_seconds");
    auto rtt = p.find("rtt_ms");
    rows.push_back({detail::str(p, "id"),
                    d == "inbound"    ? "in"
                    : d == "outbound" ? "out"
                                      : d,
                    detail::str(p, "addr"), rtt == p.end() ? "-" : format_rtt(*rtt),
                    since ? format_duration(*since) : "-",
                    format_bytes(detail::count(p, "bytes_in")),
                    format_bytes(detail::count(p, "bytes_out"))});
  }
  return format_table({"PEER", "DIR", "ADDRESS", "RTT", "SINCE", "IN", "OUT"}, rows);
}

/// The `peers --all` table (ID, STATE, SOURCES, FAILURES, ADDRESSES: the first one and how
/// many more) of a {"known":[...]} response, "no known peers" when empty; nullopt when "known"
/// is not an array.
inline std::optional<std::string> format_known(const nlohmann::json& resp) {
  auto it = resp.find("known");
  if (it == resp.end() || !it->is_array()) return std::nullopt;
  if (it->empty()) return std::string("no known peers\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : *it) {
    const auto addrs = detail::strings(p, "addrs");
    std::string a = addrs.empty() ? "-" : addrs.front();
    if (addrs.size() > 1) a += " (+" + std::to_string(addrs.size() - 1) + " more)";
    const auto sources = detail::strings(p, "sources");
    rows.push_back({detail::str(p, "id"), detail::str(p, "state"),
                    sources.empty() ? "-" : detail::join(sources, ","),
                    std::to_string(detail::count(p, "failures")), a});
  }
  return format_table({"ID", "STATE", "SOURCES", "FAILURES", "ADDRESSES"}, rows);
}

/// The `status` lines (peer id, agent, uptime, data dir, network, listen addresses, peers connected
/// and known, connections, mDNS interfaces and packet counts); nullopt when "id" is missing.
inline std::optional<std::string> format_status(const nlohmann::json& resp) {
  if (detail::str(resp, "id", "").empty()) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> kv;
  kv.emplace_back("peer id", detail::str(resp, "id"));
  kv.emplace_back("agent", detail::str(resp, "agent"));
  const auto up = detail::num(resp, "uptime_seconds");
  kv.emplace_back("uptime", up ? format_duration(*up) : "-");
  kv.emplace_back("data dir", detail::str(resp, "data_dir"));
  auto net = resp.find("network");
  if (net != resp.end() && net->is_object()) {
    const auto id = detail::str(*net, "id");
    kv.emplace_back("network", id.substr(0, 16) + " (\"" + detail::str(*net, "name") +
                                   "\"), roles " +
                                   detail::join(detail::strings(*net, "roles"), ",") +
                                   (net->value("owner", false) ? ", owner" : ""));
  } else {
    kv.emplace_back("network", "none: OPEN, admits every peer (starling network create / join)");
  }
  const auto listen = detail::strings(resp, "listen");
  if (listen.empty()) kv.emplace_back("listen", "(none)");
  for (std::size_t i = 0; i < listen.size(); ++i)
    kv.emplace_back(i == 0 ? "listen" : "", listen[i]);
  kv.emplace_back("peers", std::to_string(detail::count(resp, "connected_peers")) + " connected, " +
                               std::to_string(detail::count(resp, "known_peers")) + " known");
  kv.emplace_back("connections", std::to_string(detail::count(resp, "connections")));
  auto m = resp.find("mdns");
  if (m == resp.end() || !m->is_object()) {
    kv.emplace_back("mdns", "-");
  } else if (auto en = m->find("enabled"); en != m->end() && en->is_boolean() && !en->get<bool>()) {
    kv.emplace_back("mdns", "off");
  } else {
    const auto ifs = detail::strings(*m, "interfaces");
    kv.emplace_back("mdns", ifs.empty() ? "on, no interface" : "on " + detail::join(ifs, ", "));
    kv.emplace_back("mdns packets", std::to_string(detail::count(*m, "packets_sent")) + " sent (" +
                                        format_bytes(detail::count(*m, "bytes_sent")) + "), " +
                                        std::to_string(detail::count(*m, "packets_received")) +
                                        " received (" +
                                        format_bytes(detail::count(*m, "bytes_received")) + ")");
  }
  return format_key_values(kv);
}

/// What the CLI prints for a response: `text` on stdout when ok, else `text` is the error line
/// (without the "starling: " prefix).
struct rendered {
  bool ok = false;
  std::string text;
};

/// Renders a control response for a view: {"ok":false,"error":E} -> error E; with `json` the
/// response without "ok", pretty-printed; otherwise the table or lines of the view. A response
/// of the wrong shape is an error ("unexpected response from the node").
inline rendered render_response(const nlohmann::json& resp, view v, bool json) {
  if (!resp.is_object()) return {false, "unexpected response from the node"};
  auto ok = resp.find("ok");
  if (ok == resp.end() || !ok->is_boolean() || !ok->get<bool>())
    return {false, detail::str(resp, "error", "the node refused the request")};
  if (json) {
    nlohmann::json copy = resp;
    copy.erase("ok");
    return {true, copy.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
  }
  std::optional<std::string> text = v == view::peers   ? format_peers(resp)
                                    : v == view::known ? format_known(resp)
                                                       : format_status(resp);
  if (!text) return {false, "unexpected response from the node"};
  return {true, std::move(*text)};
}

}  // namespace control_text
}  // namespace starling::app
