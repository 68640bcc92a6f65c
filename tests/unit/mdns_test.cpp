#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/crypto/crypto.hpp"
#include "core/dns/message.hpp"
#include "core/mdns/mdns.hpp"
#include "core/multiformats/peer_id.hpp"

using namespace starling;
using namespace std::chrono_literals;

namespace {

const time_point t0 = time_point{} + 1000s;

std::string make_id(std::uint64_t seed) {
  crypto::init();
  crypto::seeded_rng rng(seed);
  return multiformats::peer_id::from_public_key(crypto::ed25519_generate(rng).pub).to_string();
}

mdns::config make_config(std::uint64_t seed,
                         std::vector<std::string> addrs = {"/ip4/192.168.1.10/tcp/4001"}) {
  mdns::config c;
  c.peer_id = make_id(seed);
  c.interfaces.push_back({1, std::move(addrs)});
  return c;
}

mdns::core make_core(const mdns::config& c, std::uint64_t seed = 7) {
  crypto::seeded_rng rng(seed);
  auto r = mdns::core::create(c, rng);
  EXPECT_TRUE(r) << r.error().message();
  return std::move(*r);
}

std::vector<mdns::outgoing> drain_tx(mdns::core& c) {
  std::vector<mdns::outgoing> out;
  while (auto o = c.poll_transmit())
    out.push_back(std::move(*o));
  return out;
}

std::vector<mdns::event> drain_events(mdns::core& c) {
  std::vector<mdns::event> out;
  while (auto e = c.poll_event())
    out.push_back(std::move(*e));
  return out;
}

// ---- hand-made packets, byte by byte, in the shapes other implementations send ----

void put16(bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_name(bytes& out, std::string_view dotted) {
  std::size_t start = 0;
  while (start < dotted.size()) {
    std::size_t dot = dotted.find('.', start);
    if (dot == std::string_view::npos) dot = dotted.size();
    out.push_back(static_cast<std::uint8_t>(dot - start));
    append(out, as_bytes(dotted.substr(start, dot - start)));
    start = dot + 1;
  }
  out.push_back(0);
}

bytes header(std::uint16_t flags, std::uint16_t qd, std::uint16_t an, std::uint16_t ar) {
  bytes b;
  put16(b, 0);
  put16(b, flags);
  put16(b, qd);
  put16(b, an);
  put16(b, 0);
  put16(b, ar);
  return b;
}

void put_rr(bytes& out, std::uint16_t type, std::uint16_t cls, std::uint32_t ttl, std::size_t len) {
  put16(out, type);
  put16(out, cls);
  put16(out, static_cast<std::uint16_t>(ttl >> 16));
  put16(out, static_cast<std::uint16_t>(ttl));
  put16(out, static_cast<std::uint16_t>(len));
}

void put_ptr(bytes& out, std::string_view target, std::uint32_t ttl = 120) {
  put_name(out, "_p2p._udp.local");
  bytes rd;
  put_name(rd, target);
  put_rr(out, 12, 1, ttl, rd.size());
  append(out, rd);
}

void put_txt(bytes& out, std::string_view name, const std::vector<std::string>& strings,
             std::uint16_t cls = 1, std::uint32_t ttl = 120) {
  put_name(out, name);
  bytes rd;
  for (const auto& s : strings) {
    rd.push_back(static_cast<std::uint8_t>(s.size()));
    append(rd, as_bytes(s));
  }
  put_rr(out, 16, cls, ttl, rd.size());
  append(out, rd);
}

// js-libp2p (@libp2p/mdns over multicast-dns): PTR and TXT all in Answers, no compression.
bytes js_response(std::string_view name, const std::vector<std::string>& txts) {
  bytes b = header(0x8400, 0, static_cast<std::uint16_t>(1 + txts.size()), 0);
  const std::string full = std::string(name) + "._p2p._udp.local";
  put_ptr(b, full);
  for (const auto& t : txts)
    put_txt(b, full, {t});
  return b;
}

// rust-libp2p: PTR in Answers, one TXT per address in Additionals with the cache-flush class.
bytes rust_response(std::string_view name, const std::vector<std::string>& txts,
                    std::uint32_t ttl = 120) {
  bytes b = header(0x8400, 0, 1, static_cast<std::uint16_t>(txts.size()));
  const std::string full = std::string(name) + "._p2p._udp.local";
  put_ptr(b, full, ttl);
  for (const auto& t : txts)
    put_txt(b, full, {t}, 0x8001, ttl);
  return b;
}

// go-libp2p (zeroconf over miekg/dns): PTR in Answers; SRV, one TXT holding every address, A
// in Additionals; names compressed against the PTR.
bytes go_response(std::string_view name, const std::vector<std::string>& txts) {
  bytes b = header(0x8400, 0, 1, 3);
  put_name(b, "_p2p._udp.local");  // 12; "local" at 22
  put_rr(b, 12, 1, 120, 1 + name.size() + 2);
  const std::size_t instance = b.size();
  b.push_back(static_cast<std::uint8_t>(name.size()));
  append(b, as_bytes(name));
  b.insert(b.end(), {0xc0, 12});
  b.insert(b.end(), {0xc0, static_cast<std::uint8_t>(instance)});
  put_rr(b, 33, 0x8001, 120, 6 + 1 + name.size() + 2);
  b.insert(b.end(), {0, 0, 0, 0, 0x0f, 0xa1});
  const std::size_t host = b.size();
  b.push_back(static_cast<std::uint8_t>(name.size()));
  append(b, as_bytes(name));
  b.insert(b.end(), {0xc0, 22});
  b.insert(b.end(), {0xc0, static_cast<std::uint8_t>(instance)});
  bytes rd;
  for (const auto& s : txts) {
    rd.push_back(static_cast<std::uint8_t>(s.size()));
    append(rd, as_bytes(s));
  }
  put_rr(b, 16, 0x8001, 120, rd.size());
  append(b, rd);
  b.insert(b.end(), {0xc0, static_cast<std::uint8_t>(host)});
  put_rr(b, 1, 0x8001, 120, 4);
  b.insert(b.end(), {192, 168, 1, 20});
  return b;
}

bytes query_packet(std::string_view name = "_p2p._udp.local", std::uint16_t qtype = 12) {
  bytes b = header(0, 1, 0, 0);
  put_name(b, name);
  put16(b, qtype);
  put16(b, 1);
  return b;
}

const std::string peer_name(40, 'q');

const mdns::peer_discovered& discovered(const mdns::event& e) {
  static const mdns::peer_discovered none;
  const auto* d = std::get_if<mdns::peer_discovered>(&e);
  EXPECT_NE(d, nullptr);
  return d ? *d : none;
}

}  // namespace

TEST(Mdns, ResponseIsByteExact) {
  const std::string id = make_id(1);
  const auto addr = *multiformats::multiaddr::parse("/ip4/192.168.1.10/tcp/4001");
  const bytes got = mdns::detail::build_response("peer", id, {addr}, 120, 1400, 8);
  bytes want{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 3};
  // Answer: _p2p._udp.local PTR peer._p2p._udp.local (target compressed to offset 12).
  want.insert(want.end(),
              {4, '_', 'p', '2', 'p', 4, '_', 'u', 'd', 'p', 5, 'l', 'o', 'c', 'a', 'l', 0});
  want.insert(want.end(), {0, 12, 0, 1, 0, 0, 0, 120, 0, 7, 4, 'p', 'e', 'e', 'r', 0xc0, 12});
  // SRV (cache-flush) at peer._p2p._udp.local (offset 39): 0 0 4001 peer.local.
  want.insert(want.end(), {0xc0, 39, 0, 33, 0x80, 1,    0, 0,   0,   120, 0,   13,  //
                           0,    0,  0, 0,  0x0f, 0xa1, 4, 'p', 'e', 'e', 'r', 0xc0, 22});
  // A for peer.local (offset 64).
  want.insert(want.end(), {0xc0, 64, 0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 10});
  // TXT dnsaddr=<addr>/p2p/<id>.
  const std::string txt = "dnsaddr=/ip4/192.168.1.10/tcp/4001/p2p/" + id;
  want.insert(want.end(),
              {0xc0, 39, 0, 16, 0x80, 1, 0, 0, 0, 120, 0, static_cast<std::uint8_t>(txt.size() + 1),
               static_cast<std::uint8_t>(txt.size())});
  append(want, as_bytes(txt));
  EXPECT_EQ(to_hex(got), to_hex(want));
}

TEST(Mdns, StartAnnouncesThenQueriesWithTheSpecShape) {
  auto cfg = make_config(1, {"/ip4/192.168.1.10/tcp/4001", "/ip6/fe80::1/tcp/4001",
                             "/ip4/192.168.1.10/udp/4001/quic-v1"});
  auto c = make_core(cfg);
  const auto& name = c.peer_name();
  EXPECT_GE(name.size(), 32u);
  EXPECT_LE(name.size(), 63u);
  for (char ch : name)
    EXPECT_TRUE((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) << name;
  EXPECT_NE(make_core(cfg, 8).peer_name(), name);

  c.start(t0);
  auto tx = drain_tx(c);
  ASSERT_EQ(tx.size(), 2u);
  EXPECT_EQ(tx[1].packet, mdns::detail::build_query());
  auto m = dns::parse(tx[0].packet);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->is_response());
  EXPECT_TRUE(m->questions.empty()) << "rust takes any packet with a question for a query";
  ASSERT_EQ(m->answers.size(), 1u);
  EXPECT_EQ(m->answers[0].name, "_p2p._udp.local");
  EXPECT_EQ(m->answers[0].ttl, 120u);
  const std::string full = name + "._p2p._udp.local";
  EXPECT_EQ(std::get<dns::ptr_data>(m->answers[0].data).target, full);
  std::vector<std::string> txts;
  int srv = 0, a = 0, aaaa = 0;
  for (const auto& r : m->additionals) {
    if (r.rtype == dns::type::txt) {
      EXPECT_EQ(r.name, full);
      const auto& t = std::get<dns::txt_data>(r.data);
      ASSERT_EQ(t.strings.size(), 1u) << "one TXT record per address";
      txts.push_back(t.strings[0]);
    }
    if (r.rtype == dns::type::srv) {
      ++srv;
      EXPECT_EQ(std::get<dns::srv_data>(r.data).target, name + ".local");
    }
    if (r.rtype == dns::type::a) ++a;
    if (r.rtype == dns::type::aaaa) ++aaaa;
    if (r.rtype == dns::type::a || r.rtype == dns::type::aaaa) {
      EXPECT_EQ(r.name, name + ".local");
    }
  }
  EXPECT_EQ(srv, 1);
  EXPECT_EQ(a, 1) << "192.168.1.10 once, though two addresses use it";
  EXPECT_EQ(aaaa, 1);
  EXPECT_EQ(txts, (std::vector<std::string>{
                      "dnsaddr=/ip4/192.168.1.10/tcp/4001/p2p/" + cfg.peer_id,
                      "dnsaddr=/ip6/fe80::1/tcp/4001/p2p/" + cfg.peer_id,
                      "dnsaddr=/ip4/192.168.1.10/udp/4001/quic-v1/p2p/" + cfg.peer_id}));
}

TEST(Mdns, QueriesFastAtStartThenEveryInterval) {
  auto c = make_core(make_config(1));
  EXPECT_EQ(c.next_deadline(), no_deadline);
  c.start(t0);
  drain_tx(c);
  auto queries_at = [&](time_point t) {
    c.on_deadline(t);
    int n = 0;
    for (const auto& o : drain_tx(c))
      n += o.packet == mdns::detail::build_query();
    return n;
  };
  EXPECT_EQ(c.next_deadline(), t0 + 250ms);
  EXPECT_EQ(queries_at(t0 + 249ms), 0);
  EXPECT_EQ(queries_at(t0 + 250ms), 1);
  EXPECT_EQ(c.next_deadline(), t0 + 1s);
  EXPECT_EQ(queries_at(t0 + 1s), 1);
  EXPECT_EQ(c.next_deadline(), t0 + 11s);
  EXPECT_EQ(queries_at(t0 + 11s), 1);
  EXPECT_EQ(queries_at(t0 + 50s), 1) << "a late wake-up sends one query, not a burst";
  EXPECT_EQ(c.next_deadline(), t0 + 51s);
}

TEST(Mdns, TwoCoresDiscoverEachOther) {
  auto a = make_core(make_config(1, {"/ip4/10.0.0.1/tcp/4001", "/ip6/fe80::1/tcp/4001"}), 1);
  auto b = make_core(make_config(2, {"/ip4/10.0.0.2/tcp/4001"}), 2);
  a.start(t0);
  b.start(t0);
  for (const auto& o : drain_tx(a))
    ASSERT_TRUE(b.feed(o.packet, 1, "10.0.0.1", t0));
  auto ev = drain_events(b);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(discovered(ev[0]).peer_id, make_id(1));
  EXPECT_EQ(discovered(ev[0]).addrs,
            (std::vector<std::string>{"/ip4/10.0.0.1/tcp/4001", "/ip6/fe80::1/tcp/4001"}));
  EXPECT_EQ(discovered(ev[0]).interface_index, 1u);
  EXPECT_EQ(discovered(ev[0]).source, "10.0.0.1");
  // b's answer to a's query reaches a; a hears its own packets and ignores them.
  b.on_deadline(t0 + 1s);
  auto btx = drain_tx(b);
  ASSERT_FALSE(btx.empty());
  for (const auto& o : btx)
    ASSERT_TRUE(a.feed(o.packet, 1, "10.0.0.2", t0 + 1s));
  a.on_deadline(t0 + 1s);
  for (const auto& o : drain_tx(a))
    ASSERT_TRUE(a.feed(o.packet, 1, "self", t0 + 1s));
  ev = drain_events(a);
  ASSERT_GE(ev.size(), 1u);
  EXPECT_EQ(discovered(ev[0]).peer_id, make_id(2));
  // b's start-up announcement and its second one: news once, then a sighting.
  for (std::size_t i = 1; i < ev.size(); ++i) {
    ASSERT_TRUE(std::holds_alternative<mdns::peer_seen>(ev[i]));
    EXPECT_EQ(std::get<mdns::peer_seen>(ev[i]).peer_id, make_id(2));
  }
  EXPECT_EQ(a.peer_count(), 1u);
}

TEST(Mdns, ParsesJsGoAndRustShapedResponses) {
  auto c = make_core(make_config(1));
  c.start(t0);
  const std::string js = make_id(11), go = make_id(12), rs = make_id(13);
  ASSERT_TRUE(c.feed(js_response("jsjsjsjsjsjsjsjsjsjsjsjsjsjsjsjs",
                                 {"dnsaddr=/ip4/192.168.1.11/tcp/4001/p2p/" + js,
                                  "dnsaddr=/ip4/192.168.1.11/tcp/4002/ws/p2p/" + js}),
                     1, "js", t0));
  ASSERT_TRUE(c.feed(go_response("gogogogogogogogogogogogogogogogogo",
                                 {"dnsaddr=/ip4/192.168.1.20/tcp/4001/p2p/" + go,
                                  "dnsaddr=/ip4/192.168.1.20/udp/4001/quic-v1/p2p/" + go}),
                     1, "go", t0));
  ASSERT_TRUE(c.feed(rust_response("rsrsrsrsrsrsrsrsrsrsrsrsrsrsrsrs",
                                   {"dnsaddr=/ip4/192.168.1.30/tcp/4001/p2p/" + rs,
                                    "dnsaddr=/ip6/fe80::30/tcp/4001/p2p/" + rs}),
                     1, "rust", t0));
  auto ev = drain_events(c);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(discovered(ev[0]).peer_id, js);
  EXPECT_EQ(discovered(ev[0]).addrs, (std::vector<std::string>{"/ip4/192.168.1.11/tcp/4001",
                                                               "/ip4/192.168.1.11/tcp/4002/ws"}));
  EXPECT_EQ(discovered(ev[1]).peer_id, go);
  EXPECT_EQ(discovered(ev[1]).addrs,
            (std::vector<std::string>{"/ip4/192.168.1.20/tcp/4001",
                                      "/ip4/192.168.1.20/udp/4001/quic-v1"}));
  EXPECT_EQ(discovered(ev[2]).peer_id, rs);
  EXPECT_EQ(discovered(ev[2]).addrs,
            (std::vector<std::string>{"/ip4/192.168.1.30/tcp/4001", "/ip6/fe80::30/tcp/4001"}));
  // The same announcement again is a refresh, not news: only a peer_seen.
  ASSERT_TRUE(c.feed(rust_response("rsrsrsrsrsrsrsrsrsrsrsrsrsrsrsrs",
                                   {"dnsaddr=/ip4/192.168.1.30/tcp/4001/p2p/" + rs,
                                    "dnsaddr=/ip6/fe80::30/tcp/4001/p2p/" + rs}),
                     1, "rust", t0 + 5s));
  ev = drain_events(c);
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<mdns::peer_seen>(ev[0]));
  EXPECT_EQ(std::get<mdns::peer_seen>(ev[0]).peer_id, rs);
  EXPECT_EQ(std::get<mdns::peer_seen>(ev[0]).interface_index, 1u);
}

