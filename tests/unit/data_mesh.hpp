#pragma once
// Data engines wired back to back in memory, with a fake clock, for the unit tests of the data
// engine (data_engine_test.cpp, data_compress_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/data/engine.hpp"

namespace starling::data::test_mesh {

inline peer_id make_id(std::uint8_t n) {
  bytes key(36, 0);
  key[0] = 0x08;
  key[1] = 0x01;
  key[2] = 0x12;
  key[3] = 0x20;
  key[4] = n;
  return *peer_id::from_encoded_public_key(key);
}

struct recorder final : engine_sink {
  struct got {
    std::uint64_t sub;
    std::string key, payload, encoding;
    bool del;
    std::uint64_t seq;
    std::uint64_t publisher;
  };
  std::vector<got> samples;
  void on_sample(std::uint64_t sub, const sample& s) override {
    samples.push_back({sub, std::string(s.key), std::string(as_chars(s.payload)),
                       std::string(s.encoding), s.del, s.seq, s.publisher});
  }
  struct asked {
    std::uint64_t queryable, handle;
    std::string selector, parameters;
  };
  std::vector<asked> queries;
  void on_query(std::uint64_t q, const query_request& r) override {
    queries.push_back({q, r.handle, std::string(r.selector), std::string(r.parameters)});
  }
  std::vector<std::pair<std::string, std::string>> replies;  // key, payload
  void on_reply(std::uint64_t, const reply_view& r) override {
    replies.emplace_back(std::string(r.key), std::string(as_chars(r.payload)));
  }
  std::vector<std::pair<std::uint64_t, query_result>> done;
  void on_query_done(std::uint64_t qid, const query_result& r) override {
    done.emplace_back(qid, r);
  }
  std::vector<std::string> alive;  // "+key" / "-key"
  void on_liveliness(std::uint64_t, std::string_view key, const peer_id&, bool up) override {
    alive.push_back((up ? "+" : "-") + std::string(key));
  }
};

inline constexpr std::uint64_t ntp = std::uint64_t{3'900'000'000} << 32;

/// Engines joined by in-memory links; pump() moves bytes until all are quiet.
struct mesh {
  std::vector<peer_id> ids;
  std::vector<recorder> sinks;
  std::vector<std::unique_ptr<engine>> engines;
  time_point now{};
  /// `n` engines; `opts[i]` are engine i's options (default ones past the end).
  explicit mesh(std::size_t n, const std::vector<engine_options>& opts = {}) : sinks(n) {
    for (std::size_t i = 0; i < n; ++i) {
      ids.push_back(make_id(static_cast<std::uint8_t>(i + 1)));
      engines.push_back(std::make_unique<engine>(ids.back(), 1, sinks[i],
                                                 i < opts.size() ? opts[i] : engine_options{}));
    }
  }
  std::size_t index(const peer_id& p) const {
    return static_cast<std::size_t>(std::find(ids.begin(), ids.end(), p) - ids.begin());
  }
  void link(std::size_t a, std::size_t b) {
    engines[a]->link_up(ids[b], now);
    engines[b]->link_up(ids[a], now);
    pump();
  }
  /// Node i's output is lost (a relay died with it).
  void drop_output(std::size_t i) {
    engines[i]->drain_transmit([](const peer_id&, bytes_view) {});
  }
  /// Advances the clock, runs due timers, then delivers.
  void advance(clock_duration d) {
    now += d;
    for (auto& e : engines) {
      if (e->next_deadline() <= now) e->on_deadline(now);
    }
    pump();
  }
  std::vector<std::string> payloads(std::size_t i) const {
    std::vector<std::string> out;
    for (const auto& g : sinks[i].samples)
      out.push_back(g.payload);
    return out;
  }
  void pump() {
    for (bool busy = true; busy;) {
      busy = false;
      for (std::size_t i = 0; i < engines.size(); ++i) {
        std::vector<std::pair<std::size_t, bytes>> out;
        engines[i]->drain_transmit([&](const peer_id& p, bytes_view b) {
          out.emplace_back(index(p), bytes(b.begin(), b.end()));
        });
        for (auto& [to, b] : out) {
          busy = true;
          auto r = engines[to]->on_bytes(ids[i], b, now, ntp);
          ASSERT_TRUE(r) << r.error().message();
        }
      }
    }
  }
};

}  // namespace starling::data::test_mesh
