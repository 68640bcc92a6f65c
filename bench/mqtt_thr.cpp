// The MQTT baseline of the data-layer throughput figures: a publisher and a subscriber on
// libmosquitto, QoS 0, through a mosquitto broker (bench/data_side_by_side.sh starts one on
// 127.0.0.1). mosquitto_pub / mosquitto_sub start a process (and a connection) per message or
// print every message, which measures something else; this program is the same loop as
// pub_thr / sub_thr over MQTT.
// usage: mqtt_thr sub --port P --size N [-c SECONDS] [--topic T] [--host H]
//          prints `subscribed` (flushed), then once a second from the first message on:
//          `<messages/s> msg/s <MB/s> MB/s` (MB = 10^6 payload bytes); with -c, exits after
//          that many lines.
//        mqtt_thr pub --port P --size N [-d SECONDS] [--topic T] [--host H]
//          publishes N-byte messages at QoS 0 as fast as the socket takes them, until killed
//          or for SECONDS.
// Flow control: the publisher runs libmosquitto's loop itself (no thread), publishes a burst
// of at most 1024 messages (256 KiB), and before the next burst lets mosquitto_loop() write
// until mosquitto_want_write() says nothing is queued: the client's queue stays bounded.
// The broker, at QoS 0, may drop messages for a subscriber that falls behind; the subscriber
// counts what it got.
#include <mosquitto.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
volatile std::sig_atomic_t g_stop = 0;

struct sub_state {
  std::size_t size = 0;
  std::uint64_t msgs = 0;
  std::uint64_t bytes = 0;
  std::uint64_t wrong_size = 0;
  bool started = false;
  steady::time_point window_start;
};

void on_message(mosquitto*, void* obj, const mosquitto_message* m) {
  auto& st = *static_cast<sub_state*>(obj);
  if (!st.started) {
    st.started = true;
    st.window_start = steady::now();
  }
  ++st.msgs;
  st.bytes += static_cast<std::uint64_t>(m->payloadlen);
  if (static_cast<std::size_t>(m->payloadlen) != st.size) ++st.wrong_size;
}

int fail(const char* what, int rc) {
  std::fprintf(stderr, "mqtt_thr: %s: %s\n", what, mosquitto_strerror(rc));
  return 1;
}

int run_sub(const std::string& host, int port, const std::string& topic, std::size_t size,
            int seconds) {
  sub_state st;
  st.size = size;
  mosquitto* m = mosquitto_new(nullptr, true, &st);
  if (m == nullptr) return fail("mosquitto_new", MOSQ_ERR_NOMEM);
  mosquitto_message_callback_set(m, on_message);
  if (int rc = mosquitto_connect(m, host.c_str(), port, 60); rc != MOSQ_ERR_SUCCESS)
    return fail("connect", rc);
  if (int rc = mosquitto_subscribe(m, nullptr, topic.c_str(), 0); rc != MOSQ_ERR_SUCCESS)
    return fail("subscribe", rc);
  // Wait for the SUBACK's round trip to be through (a loop pass or two) before saying so.
  for (int i = 0; i < 5; ++i)
    mosquitto_loop(m, 20, 1);
  std::printf("subscribed\n");
  std::fflush(stdout);
  int lines = 0;
  while (g_stop == 0) {
    if (int rc = mosquitto_loop(m, 100, 1); rc != MOSQ_ERR_SUCCESS) return fail("loop", rc);
    if (!st.started) continue;
    const auto now = steady::now();
    const double secs = std::chrono::duration<double>(now - st.window_start).count();
    if (secs < 1.0) continue;
    std::printf("%.0f msg/s %.3f MB/s\n", static_cast<double>(st.msgs) / secs,
                static_cast<double>(st.bytes) / secs / 1e6);
    std::fflush(stdout);
    if (st.wrong_size > 0) {
      std::fprintf(stderr, "mqtt_thr: %llu messages were not %zu bytes long\n",
                   static_cast<unsigned long long>(st.wrong_size), size);
    }
    st.msgs = st.bytes = st.wrong_size = 0;
    st.window_start = now;
    if (seconds > 0 && ++lines >= seconds) break;
  }
  mosquitto_disconnect(m);
  mosquitto_destroy(m);
  return 0;
}

int run_pub(const std::string& host, int port, const std::string& topic, std::size_t size,
            int seconds) {
  mosquitto* m = mosquitto_new(nullptr, true, nullptr);
  if (m == nullptr) return fail("mosquitto_new", MOSQ_ERR_NOMEM);
  if (int rc = mosquitto_connect(m, host.c_str(), port, 60); rc != MOSQ_ERR_SUCCESS)
    return fail("connect", rc);
  const std::vector<unsigned char> payload(size, 0x5a);
  const std::size_t burst = std::max<std::size_t>(1, std::min<std::size_t>(1024, 262144 / size));
  const auto start = steady::now();
  const auto end = start + std::chrono::seconds(seconds);
  std::uint64_t published = 0;
  while (g_stop == 0 && (seconds == 0 || steady::now() < end)) {
    while (mosquitto_want_write(m)) {
      if (int rc = mosquitto_loop(m, 10, 1); rc != MOSQ_ERR_SUCCESS) return fail("loop", rc);
    }
    for (std::size_t i = 0; i < burst; ++i) {
      int rc = mosquitto_publish(m, nullptr, topic.c_str(), static_cast<int>(size), payload.data(),
                                 0, false);
      if (rc != MOSQ_ERR_SUCCESS) return fail("publish", rc);
      ++published;
    }
    // Read what the broker sent (PINGRESP) without waiting.
    if (int rc = mosquitto_loop(m, 0, 1); rc != MOSQ_ERR_SUCCESS) return fail("loop", rc);
  }
  const double secs = std::chrono::duration<double>(steady::now() - start).count();
  std::fprintf(stderr, "mqtt_thr: published %llu messages of %zu bytes in %.1f s (%.0f msg/s)\n",
               static_cast<unsigned long long>(published), size, secs,
               static_cast<double>(published) / secs);
  mosquitto_disconnect(m);
  mosquitto_loop(m, 100, 1);
  mosquitto_destroy(m);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mqtt_thr: MQTT QoS 0 throughput through a broker (libmosquitto)"};
  app.require_subcommand(1);
  std::string host = "127.0.0.1";
  std::string topic = "bench/thr";
  int port = 0;
  std::size_t size = 0;
  int seconds = 0;
  for (const char* name : {"pub", "sub"}) {
    auto* c = app.add_subcommand(name, name[0] == 'p' ? "publish" : "subscribe and report");
    c->add_option("--host", host, "broker address (default 127.0.0.1)");
    c->add_option("--port", port, "broker port")->required()->check(CLI::Range(1, 65535));
    c->add_option("--size", size, "payload size in bytes (1 to 524288)")
        ->required()
        ->check(CLI::Range(std::size_t{1}, std::size_t{524288}));
    c->add_option("--topic", topic, "topic (default bench/thr)");
    if (name[0] == 'p') {
      c->add_option("-d,--duration", seconds, "stop after this many seconds")
          ->check(CLI::PositiveNumber);
    } else {
      c->add_option("-c,--count", seconds, "exit after this many report lines")
          ->check(CLI::PositiveNumber);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  mosquitto_lib_init();
  const bool pub = app.got_subcommand("pub");
  const int rc =
      pub ? run_pub(host, port, topic, size, seconds) : run_sub(host, port, topic, size, seconds);
  mosquitto_lib_cleanup();
  return rc;
}