TEST(Mdns, FiltersBadAndForeignAddresses) {
  auto c = make_core(make_config(1));
  c.start(t0);
  const std::string id = make_id(20), other = make_id(21);
  const std::string full = peer_name + "._p2p._udp.local";
  bytes b = header(0x8400, 0, 1, 6);
  put_ptr(b, full);
  put_txt(b, full, {"dnsaddr=/ip4/10.0.0.5/tcp/1/p2p/" + id, "note=hello"});
  put_txt(b, full, {"dnsaddr=/ip4/10.0.0.5/tcp/2/p2p/" + other});  // another id: dropped
  put_txt(b, full, {"dnsaddr=/ip4/10.0.0.5/tcp/3"});               // no /p2p/: dropped
  put_txt(b, full, {"dnsaddr=/ip4/10.0.0/tcp/4/p2p/" + id});       // invalid: dropped
  put_txt(b, "someone-else._p2p._udp.local", {"dnsaddr=/ip4/10.0.0.9/tcp/5/p2p/" + id});
  put_txt(b, full,
          {"DNSADDR=/ip4/10.0.0.5/tcp/1/p2p/" + id, "dnsaddr=/ip4/10.0.0.5/tcp/6/p2p/" + id});
  ASSERT_TRUE(c.feed(b, 1, "x", t0));
  auto ev = drain_events(c);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(discovered(ev[0]).peer_id, id);
  EXPECT_EQ(discovered(ev[0]).addrs,
            (std::vector<std::string>{"/ip4/10.0.0.5/tcp/1", "/ip4/10.0.0.5/tcp/6"}));
  // Nothing usable: no event at all.
  ASSERT_TRUE(c.feed(
      js_response("n" + peer_name, {"dnsaddr=garbage", "dnsaddr=/ip4/1.2.3.4/tcp/1"}), 1, "x", t0));
  EXPECT_TRUE(drain_events(c).empty());
  // Our own id under another name (an earlier run of ours) is ignored.
  ASSERT_TRUE(c.feed(js_response("m" + peer_name, {"dnsaddr=/ip4/1.2.3.4/tcp/1/p2p/" + make_id(1)}),
                     1, "x", t0));
  EXPECT_TRUE(drain_events(c).empty());
}

