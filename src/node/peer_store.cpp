#include "node/peer_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

namespace starling::node {

namespace fs = std::filesystem;

namespace {

class store_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "peer_store"; }
  std::string message(int c) const override {
    switch (static_cast<store_errc>(c)) {
      case store_errc::cannot_open:
        return "cannot open or create the peer store";
      case store_errc::corrupt:
        return "the peer store file is corrupt";
      case store_errc::newer_schema:
        return "the peer store was written by a newer Starling";
      case store_errc::not_peer_store:
        return "the file is not a Starling peer store";
      case store_errc::busy:
        return "the peer store is locked by another process";
      case store_errc::invalid_peer:
        return "a peer without an id cannot be stored";
      case store_errc::sqlite_error:
        return "peer store database error";
    }
    return "peer store error";
  }
};

/// "STAR" in ASCII: marks the file as ours in `PRAGMA application_id`.
constexpr int application_id = 0x53544152;
constexpr int busy_timeout_ms = 200;

struct db_closer {
  void operator()(sqlite3* db) const noexcept { ::sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_closer>;

/// A prepared statement; reset (and its bindings cleared) by `done()` after each use.
class statement {
 public:
  statement() = default;
  explicit statement(sqlite3_stmt* s) : m_stmt(s) {}
  statement(statement&& o) noexcept : m_stmt(std::exchange(o.m_stmt, nullptr)) {}
  statement& operator=(statement&& o) noexcept {
    std::swap(m_stmt, o.m_stmt);
    return *this;
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { ::sqlite3_finalize(m_stmt); }

  void bind(int i, std::int64_t v) { ::sqlite3_bind_int64(m_stmt, i, v); }
  // The text must outlive step(): callers bind locals and step before they go out of scope.
  void bind(int i, std::string_view v) {
    ::sqlite3_bind_text(m_stmt, i, v.data(), static_cast<int>(v.size()), nullptr);
  }
  int step() { return ::sqlite3_step(m_stmt); }
  void done() {
    ::sqlite3_reset(m_stmt);
    ::sqlite3_clear_bindings(m_stmt);
  }
  std::int64_t int64(int col) { return ::sqlite3_column_int64(m_stmt, col); }
  std::string_view text(int col) {
    const auto* p = ::sqlite3_column_text(m_stmt, col);
    if (p == nullptr) return {};
    return {reinterpret_cast<const char*>(p),
            static_cast<std::size_t>(::sqlite3_column_bytes(m_stmt, col))};
  }
  bool null(int col) { return ::sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* m_stmt = nullptr;
};

store_errc classify(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return store_errc::corrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return store_errc::busy;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return store_errc::cannot_open;
    default:
      return store_errc::sqlite_error;
  }
}

/// One sentence for a person, naming the file.
std::string describe(const fs::path& path, store_errc e, std::string_view what,
                     std::string_view msg) {
  const std::string p = path.string();
  switch (e) {
    case store_errc::corrupt:
      return "peer store " + p + " is corrupt: " + std::string(msg) +
             "; move it away (a new one is created at the next start) or inspect it with sqlite3";
    case store_errc::busy:
      return "peer store " + p + " is locked by another process (" + std::string(what) + ": " +
             std::string(msg) + ")";
    default:
      return "peer store " + p + ": " + std::string(what) + ": " + std::string(msg);
  }
}

/// Schema migrations: entry v upgrades version v to v + 1. Version 0 is an empty file.
/// Addresses are a JSON array of strings (newest first): one row per peer keeps save() a
/// single upsert per peer, and `sqlite3 peers.db "select peer_id, value from peers,
/// json_each(addrs)"` still lists them one per line.
constexpr const char* migrations[] = {
    "CREATE TABLE peers ("
    " peer_id TEXT PRIMARY KEY NOT NULL,"
    " addrs TEXT NOT NULL DEFAULT '[]',"
    " last_seen INTEGER NOT NULL DEFAULT 0,"
    " last_connected INTEGER NOT NULL DEFAULT 0,"
    " failures INTEGER NOT NULL DEFAULT 0,"
    " sources INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX peers_recency ON peers(last_connected DESC, last_seen DESC);",
};
static_assert(std::size(migrations) == peer_store::schema_version);

constexpr const char* order_by = " ORDER BY last_connected DESC, last_seen DESC, peer_id";

std::int64_t clamp_limit(std::size_t n) {
  return static_cast<std::int64_t>(
      std::min<std::size_t>(n, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
}

std::string addrs_to_json(const std::vector<std::string>& addrs) {
  auto arr = nlohmann::json::array();
  const std::size_t n = std::min(addrs.size(), peer_store::max_addrs_per_peer);
  for (std::size_t i = 0; i < n; ++i)
    arr.push_back(addrs[i]);
  return arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> addrs_from_json(std::string_view text) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& a : j) {
    if (out.size() == peer_store::max_addrs_per_peer) break;
    if (a.is_string()) out.push_back(a.get<std::string>());
  }
  return out;
}

/// Creates the file owner-only before SQLite sees it (and tightens an existing one), so no
/// byte is ever written to a file others can read. SQLite gives -wal/-shm the same mode.
store_result<void> create_private(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) {
    return detailed_error{
        make_error_code(store_errc::cannot_open),
        "cannot create peer store " + path.string() + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) ::fchmod(fd, 0600);
  ::close(fd);
  return {};
}

void tighten(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) == 0 && (st.st_mode & 077) != 0) ::chmod(p.c_str(), 0600);
}

}  // namespace

const std::error_category& store_category() noexcept {
  static const store_category_impl c;
  return c;
}

struct peer_store::impl {
  db_ptr db;
  statement upsert, select, forget, prune_rows, prune_age, count, begin, commit, rollback;

