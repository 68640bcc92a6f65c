#pragma once
/// A session: a Starling node embedded in the application's process. Through it an application
/// publishes and subscribes (publisher, subscriber), asks and answers queries (get,
/// queryable) and declares and watches liveliness tokens (liveliness_token,
/// liveliness_watcher).
///
/// What the API offers today: **embedding**. session::open() starts a complete node inside the
/// process, with its own identity, its own connections and one network thread of its own; the
/// application talks to the mesh through it. Talking to a node that already runs on the
/// machine (`starling node`, through its control socket) is not offered by this library yet;
/// use the `starling put`/`del`/`sub` commands for that meanwhile.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "starling/export.hpp"
#include "starling/liveliness.hpp"
#include "starling/network.hpp"
#include "starling/publisher.hpp"
#include "starling/query.hpp"
#include "starling/reply.hpp"
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
/// (waiting at most half a second), stops the thread, ends the gets still running (their done
/// handlers get get_end::closed, on that thread, before it stops) and leaves any remaining
/// handles (publishers, subscribers, queryables, queries, tokens, watchers) empty-handed: their
/// calls answer errc::closed. Its tokens leave for the watchers of other nodes at once. Do not
/// destroy a session from one of its own handlers.
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

  // --- membership (needs session_options::data_dir, where the network is kept) ----------

  /// The network this node belongs to. Errors: not_found (it belongs to none: it admits every
  /// peer), closed.
  result<network_info> network() const;
  /// Makes a new network owned by this node (the owner key goes to the data directory); from
  /// then on the node admits only members. Errors: invalid_argument (no data_dir, a bad name,
  /// already a member), io (the files cannot be written), closed.
  result<network_info> create_network(std::string_view name = "home");
  /// Opens an invite for `role`; returns the one-time setup code for the new device's join().
  /// Errors: not_found (no network), refused (not an admin, too many open invites),
  /// invalid_argument (a bad role or ttl), closed.
  result<std::string> invite(std::string_view role,
                             std::chrono::seconds ttl = std::chrono::seconds(600));
  /// Joins the network of the node that made `code`: tries every connected peer whose key
  /// matches the code (and `inviter_addrs`, multiaddrs with /p2p/), waits until admitted.
  /// Errors: invalid_argument (no data_dir, a malformed code, already a member), refused (no
  /// inviter accepted the code), would_block (called from a handler), closed.
  result<network_info> join(std::string_view code,
                            const std::vector<std::string>& inviter_addrs = {});
  /// Every key the membership log names. Errors: not_found (no network), closed.
  result<std::vector<member_info>> members() const;
  /// Revokes a device for good: every member cuts it off. Errors: not_found, invalid_argument
  /// (a bad peer id), refused (not an admin, or the log refuses), closed.
  result<void> revoke(std::string_view peer_id);
  /// Replaces a member's roles. Errors: as revoke.
  result<void> set_roles(std::string_view peer_id, const std::vector<std::string>& roles);
  /// Applies an access policy (the TOML of docs/policy-example.toml) to the whole network.
  /// Errors: invalid_argument (the file's first problem or failed test), refused (it would
  /// leave nobody able to administer, or not an admin), not_found, closed.
  result<void> set_policy(std::string_view toml);
  /// Which rule decides whether `peer_id` may do `op` ("put", "subscribe", ...) on `key`.
  /// Errors: invalid_argument, not_found, closed.
  result<std::string> explain(std::string_view peer_id, std::string_view op,
                              std::string_view key) const;

  /// Declares a publisher on `key` (no wildcards) with the default options and `encoding`, the
  /// content type of its samples. Errors: invalid_argument (the parser's message with the byte
  /// offset), closed.
  result<publisher> declare_publisher(std::string_view key, std::string_view encoding = {});
  /// Declares a publisher on `key` with `options` (reliability, priority, congestion control,
  /// express, encoding). Errors: invalid_argument (a bad key, an encoding over 128 bytes),
  /// closed.
  result<publisher> declare_publisher(std::string_view key, const publisher_options& options);
  /// Subscribes `handler` to `key_expr` (`*` one chunk, `**` any number). The handler runs on
  /// the network thread. Errors: invalid_argument (the parser's message with the byte offset),
  /// refused (too many declarations), closed.
  result<subscriber> declare_subscriber(std::string_view key_expr, sample_handler handler);
  /// Subscribes to `key_expr` in pull mode: samples wait in a bounded queue for recv().
  /// Errors: as above, and invalid_argument for a queue_capacity of 0.
  result<subscriber> declare_subscriber(std::string_view key_expr,
                                        const subscriber_options& options = {});

  /// Declares a queryable on `key_expr`: `handler` gets each query whose selector intersects
  /// it (see query for how to answer). `complete`: it answers for every key `key_expr`
  /// covers, so gets with query_target::all_complete ask it too (a storage is complete; a
  /// command handler usually is not). Errors: invalid_argument (the parser's message with the
  /// byte offset, an empty handler), refused (too many declarations), closed.
  result<queryable> declare_queryable(std::string_view key_expr, query_handler handler,
                                      bool complete = false);

  /// Asks the queryables that match `selector` ("building/*/blinds/*", with parameters after
  /// a '?': "cmd/blinds?level=3") and waits for their replies: until every asked node has
  /// finished or gone away. Returns every reply (with consolidation::latest, one per key),
  /// error replies included (reply::is_error). Errors: not_found (no reachable queryable
  /// matches: nobody was asked; right after connecting, the mesh may not know of a peer's
  /// queryables yet), timeout (some node had not finished within options.timeout; the
  /// replies so far are lost: use the callback form to keep them), invalid_argument (a bad
  /// selector, parameters over 4 KiB, a timeout out of range), refused (payload over 512 KiB,
  /// 1024 gets pending), would_block (called from a handler), closed.
  result<std::vector<reply>> get(std::string_view selector, const get_options& options = {});
  /// The same without waiting: `on_reply` gets each reply, then `on_done` is called exactly
  /// once with the reason the get ended (complete, timeout, no_queryable, closed), both on
  /// the network thread and never from inside this call. May be called from a handler.
  /// Errors (then no handler runs): as above, except not_found, timeout and would_block.
  result<void> get(std::string_view selector, reply_handler on_reply, get_done_handler on_done,
                   const get_options& options = {});

  /// Declares a liveliness token on `key` (no wildcards): watchers everywhere see it join,
  /// and leave when the handle goes, the session closes or the node is cut off. Errors:
  /// invalid_argument (the parser's message with the byte offset), refused (too many
  /// declarations), closed.
  result<liveliness_token> declare_token(std::string_view key);
  /// Watches the liveliness tokens matching `key_expr`: `handler` first gets a joined event
  /// for every token present now (from inside this call, on the network thread), then a
  /// joined or left event for each change. Errors: invalid_argument (the parser's message
  /// with the byte offset, an empty handler), closed.
  result<liveliness_watcher> watch_liveliness(std::string_view key_expr,
                                              liveliness_handler handler);
  /// The liveliness tokens matching `key_expr` now (this session's and every reachable
  /// node's), sorted by key then node. Answers from what the session knows, without asking
  /// the network: right after connecting, a peer's tokens may not be known yet. Errors:
  /// invalid_argument, closed.
  result<std::vector<liveliness_token_info>> liveliness_tokens(std::string_view key_expr);

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