TEST(Mdns, GoodbyeExpiresThePeer) {
  auto a = make_core(make_config(1), 1);
  auto b = make_core(make_config(2), 2);
  a.start(t0);
  b.start(t0);
  for (const auto& o : drain_tx(a))
    ASSERT_TRUE(b.feed(o.packet, 1, "a", t0));
  ASSERT_EQ(drain_events(b).size(), 1u);
  a.shutdown();
  auto tx = drain_tx(a);
  ASSERT_EQ(tx.size(), 1u);
  auto m = dns::parse(tx[0].packet);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->questions.empty());
  ASSERT_EQ(m->answers.size(), 1u);
  EXPECT_EQ(m->answers[0].ttl, 0u);
  EXPECT_TRUE(m->additionals.empty()) << "no TXT in a goodbye: js would redial";
  EXPECT_EQ(a.next_deadline(), no_deadline);
  ASSERT_TRUE(b.feed(tx[0].packet, 1, "a", t0 + 2s));
  auto ev = drain_events(b);
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<mdns::peer_expired>(ev[0]));
  EXPECT_EQ(std::get<mdns::peer_expired>(ev[0]).peer_id, make_id(1));
  EXPECT_EQ(b.peer_count(), 0u);
}

TEST(Mdns, PeersExpireWhenTheirTtlRunsOut) {
  auto c = make_core(make_config(1));
  c.start(t0);
  const std::string id = make_id(30);
  ASSERT_TRUE(
      c.feed(rust_response(peer_name, {"dnsaddr=/ip4/10.0.0.3/tcp/1/p2p/" + id}, 30), 1, "x", t0));
  ASSERT_EQ(drain_events(c).size(), 1u);
  c.on_deadline(t0 + 20s);
  EXPECT_TRUE(drain_events(c).empty());
  // A bare PTR under the known name refreshes the peer.
  bytes refresh = header(0x8400, 0, 1, 0);
  put_ptr(refresh, peer_name + "._p2p._udp.local", 30);
  ASSERT_TRUE(c.feed(refresh, 1, "x", t0 + 20s));
  auto seen = drain_events(c);
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<mdns::peer_seen>(seen[0]));
  EXPECT_EQ(std::get<mdns::peer_seen>(seen[0]).peer_id, id);
  c.on_deadline(t0 + 49s);
  EXPECT_TRUE(drain_events(c).empty());
  EXPECT_LE(c.next_deadline(), t0 + 50s);
  c.on_deadline(t0 + 50s);
  auto ev = drain_events(c);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(std::get<mdns::peer_expired>(ev[0]).peer_id, id);
  // A restart (same id, new name) after that is news again.
  ASSERT_TRUE(c.feed(rust_response("z" + peer_name, {"dnsaddr=/ip4/10.0.0.3/tcp/1/p2p/" + id}), 1,
                     "x", t0 + 60s));
  EXPECT_EQ(drain_events(c).size(), 1u);
}

