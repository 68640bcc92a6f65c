// Fuzz target: an arbitrary ciphertext stream into secure_channel::feed, cut into pieces at
// positions taken from the input, followed by an encrypt/decrypt round trip check. Bits of
// the input decide when the channels prepare their next key streams (secure_channel::prepare),
// so frames reach both the prepared and the plain AEAD paths.
#include <cstdint>
#include <cstdlib>

#include "core/noise/secure_channel.hpp"

using namespace starling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ok = crypto::init();
  if (!ok) return 0;
  crypto::aead_key k{};
  k.fill(0x5a);
  noise::cipher_state a, b;
  a.initialize_key(k);
  b.initialize_key(k);

  // Inputs starting with 0x00 are treated as plaintext: encrypt, then feed back in pieces.
  bytes_view in(data, size);
  if (!in.empty() && in[0] == 0) {
    noise::secure_channel tx(a, b), rx(b, a);
    if (in.size() > 1 && (in[1] & 1) != 0) {
      tx.prepare();
      rx.prepare();
    }
    bytes wire, plain;
    if (!tx.encrypt(in.subspan(1), wire)) std::abort();
    const std::size_t cut = wire.size() / 3;
    if (!rx.feed(bytes_view(wire).first(cut), plain)) std::abort();
    if (!rx.feed(bytes_view(wire).subspan(cut), plain)) std::abort();
    if (plain.size() != in.size() - 1 || !std::equal(plain.begin(), plain.end(), in.begin() + 1)) {
      std::abort();
    }
    return 0;
  }

  noise::secure_channel ch(
      a, b, bytes(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(in.size() / 4)));
  in = in.subspan(in.size() / 4);
  bytes plain;
  while (!in.empty()) {
    const std::size_t n = 1 + (in[0] % 97);
    const std::size_t take = std::min(n, in.size());
    if ((in[0] & 0x80) != 0) ch.prepare();
    if (!ch.feed(in.first(take), plain)) break;
    in = in.subspan(take);
  }
  (void)ch.feed({}, plain);
  return 0;
}
