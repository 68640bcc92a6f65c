#pragma once
// A test_node (harness.hpp) with a data_service, for the data-layer integration tests: the
// service learns each identified connection, and subscribe() records the samples it gets.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "harness.hpp"
#include "node/data_service.hpp"

namespace starling::test {

/// A host listening on 127.0.0.1 with a data_service wired to its connections.
struct data_node {
  explicit data_node(asio::io_context& ctx) : n(ctx), svc(n.h) {
    n.h.on_event([this](const node::host_event& e) {
      n.events.push_back(e);
      if (auto* id = std::get_if<node::peer_identified>(&e)) {
        for (auto& c : n.h.connections()) {
          if (c->established() && !c->closing() && c->peer() == id->peer) {
            svc.on_identified(c, id->info);
          }
        }
      }
    });
    addr = n.listen();
  }
  test_node n;
  node::data_service svc;
  multiformats::multiaddr addr;
  /// A sample as subscribe() records it.
  struct got {
    std::string key, payload, encoding;
    std::uint64_t seq;
  };
  std::vector<got> samples;
  /// Subscribes to `expr`, appending each sample to `samples`; the subscription's id (0 when
  /// refused, which fails the test).
  std::uint64_t subscribe(std::string_view expr) {
    auto id = svc.subscribe(expr, [this](const data::sample& s) {
      samples.push_back(
          {std::string(s.key), std::string(as_chars(s.payload)), std::string(s.encoding), s.seq});
    });
    EXPECT_TRUE(id);
    return id ? *id : 0;
  }
};

}  // namespace starling::test
