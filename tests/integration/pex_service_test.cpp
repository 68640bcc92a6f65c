// /starling/pex/1.0.0 between two hosts on 127.0.0.1: one serves its list, the other reads it
// (asker removed, loopback kept for a loopback asker); a bad answer and a silent server end in
// an error reported once.
#include "node/pex_service.hpp"
#include "core/pex/pex.hpp"
#include "harness.hpp"

using namespace starling;
using namespace starling::test;

namespace {

constexpr const char* bad_pex_protocol = "/starling/test/bad-pex/1.0.0";

/// Answers with a frame whose protobuf does not parse.
class bad_pex_server final : public node::stream_handler {
 public:
  void on_open(node::stream& s) override {
    const bytes junk{0x03, 0x0a, 0x05, 0x01};
    s.write(junk);
    s.close_write();
  }
  void on_data(node::stream&, bytes_view) override {}
};

struct answer {
  int calls = 0;
  std::optional<result<std::vector<pex::peer_record>>> r;
};

class pex_service_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  asio::io_context ctx;  // first: outlives the hosts

  std::shared_ptr<node::connection> connect(test_node& b, test_node& a) {
    auto r = dial(b.h, a.h.listen_addrs().front());
    EXPECT_TRUE(run_until(ctx, [&] { return r->done && a.established_count() == 1; }));
    EXPECT_FALSE(r->ec) << r->ec.message();
    return r->conn;
  }
  static auto record_into(std::shared_ptr<answer> a) {
    return [a](result<std::vector<pex::peer_record>> r) {
      ++a->calls;
      a->r = std::move(r);
    };
  }
};

std::string other_id(std::uint64_t seed) {
  crypto::seeded_rng r(seed);
  return multiformats::peer_id::from_public_key(crypto::ed25519_generate(r).pub).to_string();
}

}  // namespace

TEST_F(pex_service_test, reads_the_list_of_the_server) {
  test_node a(ctx), b(ctx);
  a.listen();
  const std::string c = other_id(7);
  std::string asked_by;
  a.h.set_handler(
      std::string(pex::protocol_id), node::make_pex_server([&](const std::string& asker) {
        asked_by = asker;
        return std::vector<pex::peer_record>{
            {b.h.id().to_string(), {"/ip4/127.0.0.1/tcp/1111"}},  // the asker itself: left out
            {c, {"/ip4/127.0.0.1/tcp/2222", "/ip4/192.168.7.3/tcp/2222"}},
        };
      }));
  auto conn = connect(b, a);
  ASSERT_TRUE(conn);
  auto got = std::make_shared<answer>();
  conn->open_stream({std::string(pex::protocol_id)}, node::make_pex_client(record_into(got)));
  ASSERT_TRUE(run_until(ctx, [&] { return got->calls > 0; }));
  EXPECT_EQ(asked_by, b.h.id().to_string());
  ASSERT_TRUE(*got->r) << got->r->error().message();
  // b reached a over loopback, so loopback addresses are kept.
  const std::vector<pex::peer_record> expected{
      {c, {"/ip4/127.0.0.1/tcp/2222", "/ip4/192.168.7.3/tcp/2222"}}};
  EXPECT_EQ(**got->r, expected);
  // The stream finishes cleanly; done is not called again.
  run_until(
      ctx, [] { return false; }, std::chrono::milliseconds(100));
  EXPECT_EQ(got->calls, 1);
}

TEST_F(pex_service_test, empty_list_and_timeout_variant) {
  test_node a(ctx), b(ctx);
  a.listen();
  a.h.set_handler(std::string(pex::protocol_id), node::make_pex_server([](const std::string&) {
                    return std::vector<pex::peer_record>{};
                  }));
  auto conn = connect(b, a);
  ASSERT_TRUE(conn);
  auto got = std::make_shared<answer>();
  conn->open_stream({std::string(pex::protocol_id)},
                    node::make_pex_client(b.h, 5s, record_into(got)));
  ASSERT_TRUE(run_until(ctx, [&] { return got->calls > 0; }));
  ASSERT_TRUE(*got->r) << got->r->error().message();
  EXPECT_TRUE((*got->r)->empty());
}

TEST_F(pex_service_test, bad_answer_is_an_error) {
  test_node a(ctx), b(ctx);
  a.listen();
  a.h.set_handler(bad_pex_protocol, [] { return std::make_unique<bad_pex_server>(); });
  auto conn = connect(b, a);
  ASSERT_TRUE(conn);
  auto got = std::make_shared<answer>();
  conn->open_stream({bad_pex_protocol}, node::make_pex_client(record_into(got)));
  ASSERT_TRUE(run_until(ctx, [&] { return got->calls > 0; }));
  ASSERT_FALSE(*got->r);
  EXPECT_EQ(got->r->error(), pex::errc::malformed_message);
  run_until(
      ctx, [] { return false; }, std::chrono::milliseconds(100));
  EXPECT_EQ(got->calls, 1);
}

TEST_F(pex_service_test, silent_server_times_out) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto conn = connect(b, a);
  ASSERT_TRUE(conn);
  auto got = std::make_shared<answer>();
  // The sink protocol never writes and keeps the stream open.
  conn->open_stream({sink_protocol}, node::make_pex_client(b.h, 150ms, record_into(got)));
  ASSERT_TRUE(run_until(
      ctx, [&] { return got->calls > 0; }, 5s));
  ASSERT_FALSE(*got->r);
  EXPECT_EQ(got->r->error(), std::errc::timed_out);
  run_until(
      ctx, [] { return false; }, std::chrono::milliseconds(100));
  EXPECT_EQ(got->calls, 1);
}

TEST_F(pex_service_test, closed_connection_reports_once) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto conn = connect(b, a);
  ASSERT_TRUE(conn);
  auto got = std::make_shared<answer>();
  conn->open_stream({sink_protocol}, node::make_pex_client(record_into(got)));
  run_until(
      ctx, [] { return false; }, std::chrono::milliseconds(100));
  EXPECT_EQ(got->calls, 0);
  conn->close();
  ASSERT_TRUE(run_until(ctx, [&] { return got->calls > 0; }));
  ASSERT_FALSE(*got->r);
  EXPECT_EQ(got->calls, 1);
}