TEST(Mdns, AnswersOnlyOurQuestionAndAtMostOncePerInterval) {
  auto cfg = make_config(1);
  cfg.interfaces.push_back({2, {"/ip4/172.16.0.1/tcp/4001"}});
  auto c = make_core(cfg);
  c.start(t0);
  drain_tx(c);
  c.on_deadline(t0 + 1s);  // second announcement and the 1 s query
  drain_tx(c);
  auto responses = [&](std::uint32_t iface) {
    int n = 0;
    for (const auto& o : drain_tx(c)) {
      auto m = dns::parse(o.packet);
      if (m && m->is_response() && o.interface_index == iface) ++n;
    }
    return n;
  };
  ASSERT_TRUE(c.feed(query_packet("_other._tcp.local"), 1, "x", t0 + 3s));
  ASSERT_TRUE(c.feed(query_packet("_p2p._udp.local", dns::type::txt), 1, "x", t0 + 3s));
  EXPECT_EQ(responses(1), 0);
  ASSERT_TRUE(c.feed(query_packet(), 1, "x", t0 + 3s));
  EXPECT_EQ(responses(1), 1);
  // A burst of queries within the next second: one answer, at the end of that second.
  for (int i = 1; i <= 20; ++i)
    ASSERT_TRUE(c.feed(query_packet(), 1, "x", t0 + 3s + i * 10ms));
  EXPECT_EQ(responses(1), 0);
  EXPECT_EQ(c.next_deadline(), t0 + 4s);
  ASSERT_TRUE(c.feed(query_packet("_p2p._udp.local", dns::type::any), 2, "y", t0 + 3500ms));
  EXPECT_EQ(responses(2), 1) << "interfaces are limited separately";
  c.on_deadline(t0 + 4s);
  EXPECT_EQ(responses(1), 1);
  c.on_deadline(t0 + 10s);
  EXPECT_EQ(responses(1), 0);
  // Known-answer suppression: the asker already has our PTR with most of its TTL left.
  bytes known = header(0, 1, 1, 0);
  put_name(known, "_p2p._udp.local");
  put16(known, 12);
  put16(known, 1);
  put_ptr(known, c.peer_name() + "._p2p._udp.local", 100);
  ASSERT_TRUE(c.feed(known, 1, "x", t0 + 20s));
  EXPECT_EQ(responses(1), 0);
}

