#pragma once
/// Stream handlers: identify (every host serves it), the ping and perf servers (registered by
/// whoever wants them), and the clients the CLI uses.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/identify/identify.hpp"
#include "core/perf/perf.hpp"
#include "core/ping/ping.hpp"
#include "node/stream.hpp"

namespace starling::node {

class host;

/// Registers the identify and identify push servers on `h`. The host's constructor calls
/// it: identify is part of every connection, not a service to opt into.
void register_identify_services(host& h);

/// Registers the /ipfs/ping/1.0.0 server on `h` (`starling node` serves it; js-libp2p's
/// connection monitor pings every connection with it).
void register_ping_service(host& h);

/// What a perf server agrees to do for one request.
struct perf_server_limits {
  /// Most bytes sent back for one /perf/1.0.0 request. A larger request is refused as soon as
  /// its 8-byte header arrives: the stream is reset (the client sees "stream reset by peer")
  /// and the refusal is logged. The default, 1 GiB, is a few seconds of loopback or a gigabit
  /// LAN and about 90 s of a 100 Mbit/s link: enough for a measurement, not for keeping a
  /// device's uplink busy for hours (the protocol's own cap is 1 TiB).
  std::uint64_t max_bytes = std::uint64_t{1} << 30;
  /// Requests one peer may make a minute, and in a burst; more are refused (stream reset,
  /// logged, reported to host::report_misbehaviour as a flood). 0: no limit.
  double requests_per_minute = 60;
  double request_burst = 10;
};

/// Registers the /perf/1.0.0 server on `h`. Nothing registers it by default: a node that
/// serves perf sends data to any peer that asks, so it is opt-in (`starling node --serve-perf`,
/// daemon_config::serve_perf).
void register_perf_service(host& h, perf_server_limits limits = {});

/// Reads a peer's identify record (outbound /ipfs/id/1.0.0, inbound push); `done` gets the
/// merged record or the error.
std::unique_ptr<stream_handler> make_identify_reader(
    std::function<void(stream&, result<identify::info>)> done);

/// Outbound identify push: sends this host's current record and closes.
std::unique_ptr<stream_handler> make_identify_pusher(host& h);

/// Outbound ping: sends `count` pings `interval` apart on one stream. `on_reply` gets each
/// RTT (or the error of that ping: timeout or mismatch, which ends the run); `on_done` runs
/// once at the end.
struct ping_options {
  int count = 1;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{10000};
};
std::unique_ptr<stream_handler> make_ping_client(
    host& h, ping_options opts, std::function<void(int seq, result<clock_duration>)> on_reply,
    std::function<void()> on_done);

/// Outbound perf run; `on_report` gets every intermediary and the final report, `on_done` the
/// outcome.
std::unique_ptr<stream_handler> make_perf_client(host& h, std::uint64_t upload,
                                                 std::uint64_t download,
                                                 std::function<void(const perf::report&)> on_report,
                                                 std::function<void(std::error_code)> on_done);

}  // namespace starling::node
