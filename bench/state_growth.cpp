// Bounded state: resident memory growth of the data engine (sans I/O, one thread, a fake
// clock) over long churn, measured from /proc/self/statm after a warm-up of the same churn.
//
//   declare: 10,000 cycles on a node linked to a neighbour, one per ms; each cycle declares a
//            subscriber, a queryable, a liveliness token and a publisher on fresh keys, lets
//            the records cross the link, then undeclares all four;
//   declare+: the same, and each publisher publishes one sample that the subscriber gets
//            (the undeclare sends publisher_end: the subscriber drops its receive state and
//            both nodes their key cache entry at once, instead of keeping 10,000 states for
//            60 s; the source keeps the history 10 s, at most 1,024 of them);
//   peers:   1,000 peers join (link up, a token, a put), exchange records and leave;
//   keys:    puts on keys never used before, one per ms (each makes an implicit publisher,
//            collected 30 s after its last put, at most 4096 at once, and a receive state at
//            the subscriber, dropped when the publisher's end arrives): 70,000 of them to
//            reach those bounds, then 30,000 more, over which the nodes must not grow.
// Each line gives the growth in KiB; the program exits 1 when one is over 1 MiB (the data
// layer's rule; docs/protocols/data.md, "Limits"). The keys line also says how much the
// first 70,000 keys took (the plateau the bounds allow).
// usage: state_growth
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/data/engine.hpp"

using namespace starling;
using namespace starling::data;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t ntp = std::uint64_t{3'900'000'000} << 32;
constexpr long bound_kib = 1024;

peer_id make_id(std::uint32_t n) {
  bytes key(36, 0);
  key[0] = 0x08;
  key[1] = 0x01;
  key[2] = 0x12;
  key[3] = 0x20;
  key[4] = static_cast<std::uint8_t>(n);
  key[5] = static_cast<std::uint8_t>(n >> 8);
  key[6] = static_cast<std::uint8_t>(n >> 16);
  key[7] = 1;
  return *peer_id::from_encoded_public_key(key);
}

struct quiet_sink final : engine_sink {
  std::uint64_t delivered = 0;
  void on_sample(std::uint64_t, const sample&) override { ++delivered; }
};

long rss_kib() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * 4;
}

void pump(engine& a, engine& b, time_point now) {
  std::vector<bytes> to_b, to_a;
  for (int round = 0; round < 8; ++round) {
    to_b.clear();
    to_a.clear();
    a.drain_transmit([&](const peer_id&, bytes_view v) { to_b.emplace_back(v.begin(), v.end()); });
    b.drain_transmit([&](const peer_id&, bytes_view v) { to_a.emplace_back(v.begin(), v.end()); });
    if (to_a.empty() && to_b.empty()) return;
    for (auto& f : to_b)
      (void)b.on_bytes(a.self(), f, now, ntp);
    for (auto& f : to_a)
      (void)a.on_bytes(b.self(), f, now, ntp);
  }
}

bool report(const char* what, long before, long after, const std::string& detail) {
  const long growth = after - before;
  const bool ok = growth <= bound_kib;
  std::printf("%-8s %+6ld KiB resident (%ld -> %ld KiB) %s%s\n", what, growth, before, after,
              detail.c_str(), ok ? "" : "  OVER THE 1 MiB BOUND");
  return ok;
}