TEST(Mdns, ResponseSizeIsBounded) {
  std::vector<std::string> addrs;
  for (int i = 0; i < 40; ++i)
    addrs.push_back("/ip4/10.1.0." + std::to_string(i) + "/tcp/4001/ws");
  auto c = make_core(make_config(1, addrs));
  c.start(t0);
  auto tx = drain_tx(c);
  ASSERT_FALSE(tx.empty());
  EXPECT_LE(tx[0].packet.size(), 1400u);
  auto m = dns::parse(tx[0].packet);
  ASSERT_TRUE(m);
  int txt = 0, a = 0, srv = 0;
  for (const auto& r : m->additionals) {
    txt += r.rtype == dns::type::txt;
    a += r.rtype == dns::type::a;
    srv += r.rtype == dns::type::srv;
  }
  EXPECT_EQ(srv, 1);
  EXPECT_EQ(a, 8) << "max_ip_records";
  EXPECT_GT(txt, 5);
  EXPECT_LT(txt, 40);
  // What fits is still a valid announcement that another core accepts.
  auto other = make_core(make_config(2), 2);
  other.start(t0);
  ASSERT_TRUE(other.feed(tx[0].packet, 1, "x", t0));
  auto ev = drain_events(other);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(discovered(ev[0]).addrs.size(), static_cast<std::size_t>(txt));
}

