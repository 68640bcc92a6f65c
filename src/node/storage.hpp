#pragma once
/// A storage on a running node (docs/protocols/data.md, "Storage"): it subscribes to its key
/// expression through the data_service, keeps the last `keep` samples per key in a
/// data::store (src/core/data/store.hpp), and declares a complete queryable on the same
/// expression that answers each query from the store: one reply per kept sample (oldest
/// first, so a consolidating querier keeps the newest), then reply_final. The query
/// parameter `last=N` limits the answer to the newest N per key.
///
/// Backends: `memory` (the default) keeps nothing across a restart. `sqlite` keeps the samples
/// and tombstones in `<data_dir>/storage.db` (one file for every storage of the node, rows
/// tagged with the storage's expression), loaded at start. Writes are batched: the keys
/// changed in the last second are written in one transaction (WAL, synchronous=NORMAL), and
/// once more when the storage stops. A crash or power cut loses at most the samples of the
/// last second (the previous batch is intact); a clean stop loses nothing.
///
/// Everything runs on the network thread, the SQLite writes included (one small transaction
/// per second at most, like the peer store).

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/data/store.hpp"
#include "node/data_service.hpp"

namespace starling::node {

/// Where a storage keeps its samples.
enum class storage_backend { memory, sqlite };

/// One `[[storage]]` table (or `--storage EXPR`).
struct storage_config {
  std::string expr;  ///< a key expression
  std::size_t keep = 1;
  storage_backend backend = storage_backend::memory;
  std::size_t max_keys = 10'000;                  ///< keys and tombstones
  std::size_t max_bytes = std::size_t{16} << 20;  ///< keys, payloads, encodings
  /// Tombstones older than this (by their stamp) are forgotten.
  std::chrono::seconds tombstone_lifetime{600};
};

/// Why a storage could not start: one line for a person.
struct storage_error {
  std::string message;
};
/// A value or a storage_error.
template <class T>
using storage_result = boost::system::result<T, storage_error>;
/// Called by `storage_result::value()` on an error: throws std::runtime_error. Check first.
[[noreturn]] void throw_exception_from_error(const storage_error& e,
                                             const boost::source_location& loc);

class storage {
 public:
  /// Loads the stored samples (sqlite), then subscribes and declares the queryable. Errors: a
  /// bad expression (the parser's message), the database cannot be opened or read (path and
  /// SQLite's reason), the subscription or queryable refused by the engine.
  static storage_result<std::unique_ptr<storage>> start(data_service& data,
                                                        boost::asio::io_context& ctx,
                                                        const storage_config& cfg,
                                                        const std::filesystem::path& data_dir);
  /// Undeclares, then writes what is not written yet.
  ~storage();
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;

  /// Writes the changed keys now (sqlite; nothing for memory).
  void flush();
  /// The samples held.
  const data::store& contents() const noexcept { return m_store; }
  /// The canonical expression.
  const std::string& expr() const noexcept { return m_expr; }
  /// Queries answered, and replies the engine refused (e.g. the querier went away).
  std::uint64_t queries() const noexcept { return m_queries; }
  /// Rows of the database that could not be read back at start (skipped).
  std::uint64_t bad_rows() const noexcept { return m_bad_rows; }

  class database;  ///< internal (storage.cpp)

 private:
  storage(data_service& data, boost::asio::io_context& ctx, const storage_config& cfg,
          std::string expr);
  void on_sample(const data::sample& s);
  void on_query(const data::query_request& q);
  void schedule_flush();
  void schedule_collect();

  data_service& m_data;
  storage_config m_cfg;
  std::string m_expr;
  data::store m_store;
  std::unique_ptr<database> m_db;
  std::uint64_t m_sub = 0;
  std::uint64_t m_qbl = 0;
  boost::asio::steady_timer m_flush_timer;
  boost::asio::steady_timer m_collect_timer;
  bool m_flush_armed = false;
  std::uint64_t m_queries = 0;
  std::uint64_t m_bad_rows = 0;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace starling::node
