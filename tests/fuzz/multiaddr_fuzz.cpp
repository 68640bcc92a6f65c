// Fuzz target: binary multiaddr decoding, and text parsing of the same input. Any address that
// decodes must print to text that parses back to the identical bytes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/multiformats/multiaddr.hpp"

using starling::multiformats::multiaddr;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const starling::bytes_view in(data, size);
  if (auto m = multiaddr::from_bytes(in)) {
    const std::string text = m->to_string();
    auto again = multiaddr::parse(text);
    if (!again) std::abort();
    if (!std::equal(again->to_bytes().begin(), again->to_bytes().end(), in.begin(), in.end()))
      std::abort();
    for (const auto& c : m->components())
      (void)c.value_text();
    (void)m->tcp_endpoint();
    (void)m->peer();
    (void)m->is_loopback();
    if (m->without_peer().to_bytes().size() > in.size()) std::abort();
  }
  std::string detail;
  if (auto t = multiaddr::parse(starling::as_chars(in), &detail)) {
    auto back = multiaddr::from_bytes(t->to_bytes());
    if (!back || *back != *t) std::abort();
    auto reparsed = multiaddr::parse(t->to_string());
    if (!reparsed || *reparsed != *t) std::abort();
  } else if (detail.empty()) {
    std::abort();  // every text error comes with a reason
  }
  return 0;
}