  /// Prepares `sql` into `out`; returns SQLite's code.
  int prepare(statement& out, const char* sql) {
    sqlite3_stmt* s = nullptr;
    const int rc = ::sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    out = statement(s);
    return rc;
  }
  /// Runs a statement that returns at most one integer (or nothing).
  int scalar(const char* sql, std::int64_t& value) {
    statement s;
    if (int rc = prepare(s, sql); rc != SQLITE_OK) return rc;
    const int rc = s.step();
    if (rc == SQLITE_ROW) {
      value = s.int64(0);
      return SQLITE_OK;
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }
  int exec(const char* sql) { return ::sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr); }
  const char* msg() const { return ::sqlite3_errmsg(db.get()); }
};

peer_store::peer_store(fs::path path, std::unique_ptr<impl> i)
    : m_path(std::move(path)), m_impl(std::move(i)) {}

peer_store::~peer_store() = default;

store_result<std::unique_ptr<peer_store>> peer_store::open(const fs::path& path) {
  auto fail = [](store_errc e, std::string text) {
    return detailed_error{make_error_code(e), std::move(text)};
  };
  if (auto r = create_private(path); !r) return r.error();

  auto im = std::make_unique<impl>();
  sqlite3* raw = nullptr;
  int rc = ::sqlite3_open_v2(path.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             nullptr);
  im->db.reset(raw);  // a handle comes back even on failure and must be closed
  auto sql_fail = [&](int code, std::string_view what) {
    const store_errc e = classify(code);
    return fail(e, describe(path, e, what, raw ? im->msg() : ::sqlite3_errstr(code)));
  };
  if (rc != SQLITE_OK) return sql_fail(rc, "cannot open");
  ::sqlite3_busy_timeout(raw, busy_timeout_ms);

  // The first read of the header: a file that is not SQLite fails here, before any write.
  std::int64_t version = 0, app_id = 0, tables = 0;
  if (rc = im->scalar("PRAGMA user_version", version); rc != SQLITE_OK)
    return sql_fail(rc, "reading the schema version");
  if (rc = im->scalar("PRAGMA application_id", app_id); rc != SQLITE_OK)
    return sql_fail(rc, "reading the application id");
  if (rc = im->scalar("SELECT count(*) FROM sqlite_schema", tables); rc != SQLITE_OK)
    return sql_fail(rc, "reading the schema");
  if (app_id != application_id && (app_id != 0 || version != 0 || tables != 0)) {
    return fail(store_errc::not_peer_store,
                "peer store " + path.string() +
                    " is an SQLite database of another program; move it away or choose "
                    "another data directory");
  }
  if (version > schema_version) {
    return fail(store_errc::newer_schema,
                "peer store " + path.string() + " has schema version " + std::to_string(version) +
                    ", newer than this Starling supports (" + std::to_string(schema_version) +
                    "); upgrade Starling or move the file away");
  }
  if (version > 0) {
    statement check;
    if (rc = im->prepare(check, "PRAGMA quick_check(1)"); rc != SQLITE_OK)
      return sql_fail(rc, "checking integrity");
    rc = check.step();
    if (rc != SQLITE_ROW) return sql_fail(rc, "checking integrity");
    if (check.text(0) != "ok") {
      return fail(store_errc::corrupt,
                  describe(path, store_errc::corrupt, "", std::string(check.text(0))));
    }
  }

  std::int64_t ignored = 0;
  if (rc = im->scalar("PRAGMA journal_mode=WAL", ignored); rc != SQLITE_OK)
    return sql_fail(rc, "enabling WAL");
  if (rc = im->exec("PRAGMA synchronous=NORMAL"); rc != SQLITE_OK)
    return sql_fail(rc, "setting synchronous");

  if (version < schema_version) {
    if (rc = im->exec("BEGIN IMMEDIATE"); rc != SQLITE_OK) return sql_fail(rc, "migrating");
    for (auto v = version; v < schema_version; ++v) {
      if (rc = im->exec(migrations[v]); rc != SQLITE_OK) {
        auto e = sql_fail(rc, "migrating to schema version " + std::to_string(v + 1));
        im->exec("ROLLBACK");
        return e;
      }
    }
    const std::string stamp = "PRAGMA user_version=" + std::to_string(schema_version) +
                              "; PRAGMA application_id=" + std::to_string(application_id) + ";";
    if (rc = im->exec(stamp.c_str()); rc != SQLITE_OK || (rc = im->exec("COMMIT")) != SQLITE_OK) {
      auto e = sql_fail(rc, "migrating");
      im->exec("ROLLBACK");
      return e;
    }
  }
  tighten(path.string() + "-wal");
  tighten(path.string() + "-shm");

  const std::string sel = std::string(
                              "SELECT peer_id, addrs, last_seen, last_connected, failures, "
                              "sources FROM peers") +
                          order_by + " LIMIT ?1";
  const std::string prune_rows =
      std::string("DELETE FROM peers WHERE peer_id NOT IN (SELECT peer_id FROM peers") + order_by +
      " LIMIT ?1)";
  const std::pair<statement*, const char*> stmts[] = {
      {&im->upsert,
       "INSERT INTO peers(peer_id, addrs, last_seen, last_connected, failures, sources) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(peer_id) DO UPDATE SET addrs = excluded.addrs, "
       "last_seen = excluded.last_seen, last_connected = excluded.last_connected, "
       "failures = excluded.failures, sources = excluded.sources"},
      {&im->select, sel.c_str()},
      {&im->forget, "DELETE FROM peers WHERE peer_id = ?1"},
      {&im->prune_rows, prune_rows.c_str()},
      {&im->prune_age, "DELETE FROM peers WHERE max(last_seen, last_connected) < ?1"},
      {&im->count, "SELECT count(*) FROM peers"},
      {&im->begin, "BEGIN IMMEDIATE"},
      {&im->commit, "COMMIT"},
      {&im->rollback, "ROLLBACK"},
  };
  for (const auto& [st, sql] : stmts) {
    if (rc = im->prepare(*st, sql); rc != SQLITE_OK) return sql_fail(rc, "preparing statements");
  }
  return std::unique_ptr<peer_store>(new peer_store(path, std::move(im)));
}

detailed_error peer_store::fail(int sqlite_rc, const char* what) const {
  const store_errc e = classify(sqlite_rc);
  return {make_error_code(e), describe(m_path, e, what, m_impl->msg())};
}

store_result<std::vector<stored_peer>> peer_store::load(std::size_t limit) {
  std::vector<stored_peer> out;
  auto& s = m_impl->select;
  s.bind(1, clamp_limit(limit));
  int rc = SQLITE_OK;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (s.null(0) || s.text(0).empty()) continue;  // hand-edited rows: skip what is unusable
    stored_peer p;
    p.peer_id = std::string(s.text(0));
    p.addrs = addrs_from_json(s.text(1));
    p.last_seen = s.int64(2);
    p.last_connected = s.int64(3);
    p.failures = static_cast<std::uint32_t>(
        std::clamp<std::int64_t>(s.int64(4), 0, std::numeric_limits<std::uint32_t>::max()));
    p.sources = static_cast<unsigned>(
        std::clamp<std::int64_t>(s.int64(5), 0, std::numeric_limits<unsigned>::max()));
    out.push_back(std::move(p));
  }
  s.done();
  if (rc != SQLITE_DONE) return fail(rc, "loading peers");
  return out;
}

