#pragma once
/// What a get (a query) sends and receives: its options, its replies and how it ended
/// (session::get).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starling {

/// Which queryables a get asks.
enum class query_target {
  all,           ///< every reachable node with a queryable that intersects the selector
  best,          ///< only the nearest such node (this session first, then the fewest hops)
  all_complete,  ///< every node with a complete queryable that covers the whole selector
};

/// What a get keeps of the replies.
enum class consolidation {
  none,    ///< every reply, as it arrives
  latest,  ///< one reply per key, the newest by timestamp, all given when the get ends
};

/// Options of one get (session::get).
struct get_options {
  query_target target = query_target::all;
  starling::consolidation consolidate = starling::consolidation::none;
  /// How long to wait for the queryables to finish (1 ms to 5 min). A get ends sooner when
  /// every asked node has finished or gone away.
  std::chrono::milliseconds timeout{10000};
  /// A value sent with the query (at most 512 KiB), e.g. a command; queryables see it as
  /// query::payload(). Unset: none.
  std::optional<std::vector<std::byte>> payload;
};

/// One reply to a get, owned (it may be kept after the handler returns).
struct reply {
  std::string key;                 ///< the key it answers for (no wildcards)
  std::vector<std::byte> payload;  ///< the value (for an error reply: what went wrong)
  std::string encoding;            ///< content type ("" if none was given)
  std::string source;              ///< peer id of the node that replied ("12D3KooW...")
  /// The replying node's hybrid logical clock when it replied (NTP64, as sample::timestamp),
  /// or a stored sample's own stamp when a storage replies.
  std::uint64_t timestamp = 0;
  bool is_error = false;  ///< the queryable could not answer (query::reply_error)

  /// The payload as text (a view into `payload`, no UTF-8 check).
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};
  }
};

/// Why a get ended.
enum class get_end {
  complete,      ///< every asked node finished (or went away) before the timeout
  timeout,       ///< some node had not finished when the timeout passed
  no_queryable,  ///< no reachable queryable matched the selector: nobody was asked
  closed,        ///< the session closed first
};

/// How a get ended (the callback form's last call).
struct get_done {
  get_end reason = get_end::complete;
  std::size_t replies = 0;         ///< replies delivered (error replies included)
  std::size_t nodes_asked = 0;     ///< nodes the query went to (this session's included)
  std::size_t nodes_answered = 0;  ///< of those, nodes that finished
  std::size_t nodes_gone = 0;      ///< of those, nodes that became unreachable first
};

/// Called for each reply of a get, on the session's network thread (see sample_handler for
/// what a handler may do there).
using reply_handler = std::function<void(const reply&)>;
/// Called once when a get ends, after its last reply, on the network thread.
using get_done_handler = std::function<void(const get_done&)>;

/// The bytes of `text` (for get_options::payload and other byte payloads).
inline std::vector<std::byte> to_bytes(std::string_view text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  return {p, p + text.size()};
}

}  // namespace starling
