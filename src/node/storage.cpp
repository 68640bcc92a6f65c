#include "node/storage.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/throw_exception.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "core/data/hlc.hpp"
#include "core/keyexpr/keyexpr.hpp"

namespace starling::node {

void throw_exception_from_error(const storage_error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(e.message), loc);
}

namespace {

/// "STAR" in ASCII, as the peer store: marks the file as ours.
constexpr int application_id = 0x53544152;
constexpr int schema_version = 1;
constexpr auto flush_interval = std::chrono::seconds(1);
constexpr auto collect_interval = std::chrono::seconds(60);

std::uint64_t wall_ntp() {
  return data::ntp64_from_unix(std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()));
}

/// `last=N` in a query's parameters (`a=1;last=3` or `a=1&last=3`); 0 when absent or bad.
std::size_t last_parameter(std::string_view params) {
  while (!params.empty()) {
    const auto end = params.find_first_of(";&");
    const auto part = params.substr(0, end);
    if (part.starts_with("last=")) {
      std::size_t n = 0;
      const auto v = part.substr(5);
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec == std::errc() && p == v.data() + v.size()) return n;
    }
    if (end == std::string_view::npos) break;
    params.remove_prefix(end + 1);
  }
  return 0;
}

struct db_closer {
  void operator()(sqlite3* db) const noexcept { ::sqlite3_close_v2(db); }
};
struct stmt_closer {
  void operator()(sqlite3_stmt* s) const noexcept { ::sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_closer>;

}  // namespace

/// The SQLite file shared by a node's storages; one connection per storage.
class storage::database {
 public:
  static storage_result<std::unique_ptr<database>> open(const std::filesystem::path& path,
                                                        std::string expr) {
    auto d = std::unique_ptr<database>(new database(path, std::move(expr)));
    // Owner-only before SQLite writes a byte (as the peer store; -wal/-shm inherit it).
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) return d->fail("cannot create", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) ::fchmod(fd, 0600);
    ::close(fd);
    sqlite3* raw = nullptr;
    const int rc =
        ::sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    d->m_db.reset(raw);
    if (rc != SQLITE_OK) return d->fail("cannot open", d->msg());
    ::sqlite3_busy_timeout(raw, 1000);
    std::int64_t version = 0, app = 0, tables = 0;
    if (!d->scalar("PRAGMA user_version", version) || !d->scalar("PRAGMA application_id", app) ||
        !d->scalar("SELECT count(*) FROM sqlite_schema", tables)) {
      return d->fail("cannot read", d->msg());
    }
    if (app != application_id && (app != 0 || version != 0 || tables != 0)) {
      return d->fail("refused", "an SQLite database of another program; move it away");
    }
    if (version > schema_version) {
      return d->fail("refused", "written by a newer Starling (schema " + std::to_string(version) +
                                    "); upgrade or move it away");
    }
    std::int64_t ignored = 0;
    if (!d->scalar("PRAGMA journal_mode=WAL", ignored) || !d->exec("PRAGMA synchronous=NORMAL")) {
      return d->fail("cannot set up", d->msg());
    }
    if (version < schema_version &&
        !d->exec("BEGIN IMMEDIATE;"
                 "CREATE TABLE IF NOT EXISTS samples(storage TEXT NOT NULL, key TEXT NOT NULL,"
                 " ts INTEGER NOT NULL, source TEXT NOT NULL, encoding TEXT NOT NULL,"
                 " payload BLOB NOT NULL, PRIMARY KEY(storage, key, ts, source)) WITHOUT ROWID;"
                 "CREATE TABLE IF NOT EXISTS tombstones(storage TEXT NOT NULL, key TEXT NOT NULL,"
                 " ts INTEGER NOT NULL, source TEXT NOT NULL, PRIMARY KEY(storage, key))"
                 " WITHOUT ROWID;"
                 "PRAGMA application_id=1398030674; PRAGMA user_version=1; COMMIT;")) {
      auto e = d->fail("cannot create the tables in", d->msg());
      d->exec("ROLLBACK");
      return e;
    }
    if (!d->prepare(d->m_del_samples, "DELETE FROM samples WHERE storage=?1 AND key=?2") ||
        !d->prepare(d->m_del_tomb, "DELETE FROM tombstones WHERE storage=?1 AND key=?2") ||
        !d->prepare(d->m_ins_sample,
                    "INSERT OR REPLACE INTO samples VALUES(?1, ?2, ?3, ?4, ?5, ?6)") ||
        !d->prepare(d->m_ins_tomb, "INSERT OR REPLACE INTO tombstones VALUES(?1, ?2, ?3, ?4)")) {
      return d->fail("cannot prepare statements on", d->msg());
    }
    return d;
  }