store_result<void> peer_store::save(const std::vector<stored_peer>& peers) {
  for (const auto& p : peers) {
    if (p.peer_id.empty()) {
      return detailed_error{make_error_code(store_errc::invalid_peer),
                            "peer store " + m_path.string() + ": cannot save a peer without an id"};
    }
  }
  if (peers.empty()) return {};
  auto& im = *m_impl;
  int rc = im.begin.step();
  im.begin.done();
  if (rc != SQLITE_DONE) return fail(rc, "starting a transaction");
  for (const auto& p : peers) {
    const std::string addrs = addrs_to_json(p.addrs);
    im.upsert.bind(1, p.peer_id);
    im.upsert.bind(2, addrs);
    im.upsert.bind(3, p.last_seen);
    im.upsert.bind(4, p.last_connected);
    im.upsert.bind(5, static_cast<std::int64_t>(p.failures));
    im.upsert.bind(6, static_cast<std::int64_t>(p.sources));
    rc = im.upsert.step();
    im.upsert.done();
    if (rc != SQLITE_DONE) {
      auto e = fail(rc, "saving peers");
      im.rollback.step();
      im.rollback.done();
      return e;
    }
  }
  rc = im.commit.step();
  im.commit.done();
  if (rc != SQLITE_DONE) {
    auto e = fail(rc, "committing peers");
    im.rollback.step();
    im.rollback.done();
    return e;
  }
  return {};
}

