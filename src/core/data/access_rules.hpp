#pragma once
/// What each message of the data layer (`message`, core/data/wire.hpp) must be allowed to do,
/// on the way in (ingress: from a neighbour) and on the way out (egress: to one). The engine
/// (engine.hpp, "Access") runs these through its access_guard (guard.hpp).
///
/// for_each_requirement() visits the message with an overload set that has one function per
/// alternative and no catch-all, so adding an alternative to `message` does not compile until
/// it has its line here (and the static_assert on the variant's size reminds whoever adds one
/// to come here). The mapping, and why:
///
/// - hello, node_alias, key_alias: nothing either way. Link setup and names carry no data;
///   the messages that use an alias are checked.
/// - record_message, ingress: each declaration, for the record's origin node, as an expression
///   (kind 1 subscribe, 2 declare_queryable, 3 liveliness_token); a denied one is left out of
///   the indexes (not routed to, not shown to watchers). The record itself is kept whole: the
///   routing graph needs its links.
/// - record_message, egress: each liveliness token, against the receiving peer's
///   liveliness_watch on its key; a denied one is left out of what is sent (zenoh#1562: tokens
///   are data too). Subscriptions and queryables pass: relays need them to route.
/// - push, repair: ingress, the source's put (del when flagged) on the key and, when a relay
///   sent it (the source is not the link's peer), the relay's subscribe on the key, as it could
///   only have received the sample with that right; egress, the receiving peer's subscribe.
/// - heartbeat, publisher_end: as a put (or a del) of their key, both ways.
/// - nack: ingress, the requester's subscribe on the key of (dest, publisher), where that key
///   is known (the publisher's node); egress nothing: it goes toward the publisher, and the
///   repair it asks for is checked hop by hop.
/// - query: ingress, the origin's query on its selector, as an expression, and, from a relay,
///   the relay's own query right on it; egress, the receiving peer's query right on the
///   selector (a relay that may not query carries no query: its selector, parameters and
///   payload are data too).
/// - reply: ingress, the replier's (`from`) reply on its key and, from a relay, the relay's
///   query on it; egress, the receiving peer's query on its key (the per-sample filter of a
///   query).
/// - reply_final, unknown: nothing: no data (the query was checked); unknown messages are
///   skipped.
///
/// Undeclarations need no right: a record carries the origin's whole current set, and a
/// declaration missing from a newer version is gone. A requirement names a node by the node
/// alias of the link the message came on, a key by key alias, key text or expression; the
/// caller resolves them (alias tables, the node's roles) and runs the check. Egress checks
/// apply to the next hop, so a relay that may not read a key never carries its samples, and
/// every node checks the one after it: access rules hold across hops.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "core/access/policy.hpp"
#include "core/data/wire.hpp"