TEST(Mdns, FloodOfFakePeersIsBounded) {
  auto cfg = make_config(1);
  cfg.max_peers = 50;
  auto c = make_core(cfg);
  c.start(t0);
  const std::string real = make_id(999);
  ASSERT_TRUE(c.feed(rust_response("real" + peer_name, {"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/" + real}),
                     1, "x", t0));
  ASSERT_EQ(drain_events(c).size(), 1u);
  int discovered_n = 0, expired_n = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string fake = make_id(static_cast<std::uint64_t>(5000 + i));
    ASSERT_TRUE(c.feed(rust_response("f" + std::to_string(i) + peer_name,
                                     {"dnsaddr=/ip4/10.9.0.1/tcp/1/p2p/" + fake}),
                       1, "x", t0 + 1s));
    for (const auto& e : drain_events(c))
      (std::holds_alternative<mdns::peer_discovered>(e) ? discovered_n : expired_n)++;
    ASSERT_LE(c.peer_count(), 50u);
  }
  EXPECT_EQ(discovered_n, 200);
  EXPECT_EQ(expired_n, 151) << "the real peer and 150 fakes, oldest first";
  // The real peer, heard again, is discovered again despite the flood.
  ASSERT_TRUE(c.feed(rust_response("real" + peer_name, {"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/" + real}),
                     1, "x", t0 + 2s));
  auto ev = drain_events(c);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<mdns::peer_expired>(ev[0]));
  EXPECT_EQ(discovered(ev[1]).peer_id, real);
}

TEST(Mdns, AddressesPerPeerAreCapped) {
  auto c = make_core(make_config(1));
  c.start(t0);
  const std::string id = make_id(40);
  std::vector<std::string> txts;
  for (int i = 0; i < 45; ++i)
    txts.push_back("dnsaddr=/ip4/10.2.0.1/tcp/" + std::to_string(1000 + i) + "/p2p/" + id);
  ASSERT_TRUE(c.feed(rust_response(peer_name, txts), 1, "x", t0));
  auto ev = drain_events(c);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(discovered(ev[0]).addrs.size(), 32u);
}

TEST(Mdns, InterfaceWithoutAddressesOnlyListens) {
  mdns::config cfg = make_config(1, {});
  auto c = make_core(cfg);
  c.start(t0);
  auto tx = drain_tx(c);
  ASSERT_EQ(tx.size(), 1u);
  EXPECT_EQ(tx[0].packet, mdns::detail::build_query());
  ASSERT_TRUE(c.feed(query_packet(), 1, "x", t0 + 2s));
  EXPECT_TRUE(drain_tx(c).empty());
  c.shutdown();
  EXPECT_TRUE(drain_tx(c).empty()) << "no goodbye where we never announced";
}

