#pragma once
/// How a publisher sends its samples: reliability, priority, congestion control, express,
/// encoding (session::declare_publisher).

#include <string>

namespace starling {

/// A sample's priority class. On every link, control samples go out before real-time ones,
/// real-time before data, data before background; protocol messages (declarations,
/// liveliness, queries and replies) go before all of them.
enum class priority {
  control,    ///< commands that must overtake everything else
  real_time,  ///< latency-sensitive streams (audio, control loops)
  data,       ///< the default
  background  ///< bulk transfers, logs: only what the others leave
};

/// What a publisher does when a link towards one of its subscribers is congested (more than
/// 8 MiB of samples waiting for it).
enum class congestion_control {
  /// put() waits until the link has room again (at most 10 s, then errc::timeout). Called on
  /// the network thread (from a handler), where it cannot wait, put() answers
  /// errc::would_block instead, and the caller tries again later.
  block,
  /// The sample is dropped for that link (counted by the node); other subscribers still get
  /// it, and put() succeeds. For values that the next sample replaces anyway.
  drop,
};

/// Options of a publisher (session::declare_publisher). The defaults suit most data:
/// reliable, priority data, block when congested, batched.
struct publisher_options {
  /// Reliable (the default): every subscriber the mesh knows of gets each sample once and in
  /// order, also when a relay dies with samples in flight (the source keeps its last 1024
  /// samples for repair). Best effort (false): samples are delivered as they come, without
  /// repair and without the source's history: for streams where a lost value is soon stale.
  bool reliable = true;
  /// The content type of every sample of this publisher, e.g. "text/plain" ("" = none; at
  /// most 128 bytes).
  std::string encoding;
  /// The priority class of its samples.
  starling::priority priority = starling::priority::data;
  /// What put() does when a link is congested.
  congestion_control congestion = congestion_control::block;
  /// Express: each sample is sent at once, instead of with the others of the network
  /// thread's current turn (batched into shared frames). Lower latency, more packets.
  bool express = false;
};

}  // namespace starling