bool declare_cycles(bool publish) {
  quiet_sink s0, s1;
  engine e0(make_id(1), 1, s0), e1(make_id(2), 1, s1);
  time_point now{};
  e0.link_up(e1.self(), now);
  e1.link_up(e0.self(), now);
  std::uint64_t step = 0;
  auto cycle = [&](int count) {
    for (int i = 0; i < count; ++i, ++step) {
      const std::string base = "dev/" + std::to_string(step);
      auto sub = e1.declare_subscriber(base + "/**");
      auto q = e1.declare_queryable(base + "/cmd");
      auto tok = e1.declare_token(base + "/alive");
      auto pub = e0.declare_publisher(base + "/x");
      pump(e0, e1, now);
      if (pub && publish) (void)e0.put(*pub, as_bytes("v"), now, ntp + step);
      pump(e0, e1, now);
      if (sub) e1.undeclare_subscriber(*sub);
      if (q) e1.undeclare_queryable(*q);
      if (tok) e1.undeclare_token(*tok);
      if (pub) e0.undeclare_publisher(*pub);
      pump(e0, e1, now);
      now += 1ms;
      if (step % 256 == 0) {
        e0.on_deadline(now);
        e1.on_deadline(now);
      }
    }
  };
  cycle(1000);
  const long before = rss_kib();
  cycle(10'000);
  now += 120s;  // past every idle time: what churn left behind is collected
  e0.on_deadline(now);
  e1.on_deadline(now);
  pump(e0, e1, now);
  return report(publish ? "declare+" : "declare", before, rss_kib(),
                std::string("over 10,000 declare/undeclare cycles (subscriber, queryable, token, "
                            "publisher") +
                    (publish ? ", one sample each; " : ", no samples; ") +
                    std::to_string(s1.delivered) + " samples delivered)");
}

bool peer_churn() {
  quiet_sink s0;
  engine e0(make_id(0), 1, s0);
  (void)e0.declare_subscriber("**");
  time_point now{};
  std::uint32_t next = 1;
  auto cycle = [&](int count) {
    for (int i = 0; i < count; ++i, ++next) {
      quiet_sink s;
      engine e(make_id(next), 1, s);
      e0.link_up(e.self(), now);
      e.link_up(e0.self(), now);
      (void)e.declare_token("alive/" + std::to_string(next));
      pump(e0, e, now);  // records cross: e learns of e0's subscription
      (void)e.put("k/" + std::to_string(next), as_bytes("v"), "", now, ntp);
      pump(e0, e, now);
      e0.link_down(e.self(), now);
      now += 100ms;
      e0.on_deadline(now);
    }
  };
  cycle(200);
  const long before = rss_kib();
  cycle(1000);
  now += 120s;
  e0.on_deadline(now);
  return report("peers", before, rss_kib(),
                "over 1,000 peer joins and leaves (" + std::to_string(s0.delivered) +
                    " samples delivered, " + std::to_string(e0.streams()) + " streams left)");
}

bool new_keys() {
  quiet_sink s0, s1;
  engine e0(make_id(1), 1, s0), e1(make_id(2), 1, s1);
  time_point now{};
  e0.link_up(e1.self(), now);
  e1.link_up(e0.self(), now);
  (void)e1.declare_subscriber("k/**");
  pump(e0, e1, now);
  std::uint64_t step = 0;
  auto puts = [&](int count) {
    for (int i = 0; i < count; ++i, ++step) {
      (void)e0.put("k/" + std::to_string(step), as_bytes("21.5"), "", now, ntp + step);
      if (step % 64 == 0) pump(e0, e1, now);
      now += 1ms;
      if (step % 256 == 0) {
        e0.on_deadline(now);
        e1.on_deadline(now);
      }
    }
    pump(e0, e1, now);
  };
  const long base = rss_kib();
  puts(70'000);  // 70 s: past the subscriber's 60 s collection of receive states, too
  const long before = rss_kib();
  puts(30'000);
  now += 120s;
  e0.on_deadline(now);
  e1.on_deadline(now);
  pump(e0, e1, now);
  const auto u = e0.usage();
  return report("keys", before, rss_kib(),
                "over 30,000 puts on new keys after 70,000 others (which took " +
                    std::to_string(before - base) + " KiB); " + std::to_string(s1.delivered) +
                    " samples delivered, " + std::to_string(u.implicit_publishers) +
                    " implicit publishers left after the idle time");
}

}  // namespace

int main() {
  bool ok = declare_cycles(false);
  ok = declare_cycles(true) && ok;
  ok = peer_churn() && ok;
  ok = new_keys() && ok;
  return ok ? 0 : 1;
}
