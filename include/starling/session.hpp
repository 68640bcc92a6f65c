#pragma once
/// A session: a Starling node embedded in the application's process.
///
/// What the API offers today: **embedding**. session::open() starts a complete node inside the
/// process, with its own identity, its own connections and one network thread of its own; the
/// application talks to the mesh through it. Talking to a node that already runs on the
/// machine (`starling node`, through its control socket) is not offered by this library yet;
/// use the `starling put`/`del`/`sub` commands for that meanwhile.

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "starling/export.hpp"
#include "starling/publisher.hpp"
#include "starling/result.hpp"
#include "starling/subscriber.hpp"

namespace starling {

namespace lib {
class runtime;
}

/// How to start a session. The defaults make a private node that only this machine can reach.
struct session_options {
  /// Where the node keeps its identity: `<data_dir>/identity.key` (a libp2p Ed25519 private
  /// key, created with mode 0600 on first use, in a directory created 0700), so the peer id
  /// stays the same across runs. Empty (the default): a fresh identity for each session.
  std::string data_dir;
  /// Multiaddrs to listen on. The default, 127.0.0.1 with a port the system picks, lets
  /// programs on this machine connect and keeps the node off the network; a device on a LAN
  /// sets e.g. {"/ip4/0.0.0.0/tcp/4001"}. Empty: listen nowhere (the node only dials out).
  std::vector<std::string> listen{"/ip4/127.0.0.1/tcp/0"};
  /// Peers dialled while the session opens ("/ip4/A/tcp/P", with "/p2p/<peer id>" to check
  /// who answers). open() fails when one cannot be reached; connect() dials more later.
  std::vector<std::string> connect;
  /// Find and connect to peers on the LAN with mDNS (off by default). Each discovered peer is
  /// dialled once; the session does not keep a mesh by itself the way `starling node` does.
  bool mdns = false;
  /// With mdns: the interfaces to use (empty: every up, multicast-capable, non-loopback one).
  std::vector<std::string> mdns_interfaces;
  /// How long a dial (connect(), `connect` above) may take.
  std::chrono::milliseconds connect_timeout{5000};
  /// Log level of the node's logs, which go to stderr: "trace", "debug", "info", "warn"
  /// (default), "error" or "off". Process-wide: the last session opened sets it.
  std::string log_level = "warn";
};

/// A node embedded in the process (see the top of this file). Every method is thread-safe:
/// calls are handed to the session's network thread. Handlers run on that thread (see
/// sample_handler). Closing the session (destroying it) closes its connections gracefully
/// (waiting at most half a second), stops the thread, and leaves any remaining publisher and
/// subscriber handles empty-handed: their calls answer errc::closed. Do not destroy a session
/// from one of its own handlers.
///
/// Queries (get/queryable) and liveliness tokens are not here yet; they will be declared on
/// the session like publishers and subscribers (declare_queryable, get, declare_token), each
/// with its own RAII handle.
class STARLING_API session {
 public:
  /// Starts a node: loads or creates the identity, binds the listeners, dials `connect`.
  /// Errors: invalid_argument (a bad multiaddr or option), identity, io (a listener cannot
  /// bind, a peer cannot be reached), timeout.
  static result<session> open(const session_options& options = {});

  /// Closes the session (see above).
  ~session();
  /// Takes over `other`'s node; `other` becomes closed.
  session(session&& other) noexcept;
  /// Closes this session and takes over `other`'s node.
  session& operator=(session&& other) noexcept;
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Our peer id, "12D3KooW..." (empty once closed).
  std::string peer_id() const;
  /// Where we listen, each with the real port and "/p2p/<our peer id>": give one to another
  /// node's connect().
  std::vector<std::string> listen_addrs() const;
  /// Peer ids of the nodes we are connected to now.
  std::vector<std::string> peers() const;

  /// Dials a peer and waits until the connection is up (authenticated and encrypted), at
  /// most options.connect_timeout. A trailing /p2p/<id> is checked. Errors: invalid_argument
  /// (not a TCP multiaddr), io (refused, unreachable, wrong peer id), timeout, closed,
  /// would_block (called from a handler).
  result<void> connect(std::string_view multiaddr);

  /// Declares a publisher on `key` (no wildcards). `encoding` is the default content type of
  /// its samples. Errors: invalid_argument (the parser's message with the byte offset),
  /// closed.
  result<publisher> declare_publisher(std::string_view key, std::string_view encoding = {});
  /// Subscribes `handler` to `key_expr` (`*` one chunk, `**` any number). The handler runs on
  /// the network thread. Errors: invalid_argument (the parser's message with the byte offset),
  /// refused (too many declarations), closed.
  result<subscriber> declare_subscriber(std::string_view key_expr, sample_handler handler);
  /// Subscribes to `key_expr` in pull mode: samples wait in a bounded queue for recv().
  /// Errors: as above, and invalid_argument for a queue_capacity of 0.
  result<subscriber> declare_subscriber(std::string_view key_expr,
                                        const subscriber_options& options = {});

  /// Publishes once on `key` without declaring a publisher. Errors: invalid_argument (bad key),
  /// refused (payload over 512 KiB), closed.
  result<void> put(std::string_view key, std::span<const std::byte> payload,
                   std::string_view encoding = {});
  /// The same, with the payload as text.
  result<void> put(std::string_view key, std::string_view payload, std::string_view encoding = {});
  /// Publishes a delete of `key`. Errors: invalid_argument (bad key), closed.
  result<void> del(std::string_view key);

  /// Closes now (the destructor does it too); later calls answer errc::closed.
  void close();

 private:
  explicit session(std::shared_ptr<lib::runtime> rt);
  std::shared_ptr<lib::runtime> m_rt;
};

}  // namespace starling