  /// Feeds every stored tombstone, then every sample, of this storage into `st`; returns the
  /// rows that could not be used (a key that no longer parses).
  storage_result<std::uint64_t> load(data::store& st) {
    std::uint64_t bad = 0;
    for (const bool tombs : {true, false}) {
      stmt_ptr q;
      const char* sql = tombs ? "SELECT key, ts, source FROM tombstones WHERE storage=?1"
                              : "SELECT key, ts, source, encoding, payload FROM samples WHERE "
                                "storage=?1 ORDER BY ts";
      if (!prepare(q, sql)) return fail("cannot read", msg());
      text(q.get(), 1, m_expr);
      int rc = 0;
      while ((rc = ::sqlite3_step(q.get())) == SQLITE_ROW) {
        auto k = keyexpr::key::parse(column(q.get(), 0));
        if (!k) {
          ++bad;
          continue;
        }
        data::stored_sample s;
        s.timestamp = static_cast<std::uint64_t>(::sqlite3_column_int64(q.get(), 1));
        s.source = std::string(column(q.get(), 2));
        if (!tombs) {
          s.encoding = std::string(column(q.get(), 3));
          const auto* p = static_cast<const std::uint8_t*>(::sqlite3_column_blob(q.get(), 4));
          s.payload.assign(p, p + ::sqlite3_column_bytes(q.get(), 4));
        }
        st.insert(*k, std::move(s), tombs);
      }
      if (rc != SQLITE_DONE) return fail("cannot read", msg());
    }
    st.take_dirty();  // what was just read is on disk already
    return bad;
  }

  /// Writes the current state of `keys` in one transaction. False (logged) on an error: the
  /// keys stay as they were on disk.
  bool write(const data::store& st, const std::set<std::string>& keys) {
    if (keys.empty()) return true;
    if (!exec("BEGIN IMMEDIATE")) return log_fail();
    for (const auto& k : keys) {
      for (auto* s : {m_del_samples.get(), m_del_tomb.get()}) {
        text(s, 1, m_expr);
        text(s, 2, k);
        if (!step(s)) return rollback();
      }
      const data::store_entry* e = st.find(k);
      if (!e) continue;
      for (const auto& smp : e->samples) {
        auto* s = m_ins_sample.get();
        text(s, 1, m_expr);
        text(s, 2, k);
        ::sqlite3_bind_int64(s, 3, static_cast<std::int64_t>(smp.timestamp));
        text(s, 4, smp.source);
        text(s, 5, smp.encoding);
        ::sqlite3_bind_blob(s, 6, smp.payload.data(), static_cast<int>(smp.payload.size()),
                            SQLITE_STATIC);
        if (!step(s)) return rollback();
      }
      if (e->tombstone != 0) {
        auto* s = m_ins_tomb.get();
        text(s, 1, m_expr);
        text(s, 2, k);
        ::sqlite3_bind_int64(s, 3, static_cast<std::int64_t>(e->tombstone));
        text(s, 4, e->tombstone_source);
        if (!step(s)) return rollback();
      }
    }
    if (!exec("COMMIT")) return rollback();
    return true;
  }

 private:
  database(std::filesystem::path path, std::string expr)
      : m_path(std::move(path)), m_expr(std::move(expr)) {}

