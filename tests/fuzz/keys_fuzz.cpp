// Fuzz target: PublicKey/PrivateKey protobuf decoding and peer id parsing from bytes and text.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/crypto/crypto.hpp"
#include "core/multiformats/keys.hpp"
#include "core/multiformats/peer_id.hpp"

namespace mf = starling::multiformats;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = starling::crypto::init();
  if (!ready) std::abort();
  const starling::bytes_view in(data, size);

  if (auto pub = mf::decode_public_key(in)) {
    // Only canonical encodings decode, so re-encoding gives the input back.
    const auto enc = mf::encode_public_key(*pub);
    if (!std::equal(enc.begin(), enc.end(), in.begin(), in.end())) std::abort();
    const auto id = mf::peer_id::from_public_key(*pub);
    if (id.ed25519_public_key() != *pub) std::abort();
  }
  (void)mf::peek_key_type(in);
  if (auto kp = mf::decode_private_key(in)) {
    if (starling::crypto::ed25519_from_seed(kp->seed).pub != kp->pub) std::abort();
  }

  if (auto id = mf::peer_id::from_bytes(in)) {
    auto a = mf::peer_id::parse(id->to_string());
    auto b = mf::peer_id::parse(id->to_cid_string());
    if (!a || !b || *a != *id || *b != *id) std::abort();
    (void)id->ed25519_public_key();
  }
  if (auto id = mf::peer_id::parse(starling::as_chars(in))) {
    if (mf::peer_id::from_bytes(id->bytes()).value() != *id) std::abort();
  }
  return 0;
}
