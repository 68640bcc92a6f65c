#pragma once
/// The persistent peer store: peers this node has seen or connected to, kept in an SQLite
/// file in the data directory (usually `peers.db`) so that known peers are re-dialled after a
/// restart. See docs/decisions/0004-sqlite-peer-store.md.
///
/// Not thread-safe: every call happens on the network thread. Calls are short (one batched
/// transaction per save, an indexed query per load) but they do touch the disk.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "node/detailed_error.hpp"

namespace starling::node {

/// Errors of the peer store: the `code` of a store_error, whose `message` is the full sentence
/// for a person, with the file name and SQLite's own message.
enum class store_errc {
  cannot_open = 1,  ///< the file or its directory cannot be created, opened or written
  corrupt,          ///< the file is not an SQLite database, or SQLite found it damaged
  newer_schema,     ///< the file was written by a newer Starling (schema version too high)
  not_peer_store,   ///< a valid SQLite database, but some other program's
  busy,             ///< another process holds the database locked
  invalid_peer,     ///< save() was given a peer with an empty id
  sqlite_error,     ///< any other SQLite failure (disk full, I/O error, ...)
};
/// The category of `store_errc` ("peer_store").
const std::error_category& store_category() noexcept;
inline std::error_code make_error_code(store_errc e) noexcept {
  return {static_cast<int>(e), store_category()};
}

/// What a peer store call returns: a value, or a store_errc code (`error().code`) with the
/// sentence to log (`error().message`), e.g. "peer store /x/peers.db is corrupt: file is not
/// a database; ...".
template <class T>
using store_result = detailed_result<T>;

/// One row of the store.
struct stored_peer {
  std::string peer_id;              ///< peer id text (base58)
  std::vector<std::string> addrs;   ///< multiaddr text without /p2p/, newest first
  std::int64_t last_seen = 0;       ///< unix seconds
  std::int64_t last_connected = 0;  ///< unix seconds, 0 = never
  std::uint32_t failures = 0;       ///< consecutive failed dials
  unsigned sources = 0;             ///< mesh::source bits
};

/// The peer store. Created by `open`; closing (destruction) checkpoints nothing by hand: the
/// WAL is folded back by SQLite when the last connection closes.
class peer_store {
 public:
  /// The schema version this build writes (stored in `PRAGMA user_version`).
  static constexpr int schema_version = 1;
  /// At most this many addresses are kept per peer (extra ones, the oldest, are dropped).
  static constexpr std::size_t max_addrs_per_peer = 32;

  /// Opens `path` (e.g. data_dir/"peers.db"), creating it owner-only (0600; the -wal and -shm
  /// files get the same mode) when missing, sets WAL journal, synchronous=NORMAL and a short
  /// busy timeout, checks integrity and migrates an older schema. The parent directory must
  /// exist. Errors: cannot_open (directory missing or not writable), corrupt (never deleted or
  /// repaired: the user moves the file away), newer_schema, not_peer_store, busy, sqlite_error.
  /// The caller logs the error's message and runs without a store (or exits).
  static store_result<std::unique_ptr<peer_store>> open(const std::filesystem::path& path);

  ~peer_store();
  peer_store(const peer_store&) = delete;
  peer_store& operator=(const peer_store&) = delete;

  /// Up to `limit` peers, most recently connected first, then most recently seen (peers never
  /// connected come after every peer that was). Addresses that are not strings are skipped.
  /// Errors: corrupt, busy, sqlite_error (the caller logs the message and starts empty).
  store_result<std::vector<stored_peer>> load(std::size_t limit = 1024);
  /// Inserts or replaces each peer (one transaction for the batch: all or nothing).
  /// Errors: invalid_peer (an empty id; nothing written), busy, corrupt, sqlite_error (the
  /// caller logs the message and tries again at the next batch).
  store_result<void> save(const std::vector<stored_peer>& peers);
  /// Removes one peer (no error when absent). Errors: busy, corrupt, sqlite_error.
  store_result<void> forget(const std::string& peer_id);
  /// Keeps at most `max_rows` rows, dropping the stalest (the end of `load` order), and drops
  /// peers neither seen nor connected in the last `max_age_seconds` before `now_unix`
  /// (`max_age_seconds` <= 0: no age limit). One transaction. Errors: busy, corrupt, sqlite_error.
  store_result<void> prune(std::size_t max_rows, std::int64_t now_unix,
                           std::int64_t max_age_seconds);
  /// Number of rows. Errors: as load.
  store_result<std::size_t> count();

  /// The file this store was opened on.
  const std::filesystem::path& path() const { return m_path; }

  struct impl;  ///< SQLite handles; defined in peer_store.cpp (no SQLite types in this header)

 private:
  peer_store(std::filesystem::path path, std::unique_ptr<impl> i);
  detailed_error fail(int sqlite_rc, const char* what) const;

  std::filesystem::path m_path;
  std::unique_ptr<impl> m_impl;
};

}  // namespace starling::node

template <>
struct std::is_error_code_enum<starling::node::store_errc> : std::true_type {};
