// Fuzz target: the peer-exchange decoder and framed reader. Byte 0 picks where the input is
// split between two reader feeds; the rest is decoded both as a bare body and as a stream.
// Whatever decodes must respect the limits and survive encode() + decode() unchanged.
#include <cstdint>
#include <cstdlib>

#include "core/pex/pex.hpp"

namespace {

void check(const std::vector<starling::pex::peer_record>& got, const starling::pex::limits& l) {
  if (got.size() > l.max_peers) std::abort();
  for (const auto& r : got) {
    if (r.addrs.empty() || r.addrs.size() > l.max_addrs_per_peer) std::abort();
  }
  // The decoded records are already canonical: re-encoding (without a byte budget) and
  // decoding again gives them back exactly.
  const starling::pex::limits wide{.max_message_bytes = 1 << 20,
                                   .max_peers = l.max_peers,
                                   .max_addrs_per_peer = l.max_addrs_per_peer};
  auto back = starling::pex::decode(starling::pex::encode(got, wide), wide);
  if (!back || *back != got) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const starling::bytes_view in(data + 1, size - 1);
  const starling::pex::limits small{
      .max_message_bytes = 16 * 1024, .max_peers = 4, .max_addrs_per_peer = 2};
  const starling::pex::limits l = (data[0] & 0x80) ? small : starling::pex::limits{};

  if (auto got = starling::pex::decode(in, l)) check(*got, l);

  const std::size_t at = std::min<std::size_t>(data[0] & 0x7f, in.size());
  starling::pex::reader r(l);
  auto first = r.feed(in.first(at));
  if (!first) return 0;
  if (*first) check(**first, l);
  auto second = r.feed(in.subspan(at));
  if (!second) return 0;
  if (*second) {
    if (*first) std::abort();  // a message is returned once
    check(**second, l);
  }
  (void)r.on_eof();
  return 0;
}
