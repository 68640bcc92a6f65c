// The mDNS service on real multicast sockets. Multicast must never touch the machine's real
// interfaces, so this test only runs inside the network namespaces that
// tests/netns/mdns_test.sh builds (it sets STARLING_MDNS_NETNS_TEST=1); everywhere else it
// skips. Driven by environment variables:
//   STARLING_MDNS_INTERFACES  allow list, comma separated (required)
//   STARLING_MDNS_LISTEN      listen multiaddrs, comma separated (default /ip4/127.0.0.1/tcp/0)
//   STARLING_MDNS_FAMILIES    "4", "6" or "46" (default)
//   STARLING_MDNS_EXPECT      number of distinct peers to discover, and see again (default 0)
//   STARLING_MDNS_RUN_MS      how long to run at most (default 10000); with EXPECT=0 exactly
//   STARLING_MDNS_LINGER_MS   how long to keep answering after the expectation is met (1500)
// It prints "mdns-test ..." lines on stdout for the script: id, interfaces, discovered, seen,
// expired, stats.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/crypto/crypto.hpp"
#include "io/clock.hpp"
#include "io/interfaces.hpp"
#include "node/host.hpp"
#include "node/mdns_service.hpp"

using namespace starling;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

std::string env(const char* name, std::string fallback = {}) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : fallback;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void say(const std::string& line) {
  std::printf("mdns-test %s\n", line.c_str());
  std::fflush(stdout);
}

// The harness's LANs are 10.200.0.0/16; refuse anything else (a real interface).
bool harness_interface(const std::vector<io::interface_address>& all, const std::string& name) {
  bool ok = false;
  for (const auto& a : all) {
    if (a.name != name) continue;
    if (a.loopback) return true;
    if (a.address.is_v4()) {
      const auto b = a.address.to_v4().to_bytes();
      if (b[0] != 10 || b[1] != 200) return false;
      ok = true;
    }
  }
  return ok;
}

}  // namespace

TEST(MdnsNetns, Node) {
  if (env("STARLING_MDNS_NETNS_TEST") != "1") {
    GTEST_SKIP() << "multicast test: runs only inside tests/netns/mdns_test.sh's namespaces";
  }
  const auto ifaces = split(env("STARLING_MDNS_INTERFACES"));
  ASSERT_FALSE(ifaces.empty()) << "STARLING_MDNS_INTERFACES must name the interfaces";
  const auto all = io::list_interface_addresses();
  for (const auto& i : ifaces) {
    ASSERT_TRUE(harness_interface(all, i))
        << i << " is not a 10.200.x test interface: refusing to multicast";
  }

  crypto::init();
  crypto::system_rng rng;
  asio::io_context ctx;
  node::host h(ctx, crypto::ed25519_generate(rng));
  for (const auto& l : split(env("STARLING_MDNS_LISTEN", "/ip4/127.0.0.1/tcp/0"))) {
    auto m = multiformats::multiaddr::parse(l);
    ASSERT_TRUE(m) << l;
    auto r = h.listen(*m);
    ASSERT_TRUE(r) << l << ": " << r.error().message();
  }
  say("id " + h.id().to_string());

  node::mdns_options o;
  o.interfaces = ifaces;
  const std::string fam = env("STARLING_MDNS_FAMILIES", "46");
  o.ipv4 = fam.find('4') != std::string::npos;
  o.ipv6 = fam.find('6') != std::string::npos;
  o.rescan = 1000ms;

  std::map<std::uint32_t, std::string> names;
  for (const auto& a : all)
    names[a.index] = a.name;
  std::set<std::string> discovered, seen_again;
  std::function<void()> check = [] {};  // set below, once the timers exist
  node::mdns_service::callbacks cb;
  cb.discovered = [&](const mdns::peer_discovered& d) {
    std::string line = "discovered " + d.peer_id + " on " + names[d.interface_index] + " index " +
                       std::to_string(d.interface_index) + " from " + d.source + ":";
    for (const auto& a : d.addrs)
      line += " " + a;
    say(line);
    discovered.insert(d.peer_id);
    check();
  };
  cb.expired = [&](const mdns::peer_expired& e) {
    say("expired " + e.peer_id + " on " + names[e.interface_index]);
  };
  cb.seen = [&](const std::string& id, std::uint32_t index) {
    if (seen_again.insert(id).second) say("seen " + id + " on " + names[index]);
    check();
  };
  auto svc = node::mdns_service::start(h, o, cb);
  ASSERT_TRUE(svc) << svc.error().message();
  std::string used;
  for (const auto& n : (*svc)->interfaces())
    used += (used.empty() ? "" : ",") + n;
  say("interfaces " + used);

  const std::size_t expect = static_cast<std::size_t>(std::stoul(env("STARLING_MDNS_EXPECT", "0")));
  const auto run_for = std::chrono::milliseconds(std::stol(env("STARLING_MDNS_RUN_MS", "10000")));
  const auto linger = std::chrono::milliseconds(std::stol(env("STARLING_MDNS_LINGER_MS", "1500")));
  // Runs until `run_for` passes or, once the expectation is met (checked as each peer is
  // discovered or seen), for `linger` more: two timers stop the loop, nothing polls.
  const auto t0 = io::now();
  bool met = expect == 0;
  asio::steady_timer give_up(ctx, run_for), lingered(ctx);
  give_up.async_wait([&](boost::system::error_code ec) {
    if (!ec) ctx.stop();
  });
  check = [&] {
    if (met || discovered.size() < expect || seen_again.size() < expect) return;
    met = true;
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(io::now() - t0);
    say("expectation met after " + std::to_string(elapsed.count()) + " ms");
    lingered.expires_after(linger);
    lingered.async_wait([&](boost::system::error_code ec) {
      if (!ec) ctx.stop();
    });
  };
  check();  // peers found while the service started
  ctx.run();
  ctx.restart();
  check = [] {};  // the verdict is the window's: peers met while the goodbyes leave do not count
  give_up.cancel();
  lingered.cancel();
  const auto st = (*svc)->stats();
  (*svc)->shutdown();
  ctx.run_for(100ms);  // the goodbyes leave (the host's listeners keep run() from returning)
  say("stats sent=" + std::to_string(st.packets_sent) + " received=" +
      std::to_string(st.packets_received) + " bytes_sent=" + std::to_string(st.bytes_sent) +
      " malformed=" + std::to_string(st.malformed) + " suppressed=" +
      std::to_string(st.queries_suppressed) + " send_errors=" + std::to_string(st.send_errors));
  EXPECT_TRUE(met) << "discovered " << discovered.size() << " and saw again " << seen_again.size()
                   << " of " << expect << " peers";
  EXPECT_GT(st.packets_sent, 0u);
}
