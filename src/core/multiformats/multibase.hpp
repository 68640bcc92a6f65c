#pragma once
/// Base encodings used by libp2p text forms: base58btc (peer ids), RFC 4648 base32 lower-case
/// without padding (CIDv1 peer ids, multibase 'b'), base64url without padding (certhash,
/// multibase 'u'), and multibase decoding of those prefixes.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/multiformats/errors.hpp"

namespace starling::multiformats {

/// Longest string the decoders accept (base58 decoding is quadratic). Longer input returns
/// errc::input_too_long.
inline constexpr std::size_t max_encoded_chars = 2048;

/// Bitcoin-alphabet base58 (leading zero bytes become '1').
std::string base58btc_encode(bytes_view in);
/// Decodes base58btc. Errors: invalid_base58 (bad character), input_too_long.
[[nodiscard]] result<bytes> base58btc_decode(std::string_view in);

/// RFC 4648 base32, lower-case, no padding.
std::string base32_encode(bytes_view in);
/// Decodes unpadded RFC 4648 base32 (lower-case only, or upper-case only when `upper`).
/// Rejects impossible lengths and non-zero trailing bits. Errors: invalid_base32, input_too_long.
[[nodiscard]] result<bytes> base32_decode(std::string_view in, bool upper = false);

/// RFC 4648 base64url, no padding.
std::string base64url_encode(bytes_view in);
/// Decodes unpadded base64url; rejects impossible lengths and non-zero trailing bits.
/// Errors: invalid_base64, input_too_long.
[[nodiscard]] result<bytes> base64url_decode(std::string_view in);

/// The multibase encodings this module can produce.
enum class multibase { base58btc = 'z', base32 = 'b', base64url = 'u' };

/// Prefix character followed by the encoding of `in`.
std::string multibase_encode(multibase base, bytes_view in);
/// Decodes a multibase string with prefix 'z', 'b', 'B' (upper-case base32) or 'u'.
/// Errors: unsupported_multibase (other or no prefix), plus the decoder's errors.
[[nodiscard]] result<bytes> multibase_decode(std::string_view in);

}  // namespace starling::multiformats
