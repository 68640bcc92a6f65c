// The SQLite peer store on real files in a temporary directory under /tmp (removed after
// each test).

#include "node/peer_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace starling::node {
namespace {

namespace fs = std::filesystem;

class peer_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    m_dir = fs::temp_directory_path() /
            ("starling-peer-store-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(m_dir);
    m_db = m_dir / "peers.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }

  std::unique_ptr<peer_store> open_ok() {
    auto s = peer_store::open(m_db);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  /// Runs raw SQL on the file (as a user with the sqlite3 CLI would).
  void raw_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(::sqlite3_open(m_db.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(::sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "");
    ::sqlite3_free(err);
    ::sqlite3_close(db);
  }

  fs::path m_dir;
  fs::path m_db;
};

stored_peer make_peer(const std::string& id, std::int64_t seen, std::int64_t connected = 0) {
  stored_peer p;
  p.peer_id = id;
  p.addrs = {"/ip4/192.168.1.2/tcp/4001", "/ip6/fe80::1/tcp/4001"};
  p.last_seen = seen;
  p.last_connected = connected;
  return p;
}

std::vector<std::string> ids(const std::vector<stored_peer>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps)
    out.push_back(p.peer_id);
  return out;
}

unsigned file_mode(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0xffff;
  return st.st_mode & 0777;
}

TEST_F(peer_store_test, round_trip_keeps_every_field) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  stored_peer p;
  p.peer_id = "12D3KooWAlpha";
  p.addrs = {"/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/udp/4001/quic-v1", "/dns4/x\"y/tcp/1"};
  p.last_seen = 1795400000;
  p.last_connected = 1795399000;
  p.failures = 4000000000u;
  p.sources = 1 | 8 | 32;
  ASSERT_TRUE(s->save({p}));
  auto got = s->load();
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 1u);
  const auto& q = got->front();
  EXPECT_EQ(q.peer_id, p.peer_id);
  EXPECT_EQ(q.addrs, p.addrs);
  EXPECT_EQ(q.last_seen, p.last_seen);
  EXPECT_EQ(q.last_connected, p.last_connected);
  EXPECT_EQ(q.failures, p.failures);
  EXPECT_EQ(q.sources, p.sources);
  EXPECT_EQ(*s->count(), 1u);
}

TEST_F(peer_store_test, save_replaces_an_existing_peer) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->save({make_peer("A", 100), make_peer("B", 100)}));
  auto a = make_peer("A", 200, 190);
  a.addrs = {"/ip4/10.0.0.9/tcp/1"};
  a.sources = 2;
  ASSERT_TRUE(s->save({a}));
  auto got = s->load();
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ(got->front().peer_id, "A");
  EXPECT_EQ(got->front().addrs, std::vector<std::string>{"/ip4/10.0.0.9/tcp/1"});
  EXPECT_EQ(got->front().last_seen, 200);
  EXPECT_EQ(got->front().sources, 2u);
}

TEST_F(peer_store_test, failures_are_stored_and_reset) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  auto p = make_peer("A", 100);
  for (std::uint32_t f = 1; f <= 3; ++f) {
    p.failures = f;
    ASSERT_TRUE(s->save({p}));
    EXPECT_EQ(s->load()->front().failures, f);
  }
  p.failures = 0;
  p.last_connected = 150;
  ASSERT_TRUE(s->save({p}));
  EXPECT_EQ(s->load()->front().failures, 0u);
  EXPECT_EQ(s->load()->front().last_connected, 150);
}

TEST_F(peer_store_test, a_batch_with_an_empty_id_writes_nothing) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  auto r = s->save({make_peer("A", 1), make_peer("", 2)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, store_errc::invalid_peer);
  EXPECT_NE(r.error().message.find("without an id"), std::string::npos) << r.error().message;
  EXPECT_EQ(*s->count(), 0u);
}