  storage_error fail(std::string_view what, std::string_view why) const {
    return storage_error{"storage '" + m_expr + "': " + std::string(what) + " " + m_path.string() +
                         ": " + std::string(why)};
  }
  bool log_fail() const {
    spdlog::warn("{}", fail("cannot write to", msg()).message);
    return false;
  }
  bool rollback() {
    log_fail();
    exec("ROLLBACK");
    return false;
  }
  std::string msg() const {
    return m_db ? ::sqlite3_errmsg(m_db.get()) : std::string("out of memory");
  }
  bool exec(const char* sql) {
    return ::sqlite3_exec(m_db.get(), sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  bool prepare(stmt_ptr& out, const char* sql) {
    sqlite3_stmt* s = nullptr;
    const int rc = ::sqlite3_prepare_v2(m_db.get(), sql, -1, &s, nullptr);
    out.reset(s);
    return rc == SQLITE_OK;
  }
  bool scalar(const char* sql, std::int64_t& out) {
    stmt_ptr s;
    if (!prepare(s, sql)) return false;
    const int rc = ::sqlite3_step(s.get());
    if (rc == SQLITE_ROW) out = ::sqlite3_column_int64(s.get(), 0);
    return rc == SQLITE_ROW || rc == SQLITE_DONE;
  }
  static void text(sqlite3_stmt* s, int i, std::string_view v) {
    ::sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  static std::string_view column(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(::sqlite3_column_text(s, i));
    return p ? std::string_view(p, static_cast<std::size_t>(::sqlite3_column_bytes(s, i)))
             : std::string_view();
  }
  static bool step(sqlite3_stmt* s) {
    const int rc = ::sqlite3_step(s);
    ::sqlite3_reset(s);
    ::sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE;
  }

  std::filesystem::path m_path;
  std::string m_expr;
  std::unique_ptr<sqlite3, db_closer> m_db;
  stmt_ptr m_del_samples, m_del_tomb, m_ins_sample, m_ins_tomb;
};

storage::storage(data_service& data, boost::asio::io_context& ctx, const storage_config& cfg,
                 std::string expr)
    : m_data(data),
      m_cfg(cfg),
      m_expr(std::move(expr)),
      m_store(data::store_limits{cfg.keep, cfg.max_keys, cfg.max_bytes}),
      m_flush_timer(ctx),
      m_collect_timer(ctx) {}

storage_result<std::unique_ptr<storage>> storage::start(data_service& data,
                                                        boost::asio::io_context& ctx,
                                                        const storage_config& cfg,
                                                        const std::filesystem::path& data_dir) {
  auto x = keyexpr::keyexpr::parse(cfg.expr);
  if (!x) return storage_error{"storage: " + x.error().message()};
  auto st = std::unique_ptr<storage>(new storage(data, ctx, cfg, x->str()));
  if (cfg.backend == storage_backend::sqlite) {
    auto db = database::open(data_dir / "storage.db", st->m_expr);
    if (!db) return db.error();
    st->m_db = std::move(*db);
    auto bad = st->m_db->load(st->m_store);
    if (!bad) return bad.error();
    st->m_bad_rows = *bad;
    if (*bad) spdlog::warn("storage '{}': {} unreadable rows skipped", st->m_expr, *bad);
    spdlog::info("storage '{}': {} keys loaded from {}", st->m_expr, st->m_store.keys(),
                 (data_dir / "storage.db").string());
  }
  storage* self = st.get();
  auto sub = data.subscribe(st->m_expr, [self](const data::sample& s) { self->on_sample(s); });
  if (!sub) return storage_error{"storage '" + st->m_expr + "': " + sub.error().message()};
  st->m_sub = *sub;
  auto qbl = data.declare_queryable(st->m_expr, true,
                                    [self](const data::query_request& q) { self->on_query(q); });
  if (!qbl) return storage_error{"storage '" + st->m_expr + "': " + qbl.error().message()};
  st->m_qbl = *qbl;
  st->schedule_collect();
  return st;
}

storage::~storage() {
  *m_alive = false;
  m_data.unsubscribe(m_sub);
  m_data.undeclare_queryable(m_qbl);
  flush();
}

void storage::flush() {
  if (!m_db) {
    m_store.take_dirty();
    return;
  }
  m_db->write(m_store, m_store.take_dirty());
}

void storage::on_sample(const data::sample& s) {
  auto k = keyexpr::key::parse(s.key);
  if (!k) return;  // the engine only delivers keys; nothing to keep otherwise
  data::stored_sample v;
  v.timestamp = s.timestamp;
  if (s.source) v.source = s.source->to_string();
  v.encoding = std::string(s.encoding);
  v.payload.assign(s.payload.begin(), s.payload.end());
  if (m_store.insert(*k, std::move(v), s.del) == data::store_outcome::stored) schedule_flush();
}

void storage::on_query(const data::query_request& q) {
  ++m_queries;
  auto sel = keyexpr::keyexpr::parse(q.selector);
  if (sel) {
    const std::uint64_t h = q.handle;
    m_store.query(*sel, last_parameter(q.parameters),
                  [&](const std::string& key, const data::stored_sample& s) {
                    // A refusal (the query ended meanwhile) leaves nothing to do.
                    (void)m_data.reply(h, key, s.payload, s.encoding, false, s.timestamp);
                  });
  }
  m_data.reply_final(q.handle);
}

void storage::schedule_flush() {
  if (!m_db) {
    m_store.take_dirty();
    return;
  }
  if (m_flush_armed) return;
  m_flush_armed = true;
  m_flush_timer.expires_after(flush_interval);
  m_flush_timer.async_wait([this, alive = std::weak_ptr<bool>(m_alive)](auto ec) {
    auto a = alive.lock();
    if (ec || !a || !*a) return;
    m_flush_armed = false;
    flush();
  });
}

void storage::schedule_collect() {
  m_collect_timer.expires_after(collect_interval);
  m_collect_timer.async_wait([this, alive = std::weak_ptr<bool>(m_alive)](auto ec) {
    auto a = alive.lock();
    if (ec || !a || !*a) return;
    const std::uint64_t now = wall_ntp();
    const std::uint64_t span = data::ntp64_span(m_cfg.tombstone_lifetime);
    if (now > span && m_store.collect_tombstones(now - span) > 0) schedule_flush();
    schedule_collect();
  });
}

}  // namespace starling::node
