// Fuzz target: arbitrary bytes into a Yamux listener session, interleaved with API calls.
// Input: a script of one-byte opcodes; opcode 0 feeds the next (1 + len byte) input bytes as
// wire data. A first byte >= 0x80 feeds the whole rest as wire data in one call instead.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/yamux/session.hpp"

namespace y = starling::yamux;
using starling::bytes;
using starling::bytes_view;

namespace {

struct harness {
  y::session s;
  starling::time_point now{std::chrono::seconds(1)};
  std::vector<y::stream_id> ids;
  bytes out;

  explicit harness(y::config c) : s(y::role::listener, c) {}

  void events() {
    while (auto e = s.poll_event()) {
      if (auto* d = std::get_if<y::stream_data>(&*e)) {
        if (d->bytes.empty()) std::abort();  // empty data events are never reported
        (void)s.consume(d->id, d->bytes.size());
      } else if (auto* o = std::get_if<y::stream_opened>(&*e)) {
        if (ids.size() < 64) ids.push_back(o->id);
      }
    }
  }
  void transmit() {
    out.clear();
    s.poll_transmit(out);
  }
  y::stream_id pick(std::uint8_t b) const {
    return ids.empty() ? y::stream_id{1} : ids[b % ids.size()];
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  y::config c;
  c.max_inbound_streams = 32;
  c.max_unacked_outbound = 16;
  c.max_window = 1024 * 1024;
  harness h(c);
  bytes_view in(data, size);
  if (!in.empty() && in[0] >= 0x80) {
    (void)h.s.feed(in.subspan(1), h.now);
    h.events();
    h.transmit();
    h.events();
  } else {
    static const std::uint8_t payload[4096] = {};
    std::size_t i = 0;
    while (i < in.size()) {
      const std::uint8_t op = in[i++];
      const std::uint8_t arg = i < in.size() ? in[i] : 0;
      switch (op % 10) {
        case 0: {  // feed wire bytes
          const std::size_t n =
              std::min<std::size_t>(1u + arg, in.size() - std::min(in.size(), i + 1));
          if (i < in.size()) ++i;
          (void)h.s.feed(in.subspan(i, n), h.now);
          i += n;
          break;
        }
        case 1:
          h.transmit();
          break;
        case 2:
          h.events();
          break;
        case 3:
          if (auto id = h.s.open_stream(); id && h.ids.size() < 64) h.ids.push_back(*id);
          break;
        case 4:
          (void)h.s.write(h.pick(arg), bytes_view(payload, 64u * (arg % 65)));
          break;
        case 5:
          (void)h.s.close_write(h.pick(arg));
          break;
        case 6:
          (void)h.s.reset(h.pick(arg));
          break;
        case 7:
          h.now += std::chrono::milliseconds(arg) * 100;
          if (h.now >= h.s.next_deadline()) (void)h.s.on_deadline(h.now);
          break;
        case 8:
          (void)h.s.go_away(arg % 3);
          break;
        case 9:
          (void)h.s.ping(h.now);
          break;
      }
      if (h.s.stream_count() > c.max_inbound_streams + 64) std::abort();
    }
    h.events();
    h.transmit();
  }
  if (h.s.stream_count() > c.max_inbound_streams + 64) std::abort();
  return 0;
}
