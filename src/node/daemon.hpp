#pragma once
/// What `starling node` runs: a host plus everything that keeps it in a mesh. mDNS discovery
/// on the chosen interfaces, bootstrap peers, peer exchange, the mesh manager that decides
/// whom to dial, the SQLite peer store that remembers peers across restarts, and the control
/// socket that `starling peers` and `starling status` talk to. All on the io_context's one
/// thread; the daemon owns the glue, each piece keeps its own rules.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/common/result.hpp"
#include "core/mesh/manager.hpp"
#include "core/pex/pex.hpp"
#include "node/control.hpp"
#include "node/control_api.hpp"
#include "node/data_service.hpp"
#include "node/detailed_error.hpp"
#include "node/host.hpp"
#include "node/mdns_service.hpp"
#include "node/membership.hpp"
#include "node/services.hpp"
#include "node/storage.hpp"
#include "node/timer.hpp"

namespace starling::node {

class control_server;
class data_control;
class peer_store;

/// Settings of a daemon. The defaults suit a LAN of small devices.
struct daemon_config {
  host_config host;
  std::filesystem::path data_dir;
  std::vector<multiformats::multiaddr> listen;
  std::vector<std::string> bootstrap;  ///< multiaddr text, /p2p/ optional
  bool mdns = true;
  /// mDNS settings. Once the first queries are out, a node queries every 30 s (the core's
  /// default is 10 s): new nodes announce themselves anyway, a lost connection is re-dialled
  /// without mDNS, and what each node receives grows with the number of nodes on the LAN.
  mdns_options mdns_opts = [] {
    mdns_options o;
    o.core.query_interval = std::chrono::seconds(30);
    return o;
  }();
  mesh::config mesh;
  /// A silent peer is dropped within this time (Yamux keep-alive: a ping every quarter of it,
  /// declared dead when a reply is half of it late: dropped after 1/2 to 3/4 of it). 0
  /// disables keep-alive.
  std::chrono::milliseconds dead_peer_timeout{3000};
  /// Each candidate address of a discovered peer gets this long to accept TCP.
  std::chrono::milliseconds dial_attempt_timeout{1500};
  /// Peer exchange: asked of every connected peer at these times after start, then every
  /// `pex_interval`; also of each peer once identify shows it serves pex.
  std::vector<std::chrono::milliseconds> pex_initial{std::chrono::milliseconds{3000},
                                                     std::chrono::milliseconds{8000}};
  std::chrono::milliseconds pex_interval{30000};
  std::chrono::milliseconds store_flush_interval{3000};
  bool use_peer_store = true;
  bool use_control_socket = true;
  /// Serve /perf/1.0.0 (`starling node --serve-perf`). Off by default: a perf server sends
  /// data to any peer that asks. Ping is always served.
  bool serve_perf = false;
  /// What the perf server agrees to send per request, when it is on.
  perf_server_limits perf_limits;
  /// Storages (`[[storage]]`, `--storage`): each keeps the last samples of its expression and
  /// answers queries on it (node/storage.hpp); sqlite ones in `<data_dir>/storage.db`.
  std::vector<storage_config> storages;
  /// Membership and admission (`<data_dir>/network/`).
  membership_config membership;
};

/// Turns a dead-peer time into the host's keep-alive settings.
void apply_dead_peer_timeout(host_config& cfg, std::chrono::milliseconds dead_peer_timeout);

class daemon {
 public:
  /// Starts everything: the control socket first (a second node on the same data directory
  /// is refused before it binds anything), then listeners, the peer store, mDNS, bootstrap.
  /// An error carries its code and one readable line to print (e.g. "cannot listen on
  /// /ip4/...: Address already in use"): control_errc::already_running when another node uses
  /// the data directory, the listener's, bootstrap parser's or mDNS's error, or
  /// std::errc::invalid_argument for a storage that cannot start.
  static detailed_result<std::unique_ptr<daemon>> start(boost::asio::io_context& ctx,
                                                        const crypto::ed25519_keypair& id,
                                                        daemon_config cfg);
  ~daemon();
  daemon(const daemon&) = delete;
  daemon& operator=(const daemon&) = delete;

