// node/control_api: every control request, response and session line parsed from and rendered
// to JSON; bad lines refused with the command and field named.
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "node/control_api.hpp"

using namespace starling;
using namespace starling::node;
using nlohmann::json;

namespace {

/// A get with only a selector, every other field at its default.
api::get_request get_of(std::string selector) {
  api::get_request g;
  g.selector = std::move(selector);
  return g;
}

bytes b(std::string_view s) {
  return bytes(s.begin(), s.end());
}

api::request parsed(const json& j) {
  auto r = api::parse_request(j);
  EXPECT_TRUE(r) << j.dump() << ": " << (r ? "" : r.error().message);
  return r ? *r : api::request{};
}

/// The error of a request that must be refused.
detailed_error refused(const json& j) {
  auto r = api::parse_request(j);
  EXPECT_FALSE(r) << j.dump();
  return r ? detailed_error{} : r.error();
}

class ControlApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }
};

}  // namespace

TEST_F(ControlApi, EveryCommandParses) {
  EXPECT_EQ(parsed({{"cmd", "status"}}), api::request(api::status_request{}));
  EXPECT_EQ(parsed({{"cmd", "peers"}}), api::request(api::peers_request{}));
  EXPECT_EQ(parsed({{"cmd", "known"}}), api::request(api::known_request{}));
  EXPECT_EQ(parsed({{"cmd", "put"}, {"key", "a/b"}, {"value_b64", "aGk="}, {"encoding", "t"}}),
            api::request(api::put_request{"a/b", b("hi"), "t"}));
  EXPECT_EQ(parsed({{"cmd", "del"}, {"key", "a/b"}, {"encoding", ""}}),
            api::request(api::del_request{"a/b"}));
  EXPECT_EQ(parsed({{"cmd", "sub"}, {"expr", "a/**"}, {"latest", true}}),
            api::request(api::sub_request{"a/**", true}));
  EXPECT_EQ(parsed({{"cmd", "queryable"}, {"expr", "q/*"}, {"complete", true}}),
            api::request(api::queryable_request{"q/*", true}));
  EXPECT_EQ(parsed({{"cmd", "token"}, {"key", "me"}}), api::request(api::token_request{"me"}));
  EXPECT_EQ(parsed({{"cmd", "watch"}, {"expr", "**"}}), api::request(api::watch_request{"**"}));

  auto g = parsed({{"cmd", "get"},
                   {"selector", "q/x"},
                   {"parameters", "a=1"},
                   {"timeout_ms", 250},
                   {"target", "complete"},
                   {"consolidation", "latest"},
                   {"value_b64", "eA=="}});
  ASSERT_TRUE(std::holds_alternative<api::get_request>(g));
  const auto& get = std::get<api::get_request>(g);
  EXPECT_EQ(get.selector, "q/x");
  EXPECT_EQ(get.parameters, "a=1");
  EXPECT_EQ(get.timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(get.target, data::query_target::all_complete);
  EXPECT_EQ(get.consolidation, data::consolidation::latest);
  EXPECT_EQ(get.value, b("x"));
}

TEST_F(ControlApi, OptionalFieldsTakeTheirDefaults) {
  EXPECT_EQ(parsed({{"cmd", "put"}, {"key", "k"}}), api::request(api::put_request{"k", {}, ""}));
  EXPECT_EQ(parsed({{"cmd", "sub"}, {"expr", "a"}}), api::request(api::sub_request{"a", false}));
  EXPECT_EQ(parsed({{"cmd", "queryable"}, {"expr", "a"}}),
            api::request(api::queryable_request{"a", false}));
  EXPECT_EQ(parsed({{"cmd", "get"}, {"selector", "s"}}), api::request(get_of("s")));
  const auto g = std::get<api::get_request>(parsed({{"cmd", "get"}, {"selector", "s"}}));
  EXPECT_EQ(g.timeout, std::chrono::milliseconds(10'000));
  EXPECT_EQ(g.target, data::query_target::all);
  EXPECT_EQ(g.consolidation, data::consolidation::none);
  EXPECT_FALSE(g.value);
  // Fields nobody knows are ignored: a newer client may send more.
  EXPECT_EQ(parsed({{"cmd", "status"}, {"verbose", true}}), api::request(api::status_request{}));
}

TEST_F(ControlApi, BadRequestsNameTheCommandAndTheField) {
  struct bad_case {
    json line;
    api::api_errc code;
    std::string message;
  };
  const std::vector<bad_case> cases = {
      {json::array({1}), api::api_errc::not_an_object, "the request is not a JSON object"},
      {json{{"key", "a"}}, api::api_errc::missing_command, "missing \"cmd\""},
      {json{{"cmd", ""}}, api::api_errc::missing_command, "missing \"cmd\""},
      {json{{"cmd", 7}}, api::api_errc::wrong_type, "\"cmd\" must be a string"},
      {json{{"cmd", "frobnicate"}}, api::api_errc::unknown_command, "unknown command 'frobnicate'"},
      {json{{"cmd", "put"}}, api::api_errc::missing_field, "put: missing \"key\""},
      {json{{"cmd", "put"}, {"key", 3}}, api::api_errc::wrong_type,
       "put: \"key\" must be a string"},
      {json{{"cmd", "put"}, {"key", "k"}, {"value_b64", "%%%"}}, api::api_errc::bad_value,
       "value_b64 is not base64"},
      {json{{"cmd", "put"}, {"key", "k"}, {"value_b64", 1}}, api::api_errc::wrong_type,
       "put: \"value_b64\" must be a string"},
      {json{{"cmd", "put"}, {"key", "k"}, {"encoding", false}}, api::api_errc::wrong_type,
       "put: \"encoding\" must be a string"},
      {json{{"cmd", "del"}}, api::api_errc::missing_field, "del: missing \"key\""},
      {json{{"cmd", "sub"}}, api::api_errc::missing_field, "sub: missing \"expr\""},
      {json{{"cmd", "sub"}, {"expr", "a"}, {"latest", "yes"}}, api::api_errc::wrong_type,
       "sub: \"latest\" must be a boolean"},
      {json{{"cmd", "get"}}, api::api_errc::missing_field, "get: missing \"selector\""},
      {json{{"cmd", "get"}, {"selector", "s"}, {"timeout_ms", -5}}, api::api_errc::wrong_type,
       "get: \"timeout_ms\" must be an unsigned integer"},
      {json{{"cmd", "get"}, {"selector", "s"}, {"timeout_ms", 1.5}}, api::api_errc::wrong_type,
       "get: \"timeout_ms\" must be an unsigned integer"},
      {json{{"cmd", "get"}, {"selector", "s"}, {"timeout_ms", 0}}, api::api_errc::bad_value,
       "timeout must be between 1 ms and 1 hour"},
      {json{{"cmd", "get"}, {"selector", "s"}, {"timeout_ms", 3'600'001}}, api::api_errc::bad_value,
       "timeout must be between 1 ms and 1 hour"},
      {json{{"cmd", "get"}, {"selector", "s"}, {"target", "some"}}, api::api_errc::bad_value,
       "target must be all, best or complete, not 'some'"},
      {json{{"cmd", "get"}, {"selector", "s"}, {"consolidation", "x"}}, api::api_errc::bad_value,
       "consolidation must be none or latest, not 'x'"},
      {json{{"cmd", "get"}, {"selector", "s"}, {"value_b64", "!"}}, api::api_errc::bad_value,
       "value_b64 is not base64"},
      {json{{"cmd", "queryable"}, {"expr", "a"}, {"complete", 1}}, api::api_errc::wrong_type,
       "queryable: \"complete\" must be a boolean"},
      {json{{"cmd", "token"}}, api::api_errc::missing_field, "token: missing \"key\""},
      {json{{"cmd", "watch"}, {"expr", nullptr}}, api::api_errc::wrong_type,
       "watch: \"expr\" must be a string"},
  };
  for (const auto& c : cases) {
    const auto e = refused(c.line);
    EXPECT_EQ(e.code, c.code) << c.line.dump();
    EXPECT_EQ(e.message, c.message) << c.line.dump();
  }
}

TEST_F(ControlApi, TheLimitsOfAGetTimeoutAreAccepted) {
  for (std::uint64_t ms : {std::uint64_t{1}, std::uint64_t{3'600'000}}) {
    auto r = parsed({{"cmd", "get"}, {"selector", "s"}, {"timeout_ms", ms}});
    EXPECT_EQ(std::get<api::get_request>(r).timeout, std::chrono::milliseconds(ms));
  }
}

TEST_F(ControlApi, EveryRequestRoundTrips) {
  api::get_request get{"q/x",
                       "p=1",
                       std::chrono::milliseconds(42),
                       data::query_target::best,
                       data::consolidation::latest,
                       b("body")};
  const std::vector<api::request> all = {
      api::status_request{},
      api::peers_request{},
      api::known_request{},
      api::put_request{"a/b", b(std::string("\0\xff bytes", 8)), "application/octet-stream"},
      api::del_request{"a/b"},
      api::sub_request{"a/**", true},
      get,
      get_of("only"),
      api::queryable_request{"q/*", true},
      api::token_request{"me/alive"},
      api::watch_request{"me/**"},
      api::network_create_request{"lab"},
      api::invite_request{"sensor", 120},
      api::members_request{},
      api::revoke_request{"12D3KooWpeer"},
      api::role_request{"12D3KooWpeer", {"camera", "sensor"}},
      api::join_request{"K3F9-W1JS-ERCG-0WHW-XMSF", {"/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWx"}},
      api::acl_show_request{},
      api::acl_set_request{"version = 1\n"},
      api::acl_explain_request{"12D3KooWpeer", "put", "home/k"},
  };
  std::vector<bool> covered(std::variant_size_v<api::request>);
  for (const auto& r : all) {
    const json j = api::to_json(r);
    EXPECT_EQ(parsed(j), r) << j.dump();
    covered[r.index()] = true;
  }
  // A request type added to the variant must be added above.
  EXPECT_EQ(std::count(covered.begin(), covered.end(), true),
            static_cast<std::ptrdiff_t>(covered.size()));
}

TEST_F(ControlApi, RequestsRenderTheFieldsTheNodeReads) {
  EXPECT_EQ(api::to_json(api::request(api::status_request{})), json({{"cmd", "status"}}));
  EXPECT_EQ(
      api::to_json(api::request(api::put_request{"k", b("hi"), "text/plain"})),
      json({{"cmd", "put"}, {"key", "k"}, {"value_b64", "aGk="}, {"encoding", "text/plain"}}));
  EXPECT_EQ(api::to_json(api::request(get_of("s"))), json({{"cmd", "get"},
                                                           {"selector", "s"},
                                                           {"parameters", ""},
                                                           {"timeout_ms", 10000},
                                                           {"target", "all"},
                                                           {"consolidation", "none"}}));
}

TEST_F(ControlApi, SessionCommandsAreTheOnesThatStream) {
  EXPECT_EQ(api::session_commands(),
            (std::vector<std::string_view>{"sub", "get", "queryable", "token", "watch", "join"}));
}

TEST_F(ControlApi, MembershipRequestsAreChecked) {
  EXPECT_EQ(std::get<api::network_create_request>(parsed({{"cmd", "network_create"}})).name,
            "home");
  EXPECT_EQ(std::get<api::invite_request>(parsed({{"cmd", "invite"}, {"role", "r"}})).expires_s,
            600u);
  EXPECT_FALSE(api::parse_request(json{{"cmd", "invite"}}));
  EXPECT_FALSE(api::parse_request(json{{"cmd", "role"}, {"peer", "p"}, {"roles", "admin"}}));
  EXPECT_FALSE(api::parse_request(json{{"cmd", "role"}, {"peer", "p"}, {"roles", {1, 2}}}));
  EXPECT_FALSE(api::parse_request(json{{"cmd", "revoke"}}));
  EXPECT_TRUE(api::parse_request(json{{"cmd", "join"}, {"code", "c"}}));
}

TEST_F(ControlApi, TargetsByName) {
  for (auto t :
       {data::query_target::all, data::query_target::best, data::query_target::all_complete}) {
    EXPECT_EQ(api::parse_target(api::target_name(t)), t);
  }
  EXPECT_EQ(api::target_name(data::query_target::all_complete), "complete");
  EXPECT_FALSE(api::parse_target("all_complete"));
}

TEST_F(ControlApi, OneShotResponsesRenderAsBefore) {
  EXPECT_EQ(api::to_json(api::ack(api::ok_response{})).dump(), R"({"ok":true})");
  EXPECT_EQ(api::to_json(api::ack(api::refusal{"no"})).dump(), R"({"error":"no","ok":false})");

  api::peers_response peers;
  peers.peers.push_back({"P1", "/ip4/127.0.0.1/tcp/1", true, std::nullopt, 100.5, 2.5, 10, 20, ""});
  peers.peers.push_back({"P2", "/ip4/127.0.0.1/tcp/2", false, 0.25, 1.0, 3.0, 0, 1, "starling"});
  EXPECT_EQ(
      api::to_json(peers).dump(),
      R"({"ok":true,"peers":[)"
      R"({"addr":"/ip4/127.0.0.1/tcp/1","agent":"","bytes_in":10,"bytes_out":20,)"
      R"("connected_seconds":2.5,"direction":"inbound","id":"P1","rtt_ms":null,"since":100.5},)"
      R"({"addr":"/ip4/127.0.0.1/tcp/2","agent":"starling","bytes_in":0,"bytes_out":1,)"
      R"("connected_seconds":3.0,"direction":"outbound","id":"P2","rtt_ms":0.25,"since":1.0}]})");

  api::known_response known;
  known.known.push_back({"K", {"/ip4/10.0.0.1/tcp/4001"}, {"mdns", "pex"}, "backoff", 3, 1.5, 250});
  known.known.push_back({"L", {}, {}, "connected", 0, std::nullopt, std::nullopt});
  EXPECT_EQ(api::to_json(known).dump(),
            R"({"known":[{"addrs":["/ip4/10.0.0.1/tcp/4001"],"failures":3,"id":"K",)"
            R"("last_seen_seconds_ago":1.5,"next_dial_in_ms":250,"sources":["mdns","pex"],)"
            R"("state":"backoff"},{"addrs":[],"failures":0,"id":"L","last_seen_seconds_ago":null,)"
            R"("next_dial_in_ms":null,"sources":[],"state":"connected"}],"ok":true})");
}

TEST_F(ControlApi, StatusCarriesEverySection) {
  api::status_response st;
  st.id = "ME";
  st.agent = "starling/x";
  st.uptime_seconds = 1.5;
  st.data_dir = "/d";
  st.listen = {"/ip4/127.0.0.1/tcp/4001"};
  st.connected_peers = 2;
  st.known_peers = 3;
  st.connections = 2;
  st.mdns.enabled = true;
  st.mdns.interfaces = {"eth0"};
  st.mdns.stats = mdns_stats{1, 2, 3, 4, 5};
  st.data.links = 2;
  st.data.stats.samples_published = 9;
  st.storages.push_back({"home/**", 4, 100, 5, 1, 0, 0, 7});
  st.counters.bytes_in = 77;
  const json j = api::to_json(st);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["id"], "ME");
  EXPECT_EQ(j["uptime_seconds"], 1.5);
  EXPECT_EQ(j["listen"], json::array({"/ip4/127.0.0.1/tcp/4001"}));
  EXPECT_EQ(j["mdns"], json({{"enabled", true},
                             {"interfaces", {"eth0"}},
                             {"packets_sent", 1},
                             {"packets_received", 2},
                             {"bytes_sent", 3},
                             {"bytes_received", 4},
                             {"malformed", 5}}));
  EXPECT_EQ(j["data"]["links"], 2);
  EXPECT_EQ(j["data"]["samples_published"], 9);
  EXPECT_EQ(j["data"].size(), 30u);
  EXPECT_EQ(j["storages"][0]["queries"], 7);
  EXPECT_EQ(j["storages"][0]["keys"], 4);
  EXPECT_EQ(j["metrics"]["bytes_in"], 77);
  EXPECT_EQ(j["metrics"].size(), 30u);
  EXPECT_TRUE(j["network"].is_null());  // an open node
  st.network = api::network_response{"ab12", "lab", {"admin"}, true, 3};
  EXPECT_EQ(api::to_json(st)["network"], json({{"id", "ab12"},
                                               {"name", "lab"},
                                               {"roles", {"admin"}},
                                               {"owner", true},
                                               {"log_height", 3}}));
  // mDNS off: no counters.
  st.mdns = {};
  EXPECT_EQ(api::to_json(st)["mdns"], json({{"enabled", false}, {"interfaces", json::array()}}));
}

TEST_F(ControlApi, SessionLinesRoundTrip) {
  const api::sample_event s{"a/b", b("v"), "t", true, "123/abc", "SRC", 5};
  EXPECT_EQ(api::to_json(s).dump(),
            R"({"encoding":"t","key":"a/b","kind":"delete","seq":5,"source":"SRC",)"
            R"("timestamp":"123/abc","value_b64":"dg=="})");
  EXPECT_EQ(api::parse_sub_event(api::to_json(s)).value(), api::sub_event(s));

  const api::reply_event r{"q/x", b("ans"), "", "1/2", "FROM", true};
  EXPECT_EQ(api::parse_get_event(api::to_json(r)).value(), api::get_event(r));
  const api::done_event d{3, 2, 1, 1, true};
  EXPECT_EQ(api::to_json(d).dump(),
            R"({"done":{"nodes_answered":1,"nodes_asked":2,"nodes_gone":1,"replies":3,)"
            R"("timed_out":true}})");
  EXPECT_EQ(api::parse_get_event(api::to_json(d)).value(), api::get_event(d));

  api::query_event q{9, "q/x", "a=1", "ORIGIN", std::nullopt};
  EXPECT_FALSE(api::to_json(q)["query"].contains("value_b64"));
  EXPECT_EQ(api::parse_queryable_event(api::to_json(q)).value(), api::queryable_event(q));
  q.value = b("in");
  EXPECT_EQ(api::parse_queryable_event(api::to_json(q)).value(), api::queryable_event(q));
  const api::reply_error_event re{9, "bad key"};
  EXPECT_EQ(api::to_json(re).dump(), R"({"handle":9,"reply_error":"bad key"})");
  EXPECT_EQ(api::parse_queryable_event(api::to_json(re)).value(), api::queryable_event(re));

  const api::alive_event a{true, "me/alive", "NODE"};
  EXPECT_EQ(api::to_json(a).dump(), R"({"alive":true,"key":"me/alive","node":"NODE"})");
  EXPECT_EQ(api::parse_watch_event(api::to_json(a)).value(), api::watch_event(a));
}

TEST_F(ControlApi, SessionsStartWithOkOrARefusal) {
  EXPECT_EQ(api::to_json(api::accepted{}).dump(), R"({"ok":true})");
  EXPECT_EQ(api::to_json(api::accepted{12}).dump(), R"({"ok":true,"qid":12})");
  using first = std::variant<api::accepted, api::refusal>;
  EXPECT_EQ(api::parse_first_line(json{{"ok", true}, {"qid", 12}}).value(),
            first(api::accepted{12}));
  EXPECT_EQ(api::parse_first_line(json{{"ok", false}, {"error", "no"}}).value(),
            first(api::refusal{"no"}));
  EXPECT_EQ(api::parse_first_line(json{{"qid", 1}}).error().code, api::api_errc::missing_field);
  EXPECT_EQ(api::parse_first_line(json{{"ok", "yes"}}).error().code, api::api_errc::wrong_type);
  // A session the node ends (too slow, shutting down) ends with a refusal line.
  const json too_slow{{"ok", false}, {"error", "too slow"}};
  EXPECT_EQ(api::parse_sub_event(too_slow).value(), api::sub_event(api::refusal{"too slow"}));
  EXPECT_EQ(api::parse_get_event(too_slow).value(), api::get_event(api::refusal{"too slow"}));
  EXPECT_EQ(api::parse_queryable_event(too_slow).value(),
            api::queryable_event(api::refusal{"too slow"}));
  EXPECT_EQ(api::parse_watch_event(too_slow).value(), api::watch_event(api::refusal{"too slow"}));
}

TEST_F(ControlApi, BadSessionLinesAreRefused) {
  EXPECT_EQ(api::parse_sub_event(json::array()).error().code, api::api_errc::not_an_object);
  EXPECT_EQ(api::parse_sub_event(json{{"value_b64", ""}}).error().message,
            "sample: missing \"key\"");
  EXPECT_EQ(api::parse_sub_event(json{{"key", "k"}, {"kind", "upsert"}}).error().code,
            api::api_errc::bad_value);
  EXPECT_EQ(api::parse_get_event(json{{"reply", 1}}).error().message,
            "get: \"reply\" must be an object");
  EXPECT_EQ(api::parse_get_event(json{{"other", 1}}).error().message, "get: missing \"reply\"");
  EXPECT_EQ(api::parse_queryable_event(json{{"query", {{"selector", "s"}}}}).error().message,
            "query: missing \"handle\"");
  EXPECT_EQ(api::parse_watch_event(json{{"key", "k"}}).error().message, "watch: missing \"alive\"");
}

TEST_F(ControlApi, QueryableClientMessages) {
  const api::reply_message m{7, "q/x", b("out"), "text/plain", true};
  EXPECT_EQ(api::to_json(api::queryable_message(m)).dump(),
            R"({"encoding":"text/plain","error":true,"key":"q/x","reply":7,"value_b64":"b3V0"})");
  EXPECT_EQ(api::parse_queryable_message(api::to_json(api::queryable_message(m))).value(),
            api::queryable_message(m));
  const api::final_message f{7};
  EXPECT_EQ(api::to_json(api::queryable_message(f)).dump(), R"({"final":7})");
  EXPECT_EQ(api::parse_queryable_message(json{{"final", 7}}).value(), api::queryable_message(f));
  // The value and encoding may be left out.
  EXPECT_EQ(api::parse_queryable_message(json{{"reply", 1}, {"key", "k"}}).value(),
            api::queryable_message(api::reply_message{1, "k", {}, "", false}));

  EXPECT_EQ(api::parse_queryable_message(json{{"reply", 1}, {"key", "k"}, {"value_b64", "?"}})
                .error()
                .message,
            "value_b64 is not base64");
  EXPECT_EQ(api::parse_queryable_message(json{{"key", "k"}}).error().message,
            "reply: missing \"reply\"");
  EXPECT_EQ(api::parse_queryable_message(json{{"reply", -1}, {"key", "k"}}).error().code,
            api::api_errc::wrong_type);
  EXPECT_EQ(api::parse_queryable_message(json{{"final", "7"}}).error().message,
            "final: \"final\" must be an unsigned integer");
  EXPECT_EQ(api::parse_queryable_message(json("x")).error().code, api::api_errc::not_an_object);
}