namespace starling::data {

using access::operation;

/// Which way a message crosses a link.
enum class direction : std::uint8_t {
  ingress,  ///< received from a neighbour
  egress,   ///< about to be sent to a neighbour
};

/// Whose right a requirement is about.
enum class subject : std::uint8_t {
  node,       ///< the node named by requirement::node (a node alias of the link)
  link_peer,  ///< the neighbour on the other end of the link (egress: the receiver; ingress:
              ///< the relay that sent it)
};

/// How the key or expression to check is named.
enum class target : std::uint8_t {
  key_alias,      ///< requirement::alias is a key alias of the link: the key check
  key,            ///< requirement::text is a key: the key check
  expression,     ///< requirement::text is a key expression: the declaration check
  publisher_key,  ///< the key of publisher requirement::alias of node requirement::source
  unknown_kind,   ///< a declaration kind this version does not know: deny (the decoder
                  ///< refuses such records, so only a record built in code can have one)
};

/// What to do when a requirement is denied.
enum class on_deny : std::uint8_t {
  drop_message,      ///< drop the whole message (ingress: and count an ACL violation)
  drop_declaration,  ///< leave declaration requirement::decl out of the record, keep the rest
};

/// One right a message needs.
struct requirement {
  operation op{};                                   ///< the operation checked
  subject who{};                                    ///< whose right
  target what{};                                    ///< how the key is named
  data::on_deny if_denied = on_deny::drop_message;  ///< what a denial does
  std::uint64_t node = 0;                           ///< subject::node: the node alias
  std::uint64_t alias = 0;   ///< target::key_alias: the key alias; publisher_key: the publisher
  std::uint64_t source = 0;  ///< target::publisher_key: the publisher's node alias
  std::string_view text;     ///< target::key / expression: the text (points into the message)
  std::size_t decl = 0;      ///< on_deny::drop_declaration: index in record_message::decls
  /// Ingress, subject::link_peer: applies only when the node named by `node` is not the link's
  /// peer (the message was relayed); the caller skips it otherwise.
  bool relayed_only = false;
  /// `op` is put, and del will do as well (heartbeats and ends of a publisher that may
  /// publish either).
  bool or_del = false;
};

/// The operation a record declaration of `kind` needs (1 subscribe, 2 declare_queryable,
/// 3 liveliness_token); nullopt for another kind.
constexpr std::optional<operation> declaration_operation(std::uint8_t kind) noexcept {
  switch (kind) {
    case 1:
      return operation::subscribe;
    case 2:
      return operation::declare_queryable;
    case 3:
      return operation::liveliness_token;
    default:
      return std::nullopt;
  }
}

namespace detail {
/// An overload set of lambdas, for std::visit.
template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;
}  // namespace detail

// A new alternative in message: give it a function in the overload set below (what its
// sender and its receiver must be allowed), document it in the table above, then raise this
// count. Without that function std::visit does not compile.
static_assert(std::variant_size_v<message> == 13,
              "message changed: add the new message's access rule to access_rules.hpp");

/// Calls `f(const requirement&)` for each right `m` needs in direction `dir` (see the table at
/// the top); returns how many. No allocation. The message is allowed when every requirement
/// with on_deny::drop_message is; requirements with drop_declaration trim the record.
template <class F>
std::size_t for_each_requirement(const message& m, direction dir, F&& f) {
  const bool in = dir == direction::ingress;
  // On ingress, node `node` doing `in_op`; on egress, the receiving peer doing `out_op`.
  auto about = [in](operation in_op, std::uint64_t node, operation out_op) {
    requirement r;
    r.op = in ? in_op : out_op;
    r.who = in ? subject::node : subject::link_peer;
    r.node = in ? node : 0;
    return r;
  };
  auto emit = [&](const requirement& r) -> std::size_t {
    f(r);
    return 1;
  };
  // A relay's own right to carry what it sends us (ingress only; `carry` on key alias `key`
  // or on the text `key_text`), when the message names a node other than the relay.
  auto relay = [&](operation carry, std::uint64_t node, target what, std::uint64_t key,
                   std::string_view key_text) -> std::size_t {
    if (!in) return 0;
    requirement r;
    r.op = carry;
    r.who = subject::link_peer;
    r.what = what;
    r.node = node;
    r.alias = key;
    r.text = key_text;
    r.relayed_only = true;
    return emit(r);
  };
  auto sample = [&](std::uint64_t source, std::uint64_t key, operation publish,
                    bool or_del = false) {
    requirement r = about(publish, source, operation::subscribe);
    r.what = target::key_alias;
    r.alias = key;
    r.or_del = in && or_del;
    return emit(r) + relay(operation::subscribe, source, target::key_alias, key, {});
  };
  auto push_op = [](const push& p) {
    return (p.flags & push_flags::del) != 0 ? operation::del : operation::put;
  };
  return std::visit(
      detail::overload{
          [](const hello&) -> std::size_t { return 0; },
          [](const node_alias&) -> std::size_t { return 0; },
          [](const key_alias&) -> std::size_t { return 0; },
          [&](const record_message& rec) -> std::size_t {
            std::size_t n = 0;
            for (std::size_t i = 0; i < rec.decls.size(); ++i) {
              const wire_decl& d = rec.decls[i];
              const auto op = declaration_operation(d.kind);
              if (!in && op != operation::liveliness_token) continue;
              requirement r =
                  about(op.value_or(operation::subscribe), rec.origin, operation::liveliness_watch);
              r.what = op ? target::expression : target::unknown_kind;
              r.text = d.expr;
              r.if_denied = on_deny::drop_declaration;
              r.decl = i;
              n += emit(r);
            }
            return n;
          },
          [&](const push& p) { return sample(p.source, p.key, push_op(p)); },
          [&](const heartbeat& h) { return sample(h.source, h.key, operation::put, true); },
          [&](const publisher_end& e) { return sample(e.source, e.key, operation::put, true); },
          [&](const repair& r) { return sample(r.sample.source, r.sample.key, push_op(r.sample)); },
          [&](const nack& k) -> std::size_t {
            if (!in) return 0;
            requirement r = about(operation::subscribe, k.requester, operation::subscribe);
            r.what = target::publisher_key;
            r.alias = k.publisher;
            r.source = k.dest;
            return emit(r);
          },
          [&](const query& q) -> std::size_t {
            requirement r = about(operation::query, q.origin, operation::query);
            r.what = target::expression;
            r.text = q.selector;
            return emit(r) + relay(operation::query, q.origin, target::expression, 0, q.selector);
          },
          [&](const reply& rp) -> std::size_t {
            requirement r = about(operation::reply, rp.from, operation::query);
            r.what = target::key;
            r.text = rp.key;
            return emit(r) + relay(operation::query, rp.from, target::key, 0, rp.key);
          },
          [](const reply_final&) -> std::size_t { return 0; },
          [](const unknown&) -> std::size_t { return 0; },
      },
      m);
}

}  // namespace starling::data