  host& get_host() noexcept { return *m_host; }
  const mesh::manager& mesh() const noexcept { return m_mesh; }
  /// mDNS interfaces in use (empty when off).
  std::vector<std::string> mdns_interfaces() const;

  /// Answers one one-shot control request: parses it (api::parse_request), dispatches it with
  /// std::visit to answer() and renders the response (see docs/architecture.md "Control
  /// socket"). A bad request gets {"ok":false,"error":...} naming the command and field.
  nlohmann::json handle_control(const nlohmann::json& request);

  /// Says goodbye on mDNS, saves the peer store, closes every connection gracefully, removes
  /// the control socket, then calls `done`.
  void shutdown(std::function<void()> done);

 private:
  daemon(boost::asio::io_context& ctx, const crypto::ed25519_keypair& id, daemon_config cfg);
  detailed_result<void> init();
  void on_host_event(const host_event& e);
  void pump();
  void arm_timer();
  void start_dial(mesh::dial_request req);
  void ask_pex(const std::shared_ptr<connection>& c);
  /// True the first time it is called for `c` (identify and its pushes repeat).
  bool first_pex_ask(const std::shared_ptr<connection>& c);
  void pex_round();
  void schedule_pex(std::chrono::milliseconds after);
  std::vector<pex::peer_record> pex_list(const std::string& asker) const;
  void mark_dirty(const std::string& peer_id);
  void flush_store();
  void schedule_flush();
  /// Addresses worth remembering for a peer from its identify record and connection (the
  /// decision is mesh::useful_peer_addrs, core/mesh/addr_filter.hpp).
  std::vector<std::string> useful_addrs(const connection& c, const identify::info& info) const;
  std::shared_ptr<connection> connection_to(const std::string& peer_id) const;
  /// Whether a discovery may be logged at info level (a budget per 10 s window).
  bool log_discovery(time_point now);

  /// One overload per one-shot request of api::request (a new one does not compile without).
  api::ack answer(const api::put_request& r);
  api::ack answer(const api::del_request& r);
  api::peers_response answer(const api::peers_request&) const;
  api::known_response answer(const api::known_request&) const;
  api::status_response answer(const api::status_request&) const;
  api::network_answer answer(const api::network_create_request& r);
  api::invite_answer answer(const api::invite_request& r);
  api::members_response answer(const api::members_request&) const;
  api::ack answer(const api::revoke_request& r);
  api::ack answer(const api::role_request& r);
  api::acl_answer answer(const api::acl_show_request&) const;
  api::acl_answer answer(const api::acl_set_request& r);
  api::explain_answer answer(const api::acl_explain_request& r) const;
  /// `starling join`: a session answered once the join ends.
  void start_join(const nlohmann::json& request, std::shared_ptr<control_session> s);

  boost::asio::io_context& m_ctx;
  daemon_config m_cfg;
  std::unique_ptr<host> m_host;
  /// Admission and the network (after m_host: destroyed before it).
  std::unique_ptr<membership> m_membership;
  /// The data layer (after m_host: destroyed before it).
  std::unique_ptr<data_service> m_data;
  /// The data layer's control commands (after m_data: destroyed before it).
  std::unique_ptr<data_control> m_data_control;
  /// Storages (after m_data: destroyed, and written out, before it).
  std::vector<std::unique_ptr<storage>> m_storages;
  crypto::system_rng m_rng;
  mesh::manager m_mesh;
  std::unique_ptr<mdns_service> m_mdns;
  std::unique_ptr<peer_store> m_store;
  std::unique_ptr<control_server> m_control;
  timer m_timer;
  timer m_pex_timer;
  timer m_flush_timer;
  time_point m_timer_at = no_deadline;
  std::size_t m_pex_step = 0;
  std::set<std::string> m_dirty;
  /// Connections already asked for peer exchange after identify (expired ones pruned).
  std::vector<std::weak_ptr<connection>> m_pex_asked;
  std::chrono::system_clock::time_point m_started_wall;
  time_point m_started{};
  bool m_shutting_down = false;
  time_point m_discovery_window_start{};
  std::size_t m_discoveries_logged = 0;
  std::size_t m_discoveries_unlogged = 0;
  /// Alive while the daemon is; callbacks that may outlive it check it.
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace starling::node