TEST(Mdns, RejectsBadConfigUnknownInterfacesAndGarbage) {
  crypto::seeded_rng rng(1);
  auto bad_id = make_config(1);
  bad_id.peer_id = "not-a-peer-id";
  EXPECT_EQ(mdns::core::create(bad_id, rng).error(), mdns::errc::invalid_peer_id);
  auto bad_addr = make_config(1, {"/ip4/1.2.3/tcp/1"});
  EXPECT_EQ(mdns::core::create(bad_addr, rng).error(), mdns::errc::invalid_address);
  auto foreign = make_config(1, {"/ip4/1.2.3.4/tcp/1/p2p/" + make_id(2)});
  EXPECT_EQ(mdns::core::create(foreign, rng).error(), mdns::errc::invalid_address);
  auto own = make_config(1, {"/ip4/1.2.3.4/tcp/1/p2p/" + make_id(1)});
  EXPECT_TRUE(mdns::core::create(own, rng));

  auto c = make_core(make_config(1));
  c.start(t0);
  drain_tx(c);
  EXPECT_EQ(c.feed(query_packet(), 9, "x", t0).error(), mdns::errc::unknown_interface);
  const bytes garbage{0xde, 0xad, 0xbe, 0xef};
  EXPECT_EQ(c.feed(garbage, 1, "x", t0).error(), dns::errc::truncated);
  ASSERT_TRUE(c.feed(query_packet(), 1, "x", t0 + 2s));
  EXPECT_EQ(drain_tx(c).size(), 1u) << "still answering after garbage";
}

TEST(Mdns, InterfacesCanChangeAtRuntime) {
  auto c = make_core(make_config(1));
  c.start(t0);
  drain_tx(c);
  ASSERT_TRUE(c.set_interface({3, {"/ip4/10.3.0.1/tcp/4001"}}, t0 + 2s));
  auto tx = drain_tx(c);
  ASSERT_EQ(tx.size(), 2u);  // an announcement and a query, both on interface 3
  EXPECT_EQ(tx[0].interface_index, 3u);
  EXPECT_EQ(tx[1].packet, mdns::detail::build_query());
  const std::string id = make_id(50);
  ASSERT_TRUE(
      c.feed(rust_response(peer_name, {"dnsaddr=/ip4/10.3.0.9/tcp/1/p2p/" + id}), 3, "x", t0 + 2s));
  ASSERT_EQ(drain_events(c).size(), 1u);
  c.remove_interface(3);
  tx = drain_tx(c);
  ASSERT_EQ(tx.size(), 1u);
  EXPECT_EQ(tx[0].packet, mdns::detail::build_goodbye(c.peer_name()));
  auto ev = drain_events(c);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<mdns::peer_expired>(ev[0]));
  EXPECT_EQ(c.set_interface({4, {"nope"}}, t0).error(), mdns::errc::invalid_address);
}

TEST(Mdns, EveryLaterResponseOfATrackedPeerIsSeen) {
  auto c = make_core(make_config(1));
  c.start(t0);
  const std::string id = make_id(60);
  const auto pkt = rust_response(peer_name, {"dnsaddr=/ip4/10.0.0.6/tcp/1/p2p/" + id});
  ASSERT_TRUE(c.feed(pkt, 1, "x", t0));
  auto ev = drain_events(c);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<mdns::peer_discovered>(ev[0]));
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(c.feed(pkt, 1, "x", t0 + i * 1s));
  ev = drain_events(c);
  ASSERT_EQ(ev.size(), 3u);
  for (const auto& e : ev) {
    ASSERT_TRUE(std::holds_alternative<mdns::peer_seen>(e));
    EXPECT_EQ(std::get<mdns::peer_seen>(e).peer_id, id);
  }
  // New addresses are news again (discovered, not seen); a goodbye is an expiry, not a sighting.
  ASSERT_TRUE(
      c.feed(rust_response(peer_name, {"dnsaddr=/ip4/10.0.0.7/tcp/1/p2p/" + id}), 1, "x", t0 + 5s));
  ev = drain_events(c);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(discovered(ev[0]).addrs, std::vector<std::string>{"/ip4/10.0.0.7/tcp/1"});
  ASSERT_TRUE(c.feed(rust_response(peer_name, {"dnsaddr=/ip4/10.0.0.7/tcp/1/p2p/" + id}, 0), 1, "x",
                     t0 + 6s));
  ev = drain_events(c);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<mdns::peer_expired>(ev[0]));
  // A response from a peer nobody tracks (heard first as a bare PTR) is neither.
  bytes bare = header(0x8400, 0, 1, 0);
  put_ptr(bare, "unknown" + peer_name + "._p2p._udp.local");
  ASSERT_TRUE(c.feed(bare, 1, "x", t0 + 7s));
  EXPECT_TRUE(drain_events(c).empty());
}

