// Fuzz target: the identify reader fed arbitrary bytes (in two parts), then EOF. A record that
// parses must survive encode() and a second read.
#include <cstdint>
#include <cstdlib>

#include "core/identify/identify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t at = data[0] % size;
  starling::bytes_view in(data + 1, size - 1);
  starling::identify::reader r;
  if (!r.feed(in.first(std::min(at, in.size())))) return 0;
  if (!r.feed(in.subspan(std::min(at, in.size())))) return 0;
  auto got = r.on_eof();
  if (!got) return 0;
  const starling::bytes again = starling::identify::encode(*got);
  starling::identify::reader r2({.max_total_bytes = 1 << 20, .max_messages = 1});
  if (!r2.feed(again)) std::abort();
  auto back = r2.on_eof();
  if (!back || back->listen_addrs != got->listen_addrs || back->protocols != got->protocols ||
      back->public_key != got->public_key || back->agent_version != got->agent_version) {
    std::abort();
  }
  return 0;
}
