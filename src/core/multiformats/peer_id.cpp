#include "core/multiformats/peer_id.hpp"

#include <algorithm>

#include "core/multiformats/keys.hpp"
#include "core/multiformats/multibase.hpp"
#include "core/multiformats/multihash.hpp"
#include "core/multiformats/varint.hpp"

namespace starling::multiformats {

peer_id peer_id::from_public_key(const crypto::ed25519_public& pub) {
  return peer_id(multihash::identity(encode_public_key(pub)));
}

result<peer_id> peer_id::from_encoded_public_key(bytes_view encoded_key) {
  if (encoded_key.empty() || encoded_key.size() > max_key_bytes) return errc::invalid_key_encoding;
  if (encoded_key.size() <= max_inline_key_length) return peer_id(multihash::identity(encoded_key));
  return peer_id(multihash::sha2_256(encoded_key));
}

result<peer_id> peer_id::from_bytes(bytes_view mh) {
  auto v = multihash::parse(mh);
  if (!v) return v.error();
  if (v->code == multihash::identity_code) {
    if (v->digest.size() > max_inline_key_length) return errc::unsupported_multihash;
  } else if (v->code != multihash::sha2_256_code) {
    return errc::unsupported_multihash;
  }
  return peer_id(starling::bytes(mh.begin(), mh.end()));
}

result<peer_id> peer_id::parse(std::string_view text) {
  if (text.empty()) return errc::invalid_peer_id;
  // Bare base58btc multihashes: identity ids start with '1', sha2-256 ids with "Qm".
  if (text.front() == '1' || text.starts_with("Qm")) {
    auto raw = base58btc_decode(text);
    if (!raw) return errc::invalid_peer_id;
    return from_bytes(*raw);
  }
  // Otherwise it must be a multibase CIDv1: <prefix> uvarint(1) uvarint(0x72) multihash.
  auto raw = multibase_decode(text);
  if (!raw) return raw.error() == errc::unsupported_multibase ? errc::invalid_peer_id : raw.error();
  bytes_view in(*raw);
  varint::decoded version;
  varint::decoded codec;
  std::error_code ec;
  if (!varint::decode(in, version, ec) || version.size == 0 || version.value != 1)
    return errc::invalid_cid;
  in = in.subspan(version.size);
  if (!varint::decode(in, codec, ec) || codec.size == 0) return errc::invalid_cid;
  if (codec.value != libp2p_key_codec) return errc::wrong_cid_codec;
  return from_bytes(in.subspan(codec.size));
}

std::string peer_id::to_string() const {
  return base58btc_encode(m_bytes);
}

std::string peer_id::to_cid_string() const {
  starling::bytes cid;
  varint::encode(1, cid);
  varint::encode(libp2p_key_codec, cid);
  append(cid, m_bytes);
  return multibase_encode(multibase::base32, cid);
}

std::optional<crypto::ed25519_public> peer_id::ed25519_public_key() const {
  auto v = multihash::parse(m_bytes);
  if (!v || v->code != multihash::identity_code) return std::nullopt;
  auto pub = decode_public_key(v->digest);
  if (!pub) return std::nullopt;
  return *pub;
}

bool peer_id::matches(const crypto::ed25519_public& pub) const {
  return !empty() && *this == from_public_key(pub);
}

std::strong_ordering operator<=>(const peer_id& a, const peer_id& b) noexcept {
  return std::lexicographical_compare_three_way(a.m_bytes.begin(), a.m_bytes.end(),
                                                b.m_bytes.begin(), b.m_bytes.end());
}

}  // namespace starling::multiformats