namespace {
int queries_in(const std::vector<mdns::outgoing>& tx, std::uint32_t iface) {
  int n = 0;
  for (const auto& o : tx)
    n += o.interface_index == iface && o.packet == mdns::detail::build_query();
  return n;
}
}  // namespace

TEST(Mdns, DuplicateQuestionSuppression) {
  auto cfg = make_config(1);
  cfg.interfaces.push_back({2, {"/ip4/172.16.0.1/tcp/4001"}});
  auto c = make_core(cfg);
  c.start(t0);
  ASSERT_EQ(queries_in(drain_tx(c), 1), 1);
  c.on_deadline(t0 + 250ms);
  c.on_deadline(t0 + 1s);
  drain_tx(c);
  // Our own query looped back at once does not count...
  ASSERT_TRUE(c.feed(query_packet(), 1, "self", t0 + 1s + 2ms));
  // ...another node's identical query on interface 1 later does.
  ASSERT_TRUE(c.feed(query_packet(), 1, "other", t0 + 5s));
  drain_tx(c);
  ASSERT_EQ(c.next_deadline(), t0 + 11s);
  c.on_deadline(t0 + 11s);
  auto tx = drain_tx(c);
  EXPECT_EQ(queries_in(tx, 1), 0) << "someone asked on 1 since our last query";
  EXPECT_EQ(queries_in(tx, 2), 1) << "nobody asked on 2";
  EXPECT_EQ(c.queries_suppressed(), 1u);
  // Suppression lasts one round: nobody asked again, so we ask at 21 s.
  c.on_deadline(t0 + 21s);
  tx = drain_tx(c);
  EXPECT_EQ(queries_in(tx, 1), 1);
  EXPECT_EQ(queries_in(tx, 2), 1);
  // A query that is not the plain one (unicast reply wanted, or carrying known answers, or
  // another question) does not suppress ours.
  bytes qu = query_packet();
  qu[qu.size() - 2] |= 0x80;  // QU bit
  ASSERT_TRUE(c.feed(qu, 1, "other", t0 + 25s));
  bytes known = header(0, 1, 1, 0);
  put_name(known, "_p2p._udp.local");
  put16(known, 12);
  put16(known, 1);
  put_ptr(known, "x" + peer_name + "._p2p._udp.local", 100);
  ASSERT_TRUE(c.feed(known, 1, "other", t0 + 26s));
  ASSERT_TRUE(c.feed(query_packet("_other._tcp.local"), 1, "other", t0 + 27s));
  drain_tx(c);
  c.on_deadline(t0 + 31s);
  EXPECT_EQ(queries_in(drain_tx(c), 1), 1);
  // Switched off: always ask.
  cfg.suppress_duplicate_queries = false;
  auto d = make_core(cfg);
  d.start(t0);
  drain_tx(d);
  ASSERT_TRUE(d.feed(query_packet(), 1, "other", t0 + 100ms));
  d.on_deadline(t0 + 250ms);
  EXPECT_EQ(queries_in(drain_tx(d), 1), 1);
  EXPECT_EQ(d.queries_suppressed(), 0u);
}

TEST(Mdns, ThirtyIdleNodesSendFewQueries) {
  // 30 cores on one link, started 0..29 s apart: with suppression only about one query per
  // interval crosses the link once the start-up queries are over.
  std::vector<mdns::core> nodes;
  for (std::uint64_t i = 0; i < 30; ++i)
    nodes.push_back(make_core(
        make_config(100 + i, {"/ip4/10.0.0." + std::to_string(i + 1) + "/tcp/4001"}), 100 + i));
  int queries_after_warmup = 0;
  const time_point start = t0;
  for (int ms = 0; ms <= 120'000; ms += 10) {
    const time_point now = start + std::chrono::milliseconds(ms);
    if (ms % 1000 == 0 && ms / 1000 < 30) nodes[static_cast<std::size_t>(ms / 1000)].start(now);
    std::vector<bytes> wire;
    for (auto& n : nodes) {
      if (n.next_deadline() <= now) n.on_deadline(now);
      while (auto o = n.poll_transmit()) {
        if (o->packet == mdns::detail::build_query() && ms > 60'000) ++queries_after_warmup;
        wire.push_back(std::move(o->packet));
      }
    }
    for (const auto& p : wire) {
      for (auto& n : nodes)
        ASSERT_TRUE(n.feed(p, 1, "lan", now));
    }
    for (auto& n : nodes)
      drain_events(n);
  }
  // 60 s of steady state at one query per 10 s interval: about 6, never 30 per interval.
  EXPECT_LE(queries_after_warmup, 12);
  EXPECT_GE(queries_after_warmup, 5);
  for (auto& n : nodes)
    EXPECT_EQ(n.peer_count(), 29u);
}