TEST_F(peer_store_test, load_orders_connected_then_seen_and_honours_limit) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  ASSERT_TRUE(
      s->save({make_peer("seen-old", 10), make_peer("conn-old", 50, 20), make_peer("seen-new", 90),
               make_peer("conn-new", 60, 40), make_peer("seen-mid", 50)}));
  auto all = s->load();
  ASSERT_TRUE(all);
  EXPECT_EQ(ids(*all),
            (std::vector<std::string>{"conn-new", "conn-old", "seen-new", "seen-mid", "seen-old"}));
  auto two = s->load(2);
  ASSERT_TRUE(two);
  EXPECT_EQ(ids(*two), (std::vector<std::string>{"conn-new", "conn-old"}));
  EXPECT_TRUE(s->load(0)->empty());
}

TEST_F(peer_store_test, forget_removes_one_peer) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->save({make_peer("A", 1), make_peer("B", 2)}));
  ASSERT_TRUE(s->forget("A"));
  ASSERT_TRUE(s->forget("not-there"));
  EXPECT_EQ(ids(*s->load()), std::vector<std::string>{"B"});
}

TEST_F(peer_store_test, prune_by_rows_drops_the_stalest) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  ASSERT_TRUE(
      s->save({make_peer("a", 10), make_peer("b", 20), make_peer("c", 30), make_peer("d", 5, 5)}));
  ASSERT_TRUE(s->prune(2, 100, 0));
  EXPECT_EQ(ids(*s->load()), (std::vector<std::string>{"d", "c"}));
}

TEST_F(peer_store_test, prune_by_age_drops_peers_unseen_too_long) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  // now = 1000, max age 100: anything neither seen nor connected since 900 goes.
  ASSERT_TRUE(s->save({make_peer("fresh", 950), make_peer("edge", 900), make_peer("old", 899),
                       make_peer("old-but-connected", 100, 920)}));
  ASSERT_TRUE(s->prune(1000, 1000, 100));
  EXPECT_EQ(ids(*s->load()), (std::vector<std::string>{"old-but-connected", "fresh", "edge"}));
}

TEST_F(peer_store_test, reopen_keeps_the_peers) {
  {
    auto s = open_ok();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->save({make_peer("A", 1, 1), make_peer("B", 2)}));
  }
  auto s = open_ok();
  ASSERT_TRUE(s);
  auto got = s->load();
  ASSERT_TRUE(got);
  EXPECT_EQ(ids(*got), (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(got->front().addrs, make_peer("A", 1).addrs);
}

TEST_F(peer_store_test, files_are_owner_only) {
  {
    // An existing file with a loose mode is tightened too.
    std::ofstream(m_db.string()).flush();
    ::chmod(m_db.c_str(), 0644);
  }
  auto s = open_ok();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->save({make_peer("A", 1)}));
  EXPECT_EQ(file_mode(m_db), 0600u);
  ASSERT_TRUE(fs::exists(m_db.string() + "-wal"));
  EXPECT_EQ(file_mode(m_db.string() + "-wal"), 0600u);
  EXPECT_EQ(file_mode(m_db.string() + "-shm"), 0600u);
}

TEST_F(peer_store_test, a_corrupt_file_is_reported_and_kept) {
  const std::string garbage(8192, 'x');
  std::ofstream(m_db.string(), std::ios::binary) << garbage;
  auto s = peer_store::open(m_db);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, store_errc::corrupt);
  const std::string msg = s.error().message;
  EXPECT_NE(msg.find("peer store " + m_db.string() + " is corrupt: "), std::string::npos) << msg;
  auto again = peer_store::open(m_db);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, msg);
  // Never deleted nor rewritten.
  std::ifstream in(m_db.string(), std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, garbage);
  EXPECT_FALSE(fs::exists(m_db.string() + "-wal"));
}

