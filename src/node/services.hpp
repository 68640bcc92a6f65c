#pragma once
/// Stream handlers for the protocols every node serves and the clients the CLI uses.

#include <chrono>
#include <functional>
#include <memory>

#include "core/identify/identify.hpp"
#include "core/perf/perf.hpp"
#include "core/ping/ping.hpp"
#include "node/stream.hpp"

namespace starling::node {

class host;

/// Registers identify, identify push, ping and perf servers on `h`.
void register_default_services(host& h);

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
std::unique_ptr<stream_handler> make_perf_client(
    host& h, std::uint64_t upload, std::uint64_t download,
    std::function<void(const perf::report&)> on_report, std::function<void(std::error_code)> on_done);

}  // namespace starling::node