store_result<void> peer_store::forget(const std::string& peer_id) {
  auto& s = m_impl->forget;
  s.bind(1, peer_id);
  const int rc = s.step();
  s.done();
  if (rc != SQLITE_DONE) return fail(rc, "forgetting a peer");
  return {};
}

store_result<void> peer_store::prune(std::size_t max_rows, std::int64_t now_unix,
                                     std::int64_t max_age_seconds) {
  auto& im = *m_impl;
  int rc = im.begin.step();
  im.begin.done();
  if (rc != SQLITE_DONE) return fail(rc, "starting a transaction");
  if (max_age_seconds > 0) {
    constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
    const std::int64_t cutoff =
        now_unix < lowest + max_age_seconds ? lowest : now_unix - max_age_seconds;
    im.prune_age.bind(1, cutoff);
    rc = im.prune_age.step();
    im.prune_age.done();
  }
  if (rc == SQLITE_DONE) {
    im.prune_rows.bind(1, clamp_limit(max_rows));
    rc = im.prune_rows.step();
    im.prune_rows.done();
  }
  if (rc == SQLITE_DONE) {
    rc = im.commit.step();
    im.commit.done();
  }
  if (rc != SQLITE_DONE) {
    auto e = fail(rc, "pruning peers");
    im.rollback.step();
    im.rollback.done();
    return e;
  }
  return {};
}

store_result<std::size_t> peer_store::count() {
  auto& s = m_impl->count;
  const int rc = s.step();
  const std::int64_t n = rc == SQLITE_ROW ? s.int64(0) : 0;
  s.done();
  if (rc != SQLITE_ROW) return fail(rc, "counting peers");
  return static_cast<std::size_t>(n);
}

}  // namespace starling::node
