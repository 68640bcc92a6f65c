#pragma once
/// The last N samples per key of a set of keys, in memory (docs/protocols/data.md, "Storage").
/// A storage on a running node (src/node/storage.hpp) feeds it the samples of its key
/// expression and answers queries from it; the store itself is pure: no clock, no I/O.
///
/// Ordering: samples of a key are ordered by (timestamp, source), the source's hybrid
/// logical clock stamp and its node id. A sample older than the ones kept never replaces them:
/// with `keep` samples held, an older one is dropped (counted in `stale`); the same
/// (timestamp, source) twice is a duplicate (counted, dropped).
///
/// Deletes: a delete removes every value of its key and leaves a tombstone with its stamp; a
/// put older than the tombstone is dropped (counted in `stale`), so a late put cannot bring a
/// deleted key back. collect_tombstones() forgets tombstones older than a horizon the caller
/// chooses (a put older than a forgotten tombstone would be taken again: the horizon should
/// be well above how late samples can arrive, minutes, not milliseconds).
///
/// Limits (store_limits), all checked on every insert:
///   - `keep` samples per key (1..1024): the oldest of a key goes when a newer one comes;
///   - `max_keys` keys, tombstones included: a new key beyond it evicts the key written least
///     recently (counted in `evicted_keys`);
///   - `max_bytes` of keys, payloads and encodings in total: a sample bigger than that on its
///     own is refused (counted in `refused`); otherwise keys written least recently are
///     evicted until it fits, and if the written key alone is over, its oldest samples go.
///
/// Not thread-safe: the network thread owns it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/keyexpr/keyexpr.hpp"

namespace starling::data {

/// The bounds of one store.
struct store_limits {
  std::size_t keep = 1;                           ///< samples per key, 1..max_keep
  std::size_t max_keys = 10'000;                  ///< keys (and tombstones)
  std::size_t max_bytes = std::size_t{16} << 20;  ///< key + payload + encoding bytes
};
/// The largest `keep` a store accepts (the config checks it too).
inline constexpr std::size_t max_keep = 1024;

/// A sample as the store keeps it.
struct stored_sample {
  std::uint64_t timestamp = 0;  ///< the source's hybrid logical clock (NTP64)
  std::string source;           ///< the source node (peer id text); ties on timestamp
  std::string encoding;
  bytes payload;
};

/// What insert() did with a sample.
enum class store_outcome {
  stored,     ///< kept (a put) or applied (a delete: values gone, tombstone set)
  stale,      ///< older than what the key holds (or its tombstone): dropped
  duplicate,  ///< the same (timestamp, source) is already held: dropped
  refused,    ///< bigger than max_bytes on its own: dropped
};

/// Counters (monotonic).
struct store_stats {
  std::uint64_t stored = 0;
  std::uint64_t deletes = 0;
  std::uint64_t stale = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t refused = 0;
  std::uint64_t evicted_keys = 0;     ///< keys dropped for max_keys or max_bytes
  std::uint64_t trimmed_samples = 0;  ///< older samples dropped for keep or max_bytes
  std::uint64_t tombstones_collected = 0;
};

/// The kept samples of one key, oldest first, and its tombstone (0 = none).
struct store_entry {
  std::vector<stored_sample> samples;
  std::uint64_t tombstone = 0;
  std::string tombstone_source;
};

class store {
 public:
  /// `limits.keep` is clamped to 1..max_keep, max_keys and max_bytes to at least 1.
  explicit store(store_limits limits = {});

  /// Takes a put (or, with `del`, a delete) on `key`. Never fails: the outcome says what
  /// happened, and the counters count it.
  store_outcome insert(const keyexpr::key& key, stored_sample s, bool del = false);

  /// Calls `fn(key, sample)` for every kept sample whose key `selector` matches, keys in
  /// lexicographic order, each key's samples oldest first; at most `last` per key (its newest
  /// ones; 0 = all kept). Tombstoned keys have no samples and are skipped.
  void query(const keyexpr::keyexpr& selector, std::size_t last,
             const std::function<void(const std::string& key, const stored_sample&)>& fn) const;

  /// Forgets tombstones with a stamp below `horizon` (NTP64; e.g. physical now minus ten
  /// minutes). Returns how many went.
  std::size_t collect_tombstones(std::uint64_t horizon);

  /// The entry of `key` (samples and tombstone), or null.
  const store_entry* find(const std::string& key) const;

  /// Keys changed (written, trimmed, deleted, evicted, collected) since the last call, for a
  /// persistent backend to write; the set is cleared.
  std::set<std::string> take_dirty();

  /// Keys held (with samples or a tombstone).
  std::size_t keys() const noexcept { return m_entries.size(); }
  /// Bytes held (keys, payloads, encodings).
  std::size_t bytes_used() const noexcept { return m_bytes; }
  const store_limits& limits() const noexcept { return m_limits; }
  const store_stats& stats() const noexcept { return m_stats; }

 private:
  struct slot {
    keyexpr::key key;
    store_entry entry;
    std::uint64_t written = 0;  ///< write order, for eviction
    std::size_t bytes = 0;      ///< what this key counts towards m_bytes
  };
  static std::size_t cost(const std::string& key, const stored_sample& s);
  void touch(slot& sl);
  void erase_key(std::map<std::string, slot>::iterator it);
  void trim(slot& sl, std::size_t keep);
  void make_room(const std::string& keep_key);

  store_limits m_limits;
  std::map<std::string, slot> m_entries;
  std::map<std::uint64_t, std::string> m_by_write;  ///< write order -> key
  std::uint64_t m_next_write = 1;
  std::size_t m_bytes = 0;
  std::set<std::string> m_dirty;
  store_stats m_stats;
};

}  // namespace starling::data