TEST_F(peer_store_test, a_damaged_page_is_reported_as_corrupt) {
  {
    auto s = open_ok();
    ASSERT_TRUE(s);
    std::vector<stored_peer> many;
    for (int i = 0; i < 300; ++i)
      many.push_back(make_peer("peer-" + std::to_string(i), i));
    ASSERT_TRUE(s->save(many));
  }
  ASSERT_FALSE(fs::exists(m_db.string() + "-wal"));  // checkpointed at close
  {
    // Keep the 100-byte header valid, trash the rest of the first pages.
    std::fstream f(m_db.string(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    const std::string junk(3 * 4096, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto s = peer_store::open(m_db);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, store_errc::corrupt);
  EXPECT_NE(s.error().message.find("is corrupt"), std::string::npos) << s.error().message;
  EXPECT_TRUE(fs::exists(m_db));
}

TEST_F(peer_store_test, a_newer_schema_is_refused) {
  { ASSERT_TRUE(open_ok()); }
  raw_sql("PRAGMA user_version = 7");
  auto s = peer_store::open(m_db);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, store_errc::newer_schema);
  EXPECT_NE(s.error().message.find("schema version 7"), std::string::npos) << s.error().message;
}

TEST_F(peer_store_test, another_programs_database_is_refused) {
  raw_sql("CREATE TABLE notes(x); INSERT INTO notes VALUES(1);");
  auto s = peer_store::open(m_db);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, store_errc::not_peer_store);
}

TEST_F(peer_store_test, an_unwritable_location_errors_clearly) {
  auto s = peer_store::open(m_dir / "missing" / "peers.db");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, store_errc::cannot_open);
  EXPECT_NE(s.error().message.find("cannot create peer store"), std::string::npos);

  std::ofstream(m_dir / "file").flush();  // a file where a directory should be (works as root)
  s = peer_store::open(m_dir / "file" / "peers.db");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, store_errc::cannot_open);
  EXPECT_NE(s.error().message.find("Not a directory"), std::string::npos) << s.error().message;

  if (::geteuid() != 0) {  // root ignores directory permissions
    const auto ro = m_dir / "ro";
    fs::create_directories(ro);
    ::chmod(ro.c_str(), 0500);
    s = peer_store::open(ro / "peers.db");
    ::chmod(ro.c_str(), 0700);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, store_errc::cannot_open);
  }
}

TEST_F(peer_store_test, a_writer_elsewhere_makes_save_busy_then_it_recovers) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  sqlite3* other = nullptr;
  ASSERT_EQ(::sqlite3_open(m_db.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(::sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = s->save({make_peer("A", 1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, store_errc::busy);
  EXPECT_NE(r.error().message.find("locked by another process"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(s->load());  // WAL: readers are not blocked by the writer
  ::sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  ::sqlite3_close(other);
  auto saved = s->save({make_peer("A", 1)});
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_EQ(*s->count(), 1u);
}

TEST_F(peer_store_test, hand_edited_rows_load_without_failing) {
  { ASSERT_TRUE(open_ok()); }
  raw_sql(
      "INSERT INTO peers(peer_id, addrs, last_seen) VALUES('bad-json', 'not json', 5);"
      "INSERT INTO peers(peer_id, addrs, last_seen) VALUES('mixed', '[1, \"/ip4/1.2.3.4/tcp/1\"]', "
      "4);"
      "INSERT INTO peers(peer_id, addrs, failures, sources) VALUES('neg', '[]', -3, -1);");
  auto s = open_ok();
  ASSERT_TRUE(s);
  auto got = s->load();
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 3u);
  EXPECT_TRUE((*got)[0].addrs.empty());
  EXPECT_EQ((*got)[1].addrs, std::vector<std::string>{"/ip4/1.2.3.4/tcp/1"});
  EXPECT_EQ((*got)[2].failures, 0u);
  EXPECT_EQ((*got)[2].sources, 0u);
}

TEST_F(peer_store_test, thousand_peers_save_and_load_time) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  std::vector<stored_peer> many;
  for (int i = 0; i < 1000; ++i) {
    auto p = make_peer("12D3KooWPeer" + std::to_string(i), 1795400000 + i, i % 3 ? 0 : i);
    p.addrs.push_back("/ip4/10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
                      "/tcp/4001");
    many.push_back(std::move(p));
  }
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto saved = s->save(many);
  ASSERT_TRUE(saved) << saved.error().message;
  const auto t1 = clock::now();
  auto got = s->load(1000);
  const auto t2 = clock::now();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 1000u);
  const auto us = [](auto d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  };
  std::printf("peer_store: save 1000 peers %lld us, load 1000 peers %lld us\n",
              static_cast<long long>(us(t1 - t0)), static_cast<long long>(us(t2 - t1)));
}

}  // namespace
}  // namespace starling::node
