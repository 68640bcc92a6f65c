// Fuzz target: multistream-select listener and dialers fed arbitrary bytes. The first byte picks
// split points so that incremental feeding is exercised too.
#include <cstdint>
#include <cstdlib>

#include "core/mss/dialer.hpp"
#include "core/mss/listener.hpp"

namespace {
template <class Core>
void drive(Core& core, starling::bytes_view in, std::size_t step) {
  starling::bytes out;
  while (!in.empty()) {
    const std::size_t n = std::min(in.size(), step);
    auto r = core.feed(in.first(n));
    core.poll_transmit(out);
    if (!r || core.is_done()) break;
    in = in.subspan(n);
  }
  if (core.is_done()) {
    (void)core.selected();
    auto rest = core.take_remaining();
    if (rest.size() > in.size()) std::abort();  // leftovers come only from the input
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = static_cast<std::size_t>(data[0] % 17) + 1;
  starling::bytes_view in(data + 1, size - 1);
  starling::mss::listener l({"/noise", "/yamux/1.0.0", "/ipfs/id/1.0.0"});
  drive(l, in, step);
  starling::mss::listener p([](std::string_view s) { return s.size() % 2 == 0; });
  drive(p, in, size);
  auto d = starling::mss::dialer::create({"/a", "/noise", "/yamux/1.0.0"}).value();
  drive(d, in, step);
  auto z = starling::mss::dialer::create({"/noise"}, starling::mss::mode::lazy).value();
  drive(z, in, size);
  return 0;
}
