// Fuzz target: varint and length-prefixed frame decoding.
#include <cstdint>
#include <cstdlib>

#include "core/multiformats/varint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  starling::bytes_view in(data, size);
  std::error_code ec;
  starling::varint::decoded d;
  if (starling::varint::decode(in, d, ec) && d.size > 0) {
    starling::bytes re;
    starling::varint::encode(d.value, re);
    if (re.size() != d.size || !std::equal(re.begin(), re.end(), in.begin())) std::abort();
  }
  while (!in.empty()) {
    auto f = starling::varint::read_frame(in, 4096, ec);
    if (!f) break;
    in = in.subspan(f->consumed);
  }
  return 0;
}
