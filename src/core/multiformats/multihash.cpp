#include "core/multiformats/multihash.hpp"

#include "core/crypto/crypto.hpp"
#include "core/multiformats/varint.hpp"

namespace starling::multiformats::multihash {

result<view> parse(bytes_view in) {
  varint::decoded code;
  varint::decoded len;
  std::error_code ec;
  if (!varint::decode(in, code, ec)) return errc::invalid_multihash;
  if (code.size == 0) return errc::truncated_multihash;
  const bytes_view rest = in.subspan(code.size);
  if (!varint::decode(rest, len, ec)) return errc::invalid_multihash;
  if (len.size == 0) return errc::truncated_multihash;
  if (len.value > max_digest) return errc::input_too_long;
  const bytes_view digest = rest.subspan(len.size);
  if (digest.size() < len.value) return errc::truncated_multihash;
  if (digest.size() > len.value) return errc::invalid_multihash;
  if (code.value == sha2_256_code && digest.size() != 32) return errc::invalid_multihash;
  return view{code.value, digest};
}

void encode(std::uint64_t code, bytes_view digest, bytes& out) {
  varint::encode(code, out);
  varint::encode(digest.size(), out);
  append(out, digest);
}

bytes identity(bytes_view data) {
  bytes out;
  encode(identity_code, data, out);
  return out;
}

bytes sha2_256(bytes_view data) {
  const auto d = crypto::sha256(data);
  bytes out;
  encode(sha2_256_code, d, out);
  return out;
}

}  // namespace starling::multiformats::multihash
